"""Idempotency keys: the first result of a create mutation, per tenant and key."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Text
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel

from ._base import jsonb, server_now, text


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_keys"

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    key: str = Field(sa_type=Text, primary_key=True)
    operation: str = text()
    request_hash: str = text()
    result: dict[str, Any] = jsonb(nullable=False)  # ids of what the first call returned
    created_at: datetime = server_now()
