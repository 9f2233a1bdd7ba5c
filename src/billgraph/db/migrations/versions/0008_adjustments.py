"""discounts and taxes (SPEC §12)

Revision ID: 0008_adjustments
Revises: 0003_pricing

Discounts (PERCENTAGE or FIXED_AMOUNT per billing period) and their attachments to
subscriptions; tax rates by country, region and product; the billing address and tax
exemption of accounts. Invoices get their subtotal, discount and tax (amount =
subtotal - discount_amount + tax_amount; existing invoices: subtotal = amount), lines
and ledger entries their discount and tax, and invoice_line_taxes the tax of each
line per rate, with the percentage it was computed with (a posted invoice keeps it).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0008_adjustments'
down_revision: str | None = '0006_access'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _zero(table: str, *columns: str) -> None:
    for column in columns:
        op.add_column(table, sa.Column(column, sa.Numeric(), nullable=False,
                                       server_default='0'))


def upgrade() -> None:
    op.create_table(
        'discounts',
        sa.Column('tenant_id', sa.UUID(), nullable=False),
        sa.Column('id', sa.UUID(), nullable=False),
        sa.Column('code', sa.Text(), nullable=False),
        sa.Column('name', sa.Text(), nullable=False),
        sa.Column('type', sa.Text(), nullable=False),
        sa.Column('percentage', sa.Numeric(), nullable=True),
        sa.Column('amount', sa.Numeric(), nullable=True),
        sa.Column('currency', sa.Text(), nullable=True),
        sa.Column('duration_periods', sa.Integer(), nullable=True),
        sa.Column('product_codes', postgresql.ARRAY(sa.Text()), nullable=False,
                  server_default='{}'),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.CheckConstraint("type IN ('PERCENTAGE', 'FIXED_AMOUNT')", name='discounts_type'),
        sa.CheckConstraint("type <> 'PERCENTAGE' OR (percentage > 0 AND percentage <= 100)",
                           name='discounts_percentage'),
        sa.CheckConstraint("type <> 'FIXED_AMOUNT' OR (amount > 0 AND currency IS NOT NULL)",
                           name='discounts_amount'),
        sa.CheckConstraint('duration_periods IS NULL OR duration_periods >= 1',
                           name='discounts_duration'),
        sa.PrimaryKeyConstraint('tenant_id', 'id'),
        sa.UniqueConstraint('tenant_id', 'code'),
    )
    op.create_table(
        'subscription_discounts',
        sa.Column('tenant_id', sa.UUID(), nullable=False),
        sa.Column('id', sa.UUID(), nullable=False),
        sa.Column('subscription_id', sa.UUID(), nullable=False),
        sa.Column('discount_id', sa.UUID(), nullable=False),
        sa.Column('start_date', sa.Date(), nullable=False),
        sa.Column('end_date', sa.Date(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.CheckConstraint('end_date IS NULL OR end_date >= start_date',
                           name='subscription_discounts_dates'),
        sa.PrimaryKeyConstraint('tenant_id', 'id'),
    )
    op.create_index('subscription_discounts_subscription', 'subscription_discounts',
                    ['tenant_id', 'subscription_id'], unique=False)
    op.create_table(
        'tax_rates',
        sa.Column('tenant_id', sa.UUID(), nullable=False),
        sa.Column('id', sa.UUID(), nullable=False),
        sa.Column('code', sa.Text(), nullable=False),
        sa.Column('name', sa.Text(), nullable=False),
        sa.Column('percentage', sa.Numeric(), nullable=False),
        sa.Column('country', sa.Text(), nullable=False),
        sa.Column('region', sa.Text(), nullable=True),
        sa.Column('product_codes', postgresql.ARRAY(sa.Text()), nullable=False,
                  server_default='{}'),
        sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.CheckConstraint('percentage >= 0 AND percentage <= 100', name='tax_rates_percentage'),
        sa.PrimaryKeyConstraint('tenant_id', 'id'),
        sa.UniqueConstraint('tenant_id', 'code'),
    )
    op.create_table(
        'invoice_line_taxes',
        sa.Column('tenant_id', sa.UUID(), nullable=False),
        sa.Column('invoice_line_id', sa.UUID(), nullable=False),
        sa.Column('tax_rate_id', sa.UUID(), nullable=False),
        sa.Column('percentage', sa.Numeric(), nullable=False),
        sa.Column('amount', sa.Numeric(), nullable=False),
        sa.PrimaryKeyConstraint('tenant_id', 'invoice_line_id', 'tax_rate_id'),
    )
    for column in ('billing_country', 'billing_region', 'billing_city',
                   'billing_postal_code', 'billing_line1'):
        op.add_column('accounts', sa.Column(column, sa.Text(), nullable=True))
    op.add_column('accounts', sa.Column('tax_exempt', sa.Boolean(), nullable=False,
                                        server_default=sa.false()))
    _zero('invoices', 'subtotal', 'discount_amount', 'tax_amount')
    op.execute('UPDATE invoices SET subtotal = amount')
    _zero('invoice_lines', 'discount_amount', 'tax_amount')
    _zero('billing_ledger', 'discount_amount', 'tax_amount')


def downgrade() -> None:
    for column in ('discount_amount', 'tax_amount'):
        op.drop_column('billing_ledger', column)
        op.drop_column('invoice_lines', column)
        op.drop_column('invoices', column)
    op.drop_column('invoices', 'subtotal')
    for column in ('tax_exempt', 'billing_line1', 'billing_postal_code', 'billing_city',
                   'billing_region', 'billing_country'):
        op.drop_column('accounts', column)
    op.drop_table('invoice_line_taxes')
    op.drop_table('tax_rates')
    op.drop_index('subscription_discounts_subscription', table_name='subscription_discounts')
    op.drop_table('subscription_discounts')
    op.drop_table('discounts')
