"""/api/v1/system charts, recent activity, activity metrics and the overview (admin or owner).

Routed on the system blueprint, which owns the /api/v1/system prefix.
"""
import sqlalchemy as sa

from ..accounts.auth import staff_required
from ..admin import analytics, charts
from ..admin.audit import activity_entry
from ..extensions import db
from ..ids import iso, utcnow
from ..models import AuditEvent, ChartBucket, User
from ..models.users import STATUSES
from ..endpoint import endpoint
from ..fields import Fields, Integer, Text
from .responses import ok
from .system import bp

TAG = "analytics"  # the OpenAPI group these views are listed under

# Mid-tone colours that read on the client's dark and light themes: a translucent fill under an
# opaque line. One colour per chart type, and one per status on the status pie.
SERIES_COLOURS = {
    "user-registrations": (59, 130, 246), "message-activity": (16, 185, 129),
    "online-users": (139, 92, 246), "channel-creation": (245, 158, 11),
}
STATUS_COLOURS = {"online": (34, 197, 94), "idle": (234, 179, 8), "dnd": (239, 68, 68), "offline": (148, 163, 184)}
OTHER_COLOUR = (100, 116, 139)  # a status outside STATUSES


def _rgba(rgb: tuple[int, int, int], alpha: float) -> str:
    return f"rgba({rgb[0]}, {rgb[1]}, {rgb[2]}, {alpha})"


# chart type -> (stored metric, dataset label)
CHARTS = {
    "user-registrations": ("registrations", "New users"),
    "message-activity": ("messages", "Messages"),
    "online-users": ("online", "Online users (peak)"),
    "channel-creation": ("channels", "New channels"),
}
Period = Text(choices=tuple(charts.PERIODS))


class ChartQuery(Fields):
    period: Period = "daily"


class OverviewQuery(Fields):
    period: Period = "24h"


def _series_chart(chart_type: str, period_name: str, period: charts.Period) -> tuple[dict, dict]:
    metric, label = CHARTS[chart_type]
    starts, data = charts.read_series(metric, period)
    updated = db.session.scalar(sa.select(sa.func.max(ChartBucket.updated_at)).where(ChartBucket.metric == metric))
    raw = {"total": sum(data) if metric != "online" else None, "peak": max(data), "points": len(data),
           "granularity": period.unit, "bucket_starts": [iso(start) for start in starts],
           "last_updated": iso(updated)}
    colour = SERIES_COLOURS[chart_type]
    chart = {"labels": [start.strftime(period.label) for start in starts],
             "datasets": [{"label": label, "data": data, "backgroundColor": _rgba(colour, 0.35),
                           "borderColor": _rgba(colour, 1)}]}
    return chart, raw


def _status_chart() -> tuple[dict, dict]:
    counts = dict(db.session.execute(sa.select(User.status, sa.func.count()).group_by(User.status)).all())
    labels = list(STATUSES) + sorted(set(counts) - set(STATUSES))
    data = [counts.get(status, 0) for status in labels]
    raw = {"total": sum(data), **{status: counts.get(status, 0) for status in labels}, "last_updated": iso(utcnow())}
    colours = [STATUS_COLOURS.get(status, OTHER_COLOUR) for status in labels]
    dataset = {"label": "Users", "data": data, "backgroundColor": [_rgba(c, 0.85) for c in colours],
               "borderColor": [_rgba(c, 1) for c in colours]}
    return {"labels": labels, "datasets": [dataset]}, raw


def chart(query: ChartQuery, chart_type: str):
    period_name, period = query.period, charts.PERIODS[query.period]
    data, raw = _status_chart() if chart_type == "user-status" else _series_chart(chart_type, period_name, period)
    return ok(chart_data={"chart_type": chart_type, "period": period_name, **data}, raw_stats=raw)


for _chart_type in (*CHARTS, "user-status"):
    _summary = ("The current distribution of user statuses" if _chart_type == "user-status" else
                f"Chart of {_chart_type.replace('-', ' ')} from stored aggregates")
    bp.add_url_rule(f"/charts/{_chart_type}", f"chart_{_chart_type.replace('-', '_')}", methods=["GET", "POST"],
                    defaults={"chart_type": _chart_type},
                    view_func=staff_required(endpoint(_summary + " (admin or owner)", ChartQuery, tag=TAG)(chart)))


class ActivityQuery(Fields):
    limit: Integer(1, 100) = 10


@bp.route("/recent-activity", methods=["GET", "POST"])
@staff_required
@endpoint("Newest audit events: sign-ups, sign-ins, channels, membership, settings, IP blocks, task runs",
          ActivityQuery, tag=TAG)
def recent_activity(query: ActivityQuery):
    events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(query.limit))
    return ok(activities=[activity_entry(event) for event in events])


@bp.route("/activity-metrics", methods=["GET", "POST"])
@staff_required
@endpoint("Users, channels, messages in the last hour, active and online users", tag=TAG)
def activity_metrics():
    return ok(activity_metrics=analytics.activity_metrics())


@bp.route("/server-overview", methods=["GET", "POST"])
@staff_required
@endpoint("Totals and recent activity; messages_this_period follows period", OverviewQuery, tag=TAG)
def server_overview(query: OverviewQuery):
    period_name, period = query.period, charts.PERIODS[query.period]
    now = utcnow()
    since = charts.bucket_starts(period, now)[0]
    stats = analytics.server_stats()
    return ok(server_overview={
        "total_users": stats["users"]["total"], "total_channels": stats["channels"]["total"],
        "messages_last_hour": analytics.messages_since(now - charts.GRANULARITIES["hour"]),
        "active_users": analytics.active_users(now - charts.GRANULARITIES["day"]),
        "online_users": stats["users"]["online"], "total_messages": stats["messages"]["total"],
        "messages_this_period": analytics.messages_since(since), "period": period_name, "period_start": iso(since),
    })
