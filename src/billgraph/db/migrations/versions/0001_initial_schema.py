"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22 01:49:37.120434
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Document numbers come from sequences: nextval() never waits on another writer,
# so generating A00000001, INV00000001, ... does not serialize concurrent writes.
NUMBER_SEQUENCES = [
    "account_number_seq", "subscription_number_seq", "order_number_seq", "invoice_number_seq",
    "payment_number_seq", "credit_memo_number_seq", "debit_memo_number_seq",
]

# ISO 4217 minor units, for rounding totals in SQL (services/money.py has the same table).
CURRENCY_MINOR_UNITS = """
CREATE FUNCTION currency_minor_units(code text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN code IN ('BIF','CLP','DJF','GNF','ISK','JPY','KMF','KRW','PYG','RWF','UGX','UYI',
                  'VND','VUV','XAF','XOF','XPF') THEN 0
    WHEN code IN ('BHD','IQD','JOD','KWD','LYD','OMR','TND') THEN 3
    WHEN code IN ('CLF','UYW') THEN 4
    ELSE 2 END
$$
"""

# (table, column, parent): composite keys, so a reference can never cross tenants.
FOREIGN_KEYS = [
    ("api_keys", "tenant_id", None),
    ("account_metrics", "account_id", "accounts"),
    ("metrics_stale_marks", "account_id", "accounts"),
    ("plan_charges", "price_plan_id", "price_plans"),
    ("plan_charges", "product_id", "products"),
    ("subscriptions", "owner_account_id", "accounts"),
    ("subscriptions", "invoice_owner_account_id", "accounts"),
    ("subscriptions", "price_plan_id", "price_plans"),
    ("subscriptions", "scheme_id", "billing_term_schemes"),
    ("subscription_items", "subscription_id", "subscriptions"),
    ("subscription_items", "product_id", "products"),
    ("subscription_owners", "subscription_id", "subscriptions"),
    ("subscription_suspensions", "subscription_id", "subscriptions"),
    ("concurrent_usage_reports", "subscription_id", "subscriptions"),
    ("orders", "account_id", "accounts"),
    ("order_actions", "order_id", "orders"),
    ("invoices", "account_id", "accounts"),
    ("invoice_lines", "invoice_id", "invoices"),
    ("billing_ledger", "item_id", "subscription_items"),
    ("payments", "account_id", "accounts"),
    ("credit_memos", "account_id", "accounts"),
    ("debit_memos", "account_id", "accounts"),
    ("applications", "payment_id", "payments"),
    ("applications", "credit_memo_id", "credit_memos"),
    ("applications", "invoice_id", "invoices"),
    ("applications", "debit_memo_id", "debit_memos"),
]
COMPOSITE_KEYS = [(t, c, p) for t, c, p in FOREIGN_KEYS if p is not None]


