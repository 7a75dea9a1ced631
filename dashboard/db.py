"""Engine set-up: SQLite pragmas and explicit transactions, PostgreSQL as it comes."""

from flask import Flask
from flask import has_request_context
from flask import request
from sqlalchemy import event
from sqlalchemy.engine import Engine

from .extensions import db

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def begin_statement() -> str:
    """BEGIN IMMEDIATE for anything that may write; a plain BEGIN for read-only requests.

    A deferred transaction that later writes fails at once with "database is locked" when
    another connection holds the write lock, whatever busy_timeout says; IMMEDIATE takes the
    lock at the start and so waits its turn. CLI commands and scripts count as writers.
    """
    if has_request_context() and request.method in SAFE_METHODS:
        return "BEGIN"
    return "BEGIN IMMEDIATE"


def configure_sqlite(engine: Engine, busy_timeout_ms: int, cache_kib: int = 2000) -> None:
    """Install the pragmas and transaction handling on every new SQLite connection.

    `cache_kib` sizes each connection's page cache: big enough that the search index and the
    pages a list request touches stay in memory rather than being read from the OS each time.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Take transaction control away from pysqlite so the begin event below decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql(begin_statement())


def configure_postgresql(engine: Engine, lock_timeout_ms: int) -> None:
    """Bound how long a statement waits for a row lock, as busy_timeout does on SQLite.

    Without it a request queued behind a lock held elsewhere waits for ever; with it the wait
    ends in lock_not_available, which answers 503 with Retry-After.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.execute(f"SET lock_timeout = {int(lock_timeout_ms)}")
        dbapi_connection.commit()


def init_engine(app: Flask) -> None:
    """Configure the engine lazily: nothing connects until the first query (after any fork)."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine, app.config["DB_LOCK_TIMEOUT_MS"], app.config["SQLITE_CACHE_KIB"])
    elif engine.dialect.name == "postgresql":
        configure_postgresql(engine, app.config["DB_LOCK_TIMEOUT_MS"])
