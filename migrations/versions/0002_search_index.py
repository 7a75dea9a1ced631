"""search index: FTS5 trigram on SQLite, pg_trgm GIN indexes on PostgreSQL

Substring search over username, email and full name goes through an index on each backend.
SQLite: an external-content FTS5 table with the trigram tokenizer, kept in step by triggers
(the update trigger fires only when a searched column changes). PostgreSQL: GIN trigram indexes
on lower(column), the exact expressions dashboard.search filters on.

These objects live outside the SQLAlchemy metadata; migrations/env.py and the model/migration
comparison skip them through dashboard.search.include_name.

Revision ID: 0002_search_index
Revises: 0001_initial
Create Date: 2026-11-25 15:25:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0002_search_index'
down_revision = '0001_initial'
branch_labels = None
depends_on = None

SQLITE_UPGRADE = (
    "CREATE VIRTUAL TABLE users_fts USING fts5("
    "username, email, full_name, content='users', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER users_fts_insert AFTER INSERT ON users BEGIN "
    "INSERT INTO users_fts(rowid, username, email, full_name) "
    "VALUES (new.id, new.username, new.email, new.full_name); END",
    "CREATE TRIGGER users_fts_delete AFTER DELETE ON users BEGIN "
    "INSERT INTO users_fts(users_fts, rowid, username, email, full_name) "
    "VALUES ('delete', old.id, old.username, old.email, old.full_name); END",
    "CREATE TRIGGER users_fts_update AFTER UPDATE OF id, username, email, full_name ON users BEGIN "
    "INSERT INTO users_fts(users_fts, rowid, username, email, full_name) "
    "VALUES ('delete', old.id, old.username, old.email, old.full_name); "
    "INSERT INTO users_fts(rowid, username, email, full_name) "
    "VALUES (new.id, new.username, new.email, new.full_name); END",
    "INSERT INTO users_fts(users_fts) VALUES ('rebuild')",
)
SQLITE_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS users_fts_update",
    "DROP TRIGGER IF EXISTS users_fts_delete",
    "DROP TRIGGER IF EXISTS users_fts_insert",
    "DROP TABLE IF EXISTS users_fts",
)
POSTGRESQL_UPGRADE = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_users_username_trgm ON users USING gin (lower(username) gin_trgm_ops)",
    "CREATE INDEX ix_users_email_trgm ON users USING gin (lower(email) gin_trgm_ops)",
    "CREATE INDEX ix_users_full_name_trgm ON users USING gin (lower(full_name) gin_trgm_ops)",
)
POSTGRESQL_DOWNGRADE = (
    "DROP INDEX IF EXISTS ix_users_full_name_trgm",
    "DROP INDEX IF EXISTS ix_users_email_trgm",
    "DROP INDEX IF EXISTS ix_users_username_trgm",
)


def _run(statements):
    for statement in statements:
        op.execute(statement)


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _run(SQLITE_UPGRADE)
    elif dialect == "postgresql":
        _run(POSTGRESQL_UPGRADE)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _run(SQLITE_DOWNGRADE)
    elif dialect == "postgresql":
        _run(POSTGRESQL_DOWNGRADE)
