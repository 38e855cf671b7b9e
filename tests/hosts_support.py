"""A fleet of three hosts for tests/test_hosts.py: two web hosts and one worker host.

Every host is a network namespace (tests/hosts_network.py) and every process of a host runs in
it through `ip netns exec`: gunicorn with gunicorn.conf.py and wsgi:app on the web hosts, the
Celery worker and beat on the worker host. They share a fresh PostgreSQL database (relayed onto
the bridge) and a Redis bound on the bridge, reached over the network like separate machines;
each host has its own data dir, and they share the message key file and the uploads directory
as a fleet shares them over a network mount. Clients connect from the root namespace, each
from an address of its own on the bridge, so the server sees a known client address.
"""
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlencode, urlsplit, urlunsplit

import psutil
import psycopg
import redis
import websocket
from psycopg import sql

from scripts.embedded_redis import redis_binary
from scripts.supervise import ROOT, spawn, stop
from tests.hosts_network import Network, Relay

BIN = os.path.dirname(sys.executable)
WEB_PORT = 8000  # every web host is a namespace of its own: nothing else listens there
AUTH_LIMIT = 4  # sign-ins and sign-ups per client address and minute, on every host


def admin_database_url() -> str:
    """The PostgreSQL the run creates its database on: DATABASE_URL's server, else the local one."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith("postgresql") else "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_unavailable(url: str) -> str | None:
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as exc:
        first_line = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL is not reachable at {urlsplit(url).hostname}: {first_line}"
    return None


class Database:
    """A database made for one run and dropped after it (SQLite cannot be shared by hosts)."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        parts = urlsplit(admin_url)
        self.name = f"{parts.path.lstrip('/') or 'postgres'}_hosts_{secrets.token_hex(4)}"
        self.server = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self.created = False

    def _execute(self, statement: sql.Composable) -> None:
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(statement)

    def create(self) -> None:
        self._execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        self.created = True

    def url_via(self, host: str, port: int) -> str:
        """This database's URL as a host reaches it (through the relay at host:port)."""
        parts = urlsplit(self.admin_url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@{host}:{port}" if credentials else f"{host}:{port}"
        return urlunsplit((parts.scheme, netloc, "/" + self.name, "", ""))

    def drop(self) -> None:
        if self.created:
            self._execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))
            self.created = False


