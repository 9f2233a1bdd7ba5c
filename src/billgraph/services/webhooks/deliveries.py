"""Deliveries: listed and redelivered through the API; claimed and settled by the worker.

A claim is lease-safe. In one short transaction per tenant the worker locks due rows
with SKIP LOCKED and marks them leased (`leased_until`, a fresh `claim_token`), then
commits and sends. Another process claims a row only once its lease has passed, and
the sender stops trying to send well before that (workers/webhooks.py), so one
delivery is never sent twice at the same time; a process killed mid-send leaves the
lease to run out and another process sends it later (at least once). Settling a
result matches the claim token: a stale sender (redelivered meanwhile) changes nothing.

Retries: the n-th retry waits base × 4^(n-1) × jitter (0.9–1.1); after RETRIES of them
the delivery is FAILED. At the default base of 5 s that is 5 s … 22.8 h, 30.3 h in all
(at least 27.3 h with jitter), the "≥ 24 h" of SPEC §14.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.db.tx import Writer
from billgraph.services.errors import BadUserInput, NotFound
from billgraph.services.pagination import Page, PageRequest, page_of

RETRIES = 8
FACTOR = 4
DISABLE_AFTER = timedelta(days=3)  # an endpoint failing this long in a row is disabled
STATUSES = ("PENDING", "DELIVERED", "FAILED")


def retry_delay(retry: int, base: float) -> float:
    """Seconds before retry number `retry` (1-based), jittered."""
    return float(base * FACTOR ** (retry - 1) * random.uniform(0.9, 1.1))


def schedule_seconds(base: float) -> float:
    """The whole schedule without jitter: first try to last retry."""
    return float(sum(base * FACTOR ** (n - 1) for n in range(1, RETRIES + 1)))


# ----------------------------------------------------------------------------- API

SELECT = """
SELECT d.*, ev.type AS event_type, ev.data AS event_data, ev.created_at AS event_created_at
FROM webhook_deliveries d
JOIN webhook_endpoints e ON e.tenant_id = d.tenant_id AND e.id = d.endpoint_id
JOIN webhook_events ev ON ev.tenant_id = d.tenant_id AND ev.id = d.event_id
WHERE d.tenant_id = :t"""


@dataclass(frozen=True)
class DeliveryFilter:
    endpoint_id: uuid.UUID | None = None
    status: str | None = None
    event_type: str | None = None


def _where(filters: DeliveryFilter) -> str:
    out = ""
    if filters.endpoint_id is not None:
        out += " AND d.endpoint_id = :endpoint"
    if filters.status is not None:
        out += " AND d.status = :status"
    if filters.event_type is not None:
        out += " AND ev.type = :type"
    return out


async def list_deliveries(conn: AsyncConnection, tenant_id: uuid.UUID, page: PageRequest,
                          filters: DeliveryFilter) -> Page[RowMapping]:
    """Newest first."""
    params = {"t": tenant_id, "endpoint": filters.endpoint_id, "status": filters.status,
              "type": filters.event_type, "after": page.after, "limit": page.first + 1}
    where = _where(filters)
    rows = list((await conn.execute(text(
        SELECT + where + (" AND d.id < :after" if page.after else "")
        + " ORDER BY d.id DESC LIMIT :limit"), params)).mappings())
    total = (await conn.execute(text(
        "SELECT count(*) FROM (" + SELECT + where + ") c"), params)).scalar_one()
    return page_of(rows, page, total)


async def get_delivery(conn: AsyncConnection, tenant_id: uuid.UUID, delivery_id: uuid.UUID,
                       *, field: str = "deliveryId") -> RowMapping:
    row = (await conn.execute(text(SELECT + " AND d.id = :id"),
                              {"t": tenant_id, "id": delivery_id})).mappings().first()
    if row is None:
        raise NotFound("webhook delivery", delivery_id, field=field)
    return row


async def redeliver(writer: Writer, delivery_id: uuid.UUID, now: datetime) -> None:
    """Send it again, now, with a fresh retry schedule and the same webhook-id.

    A send in flight keeps its lease (no second send beside it) and its result is
    dropped (the claim token is cleared): the redelivery follows it."""
    row = await get_delivery(writer.conn, writer.tenant_id, delivery_id)
    endpoint = (await writer.conn.execute(
        text("SELECT enabled FROM webhook_endpoints WHERE tenant_id = :t AND id = :id"),
        {"t": writer.tenant_id, "id": row["endpoint_id"]})).scalar_one()
    if not endpoint:
        raise BadUserInput("deliveryId", "its endpoint is disabled: enable it first "
                                         "(updateWebhookEndpoint with enabled: true)")
    await writer.conn.execute(
        text("UPDATE webhook_deliveries SET status = 'PENDING', retry_step = 0, "
             "next_attempt_at = :now, claim_token = NULL WHERE tenant_id = :t AND id = :id"),
        {"t": writer.tenant_id, "id": delivery_id, "now": now})


# -------------------------------------------------------------------------- worker

TENANTS_DUE = text("""
SELECT t.id FROM tenants t
WHERE t.id IN (SELECT d.tenant_id FROM webhook_deliveries d
               WHERE d.status = 'PENDING' AND d.next_attempt_at <= :now)
