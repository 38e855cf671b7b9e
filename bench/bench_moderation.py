"""Moderation benchmark: what the ban, timeout, read-only and slow-mode checks cost send_message.

Through HTTP (gunicorn, 2 workers of 8 threads, 32 connections): send_message req/s in a
channel without slow mode and in a slow-mode channel, each send by one of a pool of accounts
so that none is refused, alternating rounds, medians. On a shared 2-core machine those rounds
can move by more than the difference, so the same comparison also runs in process, in one
thread (time per send, many short alternating rounds). The ban, timeout and read-only checks
read only rows the send already holds; they are timed alone, in process.

Run: .venv/bin/python bench/bench_moderation.py  (or `make bench` for every benchmark).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import bench_env, http_load, json_body, report  # noqa: E402
from scripts.stack import Stack  # noqa: E402

ROUNDS = 5
IN_PROCESS_ROUNDS = 15
IN_PROCESS_SENDS = 200
SENDERS = 3000  # each reused every few seconds at most: above the slow-mode interval below
SLOW_MODE = 1


def seed() -> dict:
    """An owner, SENDERS accounts with tokens, a plain channel and a slow-mode channel."""
    from app import create_app
    from app.accounts.auth import issue_token
    from app.accounts.users import create_user
    from app.extensions import db
    from app.models import Channel

    app = create_app()
    with app.app_context():
        owner = create_user("benchowner", "benchmark-password")
        plain = Channel(name="plain", name_key="plain", created_by=owner.id)
        slow = Channel(name="slow", name_key="slow", created_by=owner.id, slow_mode=SLOW_MODE)
        db.session.add_all([plain, slow])
        tokens = [issue_token(create_user(f"sender{n}", "benchmark-password"))[0] for n in range(SENDERS)]
        db.session.commit()
        return {"plain": plain.id, "slow": slow.id, "tokens": tokens}


def main() -> None:
    print("moderation", flush=True)
    with bench_env() as env:
        ids = seed()
        senders = [{"Authorization": f"Bearer {token}"} for token in ids["tokens"]]
        turn = iter(range(10**9))

        def sender_in(channel: str):
            path = f"/api/v1/channels/{ids[channel]}/send_message"
            return lambda connection, seq: ("POST", path, json_body({"message": f"m {connection}-{seq}"}),
                                            senders[next(turn) % SENDERS])

        with Stack(env, web_workers=2, threads=8) as stack:
            cases = {"plain": sender_in("plain"), "slow": sender_in("slow")}
            for request in cases.values():
                http_load(stack.url, request, duration=2)  # warm-up
            rates = {name: [] for name in cases}
            statuses = {name: {} for name in cases}
            for round_ in range(ROUNDS):
                # The order flips each round, so drift hits both sides alike.
                for name in (list(cases) if round_ % 2 == 0 else list(reversed(cases))):
                    result = http_load(stack.url, cases[name], duration=4)
                    rates[name].append(result["rps"])
                    for status, count in result["statuses"].items():
                        statuses[name][status] = statuses[name].get(status, 0) + count
            plain, slow = (sorted(values)[len(values) // 2] for values in rates.values())
        report("send_message, no slow mode, median round", plain, "req/s")
        report("send_message, slow mode (not refused), median round", slow, "req/s")
        report("statuses (plain / slow)", f"{statuses['plain']} / {statuses['slow']}")
        report("slow-mode check vs none, through HTTP (target < 5%)", 100 * (plain - slow) / plain, "%")
        in_process(ids)
        checks_alone(ids, 1e6 / plain)


def in_process(ids: dict) -> None:
    """Microseconds per send in one thread, in a plain and in a slow-mode channel, alternating
    rounds, medians."""
    from app import create_app

    client = create_app().test_client()
    senders = iter(range(10**9))
    time.sleep(SLOW_MODE + 1)  # no sender still inside its interval from the HTTP rounds

    def per_send(channel: str) -> float:
        path = f"/api/v1/channels/{ids[channel]}/send_message"
        started = time.perf_counter()
        for n in range(IN_PROCESS_SENDS):
            headers = {"Authorization": f"Bearer {ids['tokens'][next(senders) % SENDERS]}"}
            assert client.post(path, json={"message": f"in process {n}"}, headers=headers).status_code == 201
        return (time.perf_counter() - started) / IN_PROCESS_SENDS * 1e6

    per_send("plain"), per_send("slow")  # warm-up
    timings = {"plain": [], "slow": []}
    for round_ in range(IN_PROCESS_ROUNDS):
        for name in (("plain", "slow") if round_ % 2 == 0 else ("slow", "plain")):
            timings[name].append(per_send(name))
    plain, slow = (sorted(values)[len(values) // 2] for values in timings.values())
    report("send_message in process, no slow mode, median per send", plain, "us")
    report("send_message in process, slow mode (not refused), median per send", slow, "us")
    report("slow-mode check vs none, in process (target < 5%)", 100 * (slow - plain) / plain, "%")


def checks_alone(ids: dict, per_send_us: float) -> None:
    """The ban, timeout, read-only and slow-mode-applies checks timed alone, as a share of a send
    (the time one core spends per send at the measured rate: an upper bound of the share). The
    slow-mode window itself is a condition of the message insert, measured by the rounds above."""
    from app import create_app
    from app.accounts.auth import caller_for_token
    from app.messaging import send
    from app.messaging.messages import channel_row

    with create_app().app_context():
        caller = caller_for_token(ids["tokens"][0])
        plain = channel_row(ids["plain"], caller.id)
        count = 100_000
        started = time.perf_counter()
        for _ in range(count):
            send.moderation.ensure_can_post(caller)
            send.channel_rules.ensure_may_post(caller, plain)
            send.channel_rules.slow_mode_applies(caller, plain)
        alone_us = (time.perf_counter() - started) / count * 1e6
    report("ban + timeout + read-only + slow-mode checks alone, per send", alone_us, "us")
    report("  as a share of a send (target < 5%)", 100 * alone_us / per_send_us, "%")


if __name__ == "__main__":
    main()
