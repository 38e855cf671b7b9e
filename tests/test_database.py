"""execute_alone: a write that is its whole transaction commits at once on SQLite, and joins
the session's transaction whenever the session holds other changes."""
import sqlite3

import pytest
import sqlalchemy as sa

from tests.api_helpers import make_channel


def _insert(sender_id: str, channel_id: str, text: str) -> str:
    from app import messaging
    from app.extensions import db
    from app.models import Channel, User

    return messaging.store_message(db.session.get(User, sender_id), db.session.get(Channel, channel_id), text, []).id


def _exists(app, message_id: str) -> bool:
    from app.extensions import db
    from app.models import Message

    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).where(Message.id == message_id)) == 1


def test_a_lone_write_is_stored_once_the_caller_commits(app, api, owner):
    from app.extensions import db

    channel_id = make_channel(api, owner["token"], "general")
    with app.app_context():
        message_id = _insert(owner["id"], channel_id, "hello")
        db.session.commit()
    assert _exists(app, message_id)


def test_a_write_beside_other_changes_rolls_back_with_them(app, api, owner):
    from app.extensions import db
    from app.models import Channel

    channel_id = make_channel(api, owner["token"], "general")
    with app.app_context():
        db.session.add(Channel(name="pending", name_key="pending"))
        message_id = _insert(owner["id"], channel_id, "hello")
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count()).where(Channel.name_key == "pending")) == 0
    assert not _exists(app, message_id)


def test_on_sqlite_a_lone_write_holds_no_lock_until_the_commit(app, api, owner, services):
    """Another writer must get the database before this session commits: the write lock was
    held only while SQLite ran the statement."""
    from app.extensions import db

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
        db.session.rollback()  # nothing left to undo: the message is stored
    assert _exists(app, message_id)
