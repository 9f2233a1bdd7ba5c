"""account hierarchies: a parent per account, the roll-up read model and its stale marks

Revision ID: 0005_hierarchy
Revises: 0001
Create Date: 2026-12-01 10:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from billgraph.db.citus import distribute

revision: str = '0005_hierarchy'
down_revision: str | None = '0004_webhooks'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('accounts', sa.Column('parent_account_id', sa.UUID(), nullable=True))
    # composite: a parent is always in the account's own tenant
    op.create_foreign_key('accounts_parent_account_id_fkey', 'accounts', 'accounts',
                          ['tenant_id', 'parent_account_id'], ['tenant_id', 'id'])
    op.create_index('accounts_parent', 'accounts', ['tenant_id', 'parent_account_id'],
                    postgresql_where=sa.text('parent_account_id IS NOT NULL'))
    op.create_table(
        'hierarchy_metrics',
        sa.Column('tenant_id', sa.UUID(), nullable=False),
        sa.Column('account_id', sa.UUID(), nullable=False),
        sa.Column('currency', sa.Text(), nullable=False),
        sa.Column('account_count', sa.Integer(), nullable=False),
        sa.Column('balance', sa.Numeric(), nullable=False),
        sa.Column('credit_balance', sa.Numeric(), nullable=False),
        sa.Column('total_invoice_balance', sa.Numeric(), nullable=False),
        sa.Column('contracted_mrr', sa.Numeric(), nullable=False),
        sa.Column('last_metrics_update', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('tenant_id', 'account_id', 'currency'),
    )
    op.create_table(
        'hierarchy_stale_marks',
        sa.Column('tenant_id', sa.UUID(), nullable=False),
        sa.Column('id', sa.UUID(), nullable=False),
        sa.Column('account_id', sa.UUID(), nullable=False),
        sa.Column('marked_at', sa.DateTime(timezone=True),
                  server_default=sa.text('clock_timestamp()'), nullable=False),
        sa.PrimaryKeyConstraint('tenant_id', 'id'),
    )
    op.create_index('hierarchy_stale_marks_account', 'hierarchy_stale_marks',
                    ['tenant_id', 'account_id'])
    # on Citus (an already distributed schema): place the new tables, then the keys to
    # accounts (a key from a local table to a distributed one is refused); a no-op otherwise
    distribute(op.get_bind())
    for table in ('hierarchy_metrics', 'hierarchy_stale_marks'):
        op.create_foreign_key(f'{table}_account_id_fkey', table, 'accounts',
                              ['tenant_id', 'account_id'], ['tenant_id', 'id'])


def downgrade() -> None:
    op.drop_index('hierarchy_stale_marks_account', table_name='hierarchy_stale_marks')
    op.drop_table('hierarchy_stale_marks')
    op.drop_table('hierarchy_metrics')
    op.drop_index('accounts_parent', table_name='accounts')
    op.drop_constraint('accounts_parent_account_id_fkey', 'accounts', type_='foreignkey')
    op.drop_column('accounts', 'parent_account_id')
