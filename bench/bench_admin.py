"""Cost of the rate limiter and the blocked-address check on a trivial route, measured in one run.

Two gunicorn stacks on the same data: both checks off, then both on (Redis-backed limits with a
limit high enough never to refuse, and a block list of 200 addresses and ranges). Rounds alternate
off/on and the medians are compared; the overhead target is under 15%.

Run: .venv/bin/python bench/bench_admin.py  (or `make bench` for every benchmark).
"""
import os
import statistics
import sys

import psutil

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import bench_env, http_load, report  # noqa: E402
from scripts.stack import Stack  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ADMIN_ROUNDS", 6))
DURATION = float(os.environ.get("BENCH_ADMIN_SECONDS", 4))
OFF = {"RATELIMIT_ENABLED": "0", "BLOCKED_IPS_ENABLED": "0"}
ON = {"RATELIMIT_ENABLED": "1", "BLOCKED_IPS_ENABLED": "1", "RATELIMIT_ANONYMOUS": "100000000/minute"}


def seed_blocklist() -> None:
    """100 single addresses and 100 ranges, none of them the benchmark's own address."""
    from app import create_app
    from app.extensions import db
    from app.models import BlockedIP

    app = create_app()
    with app.app_context():
        for index in range(100):
            db.session.add(BlockedIP(network=f"203.0.{index}.7/32", reason="bench"))
            db.session.add(BlockedIP(network=f"198.{index}.0.0/16", reason="bench"))
        db.session.commit()


def _server_cpu(stack: Stack) -> float:
    """CPU seconds used so far by the gunicorn workers (the figure least disturbed by other load)."""
    total = 0.0
    for child in psutil.Process(stack.web.process.pid).children(recursive=True):
        times = child.cpu_times()
        total += times.user + times.system
    return total


def measure(env: dict, extra: dict) -> dict:
    with Stack(env, web_workers=2, threads=8, extra_env=extra) as stack:
        http_load(stack.url, lambda i, s: ("GET", "/healthz", None, {}), duration=1.5)  # warm-up
        cpu = _server_cpu(stack)
        result = http_load(stack.url, lambda i, s: ("GET", "/healthz", None, {}), duration=DURATION)
        result["cpu_us"] = (_server_cpu(stack) - cpu) / result["requests"] * 1e6
        return result


def main() -> None:
    print("admin: rate limiter + blocked-address check", flush=True)
    with bench_env() as env:
        seed_blocklist()
        off, on = [], []
        for _ in range(ROUNDS):
            off.append(measure(env, OFF))
            on.append(measure(env, ON))
        assert all(set(result["statuses"]) == {200} for result in off + on), [r["statuses"] for r in off + on]
        off_rps = statistics.median(result["rps"] for result in off)
        on_rps = statistics.median(result["rps"] for result in on)
        report("GET /healthz, both checks off (median of rounds)", off_rps, "req/s")
        report("GET /healthz, limiter (Redis) + IP check on (median)", on_rps, "req/s")
        report("rounds off", ", ".join(f"{r['rps']:,.0f}" for r in off))
        report("rounds on", ", ".join(f"{r['rps']:,.0f}" for r in on))
        report("p50 off / on", f"{statistics.median(r['p50_ms'] for r in off):.2f} / "
                               f"{statistics.median(r['p50_ms'] for r in on):.2f}", "ms")
        off_cpu = statistics.median(result["cpu_us"] for result in off)
        on_cpu = statistics.median(result["cpu_us"] for result in on)
        report("gunicorn worker CPU per request, off / on (median)", f"{off_cpu:.0f} / {on_cpu:.0f}", "us")
        report("overhead in req/s (target < 15%)", 100 * (1 - on_rps / off_rps), "%")
        report("overhead in worker CPU per request", 100 * (on_cpu / off_cpu - 1), "%")


if __name__ == "__main__":
    main()
