"""Celery tasks, one module per area; REGISTRY lists the ids an owner may run on demand."""
REGISTRY: dict[str, dict] = {}

from . import cdn, fanout, uploads  # noqa: E402,F401  (registers the tasks)
