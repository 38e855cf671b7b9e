"""gunicorn -c gunicorn.conf.py wsgi:app — threaded workers; every WebSocket holds one thread.

GUNICORN_WORKER_CLASS=gevent is supported too: sockets are then greenlets (see docs/realtime.md).
"""
import os
import resource
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scripts import http_errors  # noqa: E402
from scripts.observability import MaskingLogger, child_exit, metrics_dir  # noqa: E402,F401  (child_exit: a hook)

# Before any worker imports the app: prometheus-client picks multiprocess mode at import.
metrics_dir()

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '7575')}")
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
workers = int(os.environ.get("GUNICORN_WORKERS", 2))
# gthread: every open WebSocket holds one thread of its worker for its whole life, so threads
# bound the sockets a worker holds (minus the HTTP requests in flight). 2 workers x 600 threads
# hold 1,000 sockets with room for requests; raise GUNICORN_WORKERS / GUNICORN_THREADS, or use
# GUNICORN_WORKER_CLASS=gevent for tens of thousands (see docs/realtime.md).
threads = int(os.environ.get("GUNICORN_THREADS", 600))
# The most clients a worker holds at once (gthread: sockets plus idle keep-alive connections;
# gevent: every socket and request, 10,000 per worker unless set).
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS",
                                        10_000 if worker_class == "gevent" else max(1000, threads * 2)))
# Every socket is a file descriptor: lift the soft limit to the hard one (the workers inherit it).
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if _soft != resource.RLIM_INFINITY and (_hard == resource.RLIM_INFINITY or _soft < _hard):
    resource.setrlimit(resource.RLIMIT_NOFILE, (_hard, _hard))
# Spread new connections over the workers instead of letting one accept them all.
reuse_port = True
keepalive = 5
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
graceful_timeout = 20
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
logger_class = MaskingLogger  # passwords and tokens masked in access-log lines
errorlog = "-"
# gunicorn refuses what exceeds these itself (414, 431, answered as JSON by http_errors): the
# longest request line it can bound (8190 bytes; 0 would mean unlimited), header fields of up
# to 16 KiB (long tokens and cookies) and at most 100 of them.
limit_request_line = 8190
limit_request_field_size = 16 * 1024
limit_request_fields = 100
http_errors.install()
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")


def post_fork(_server, worker):
    """Size the worker's database pool from the requests it runs at once (config.py DB_CONCURRENCY)."""
    cfg = worker.cfg
    async_worker = cfg.worker_class_str.startswith(("gevent", "eventlet", "tornado", "asgi"))
    os.environ.setdefault("DB_CONCURRENCY", str(cfg.worker_connections if async_worker else cfg.threads))


def post_worker_init(worker):
    """On SIGTERM also close the worker's WebSockets (1001), so a restart need not wait them out.

    Each socket's writer sends its close frame after what is already queued for it. Under gevent
    it also refuses to serve if psycopg was loaded before the monkey patching: its C wait would
    then block every greenlet of the worker during each PostgreSQL query."""
    from app.realtime.hub import hub  # here, so the gunicorn master never loads the app itself

    if worker_class == "gevent" and "psycopg" in sys.modules:
        from psycopg import waiting
        if waiting.wait is getattr(waiting, "wait_c", None):
            raise RuntimeError("psycopg was imported before gevent patched the standard library")

    previous = signal.getsignal(signal.SIGTERM)
    if worker_class == "gevent":  # the handler runs in gevent's loop, where starting a thread would wait
        from gevent import spawn

        def close_all():
            spawn(hub.close_all)
    else:
        def close_all():
            threading.Thread(target=hub.close_all, name="close-websockets", daemon=True).start()

    def handle_term(signum, frame):
        close_all()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, handle_term)
