"""Database specifics: SQLite's connection settings, and writes that commit as they run."""
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


def execute_alone(statement, values: dict) -> None:
    """Run a write that is the whole of its transaction; on SQLite it commits inside the one driver call.

    SQLite has one write lock for the whole database. In a transaction it is held from the
    first write until COMMIT, and between those two driver calls the thread must get the
    interpreter lock back, which under load takes up to a switch interval; every writer in
    every process waits meanwhile, and SQLite's busy handler sleeps 1 ms or more per retry.
    In autocommit mode the lock is held only while SQLite runs the statement. When the session
    already holds other changes, the statement simply joins their transaction. Either way the
    caller still commits (on SQLite, after a lone write, that commit has nothing left to do).
    """
    connection = db.session.connection()
    driver = connection.connection.driver_connection
    session = db.session
    if (connection.dialect.name != "sqlite" or driver.in_transaction
            or session.new or session.dirty or session.deleted):
        connection.execute(statement, values)  # PostgreSQL writers do not queue behind one lock
        return
    previous, driver.isolation_level = driver.isolation_level, None  # autocommit
    try:
        connection.execute(statement, values)
    finally:
        driver.isolation_level = previous
