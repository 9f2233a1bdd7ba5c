"""Payments, credit memos, debit memos, and the applications between them."""

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel

from ._base import day, id_key, money, ref, server_now, text, timestamp
from .invoices import DOCUMENT_STATUS

UNAPPLIED_NOT_NEGATIVE = ("amount > 0 AND applied_amount >= 0 AND refunded_amount >= 0 "
                          "AND applied_amount + refunded_amount <= amount")


class Payment(SQLModel, table=True):
    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("tenant_id", "payment_number"),
        CheckConstraint(UNAPPLIED_NOT_NEGATIVE, name="payment_amounts"),
    )

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    payment_number: str = text()
    account_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    currency: str = text()
    amount: Decimal = money()
    applied_amount: Decimal = money(Decimal(0))
    refunded_amount: Decimal = money(Decimal(0))
    effective_date: date = day()
    created_at: datetime = server_now()


class CreditMemo(SQLModel, table=True):
    __tablename__ = "credit_memos"
    __table_args__ = (
        UniqueConstraint("tenant_id", "memo_number"),
        CheckConstraint(UNAPPLIED_NOT_NEGATIVE, name="credit_memo_amounts"),
        CheckConstraint(DOCUMENT_STATUS, name="credit_memo_status"),
    )

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    memo_number: str = text()
    account_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    currency: str = text()
    amount: Decimal = money()
    applied_amount: Decimal = money(Decimal(0))
    refunded_amount: Decimal = money(Decimal(0))
    status: str = text("POSTED")
    reason: str | None = text(nullable=True)
    memo_date: date = day()
    created_at: datetime = server_now()
    posted_at: datetime | None = timestamp()


class DebitMemo(SQLModel, table=True):
    __tablename__ = "debit_memos"
    __table_args__ = (
        UniqueConstraint("tenant_id", "memo_number"),
        CheckConstraint("amount > 0 AND balance >= 0 AND balance <= amount",
                        name="debit_memo_amounts"),
        CheckConstraint(DOCUMENT_STATUS, name="debit_memo_status"),
    )

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    memo_number: str = text()
    account_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    currency: str = text()
    amount: Decimal = money()
    balance: Decimal = money()
    status: str = text("POSTED")
    reason: str | None = text(nullable=True)
    memo_date: date = day()
    created_at: datetime = server_now()
    posted_at: datetime | None = timestamp()


class Application(SQLModel, table=True):
    """Money moved from a payment or credit memo onto an invoice or debit memo.

    Append-only: an apply is a positive amount, an unapply a negative one.
    """

    __tablename__ = "applications"
    __table_args__ = (
        CheckConstraint("(payment_id IS NULL) <> (credit_memo_id IS NULL)", name="app_source"),
        CheckConstraint("(invoice_id IS NULL) <> (debit_memo_id IS NULL)", name="app_target"),
        CheckConstraint("amount <> 0", name="app_amount"),
    )

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    payment_id: uuid.UUID | None = ref(nullable=True)
    credit_memo_id: uuid.UUID | None = ref(nullable=True)
    invoice_id: uuid.UUID | None = ref(nullable=True)
    debit_memo_id: uuid.UUID | None = ref(nullable=True)
    amount: Decimal = money()
    created_at: datetime = server_now()


class Refund(SQLModel, table=True):
    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("(payment_id IS NULL) <> (credit_memo_id IS NULL)", name="refund_source"),
        CheckConstraint("amount > 0", name="refund_amount"),
    )

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    payment_id: uuid.UUID | None = ref(nullable=True)
    credit_memo_id: uuid.UUID | None = ref(nullable=True)
    amount: Decimal = money()
    created_at: datetime = server_now()


def _ix(name: str, table: type[SQLModel], *cols: str) -> None:
    t = table.__table__  # type: ignore[attr-defined]
    Index(name, *(t.c[c] for c in cols))


_ix("payments_account", Payment, "tenant_id", "account_id")
_ix("credit_memos_account", CreditMemo, "tenant_id", "account_id")
_ix("debit_memos_account", DebitMemo, "tenant_id", "account_id")
_ix("applications_payment", Application, "tenant_id", "payment_id")
_ix("applications_credit_memo", Application, "tenant_id", "credit_memo_id")
_ix("applications_invoice", Application, "tenant_id", "invoice_id")