""")

CLAIM = text("""
WITH due AS (
    SELECT d.id FROM webhook_deliveries d
    JOIN webhook_endpoints e ON e.tenant_id = d.tenant_id AND e.id = d.endpoint_id AND e.enabled
    WHERE d.tenant_id = :t AND d.status = 'PENDING' AND d.next_attempt_at <= :now
      AND (d.leased_until IS NULL OR d.leased_until <= :now)
    ORDER BY d.next_attempt_at
    LIMIT :limit
    FOR UPDATE OF d SKIP LOCKED)
UPDATE webhook_deliveries d
SET leased_until = :lease, claim_token = :token, attempts = d.attempts + 1,
    retry_step = d.retry_step + 1, last_attempt_at = :now
FROM due, webhook_events ev, webhook_endpoints e
WHERE d.tenant_id = :t AND d.id = due.id
  AND ev.tenant_id = :t AND ev.id = d.event_id AND e.tenant_id = :t AND e.id = d.endpoint_id
RETURNING d.id, d.event_id, d.endpoint_id, d.retry_step, ev.type AS event_type,
          ev.data AS event_data, ev.created_at AS event_created_at, e.url, e.secret,
          e.previous_secret, e.previous_secret_expires_at
""")


async def tenants_due(conn: AsyncConnection, now: datetime) -> list[uuid.UUID]:
    """The tenants with deliveries due (a plain SELECT: one index probe per tenant)."""
    return [r.id for r in await conn.execute(TENANTS_DUE, {"now": now})]


async def claim(conn: AsyncConnection, tenant_id: uuid.UUID, *, now: datetime,
                lease: timedelta, token: uuid.UUID, limit: int) -> list[RowMapping]:
    return list((await conn.execute(CLAIM, {
        "t": tenant_id, "now": now, "lease": now + lease, "token": token,
        "limit": limit})).mappings())


@dataclass(frozen=True)
class Result:
    """What one try did: an HTTP status (2xx delivers) or a transport error."""

    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    retry_step: int  # tries in this round, this one included
    status: int | None
    body: str | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def gave_up(self) -> bool:
        return not self.delivered and self.retry_step > RETRIES


SETTLE = text("""
UPDATE webhook_deliveries d
SET status = r.status, next_attempt_at = r.next_at, leased_until = NULL, claim_token = NULL,
    last_response_status = r.code, last_response_body = r.body, last_error = r.error
FROM unnest(CAST(:ids AS uuid[]), CAST(:statuses AS text[]), CAST(:nexts AS timestamptz[]),
            CAST(:codes AS integer[]), CAST(:bodies AS text[]), CAST(:errors AS text[]))
     AS r(id, status, next_at, code, body, error)
