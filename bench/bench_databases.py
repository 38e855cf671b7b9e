"""Databases benchmark: SQLite and the machine's PostgreSQL side by side, in one run.

For each database: req/s of the trivial route, /api/v1/info, send_message, load_messages newest 50
of 10,000 and a deep before-cursor at BENCH_BIG_CHANNEL (default 1,000,000) messages, 2 gunicorn
workers of 8 threads, 32 connections; and the database connections the server opened during each
measured route after warm-up (target 0), from its own counter (pufferblow_db_connections_opened_total)
and, on PostgreSQL, from pg_stat_database.sessions. Both stacks run at once and every round measures
each route on each database in turn; figures are medians of the rounds.

Run: .venv/bin/python bench/bench_databases.py  (or `make bench`). BENCH_POSTGRES_URL names the
server (default postgresql://postgres@127.0.0.1:5432/postgres); a bench_pg database is created there
and dropped afterwards. Where it is unreachable the PostgreSQL half is skipped with a printed line.
"""
import os
import re
import sys
import time
import urllib.request
from contextlib import ExitStack

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import bench_env, http_load, json_body, postgres, report  # noqa: E402
from bench.history_seed import seed  # noqa: E402
from scripts.stack import Stack  # noqa: E402

BIG = int(os.environ.get("BENCH_BIG_CHANNEL", 1_000_000))
SMALL = 10_000
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 5))
SECONDS = float(os.environ.get("BENCH_SECONDS", 3))
DATABASE = "bench_pg"
OPENED_RE = re.compile(rb"^pufferblow_db_connections_opened_total (\S+)$", re.MULTILINE)
ROUTES = ("trivial", "info", "send", "newest", "deep")
TARGETS = {"info": 0.80, "newest": 0.25, "deep": 0.20}  # of the trivial route's req/s


def requests_for(ids: dict) -> dict:
    """Route name -> make_request(connection, seq) for http_load."""
    auth = {"Authorization": f"Bearer {ids['token']}"}
    history = "/api/v1/channels/{}/load_messages"
    newest = history.format(ids["channels"]["small"]) + "?messages_per_page=50"
    deep = history.format(ids["channels"]["big"]) + f"?before={ids['cursors']['big']}&limit=50"
    send = f"/api/v1/channels/{ids['channels']['send']}/send_message"
    return {"trivial": lambda _c, _s: ("GET", "/healthz", None, {}),
            "info": lambda _c, _s: ("GET", "/api/v1/info", None, {}),
            "send": lambda c, s: ("POST", send, json_body({"message": f"m {c}-{s}"}), auth),
            "newest": lambda _c, _s: ("GET", newest, None, auth),
            "deep": lambda _c, _s: ("GET", deep, None, auth)}


class Side:
    """One database's stack, its requests and what each round measured."""

    def __init__(self, name: str, stack: Stack, ids: dict, admin=None):
        self.name, self.stack, self.requests, self.admin = name, stack, requests_for(ids), admin
        self.rps = {route: [] for route in ROUTES}
        self.opened = {route: 0 for route in ROUTES}
        self.sessions = {route: 0 for route in ROUTES}
        self.statuses = {route: {} for route in ROUTES}

    def opened_so_far(self) -> float:
        with urllib.request.urlopen(self.stack.url + "/metrics", timeout=5) as response:
            match = OPENED_RE.search(response.read())
        if match is None:
            raise RuntimeError("pufferblow_db_connections_opened_total is missing from /metrics")
        return float(match.group(1))

    def sessions_so_far(self) -> int:
        """Sessions PostgreSQL has counted for the bench database (its statistics lag: settle first)."""
        if self.admin is None:
            return 0
        time.sleep(1.2)
        self.admin.execute("SELECT pg_stat_clear_snapshot()")
        return self.admin.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", [DATABASE]).fetchone()[0]

    def measure(self, route: str, seconds: float, record: bool = True) -> None:
        opened, sessions = self.opened_so_far(), self.sessions_so_far()
        result = http_load(self.stack.url, self.requests[route], duration=seconds)
        if record:
            self.rps[route].append(result["rps"])
            self.opened[route] += int(self.opened_so_far() - opened)
            self.sessions[route] += self.sessions_so_far() - sessions
            for status, count in result["statuses"].items():
                self.statuses[route][status] = self.statuses[route].get(status, 0) + count

    def median(self, route: str) -> float:
        values = sorted(self.rps[route])
        return values[len(values) // 2]

    def ratio(self, route: str) -> float:
        """The median over rounds of this route's req/s over the trivial route's in that round."""
        values = sorted(r / t for r, t in zip(self.rps[route], self.rps["trivial"]))
        return values[len(values) // 2]


def summary(sides: list[Side]) -> None:
    labels = {"trivial": "trivial JSON route (GET /healthz)", "info": "GET /api/v1/info",
              "send": "send_message (JSON)", "newest": f"load_messages newest 50 of {SMALL:,}",
              "deep": f"load_messages before-cursor at {BIG:,}"}
    for side in sides:
        print(f"  -- {side.name}", flush=True)
        for route in ROUTES:
            report(f"{labels[route]}, 32 connections", side.median(route), "req/s")
            if route in TARGETS:
                report(f"  / trivial route, median round (target >= {TARGETS[route]:.0%})",
                       100 * side.ratio(route), "%")
            opened = f"{side.opened[route]} (server's counter)"
            if side.admin is not None:
                opened += f", {side.sessions[route]} (pg_stat_database.sessions)"
            report("  new database connections while measured (target 0)", opened)
            if set(side.statuses[route]) - {200, 201}:
                report("  statuses", str(side.statuses[route]))
    if len(sides) == 2:
        lite, pg = sides
        print("  -- PostgreSQL beside SQLite", flush=True)
        for route in ROUTES[1:]:
            report(f"{labels[route]}: SQLite / PostgreSQL req/s (target <= 1.5x)",
                   lite.median(route) / pg.median(route), "x")


def main() -> None:
    print("databases", flush=True)
    sizes = {"small": SMALL, "big": BIG}
    with ExitStack() as stack:
        started = time.perf_counter()
        lite_env = stack.enter_context(bench_env())
        seeded = [("SQLite", lite_env, seed(lite_env, sizes), None)]
        server = stack.enter_context(postgres(DATABASE))
        if server is not None:
            url, admin = server
            pg_env = stack.enter_context(bench_env({"DATABASE_URL": url}))
            seeded.append(("PostgreSQL", pg_env, seed(pg_env, sizes), admin))
        report(f"seeded {SMALL:,} + {BIG:,} messages per database in", time.perf_counter() - started, "s")
        sides = [Side(name, stack.enter_context(Stack(env, web_workers=2, threads=8)), ids, admin)
                 for name, env, ids, admin in seeded]
        for side in sides:  # warm-up: every pool fills to the requests a worker runs at once
            for route in ROUTES:
                side.measure(route, 1.5, record=False)
        for number in range(ROUNDS):
            for route in ROUTES:
                for side in sides:
                    side.measure(route, SECONDS)
            report(f"  round {number + 1}: " + "; ".join(
                f"{side.name} " + " / ".join(f"{side.rps[r][-1]:,.0f}" for r in ROUTES) for side in sides),
                "req/s (trivial / info / send / newest / deep)")
        summary(sides)


if __name__ == "__main__":
    main()
