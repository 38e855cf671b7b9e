"""gunicorn -c gunicorn.conf.py wsgi:app — threaded workers; every WebSocket holds one thread."""
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
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
# gevent: every socket, so raise it for large communities).
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", max(1000, threads * 2)))
# Spread new connections over the workers instead of letting one accept them all.
reuse_port = True
keepalive = 5
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
graceful_timeout = 20
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
logger_class = MaskingLogger  # passwords and tokens masked in access-log lines
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")


def post_fork(_server, worker):
    """Size the worker's database pool from the requests it runs at once (config.py DB_CONCURRENCY)."""
    cfg = worker.cfg
    async_worker = cfg.worker_class_str.startswith(("gevent", "eventlet", "tornado", "asgi"))
    os.environ.setdefault("DB_CONCURRENCY", str(cfg.worker_connections if async_worker else cfg.threads))


def post_worker_init(worker):
    """On SIGTERM also close the worker's WebSockets (1001), so a restart need not wait them out.

    Each socket's writer sends its close frame after what is already queued for it."""
    from app.realtime.hub import hub  # here, so the gunicorn master never loads the app itself

    previous = signal.getsignal(signal.SIGTERM)

    def handle_term(signum, frame):
        threading.Thread(target=hub.close_all, name="close-websockets", daemon=True).start()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, handle_term)
