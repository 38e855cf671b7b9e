"""Seeding for the history benchmarks: an owner with a token, and channels of plain messages."""
import sqlalchemy as sa

from app import create_app, crypto
from app.accounts.auth import issue_token
from app.accounts.users import create_user
from app.extensions import db
from app.ids import uuid7
from app.models import Channel, Message

BATCH = 20_000


def app_for(env: dict):
    """An app on env's database, data dir and Redis (config.py reads the environment once, at
    import: a second database in one process needs these overrides)."""
    return create_app(SQLALCHEMY_DATABASE_URI=env["DATABASE_URL"], DATA_DIR=env["PUFFERBLOW_DATA_DIR"],
                      REDIS_URL=env["REDIS_URL"], MESSAGE_KEY_FILE="")


def seed(env: dict, sizes: dict[str, int]) -> dict:
    """A "send" channel and one channel per (name, message count); returns the token, the
    channel ids and, per seeded channel, a cursor 1% from its oldest message."""
    app = app_for(env)
    with app.app_context():
        owner = create_user("benchowner", "benchmark-password")
        token, _ = issue_token(owner)
        channels = {name: Channel(name=name, name_key=name, created_by=owner.id) for name in ["send", *sizes]}
        db.session.add_all(channels.values())
        db.session.commit()
        cursors = {}
        for name, count in sizes.items():
            channel_id = channels[name].id
            for start in range(0, count, BATCH):
                rows = []
                for index in range(start, min(count, start + BATCH)):
                    text = f"seeded message number {index} in the history of this channel"
                    key_id, ciphertext = crypto.encrypt(text, channel_id)
                    rows.append({"id": uuid7(), "channel_id": channel_id, "sender_id": owner.id, "key_id": key_id,
                                 "ciphertext": ciphertext, "hashed_message": crypto.digest(text), "attachments": []})
                    if index == count // 100:
                        cursors[name] = rows[-1]["id"]
                db.session.execute(sa.insert(Message), rows)
                db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as connection:  # fresh statistics: the planner sees every row
                connection.execute(sa.text("ANALYZE"))
        db.engine.dispose()
        return {"token": token, "channels": {k: c.id for k, c in channels.items()}, "cursors": cursors}
