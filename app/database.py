"""Database specifics: the connection pool's size and pings, SQLite's connection settings, JSON
column reading, timestamps as text written by the database, read-only views outside transactions
(PostgreSQL) and the driver-level fast path (Prepared).

Prepared relies on these SQLAlchemy internals, checked by tests/test_database.py so that an
upgrade that changes them fails loudly: `compiled.positiontup`, `compiled.binds`,
`TypeEngine.dialect_impl(dialect).bind_processor / result_processor`, and
`PoolProxiedConnection.driver_connection`.
"""
import functools
import json
import time
from collections import namedtuple

import orjson
import sqlalchemy as sa
from flask import request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from . import metrics
from .extensions import db


def pool_options(config, uri: str) -> dict:
    """create_engine() options of the connection pool, from the DB_* settings (config.py).

    Connections open as threads first need them and stay open, one per thread that uses the
    database at once: none is opened per request once as many requests as the process runs at
    once have been served.
    """
    if uri.startswith("sqlite") and (":memory:" in uri or uri.rstrip("/") in {"sqlite:", "sqlite:/"}):
        return {}  # an in-memory database lives in one connection (SQLAlchemy's own pool for it)
    # A ping before each use finds a connection the server dropped; a SQLite file cannot drop one.
    # With DB_POOL_PING_IDLE only connections idle that long are pinged (ping_idle_connections()).
    pre_ping = config["DB_POOL_PRE_PING"] and not uri.startswith("sqlite") and not config["DB_POOL_PING_IDLE"]
    size = config["DB_POOL_SIZE"] or max(1, min(config["DB_CONCURRENCY"], config["DB_POOL_SIZE_CAP"]))
    return {"pool_size": size, "max_overflow": config["DB_MAX_OVERFLOW"], "pool_timeout": config["DB_POOL_TIMEOUT"],
            "pool_recycle": config["DB_POOL_RECYCLE"], "pool_pre_ping": pre_ping}


