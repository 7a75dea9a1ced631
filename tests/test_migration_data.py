"""Migrations keep the data: every row survives an upgrade, and downgrade-then-upgrade round-trips.

The database is populated with awkward but valid values (unicode of several scripts, quotes,
NULLs, JSON audit changes) and compared row by row, every column, after each step.
"""

from datetime import datetime

import pytest
from alembic.script import ScriptDirectory
from flask_migrate import downgrade
from flask_migrate import upgrade
from sqlalchemy import select
from sqlalchemy import text

from dashboard import search
from dashboard.extensions import db
from dashboard.models import User
from tests.support.server import ROOT
from tests.support.snapshot import snapshot

TABLES = ("users", "audit_entries", "login_failures")
NAMES = [
    "Zoë O'Brien-Łukasiewicz",
    "李小龍",
    'Ωmega "Quoted" Person',
    "Ahmad عبد الله",
    "Emoji 🙂 Fan",
    "Plain Person",
]


def revisions() -> list[str]:
    """Revision ids from the first to the head."""
    script = ScriptDirectory(str(ROOT / "migrations"))
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


# Step down to each revision below the head (to the first one while there is only one).
DOWN_TO = revisions()[:-1] or revisions()


def populate(app, count: int = 60) -> None:
    """Users with varied values, their audit entries and some login failures, via raw SQL.

    Raw SQL with only the first revision's columns, so it can run at any revision.
    """
    with app.app_context():
        for number in range(count):
            name = f"{NAMES[number % len(NAMES)]} {number}"
            db.session.execute(
                text(
                    "INSERT INTO users (username, email, full_name, role, is_active, password_hash,"
                    " session_token, created_at, updated_at, last_login_at, password_changed_at, version)"
                    " VALUES (:u, :e, :n, :r, :a, :p, :t, :c, :c, :l, NULL, :v)"
                ),
                {
                    "u": f"user{number:03d}",
                    "e": f"user{number:03d}@example.org",
                    "n": name,
                    "r": ("admin", "editor", "viewer", "member")[number % 4],
                    "a": number % 3 != 0,
                    "p": None if number % 2 else "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
                    "t": f"token{number}",
                    "c": datetime(2025, 1 + number % 12, 1 + number % 28, 12, number % 60),
                    "l": None if number % 5 == 0 else datetime(2026, 2, 1 + number % 28),
                    "v": 1 + number % 7,
                },
            )
            db.session.execute(
                text(
                    "INSERT INTO audit_entries (at, actor_id, actor_name, action, target_type, target_id,"
                    " changes, client_addr)"
                    " VALUES (:at, NULL, 'seed', 'update', 'user', :id, :c, '127.0.0.1')"
                ),
                {
                    "at": datetime(2026, 3, 1, 0, number),
                    "id": number + 1,
                    "c": f'{{"full_name": {{"after": "{number}"}}}}',
                },
            )
        for number in range(5):
            db.session.execute(
                text("INSERT INTO login_failures (key, at) VALUES (:k, :at)"),
                {"k": f"user:someone{number}", "at": datetime(2026, 4, 1, 0, number)},
            )
        db.session.commit()


def migrate(app, action, revision: str) -> None:
    with app.app_context():
        action(revision=revision)
        db.session.remove()
        db.engine.dispose()


def found_by_search(app, q: str) -> list[str]:
    with app.app_context():
        clause = search.match_clause(q)
        return sorted(db.session.scalars(select(User.username).where(clause)))


def test_upgrade_from_the_first_revision_keeps_every_row(app):
    history = revisions()
    migrate(app, downgrade, "base")
    migrate(app, upgrade, history[0])
    populate(app)
    before = snapshot(app, TABLES)
    migrate(app, upgrade, "head")
    after = snapshot(app, TABLES)
    for table in TABLES:
        assert len(after[table]) == len(before[table]) > 0
        # Later revisions may add columns; the first revision's columns keep their values.
        assert [row[: len(before[table][0])] for row in after[table]] == before[table], table
    assert found_by_search(app, "brien") == [f"user{n:03d}" for n in range(0, 60, 6)]


@pytest.mark.parametrize("revision", DOWN_TO)
def test_downgrade_then_upgrade_round_trips_the_data(app, revision):
    """Step down to an older revision and back up to the head: every row, every column, unchanged."""
    populate(app)
    before = snapshot(app, TABLES)
    migrate(app, downgrade, revision)
    migrate(app, upgrade, "head")
    assert snapshot(app, TABLES) == before
    assert found_by_search(app, "李小龍") == [f"user{n:03d}" for n in range(1, 60, 6)]
