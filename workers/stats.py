"""Server statistics tasks: online-user samples and the activity snapshot."""
from celery import shared_task

from app import tasks
from app.admin import analytics


@shared_task(name=tasks.STATS_UPDATE)
def update_server_stats() -> dict:
    """Record an online-users sample (drawn by the online-users chart)."""
    return analytics.record_online_sample()


@shared_task(name=tasks.ACTIVITY_UPDATE)
def update_activity_metrics() -> dict:
    return analytics.store_activity_metrics()
