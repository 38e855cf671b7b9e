"""Conversations benchmark: history where every message carries reactions, a reply and an edit,
beside plain history; adding reactions beside sending messages (and the trivial route).

Run: .venv/bin/python bench/bench_conversations.py  (or `make bench` for every benchmark).
"""
import itertools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import bench_env, http_load, json_body, report, sequential_latency  # noqa: E402
from scripts.stack import Stack  # noqa: E402

HISTORY = 1_000  # messages in each history channel
REACT_TARGETS = 3_000  # messages to react to: 20 emojis each, every request adds a new reaction
ROUNDS = 5
EMOJIS = ["👍", "❤️", "😂", "🎉", "🚀", "👀", "🔥", "✅", "🙏", "💯", "😮", "😢", "🤔", "👏", "🙌", "💡", "⭐",
          ":party:", ":ship_it:", ":plus_one:"]


def seed() -> dict:
    """An owner with a token, three reactors, and channels: plain history, rich history (each
    message with 3 reactions, a reply to the one before and an edit), sends, and reaction targets."""
    import sqlalchemy as sa

    from app import create_app, crypto
    from app.accounts.auth import issue_token
    from app.accounts.users import create_user
    from app.extensions import db
    from app.ids import utcnow, uuid7
    from app.models import Channel, Message, Reaction

    app = create_app()
    with app.app_context():
        owner = create_user("benchowner", "benchmark-password")
        reactors = [create_user(f"reactor{n}", "benchmark-password") for n in range(3)]
        token, _ = issue_token(owner)
        channels = {name: Channel(name=name, name_key=name, created_by=owner.id)
                    for name in ("plain", "rich", "send", "react")}
        db.session.add_all(channels.values())
        db.session.commit()
        for name, count in (("plain", HISTORY), ("rich", HISTORY), ("react", REACT_TARGETS)):
            channel_id = channels[name].id
            rows, reactions, previous = [], [], None
            for index in range(count):
                text = f"seeded message number {index} of {name}, long enough to look like chat"
                key_id, ciphertext = crypto.encrypt(text, channel_id)
                message_id = uuid7()
                row = {"id": message_id, "channel_id": channel_id, "sender_id": owner.id, "key_id": key_id,
                       "ciphertext": ciphertext, "hashed_message": crypto.digest(text), "attachments": []}
                if name == "rich":
                    row.update(reply_to_id=previous, edited_at=utcnow())
                    reactions += [{"message_id": message_id, "emoji": EMOJIS[n], "user_id": user.id}
                                  for n, user in enumerate(reactors)]
                rows.append(row)
                previous = message_id
            db.session.execute(sa.insert(Message), rows)
            if reactions:
                db.session.execute(sa.insert(Reaction), reactions)
            db.session.commit()
            if name == "react":
                targets = [row["id"] for row in rows]
        return {"token": token, "channels": {k: c.id for k, c in channels.items()}, "targets": targets}


def main() -> None:
    print("conversations", flush=True)
    with bench_env() as env:
        ids = seed()
        with Stack(env, web_workers=2, threads=8) as stack:
            auth = {"Authorization": f"Bearer {ids['token']}"}
            send_path = f"/api/v1/channels/{ids['channels']['send']}/send_message"
            pairs = itertools.count()

            def health(_connection, _seq):
                return "GET", "/healthz", None, {}

            def send(connection, seq):
                return "POST", send_path, json_body({"message": f"m {connection}-{seq}"}), auth

            def react(_connection, _seq):
                n = next(pairs)  # a new (message, emoji) pair each time: every request adds a reaction
                target = ids["targets"][(n // len(EMOJIS)) % len(ids["targets"])]
                return ("POST", f"/api/v1/messages/{target}/reactions",
                        json_body({"emoji": EMOJIS[n % len(EMOJIS)]}), auth)

            def history(name):
                path = (f"/api/v1/channels/{ids['channels'][name]}/load_messages?auth_token={ids['token']}"
                        "&messages_per_page=50")
                return sequential_latency(stack.url, path, count=200)

            http_load(stack.url, health, duration=2)  # warm-up
            http_load(stack.url, send, duration=2)
            history("plain"), history("rich")
            # Alternate in rounds and take medians: a slow moment of a shared machine lands in one
            # round of each rather than in one of the figures.
            loads, rates = [], []
            for _ in range(ROUNDS):
                plain, rich = history("plain"), history("rich")
                loads.append((rich["p50_ms"] / plain["p50_ms"], plain, rich))
                ceiling = http_load(stack.url, health, duration=3)
                sent = http_load(stack.url, send, duration=3)
                reacted = http_load(stack.url, react, duration=3)
                rates.append((reacted["rps"] / sent["rps"], ceiling, sent, reacted))
                report("  round: plain / rich p50 ms; healthz / send / react req/s",
                       f"{plain['p50_ms']:.2f} / {rich['p50_ms']:.2f}; {ceiling['rps']:,.0f} / "
                       f"{sent['rps']:,.0f} / {reacted['rps']:,.0f}")
            ratio, plain, rich = sorted(loads, key=lambda r: r[0])[len(loads) // 2]
            report("load_messages newest 50, plain: p50 / p99", f"{plain['p50_ms']:.2f} / {plain['p99_ms']:.2f}", "ms")
            report("load_messages newest 50, 3 reactions + reply + edit each: p50 / p99",
                   f"{rich['p50_ms']:.2f} / {rich['p99_ms']:.2f}", "ms")
            report("rich / plain history p50, median round (target <= 1.3x)", ratio, "x")
            ratio, ceiling, sent, reacted = sorted(rates, key=lambda r: r[0])[len(rates) // 2]
            report("trivial JSON route (GET /healthz), 32 connections", ceiling["rps"], "req/s")
            report("send_message, 32 connections", sent["rps"], "req/s")
            report("reaction add (a new reaction each), 32 connections", reacted["rps"], "req/s")
            report("reaction add statuses", str(reacted["statuses"]))
            report("reaction add / send_message, median round (target >= 50%)", 100 * ratio, "%")
            report("send_message / trivial route in that round (target >= 35%)",
                   100 * sent["rps"] / ceiling["rps"], "%")
            report("1-minute load average during the run", f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
