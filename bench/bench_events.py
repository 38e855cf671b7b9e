"""Event-log benchmark: send_message with its event in the log against the trivial route, and
the replay of 1,000 missed events to one resuming socket.

send_message and GET /healthz alternate in rounds (medians; target: send at least 35% of the
trivial route). The replay: 1,000 messages are sent while a reader is away, then its socket
resumes; the figure is the time from the resume frame to `resumed` (every event received).
Run: .venv/bin/python bench/bench_events.py [--quick] [--postgres URL]
(--postgres measures PostgreSQL beside SQLite; the database given is emptied first).
"""
import argparse
import json
import os
import statistics
import sys
import time

import sqlalchemy as sa
import websocket

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import bench_env, http_load, json_body, percentile, report, send_beside_trivial  # noqa: E402
from scripts.stack import Stack  # noqa: E402

MISSED = 1000


def seed(env: dict) -> dict:
    from app import create_app
    from app.accounts.auth import issue_token
    from app.accounts.users import create_user
    from app.extensions import db
    from app.models import Channel
    app = create_app(DATA_DIR=env["PUFFERBLOW_DATA_DIR"], SQLALCHEMY_DATABASE_URI=env["DATABASE_URL"],
                     REDIS_URL=env["REDIS_URL"])
    with app.app_context():
        owner = create_user("benchowner", "benchmark-password")
        reader = create_user("reader", "benchmark-password")
        channel = Channel(name="bench", name_key="bench", created_by=owner.id)
        db.session.add(channel)
        tokens = issue_token(owner)[0], issue_token(reader)[0]
        db.session.commit()
        return {"channel_id": channel.id, "owner": tokens[0], "reader": tokens[1]}


def send_ratio(stack: Stack, ids: dict, rounds: int, seconds: float) -> None:
    auth = {"Authorization": f"Bearer {ids['owner']}"}
    path = f"/api/v1/channels/{ids['channel_id']}/send_message"

    def send(connection, seq):
        return "POST", path, json_body({"message": f"m {connection}-{seq}"}), auth

    send_beside_trivial(stack.url, send, "send_message with its event in the log", rounds, seconds)


def _newest_seq(env: dict) -> int:
    engine = sa.create_engine(env["DATABASE_URL"])
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text("SELECT max(seq) FROM events")).scalar() or 0
    finally:
        engine.dispose()


def replay(stack: Stack, env: dict, ids: dict, repeats: int) -> None:
    auth = {"Authorization": f"Bearer {ids['owner']}"}
    path = f"/api/v1/channels/{ids['channel_id']}/send_message"
    timings = []
    for _ in range(repeats):
        since = _newest_seq(env)
        http_load(stack.url, lambda c, s: ("POST", path, json_body({"message": f"missed {c}-{s}"}), auth),
                  connections=8, max_requests=MISSED, duration=120)
        time.sleep(0.5)  # let the relay publish them: the resume then competes with nothing
        ws = websocket.create_connection(f"{stack.ws_url}/ws?auth_token={ids['reader']}", timeout=30)
        started = time.perf_counter()
        ws.send(json.dumps({"type": "resume", "since": since}))
        received = 0
        while (frame := json.loads(ws.recv()))["type"] != "resumed":
            received += frame["type"] == "message"
        timings.append(time.perf_counter() - started)
        ws.close()
        assert received >= MISSED, f"replayed {received} of {MISSED}"
    report(f"replay of {MISSED:,} missed events, resume frame to resumed: p50 / max",
           f"{percentile(timings, 0.5) * 1000:.1f} / {max(timings) * 1000:.1f}", "ms")
    report("  replay rounds", ", ".join(f"{t * 1000:.0f}" for t in timings), "ms")
    report("  replayed events per second (median round)", MISSED / statistics.median(timings))


def run(label: str, extra: dict, quick: bool, send_only: bool = False) -> None:
    print(f"events ({label})", flush=True)
    with bench_env(extra) as env:
        ids = seed(env)
        with Stack(env, web_workers=2, threads=16) as stack:
            send_ratio(stack, ids, rounds=1 if quick else 5, seconds=2 if quick else 4)
            if not send_only:
                replay(stack, env, ids, repeats=2 if quick else 5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one short round of each: checks the bench works")
    parser.add_argument("--postgres", help="also measure on this PostgreSQL database (emptied first)")
    parser.add_argument("--send-only", action="store_true", help="only the send_message ratio")
    args = parser.parse_args()
    run("SQLite", {}, args.quick, args.send_only)
    if args.postgres:
        engine = sa.create_engine(args.postgres)
        with engine.begin() as connection:
            connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
        run("PostgreSQL", {"DATABASE_URL": args.postgres}, args.quick, args.send_only)


if __name__ == "__main__":
    main()
