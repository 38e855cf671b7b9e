"""The event log's retention: events older than EVENT_RETENTION_DAYS are deleted."""
from celery import shared_task

from app import tasks
from app.realtime import log as event_log


@shared_task(name=tasks.EVENTS_PRUNE)
def prune_events() -> dict:
    return {"deleted": event_log.prune(event_log.retention_days())}
