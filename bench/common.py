"""Shared benchmark helpers: an isolated data dir + Redis, and a keep-alive HTTP load generator.

The load generator is a small asyncio HTTP/1.1 client (no dependency to install); it runs on the
same 2 cores as the server, so compare figures measured in one run rather than across machines.
"""
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from scripts.embedded_redis import start_redis, stop_redis  # noqa: E402

import psycopg  # noqa: E402

# The PostgreSQL server the benches measure beside SQLite; each bench makes a database of its own.
POSTGRES_SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def bench_env(extra: dict | None = None):
    """A fresh, migrated SQLite database and data dir, and a private Redis; yields the env for
    Stack/create_app."""
    data_dir = tempfile.mkdtemp(prefix="pb-bench-")
    redis_url, redis_process = start_redis(data_dir, persist=False)
    env = {"REDIS_URL": redis_url, "DATABASE_URL": "sqlite:///" + os.path.join(data_dir, "bench.db"),
           "PUFFERBLOW_DATA_DIR": data_dir, "BCRYPT_ROUNDS": "4", "RATELIMIT_ENABLED": "0",
           # The socket benches hold many sockets per account: the per-account cap is not measured.
           "MAX_SOCKETS_PER_USER": "0", **(extra or {})}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        subprocess.run([os.path.join(os.path.dirname(sys.executable), "flask"), "--app", "wsgi", "db", "upgrade"],
                       cwd=ROOT, check=True, capture_output=True)
        yield env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        stop_redis(redis_process)
        shutil.rmtree(data_dir, ignore_errors=True)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(label: str, value, unit: str = "") -> None:
    text = f"{value:,.1f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)
    print(f"  {label:<58} {text} {unit}".rstrip(), flush=True)


def _request_bytes(method: str, path: str, host: str, body: bytes | None, headers: dict) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    lines += [f"{key}: {value}" for key, value in headers.items()]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def _load(host, port, make_request, connections, duration, max_requests):
    latencies, statuses = [], {}
    deadline = time.perf_counter() + duration

    async def connection(index: int):
        reader, writer = await asyncio.open_connection(host, port)
        sequence = 0
        try:
            while time.perf_counter() < deadline and len(latencies) < max_requests:
                method, path, body, headers = make_request(index, sequence)
                sequence += 1
                start = time.perf_counter()
                writer.write(_request_bytes(method, path, f"{host}:{port}", body, headers))
                status = await _read_response(reader)
                latencies.append(time.perf_counter() - start)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection(i) for i in range(connections)))
    return latencies, statuses, time.perf_counter() - started


def http_load(base_url: str, make_request, connections: int = 32, duration: float = 8.0,
              max_requests: int = 10**9) -> dict:
    """Drive make_request(conn_index, seq) -> (method, path, body bytes|None, headers) for duration
    seconds or max_requests requests, whichever comes first."""
    host, port = base_url.split("//", 1)[1].split(":")
    latencies, statuses, elapsed = asyncio.run(
        _load(host, int(port), make_request, connections, duration, max_requests))
    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "statuses": statuses,
            "p50_ms": percentile(latencies, 0.50) * 1000, "p99_ms": percentile(latencies, 0.99) * 1000}


def json_body(payload: dict) -> bytes:
    return json.dumps(payload).encode()


def sequential_latency(base_url: str, path: str, count: int = 300) -> dict:
    """p50/p99 of one client sending `count` GETs one after another (no queueing in the figure)."""
    return http_load(base_url, lambda _i, _seq: ("GET", path, None, {}), connections=1, max_requests=count)


@contextmanager
def postgres(database: str):
    """(URL, admin connection) of a fresh database on the PostgreSQL server, dropped afterwards;
    None when the server does not answer."""
    try:
        admin = psycopg.connect(POSTGRES_SERVER, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        print(f"  PostgreSQL at {POSTGRES_SERVER} unreachable ({str(exc).strip()[:80]}): skipped", flush=True)
        yield None
        return
    try:
        admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {database}")
        yield POSTGRES_SERVER.rsplit("/", 1)[0] + "/" + database, admin
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        admin.close()


def send_beside_trivial(url: str, send, label: str, rounds: int, seconds: float) -> float:
    """send_message (the make_request `send`) in alternating rounds with the trivial route; prints
    each round and the median round's figures (a slow moment of a shared machine then lands in one
    round of each rather than in one of the two figures); returns that round's ratio."""
    def health(_connection, _seq):
        return "GET", "/healthz", None, {}

    http_load(url, health, duration=2)  # warm-up
    http_load(url, send, duration=2)
    results = []
    for _ in range(rounds):
        ceiling, sent = http_load(url, health, duration=seconds), http_load(url, send, duration=seconds)
        results.append((sent["rps"] / ceiling["rps"], ceiling, sent))
        report("  round: ceiling / send_message / ratio",
               f"{ceiling['rps']:,.0f} / {sent['rps']:,.0f} / {100 * results[-1][0]:.1f}%")
    ratio, ceiling, sent = sorted(results, key=lambda r: r[0])[len(results) // 2]
    report("trivial JSON route (GET /healthz), 32 connections", ceiling["rps"], "req/s")
    report(f"{label}, 32 connections", sent["rps"], "req/s")
    report("send_message statuses", str(sent["statuses"]))
    report("send_message / ceiling, median round (target >= 35%)", 100 * ratio, "%")
    return ratio
