"""The names of the Celery tasks the web side queues, and enqueue(): one way to queue, one policy.

Web code never imports workers/: it queues by these names, and workers/ registers its tasks
under the same names.
"""
import logging

from flask import current_app

log = logging.getLogger(__name__)

BACKGROUND_RUN = "background.run"
RUNS_REAP = "runs.reap"
CDN_CLEANUP = "cdn.cleanup"
CDN_TRANSFORM = "cdn.transform"
UPLOADS_PROCESS = "uploads.process"
FANOUT_DELIVER = "fanout.deliver"
FANOUT_PRESENCE = "fanout.presence"
FANOUT_SWEEP_PRESENCE = "fanout.sweep_presence"
TOKENS_CLEANUP = "tokens.cleanup"
STATS_UPDATE = "stats.update"
ACTIVITY_UPDATE = "activity.update"
CHARTS_UPDATE = "charts.update"
RELEASES_CHECK = "releases.check"
MODERATION_DELETE_MESSAGES = "moderation.delete_messages"
SEARCH_BACKFILL = "search.backfill"
EVENTS_PRUNE = "events.prune"


def enqueue(name: str, *args, task_id: str | None = None) -> bool:
    """Queue a task; False (logged, never raised) when the broker cannot take it.

    The change that asked for the work is already committed, so a broker outage must not turn
    the request into an error: callers that can tell the client (a manual run) check the result.
    """
    try:
        current_app.extensions["celery"].send_task(name, args=list(args), task_id=task_id)
        return True
    except Exception:
        log.warning("could not queue %s", name, exc_info=True)
        return False
