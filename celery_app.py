"""Celery entry point: celery -A celery_app worker | beat"""
from app import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]

import workers  # noqa: E402,F401  (registers every task)
