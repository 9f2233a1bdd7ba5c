"""Orders, their actions, and background jobs."""

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel

from ._base import day, id_key, jsonb, ref, server_now, text, timestamp


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("tenant_id", "order_number"),)

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    order_number: str = text()
    order_date: date = day()
    account_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    created_at: datetime = server_now()


class OrderAction(SQLModel, table=True):
    __tablename__ = "order_actions"

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    order_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    subscription_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    position: int = Field(nullable=False)
    type: str = text()
    effective_date: date = day()


class Job(SQLModel, table=True):
    """Background work (async orders, bill runs), claimed with FOR UPDATE SKIP LOCKED.

    A claim sets `attempt` and a heartbeat; a RUNNING job whose heartbeat is older
    than the lease is claimed again. Work commits only while its attempt is
    current, so a job's effects never apply twice.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("status IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED')",
                        name="job_status"),
    )

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    kind: str = text()
    status: str = text("PENDING")
    payload: dict[str, Any] = jsonb(nullable=False)
    order_id: uuid.UUID | None = ref(nullable=True)
    bill_run_id: uuid.UUID | None = ref(nullable=True)
    errors: list[dict[str, Any]] = jsonb(nullable=False)
    attempt: int = Field(default=0, nullable=False)
    claimed_by: str | None = text(nullable=True)
    heartbeat_at: datetime | None = timestamp()
    created_at: datetime = server_now()
    started_at: datetime | None = timestamp()
    finished_at: datetime | None = timestamp()


Index("jobs_queue", Job.__table__.c.status, Job.__table__.c.created_at,  # type: ignore[attr-defined]
      postgresql_where=Job.__table__.c.status.in_(["PENDING", "RUNNING"]))  # type: ignore[attr-defined]
Index("order_actions_order", OrderAction.__table__.c.tenant_id, OrderAction.__table__.c.order_id)  # type: ignore[attr-defined]
