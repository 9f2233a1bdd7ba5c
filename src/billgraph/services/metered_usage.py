"""Usage records of USAGE charges (SPEC §11): recordUsage, and usage summaries.

`record_usage` writes up to 10,000 records in ONE statement: the input arrays are
spread by `unnest`, each record resolved to its subscription (by number), product (by
code) and the USAGE item of that product active on the record's UTC date, and the
resolved ones inserted with ``ON CONFLICT (tenant_id, record_id) DO NOTHING``. So:

* a record sent again (by this call or any other, even one racing it) is stored once:
  the second insert of a key waits for the first's transaction and then does nothing,
  and its record is reported ``duplicate``;
* nothing is locked that another writer to the account needs: the subscriptions and
  items are read by plain SELECTs (no FOR UPDATE / FOR KEY SHARE: usage_records has no
  foreign keys), no counter or metrics row is written and metrics are not recomputed
  (usage has no MRR and changes no balance until a bill run invoices it);
* each record succeeds or fails on its own (per-record errors naming the field).

`summaries` shows each USAGE item's service periods with the aggregated quantity and
the amount under the charge's model — computed by the same pure functions the bill
run uses (`charges.usage_periods`) — and whether a bill run invoiced the period.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.db import raw
from billgraph.db.tx import Writer
from billgraph.services.billing import facts as billing_facts
from billgraph.services.billing.charges import ChargeError, usage_periods
from billgraph.services.errors import BadUserInput, ErrorCode

MAX_RECORDS = 10_000
MAX_RECORD_ID = 255
ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class UsageRecordInput:
    record_id: str
    subscription_number: str
    product_code: str
    quantity: Decimal
    timestamp: datetime


@dataclass
class UsageRecordResult:
    record_id: str
    accepted: bool = False
    duplicate: bool = False
    errors: list[dict[str, str]] = field(default_factory=list)


RECORD = text("""
WITH input AS (
    SELECT * FROM unnest(CAST(:n AS integer[]), CAST(:ids AS text[]), CAST(:subs AS text[]),
                         CAST(:products AS text[]), CAST(:quantities AS numeric[]),
                         CAST(:stamps AS timestamptz[]), CAST(:days AS date[]))
        AS u(n, record_id, subscription_number, product_code, quantity, recorded_at,
             usage_date)),
resolved AS (
    SELECT u.*, s.id AS subscription_id, p.id AS product_id, i.id AS item_id,
           i.id IS NOT NULL OR EXISTS (
               SELECT 1 FROM subscription_items x WHERE x.tenant_id = :t
                 AND x.subscription_id = s.id AND x.product_id = p.id
                 AND x.charge_type = 'USAGE') AS has_item
    FROM input u
    LEFT JOIN subscriptions s
           ON s.tenant_id = :t AND s.subscription_number = u.subscription_number
    LEFT JOIN products p ON p.tenant_id = :t AND p.code = u.product_code
    LEFT JOIN LATERAL (
        SELECT i.id FROM subscription_items i
        WHERE i.tenant_id = :t AND i.subscription_id = s.id AND i.product_id = p.id
          AND i.charge_type = 'USAGE' AND i.start_date <= u.usage_date
          AND (i.end_date IS NULL OR i.end_date > u.usage_date)
        ORDER BY i.start_date DESC LIMIT 1) i ON true),
stored AS (
    INSERT INTO usage_records (tenant_id, record_id, subscription_id, item_id, product_id,
                               quantity, recorded_at, usage_date)
    SELECT CAST(:t AS uuid), record_id, subscription_id, item_id, product_id, quantity,
           recorded_at, usage_date
    FROM resolved WHERE item_id IS NOT NULL
    ON CONFLICT (tenant_id, record_id) DO NOTHING
    RETURNING record_id)
SELECT r.n, r.subscription_id IS NOT NULL AS subscription_found,
       r.product_id IS NOT NULL AS product_found, r.has_item, r.item_id IS NOT NULL AS active