def free_port(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


def start_redis(address: str, directory: str) -> tuple[str, subprocess.Popen]:
    """A private redis-server bound on the bridge address only; returns (url, process)."""
    os.makedirs(directory, exist_ok=True)
    port, password = free_port(address), secrets.token_hex(16)
    process = spawn([redis_binary(), "--bind", address, "--port", str(port), "--requirepass", password,
                     "--save", "", "--appendonly", "no", "--dir", directory,
                     "--logfile", os.path.join(directory, "redis.log")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://:{password}@{address}:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if redis.Redis.from_url(url, socket_timeout=0.5).ping():
                return url, process
        except redis.RedisError:
            time.sleep(0.05)
    stop(process)
    raise RuntimeError(f"redis-server did not answer on {address}:{port}")


class Host:
    """One host: its namespace, address, environment and the processes started in it."""

    def __init__(self, name: str, namespace: str, address: str, env: dict, data_dir: str) -> None:
        self.name, self.namespace, self.address, self.data_dir = name, namespace, address, data_dir
        self.env = {**env, "PUFFERBLOW_DATA_DIR": data_dir}
        self.processes: dict[str, subprocess.Popen] = {}
        os.makedirs(os.path.join(data_dir, "logs"), exist_ok=True)

    def log_path(self, role: str) -> str:
        return os.path.join(self.data_dir, "logs", f"{role}.out")

    def log(self, role: str, size: int = 3000) -> str:
        with open(self.log_path(role), "rb") as handle:
            return handle.read()[-size:].decode(errors="replace")

    def run(self, command: list[str]) -> None:
        """Run a command in the namespace to its end (a migration); raise with its output on failure."""
        done = subprocess.run(["ip", "netns", "exec", self.namespace, *command], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{command} on host {self.name} exited {done.returncode}:\n{done.stderr[-3000:]}")

    def start(self, role: str, command: list[str]) -> None:
        with open(self.log_path(role), "wb") as log:
            self.processes[role] = spawn(["ip", "netns", "exec", self.namespace, *command], cwd=ROOT,
                                         env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def check_alive(self, role: str) -> None:
        code = self.processes[role].poll()
        if code is not None:
            raise RuntimeError(f"{role} on host {self.name} exited {code}:\n{self.log(role)}")

    def kill(self, role: str) -> None:
        """SIGKILL the role's whole process group (gunicorn's master and workers): a host lost at once."""
        process = self.processes[role]
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)

    def network_namespaces(self) -> set[int]:
        """The network namespace (inode) of every running process of this host, children included."""
        found = set()
        for process in self.processes.values():
            if process.poll() is None:
                parent = psutil.Process(process.pid)
                for member in (parent, *parent.children(recursive=True)):
                    found.add(os.stat(f"/proc/{member.pid}/ns/net").st_ino)
        return found

    def namespace_inode(self) -> int:
        return os.stat(f"/run/netns/{self.namespace}").st_ino

    def terminate(self) -> None:
        """SIGTERM every process group of the host without waiting (stop() then reaps them)."""
        for process in self.processes.values():
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

    def stop(self) -> None:
        """Wait for every process to exit, SIGKILLing what still runs after 10 seconds."""
        for process in reversed(list(self.processes.values())):
            stop(process, timeout=10)


def host_env(shared_dir: str, database_url: str, redis_url: str) -> dict:
    """The environment of every host: built from nothing, so nothing of the test run's leaks in."""
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "LANG": "C.UTF-8",
        "HOME": os.environ.get("HOME", "/root"), "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "MESSAGE_KEY_FILE": os.path.join(shared_dir, "keys", "messages.key"),
        "FILES_DIR": os.path.join(shared_dir, "files"),
        "BCRYPT_ROUNDS": "4", "RATELIMIT_AUTH": f"{AUTH_LIMIT}/minute",
        "GUNICORN_BIND": f"0.0.0.0:{WEB_PORT}", "GUNICORN_WORKERS": "1", "GUNICORN_THREADS": "16",
        "GUNICORN_LOGLEVEL": "warning",
        # Behind one public name, as a fleet is: the hosts' own addresses are then never judged.
        "PUBLIC_URL": "http://chat.example",
    }


class Client:
    """HTTP and WebSocket requests sent from one address of the root namespace on the bridge."""

    def __init__(self, address: str) -> None:
        self.address = address

    def call(self, method: str, host: Host, path: str, token: str | None = None, body: dict | None = None,
             timeout: float = 10) -> tuple[int, dict | None]:
        """(status, JSON body); checks the body's status_code equals the HTTP status."""
        connection = http.client.HTTPConnection(host.address, WEB_PORT, timeout=timeout,
                                                source_address=(self.address, 0))
        try:
            payload = json.dumps(body) if body is not None else None
            connection.request(method, path + ("?" + urlencode({"auth_token": token}) if token else ""),
                               body=payload, headers={"Content-Type": "application/json"} if payload else {})
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        parsed = json.loads(data) if data else None
        if isinstance(parsed, dict) and "status_code" in parsed:
            assert parsed["status_code"] == response.status, parsed
        return response.status, parsed

    def socket(self, host: Host, path: str, token: str, timeout: float = 5) -> websocket.WebSocket:
        raw = socket.create_connection((host.address, WEB_PORT), timeout=timeout, source_address=(self.address, 0))
        return websocket.create_connection(f"ws://{host.address}:{WEB_PORT}{path}?auth_token={token}",
                                           socket=raw, timeout=timeout)

    def healthy(self, host: Host) -> bool:
        try:
            return self.call("GET", host, "/healthz", timeout=2)[0] == 200
        except OSError:
            return False


class Fleet:
    """The network, the shared services and hosts a, b (web) and w (worker); close() undoes it all."""

    def __init__(self, base_dir: str, admin_url: str) -> None:
        self.base_dir = base_dir
        self.network = Network()
        self.database = Database(admin_url)
        self.relay: Relay | None = None
        self.redis: subprocess.Popen | None = None
        self.hosts: dict[str, Host] = {}
        self.clients: dict[str, Client] = {}

    def start(self) -> "Fleet":
        self.network.create()
        services = self.network.services_address
        # probe: readiness polls; main: every account's requests; limited, blocked: the clients refused.
        self.clients = {name: Client(self.network.add_client_address())
                        for name in ("probe", "main", "limited", "blocked")}
        self.relay = Relay(services, self.database.server)
        redis_url, self.redis = start_redis(services, os.path.join(self.base_dir, "redis"))
        self.database.create()
        env = host_env(os.path.join(self.base_dir, "shared"), self.database.url_via(*self.relay.address), redis_url)
        for name in ("a", "b", "w"):
            namespace, address = self.network.add_host(name)
            self.hosts[name] = Host(name, namespace, address, env, os.path.join(self.base_dir, f"host-{name}"))
        worker = self.hosts["w"]
        worker.run([f"{BIN}/flask", "--app", "wsgi", "db", "upgrade"])  # once, from one host
        worker.start("celery-worker", [f"{BIN}/celery", "-A", "celery_app", "worker", "--pool", "threads",
                                       "--concurrency", "2", "--without-gossip", "--without-mingle",
                                       "--loglevel", "INFO", "--hostname", f"worker@{worker.namespace}"])
        worker.start("celery-beat", [f"{BIN}/celery", "-A", "celery_app", "beat", "--loglevel", "INFO",
                                     "--schedule", os.path.join(worker.data_dir, "beat-schedule")])
        for name in ("a", "b"):
            self.hosts[name].start("gunicorn", [f"{BIN}/gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"])
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 60) -> None:
        worker = self.hosts["w"]
        waiting = {
            "gunicorn on a": lambda: self.clients["probe"].healthy(self.hosts["a"]),
            "gunicorn on b": lambda: self.clients["probe"].healthy(self.hosts["b"]),
            "celery worker on w": lambda: " ready." in worker.log("celery-worker", 100_000),
            "celery beat on w": lambda: "beat: Starting" in worker.log("celery-beat", 100_000),
        }
        deadline = time.monotonic() + timeout
        while waiting:
            for host in self.hosts.values():
                for role in host.processes:
                    host.check_alive(role)
            waiting = {what: ready for what, ready in waiting.items() if not ready()}
            if waiting and time.monotonic() > deadline:
                raise RuntimeError(f"not ready within {timeout} s: {', '.join(waiting)}")
            time.sleep(0.25)

    def close(self) -> None:
        """Stop every process, then remove the database, Redis, the relay and the network."""
        # Every host is told to stop at once, so their shutdowns overlap.
        steps = [host.terminate for host in self.hosts.values()] + [host.stop for host in self.hosts.values()]
        steps += [lambda: self.redis is not None and stop(self.redis, timeout=5),
                  lambda: self.relay is not None and self.relay.close(),
                  self.database.drop, self.network.destroy]
        errors = []
        for step in steps:  # each step runs even when an earlier one failed
            try:
                step()
            except Exception as exc:  # noqa: BLE001  (reported below, after the rest is cleaned)
                errors.append(exc)
        if errors:
            raise errors[0]
