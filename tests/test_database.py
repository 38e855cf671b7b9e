"""app/database.py: the SQLite settings on the app's own engine, Prepared statements processed as
the ORM does, the SQLAlchemy internals Prepared relies on, and the send's one transaction."""
import io
import sqlite3
from datetime import datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect

from tests.api_helpers import assert_error, load, make_channel, send
from tests.filedata import image_bytes


def _count(app, model) -> int:
    from app.extensions import db
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# --- SQLite settings -------------------------------------------------------------------------

def test_sqlite_settings_are_on_the_apps_engine_and_no_other(app, services):
    if not services["database_url"].startswith("sqlite"):
        pytest.skip("SQLite settings only")
    from app.extensions import db
    with app.app_context(), db.engine.connect() as connection:
        settings = [connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                    for name in ("journal_mode", "synchronous", "foreign_keys")]
    assert settings == ["wal", 1, 1]
    other = sa.create_engine("sqlite://")
    with other.connect() as connection:
        # Registered per engine, not for every Engine in the process.
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0
    other.dispose()


# --- Prepared --------------------------------------------------------------------------------

def _dialects(app) -> list:
    """The app's dialect, and both dialects the project supports (compiling needs no server)."""
    from app.extensions import db
    with app.app_context():
        return [db.engine.dialect, sqlite_dialect.pysqlite.dialect(), postgresql.psycopg.dialect()]


def test_the_sqlalchemy_internals_prepared_relies_on_are_still_there(app):
    """Prepared reads these attributes of SQLAlchemy; if an upgrade changes them, this fails
    first and says which one, instead of sends failing in production."""
    from app.database import Prepared
    from app.extensions import db
    from app.models import Message

    statement = Message.__table__.insert()
    for dialect in _dialects(app):
        compiled = statement.compile(dialect=dialect)
        assert hasattr(compiled, "positiontup"), f"{dialect.name}: SQLCompiler.positiontup is gone"
        if dialect.paramstyle in ("qmark", "numeric", "format"):
            assert list(compiled.positiontup) == [c.key for c in Message.__table__.c], \
                f"{dialect.name}: positiontup no longer lists the bound names in SQL order"
        else:
            assert compiled.positiontup is None, f"{dialect.name}: positiontup is set for named parameters"
        assert isinstance(compiled.binds, dict) and set(compiled.binds) == {c.key for c in Message.__table__.c}, \
            f"{dialect.name}: SQLCompiler.binds no longer maps bound names to BindParameters"
        for column in Message.__table__.c:
            impl = column.type.dialect_impl(dialect)
            assert callable(getattr(impl, "bind_processor", None)), \
                f"{dialect.name}: {column.key}: TypeEngine.dialect_impl(dialect).bind_processor is gone"
            assert callable(getattr(impl, "result_processor", None)), \
                f"{dialect.name}: {column.key}: TypeEngine.dialect_impl(dialect).result_processor is gone"
        sql, names, binds, results = Prepared(sa.select(Message.__table__)).plan(dialect)
        assert isinstance(sql, str) and all(0 <= index < len(Message.__table__.c) and callable(process)
                                            for index, process in results)
    with app.app_context():
        borrowed = db.engine.raw_connection()
        try:
            driver = getattr(borrowed, "driver_connection", None)
            assert driver is not None, "PoolProxiedConnection.driver_connection is gone"
            assert callable(getattr(driver, "execute", None)), "the driver connection has no execute()"
        finally:
            borrowed.close()
        # The path Prepared takes: the session's Connection -> its pool connection -> the driver's.
        proxied = getattr(db.session.connection(), "connection", None)
        assert proxied is not None and getattr(proxied, "driver_connection", None) is not None, \
            "Connection.connection.driver_connection is gone"
        db.session.rollback()


def test_prepared_statements_store_and_read_values_as_the_orm_does(app, api, owner):
    """Prepared runs on the driver, but through the column types' own processors: what it
    writes the ORM reads back unchanged, and what it reads has the ORM's Python types."""
    from app.database import Prepared
    from app.extensions import db
    from app.ids import utcnow, uuid7
    from app.models import Channel, Message

    channel_id = make_channel(api, owner["token"], "general")
    insert = Prepared(Message.__table__.insert())
    select = Prepared(sa.select(Channel.__table__).where(Channel.id == sa.bindparam("channel_id")))
    values = {"id": uuid7(), "channel_id": channel_id, "sender_id": owner["id"], "key_id": "k1",
              "ciphertext": bytes(range(256)), "hashed_message": "ab" * 32,
              "attachments": ["/cdn/attachments/x.png", "é"], "sent_at": utcnow(), "edited_at": utcnow(),
              "reply_to_id": uuid7(), "mentions": [owner["id"]]}
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


