"""Run child processes for `make run` and the multi-process tests: start, watch, stop.

Every child starts in a session of its own, so a stop signal reaches the processes it forks
(gunicorn's workers, Celery's pool) and a Ctrl-C in the terminal reaches only the launcher,
which then stops its children in order.
"""
import os
import signal
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def spawn(command: list[str], **popen_args) -> subprocess.Popen:
    """Start a command as the leader of a new session (its process group is its pid)."""
    return subprocess.Popen(command, start_new_session=True, **popen_args)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:  # already gone
        pass


def stop(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM to the process group, SIGKILL if it is still there after `timeout` seconds."""
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
    _reap(process, time.monotonic() + timeout)


def _reap(process: subprocess.Popen, deadline: float) -> None:
    try:
        process.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.wait()


class Child:
    """One named child; its output goes to a log file when `log_path` is given, else to ours."""

    def __init__(self, name: str, command: list[str], env: dict | None = None, log_path: str | None = None):
        self.name, self.log_path = name, log_path
        self._log = open(log_path, "wb") if log_path else None
        output = {"stdout": self._log, "stderr": subprocess.STDOUT} if self._log else {}
        self.process = spawn(command, cwd=ROOT, env={**os.environ, **(env or {})}, **output)

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> bytes:
        if not self.log_path:
            return b""
        with open(self.log_path, "rb") as handle:
            return handle.read()

    def log_tail(self, size: int = 3000) -> str:
        return self.log_text()[-size:].decode(errors="replace")

    def check_alive(self) -> None:
        if not self.running():
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")

    def wait_until(self, condition, timeout: float, what: str) -> None:
        """Poll `condition` until it holds; raise (and stop the child) if the child dies or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if condition():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{what} not ready within {timeout} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 15) -> None:
        stop(self.process, timeout)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None and not self._log.closed:
            self._log.close()


class Supervisor:
    """The children of one launcher: started in order, stopped together, last started first."""

    def __init__(self):
        self.children: list[Child] = []

    def start(self, name: str, command: list[str], env: dict | None = None, log_path: str | None = None) -> Child:
        child = Child(name, command, env, log_path)
        self.children.append(child)
        return child

    def exited(self) -> list[Child]:
        return [child for child in self.children if not child.running()]

    def wait_for_exit(self, poll: float = 0.5) -> list[Child]:
        """Block until at least one child has exited; returns those that have."""
        while not self.exited():
            time.sleep(poll)
        return self.exited()

    def stop_all(self, timeout: float = 15, say=None) -> None:
        """SIGTERM every running child at once, then wait for all; SIGKILL what outlives `timeout`."""
        for child in reversed(self.children):
            if child.running():
                if say:
                    say(f"stopping {child.name}")
                _signal_group(child.process, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in self.children:
            _reap(child.process, deadline)
            child._close_log()
        self.children.clear()
