"""sort indexes: role and active, each with id as the tiebreak the list orders by

Every sortable column can then be read in (column, id) order straight from an index: the
list's ORDER BY column, id with LIMIT stops after one page instead of sorting a million rows.

Revision ID: 0003_sort_indexes
Revises: 0002_search_index
Create Date: 2026-11-25 15:45:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0003_sort_indexes'
down_revision = '0002_search_index'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index('ix_users_role_id', ['role', 'id'], unique=False)
        batch_op.create_index('ix_users_is_active_id', ['is_active', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_is_active_id')
        batch_op.drop_index('ix_users_role_id')
