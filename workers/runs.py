"""The Celery side of recorded runs: beat and manual runs of registered tasks arrive here."""
from celery import shared_task

from app import tasks
from app.admin import lost_runs, runs


@shared_task(name=tasks.BACKGROUND_RUN, bind=True)
def run_registered(self, task_id: str, run_id: str | None = None) -> dict:
    """Run one registered task inside this worker process, recorded by app/admin/runs.py."""
    return runs.run_recorded(task_id, run_id, lambda name: self.app.tasks[name]())


@shared_task(name=tasks.RUNS_REAP)
def reap_lost_runs() -> dict:
    """Beat's reaper: fail the runs whose worker died, free their locks and queue them again."""
    return lost_runs.reap()
