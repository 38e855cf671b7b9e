"""Celery task outcomes as metrics, and a dead pool process's live metric files dropped."""
import os

from celery.signals import task_failure, task_retry, task_success, worker_process_shutdown

from app import metrics


def _task_name(sender) -> str:
    return getattr(sender, "name", None) or str(sender)


@task_success.connect
def _succeeded(sender=None, **_kwargs) -> None:
    metrics.TASKS.labels(_task_name(sender), "succeeded").inc()


@task_failure.connect
def _failed(sender=None, **_kwargs) -> None:
    metrics.TASKS.labels(_task_name(sender), "failed").inc()


@task_retry.connect
def _retried(sender=None, request=None, **_kwargs) -> None:
    name = getattr(request, "task", None) or _task_name(sender)
    metrics.TASKS.labels(name, "retried").inc()


@worker_process_shutdown.connect
def _process_gone(pid=None, **_kwargs) -> None:
    metrics.mark_process_dead(pid or os.getpid())
