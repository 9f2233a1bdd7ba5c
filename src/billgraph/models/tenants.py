"""Tenants, their API keys and users."""

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel

from ._base import id_key, jsonb, server_now, text, timestamp


class Tenant(SQLModel, table=True):
    __tablename__ = "tenants"
    __table_args__ = (UniqueConstraint("name"),)

    id: uuid.UUID = id_key()
    name: str = text()
    metrics_refresh_interval_seconds: int = Field(default=3600, nullable=False)
    default_currency: str = text("USD")
    # [{"name": "CUSTOM1", "unit": "MONTH", "count": 2}, ...]
    custom_periods: list[dict[str, object]] = jsonb(nullable=False)
    created_at: datetime = server_now()


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"
    __table_args__ = (
        UniqueConstraint("key_hash"),
        CheckConstraint("scope IN ('read', 'write', 'admin')", name="api_keys_scope"),
    )

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    key_hash: str = text()  # sha256 of the bearer token; the token itself is never stored
    prefix: str = text()  # first characters, to tell keys apart in listings
    scope: str = text()  # read, write or admin (READ ⊂ WRITE ⊂ ADMIN)
    description: str | None = text(nullable=True)
    created_at: datetime = server_now()
    expires_at: datetime | None = timestamp()
    revoked_at: datetime | None = timestamp()
    last_used_at: datetime | None = timestamp()  # flushed from memory every few seconds


class User(SQLModel, table=True):
    """A person of the tenant, named in billing terms' `performedBy`."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "username"),)

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    username: str = text()
    created_at: datetime = server_now()


Index("api_keys_tenant", ApiKey.__table__.c.tenant_id)  # type: ignore[attr-defined]
