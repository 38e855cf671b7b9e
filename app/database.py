"""Database specifics: SQLite's connection settings, prepared hot statements, and writes that
commit as they run."""
from collections import namedtuple

from sqlalchemy import event
from sqlalchemy.engine import Engine

from .extensions import db


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """WAL + NORMAL: concurrent readers and ~2x insert throughput; cascades need foreign_keys."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


class Prepared:
    """A Core statement compiled once per dialect and run on the driver connection itself.

    For the statements behind every message sent (the token check, the channel read, the
    message insert): there SQLAlchemy's work per execution (cache key, execution context,
    result objects, and for a request that needs nothing else, the session itself) costs
    more than the database's own. The SQL is still written in Core and compiled by SQLAlchemy
    for the dialect in use, and values still pass through the column types' bind and result
    processors, so nothing is stored or read differently.
    """

    def __init__(self, statement, row_name: str = "Row"):
        self.statement = statement
        self.row = namedtuple(row_name, statement.selected_columns.keys()) if statement.is_select else None
        self._plans: dict[str, tuple] = {}

    def _plan(self, dialect) -> tuple:
        plan = self._plans.get(dialect.name)
        if plan is None:
            compiled = self.statement.compile(dialect=dialect)
            names = compiled.positiontup  # None for named parameters (psycopg's %(name)s)
            binds = {name: bind.type.dialect_impl(dialect).bind_processor(dialect)
                     for name, bind in compiled.binds.items()}
            results = [column.type.dialect_impl(dialect).result_processor(dialect, None)
                       for column in self.statement.selected_columns] if self.row else []
            plan = self._plans[dialect.name] = (compiled.string, names, binds, results)
        return plan

    def _run(self, driver, dialect, values: dict):
        sql, names, binds, results = self._plan(dialect)
        processed = {name: (process(values[name]) if process else values[name])
                     for name, process in binds.items()}
        cursor = driver.execute(sql, [processed[name] for name in names] if names is not None else processed)
        if not results:
            cursor.close()
            return None
        raw = cursor.fetchone()
        cursor.close()
        if raw is None:
            return None
        return self.row._make(process(value) if process else value for process, value in zip(results, raw))

    def first(self, values: dict):
        """The first row (a named tuple of processed values), or None. It reads in the session's
        transaction when one is under way, else on a connection borrowed for this statement."""
        if _session_in_transaction():
            connection = db.session.connection()
            return self._run(connection.connection.driver_connection, connection.dialect, values)
        engine = db.engine
        borrowed = engine.raw_connection()
        try:
            return self._run(borrowed.driver_connection, engine.dialect, values)
        finally:
            borrowed.close()  # back to the pool, which rolls back the read

    def execute(self, values: dict) -> None:
        """Run a write in the session's transaction; the caller commits."""
        connection = db.session.connection()
        self._run(connection.connection.driver_connection, connection.dialect, values)

    def execute_alone(self, values: dict) -> None:
        """Run a write that is the whole of its transaction and commit it at once, on a
        connection of its own. The session must hold no uncommitted changes: they would not
        be part of this transaction, and on SQLite this connection would wait for their lock.

        On SQLite it commits inside the one driver call. SQLite has one write lock for the
        whole database; in a transaction it is held from the first write until COMMIT, and
        between those two driver calls the thread must get the interpreter lock back, which
        under load takes up to a switch interval. Every writer in every process waits
        meanwhile, and SQLite's busy handler sleeps 1 ms or more per retry. In autocommit mode
        the lock is held only while SQLite runs the statement.
        """
        if _session_has_writes():
            raise RuntimeError("execute_alone() with uncommitted changes in the session")
        engine = db.engine
        borrowed = engine.raw_connection()
        try:
            driver = borrowed.driver_connection
            if engine.dialect.name == "sqlite":
                previous, driver.isolation_level = driver.isolation_level, None  # autocommit
                try:
                    self._run(driver, engine.dialect, values)
                finally:
                    driver.isolation_level = previous
            else:
                self._run(driver, engine.dialect, values)
                borrowed.commit()
        finally:
            borrowed.close()


def _session_has_writes() -> bool:
    """Whether this request's session holds uncommitted changes: pending objects, or on SQLite
    flushed writes too (PostgreSQL gives no cheap way to tell flushed writes from reads)."""
    if not db.session.registry.has():
        return False
    session = db.session()
    if session.new or session.dirty or session.deleted:
        return True
    if not session.in_transaction():
        return False
    connection = session.connection()
    return connection.dialect.name == "sqlite" and connection.connection.driver_connection.in_transaction


def _session_in_transaction() -> bool:
    """Whether this request's session has a transaction under way (reads then join it)."""
    return db.session.registry.has() and db.session().in_transaction()