def test_prepared_reads_join_the_sessions_transaction(app, api, owner):
    """A read after an uncommitted write of the same request sees that write."""
    from app.database import Prepared
    from app.extensions import db
    from app.models import Channel

    select = Prepared(sa.select(Channel.__table__.c.name).where(Channel.id == sa.bindparam("channel_id")))
    with app.app_context():
        db.session.add(Channel(id="c-pending", name="pending", name_key="pending"))
        db.session.flush()
        assert select.first({"channel_id": "c-pending"}) == ("pending",)
        db.session.rollback()
        assert select.first({"channel_id": "c-pending"}) is None


# --- the send's transaction ------------------------------------------------------------------

def test_a_send_is_committed_before_it_answers(app, api, owner):
    from app.extensions import db
    from app.models import Message
    channel_id = make_channel(api, owner["token"], "general")
    message_id = send(api, owner["token"], channel_id, "hello")
    with app.app_context():
        assert db.session.get(Message, message_id) is not None


def test_a_send_keeps_nothing_when_its_file_references_fail(app, api, owner, monkeypatch):
    """The message and its attachments' references are one transaction: all or nothing."""
    from app.files import intake
    from app.models import FileRef, Message, StoredFile

    channel_id = make_channel(api, owner["token"], "general")

    def failing_attach(message, uploads):
        intake.store(uploads[0], "attachment", "attachments", channel_id=message.channel_id, message_id=message.id)
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(intake, "attach", failing_attach)
    response = api.call("POST", f"/api/v1/channels/{channel_id}/send_message", token=owner["token"],
                        data={"message": "with a file", "attachments": (io.BytesIO(image_bytes()), "a.png")},
                        content_type="multipart/form-data")
    assert_error(response, 500)
    assert (_count(app, Message), _count(app, FileRef), _count(app, StoredFile)) == (0, 0, 0)
    monkeypatch.undo()
    assert load(api, owner["token"], channel_id) == []


def test_on_sqlite_a_send_holds_no_lock_once_it_answers(app, api, owner, services):
    """Another writer gets the database at once: SQLite's one write lock went with the commit."""
    if not services["database_url"].startswith("sqlite"):
        pytest.skip("SQLite's single write lock only")
    channel_id = make_channel(api, owner["token"], "general")
    send(api, owner["token"], channel_id, "hello")
    other = sqlite3.connect(services["database_url"].removeprefix("sqlite:///"), timeout=0)
    try:
        other.execute("BEGIN IMMEDIATE")  # takes the write lock or fails at once
        other.rollback()
    finally:
        other.close()


def _message_values(channel_id: str, sender_id: str) -> dict:
    from app.ids import utcnow, uuid7
    return {"id": uuid7(), "channel_id": channel_id, "sender_id": sender_id, "key_id": "k1", "ciphertext": b"x",
            "hashed_message": "ab" * 32, "attachments": [], "sent_at": utcnow(), "edited_at": None,
            "reply_to_id": None, "mentions": None}


def test_an_only_write_refuses_to_join_a_transaction_that_holds_writes(app, api, owner, services):
    """It could not be the transaction's one write (and on SQLite would commit the others)."""
    from app.database import Prepared
    from app.extensions import db
    from app.models import Channel, Message

    channel_id = make_channel(api, owner["token"], "general")
    insert = Prepared(Message.__table__.insert())
    with app.app_context():
        db.session.add(Channel(name="pending", name_key="pending"))
        if services["database_url"].startswith("sqlite"):
            with pytest.raises(RuntimeError):
                insert.execute(_message_values(channel_id, owner["id"]), only_write=True)
            db.session.flush()  # written but not committed
            with pytest.raises(RuntimeError):
                insert.execute(_message_values(channel_id, owner["id"]), only_write=True)
        db.session.rollback()
    assert _count(app, Message) == 0 and _count(app, Channel) == 1


def test_on_sqlite_an_only_write_commits_inside_its_driver_call(app, api, owner, services):
    if not services["database_url"].startswith("sqlite"):
        pytest.skip("SQLite's autocommit only")
    from app.database import Prepared
    from app.extensions import db
    from app.models import Message

    channel_id = make_channel(api, owner["token"], "general")
    with app.app_context():
        Prepared(Message.__table__.insert()).execute(_message_values(channel_id, owner["id"]), only_write=True)
        driver = db.session.connection().connection.driver_connection
        assert not driver.in_transaction and driver.isolation_level == ""  # the driver's own mode is back
        db.session.rollback()
    assert _count(app, Message) == 1
