"""Start the real processes (gunicorn, Celery worker, beat) for multi-process tests and benchmarks.

    with Stack(env, web_workers=2, threads=32, celery_worker=True) as stack:
        requests.get(stack.url + "/healthz")

env holds REDIS_URL, DATABASE_URL and PUFFERBLOW_DATA_DIR (tests pass conftest's services["env"]).
Logs go to <data dir>/logs; a process that fails to start raises with the tail of its log.
"""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Process:
    """One child process in its own session, logging to a file."""

    def __init__(self, name: str, command: list[str], env: dict):
        self.name = name
        log_dir = os.path.join(env["PUFFERBLOW_DATA_DIR"], "logs")
        os.makedirs(log_dir, exist_ok=True)
        self.log_path = os.path.join(log_dir, f"{name}-{time.time_ns()}.log")
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail(self, size: int = 3000) -> str:
        with open(self.log_path, "rb") as handle:
            return handle.read()[-size:].decode(errors="replace")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")

    def stop(self, timeout: float = 15) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


def _wait_for(condition, process: _Process, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.check_alive()
        if condition():
            return
        time.sleep(0.1)
    process.stop()
    raise RuntimeError(f"{what} not ready within {timeout} s:\n{process.log_tail()}")


class CeleryWorker:
    """A real Celery worker (threads pool) consuming from the stack's Redis."""

    def __init__(self, env: dict, concurrency: int = 2, extra_env: dict | None = None):
        self.env = {**env, **(extra_env or {})}
        self.concurrency = concurrency
        self.proc: _Process | None = None

    def __enter__(self) -> "CeleryWorker":
        command = [f"{BIN}/celery", "-A", "celery_app", "worker", "--pool", "threads", "--concurrency",
                   str(self.concurrency), "--loglevel", "INFO", "--without-gossip", "--without-mingle",
                   "--hostname", f"test-{time.time_ns()}@%h"]
        self.proc = _Process("celery-worker", command, self.env)
        _wait_for(lambda: b" ready." in open(self.proc.log_path, "rb").read(), self.proc, 60, "celery worker")
        return self

    def __exit__(self, *exc) -> None:
        self.proc.stop()


class CeleryBeat:
    """Celery beat with its schedule file in the data dir."""

    def __init__(self, env: dict, extra_env: dict | None = None):
        self.env = {**env, **(extra_env or {})}
        self.proc: _Process | None = None

    def __enter__(self) -> "CeleryBeat":
        schedule = os.path.join(self.env["PUFFERBLOW_DATA_DIR"], f"beat-{time.time_ns()}")
        self.proc = _Process("celery-beat", [f"{BIN}/celery", "-A", "celery_app", "beat", "--loglevel", "INFO",
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
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.web_workers, self.threads, self.worker_class = web_workers, threads, worker_class
        self.with_worker, self.with_beat, self.migrate = celery_worker, beat, migrate
        self.web: _Process | None = None
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
            self.web = _Process("gunicorn", [f"{BIN}/gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], web_env)
            _wait_for(self._healthy, self.web, 60, "gunicorn")
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
