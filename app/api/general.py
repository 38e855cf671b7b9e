"""General routes: public server summary, release info and deployment probes."""
import json

import sqlalchemy as sa
from flask import Blueprint, current_app

from ..extensions import db, redis
from ..ids import iso
from ..models import ServerSettings
from ..openapi import doc
from ..urls import absolute_url
from .responses import ok

bp = Blueprint("general", __name__)

# Written by the release-check task; absent until it has run.
LATEST_RELEASE_KEY = "pufferblow:latest_release"


@bp.get("/api/v1/info")
@doc("Public summary of this server", auth=None)
def info():
    settings = ServerSettings.get()
    db.session.commit()
    return ok(server_info={
        "server_name": settings.server_name,
        "server_description": settings.server_description,
        "version": current_app.config["SERVER_VERSION"],
        "is_private": settings.is_private,
        "creation_date": iso(settings.created_at),
        "avatar_url": absolute_url(settings.avatar_url),
        "banner_url": absolute_url(settings.banner_url),
        "welcome_message": settings.welcome_message,
    })


@bp.get("/api/v1/system/latest-release")
@doc("The newest known release; the running version when no release check has reached the network",
     auth=None)
def latest_release():
    try:
        stored = redis.get(LATEST_RELEASE_KEY)
    except Exception:  # the route must answer even without Redis
        stored = None
    release = json.loads(stored) if stored else {
        "version": current_app.config["SERVER_VERSION"], "url": None, "published_at": None}
    release["current_version"] = current_app.config["SERVER_VERSION"]
    return ok(release=release)


@bp.get("/healthz")
@doc("Liveness: the process answers", auth=None)
def healthz():
    return ok(status="ok")


@bp.get("/readyz")
@doc("Readiness: the database and Redis answer", auth=None, responses={200: "Ready", 503: "Not ready"})
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
