"""The catalog: products, price plans with their charges, billing term schemes."""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlmodel import Field, SQLModel

from ._base import id_key, money, server_now, text


class Product(SQLModel, table=True):
    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    code: str = text()
    name: str = text()
    created_at: datetime = server_now()


class PricePlan(SQLModel, table=True):
    __tablename__ = "price_plans"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    code: str = text()
    name: str = text()
    currency: str = text()
    created_at: datetime = server_now()


class PlanCharge(SQLModel, table=True):
    """A charge of a price plan: `price` per `price_period` of one product."""

    __tablename__ = "plan_charges"
    __table_args__ = (
        CheckConstraint("charge_type IN ('RECURRING', 'ONE_TIME', 'USAGE')", name="charge_type"),
        CheckConstraint("price >= 0", name="plan_charges_price"),
        CheckConstraint("pricing_model IN ('PER_UNIT', 'FLAT_FEE', 'TIERED', 'VOLUME', "
                        "'PACKAGE')", name="plan_charges_pricing_model"),
        CheckConstraint("package_size IS NULL OR package_size >= 1",
                        name="plan_charges_package_size"),
        CheckConstraint("usage_aggregation IS NULL OR usage_aggregation IN ('SUM', 'MAX', "
                        "'LAST')", name="plan_charges_usage_aggregation"),
    )

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    price_plan_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False, index=True)
    product_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    position: int = Field(default=0, nullable=False)
    charge_type: str = text()
    price: Decimal = money()
    price_period: str = text("MONTHLY")
    # Pricing model (SPEC §11); tiers as [{"upTo", "unitPrice", "flatFee"}] (decimal strings).
    pricing_model: str = Field(default="PER_UNIT", sa_type=Text, nullable=False,
                               sa_column_kwargs={"server_default": "PER_UNIT"})
    tiers: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONB, nullable=False,
                                        sa_column_kwargs={"server_default": "[]"})
    package_size: int | None = Field(default=None, nullable=True)
    usage_aggregation: str | None = text(nullable=True)  # USAGE charges: SUM, MAX or LAST
    unit_of_measure: str | None = text(nullable=True)


class BillingTermScheme(SQLModel, table=True):
    __tablename__ = "billing_term_schemes"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        CheckConstraint("type IN ('NORMAL', 'ONE_TIME')", name="scheme_type"),
        CheckConstraint("billing_cycle_day BETWEEN 1 AND 31", name="scheme_cycle_day"),
    )

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    code: str = text()
    type: str = text("NORMAL")
    billing_cycle_day: int = Field(default=1, nullable=False)
    concurrent_usage_based: bool = Field(default=False, nullable=False)
    created_at: datetime = server_now()
