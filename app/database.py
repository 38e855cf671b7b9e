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
    result objects) costs more than the database's own. The SQL is still written in Core and
    compiled by SQLAlchemy for the dialect in use, and values still pass through the column
    types' bind and result processors, so nothing is stored or read differently. It runs on
    the session's connection, inside the session's transaction.
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

    def _run(self, values: dict):
        connection = db.session.connection()
        sql, names, binds, results = self._plan(connection.dialect)
        processed = {name: (process(values[name]) if process else values[name])
                     for name, process in binds.items()}
        parameters = [processed[name] for name in names] if names is not None else processed
        return connection.connection.driver_connection.execute(sql, parameters), results

    def first(self, values: dict):
        """The first row (a named tuple of processed values), or None."""
        cursor, results = self._run(values)
        raw = cursor.fetchone()
        cursor.close()
        if raw is None:
            return None
        return self.row._make(process(value) if process else value for process, value in zip(results, raw))

    def execute(self, values: dict) -> None:
        cursor, _ = self._run(values)
        cursor.close()

    def execute_alone(self, values: dict) -> None:
        """Run a write that is the whole of its transaction; on SQLite it commits inside the one
        driver call.

        SQLite has one write lock for the whole database. In a transaction it is held from the
        first write until COMMIT, and between those two driver calls the thread must get the
        interpreter lock back, which under load takes up to a switch interval; every writer in
        every process waits meanwhile, and SQLite's busy handler sleeps 1 ms or more per retry.
        In autocommit mode the lock is held only while SQLite runs the statement. When the
        session already holds other changes, the statement simply joins their transaction.
        Either way the caller still commits (on SQLite, after a lone write, that commit has
        nothing left to do).
        """
        connection = db.session.connection()
        driver = connection.connection.driver_connection
        session = db.session
        if (connection.dialect.name != "sqlite" or driver.in_transaction
                or session.new or session.dirty or session.deleted):
            self.execute(values)  # PostgreSQL writers do not queue behind one lock
            return
        previous, driver.isolation_level = driver.isolation_level, None  # autocommit
        try:
            self.execute(values)
        finally:
            driver.isolation_level = previous
