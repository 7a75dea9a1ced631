"""manage.py commands: create-admin, seed, demo, and a clear error for a bad database."""

import subprocess
import sys

from sqlalchemy import func
from sqlalchemy import select

from dashboard import passwords
from dashboard.extensions import db
from dashboard.models import AuditEntry
from dashboard.models import User
from tests.support.server import ROOT

GOOD = "a sound passphrase"


def _users(app) -> list[User]:
    with app.app_context():
        return db.session.scalars(select(User).order_by(User.id)).all()


def test_create_admin_from_stdin(app, runner):
    result = runner.invoke(
        args=["create-admin", "Alice", "--email", "Alice@Example.com", "--password-stdin"], input=GOOD + "\n"
    )
    assert result.exit_code == 0, result.output
    [alice] = _users(app)
    assert (alice.username, alice.email, alice.role, alice.is_active) == (
        "alice",
        "alice@example.com",
        "admin",
        True,
    )
    assert alice.password_hash.startswith("$argon2id$")
    assert passwords.verify_password(alice.password_hash, GOOD)
    with app.app_context():
        assert (
            db.session.scalar(select(AuditEntry.action).where(AuditEntry.target_id == alice.id)) == "create"
        )


def test_create_admin_asks_twice_and_refuses_a_mismatch(app, runner, monkeypatch):
    answers = iter([GOOD, GOOD + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    result = runner.invoke(args=["create-admin", "alice", "--email", "a@example.com"])
    assert result.exit_code != 0
    assert "do not match" in result.output
    assert _users(app) == []


def test_create_admin_refuses_short_and_common_passwords(app, runner):
    for password, message in (("short", "at least 12"), ("password1234", "too common")):
        result = runner.invoke(
            args=["create-admin", "alice", "--email", "a@example.com", "--password-stdin"],
            input=password + "\n",
        )
        assert result.exit_code != 0
        assert message in result.output
    assert _users(app) == []


def test_create_admin_refuses_taken_username_or_email(app, runner, make_user):
    make_user("admin", username="alice", email="alice@example.com")
    for username, email, field in (
        ("ALICE", "new@example.com", "username"),
        ("bob", "Alice@Example.com", "email"),
    ):
        result = runner.invoke(
            args=["create-admin", username, "--email", email, "--password-stdin"], input=GOOD + "\n"
        )
        assert result.exit_code != 0
        assert f"That {field} is already taken" in result.output
    assert [u.username for u in _users(app)] == ["alice"]


def test_create_admin_refuses_an_invalid_email(app, runner):
    result = runner.invoke(
        args=["create-admin", "alice", "--email", "not-an-email", "--password-stdin"], input=GOOD + "\n"
    )
    assert result.exit_code != 0
    assert "Invalid email" in result.output
    assert _users(app) == []


def test_seed_is_deterministic_and_realistic(app, runner):
    result = runner.invoke(args=["seed", "--users", "500"])
    assert result.exit_code == 0, result.output
    assert "Seeded 500 users" in result.output
    rows = [(u.username, u.email, u.full_name, u.role, u.is_active) for u in _users(app)]
    assert len(rows) == 500
    assert len({r[0] for r in rows}) == 500
    assert {r[3] for r in rows} == {"admin", "editor", "viewer", "member"}
    assert all(u.password_hash is None for u in _users(app))
    # The same seed on another database gives the same rows.
    from dashboard import seed

    again = [row[:5] for row in seed.generate(1, 500)]
    assert [(a, b, c, d, e) for a, b, c, d, e in again] == rows


def test_seed_refuses_a_non_empty_database_unless_adding(app, runner, make_user):
    make_user("admin", username="root")
    refused = runner.invoke(args=["seed", "--users", "10"])
    assert refused.exit_code != 0
    assert "pass --add" in refused.output
    assert len(_users(app)) == 1
    added = runner.invoke(args=["seed", "--users", "10", "--add"])
    assert added.exit_code == 0, added.output
    again = runner.invoke(args=["seed", "--users", "10", "--add"])
    assert again.exit_code == 0, again.output
    names = [u.username for u in _users(app)]
    assert len(names) == 21 == len(set(names))


def test_seed_never_duplicates_a_username_that_a_person_took(app, runner, make_user):
    from dashboard import seed

    clash = next(seed.generate(2, 1))[0]  # the name seeding would give row 2
    make_user("member", username=clash, email="someone@example.com")
    result = runner.invoke(args=["seed", "--users", "5", "--add"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(User.username == clash)) == 1


def test_demo_creates_an_admin_once_and_prints_its_password(app, runner):
    first = runner.invoke(args=["demo", "--users", "50"])
    assert first.exit_code == 0, first.output
    password = first.output.split("password:")[1].split()[0]
    admin = _users(app)[0]
    assert admin.role == "admin" and passwords.verify_password(admin.password_hash, password)
    assert len(_users(app)) == 51
    second = runner.invoke(args=["demo", "--users", "50"])
    assert second.exit_code == 0 and "password:" not in second.output
    assert len(_users(app)) == 51


def test_unopenable_database_is_one_clear_line(tmp_path):
    env = {
        "DATABASE_URL": "postgresql+psycopg://alice:hunter2secret@127.0.0.1:1/nowhere",
        "DASHBOARD_INSTANCE_PATH": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "seed", "--users", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "cannot open the database postgresql+psycopg://alice:***@127.0.0.1:1/nowhere" in lines[0]
    assert "hunter2secret" not in result.stderr


def test_missing_sqlite_folder_is_one_clear_line(tmp_path):
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/no/such/dir/db.sqlite",
        "DASHBOARD_INSTANCE_PATH": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "cannot open the database sqlite:///" in result.stderr
