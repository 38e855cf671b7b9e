"""/api/v1/reports: any signed-in user reports messages or an account; staff resolve them."""
from flask import Blueprint

from ..accounts.auth import current_caller, login_required, staff_required
from ..admin import audit, reports
from ..errors import ValidationError
from ..extensions import db
from ..limits import limiter
from ..openapi import doc
from ..params import Params, raw_param
from .responses import ok

bp = Blueprint("reports", __name__, url_prefix="/api/v1/reports")
TAG = "moderation"


def _message_ids() -> list[str]:
    value = raw_param("message_ids")
    if value is None or value == "":
        return []
    items = value.split(",") if isinstance(value, str) else value
    if (not isinstance(items, list) or len(items) > reports.MAX_MESSAGES
            or not all(isinstance(item, str) and 0 < len(item.strip()) <= 36 for item in items)):
        raise ValidationError([{"path": "message_ids",
                                "message": f"must be a list of at most {reports.MAX_MESSAGES} message ids"}])
    return list(dict.fromkeys(item.strip().lower() for item in items))


@bp.post("", strict_slashes=False)
@doc("Report up to 10 messages or a user (rate limited)",
     {"message_ids": "str", "user_id": "str", "category": "str*", "description": "str"}, tag=TAG,
     responses={201: "report", 400: "Invalid field", 404: "Unknown message or user", 429: "Too many reports"})
@login_required
@limiter.report_limited
def create_report():
    params = Params()
    user_id = params.text("user_id", required=False, max_len=64)
    category = params.text("category", choices=set(reports.CATEGORIES))
    description = params.text("description", required=False, default="", max_len=2000)
    message_ids = _message_ids()
    if not message_ids and not user_id:
        params.errors.append({"path": "message_ids", "message": "send message_ids or user_id"})
    params.done()
    report = reports.create(current_caller().id, message_ids, user_id, category, description)
    audit.record("moderation", "Report filed", f"{category}: {len(message_ids)} message(s)", action="report_created",
                 report_id=report.id, target_id=report.user_id)
    db.session.commit()
    return ok(201, report=report.to_dict())


@bp.get("", strict_slashes=False)
@doc("Reports with the reported messages' text, newest first; status filters (admin or owner)",
     {"status": "str", "limit": "int"}, auth="admin", tag=TAG, responses={200: "reports"})
@staff_required
def list_reports():
    params = Params()
    status = params.text("status", required=False, choices=set(reports.STATUSES))
    limit = params.integer("limit", default=50, minimum=1, maximum=200)
    params.done()
    return ok(reports=reports.listed(status, limit))


@bp.put("/<report_id>")
@doc("Resolve or dismiss a report (admin or owner)", {"status": "str*", "note": "str"}, auth="admin", tag=TAG,
     responses={200: "report", 404: "Unknown report"})
@staff_required
def update_report(report_id: str):
    params = Params()
    status = params.text("status", choices={"resolved", "dismissed"})
    note = params.text("note", required=False, default="", max_len=2000)
    params.done()
    report = reports.resolve(report_id, status, note, current_caller().id)
    audit.record("moderation", f"Report {status}", note[:200], action=f"report_{status}", report_id=report.id)
    db.session.commit()
    return ok(report=report.to_dict())
