"""Start the real processes (gunicorn, Celery worker, beat) for multi-process tests and benchmarks.

    with Stack(env, web_workers=2, threads=32, celery_worker=True) as stack:
        requests.get(stack.url + "/healthz")

env holds REDIS_URL, DATABASE_URL and PUFFERBLOW_DATA_DIR (tests pass conftest's services["env"]).
Logs go to <data dir>/logs; a process that fails to start raises with the tail of its log.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from scripts.supervise import ROOT, Child

BIN = os.path.dirname(sys.executable)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _logged(name: str, command: list[str], env: dict) -> Child:
    """A child whose output goes to a fresh file under <data dir>/logs."""
    log_dir = os.path.join(env["PUFFERBLOW_DATA_DIR"], "logs")
    os.makedirs(log_dir, exist_ok=True)
    return Child(name, command, env, log_path=os.path.join(log_dir, f"{name}-{time.time_ns()}.log"))


class CeleryWorker:
    """A real Celery worker (threads pool) consuming from the stack's Redis."""

    def __init__(self, env: dict, concurrency: int = 2, extra_env: dict | None = None):
        self.env = {**env, **(extra_env or {})}
        self.concurrency = concurrency
        self.proc: Child | None = None

    def __enter__(self) -> "CeleryWorker":
        command = [f"{BIN}/celery", "-A", "celery_app", "worker", "--pool", "threads", "--concurrency",
                   str(self.concurrency), "--loglevel", "INFO", "--without-gossip", "--without-mingle",
                   "--hostname", f"test-{time.time_ns()}@%h"]
        self.proc = _logged("celery-worker", command, self.env)
        self.proc.wait_until(lambda: b" ready." in self.proc.log_text(), 60, "celery worker")
        return self

    def __exit__(self, *exc) -> None:
        self.proc.stop()


class CeleryBeat:
    """Celery beat with its schedule file in the data dir."""

    def __init__(self, env: dict, extra_env: dict | None = None):
        self.env = {**env, **(extra_env or {})}
        self.proc: Child | None = None

    def __enter__(self) -> "CeleryBeat":
        schedule = os.path.join(self.env["PUFFERBLOW_DATA_DIR"], f"beat-{time.time_ns()}")
        self.proc = _logged("celery-beat", [f"{BIN}/celery", "-A", "celery_app", "beat", "--loglevel", "INFO",
                                            "--schedule", schedule], self.env)
        return self

    def __exit__(self, *exc) -> None:
        self.proc.stop()


class Stack:
    """gunicorn (gthread) on a free loopback port, plus optional Celery worker and beat."""

    def __init__(self, env: dict, web_workers: int = 2, threads: int = 32, celery_worker: bool = False,
                 beat: bool = False, migrate: bool = False, extra_env: dict | None = None,
                 worker_class: str = "gthread"):
        self.env = {**env, **(extra_env or {})}
        # A metrics directory of this stack's own: its processes' counts and nothing earlier.
        self.env.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(
            prefix="metrics-", dir=os.path.join(self.env["PUFFERBLOW_DATA_DIR"])))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.web_workers, self.threads, self.worker_class = web_workers, threads, worker_class
        self.with_worker, self.with_beat, self.migrate = celery_worker, beat, migrate
        self.web: Child | None = None
        self._children: list = []

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def __enter__(self) -> "Stack":
        try:
            if self.migrate:
                subprocess.run([f"{BIN}/flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, check=True,
                               env={**os.environ, **self.env}, capture_output=True)
            if self.with_worker:
                self._children.append(CeleryWorker(self.env).__enter__())
            if self.with_beat:
                self._children.append(CeleryBeat(self.env).__enter__())
            web_env = {**self.env, "GUNICORN_BIND": f"127.0.0.1:{self.port}", "GUNICORN_WORKERS": str(self.web_workers),
                       "GUNICORN_THREADS": str(self.threads), "GUNICORN_WORKER_CLASS": self.worker_class,
                       "GUNICORN_LOGLEVEL": "warning"}
            self.web = _logged("gunicorn", [f"{BIN}/gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], web_env)
            self.web.wait_until(self._healthy, 60, "gunicorn")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.web is not None:
            self.web.stop()
        for child in reversed(self._children):
            child.__exit__()
        self._children.clear()
