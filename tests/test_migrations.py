"""Migrations build the whole schema on each backend, round-trip, and match the models."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade
from flask_migrate import upgrade
from sqlalchemy import inspect

from dashboard.extensions import db
from dashboard.search import include_name

TABLES = {"users", "audit_entries", "login_failures"}


def _tables(app) -> set[str]:
    with app.app_context():
        return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_upgrade_downgrade_upgrade_round_trips(app):
    assert _tables(app) >= TABLES
    with app.app_context():
        downgrade(revision="base")
        db.engine.dispose()
    assert not (_tables(app) & TABLES)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    assert _tables(app) >= TABLES


def test_models_and_migrations_agree(app):
    """No pending autogenerate diff: the migrations build exactly what the models declare."""
    with app.app_context(), db.engine.connect() as connection:
        # The search index (FTS5 table, pg_trgm indexes) is deliberately outside the metadata.
        opts = {"compare_type": True, "include_name": include_name}
        context = MigrationContext.configure(connection, opts=opts)
        differences = compare_metadata(context, db.metadata)
    assert differences == []
