"""Every Prometheus metric of the server, and the /metrics exposition across processes.

With PROMETHEUS_MULTIPROC_DIR set (gunicorn.conf.py and celery_app.py set it to
<data dir>/metrics) each process writes its values to files there and /metrics sums the files of
every process of the host; without it the values are this process's own.
"""
import hmac
import ipaddress
import os

from flask import Flask, current_app, request
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram,
                               generate_latest, multiprocess)

from .errors import APIError

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

REQUESTS = Counter("pufferblow_http_requests_total", "HTTP requests by endpoint, method and status",
                   ["endpoint", "method", "status"])
LATENCY = Histogram("pufferblow_http_request_duration_seconds", "Time spent answering a request, by endpoint",
                    ["endpoint"], buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
OPEN_SOCKETS = Gauge("pufferblow_websockets_open", "WebSockets open on this host", multiprocess_mode="livesum")
EVENTS_PUBLISHED = Counter("pufferblow_events_published_total", "Live events published, by kind", ["kind"])
EVENTS_DELIVERED = Counter("pufferblow_events_delivered_total", "Live event frames handed to sockets")
TASKS = Counter("pufferblow_celery_tasks_total", "Celery task outcomes, by task", ["task", "outcome"])
RATE_LIMITED = Counter("pufferblow_rate_limited_total", "Requests refused by a rate limit")
# Once the pool is warm this stays still: a steady rise means connections opened per request.
DB_CONNECTIONS = Counter("pufferblow_db_connections_opened_total", "Database connections opened")

# (endpoint, method, status) -> (request counter, latency histogram): labels() takes a lock and
# builds a key on every call, more than the increment itself.
_children: dict[tuple, tuple] = {}


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request; called once per request, so kept to two writes."""
    key = (endpoint, method, status)
    pair = _children.get(key)
    if pair is None:
        pair = _children[key] = (REQUESTS.labels(endpoint, method, str(status)), LATENCY.labels(endpoint))
    pair[0].inc()
    pair[1].observe(seconds)


def _allowed_networks(app: Flask) -> list:
    networks = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
    for item in app.config["METRICS_ALLOWED"]:
        networks.append(ipaddress.ip_network(item, strict=False))
    return networks


def check_access(client_ip: str) -> None:
    """Loopback, METRICS_ALLOWED addresses, or the METRICS_TOKEN bearer token; others get a 404."""
    token = current_app.config["METRICS_TOKEN"]
    header = request.headers.get("Authorization", "")
    if token and header[:7].lower() == "bearer " and _same(header[7:].strip(), token):
        return
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        address = None
    networks = current_app.extensions.setdefault("metrics_networks", _allowed_networks(current_app))
    if address is None or not any(address in network for network in networks):
        # Answer like an unknown route: nothing tells a stranger that metrics are served here.
        raise APIError(404, "Resource not found")


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def exposition() -> tuple[bytes, str]:
    """The text format of every metric, summed over this host's processes in multiprocess mode."""
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """Drop a dead process's live gauges (its counters stay: totals must not go backwards)."""
    if MULTIPROCESS:
        multiprocess.mark_process_dead(pid)
