"""Storage faults against a real gunicorn: 503 with a clear message, nothing lost, self-recovery.

The write these tests use is the one every deployment has: signing in, which stores the
sign-in time and an audit entry and answers 302 only after both are committed. Each test
counts the acknowledged sign-ins and checks that the database holds every one of them.
"""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.conftest import PASSWORD
from tests.conftest import admin_engine
from tests.support.load import HttpClient
from tests.support.server import ROOT
from tests.support.server import gunicorn

pytestmark = pytest.mark.server

# Root ignores file modes; without these capabilities a root process obeys them like anyone.
DROP_FILE_PRIVILEGES = (
    "setpriv",
    "--bounding-set",
    "-dac_override,-dac_read_search,-fowner",
    "--inh-caps=-all",
    "--",
)
BOUNDED_RETRIES = 12  # writes a client may need after a fault clears (one per stale connection)


def sign_in(base_url: str, username: str) -> tuple[int, dict, str]:
    """Sign in through a fresh client; returns the login POST's (status, headers, body)."""
    client = HttpClient(base_url)
    try:
        _, _, page = client.get("/login")
        from tests.support.load import csrf_token_in

        token = csrf_token_in(page)
        return client.post("/login", {"username": username, "password": PASSWORD, "csrf_token": token})
    finally:
        client.close()