WHERE d.tenant_id = :t AND d.id = r.id AND d.claim_token = :token
""")

def _iso_utc(column: str) -> str:
    """SQL for `column` (timestamptz) as text, e.g. 2026-01-31T12:00:00Z, of IMMUTABLE
    functions only (to_char is STABLE, which Citus refuses inside CASE in an UPDATE)."""
    local = f"({column} AT TIME ZONE 'UTC')"

    def part(field: str, width: int) -> str:
        return f"lpad(CAST(CAST(floor(extract({field} FROM {local})) AS integer) AS text), " \
               f"{width}, '0')"

    return (f"{part('year', 4)} || '-' || {part('month', 2)} || '-' || {part('day', 2)} || 'T' "
            f"|| {part('hour', 2)} || ':' || {part('minute', 2)} || ':' || {part('second', 2)} "
            "|| 'Z'")


# An endpoint works again after one delivered try; one failing since DISABLE_AFTER ago is
# disabled. Rows already healthy are not written.
HEALTH = text(f"""
UPDATE webhook_endpoints e
SET consecutive_failures = CASE WHEN r.ok THEN 0 ELSE e.consecutive_failures + r.failures END,
    failing_since = CASE WHEN r.ok THEN NULL ELSE coalesce(e.failing_since, :now) END,
    enabled = e.enabled AND (r.ok OR coalesce(e.failing_since, :now) > :disable_before),
    disabled_reason = CASE
        WHEN e.enabled AND NOT r.ok AND coalesce(e.failing_since, :now) <= :disable_before
        THEN 'every delivery failed for 3 days (since ' ||
             {_iso_utc("e.failing_since")} ||
             '); last: ' || r.last
        ELSE e.disabled_reason END
FROM unnest(CAST(:ids AS uuid[]), CAST(:oks AS boolean[]), CAST(:failures AS integer[]),
            CAST(:lasts AS text[])) AS r(id, ok, failures, last)
WHERE e.tenant_id = :t AND e.id = r.id AND (NOT r.ok OR e.consecutive_failures > 0)
RETURNING e.id, e.enabled
""")


def describe(result: Result) -> str:
    return f"HTTP {result.status}" if result.status is not None else (result.error or "error")


async def settle(conn: AsyncConnection, tenant_id: uuid.UUID, token: uuid.UUID,
                 results: Sequence[Result], *, now: datetime,
                 base: float) -> list[uuid.UUID]:
    """Record a claimed batch's results and the endpoints' health (one transaction);
    the endpoints this disabled."""
    if not results:
        return []
    statuses = ["DELIVERED" if r.delivered else "FAILED" if r.gave_up else "PENDING"
                for r in results]
    nexts = [now + timedelta(seconds=retry_delay(r.retry_step, base)) if s == "PENDING" else None
             for r, s in zip(results, statuses, strict=True)]
    await conn.execute(SETTLE, {
        "t": tenant_id, "token": token, "ids": [r.delivery_id for r in results],
        "statuses": statuses, "nexts": nexts, "codes": [r.status for r in results],
        "bodies": [r.body for r in results], "errors": [r.error for r in results]})
    by_endpoint: dict[uuid.UUID, list[Result]] = {}
    for r in results:
        by_endpoint.setdefault(r.endpoint_id, []).append(r)
    ids = sorted(by_endpoint)
    rows = await conn.execute(HEALTH, {
        "t": tenant_id, "now": now, "disable_before": now - DISABLE_AFTER, "ids": ids,
        "oks": [any(r.delivered for r in by_endpoint[i]) for i in ids],
        "failures": [sum(not r.delivered for r in by_endpoint[i]) for i in ids],
        "lasts": [describe([r for r in by_endpoint[i] if not r.delivered][-1])
                  if not all(r.delivered for r in by_endpoint[i]) else "" for i in ids]})
    return [row.id for row in rows if not row.enabled]
