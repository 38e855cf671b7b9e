"""/api/v1/reports: any signed-in user reports messages or an account; staff resolve them."""
from flask import Blueprint

from ..accounts.auth import current_caller, login_required, staff_required
from ..admin import audit, reports
from ..extensions import db
from ..limits import limiter
from ..endpoint import endpoint
from ..errors import ValidationError
from ..fields import Fields, IdList, Integer, Text
from .responses import ok

bp = Blueprint("reports", __name__, url_prefix="/api/v1/reports")
TAG = "moderation"


class NewReport(Fields):
    message_ids: IdList(reports.MAX_MESSAGES, 36) = []
    user_id: Text(max_len=64, description="Required unless message_ids is sent") = None
    category: Text(choices=reports.CATEGORIES)
    description: Text(max_len=2000) = ""


class ReportFilter(Fields):
    status: Text(choices=reports.STATUSES) = None
    limit: Integer(1, 200) = 50


class ReportDecision(Fields):
    status: Text(choices=("resolved", "dismissed"))
    note: Text(max_len=2000) = ""


@bp.post("", strict_slashes=False)
@login_required
@limiter.report_limited
@endpoint("Report up to 10 messages or a user (rate limited)", NewReport,
          {201: "report", 404: "Unknown message or user", 429: "Too many reports"}, tag=TAG)
def create_report(form: NewReport):
    user_id, category, description = form.user_id, form.category, form.description
    # Ids are stored lower-case; the same message named twice is reported once.
    message_ids = list(dict.fromkeys(i.lower() for i in form.message_ids))
    if not message_ids and not user_id:
        raise ValidationError([{"path": "message_ids", "message": "send message_ids or user_id"}])
    report = reports.create(current_caller().id, message_ids, user_id, category, description)
    audit.record("moderation", "Report filed", f"{category}: {len(message_ids)} message(s)", action="report_created",
                 report_id=report.id, target_id=report.user_id)
    db.session.commit()
    return ok(201, report=report.to_dict())


@bp.get("", strict_slashes=False)
@staff_required
@endpoint("Reports with the reported messages' text, newest first; status filters (admin or owner)", ReportFilter,
          {200: "reports"}, tag=TAG)
def list_reports(query: ReportFilter):
    return ok(reports=reports.listed(query.status, query.limit))


@bp.put("/<report_id>")
@staff_required
@endpoint("Resolve or dismiss a report (admin or owner)", ReportDecision, {200: "report", 404: "Unknown report"},
          tag=TAG)
def update_report(form: ReportDecision, report_id: str):
    status, note = form.status, form.note
    report = reports.resolve(report_id, status, note, current_caller().id)
    audit.record("moderation", f"Report {status}", note[:200], action=f"report_{status}", report_id=report.id)
    db.session.commit()
    return ok(report=report.to_dict())
