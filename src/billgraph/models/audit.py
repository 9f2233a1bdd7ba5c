"""The audit trail: one append-only row per mutation (SPEC §16)."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlmodel import Field, SQLModel

from ._base import id_key, ref, tenant_key, text, timestamp


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"

    tenant_id: uuid.UUID = tenant_key()
    id: uuid.UUID = id_key()  # time-ordered: the keyset of auditEvents pages
    occurred_at: datetime = timestamp(nullable=False)
    operation: str = text()  # the root field, e.g. createOrder
    operation_name: str | None = text(nullable=True)
    api_key_id: uuid.UUID | None = ref(nullable=True)
    request_id: str = text()
    outcome: str = text()  # OK or the ErrorCode
    account_ids: list[uuid.UUID] = Field(
        sa_column=Column(ARRAY(UUID(as_uuid=True)), nullable=False))
    variables: Any = Field(sa_column=Column(JSONB, nullable=False))


Index("audit_events_occurred", AuditEvent.__table__.c.tenant_id,  # type: ignore[attr-defined]
      AuditEvent.__table__.c.occurred_at)  # type: ignore[attr-defined]
