"""Celery entry point: celery -A celery_app worker | beat

`worker --beat-thread SCHEDULE_FILE` also runs beat as a thread of the worker (make run's
one-machine layout); celery's own `-B` forks beat into a process of its own.
"""
import os

import click
from celery import bootsteps
from celery.beat import EmbeddedService

from scripts.observability import metrics_dir

metrics_dir()  # before the app is imported: task metrics join the web processes' in one directory

# The worker runs this many tasks at once (CELERY_CONCURRENCY, which config.py hands to Celery,
# else Celery's default of one per CPU): the database pool keeps a connection for each.
os.environ.setdefault("DB_CONCURRENCY", os.environ.get("CELERY_CONCURRENCY") or str(os.cpu_count() or 2))

from app import create_app  # noqa: E402

flask_app = create_app()
celery = flask_app.extensions["celery"]

import workers  # noqa: E402,F401  (registers every task)


class BeatThread(bootsteps.StartStopStep):
    """Beat as a thread of this worker: one process less than `-B` (exactly one per fleet still)."""

    def __init__(self, worker, beat_thread=None, **kwargs):
        super().__init__(worker, **kwargs)
        self.schedule, self.service = beat_thread, None
        self.enabled = bool(beat_thread)

    def start(self, worker):
        self.service = EmbeddedService(worker.app, thread=True, schedule_filename=self.schedule)
        self.service.start()

    def stop(self, worker):
        if self.service is not None:
            self.service.stop()


celery.user_options["worker"].add(click.Option(["--beat-thread"], default=None, metavar="SCHEDULE_FILE",
                                               help="Also run beat, as a thread, with this schedule file."))
celery.steps["worker"].add(BeatThread)
