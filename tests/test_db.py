"""Engine set-up: SQLite pragmas, transaction modes, and no connection before serving."""

import sqlite3

import pytest
from sqlalchemy import event
from sqlalchemy import text

from dashboard.extensions import db
from tests.conftest import build_app
from tests.conftest import migrate_to_head


@pytest.fixture
def sqlite_app(tmp_path):
    """An app on a migrated SQLite file (these tests are about SQLite itself)."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate_to_head(url, str(tmp_path / "instance"))
    app = build_app(url, str(tmp_path / "instance"))
    yield app
    with app.app_context():
        db.engine.dispose()


def test_every_sqlite_connection_gets_the_pragmas(sqlite_app):
    with sqlite_app.app_context():
        for _ in range(2):  # two distinct pooled connections
            with db.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def _begins(app, method: str) -> list[str]:
    """The BEGIN statements issued while handling one request of this method."""
    seen: list[str] = []

    def capture(conn, cursor, statement, *args):
        if statement.startswith("BEGIN"):
            seen.append(statement)

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", capture)
        try:
            with app.test_request_context("/", method=method):
                db.session.execute(text("SELECT 1"))
                db.session.rollback()
        finally:
            event.remove(db.engine, "before_cursor_execute", capture)
    return seen


def test_reads_begin_deferred_and_writes_begin_immediate(sqlite_app):
    assert _begins(sqlite_app, "GET") == ["BEGIN"]
    assert _begins(sqlite_app, "POST") == ["BEGIN IMMEDIATE"]
    assert _begins(sqlite_app, "DELETE") == ["BEGIN IMMEDIATE"]


def test_write_transaction_takes_the_lock_at_begin(sqlite_app, tmp_path):
    """A POST's transaction holds the write lock from its start, so a rival writer waits."""
    with sqlite_app.app_context(), sqlite_app.test_request_context("/", method="POST"):
        db.session.execute(text("SELECT 1"))  # only reads so far
        rival = sqlite3.connect(tmp_path / "db.sqlite", timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            rival.execute("BEGIN IMMEDIATE")
        rival.close()
        db.session.rollback()


def test_creating_the_app_opens_no_connection(tmp_path):
    """Nothing connects before gunicorn forks: the pool is empty after create_app."""
    app = build_app(f"sqlite:///{tmp_path / 'never.db'}", str(tmp_path / "instance"))
    with app.app_context():
        assert db.engine.pool.checkedin() == 0
    assert not (tmp_path / "never.db").exists()


def test_foreign_keys_are_enforced(app, make_user):
    """On both backends, an audit entry cannot name an actor that does not exist."""
    from sqlalchemy.exc import IntegrityError

    from dashboard.models import AuditEntry

    with app.app_context():
        db.session.add(AuditEntry(action="x", actor_id=999_999, changes={}))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
