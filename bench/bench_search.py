"""Search benchmark: query latency through HTTP over a seeded index, index size, send_message
with indexing beside the trivial route, and the backfill rate; on SQLite, then on PostgreSQL
when the server of BENCH_POSTGRES_URL answers (in a bench_search database made and dropped there).

Run: .venv/bin/python bench/bench_search.py  (or `make bench` for every benchmark).
BENCH_SEARCH_MESSAGES (default 1000000) sets how many messages are seeded.
"""
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import (bench_env, json_body, postgres, report, send_beside_trivial,  # noqa: E402
                          sequential_latency)
from scripts.stack import Stack  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_SEARCH_MESSAGES", 1_000_000))
CHANNELS = 10
BATCH = 20_000
BACKFILL = min(20_000, MESSAGES)  # messages the backfill rate is measured on
ROUNDS = 3
VOCABULARY = [f"w{n:x}" for n in range(5_000)]
QUERIES = {"rare word (10 messages)": "xylophone", "word in 10% of messages": "banana",
           "two-word AND (10% and 14%)": "banana cherry"}


def _text(index: int, rng: random.Random) -> str:
    words = rng.sample(VOCABULARY, 8)
    if index % max(1, MESSAGES // 10) == 3:
        words.append("xylophone")
    if (index // 10) % 10 == 0:
        words.append("banana")
    if index % 7 == 0:
        words.append("cherry")
    return "seeded " + " ".join(words)


def _bulk(connection, table, rows: list[tuple]) -> None:
    """Rows straight into a table through the driver: COPY on PostgreSQL, executemany on SQLite."""
    driver = connection.connection.driver_connection
    columns = ", ".join(column.name for column in table.columns)
    if connection.dialect.name == "postgresql":
        with driver.cursor() as cursor, cursor.copy(f"COPY {table.name} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join("?" for _ in table.columns)
        driver.executemany(f"INSERT INTO {table.name} ({columns}) VALUES ({marks})", rows)


def _app():
    """The app for the current bench environment (config.Config read its variables at import)."""
    from app import create_app

    return create_app(DATA_DIR=os.environ["PUFFERBLOW_DATA_DIR"], REDIS_URL=os.environ["REDIS_URL"],
                      SQLALCHEMY_DATABASE_URI=os.environ["DATABASE_URL"])


def seed() -> dict:
    """An owner and a token, CHANNELS channels holding MESSAGES messages with their index rows
    (written in bulk, as send_message would write them), and a channel to send into."""
    from app import crypto
    from app.accounts.auth import issue_token
    from app.accounts.users import create_user
    from app.extensions import db
    from app.ids import utcnow, uuid7
    from app.models import Channel, Message, MessageTerm
    from app.search.digests import channel_key, term_digest
    from app.search.tokens import index_terms

    with _app().app_context():
        owner = create_user("benchowner", "benchmark-password")
        token, _ = issue_token(owner)
        channels = [Channel(name=f"c{n}", name_key=f"c{n}", created_by=owner.id) for n in range(CHANNELS)]
        send_channel = Channel(name="send", name_key="send", created_by=owner.id)
        db.session.add_all([*channels, send_channel])
        db.session.commit()
        current, keys = crypto.index_keys()
        channel_keys = [channel_key(keys[current], channel.id) for channel in channels]
        rng, now = random.Random(7), utcnow()
        for start in range(0, MESSAGES, BATCH):
            messages, terms = [], []
            for index in range(start, min(MESSAGES, start + BATCH)):
                channel = index % CHANNELS
                text, message_id = _text(index, rng), uuid7()
                key_id, blob = crypto.encrypt(text, channels[channel].id)
                messages.append((message_id, channels[channel].id, owner.id, key_id, blob, crypto.digest(text),
                                 "[]", now, None, None, None))
                terms += [(term_digest(channel_keys[channel], term), message_id, current)
                          for term in index_terms(text)]
            connection = db.session.connection()
            _bulk(connection, Message.__table__, messages)
            _bulk(connection, MessageTerm.__table__, sorted(terms))
            db.session.commit()
        return {"token": token, "send": send_channel.id}


def index_bytes() -> float:
    """Bytes of the index table and its indexes per seeded message."""
    import sqlalchemy as sa

    from app.extensions import db

    with _app().app_context():
        if db.engine.dialect.name == "postgresql":
            size = db.session.scalar(sa.text("SELECT pg_total_relation_size('message_terms')"))
        else:
            size = db.session.scalar(sa.text("SELECT sum(pgsize) FROM dbstat "
                                             "WHERE name IN ('message_terms', 'ix_message_terms_message_id')"))
    return size / MESSAGES


def backfill_rate() -> float:
    """Messages per second reindexed by the backfill's own batch function, in this process."""
    from app.search.index import reindex_after
    from workers.search import BATCH as BACKFILL_BATCH

    with _app().app_context():
        cursor, done, started = None, 0, time.perf_counter()
        while done < BACKFILL:
            cursor, count = reindex_after(cursor, min(BACKFILL_BATCH, BACKFILL - done))
            if not count:
                break
            done += count
        return done / (time.perf_counter() - started)


def indexing_cost(ids: dict, sends: int = 300) -> None:
    """Microseconds per send_message in one thread, in process, with its index rows and with
    none (index.rows() answering []): what indexing adds to a send, apart from machine noise."""
    from app.search import index

    client = _app().test_client()
    path, headers = f"/api/v1/channels/{ids['send']}/send_message", {"Authorization": f"Bearer {ids['token']}"}
    real_rows = index.rows

    def per_send() -> float:
        started = time.perf_counter()
        for n in range(sends):
            text = f"a message of about ten words sent in process number {n} today"
            assert client.post(path, json={"message": text}, headers=headers).status_code == 201
        return (time.perf_counter() - started) / sends * 1e6

    per_send()  # warm-up
    timings = {"indexed": [], "unindexed": []}
    try:
        for _ in range(ROUNDS):
            index.rows = real_rows
            timings["indexed"].append(per_send())
            index.rows = lambda *_args: []
            timings["unindexed"].append(per_send())
    finally:
        index.rows = real_rows
    indexed, unindexed = (sorted(values)[len(values) // 2] for values in timings.values())
    report("send_message in process, with / without index rows: median", f"{indexed:,.0f} / {unindexed:,.0f}", "us")
    report("what indexing adds to a send", 100 * (indexed - unindexed) / unindexed, "%")


def run(label: str, extra: dict | None = None) -> None:
    print(f"search on {label}", flush=True)
    with bench_env(extra) as env:
        started = time.perf_counter()
        ids = seed()
        report(f"seeded {MESSAGES:,} messages with their index rows in", time.perf_counter() - started, "s")
        report("index size per message (table and indexes)", index_bytes(), "bytes")
        report("backfill rate (reindexing the oldest messages)", backfill_rate(), "messages/s")
        indexing_cost(ids)
        with Stack(env, web_workers=2, threads=8) as stack:
            for name, q in QUERIES.items():
                path = f"/api/v1/search?auth_token={ids['token']}&q={q.replace(' ', '+')}"
                sequential_latency(stack.url, path, count=20)  # warm-up
                timing = sequential_latency(stack.url, path, count=200)
                report(f"{name}: p50 / p99 (targets 50 / 200 ms)",
                       f"{timing['p50_ms']:.1f} / {timing['p99_ms']:.1f}", "ms")
            auth = {"Authorization": f"Bearer {ids['token']}"}
            send_path = f"/api/v1/channels/{ids['send']}/send_message"

            def send(connection, seq):
                text = f"a message of about ten words from {connection} number {seq} today"
                return "POST", send_path, json_body({"message": text}), auth

            send_beside_trivial(stack.url, send, "send_message with indexing (10 words)", ROUNDS, 3)


def main() -> None:
    run("SQLite")
    with postgres("bench_search") as server:
        if server is not None:
            run("PostgreSQL", {"DATABASE_URL": server[0]})


if __name__ == "__main__":
    main()
