"""The audit trail (SPEC §16): one append-only event per mutation.

A mutation's root field runs with an `AuditRecord` as the current record (a context
variable, set by the schema's audit field extension). The one write path
(AppState.write) appends the event inside the mutation's own transaction, after
its work and before COMMIT: no change without its event, and the event is an
INSERT of a new row, so concurrent writers of one partner account never wait on
each other for it. A mutation that fails gets its event afterwards, in a short
transaction of its own (`append_outside`).

Variables are stored with secrets masked: any value under a name containing
secret, password, token or authorization, and any string that looks like an API
key or a webhook secret wherever it appears.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.db import raw
from billgraph.db.tx import Writer
from billgraph.models import new_id

from .pagination import Page, PageRequest, keyset_page

OK = "OK"
MASK = "***"
SECRET_NAME = re.compile(r"secret|password|passwd|token|authorization|credential", re.I)
# bearer tokens of this server (services/tenants.KEY_PREFIX) and Standard Webhooks secrets
SECRET_VALUE = re.compile(r"\b(bgk_|whsec_)[A-Za-z0-9_\-+/=]{8,}")
# Everything either pattern could match leaves one of these in the JSON text, lowered (a
# key or string is written verbatim but for escapes of characters neither pattern
# contains), so a JSON text without any has nothing to mask. (`in` is memchr-fast; a
# case-insensitive alternation took 23 µs per usage record.)
SECRET_HINTS = ("secret", "password", "passwd", "token", "authorization", "credential",
                "bgk_", "whsec_")


def mask(value: Any, name: str = "") -> Any:
    """`value` (JSON-like) with every secret replaced by ***."""
    if SECRET_NAME.search(name) and value is not None:
        return MASK
    if isinstance(value, dict):
        return {str(k): mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v, name) for v in value]
    if isinstance(value, str):
        return SECRET_VALUE.sub(MASK, value)
    return value


@dataclass
class AuditRecord:
    """What is known of a mutation's root field before it runs."""

    tenant_id: uuid.UUID
    api_key_id: uuid.UUID | None
    operation: str
    operation_name: str | None
    request_id: str
    variables: dict[str, Any]
    written: bool = False
    accounts: set[uuid.UUID] = field(default_factory=set)


CURRENT: ContextVar[AuditRecord | None] = ContextVar("billgraph_audit", default=None)

INSERT = (
    "INSERT INTO audit_events (tenant_id, id, occurred_at, operation, operation_name, "
    "api_key_id, request_id, outcome, account_ids, variables) VALUES (:t, :id, :at, :op, "
    ":name, :key, :rid, :outcome, CAST(:accounts AS uuid[]), CAST(:vars AS jsonb))")


def _values(record: AuditRecord, outcome: str, occurred_at: datetime,
            accounts: set[uuid.UUID]) -> dict[str, Any]:
    return {"t": record.tenant_id, "id": new_id(), "at": occurred_at, "op": record.operation,
            "name": record.operation_name, "key": record.api_key_id,
            "rid": record.request_id, "outcome": outcome, "accounts": sorted(accounts),
            "vars": masked_json(record.variables)}


async def _insert(conn: AsyncConnection, record: AuditRecord, outcome: str,
                  occurred_at: datetime, accounts: set[uuid.UUID]) -> None:
    await raw.fetch(conn, INSERT, _values(record, outcome, occurred_at, accounts))


def masked_json(variables: dict[str, Any]) -> str:
    """`variables` as JSON with every secret masked. The walk of `mask` is taken only when
    the JSON text could hold a secret: 10,000 usage records spent more CPU in it than in
    their insert."""
    written = json.dumps(variables, default=plain)
    lowered = written.lower()
    if not any(hint in lowered for hint in SECRET_HINTS):
        return written
    return json.dumps(mask(variables), default=plain)


def plain(value: Any) -> Any:
    """JSON for what json cannot write itself: enums by value, the rest (Decimal, date,
    UUID) as their string."""
    return value.value if isinstance(value, Enum) else str(value)


def defer_success(writer: Writer, record: AuditRecord, occurred_at: datetime) -> None:
    """Inside the mutation's transaction, after its work: the OK event, sent with the
    transaction's other deferred writes in one statement before COMMIT (`Writer.later`;
    the caller sets `record.written` once it has committed). The accounts are those it
    touched by then (an account `metrics.touched_later` defers is among them, and so is
    any it recomputes)."""
    accounts = record.accounts | writer.accounts | writer.recomputed
    later = writer.later
    sql, params = later.own(INSERT, _values(record, OK, occurred_at, accounts))
    later.add([f"{later.name('audit')} AS ({sql})"], params)


async def append_outside(conn: AsyncConnection, record: AuditRecord, outcome: str,
                         occurred_at: datetime) -> None:
    """In a transaction of its own: the event of a failed mutation (with its code), or of
    a successful one that wrote nothing."""
    await _insert(conn, record, outcome, occurred_at, record.accounts)
    record.written = True


@dataclass
class AuditFilter:
    operation: str | None = None
    account_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def list_events(conn: AsyncConnection, tenant_id: uuid.UUID, page: PageRequest,
                      filters: AuditFilter) -> Page[RowMapping]:
    """Newest first (ids are time-ordered)."""
    clauses, params = ["tenant_id = :t"], dict[str, Any](t=tenant_id)
    for column, value in (("operation", filters.operation), ("outcome", filters.outcome),
                          ("api_key_id", filters.api_key_id)):
        if value is not None:
            clauses.append(f"{column} = :{column}")
            params[column] = value
    if filters.account_id is not None:
        clauses.append("CAST(:account AS uuid) = ANY(account_ids)")
        params["account"] = filters.account_id
    if filters.since is not None:
        clauses.append("occurred_at >= :since")
        params["since"] = filters.since
    if filters.until is not None:
        clauses.append("occurred_at < :until")
        params["until"] = filters.until
    return await keyset_page(conn, "audit_events", " AND ".join(clauses), params, page,
                             newest_first=True)


async def tenants_with_expired(conn: AsyncConnection, before: datetime) -> Sequence[uuid.UUID]:
    """The tenants that have events older than `before` (a plain SELECT, no locks)."""
    rows = await conn.execute(
        text("SELECT DISTINCT tenant_id FROM audit_events WHERE occurred_at < :before"),
        {"before": before})
    return [row.tenant_id for row in rows]


async def purge_expired(conn: AsyncConnection, tenant_id: uuid.UUID, before: datetime,
                        *, batch: int = 5000) -> int:
    """Delete up to `batch` of one tenant's events older than `before` (the retention)."""
    result = await conn.execute(
        text("DELETE FROM audit_events WHERE tenant_id = :t AND id IN ("
             "SELECT id FROM audit_events WHERE tenant_id = :t AND occurred_at < :before "
             "LIMIT :batch)"),
        {"t": tenant_id, "before": before, "batch": batch})
    return int(result.rowcount)
