"""covering sort indexes on PostgreSQL: every sort column's index carries the id

A deep page (OFFSET) first looks up its ids through the sort column's index (a deferred join).
On SQLite every index already ends with the rowid, so that lookup never leaves the index; on
PostgreSQL an index without the id sends it to the table for every skipped entry (500,000 of
them for the middle page of a million users). These indexes make it an Index Only Scan (once
VACUUM has set the visibility map), and give keyset paging its (column, id) seek.
role and is_active already have (column, id) indexes on both backends (0003).

These indexes live outside the SQLAlchemy metadata (they exist on PostgreSQL only):
migrations/env.py and the model/migration comparison skip them through
dashboard.search.include_name (dashboard.paging.POSTGRESQL_SORT_INDEXES).

Revision ID: 0004_covering_sort_indexes
Revises: 0003_sort_indexes
Create Date: 2026-11-25 18:20:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0004_covering_sort_indexes'
down_revision = '0003_sort_indexes'
branch_labels = None
depends_on = None

# name -> columns; the same as dashboard.paging.POSTGRESQL_SORT_INDEXES (a migration is history:
# it keeps its own copy).
INDEXES = {
    "ix_users_username_id": "(username) INCLUDE (id)",
    "ix_users_email_id": "(email) INCLUDE (id)",
    "ix_users_full_name_id": "(full_name, id)",
    "ix_users_created_at_id": "(created_at, id)",
    "ix_users_last_login_at_id": "(last_login_at, id)",
}


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, columns in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON users {columns}")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in reversed(INDEXES):
        op.execute(f"DROP INDEX IF EXISTS {name}")
