"""Subscriptions, their billing terms (one set per subscription), items and history."""

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel

from ._base import day, id_key, money, ref, server_now, text


class Subscription(SQLModel, table=True):
    """A subscription with its billing terms (seed: subscription_billing_terms).

    `owner_account_id` / `invoice_owner_account_id` are the owners once every
    scheduled change has happened; `subscription_owners` keeps them by date.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "subscription_number"),
        CheckConstraint("status IN ('ACTIVE', 'SUSPENDED', 'CANCELLED')", name="sub_status"),
        CheckConstraint("billing_cycle_day BETWEEN 1 AND 31", name="sub_cycle_day"),
        CheckConstraint("cu_rate_percentage IS NULL OR (cu_rate_percentage > 0 AND "
                        "cu_rate_percentage <= 100)", name="sub_rate_percentage"),
    )

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    subscription_number: str = text()
    owner_account_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    invoice_owner_account_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    status: str = text("ACTIVE")
    start_date: date = day()
    cancelled_on: date | None = day(nullable=True)
    # billing terms
    price_plan_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    scheme_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    billing_cycle_day: int = Field(nullable=False)
    agreement_date: date = day()
    billing_frequency: str | None = text(nullable=True)
    performed_by_user_id: uuid.UUID | None = ref(nullable=True)
    performed_on: date | None = day(nullable=True)
    binding_period: str | None = text(nullable=True)
    binding_start_date: date | None = day(nullable=True)
    binding_end_date: date | None = day(nullable=True)  # inclusive last day of the binding
    cu_concurrent_usage: int | None = Field(default=None, nullable=True)
    cu_rate_percentage: Decimal | None = money(nullable=True)
    cu_installed_items: int | None = Field(default=None, nullable=True)
    cu_billing_method: str | None = text(nullable=True)
    created_at: datetime = server_now()
    updated_at: datetime = server_now()


class SubscriptionItem(SQLModel, table=True):
    """A product on a subscription from `start_date` until `end_date` (exclusive).

    `mrr` is the item's monthly recurring revenue, exact and unrounded, fixed when
    the item is written (price normalized to a month × quantity, or × billed
    quantity × rate % under concurrent-usage pricing); 0 for non-recurring items.
    """

    __tablename__ = "subscription_items"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="item_quantity"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="item_dates"),
    )

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    subscription_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    product_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    charge_type: str = text()
    quantity: int = Field(default=1, nullable=False)
    price: Decimal = money()
    price_period: str = text("MONTHLY")
    start_date: date = day()
    end_date: date | None = day(nullable=True)
    mrr: Decimal = money(Decimal(0))
    replaces_item_id: uuid.UUID | None = ref(nullable=True)
    created_at: datetime = server_now()


class SubscriptionOwner(SQLModel, table=True):
    """Who owns and who pays for a subscription from `effective_date` on."""

    __tablename__ = "subscription_owners"

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    subscription_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    effective_date: date = day()
    owner_account_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    invoice_owner_account_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    created_at: datetime = server_now()


class SubscriptionSuspension(SQLModel, table=True):
    """No billing from `suspend_date` until `resume_date` (exclusive; null = open)."""

    __tablename__ = "subscription_suspensions"

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    subscription_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    suspend_date: date = day()
    resume_date: date | None = day(nullable=True)


class ConcurrentUsageReport(SQLModel, table=True):
    """Actual concurrent usage reported for a day (BASED_ON_ACTUAL_CAPACITY)."""

    __tablename__ = "concurrent_usage_reports"

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    subscription_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    usage_date: date = day()
    concurrent_usage: int = Field(nullable=False)
    created_at: datetime = server_now()


def _ix(name: str, table: type[SQLModel], *cols: str) -> None:
    t = table.__table__  # type: ignore[attr-defined]
    Index(name, *(t.c[c] for c in cols))


_ix("subscriptions_owner", Subscription, "tenant_id", "owner_account_id")
_ix("subscriptions_invoice_owner", Subscription, "tenant_id", "invoice_owner_account_id")
_ix("subscription_items_sub", SubscriptionItem, "tenant_id", "subscription_id")
_ix("subscription_owners_sub", SubscriptionOwner, "tenant_id", "subscription_id", "effective_date")
_ix("subscription_owners_invoice_owner", SubscriptionOwner, "tenant_id", "invoice_owner_account_id")
_ix("subscription_suspensions_sub", SubscriptionSuspension, "tenant_id", "subscription_id")
_ix("usage_reports_sub", ConcurrentUsageReport, "tenant_id", "subscription_id", "usage_date")
