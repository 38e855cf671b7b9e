"""Celery entry point: celery -A celery_app worker | beat"""
import os

from scripts.observability import metrics_dir

metrics_dir()  # before the app is imported: task metrics join the web processes' in one directory

# The worker runs this many tasks at once (CELERY_CONCURRENCY, which config.py hands to Celery,
# else Celery's default of one per CPU): the database pool keeps a connection for each.
os.environ.setdefault("DB_CONCURRENCY", os.environ.get("CELERY_CONCURRENCY") or str(os.cpu_count() or 2))

from app import create_app  # noqa: E402

flask_app = create_app()
celery = flask_app.extensions["celery"]

import workers  # noqa: E402,F401  (registers every task)
