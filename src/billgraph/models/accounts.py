"""Accounts and their metrics read model."""

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, DateTime, Index, UniqueConstraint
from sqlalchemy import text as sql
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel

from ._base import day, id_key, money, server_now, text, timestamp


class Account(SQLModel, table=True):
    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "account_number"),
        CheckConstraint("bill_cycle_day BETWEEN 1 AND 31", name="accounts_bill_cycle_day"),
        CheckConstraint("status IN ('ACTIVE', 'CANCELED')", name="accounts_status"),
    )

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    account_number: str = text()
    name: str = text()
    currency: str = text()
    bill_cycle_day: int = Field(default=1, nullable=False)
    partner_account: bool = Field(default=False, nullable=False)
    status: str = text("ACTIVE")
    parent_account_id: uuid.UUID | None = Field(default=None, sa_type=UUID(as_uuid=True),
                                                nullable=True)
    created_at: datetime = server_now()
    updated_at: datetime = server_now()
    billing_country: str | None = text(nullable=True)  # ISO 3166-1 alpha-2; None: no address
    billing_region: str | None = text(nullable=True)
    billing_city: str | None = text(nullable=True)
    billing_postal_code: str | None = text(nullable=True)
    billing_line1: str | None = text(nullable=True)
    tax_exempt: bool = Field(default=False, nullable=False,
                             sa_column_kwargs={"server_default": sql("false")})


class AccountMetrics(SQLModel, table=True):
    """The metrics read model: one row per account, recomputed from the documents.

    Only the recompute (services.metrics) writes it. For a partner account the
    recompute runs in the background refresher; writes only append to
    `metrics_stale_marks`, so they never contend for this row.
    """

    __tablename__ = "account_metrics"

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    account_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    currency: str = text()
    balance: Decimal = money(Decimal(0))
    credit_balance: Decimal = money(Decimal(0))
    last_invoice_date: date | None = day(nullable=True)
    total_invoice_balance: Decimal = money(Decimal(0))
    total_debit_memo_balance: Decimal = money(Decimal(0))
    unapplied_credit_memo_amount: Decimal = money(Decimal(0))
    unapplied_payment_amount: Decimal = money(Decimal(0))
    contracted_mrr: Decimal = money(Decimal(0))
    last_metrics_update: datetime | None = timestamp()


class MetricsStaleMark(SQLModel, table=True):
    """Append-only: a write to a partner account inserts one row here.

    Inserts never conflict with each other, so marking an account stale does not
    serialize writers. The refresher deletes the marks it has accounted for, in
    the same statement (same snapshot) as the recompute.
    """

    __tablename__ = "metrics_stale_marks"

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    account_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    marked_at: datetime = Field(
        default=None, sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": sql("clock_timestamp()")}, nullable=False,
    )


Index("metrics_stale_marks_account", MetricsStaleMark.__table__.c.tenant_id,  # type: ignore[attr-defined]
      MetricsStaleMark.__table__.c.account_id, MetricsStaleMark.__table__.c.marked_at)  # type: ignore[attr-defined]
Index("accounts_parent", Account.__table__.c.tenant_id, Account.__table__.c.parent_account_id,  # type: ignore[attr-defined]
      postgresql_where=sql("parent_account_id IS NOT NULL"))
Index("accounts_partner", Account.__table__.c.tenant_id, Account.__table__.c.partner_account)  # type: ignore[attr-defined]
