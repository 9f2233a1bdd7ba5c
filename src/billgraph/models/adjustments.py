"""Discounts, tax rates and the tax of invoice lines (SPEC §12)."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ARRAY, CheckConstraint, Column, Index, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel

from ._base import day, id_key, money, server_now
from ._base import text as text_field


def _codes() -> Any:
    return Field(default_factory=list, sa_column=Column(
        ARRAY(Text), nullable=False, server_default=text("'{}'")))


class Discount(SQLModel, table=True):
    __tablename__ = "discounts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        CheckConstraint("type IN ('PERCENTAGE', 'FIXED_AMOUNT')", name="discounts_type"),
        CheckConstraint("type <> 'PERCENTAGE' OR (percentage > 0 AND percentage <= 100)",
                        name="discounts_percentage"),
        CheckConstraint("type <> 'FIXED_AMOUNT' OR (amount > 0 AND currency IS NOT NULL)",
                        name="discounts_amount"),
        CheckConstraint("duration_periods IS NULL OR duration_periods >= 1",
                        name="discounts_duration"),
    )

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    code: str = text_field()
    name: str = text_field()
    type: str = text_field()
    percentage: Decimal | None = money(nullable=True)
    amount: Decimal | None = money(nullable=True)
    currency: str | None = text_field(nullable=True)
    duration_periods: int | None = Field(default=None, nullable=True)
    product_codes: list[str] = _codes()
    created_at: datetime = server_now()


class SubscriptionDiscount(SQLModel, table=True):
    """A discount attached to a subscription; end_date inclusive (None: open-ended)."""

    __tablename__ = "subscription_discounts"
    __table_args__ = (CheckConstraint("end_date IS NULL OR end_date >= start_date",
                                      name="subscription_discounts_dates"),)

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    subscription_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    discount_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    start_date: date = day()
    end_date: date | None = day(nullable=True)
    created_at: datetime = server_now()


class TaxRate(SQLModel, table=True):
    __tablename__ = "tax_rates"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        CheckConstraint("percentage >= 0 AND percentage <= 100", name="tax_rates_percentage"),
    )

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    code: str = text_field()
    name: str = text_field()
    percentage: Decimal = money()
    country: str = text_field()
    region: str | None = text_field(nullable=True)
    product_codes: list[str] = _codes()
    active: bool = Field(default=True, nullable=False,
                         sa_column_kwargs={"server_default": text("true")})
    created_at: datetime = server_now()


class InvoiceLineTax(SQLModel, table=True):
    """The tax of one invoice line under one rate, with the percentage used."""

    __tablename__ = "invoice_line_taxes"

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    invoice_line_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    tax_rate_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    percentage: Decimal = money()
    amount: Decimal = money()


_sd = SubscriptionDiscount.__table__  # type: ignore[attr-defined]
Index("subscription_discounts_subscription", _sd.c.tenant_id, _sd.c.subscription_id)
