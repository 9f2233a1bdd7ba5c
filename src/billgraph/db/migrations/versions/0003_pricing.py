"""pricing models and usage records (SPEC §11)

Revision ID: 0003_pricing
Revises: 0001

Plan charges get their pricing model (default PER_UNIT: what every existing charge
did), tiers and package size, and for USAGE charges the aggregation and unit of
measure. Invoice lines say which charge type and model they bill (lines written
before this revision are filled in from their items: PER_UNIT). Usage records are
keyed by (tenant_id, record_id), so a record sent twice is stored once.

usage_records has deliberately no foreign keys: a foreign-key check takes FOR KEY
SHARE on the parent row, and orders lock their subscriptions FOR UPDATE, so
recording usage would queue behind (and hold up) orders on the same subscriptions.
recordUsage resolves the subscription and item in the same statement instead.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003_pricing'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MODELS = "('PER_UNIT', 'FLAT_FEE', 'TIERED', 'VOLUME', 'PACKAGE')"


def upgrade() -> None:
    op.add_column('plan_charges', sa.Column('pricing_model', sa.Text(), nullable=False,
                                            server_default='PER_UNIT'))
    op.add_column('plan_charges', sa.Column('tiers', postgresql.JSONB(astext_type=sa.Text()),
                                            nullable=False, server_default='[]'))
    op.add_column('plan_charges', sa.Column('package_size', sa.Integer(), nullable=True))
    op.add_column('plan_charges', sa.Column('usage_aggregation', sa.Text(), nullable=True))
    op.add_column('plan_charges', sa.Column('unit_of_measure', sa.Text(), nullable=True))
    op.create_check_constraint('plan_charges_pricing_model', 'plan_charges',
                               f"pricing_model IN {MODELS}")
    op.create_check_constraint('plan_charges_package_size', 'plan_charges',
                               'package_size IS NULL OR package_size >= 1')
    op.create_check_constraint('plan_charges_usage_aggregation', 'plan_charges',
                               "usage_aggregation IS NULL OR "
                               "usage_aggregation IN ('SUM', 'MAX', 'LAST')")
    op.add_column('invoice_lines', sa.Column('charge_type', sa.Text(), nullable=True))
    op.add_column('invoice_lines', sa.Column('pricing_model', sa.Text(), nullable=True))
    op.execute("UPDATE invoice_lines l SET charge_type = i.charge_type, "
               "pricing_model = 'PER_UNIT' FROM subscription_items i "
               "WHERE i.tenant_id = l.tenant_id AND i.id = l.item_id")
    op.create_table(
        'usage_records',
        sa.Column('tenant_id', sa.UUID(), nullable=False),
        sa.Column('record_id', sa.Text(), nullable=False),
        sa.Column('subscription_id', sa.UUID(), nullable=False),
        sa.Column('item_id', sa.UUID(), nullable=False),
        sa.Column('product_id', sa.UUID(), nullable=False),
        sa.Column('quantity', sa.Numeric(), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('usage_date', sa.Date(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.CheckConstraint('quantity >= 0', name='usage_quantity'),
        sa.PrimaryKeyConstraint('tenant_id', 'record_id'),
    )
    op.create_index('usage_records_item', 'usage_records',
                    ['tenant_id', 'item_id', 'usage_date'], unique=False)


def downgrade() -> None:
    op.drop_index('usage_records_item', table_name='usage_records')
    op.drop_table('usage_records')
    op.drop_column('invoice_lines', 'pricing_model')
    op.drop_column('invoice_lines', 'charge_type')
    for name in ('usage_aggregation', 'package_size', 'pricing_model'):
        op.drop_constraint(f'plan_charges_{name}', 'plan_charges', type_='check')
    for column in ('unit_of_measure', 'usage_aggregation', 'package_size', 'tiers',
                   'pricing_model'):
        op.drop_column('plan_charges', column)
