"""Tenant-scoped references: composite foreign keys (tenant_id, <column>) → parent
(tenant_id, id), so a row can never point into another tenant. The initial migration
creates them from the same list; `tenant_references()` adds them to the metadata."""

from __future__ import annotations

from sqlalchemy import ForeignKeyConstraint, MetaData

# (table, column, parent)
TENANT_REFERENCES = [
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


def tenant_references(metadata: MetaData) -> None:
    """Add each reference as `<table>_<column>_fkey` (the migration's names)."""
    for table, column, parent in TENANT_REFERENCES:
        metadata.tables[table].append_constraint(ForeignKeyConstraint(
            ["tenant_id", column], [f"{parent}.tenant_id", f"{parent}.id"],
            name=f"{table}_{column}_fkey"))
