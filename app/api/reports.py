"""/api/v1/reports: any signed-in user reports messages or an account; staff resolve them."""
from flask import Blueprint

from ..accounts.auth import current_caller, login_required, staff_required
from ..admin import audit, reports
from ..extensions import db
from ..limits import limiter
from ..endpoint import doc
from ..params import Params
from .responses import ok

bp = Blueprint("reports", __name__, url_prefix="/api/v1/reports")
TAG = "moderation"



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
    # Ids are stored lower-case; the same message named twice is reported once.
    message_ids = list(dict.fromkeys(i.lower() for i in params.id_list("message_ids", reports.MAX_MESSAGES, 36)))
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
