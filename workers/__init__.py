"""Celery tasks, one module per area; REGISTRY lists the ids an owner may run on demand.

Each id names a Celery task; "background.run" (workers/runs.py) runs it with a recorded,
single-flight run, both for the beat schedule (config.py CELERY["beat_schedule"]) and for
POST /background-tasks/run.
"""
REGISTRY: dict[str, dict] = {
    "cdn_cleanup": {"task": "cdn.cleanup", "schedule": "daily at 03:30 UTC",
                    "description": "Delete uploaded files that no message, avatar or banner uses any more"},
    "auth_token_cleanup": {"task": "tokens.cleanup", "schedule": "every hour",
                           "description": "Delete expired auth tokens"},
    "server_stats_update": {"task": "stats.update", "schedule": "every 5 minutes",
                            "description": "Record how many users are online (the online-users chart)"},
    "chart_data_update": {"task": "charts.update", "schedule": "every 5 minutes",
                          "description": "Aggregate registrations, messages, channels and online users for charts"},
    "activity_metrics_update": {"task": "activity.update", "schedule": "every 2 minutes",
                                "description": "Refresh the activity metrics shown on the dashboard"},
    "github_releases_check": {"task": "releases.check", "schedule": "every 6 hours",
                              "description": "Look up the newest release (the running version when offline)"},
}

from workers import cdn, charts, fanout, releases, runs, stats, tokens, uploads  # noqa: E402,F401  (registers every task)
