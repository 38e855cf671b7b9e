"""/api/v1/system: server settings, the latest release, statistics and resource usage.

This module's blueprint owns the whole /api/v1/system prefix: the charts and activity views
(api/analytics.py) and the server's images (api/uploads.py) are routed on it too.
"""
import re

from flask import Blueprint, current_app

from ..accounts.auth import current_caller, owner_required, staff_required
from ..admin import analytics, audit, server_info
from ..admin.settings import settings_changed
from ..errors import APIError, ValidationError
from ..extensions import db
from ..logs import log_path
from ..models import ServerSettings
from ..models.moderation import REGISTRATION_POLICIES
from ..endpoint import endpoint
from ..fields import Fields, Flag, Integer, Text, WordList
from ..ops import logfile
from .responses import ok

bp = Blueprint("system", __name__, url_prefix="/api/v1/system")

TYPE_RE = re.compile(r"[a-z0-9][a-z0-9.+-]{0,15}")
MAX_TYPES = 50
# Sizes in bytes, at most the request body limit (MAX_CONTENT_LENGTH) of the running app.
Size = Integer(1, "MAX_CONTENT_LENGTH", description="Bytes")
Types = WordList(MAX_TYPES, TYPE_RE, f"must be at most {MAX_TYPES} extensions such as png, mp4")


class Settings(Fields):
    server_name: Text(max_len=64, min_len=1, strip=True) = None
    server_description: Text(max_len=1000) = None
    welcome_message: Text(max_len=2000) = None
    is_private: Flag = None
    registration: Text(choices=REGISTRATION_POLICIES) = None
    max_message_length: Integer(1, 20_000) = None
    max_image_size: Size = None
    max_gif_size: Size = None
    max_video_size: Size = None
    max_file_size: Size = None
    allowed_image_types: Types = None
    allowed_video_types: Types = None
    allowed_file_types: Types = None


@bp.get("/server-info")
@endpoint("Server settings and upload limits")
def get_server_info():
    return ok(server_info=server_info.current())


@bp.put("/server-info")
@owner_required
@endpoint("Change server settings; every field sent is validated and stored (sizes in bytes)", Settings,
          {200: "updated_fields", 400: "INVALID_FORM_BODY: a field breaks its rule, or nothing to change"})
def update_server_info(form: Settings):
    changes = {name: value for name, value in form.model_dump().items() if value is not None}
    if not changes:
        raise ValidationError([{"path": "body", "message": "send at least one setting to change"}])
    settings = ServerSettings.get()
    for name, value in changes.items():
        setattr(settings, name, value)
    audit.record("settings_updated", "Server settings changed", ", ".join(sorted(changes)), fields=sorted(changes))
    if "registration" in changes:
        audit.record("moderation", "Registration policy changed", f"registration is now {changes['registration']}",
                     action="registration_changed", registration=changes["registration"])
    db.session.commit()
    settings_changed()  # this process's cached copy; the others reread within SETTINGS_TTL
    return ok(message="Server settings updated successfully", updated_fields=sorted(changes),
              server_info=server_info.describe(settings))


@bp.get("/latest-release")
@endpoint("The newest known release; the running version when no release check has reached the network",
          tag="general")
def latest_release():
    return ok(release=server_info.latest_release())


@bp.route("/server-stats", methods=["GET", "POST"])
@staff_required
@endpoint("Counts of users, channels and messages (admin or owner)")
def server_stats():
    return ok(statistics=analytics.server_stats())


@bp.route("/server-usage", methods=["GET", "POST"])
@endpoint("CPU, memory, disk space and traffic, uptime of the host; public unless PUBLIC_SERVER_USAGE is off "
          "(then admin or owner)", statuses={400: "MALFORMED_AUTH_TOKEN, INVALID_JSON (PUBLIC_SERVER_USAGE off)",
                                             401: "No valid auth_token (PUBLIC_SERVER_USAGE off)",
                                             403: "MISSING_ACCESS (PUBLIC_SERVER_USAGE off)"})
def server_usage():
    # The web client's dashboard asks without a token; an operator may keep the figures to staff.
    if not current_app.config["PUBLIC_SERVER_USAGE"] and not current_caller().is_staff:
        raise APIError(403, "Only admins and the server owner may do this", "MISSING_ACCESS")
    return ok(server_usage=analytics.server_usage())


class LogQuery(Fields):
    lines: Integer(1, 5000) = 100
    search: Text(max_len=200) = None
    level: Text(max_len=10, description="One of " + ", ".join(logfile.LEVELS) + " (any case; WARN too)") = None


@bp.post("/logs")
@owner_required
@endpoint("The newest lines of the server's log file, oldest first; level keeps that level and above (owner)",
          LogQuery, {200: "logs"})
def server_logs(form: LogQuery):
    level = form.level.upper() if form.level else None
    if level == "WARN":
        level = "WARNING"
    if level is not None and level not in logfile.LEVELS:
        raise ValidationError([{"path": "level", "message": "must be one of " + ", ".join(logfile.LEVELS)}])
    return ok(**logfile.read(log_path(current_app), form.lines, form.search or None, level))


@bp.post("/logs/clear")
@owner_required
@endpoint("Empty the server's log file and delete its rotated copies (owner)")
def clear_server_logs():
    removed = logfile.clear(log_path(current_app))
    return ok(message="Server logs cleared", cleared_bytes=removed)
