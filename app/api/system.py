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
from ..openapi import doc
from ..ops import logfile
from ..params import Params, raw_param
from .responses import ok

bp = Blueprint("system", __name__, url_prefix="/api/v1/system")

TYPE_RE = re.compile(r"[a-z0-9][a-z0-9.+-]{0,15}")
TYPE_FIELDS = ("allowed_image_types", "allowed_video_types", "allowed_file_types")
SIZE_FIELDS = ("max_image_size", "max_gif_size", "max_video_size", "max_file_size")
MAX_TYPES = 50
TEXT_FIELDS = {"server_name": (1, 64), "server_description": (0, 1000), "welcome_message": (0, 2000)}
SETTINGS_PARAMS = {**dict.fromkeys(TEXT_FIELDS, "str"), "is_private": "bool", "registration": "str",
                   "max_message_length": "int",
                   **dict.fromkeys(SIZE_FIELDS, "int"), **dict.fromkeys(TYPE_FIELDS, "str")}


def _type_list(params: Params, name: str) -> list[str] | None:
    """A list of file extensions, sent as a JSON list or a comma-separated string."""
    value = raw_param(name)
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        params.errors.append({"path": name, "message": "must be a list of file extensions"})
        return None
    cleaned = list(dict.fromkeys(item.strip().lower().lstrip(".") for item in items if item.strip()))
    if len(cleaned) > MAX_TYPES or not all(TYPE_RE.fullmatch(item) for item in cleaned):
        params.errors.append({"path": name, "message": f"must be at most {MAX_TYPES} extensions such as png, mp4"})
        return None
    return cleaned


@bp.get("/server-info")
@doc("Server settings and upload limits", auth=None)
def get_server_info():
    return ok(server_info=server_info.current())


@bp.put("/server-info")
@doc("Change server settings; every field sent is validated and stored (sizes in bytes)", SETTINGS_PARAMS,
     auth="owner", responses={200: "updated_fields", 400: "Invalid field"})
@owner_required
def update_server_info():
    params = Params()
    changes = {name: params.text(name, required=False, min_len=low, max_len=high, strip=name == "server_name")
               for name, (low, high) in TEXT_FIELDS.items()}
    changes["is_private"] = params.flag("is_private", default=None)
    changes["registration"] = params.text("registration", required=False, choices=set(REGISTRATION_POLICIES))
    changes["max_message_length"] = params.integer("max_message_length", minimum=1, maximum=20_000)
    body_limit = current_app.config["MAX_CONTENT_LENGTH"]
    for name in SIZE_FIELDS:
        changes[name] = params.integer(name, minimum=1, maximum=body_limit)
    for name in TYPE_FIELDS:
        changes[name] = _type_list(params, name)
    params.done()
    changes = {name: value for name, value in changes.items() if value is not None}
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
@doc("The newest known release; the running version when no release check has reached the network",
     auth=None, tag="general")
def latest_release():
    return ok(release=server_info.latest_release())


@bp.route("/server-stats", methods=["GET", "POST"])
@doc("Counts of users, channels and messages (admin or owner)", auth="admin")
@staff_required
def server_stats():
    return ok(statistics=analytics.server_stats())


@bp.route("/server-usage", methods=["GET", "POST"])
@doc("CPU, memory, disk space and traffic, uptime of the host; public unless PUBLIC_SERVER_USAGE is off "
     "(then admin or owner)", auth=None)
def server_usage():
    # The web client's dashboard asks without a token; an operator may keep the figures to staff.
    if not current_app.config["PUBLIC_SERVER_USAGE"] and not current_caller().is_staff:
        raise APIError(403, "Only admins and the server owner may do this", "MISSING_ACCESS")
    return ok(server_usage=analytics.server_usage())


@bp.post("/logs")
@doc("The newest lines of the server's log file, oldest first; level keeps that level and above (owner)",
     {"lines": "int", "search": "str", "level": "str"}, auth="owner", responses={200: "logs", 400: "Invalid field"})
@owner_required
def server_logs():
    params = Params()
    lines = params.integer("lines", default=100, minimum=1, maximum=5000)
    search = params.text("search", required=False, max_len=200) or None
    level = params.text("level", required=False, max_len=10)
    level = level.upper() if level else None
    if level == "WARN":
        level = "WARNING"
    if level is not None and level not in logfile.LEVELS:
        params.errors.append({"path": "level", "message": "must be one of " + ", ".join(logfile.LEVELS)})
    params.done()
    return ok(**logfile.read(log_path(current_app), lines, search, level))


@bp.post("/logs/clear")
@doc("Empty the server's log file and delete its rotated copies (owner)", auth="owner")
@owner_required
def clear_server_logs():
    removed = logfile.clear(log_path(current_app))
    return ok(message="Server logs cleared", cleared_bytes=removed)