def upgrade() -> None:
    op.create_table('account_metrics',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('balance', sa.Numeric(), nullable=False),
    sa.Column('credit_balance', sa.Numeric(), nullable=False),
    sa.Column('last_invoice_date', sa.Date(), nullable=True),
    sa.Column('total_invoice_balance', sa.Numeric(), nullable=False),
    sa.Column('total_debit_memo_balance', sa.Numeric(), nullable=False),
    sa.Column('unapplied_credit_memo_amount', sa.Numeric(), nullable=False),
    sa.Column('unapplied_payment_amount', sa.Numeric(), nullable=False),
    sa.Column('contracted_mrr', sa.Numeric(), nullable=False),
    sa.Column('last_metrics_update', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('tenant_id', 'account_id')
    )
    op.create_table('accounts',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('account_number', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('bill_cycle_day', sa.Integer(), nullable=False),
    sa.Column('partner_account', sa.Boolean(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('ACTIVE', 'CANCELED')", name='accounts_status'),
    sa.CheckConstraint('bill_cycle_day BETWEEN 1 AND 31', name='accounts_bill_cycle_day'),
    sa.PrimaryKeyConstraint('tenant_id', 'id'),
    sa.UniqueConstraint('tenant_id', 'account_number')
    )
    op.create_index('accounts_partner', 'accounts', ['tenant_id', 'partner_account'], unique=False)
    op.create_table('api_keys',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('key_hash', sa.Text(), nullable=False),
    sa.Column('prefix', sa.Text(), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("scope IN ('read', 'write')", name='api_keys_scope'),
    sa.PrimaryKeyConstraint('tenant_id', 'id'),
    sa.UniqueConstraint('key_hash')
    )
    op.create_index('api_keys_tenant', 'api_keys', ['tenant_id'], unique=False)
    op.create_table('applications',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('payment_id', sa.UUID(), nullable=True),
    sa.Column('credit_memo_id', sa.UUID(), nullable=True),
    sa.Column('invoice_id', sa.UUID(), nullable=True),
    sa.Column('debit_memo_id', sa.UUID(), nullable=True),
    sa.Column('amount', sa.Numeric(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('(invoice_id IS NULL) <> (debit_memo_id IS NULL)', name='app_target'),
    sa.CheckConstraint('(payment_id IS NULL) <> (credit_memo_id IS NULL)', name='app_source'),
    sa.CheckConstraint('amount <> 0', name='app_amount'),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_index('applications_credit_memo', 'applications', ['tenant_id', 'credit_memo_id'], unique=False)
    op.create_index('applications_invoice', 'applications', ['tenant_id', 'invoice_id'], unique=False)
    op.create_index('applications_payment', 'applications', ['tenant_id', 'payment_id'], unique=False)
    op.create_table('bill_runs',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('target_date', sa.Date(), nullable=False),
    sa.Column('invoice_date', sa.Date(), nullable=False),
    sa.Column('account_ids', postgresql.ARRAY(sa.UUID()), nullable=True),
    sa.Column('auto_post', sa.Boolean(), nullable=False),
    sa.Column('accounts_total', sa.Integer(), nullable=False),
    sa.Column('accounts_processed', sa.Integer(), nullable=False),
    sa.Column('last_account_id', sa.UUID(), nullable=True),
    sa.Column('invoices_created', sa.Integer(), nullable=False),
    sa.Column('total_amount', sa.Numeric(), nullable=False),
    sa.Column('errors', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED')", name='bill_run_status'),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_table('billing_ledger',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('item_id', sa.UUID(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Numeric(), nullable=False),
    sa.Column('invoice_id', sa.UUID(), nullable=False),
    sa.Column('invoice_line_id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'item_id', 'period_start', 'revision')
    )
    op.create_table('billing_term_schemes',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('type', sa.Text(), nullable=False),
    sa.Column('billing_cycle_day', sa.Integer(), nullable=False),
    sa.Column('concurrent_usage_based', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("type IN ('NORMAL', 'ONE_TIME')", name='scheme_type'),
    sa.CheckConstraint('billing_cycle_day BETWEEN 1 AND 31', name='scheme_cycle_day'),
    sa.PrimaryKeyConstraint('tenant_id', 'id'),
    sa.UniqueConstraint('tenant_id', 'code')
    )
    op.create_table('concurrent_usage_reports',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('subscription_id', sa.UUID(), nullable=False),
    sa.Column('usage_date', sa.Date(), nullable=False),
    sa.Column('concurrent_usage', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_index('usage_reports_sub', 'concurrent_usage_reports', ['tenant_id', 'subscription_id', 'usage_date'], unique=False)
    op.create_table('credit_memos',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('memo_number', sa.Text(), nullable=False),
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('amount', sa.Numeric(), nullable=False),
    sa.Column('applied_amount', sa.Numeric(), nullable=False),
    sa.Column('refunded_amount', sa.Numeric(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('memo_date', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('DRAFT', 'POSTED', 'CANCELED')", name='credit_memo_status'),
    sa.CheckConstraint('amount > 0 AND applied_amount >= 0 AND refunded_amount >= 0 AND applied_amount + refunded_amount <= amount', name='credit_memo_amounts'),
    sa.PrimaryKeyConstraint('tenant_id', 'id'),
    sa.UniqueConstraint('tenant_id', 'memo_number')
    )
    op.create_index('credit_memos_account', 'credit_memos', ['tenant_id', 'account_id'], unique=False)
    op.create_table('debit_memos',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('memo_number', sa.Text(), nullable=False),
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('amount', sa.Numeric(), nullable=False),
    sa.Column('balance', sa.Numeric(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('memo_date', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('DRAFT', 'POSTED', 'CANCELED')", name='debit_memo_status'),
    sa.CheckConstraint('amount > 0 AND balance >= 0 AND balance <= amount', name='debit_memo_amounts'),
    sa.PrimaryKeyConstraint('tenant_id', 'id'),
    sa.UniqueConstraint('tenant_id', 'memo_number')
    )
    op.create_index('debit_memos_account', 'debit_memos', ['tenant_id', 'account_id'], unique=False)
    op.create_table('idempotency_keys',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('operation', sa.Text(), nullable=False),
    sa.Column('request_hash', sa.Text(), nullable=False),
    sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'key')
    )
    op.create_table('invoice_lines',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('invoice_id', sa.UUID(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('subscription_id', sa.UUID(), nullable=True),
    sa.Column('item_id', sa.UUID(), nullable=True),
    sa.Column('product_id', sa.UUID(), nullable=True),
    sa.Column('quantity', sa.Numeric(), nullable=False),
    sa.Column('unit_price', sa.Numeric(), nullable=False),
    sa.Column('amount', sa.Numeric(), nullable=False),
    sa.Column('service_period_start', sa.Date(), nullable=True),
    sa.Column('service_period_end', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_index('invoice_lines_invoice', 'invoice_lines', ['tenant_id', 'invoice_id'], unique=False)
    op.create_table('invoices',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('invoice_number', sa.Text(), nullable=False),
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('invoice_date', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('amount', sa.Numeric(), nullable=False),
    sa.Column('balance', sa.Numeric(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('bill_run_id', sa.UUID(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('DRAFT', 'POSTED', 'CANCELED')", name='invoice_status'),
    sa.CheckConstraint('balance >= 0 AND balance <= amount OR amount < 0', name='invoice_balance'),
    sa.PrimaryKeyConstraint('tenant_id', 'id'),
    sa.UniqueConstraint('tenant_id', 'invoice_number')
    )
    op.create_index('invoices_account', 'invoices', ['tenant_id', 'account_id', 'status'], unique=False)
    op.create_index('invoices_bill_run', 'invoices', ['tenant_id', 'bill_run_id', 'account_id'], unique=False, postgresql_where=sa.text('bill_run_id IS NOT NULL'))
    op.create_table('jobs',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('order_id', sa.UUID(), nullable=True),
    sa.Column('bill_run_id', sa.UUID(), nullable=True),
    sa.Column('errors', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('claimed_by', sa.Text(), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED')", name='job_status'),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_index('jobs_queue', 'jobs', ['status', 'created_at'], unique=False, postgresql_where=sa.text("status IN ('PENDING', 'RUNNING')"))
    op.create_table('metrics_stale_marks',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('marked_at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_index('metrics_stale_marks_account', 'metrics_stale_marks', ['tenant_id', 'account_id', 'marked_at'], unique=False)
    op.create_table('order_actions',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('order_id', sa.UUID(), nullable=False),
    sa.Column('subscription_id', sa.UUID(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('type', sa.Text(), nullable=False),
    sa.Column('effective_date', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_index('order_actions_order', 'order_actions', ['tenant_id', 'order_id'], unique=False)
    op.create_table('orders',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('order_number', sa.Text(), nullable=False),
    sa.Column('order_date', sa.Date(), nullable=False),
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id'),
    sa.UniqueConstraint('tenant_id', 'order_number')
    )
    op.create_table('payments',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('payment_number', sa.Text(), nullable=False),
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('amount', sa.Numeric(), nullable=False),
    sa.Column('applied_amount', sa.Numeric(), nullable=False),
    sa.Column('refunded_amount', sa.Numeric(), nullable=False),
    sa.Column('effective_date', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('amount > 0 AND applied_amount >= 0 AND refunded_amount >= 0 AND applied_amount + refunded_amount <= amount', name='payment_amounts'),
    sa.PrimaryKeyConstraint('tenant_id', 'id'),
    sa.UniqueConstraint('tenant_id', 'payment_number')
    )
    op.create_index('payments_account', 'payments', ['tenant_id', 'account_id'], unique=False)
    op.create_table('plan_charges',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('price_plan_id', sa.UUID(), nullable=False),
    sa.Column('product_id', sa.UUID(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('charge_type', sa.Text(), nullable=False),
    sa.Column('price', sa.Numeric(), nullable=False),
    sa.Column('price_period', sa.Text(), nullable=False),
    sa.CheckConstraint("charge_type IN ('RECURRING', 'ONE_TIME', 'USAGE')", name='charge_type'),
    sa.CheckConstraint('price >= 0', name='plan_charges_price'),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_index(op.f('ix_plan_charges_price_plan_id'), 'plan_charges', ['price_plan_id'], unique=False)
    op.create_table('price_plans',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id'),
    sa.UniqueConstraint('tenant_id', 'code')
    )
    op.create_table('products',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id'),
    sa.UniqueConstraint('tenant_id', 'code')
    )
    op.create_table('refunds',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('payment_id', sa.UUID(), nullable=True),
    sa.Column('credit_memo_id', sa.UUID(), nullable=True),
    sa.Column('amount', sa.Numeric(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('(payment_id IS NULL) <> (credit_memo_id IS NULL)', name='refund_source'),
    sa.CheckConstraint('amount > 0', name='refund_amount'),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_table('subscription_items',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('subscription_id', sa.UUID(), nullable=False),
    sa.Column('product_id', sa.UUID(), nullable=False),
    sa.Column('charge_type', sa.Text(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('price', sa.Numeric(), nullable=False),
    sa.Column('price_period', sa.Text(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('mrr', sa.Numeric(), nullable=False),
    sa.Column('replaces_item_id', sa.UUID(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('end_date IS NULL OR end_date >= start_date', name='item_dates'),
    sa.CheckConstraint('quantity >= 0', name='item_quantity'),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_index('subscription_items_sub', 'subscription_items', ['tenant_id', 'subscription_id'], unique=False)
    op.create_table('subscription_owners',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('subscription_id', sa.UUID(), nullable=False),
    sa.Column('effective_date', sa.Date(), nullable=False),
    sa.Column('owner_account_id', sa.UUID(), nullable=False),
    sa.Column('invoice_owner_account_id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_index('subscription_owners_sub', 'subscription_owners', ['tenant_id', 'subscription_id', 'effective_date'], unique=False)
    op.create_index('subscription_owners_invoice_owner', 'subscription_owners', ['tenant_id', 'invoice_owner_account_id'], unique=False)
    op.create_table('subscription_suspensions',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('subscription_id', sa.UUID(), nullable=False),
    sa.Column('suspend_date', sa.Date(), nullable=False),
    sa.Column('resume_date', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_index('subscription_suspensions_sub', 'subscription_suspensions', ['tenant_id', 'subscription_id'], unique=False)
    op.create_table('subscriptions',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('subscription_number', sa.Text(), nullable=False),
    sa.Column('owner_account_id', sa.UUID(), nullable=False),
    sa.Column('invoice_owner_account_id', sa.UUID(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('cancelled_on', sa.Date(), nullable=True),
    sa.Column('price_plan_id', sa.UUID(), nullable=False),
    sa.Column('scheme_id', sa.UUID(), nullable=False),
    sa.Column('billing_cycle_day', sa.Integer(), nullable=False),
    sa.Column('agreement_date', sa.Date(), nullable=False),
    sa.Column('billing_frequency', sa.Text(), nullable=True),
    sa.Column('performed_by_user_id', sa.UUID(), nullable=True),
    sa.Column('performed_on', sa.Date(), nullable=True),
    sa.Column('binding_period', sa.Text(), nullable=True),
    sa.Column('binding_start_date', sa.Date(), nullable=True),
    sa.Column('binding_end_date', sa.Date(), nullable=True),
    sa.Column('cu_concurrent_usage', sa.Integer(), nullable=True),
    sa.Column('cu_rate_percentage', sa.Numeric(), nullable=True),
    sa.Column('cu_installed_items', sa.Integer(), nullable=True),
    sa.Column('cu_billing_method', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('ACTIVE', 'SUSPENDED', 'CANCELLED')", name='sub_status'),
    sa.CheckConstraint('billing_cycle_day BETWEEN 1 AND 31', name='sub_cycle_day'),
    sa.CheckConstraint('cu_rate_percentage IS NULL OR (cu_rate_percentage > 0 AND cu_rate_percentage <= 100)', name='sub_rate_percentage'),
    sa.PrimaryKeyConstraint('tenant_id', 'id'),
    sa.UniqueConstraint('tenant_id', 'subscription_number')
    )
    op.create_index('subscriptions_invoice_owner', 'subscriptions', ['tenant_id', 'invoice_owner_account_id'], unique=False)
    op.create_index('subscriptions_owner', 'subscriptions', ['tenant_id', 'owner_account_id'], unique=False)
    op.create_table('tenants',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('metrics_refresh_interval_seconds', sa.Integer(), nullable=False),
    sa.Column('default_currency', sa.Text(), nullable=False),
    sa.Column('custom_periods', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('users',
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('username', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id'),
    sa.UniqueConstraint('tenant_id', 'username')
    )
    for name in NUMBER_SEQUENCES:
        op.execute(f"CREATE SEQUENCE {name} AS bigint")
    op.execute(CURRENCY_MINOR_UNITS)
    for table, column, parent in COMPOSITE_KEYS:
        op.create_foreign_key(
            f"{table}_{column}_fkey", table, parent, ["tenant_id", column], ["tenant_id", "id"]
        )


def downgrade() -> None:
    op.execute("DROP FUNCTION currency_minor_units(text)")
    for name in NUMBER_SEQUENCES:
        op.execute(f"DROP SEQUENCE {name}")
    op.drop_table('users')
    op.drop_table('tenants')
    op.drop_index('subscriptions_owner', table_name='subscriptions')
    op.drop_index('subscriptions_invoice_owner', table_name='subscriptions')
    op.drop_table('subscriptions')
    op.drop_index('subscription_suspensions_sub', table_name='subscription_suspensions')
    op.drop_table('subscription_suspensions')
    op.drop_index('subscription_owners_invoice_owner', table_name='subscription_owners')
    op.drop_index('subscription_owners_sub', table_name='subscription_owners')
    op.drop_table('subscription_owners')
    op.drop_index('subscription_items_sub', table_name='subscription_items')
    op.drop_table('subscription_items')
    op.drop_table('refunds')
    op.drop_table('products')
    op.drop_table('price_plans')
    op.drop_index(op.f('ix_plan_charges_price_plan_id'), table_name='plan_charges')
    op.drop_table('plan_charges')
    op.drop_index('payments_account', table_name='payments')
    op.drop_table('payments')
    op.drop_table('orders')
    op.drop_index('order_actions_order', table_name='order_actions')
    op.drop_table('order_actions')
    op.drop_index('metrics_stale_marks_account', table_name='metrics_stale_marks')
    op.drop_table('metrics_stale_marks')
    op.drop_index('jobs_queue', table_name='jobs', postgresql_where=sa.text("status IN ('PENDING', 'RUNNING')"))
    op.drop_table('jobs')
    op.drop_index('invoices_bill_run', table_name='invoices', postgresql_where=sa.text('bill_run_id IS NOT NULL'))
    op.drop_index('invoices_account', table_name='invoices')
    op.drop_table('invoices')
    op.drop_index('invoice_lines_invoice', table_name='invoice_lines')
    op.drop_table('invoice_lines')
    op.drop_table('idempotency_keys')
    op.drop_index('debit_memos_account', table_name='debit_memos')
    op.drop_table('debit_memos')
    op.drop_index('credit_memos_account', table_name='credit_memos')
    op.drop_table('credit_memos')
    op.drop_index('usage_reports_sub', table_name='concurrent_usage_reports')
    op.drop_table('concurrent_usage_reports')
    op.drop_table('billing_term_schemes')
    op.drop_table('billing_ledger')
    op.drop_table('bill_runs')
    op.drop_index('applications_payment', table_name='applications')
    op.drop_index('applications_invoice', table_name='applications')
    op.drop_index('applications_credit_memo', table_name='applications')
    op.drop_table('applications')
    op.drop_index('api_keys_tenant', table_name='api_keys')
    op.drop_table('api_keys')
    op.drop_index('accounts_partner', table_name='accounts')
    op.drop_table('accounts')
    op.drop_table('account_metrics')
