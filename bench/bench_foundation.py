"""Foundation benchmark: framework ceiling, send_message throughput, history latency at 10k and 1M,
and what the driver-level statements (app/database.py Prepared) save on each send.

Run: .venv/bin/python bench/bench_foundation.py  (or `make bench` for every benchmark).
Set BENCH_BIG_CHANNEL (default 1000000) to seed a smaller deep channel on a slow disk.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import bench_env, json_body, report, send_beside_trivial, sequential_latency  # noqa: E402
from scripts.stack import Stack  # noqa: E402

BIG = int(os.environ.get("BENCH_BIG_CHANNEL", 1_000_000))
SMALL = 10_000
ROUNDS = 5
IN_PROCESS_SENDS = 400


def _through_the_session(prepared, values, only_write=False):
    """What a Prepared statement costs without the fast path: the same statement (and, on SQLite,
    the same autocommit for a lone write) run by SQLAlchemy on the session's connection."""
    from app.extensions import db

    connection = db.session.connection()
    driver = connection.connection.driver_connection
    autocommit = only_write and connection.dialect.name == "sqlite"
    previous = driver.isolation_level if autocommit else None
    if autocommit:
        driver.isolation_level = None
    try:
        result = connection.execute(prepared.statement, values)
    finally:
        if autocommit:
            driver.isolation_level = previous
    row = result.first() if prepared.row else None
    return prepared.row._make(row) if row is not None else None


def prepared_gain(ids: dict) -> None:
    """Microseconds per send_message in one thread, in process, with Prepared and with the same
    statements run through the session instead; alternating rounds, medians."""
    from app import create_app
    from app.database import Prepared

    client = create_app().test_client()
    path = f"/api/v1/channels/{ids['channels']['send']}/send_message"
    headers = {"Authorization": f"Bearer {ids['token']}"}
    fast = (Prepared.first, Prepared.execute)

    def per_send() -> float:
        started = time.perf_counter()
        for n in range(IN_PROCESS_SENDS):
            assert client.post(path, json={"message": f"in process {n}"}, headers=headers).status_code == 201
        return (time.perf_counter() - started) / IN_PROCESS_SENDS * 1e6

    per_send()  # warm-up
    timings = {"prepared": [], "session": []}
    for _ in range(ROUNDS):
        Prepared.first, Prepared.execute = fast
        timings["prepared"].append(per_send())
        Prepared.first = Prepared.execute = _through_the_session
        timings["session"].append(per_send())
    Prepared.first, Prepared.execute = fast
    prepared, session = (sorted(values)[len(values) // 2] for values in timings.values())
    report("send_message in process, with Prepared: median per send", prepared, "us")
    report("send_message in process, statements through the session", session, "us")
    report("time saved by Prepared per send", 100 * (session - prepared) / session, "%")


def seed(env: dict) -> dict:
    """Create an owner, a token and channels holding SMALL and BIG messages; returns ids."""
    import sqlalchemy as sa

    from app import create_app, crypto
    from app.accounts.users import create_user
    from app.accounts.auth import issue_token
    from app.extensions import db
    from app.ids import uuid7
    from app.models import Channel, Message

    app = create_app()
    with app.app_context():
        owner = create_user("benchowner", "benchmark-password")
        token, _ = issue_token(owner)
        channels = {}
        for name in ("send", "small", "big"):
            channel = Channel(name=name, name_key=name, created_by=owner.id)
            db.session.add(channel)
            channels[name] = channel
        db.session.commit()
        cursors = {}
        for name, count in (("small", SMALL), ("big", BIG)):
            channel_id = channels[name].id
            key_id, _ = crypto.encrypt("", channel_id)
            ids = []
            for start in range(0, count, 20_000):
                rows = []
                for index in range(start, min(count, start + 20_000)):
                    text = f"seeded message number {index} in the history of this channel"
                    message_id = uuid7()
                    ids.append(message_id) if index == count // 100 else None
                    rows.append({"id": message_id, "channel_id": channel_id, "sender_id": owner.id, "key_id": key_id,
                                 "ciphertext": crypto.encrypt(text, channel_id)[1],
                                 "hashed_message": crypto.digest(text), "attachments": []})
                db.session.execute(sa.insert(Message), rows)
                db.session.commit()
            cursors[name] = ids[0]
        return {"token": token, "channels": {k: c.id for k, c in channels.items()}, "cursors": cursors}


def main() -> None:
    print("foundation", flush=True)
    with bench_env() as env:
        started = time.perf_counter()
        ids = seed(env)
        report(f"seeded {SMALL:,} + {BIG:,} messages in", time.perf_counter() - started, "s")
        prepared_gain(ids)
        with Stack(env, web_workers=2, threads=8) as stack:
            auth = {"Authorization": f"Bearer {ids['token']}"}
            send_path = f"/api/v1/channels/{ids['channels']['send']}/send_message"

            def send(connection, seq):
                return "POST", send_path, json_body({"message": f"m {connection}-{seq}"}), auth

            send_beside_trivial(stack.url, send, "send_message (JSON, authenticated)", ROUNDS, 4)

            deep = {}
            for name, count in (("small", SMALL), ("big", BIG)):
                base = f"/api/v1/channels/{ids['channels'][name]}/load_messages?auth_token={ids['token']}"
                newest = sequential_latency(stack.url, base + "&messages_per_page=50")
                cursor = sequential_latency(stack.url, base + f"&before={ids['cursors'][name]}&limit=50")
                deep[name] = cursor["p50_ms"]
                report(f"load_messages newest 50 at {count:,}: p50 / p99",
                       f"{newest['p50_ms']:.2f} / {newest['p99_ms']:.2f}", "ms")
                report(f"load_messages deep before-cursor at {count:,}: p50 / p99",
                       f"{cursor['p50_ms']:.2f} / {cursor['p99_ms']:.2f}", "ms")
            report(f"deep cursor p50 at {BIG:,} / at {SMALL:,} (target <= 1.5x)", deep["big"] / deep["small"], "x")


if __name__ == "__main__":
    main()
