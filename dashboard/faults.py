"""Fault injection for tests; inert unless the test configuration (TESTING_CRASH_POINTS) enables it.

Crash points: a test sets DASHBOARD_CRASH_POINT to a point's name (e.g.
"user_update.before_commit") and the server process dies there with os._exit, as a killed worker
would: no cleanup, no response. With DASHBOARD_CRASH_ONCE_FLAG set to a file path as well, the
point fires only while that file exists and removes it as it fires, so the test can go on to
show that the next write succeeds on the same server.

Database full: a test sets DASHBOARD_DB_FULL_FLAG to a file path; while that file exists, every
SQLite connection handed out is capped at its current size with PRAGMA max_page_count, so any
write that needs a new page fails with SQLITE_FULL, exactly as on a full disk. Removing the
file clears the fault.
"""

import os

from flask import Flask
from flask import current_app
from sqlalchemy import event

from .extensions import db

# SQLite clamps max_page_count to at least the current page count, so 1 means "no growth".
NO_GROWTH = 1
UNLIMITED = 4_294_967_294


def crash_point(name: str) -> None:
    """Die here if the test configuration enables crash points and this one is armed."""
    if not current_app.config.get("TESTING_CRASH_POINTS"):
        return
    if os.environ.get("DASHBOARD_CRASH_POINT") != name:
        return
    once = os.environ.get("DASHBOARD_CRASH_ONCE_FLAG")
    if once:
        try:
            os.remove(once)
        except FileNotFoundError:
            return  # already fired
    os._exit(70)


def install(app: Flask) -> None:
    """Install the database-full hook when the test configuration allows faults and one is asked."""
    flag = os.environ.get("DASHBOARD_DB_FULL_FLAG")
    if not app.config.get("TESTING_CRASH_POINTS") or not flag:
        return
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "checkout")
    def _cap_size(dbapi_connection, _record, _proxy):
        limit = NO_GROWTH if os.path.exists(flag) else UNLIMITED
        dbapi_connection.execute(f"PRAGMA max_page_count = {limit}")
