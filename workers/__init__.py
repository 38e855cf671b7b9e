"""Celery tasks, one module per area, registered under the names in app/tasks.py.

The tasks an owner may run by id are listed in app/admin/registry.py; workers/runs.py runs
them as recorded, single-flight runs for beat and for POST /background-tasks/run.
"""
from workers import (cdn, charts, events, fanout, moderation, releases, runs, search, signals, stats,  # noqa: F401
                     tokens, uploads)  # (registers every task)
