"""Start-up checks: refuse to serve, with one clear line, when the database cannot be used.

The check opens its own short-lived connection (never the app's pool), so nothing stays
connected before gunicorn forks its workers.
"""

import sqlite3
from pathlib import Path
from urllib.parse import quote

from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import create_engine
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import NoSuchTableError
from sqlalchemy.pool import NullPool

SQLITE_HEADER = b"SQLite format 3\x00"
UPGRADE_HINT = "run `python manage.py db upgrade`"


def expected_revisions(app: Flask) -> set[str]:
    """The head revision(s) of the migrations this code ships with."""
    migrations = app.extensions["migrate"].directory
    return set(ScriptDirectory(migrations).get_heads())


def _sqlite_revisions(path: Path) -> set[str]:
    """The revisions stamped in a SQLite file, opened read-only so that nothing is created."""
    connection = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=5)
    try:
        rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.OperationalError as error:
        if "no such table" in str(error):
            raise NoSuchTableError("alembic_version") from None
        if getattr(error, "sqlite_errorname", "") == "SQLITE_READONLY_DIRECTORY":
            raise sqlite3.OperationalError(
                f"the folder {path.parent} is read-only and SQLite must create its -wal and -shm files there"
            ) from None
        raise
    finally:
        connection.close()
    return {row[0] for row in rows}


def _sqlite_problem(path: Path) -> str | None:
    """Why this SQLite file cannot be served, or None (checks the file before SQLite sees it)."""
    if not path.exists():
        return f"the database file {path} does not exist; {UPGRADE_HINT} to create it"
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as error:
        return f"the database file {path} cannot be read: {error.strerror}"
    if header and header != SQLITE_HEADER:
        return f"the file {path} is not a SQLite database"
    return None


def _server_revisions(url: URL) -> set[str]:
    """The revisions stamped in a server database (PostgreSQL), over a throwaway connection."""
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            if not engine.dialect.has_table(connection, "alembic_version"):
                raise NoSuchTableError("alembic_version")
            return set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()


def database_problem(app: Flask) -> str | None:
    """Why the configured database cannot be served, in one line naming it; None when it can."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    shown = url.render_as_string(hide_password=True)
    try:
        if url.get_backend_name() == "sqlite":
            if not url.database or url.database == ":memory:":
                return None
            problem = _sqlite_problem(Path(url.database))
            if problem:
                return f"cannot open the database {shown}: {problem}"
            found = _sqlite_revisions(Path(url.database))
        else:
            found = _server_revisions(url)
    except NoSuchTableError:
        return f"the database {shown} has no tables; {UPGRADE_HINT}"
    except (DBAPIError, sqlite3.Error) as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        return f"cannot open the database {shown}: {reason}"
    expected = expected_revisions(app)
    if found != expected:
        return (
            f"the database {shown} is at revision {', '.join(sorted(found)) or '(none)'} but this code "
            f"expects {', '.join(sorted(expected))}; {UPGRADE_HINT}"
        )
    return None