def loads_json(text: str | bytes):
    """JSON column values as Python: orjson reads them several times faster than the standard
    library (a history page reads two JSON columns per message); what orjson refuses (an integer
    beyond 64 bits) the standard library reads."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


class IsoTime(FunctionElement):
    """A timestamp as the text clients read (ids.iso(): "YYYY-MM-DDTHH:MM:SSZ", the fraction of
    a second dropped), written by the database: a history page then neither parses two datetimes
    per message nor formats them back."""
    type = sa.String()
    inherit_cache = True


@compiles(IsoTime)
def _iso_of_stored_text(element, compiler, **kw):
    # SQLite stores DATETIME as "YYYY-MM-DD HH:MM:SS.ffffff" (SQLAlchemy's format): cut and joined.
    value = compiler.process(list(element.clauses)[0], **kw)
    return f"substr({value}, 1, 10) || 'T' || substr({value}, 12, 8) || 'Z'"


@compiles(IsoTime, "postgresql")
def _iso_by_to_char(element, compiler, **kw):
    return """to_char(%s, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')""" % compiler.process(list(element.clauses)[0], **kw)


class SortableTime(FunctionElement):
    """A timestamp as text that sorts as the time does, whatever the server's date style."""
    type = sa.String()
    inherit_cache = True


@compiles(SortableTime)
def _stored_text(element, compiler, **kw):
    # SQLite stores DATETIME as fixed-width ISO text, microseconds included: already sortable.
    return compiler.process(sa.cast(list(element.clauses)[0], sa.String), **kw)


@compiles(SortableTime, "postgresql")
def _fixed_width_text(element, compiler, **kw):
    return "to_char(%s, 'YYYYMMDDHH24MISSUS')" % compiler.process(list(element.clauses)[0], **kw)


def reads_only(view):
    """Mark a view that writes nothing to the database. On PostgreSQL its statements then run
    outside a transaction, each in a snapshot of its own (run_reads_outside_transactions()): no
    BEGIN and no ROLLBACK, two of the five round trips of a history page. SQLite begins no
    transaction for reads anyway. A marked view that wrote would commit each statement at once."""
    view.reads_only = True
    return view


def run_reads_outside_transactions(app) -> None:
    """Before a reads_only view's request touches the database (register before any hook that
    might), take its session's connection in autocommit mode; the pool resets the mode (a driver
    setting, no round trip) when the connection returns."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            return

    @app.before_request
    def _outside_transaction():
        view = app.view_functions.get(request.endpoint)
        if getattr(view, "reads_only", False) and not db.session().in_transaction():
            db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def count_connections(engine: Engine) -> None:
    """Count every connection the engine opens (pufferblow_db_connections_opened_total)."""
    event.listen(engine, "connect", _opened)


def _opened(_dbapi_connection, _record) -> None:
    metrics.DB_CONNECTIONS.inc()


def ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    """Ping a connection before use only when it sat in the pool over idle_seconds (a server
    restart or an idle timeout drops those); a dead one is replaced by a new one. A connection
    in steady use is not pinged: under load that saves one round trip per request. A connection
    dropped within idle_seconds of its last use fails the request that takes it, and the pool
    then replaces every connection older than the failure."""
    event.listen(engine, "checkin", _checked_in)
    event.listen(engine, "checkout", functools.partial(_checked_out, engine.dialect, idle_seconds))


def _checked_in(_dbapi_connection, record) -> None:
    record.info["idle_since"] = time.monotonic()


def _checked_out(dialect, idle_seconds: float, dbapi_connection, record, _proxy) -> None:
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < idle_seconds:
        return
    try:
        dialect.do_ping(dbapi_connection)
    except Exception as exc:
        if dialect.is_disconnect(exc, dbapi_connection, None):
            raise DisconnectionError() from exc  # the pool retries with a new connection
        raise


def register_sqlite_pragmas(engine: Engine) -> None:
    """Give every new connection of this engine the settings below (SQLite engines only)."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL + NORMAL: concurrent readers and ~2x insert throughput; cascades need foreign_keys."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Prepared:
    """A Core statement compiled once per dialect and run on the driver connection itself.

    For the statements behind every message sent (the token check, the channel read, the
    message insert and its event's, whose RETURNING it reads): there SQLAlchemy's work per execution (cache key, execution context,
    result objects) costs more than the database's own. The SQL is still written in Core and
    compiled by SQLAlchemy for the dialect in use, and values still pass through the column
    types' bind and result processors, so nothing is stored or read differently.

    It runs on the session's connection, in the session's transaction, like the rest of the
    request's work: reads see the request's own writes, and one pooled connection serves them all.
    """

    def __init__(self, statement, row_name: str = "Row"):
        self.statement = statement
        # A select's columns, or a write's RETURNING columns (none without RETURNING).
        self.columns = list(statement.selected_columns if statement.is_select else statement.exported_columns)
        self.row = namedtuple(row_name, [column.key for column in self.columns]) if self.columns else None
        self._plans: dict[str, tuple] = {}

    def plan(self, dialect) -> tuple:
        """(SQL, parameter order or None for named parameters, bind processors, result processors
        by column position; None for a statement that returns no rows)."""
        plan = self._plans.get(dialect.name)
        if plan is None:
            compiled = self.statement.compile(dialect=dialect)
            names = compiled.positiontup  # None for named parameters (psycopg's %(name)s)
            binds = {name: bind.type.dialect_impl(dialect).bind_processor(dialect)
                     for name, bind in compiled.binds.items()}
            results = [column.type.dialect_impl(dialect).result_processor(dialect, None)
                       for column in self.columns] if self.row else []
            # (position, processor) of the columns that have one: most values pass unchanged.
            results = [(index, process) for index, process in enumerate(results) if process] if self.row else None
            plan = self._plans[dialect.name] = (compiled.string, names, binds, results)
        return plan

    def _run(self, driver, dialect, values: dict, every_row: bool = False):
        sql, names, binds, results = self.plan(dialect)
        processed = {name: (process(values[name]) if process else values[name])
                     for name, process in binds.items()}
        cursor = driver.execute(sql, [processed[name] for name in names] if names is not None else processed)
        if results is None:
            count = cursor.rowcount
            cursor.close()
            return count
        raw_rows = cursor.fetchall() if every_row else [cursor.fetchone()]
        cursor.close()
        rows = []
        for raw in raw_rows:
            if raw is None:
                continue
            values = list(raw)
            for index, process in results:
                values[index] = process(values[index])
            rows.append(self.row._make(values))
        return rows if every_row else (rows[0] if rows else None)

    def first(self, values: dict):
        """The first row (a named tuple of processed values), or None."""
        return self.execute(values)

    def all(self, values: dict) -> list:
        """Every row of a select, in the session's transaction like execute()."""
        connection = db.session.connection()
        return self._run(connection.connection.driver_connection, connection.dialect, values, every_row=True)

    def execute(self, values: dict, only_write: bool = False):
        """Run in the session's transaction (begun if needed); the caller commits. Returns the
        first row of a select (or of a write's RETURNING), else the number of rows written.

        only_write: the caller promises this is the transaction's one write. On SQLite it then
        runs in autocommit mode, which for a single statement is the same transaction: SQLite
        wraps a lone statement in one of its own and commits it inside this driver call. With
        BEGIN and COMMIT as separate driver calls the database-wide write lock would be held
        from the write until the thread gets the interpreter lock back for COMMIT, up to a
        switch interval under load, while every writer of every process waits (about 15% of
        send_message throughput, measured with 2 workers of 8 threads).
        """
        connection = db.session.connection()
        driver = connection.connection.driver_connection
        if not only_write or connection.dialect.name != "sqlite":
            return self._run(driver, connection.dialect, values)
        session = db.session()
        if session.new or session.dirty or session.deleted or driver.in_transaction:
            # They would not be part of the one write (and leaving the driver's transaction
            # mode would commit what was already flushed).
            raise RuntimeError("execute(only_write=True) in a transaction that already holds writes")
        previous, driver.isolation_level = driver.isolation_level, None
        try:
            return self._run(driver, connection.dialect, values)
        finally:
            driver.isolation_level = previous