def acknowledged_logins(database_url: str, username: str) -> int:
    """How many sign-ins of this user the database recorded."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(
                text(
                    "SELECT count(*) FROM audit_entries a JOIN users u ON u.id = a.target_id "
                    "WHERE a.action = 'login' AND u.username = :name"
                ),
                {"name": username},
            ).scalar_one()
    finally:
        engine.dispose()


def assert_storage_fault(status: int, headers: dict, body: str, kind: str, words: str) -> None:
    """A 503 that names the fault, says when to retry, and shows no stack trace."""
    assert status == 503, body[:500]
    assert headers.get("x-storage-fault") == kind, headers
    assert int(headers["retry-after"]) > 0
    assert words in body
    assert "Traceback" not in body and "sqlalchemy" not in body.lower()


def write_until_recovered(base_url: str, username: str) -> tuple[int, list[int]]:
    """Retry a write, as a client honouring Retry-After would, until it is acknowledged."""
    seen = []
    for _ in range(BOUNDED_RETRIES):
        status, _, _ = sign_in(base_url, username)
        seen.append(status)
        if status == 302:
            return status, seen
        assert status == 503, seen
    return seen[-1], seen


def sqlite_path(database_url: str) -> Path:
    return Path(make_url(database_url).database)


# --- database full -------------------------------------------------------------------------


def test_database_full_answers_503_and_recovers(backend, database_url, make_user, tmp_path):
    if backend != "sqlite":
        pytest.skip("max_page_count is SQLite's; PostgreSQL disk-full is classified in test_faults_kinds")
    from tests.test_faults_crash import save
    from tests.test_faults_crash import stored

    admin = make_user("admin")
    target = make_user("member")
    flag = tmp_path / "db-full"
    env = {"DASHBOARD_DB_FULL_FLAG": str(flag)}
    with gunicorn(database_url, str(tmp_path / "instance"), extra_env=env) as (base, process):
        client = HttpClient(base)
        assert client.login(admin.username, PASSWORD) == 302
        flag.touch()
        acknowledged = []
        full = None
        for number in range(200):  # each edit adds an audit row; the file stops growing within a page
            name = f"Edit {number:03d} " + "x" * 100
            status, headers, body = save(client, target.id, name)
            if status == 200:
                acknowledged.append(name)
                continue
            full = (status, headers, body)
            break
        assert full is not None, "the database never filled up"
        assert_storage_fault(*full, "full", "The database is full")
        assert acknowledged, "no edit fitted before the database was full"
        assert stored(database_url, target.id)[0::2] == (acknowledged[-1], len(acknowledged))
        flag.unlink()
        assert save(client, target.id, "After The Fault")[0] == 200
        client.close()
        assert process.poll() is None
    assert stored(database_url, target.id)[0::2] == ("After The Fault", len(acknowledged) + 1)


# --- read-only database ----------------------------------------------------------------------


def test_read_only_database_answers_503_then_recovers(backend, database_url, make_user, tmp_path):
    if backend != "sqlite":
        pytest.skip("file modes are SQLite's; PostgreSQL read-only is its own test below")
    user = make_user("admin")
    path = sqlite_path(database_url)
    instance = str(tmp_path / "instance")
    with gunicorn(database_url, instance, prefix=DROP_FILE_PRIVILEGES) as (base, _):
        assert sign_in(base, user.username)[0] == 302  # acknowledged before the fault
    target = path
    mode = target.stat().st_mode
    target.chmod(0o444)
    try:
        with gunicorn(database_url, instance, prefix=DROP_FILE_PRIVILEGES) as (base, process):
            client = HttpClient(base)
            assert client.get("/login")[0] == 200  # reading still works
            client.close()
            assert_storage_fault(*sign_in(base, user.username), "read-only", "read-only")
            assert process.poll() is None
            target.chmod(mode)
            status, seen = write_until_recovered(base, user.username)
            assert status == 302, seen
    finally:
        target.chmod(mode)
    assert acknowledged_logins(database_url, user.username) == 2


# --- a lock held elsewhere -------------------------------------------------------------------


def test_lock_held_longer_than_the_timeout_answers_503(backend, database_url, make_user, tmp_path):
    user = make_user("admin")
    env = {"DB_LOCK_TIMEOUT_MS": "300"}
    with gunicorn(database_url, str(tmp_path / "instance"), extra_env=env) as (base, process):
        assert sign_in(base, user.username)[0] == 302
        if backend == "sqlite":
            holder = sqlite3.connect(sqlite_path(database_url), isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
        else:
            engine = create_engine(database_url, poolclass=NullPool)
            holder = engine.connect()
            holder.execute(text("SELECT id FROM users WHERE id = :id FOR UPDATE"), {"id": user.id})
        try:
            assert_storage_fault(*sign_in(base, user.username), "busy", "busy with another change")
        finally:
            holder.rollback()
            holder.close()
            if backend != "sqlite":
                engine.dispose()
        assert sign_in(base, user.username)[0] == 302
        assert process.poll() is None
    assert acknowledged_logins(database_url, user.username) == 2


# --- PostgreSQL: read-only and unreachable ---------------------------------------------------


def _pg_admin(request, database_url):
    base = request.getfixturevalue("postgres_base_url")
    return admin_engine(base), make_url(database_url).database


def _terminate_sessions(engine, name: str) -> None:
    with engine.connect() as connection:
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = :n AND pid <> pg_backend_pid()"
            ),
            {"n": name},
        )


def test_postgresql_read_only_answers_503_then_recovers(backend, database_url, make_user, tmp_path, request):
    if backend != "postgresql":
        pytest.skip("default_transaction_read_only is PostgreSQL's; SQLite read-only is tested above")
    user = make_user("admin")
    engine, name = _pg_admin(request, database_url)
    with gunicorn(database_url, str(tmp_path / "instance"), workers=1) as (base, process):
        assert sign_in(base, user.username)[0] == 302
        with engine.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        _terminate_sessions(engine, name)  # as a failover to a standby would
        statuses = []
        for _ in range(3):
            status, headers, body = sign_in(base, user.username)
            statuses.append(status)
            if headers.get("x-storage-fault") == "read-only":
                assert_storage_fault(status, headers, body, "read-only", "read-only")
                break
        else:
            raise AssertionError(f"never reported read-only: {statuses}")
        with engine.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = off'))
        status, seen = write_until_recovered(base, user.username)
        assert status == 302, seen
        assert process.poll() is None
    engine.dispose()
    assert acknowledged_logins(database_url, user.username) == 2


def test_postgresql_unreachable_answers_503_then_recovers(
    backend, database_url, make_user, tmp_path, request
):
    if backend != "postgresql":
        pytest.skip("a database that refuses connections is PostgreSQL's case")
    user = make_user("admin")
    engine, name = _pg_admin(request, database_url)
    with gunicorn(database_url, str(tmp_path / "instance"), workers=1) as (base, process):
        assert sign_in(base, user.username)[0] == 302
        with engine.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
        _terminate_sessions(engine, name)
        try:
            for _ in range(2):  # the first sees its connection die, the second cannot connect
                assert_storage_fault(*sign_in(base, user.username), "unreachable", "cannot be reached")
            assert process.poll() is None
        finally:
            with engine.connect() as connection:
                connection.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
        status, seen = write_until_recovered(base, user.username)
        assert status == 302, seen
    engine.dispose()
    assert acknowledged_logins(database_url, user.username) == 2


# --- a database that cannot be served at start ----------------------------------------------


def start_gunicorn(
    database_url: str, instance: str, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """Start gunicorn and wait for it to give up (it must, within the timeout)."""
    env = {
        **os.environ,
        "DASHBOARD_ENV": "testing",
        "DATABASE_URL": database_url,
        "DASHBOARD_INSTANCE_PATH": instance,
    }
    command = [*prefix, sys.executable, "-m", "gunicorn", "dashboard.wsgi:app", "--bind", "127.0.0.1:0"]
    return subprocess.run(
        [*command, "--workers", "2", "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_clear_start_error(finished: subprocess.CompletedProcess, names: str, says: str) -> None:
    assert finished.returncode != 0
    assert "Traceback" not in finished.stderr, finished.stderr
    assert "the dashboard cannot start" in finished.stderr
    assert names in finished.stderr and says in finished.stderr, finished.stderr


@pytest.mark.parametrize(
    "problem", ["missing", "not-a-database", "unreadable", "read-only-folder", "no-tables"]
)
def test_sqlite_database_that_cannot_be_served_stops_the_start(tmp_path, problem):
    path = tmp_path / "data" / "dashboard.db"
    path.parent.mkdir()
    prefix: tuple[str, ...] = ()
    says = {
        "missing": "does not exist",
        "not-a-database": "is not a SQLite database",
        "unreadable": "cannot be read",
        "read-only-folder": "is read-only and SQLite must create its -wal and -shm files there",
        "no-tables": "has no tables",
    }[problem]
    if problem == "not-a-database":
        path.write_bytes(b"this is not a database at all" * 10)
    elif problem == "unreadable":
        sqlite3.connect(path).close()
        path.write_bytes(b"SQLite format 3\x00" + bytes(4080))
        path.chmod(0o000)
        prefix = DROP_FILE_PRIVILEGES
    elif problem == "read-only-folder":
        connection = sqlite3.connect(path)
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        connection.close()
        path.parent.chmod(0o555)
        prefix = DROP_FILE_PRIVILEGES
    elif problem == "no-tables":
        connection = sqlite3.connect(path)
        connection.execute("CREATE TABLE unrelated (x)")
        connection.close()
    try:
        finished = start_gunicorn(f"sqlite:///{path}", str(tmp_path / "instance"), prefix)
    finally:
        path.parent.chmod(0o755)
    assert_clear_start_error(finished, str(path), says)
    if problem == "missing":
        assert not path.exists()  # the check must not create an empty database


@pytest.mark.parametrize("problem", ["refused", "no-such-database"])
def test_postgresql_database_that_cannot_be_served_stops_the_start(backend, tmp_path, problem, request):
    if backend != "postgresql":
        pytest.skip("PostgreSQL start-up checks run with the PostgreSQL backend")
    if problem == "refused":
        from tests.support.ports import free_port

        url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/dashboard"
        says = "Connection refused"
    else:
        url = f"{request.getfixturevalue('postgres_base_url')}/no_such_database"
        says = "does not exist"
    finished = start_gunicorn(url, str(tmp_path / "instance"))
    assert_clear_start_error(finished, url.split("@")[1], says)


def test_database_behind_the_code_stops_the_start(tmp_path):
    """A database left at an older revision is refused until it is upgraded."""
    path = tmp_path / "old.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
    connection.execute("INSERT INTO alembic_version VALUES ('0000_older')")
    connection.commit()
    connection.close()
    finished = start_gunicorn(f"sqlite:///{path}", str(tmp_path / "instance"))
    assert_clear_start_error(finished, str(path), "is at revision 0000_older")


def test_manage_run_refuses_a_missing_database(tmp_path):
    path = tmp_path / "absent.db"
    env = {
        **os.environ,
        "DASHBOARD_ENV": "testing",
        "DATABASE_URL": f"sqlite:///{path}",
        "DASHBOARD_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    finished = subprocess.run(
        [sys.executable, "manage.py", "run", "--port", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_clear_start_error(finished, str(path), "does not exist")
    assert not path.exists()
