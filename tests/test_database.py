"""database.Prepared: statements run on the driver, values processed as the ORM does, and
lone writes committed at once."""
import sqlite3

import pytest
import sqlalchemy as sa

from tests.api_helpers import make_channel


def _insert(sender_id: str, channel_id: str, text: str) -> str:
    from app.messaging import messages
    from app.extensions import db
    from app.models import Channel, User

    return messages.store_message(db.session.get(User, sender_id), db.session.get(Channel, channel_id), text, []).id


def _exists(app, message_id: str) -> bool:
    from app.extensions import db
    from app.models import Message

    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).where(Message.id == message_id)) == 1


def test_a_lone_write_is_committed_at_once(app, api, owner):
    from app.extensions import db

    channel_id = make_channel(api, owner["token"], "general")
    with app.app_context():
        message_id = _insert(owner["id"], channel_id, "hello")
        db.session.rollback()  # the session never held it
    assert _exists(app, message_id)


def test_a_lone_write_refuses_to_run_beside_uncommitted_changes(app, api, owner, services):
    """It could not be part of their transaction (and on SQLite would wait for their lock)."""
    from app.messaging import messages
    from app.extensions import db
    from app.models import Channel, User

    channel_id = make_channel(api, owner["token"], "general")
    with app.app_context():
        sender, channel = db.session.get(User, owner["id"]), db.session.get(Channel, channel_id)
        db.session.add(Channel(name="pending", name_key="pending"))
        with pytest.raises(RuntimeError):
            messages.store_message(sender, channel, "hello", [])
        if services["database_url"].startswith("sqlite"):
            db.session.flush()  # written but not committed
            with pytest.raises(RuntimeError):
                messages.store_message(sender, channel, "hello", [])
        db.session.rollback()


def test_on_sqlite_a_lone_write_holds_no_lock_once_it_returns(app, api, owner, services):
    """Another writer gets the database at once: the write lock was held only while SQLite
    ran the statement."""
    if not services["database_url"].startswith("sqlite"):
        pytest.skip("SQLite's single write lock only")
    channel_id = make_channel(api, owner["token"], "general")
    with app.app_context():
        message_id = _insert(owner["id"], channel_id, "hello")
        other = sqlite3.connect(services["database_url"].removeprefix("sqlite:///"), timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")  # takes the write lock or fails at once
            other.rollback()
        finally:
            other.close()
    assert _exists(app, message_id)


def test_prepared_statements_store_and_read_values_as_the_orm_does(app, api, owner):
    """Prepared runs on the driver, but through the column types' own processors: what it
    writes the ORM reads back unchanged, and what it reads has the ORM's Python types."""
    from datetime import datetime

    from app.database import Prepared
    from app.extensions import db
    from app.ids import utcnow, uuid7
    from app.models import Channel, Message

    channel_id = make_channel(api, owner["token"], "general")
    insert = Prepared(Message.__table__.insert())
    select = Prepared(sa.select(Channel.__table__).where(Channel.id == sa.bindparam("channel_id")))
    values = {"id": uuid7(), "channel_id": channel_id, "sender_id": owner["id"], "key_id": "k1",
              "ciphertext": bytes(range(256)), "hashed_message": "ab" * 32,
              "attachments": ["/cdn/attachments/x.png", "é"], "sent_at": utcnow()}
    with app.app_context():
        insert.execute(values)
        db.session.commit()
    with app.app_context():
        stored = db.session.get(Message, values["id"])
        assert {key: getattr(stored, key) for key in values} == values
        row = select.first({"channel_id": channel_id})
        orm = db.session.get(Channel, channel_id)
        assert row._asdict() == {column.key: getattr(orm, column.key) for column in Channel.__table__.c}
        assert row.is_private is False and isinstance(row.created_at, datetime)
        assert select.first({"channel_id": "no-such-channel"}) is None
