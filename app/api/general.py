"""General routes: the public server summary and deployment probes."""
import sqlalchemy as sa
from flask import Blueprint

from ..admin import server_info
from ..extensions import db, redis
from ..endpoint import endpoint
from .responses import ok

bp = Blueprint("general", __name__)


@bp.get("/api/v1/info")
@endpoint("Public summary of this server")
def info():
    return ok(server_info=server_info.current(with_limits=False))


@bp.get("/healthz")
@endpoint("Liveness: the process answers")
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
        redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    if ready:
        return ok(status="ready", checks=checks)
    return ok(503, status="not ready", checks=checks, detail="A dependency is unreachable",
              code="SERVICE_UNAVAILABLE")
