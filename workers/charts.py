"""Chart aggregation: the only place that counts the message table for charts."""
from celery import shared_task

from app.admin import charts


@shared_task(name="charts.update")
def update_charts() -> dict:
    return {"buckets": charts.update_all()}
