"""Moderation benchmark: what the ban, timeout, read-only and slow-mode checks cost send_message.

In process, one thread, a non-staff sender: sends per second with the checks, with them
replaced by no-ops, and with slow mode on (each send by another account, so every send pays
the Redis SET and none is refused), alternating rounds, medians.

Run: .venv/bin/python bench/bench_moderation.py  (or `make bench` for every benchmark).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import bench_env, report  # noqa: E402

ROUNDS = 7
SENDS = 400


def seed() -> dict:
    """An owner, SENDS * ROUNDS senders with tokens, a plain channel and a slow-mode channel."""
    from app import create_app
    from app.accounts.auth import issue_token
    from app.accounts.users import create_user
    from app.extensions import db
    from app.models import Channel

    app = create_app()
    with app.app_context():
        owner = create_user("benchowner", "benchmark-password")
        plain = Channel(name="plain", name_key="plain", created_by=owner.id)
        slow = Channel(name="slow", name_key="slow", created_by=owner.id, slow_mode=3600)
        db.session.add_all([plain, slow])
        tokens = []
        for n in range(SENDS * ROUNDS * 2 + 1):
            user = create_user(f"sender{n}", "benchmark-password")
            tokens.append(issue_token(user)[0])
        db.session.commit()
        return {"plain": plain.id, "slow": slow.id, "tokens": tokens}


def main() -> None:
    print("moderation", flush=True)
    with bench_env():
        ids = seed()
        from app import create_app
        from app.messaging import send

        client = create_app().test_client()
        checks = (send.moderation.ensure_can_post, send.channel_rules.ensure_may_post)
        one_sender = {"Authorization": f"Bearer {ids['tokens'][0]}"}
        fresh = iter(ids["tokens"][1:])

        def rate(channel: str, rotate: bool) -> float:
            path = f"/api/v1/channels/{ids[channel]}/send_message"
            started = time.perf_counter()
            for n in range(SENDS):
                headers = {"Authorization": f"Bearer {next(fresh)}"} if rotate else one_sender
                response = client.post(path, json={"message": f"bench {n}"}, headers=headers)
                assert response.status_code == 201, response.get_json()
            return SENDS / (time.perf_counter() - started)

        def set_checks(on: bool) -> None:
            noop = (lambda *_args: None,) * 2
            send.moderation.ensure_can_post, send.channel_rules.ensure_may_post = checks if on else noop

        rate("plain", False)  # warm-up
        # (checks on, channel, a new sender per send): the slow-mode case pays its Redis SET on
        # every send, so its baseline also rotates senders (a new token lookup each time).
        cases = {"on": (True, "plain", False), "off": (False, "plain", False),
                 "slow": (True, "slow", True), "slow_off": (False, "slow", True)}
        timings = {name: [] for name in cases}
        for round_ in range(ROUNDS):
            # The order flips each round, so drift (a growing table, a busy neighbour) hits both sides.
            for name in (list(cases) if round_ % 2 == 0 else list(reversed(cases))):
                on, channel, rotate = cases[name]
                set_checks(on)
                timings[name].append(rate(channel, rotate))
        set_checks(True)
        on, off, slow, slow_off = (sorted(values)[len(values) // 2] for values in timings.values())
        report("send_message with the checks (no slow mode): median", on, "req/s")
        report("send_message with the checks as no-ops: median", off, "req/s")
        report("checks vs no-ops (target < 5%)", 100 * (off - on) / off, "%")
        report("slow-mode channel, new sender per send, with checks", slow, "req/s")
        report("slow-mode channel, new sender per send, checks as no-ops", slow_off, "req/s")
        report("slow mode (one Redis SET NX) vs no-ops (target < 5%)", 100 * (slow_off - slow) / slow_off, "%")
        direct_cost(client.application, ids, 1e6 / off)


def direct_cost(app, ids: dict, per_send_us: float) -> None:
    """The checks timed alone (steadier than whole sends on a busy machine), as a share of a send."""
    from app.accounts.auth import caller_for_token
    from app.messaging import send
    from app.messaging.messages import channel_row

    with app.app_context():
        caller = caller_for_token(ids["tokens"][0])
        plain, slow = channel_row(ids["plain"], caller.id), channel_row(ids["slow"], caller.id)
        count = 100_000
        started = time.perf_counter()
        for _ in range(count):
            send.moderation.ensure_can_post(caller)
            send.channel_rules.ensure_may_post(caller, plain)
        plain_us = (time.perf_counter() - started) / count * 1e6
        count, senders = 5_000, [caller.__class__(**{**{f: getattr(caller, f) for f in caller.__slots__},
                                                     "id": f"bench-{n}"}) for n in range(5_000)]
        started = time.perf_counter()
        for sender in senders:
            send.moderation.ensure_can_post(sender)
            send.channel_rules.ensure_may_post(sender, slow)
        slow_us = (time.perf_counter() - started) / count * 1e6
    report("ban + timeout + read-only checks alone, per send", plain_us, "us")
    report("  as a share of a send", 100 * plain_us / per_send_us, "%")
    report("the same with slow mode on (one Redis SET NX), per send", slow_us, "us")
    report("  as a share of a send", 100 * slow_us / per_send_us, "%")


if __name__ == "__main__":
    main()
