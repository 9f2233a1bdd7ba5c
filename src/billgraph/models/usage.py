"""Usage records of USAGE charges (SPEC §11)."""

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Index, Text
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel

from ._base import day, money, server_now, timestamp


class UsageRecord(SQLModel, table=True):
    """One usage record, stored once per (tenant, record_id). No foreign keys on purpose
    (see migration 0003_pricing): recording usage takes no lock on the subscription."""

    __tablename__ = "usage_records"
    __table_args__ = (CheckConstraint("quantity >= 0", name="usage_quantity"),)

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    record_id: str = Field(sa_type=Text, primary_key=True)
    subscription_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    item_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    product_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    quantity: Decimal = money()
    recorded_at: datetime = timestamp(nullable=False)
    usage_date: date = day()
    created_at: datetime = server_now()


_t = UsageRecord.__table__  # type: ignore[attr-defined]
Index("usage_records_item", _t.c.tenant_id, _t.c.item_id, _t.c.usage_date)
