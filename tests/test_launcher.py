"""`make run`'s launcher: a stop signal sent to its process group, even twice, leaves nothing behind."""
import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import requests

from scripts.stack import free_port
from tests.api_helpers import ROOT


def _tree(pid: int) -> list[psutil.Process]:
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _healthy(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


# What `make run` starts by default: itself, Redis, the gunicorn master and its one worker, and
# one Celery process (a threads pool, beat as a thread) -- no prefork children, no beat process.
LEAN_LAYOUT = sorted(["launcher", "redis-server", "gunicorn", "gunicorn", "celery worker --beat-thread"])


def _kind(process: psutil.Process) -> str:
    line = " ".join(process.cmdline())
    if "scripts/run.py" in line:
        return "launcher"
    if "celery" in line:
        return "celery worker --beat-thread" if " worker " in line and "--beat-thread" in line else line
    return next((name for name in ("redis-server", "gunicorn") if name in line), line)


def test_sigterm_twice_to_the_group_stops_every_process(tmp_path):
    """Also checks the processes make run starts (LEAN_LAYOUT), and that beat runs in the worker."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "DATABASE_URL"}}
    env = {key: value for key, value in env.items() if not key.startswith(("GUNICORN_", "CELERY_"))}
    env.update(PORT=str(port), PUFFERBLOW_DATA_DIR=str(tmp_path / "data"))
    log = open(tmp_path / "run.log", "wb")
    launcher = subprocess.Popen([sys.executable, "scripts/run.py"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    started: dict[int, psutil.Process] = {}
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (_healthy(url) and b"press Ctrl-C" in (tmp_path / "run.log").read_bytes()):
            assert launcher.poll() is None, (tmp_path / "run.log").read_text()
            time.sleep(0.2)
        assert _healthy(url), (tmp_path / "run.log").read_text()
        started = {process.pid: process for process in _tree(launcher.pid)}
        assert sorted(_kind(process) for process in started.values()) == LEAN_LAYOUT
        log_text = lambda: (tmp_path / "run.log").read_bytes()  # noqa: E731
        deadline = time.monotonic() + 30
        while b"beat: Starting" not in log_text():  # beat runs inside the Celery worker
            assert time.monotonic() < deadline, log_text()[-3000:]
            time.sleep(0.2)
        os.killpg(launcher.pid, signal.SIGTERM)
        time.sleep(0.2)
        os.killpg(launcher.pid, signal.SIGTERM)  # as make forwards it a second time
        assert launcher.wait(60) == 0, (tmp_path / "run.log").read_text()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE
                                                  for p in started.values()):
            time.sleep(0.2)
        left = [p.pid for p in started.values() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert left == [], (tmp_path / "run.log").read_text()[-3000:]
        assert not _healthy(url)
    finally:
        for process in started.values():
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        if launcher.poll() is None:
            launcher.kill()
        log.close()


def test_refuses_a_port_that_already_answers(tmp_path):
    with socket_listening() as port:
        env = {**os.environ, "PORT": str(port), "PUFFERBLOW_DATA_DIR": str(tmp_path / "data")}
        result = subprocess.run([sys.executable, "scripts/run.py"], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=60)
    assert result.returncode == 1 and "already in use" in result.stdout


class socket_listening:
    """A loopback listener standing in for a server already running on a port."""

    def __enter__(self) -> int:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        return self.sock.getsockname()[1]

    def __exit__(self, *exc) -> None:
        self.sock.close()
