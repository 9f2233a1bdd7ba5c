"""Invoices, their lines, bill runs and the billing ledger."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Date, Index, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlmodel import Field, SQLModel

from ._base import day, id_key, jsonb, money, ref, server_now, text, timestamp

DOCUMENT_STATUS = "status IN ('DRAFT', 'POSTED', 'CANCELED')"


class Invoice(SQLModel, table=True):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("tenant_id", "invoice_number"),
        CheckConstraint(DOCUMENT_STATUS, name="invoice_status"),
        CheckConstraint("balance >= 0 AND balance <= amount OR amount < 0",
                        name="invoice_balance"),
    )

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    invoice_number: str = text()
    account_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    invoice_date: date = day()
    due_date: date = day()
    status: str = text("DRAFT")
    amount: Decimal = money(Decimal(0))
    balance: Decimal = money(Decimal(0))
    currency: str = text()
    bill_run_id: uuid.UUID | None = ref(nullable=True)
    created_at: datetime = server_now()
    subtotal: Decimal = money(Decimal(0))  # amount = subtotal - discount_amount + tax_amount
    discount_amount: Decimal = money(Decimal(0))
    tax_amount: Decimal = money(Decimal(0))
    posted_at: datetime | None = timestamp()


class InvoiceLine(SQLModel, table=True):
    """A line; service_period_end is inclusive, as shown on the invoice."""

    __tablename__ = "invoice_lines"

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    invoice_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    position: int = Field(default=0, nullable=False)
    description: str = text()
    subscription_id: uuid.UUID | None = ref(nullable=True)
    item_id: uuid.UUID | None = ref(nullable=True)
    product_id: uuid.UUID | None = ref(nullable=True)
    quantity: Decimal = money(Decimal(1))
    unit_price: Decimal = money()
    amount: Decimal = money()
    service_period_start: date | None = day(nullable=True)
    service_period_end: date | None = day(nullable=True)
    charge_type: str | None = text(nullable=True)  # null on free (standalone) lines
    pricing_model: str | None = text(nullable=True)
    discount_amount: Decimal = money(Decimal(0))  # the part of amount discounts took off
    tax_amount: Decimal = money(Decimal(0))  # tax on amount - discount_amount


class BillingLedgerEntry(SQLModel, table=True):
    """What has been billed for one item and one service period, append-only.

    Entry `revision` n for (item, period) can exist once: two bill runs that
    compute the same difference race on this key and one of them rolls back, so
    a period is never billed twice.
    """

    __tablename__ = "billing_ledger"

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    item_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    period_start: date = Field(sa_type=Date, primary_key=True)
    revision: int = Field(primary_key=True)
    amount: Decimal = money()
    invoice_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    invoice_line_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    created_at: datetime = server_now()
    discount_amount: Decimal = money(Decimal(0))
    tax_amount: Decimal = money(Decimal(0))


class BillRun(SQLModel, table=True):
    __tablename__ = "bill_runs"
    __table_args__ = (
        CheckConstraint("status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED')",
                        name="bill_run_status"),
    )

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    status: str = text("PENDING")
    target_date: date = day()
    invoice_date: date = day()
    account_ids: list[uuid.UUID] | None = Field(
        default=None, sa_type=ARRAY(UUID(as_uuid=True)), nullable=True)
    auto_post: bool = Field(default=True, nullable=False)
    accounts_total: int = Field(default=0, nullable=False)
    accounts_processed: int = Field(default=0, nullable=False)
    # Invoice owners are billed in id order; a resumed run continues after this one.
    last_account_id: uuid.UUID | None = ref(nullable=True)
    invoices_created: int = Field(default=0, nullable=False)
    total_amount: Decimal = money(Decimal(0))
    errors: list[dict[str, Any]] = jsonb(nullable=False)
    created_at: datetime = server_now()
    started_at: datetime | None = timestamp()
    finished_at: datetime | None = timestamp()


def _ix(name: str, table: type[SQLModel], *cols: str) -> None:
    t = table.__table__  # type: ignore[attr-defined]
    Index(name, *(t.c[c] for c in cols))


_ix("invoices_account", Invoice, "tenant_id", "account_id", "status")
Index("invoices_bill_run", Invoice.__table__.c.tenant_id,  # type: ignore[attr-defined]
      Invoice.__table__.c.bill_run_id, Invoice.__table__.c.account_id,  # type: ignore[attr-defined]
      postgresql_where=Invoice.__table__.c.bill_run_id.isnot(None))  # type: ignore[attr-defined]
_ix("invoice_lines_invoice", InvoiceLine, "tenant_id", "invoice_id")
