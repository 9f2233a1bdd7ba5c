"""Webhooks (SPEC §14): endpoints, the outbox of events, one delivery per event and endpoint.

`webhook_events` and `webhook_deliveries` are append-only from the write path: a
write that causes an event inserts its rows (never updates a shared row), so
partner-account writers never contend. Only the delivery worker updates a delivery.
"""

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Column, Index, Integer, Text
from sqlalchemy import text as sql
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlmodel import Field, SQLModel

from ._base import id_key, server_now, text, timestamp

DELIVERY_STATUS = "status IN ('PENDING', 'DELIVERED', 'FAILED')"


class WebhookEndpoint(SQLModel, table=True):
    __tablename__ = "webhook_endpoints"

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    url: str = text()
    description: str | None = text(nullable=True)
    event_types: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    enabled: bool = Field(default=True, nullable=False)
    disabled_reason: str | None = text(nullable=True)
    secret: str = text()
    previous_secret: str | None = text(nullable=True)
    previous_secret_expires_at: datetime | None = timestamp()
    # the delivery worker's view of the endpoint's health (never written by API writes)
    failing_since: datetime | None = timestamp()
    consecutive_failures: int = Field(default=0, sa_type=Integer, nullable=False)
    created_at: datetime = server_now()


class WebhookEvent(SQLModel, table=True):
    """The outbox: one row per event, written in the transaction of its change."""

    __tablename__ = "webhook_events"

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    type: str = text()
    data: dict[str, object] = Field(sa_type=JSONB, nullable=False)
    created_at: datetime = timestamp(nullable=False)


class WebhookDelivery(SQLModel, table=True):
    """An event for one endpoint; its id orders like the event's (time-ordered)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (CheckConstraint(DELIVERY_STATUS, name="webhook_delivery_status"),)

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    event_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    endpoint_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    status: str = text("PENDING")
    attempts: int = Field(default=0, sa_type=Integer, nullable=False)
    retry_step: int = Field(default=0, sa_type=Integer, nullable=False)  # tries this round
    next_attempt_at: datetime | None = timestamp()
    leased_until: datetime | None = timestamp()  # a worker is sending it until then
    claim_token: uuid.UUID | None = Field(default=None, sa_type=UUID(as_uuid=True),
                                          nullable=True)
    last_attempt_at: datetime | None = timestamp()
    last_response_status: int | None = Field(default=None, sa_type=Integer, nullable=True)
    last_response_body: str | None = text(nullable=True)  # at most 1 KiB
    last_error: str | None = text(nullable=True)
    created_at: datetime = timestamp(nullable=False)


_d = WebhookDelivery.__table__.c  # type: ignore[attr-defined]
Index("webhook_deliveries_due", _d.tenant_id, _d.next_attempt_at,
      postgresql_where=sql("status = 'PENDING'"))
Index("webhook_deliveries_pending_age", _d.created_at, postgresql_where=sql("status = 'PENDING'"))
Index("webhook_deliveries_endpoint", _d.tenant_id, _d.endpoint_id, _d.id)
