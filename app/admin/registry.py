"""The background tasks an owner may run by id, and their schedules as beat defines them.

Each id names a Celery task (app/tasks.py). "background.run" runs it as a recorded,
single-flight run (app/admin/runs.py), both for the beat schedule (config.py
CELERY["beat_schedule"], keyed by the same ids) and for POST /background-tasks/run.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from celery.schedules import crontab, schedule as every
from flask import current_app

from .. import tasks
from ..ids import iso


@dataclass(frozen=True)
class RegisteredTask:
    task: str  # the Celery task name
    description: str


REGISTRY: dict[str, RegisteredTask] = {
    "cdn_cleanup": RegisteredTask(
        tasks.CDN_CLEANUP, "Delete uploaded files that no message, avatar or banner uses any more"),
    "auth_token_cleanup": RegisteredTask(tasks.TOKENS_CLEANUP, "Delete expired auth tokens"),
    "server_stats_update": RegisteredTask(
        tasks.STATS_UPDATE, "Record how many users are online (the online-users chart)"),
    "chart_data_update": RegisteredTask(
        tasks.CHARTS_UPDATE, "Aggregate registrations, messages, channels and online users for charts"),
    "activity_metrics_update": RegisteredTask(
        tasks.ACTIVITY_UPDATE, "Refresh the activity metrics shown on the dashboard"),
    "github_releases_check": RegisteredTask(
        tasks.RELEASES_CHECK, "Look up the newest release (the running version when offline)"),
    "search_backfill": RegisteredTask(
        tasks.SEARCH_BACKFILL, "Index every stored message for search under the current index key (resumes "
                               "where an interrupted run stopped)"),
    "event_log_prune": RegisteredTask(
        tasks.EVENTS_PRUNE, "Delete events older than EVENT_RETENTION_DAYS from the event log"),
}


def beat_entry(task_id: str) -> dict | None:
    return current_app.config["CELERY"]["beat_schedule"].get(task_id)


def _count(amount: int, unit: str) -> str:
    return f"every {unit}" if amount == 1 else f"every {amount} {unit}s"


def describe(entry_schedule) -> str:
    """A beat schedule in words: "every 5 minutes", "daily at 03:30 UTC"."""
    if isinstance(entry_schedule, every):
        entry_schedule = entry_schedule.run_every
    if isinstance(entry_schedule, (int, float)):
        entry_schedule = timedelta(seconds=entry_schedule)
    if isinstance(entry_schedule, timedelta):
        seconds = int(entry_schedule.total_seconds())
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
            if seconds % size == 0:
                return _count(seconds // size, unit)
        return _count(seconds, "second")
    if isinstance(entry_schedule, crontab):
        daily = all(len(getattr(entry_schedule, field)) == full for field, full in
                    (("day_of_week", 7), ("day_of_month", 31), ("month_of_year", 12)))
        if daily and len(entry_schedule.hour) == 1 and len(entry_schedule.minute) == 1:
            zone = current_app.config["CELERY"].get("timezone", "UTC")
            return f"daily at {min(entry_schedule.hour):02d}:{min(entry_schedule.minute):02d} {zone}"
    return str(entry_schedule)


def schedule_text(task_id: str) -> str:
    entry = beat_entry(task_id)
    return describe(entry["schedule"]) if entry else "on demand only"


def next_run(task_id: str, last_scheduled: datetime | None) -> str | None:
    """When beat runs the task next, estimated from its last scheduled start."""
    entry = beat_entry(task_id)
    if entry is None:
        return None
    schedule = entry["schedule"]
    schedule = every(schedule) if isinstance(schedule, timedelta) else schedule
    now = datetime.now(timezone.utc)
    last = last_scheduled.replace(tzinfo=timezone.utc) if last_scheduled else now
    return iso(now + max(schedule.remaining_estimate(last), timedelta(0)))
