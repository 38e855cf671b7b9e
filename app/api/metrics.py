"""GET /metrics: Prometheus text format, for loopback, METRICS_ALLOWED or METRICS_TOKEN."""
from flask import Blueprint, Response

from .. import metrics
from ..limits.addresses import client_ip
from ..endpoint import endpoint

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
@endpoint("Prometheus metrics (loopback, METRICS_ALLOWED addresses or a METRICS_TOKEN bearer token)",
          statuses={200: ("Prometheus text format", "text/plain"), 404: "Not an allowed address or token"})
def prometheus_metrics():
    metrics.check_access(client_ip() or "")
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type)