FROM resolved r
WHERE NOT EXISTS (SELECT 1 FROM stored st WHERE st.record_id = r.record_id)
""")  # only the records not stored: the usual answer (all stored) is an empty result


def _error(code: ErrorCode, at: str, message: str) -> dict[str, str]:
    return {"code": code.value, "message": message, "field": at}


def _check(record: UsageRecordInput, n: int) -> dict[str, str] | None:
    if not record.record_id.strip() or len(record.record_id) > MAX_RECORD_ID:
        return _error(ErrorCode.BAD_USER_INPUT, f"records[{n}].recordId",
                      f"records[{n}].recordId must be 1 to {MAX_RECORD_ID} characters")
    if not record.quantity.is_finite() or record.quantity < 0:
        return _error(ErrorCode.BAD_USER_INPUT, f"records[{n}].quantity",
                      f"records[{n}].quantity must be 0 or more")
    return None


def utc(moment: datetime) -> datetime:
    """A timestamp in UTC (one without an offset is taken as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def record_usage(writer: Writer,
                       records: Sequence[UsageRecordInput]) -> list[UsageRecordResult]:
    """Store `records` (one statement); a result per record, in input order."""
    if len(records) > MAX_RECORDS:
        raise BadUserInput("records", f"at most {MAX_RECORDS} records per call "
                                      f"({len(records)} given)")
    results = [UsageRecordResult(r.record_id) for r in records]
    first: dict[str, int] = {}  # recordId -> its first valid position in this call
    send: list[int] = []
    again: list[int] = []  # valid records whose recordId came earlier in this call
    for n, record in enumerate(records):
        problem = _check(record, n)
        if problem is not None:
            results[n].errors.append(problem)
        elif record.record_id in first:
            again.append(n)  # settled after the statement, like its first occurrence
        else:
            first[record.record_id] = n
            send.append(n)
    if send:
        sent = [records[n] for n in send]
        stamps = [utc(r.timestamp) for r in sent]
        refused = await writer.conn.execute(RECORD, {
            "t": writer.tenant_id, "n": send, "ids": [r.record_id for r in sent],
            "subs": [r.subscription_number for r in sent],
            "products": [r.product_code for r in sent],
            "quantities": [r.quantity for r in sent],
            "stamps": stamps, "days": [s.date() for s in stamps]})
        why = {row.n: row for row in refused}
        for n in send:
            if n in why:
                _settle(results[n], why[n], records[n], n)
            else:
                results[n].accepted = True
    for n in again:
        settled = results[first[records[n].record_id]]
        results[n].duplicate = settled.accepted or settled.duplicate
        results[n].errors = list(settled.errors)
    return results


def _settle(result: UsageRecordResult, row: Any, record: UsageRecordInput, n: int) -> None:
    """Why a record sent to the statement was not stored."""
    at = f"records[{n}]"
    if row.active:
        result.duplicate = True
    elif not row.subscription_found:
        result.errors.append(_error(ErrorCode.NOT_FOUND, f"{at}.subscriptionNumber",
                                    f"no subscription {record.subscription_number!r}"))
    elif not row.product_found or not row.has_item:
        result.errors.append(_error(
            ErrorCode.BAD_USER_INPUT, f"{at}.productCode",
            f"product {record.product_code!r} is not a USAGE item of subscription "
            f"{record.subscription_number}"))
    else:
        result.errors.append(_error(
            ErrorCode.BAD_USER_INPUT, f"{at}.timestamp",
            f"{utc(record.timestamp).date()} (UTC) is outside every active period of the "
            f"USAGE item {record.product_code} of subscription {record.subscription_number}"))


# ---------------------------------------------------------------- summaries

@dataclass(frozen=True)
class UsageSummary:
    subscription_id: uuid.UUID
    product_id: uuid.UUID
    period_start: date
    period_end: date  # inclusive
    quantity: Decimal
    record_count: int
    amount: Decimal
    billed: bool


SummaryKey = tuple[uuid.UUID, date, date]  # (subscription id, from, to)


SUBSCRIPTION_TERMS = """
SELECT s.id, s.subscription_number, s.invoice_owner_account_id, s.start_date,
       s.billing_cycle_day, s.billing_frequency, s.price_plan_id, pp.currency AS plan_currency,
       sch.type AS scheme_type, s.cu_concurrent_usage, s.cu_rate_percentage,
       s.cu_installed_items, s.cu_billing_method
FROM subscriptions s
JOIN billing_term_schemes sch ON sch.tenant_id = s.tenant_id AND sch.id = s.scheme_id
JOIN price_plans pp ON pp.tenant_id = s.tenant_id AND pp.id = s.price_plan_id
WHERE s.tenant_id = :t AND s.id = ANY(CAST(:subs AS uuid[]))
"""

USAGE_ITEMS = """
SELECT id, subscription_id, product_id, charge_type, quantity, price, price_period,
       start_date, end_date
FROM subscription_items
WHERE tenant_id = :t AND subscription_id = ANY(CAST(:subs AS uuid[]))
  AND charge_type = 'USAGE'
ORDER BY subscription_id, start_date, id
"""

BILLED_PERIODS = """
SELECT DISTINCT l.item_id, l.period_start FROM billing_ledger l
WHERE l.tenant_id = :t AND l.item_id = ANY(CAST(:items AS uuid[]))
  AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.tenant_id = :t AND i.id = l.invoice_id
                  AND i.status = 'CANCELED')
"""


async def summaries(conn: AsyncConnection, tenant_id: uuid.UUID,
                    keys: Sequence[SummaryKey]) -> dict[SummaryKey, list[UsageSummary]]:
    """For each (subscription, from, to): one summary per USAGE item and service period
    overlapping [from, to], in item and period order. A fixed number of statements
    whatever the number of keys."""
    found: dict[SummaryKey, list[UsageSummary]] = {k: [] for k in keys}
    subs = {r["id"]: r for r in await raw.fetch(
        conn, SUBSCRIPTION_TERMS, {"t": tenant_id, "subs": list({k[0] for k in keys})})}
    rows = await raw.fetch(conn, USAGE_ITEMS, {"t": tenant_id, "subs": list(subs)}) \
        if subs else []
    if not rows:
        return found
    custom = await billing_facts.load_custom_periods(conn, tenant_id)
    charges = await billing_facts.plan_charges(conn, tenant_id,
                                               {r["price_plan_id"] for r in subs.values()})
    usage = await billing_facts.usage_days(conn, tenant_id, [r["id"] for r in rows])
    billed = {(b["item_id"], b["period_start"]) for b in await raw.fetch(
        conn, BILLED_PERIODS, {"t": tenant_id, "items": [r["id"] for r in rows]})}
    for row in rows:
        sub = subs[row["subscription_id"]]
        terms = billing_facts.terms_of(sub)
        item = billing_facts.item_of(row, "", charges.get((sub["price_plan_id"],
                                                           row["product_id"])),
                                     usage.get(row["id"], ()))
        for key in keys:
            sub_id, start, end = key
            if sub_id != row["subscription_id"]:
                continue
            until = end if item.end_date is None else min(end, item.end_date - ONE_DAY)
            try:
                periods = list(usage_periods(item, terms, custom=custom,
                                             currency=sub["plan_currency"], until=until))
            except ChargeError:
                continue  # no billing frequency: no usage periods to show
            found[key].extend(
                UsageSummary(row["subscription_id"], row["product_id"], p.period.start,
                             p.period.last_day, p.quantity, p.record_count, p.amount,
                             (row["id"], p.period.start) in billed)
                for p in periods if p.period.last_day >= start)
    return found
