"""General routes: the public server summary and deployment probes."""
import redis as redis_lib
import sqlalchemy as sa
from flask import Blueprint, current_app

from ..admin import server_info
from ..extensions import db
from ..endpoint import endpoint
from .responses import ok

bp = Blueprint("general", __name__)


@bp.get("/api/v1/info")
@endpoint("Public summary of this server")
def info():
    return ok(server_info=server_info.current(with_limits=False))


def _redis_probe() -> redis_lib.Redis:
    """A client of its own with a short timeout: a hung Redis makes /readyz answer 503 quickly."""
    probe = current_app.extensions.get("readyz_redis")
    if probe is None:
        timeout = current_app.config["READYZ_REDIS_TIMEOUT"]
        probe = current_app.extensions["readyz_redis"] = redis_lib.Redis.from_url(
            current_app.config["REDIS_URL"], socket_timeout=timeout, socket_connect_timeout=timeout)
    return probe


@bp.get("/healthz")
@endpoint("Liveness: the process answers (it touches neither the database nor Redis)")
def healthz():
    return ok(status="ok")


@bp.get("/readyz")
@endpoint("Readiness: the database and Redis answer", statuses={200: "Ready", 503: "Not ready"})
def readyz():
    checks = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        db.session.rollback()
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        _redis_probe().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    if ready:
        return ok(status="ready", checks=checks)
    return ok(503, status="not ready", checks=checks, detail="A dependency is unreachable",
              code="SERVICE_UNAVAILABLE")
