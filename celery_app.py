"""Celery entry point: celery -A celery_app worker | beat"""
from scripts.observability import metrics_dir

metrics_dir()  # before the app is imported: task metrics join the web processes' in one directory

from app import create_app  # noqa: E402

flask_app = create_app()
celery = flask_app.extensions["celery"]

import workers  # noqa: E402,F401  (registers every task)
