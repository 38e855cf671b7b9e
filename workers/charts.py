"""Chart aggregation: the only place that counts the message table for charts."""
from celery import shared_task

from app import tasks
from app.admin import charts


@shared_task(name=tasks.CHARTS_UPDATE)
def update_charts() -> dict:
    return {"buckets": charts.update_all()}
