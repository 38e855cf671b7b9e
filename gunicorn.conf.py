"""gunicorn -c gunicorn.conf.py wsgi:app — threaded workers; every WebSocket holds one thread."""
import os

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '7575')}")
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
workers = int(os.environ.get("GUNICORN_WORKERS", 2))
# Threads bound the sockets a worker holds at once (plus the requests in flight).
threads = int(os.environ.get("GUNICORN_THREADS", 64))
# Spread new connections over the workers instead of letting one accept them all.
reuse_port = True
keepalive = 5
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
graceful_timeout = 20
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
