"""Account hierarchies (SPEC §15): the roll-up read model and its stale marks.

The parent itself is `accounts.parent_account_id` (a composite key, so never in
another tenant). Only the hierarchy refresh (services.hierarchy) writes
`hierarchy_metrics`; moves insert `hierarchy_stale_marks` (append-only, like
metrics_stale_marks) for the ancestors whose subtree changed.
"""

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import DateTime, ForeignKeyConstraint, Index, Text
from sqlalchemy import text as sql
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel

from ._base import id_key, money
from .accounts import Account


class HierarchyMetrics(SQLModel, table=True):
    """One row per account with children and currency under it: the sums of the §2
    metrics of the account and its descendants in that currency, as of
    `last_metrics_update` (every member recompute committed by then is included)."""

    __tablename__ = "hierarchy_metrics"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "account_id"], ["accounts.tenant_id", "accounts.id"],
                             name="hierarchy_metrics_account_id_fkey"),
    )

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    account_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    currency: str = Field(sa_type=Text, primary_key=True)
    account_count: int = Field(nullable=False)
    balance: Decimal = money()
    credit_balance: Decimal = money()
    total_invoice_balance: Decimal = money()
    contracted_mrr: Decimal = money()
    last_metrics_update: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)


class HierarchyStaleMark(SQLModel, table=True):
    """A move or a new child inserts one per ancestor whose subtree changed; the
    refresh deletes the marks of its hierarchy in the statement that recomputes it."""

    __tablename__ = "hierarchy_stale_marks"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "account_id"], ["accounts.tenant_id", "accounts.id"],
                             name="hierarchy_stale_marks_account_id_fkey"),
    )

    tenant_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), primary_key=True)
    id: uuid.UUID = id_key()
    account_id: uuid.UUID = Field(sa_type=UUID(as_uuid=True), nullable=False)
    marked_at: datetime = Field(
        default=None, sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": sql("clock_timestamp()")}, nullable=False,
    )


Index("hierarchy_stale_marks_account", HierarchyStaleMark.__table__.c.tenant_id,  # type: ignore[attr-defined]
      HierarchyStaleMark.__table__.c.account_id)  # type: ignore[attr-defined]

# the parent: a composite self-reference, so never an account of another tenant
Account.__table__.append_constraint(ForeignKeyConstraint(  # type: ignore[attr-defined]
    ["tenant_id", "parent_account_id"], ["accounts.tenant_id", "accounts.id"],
    name="accounts_parent_account_id_fkey"))
