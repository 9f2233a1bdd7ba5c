"""The outbox: events appended in the transaction of the change they report.

`record()` is ONE statement: it inserts the event rows (their `data` built in SQL
from the rows the change just wrote, so every event type has one documented shape)
and one delivery per enabled endpoint of the tenant subscribed to the type. When no
endpoint is subscribed nothing is inserted. Only INSERTs, and the endpoints are read
without a lock: concurrent writes to one partner account never wait for each other
here. The delivery worker finds the new deliveries by polling (no NOTIFY in the
write transaction).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.db import raw
from billgraph.models import new_id

if TYPE_CHECKING:
    from billgraph.db.tx import Writer
    from billgraph.services.orders.actions import Applied


@dataclass(frozen=True)
class Source:
    """Where an event type's `data` comes from: a table, its key and a jsonb builder."""

    table: str
    key: str
    data: str


def _money(column: str) -> str:
    return f"CAST(d.{column} AS text)"


INVOICE = Source("invoices", "id", f"""jsonb_build_object(
    'invoiceId', d.id, 'invoiceNumber', d.invoice_number, 'accountId', d.account_id,
    'status', d.status, 'currency', d.currency, 'amount', {_money('amount')},
    'balance', {_money('balance')}, 'invoiceDate', d.invoice_date, 'dueDate', d.due_date,
    'billRunId', d.bill_run_id)""")
PAYMENT = Source("payments", "id", f"""jsonb_build_object(
    'paymentId', d.id, 'paymentNumber', d.payment_number, 'accountId', d.account_id,
    'currency', d.currency, 'amount', {_money('amount')},
    'appliedAmount', {_money('applied_amount')}, 'refundedAmount', {_money('refunded_amount')},
    'unappliedAmount', CAST(d.amount - d.applied_amount - d.refunded_amount AS text),
    'effectiveDate', d.effective_date)""")
CREDIT_MEMO = Source("credit_memos", "id", f"""jsonb_build_object(
    'creditMemoId', d.id, 'memoNumber', d.memo_number, 'accountId', d.account_id,
    'currency', d.currency, 'amount', {_money('amount')},
    'appliedAmount', {_money('applied_amount')}, 'refundedAmount', {_money('refunded_amount')},
    'memoDate', d.memo_date, 'reason', d.reason)""")
DEBIT_MEMO = Source("debit_memos", "id", f"""jsonb_build_object(
    'debitMemoId', d.id, 'memoNumber', d.memo_number, 'accountId', d.account_id,
    'currency', d.currency, 'amount', {_money('amount')}, 'balance', {_money('balance')},
    'memoDate', d.memo_date, 'reason', d.reason)""")
SUBSCRIPTION = Source("subscriptions", "id", """jsonb_build_object(
    'subscriptionId', d.id, 'subscriptionNumber', d.subscription_number,
    'ownerAccountId', d.owner_account_id, 'invoiceOwnerAccountId', d.invoice_owner_account_id,
    'status', d.status, 'startDate', d.start_date, 'cancelledOn', d.cancelled_on)""")
ORDER = Source("orders", "id", """jsonb_build_object(
    'orderId', d.id, 'orderNumber', d.order_number, 'accountId', d.account_id,
    'orderDate', d.order_date)""")
BILL_RUN = Source("bill_runs", "id", f"""jsonb_build_object(
    'billRunId', d.id, 'status', d.status, 'targetDate', d.target_date,
    'invoiceDate', d.invoice_date, 'accountsTotal', d.accounts_total,
    'accountsProcessed', d.accounts_processed, 'invoicesCreated', d.invoices_created,
    'totalAmount', {_money('total_amount')}, 'errors', d.errors)""")
METRICS = Source("account_metrics", "account_id", f"""jsonb_build_object(
    'accountId', d.account_id, 'currency', d.currency, 'balance', {_money('balance')},
    'creditBalance', {_money('credit_balance')},
    'totalInvoiceBalance', {_money('total_invoice_balance')},
    'totalDebitMemoBalance', {_money('total_debit_memo_balance')},
    'unappliedPaymentAmount', {_money('unapplied_payment_amount')},
    'unappliedCreditMemoAmount', {_money('unapplied_credit_memo_amount')},
    'contractedMrr', {_money('contracted_mrr')}, 'lastInvoiceDate', d.last_invoice_date)""")

SOURCES: Mapping[str, Source] = {
    "ACCOUNT_METRICS_UPDATED": METRICS, "ORDER_CREATED": ORDER,
    "SUBSCRIPTION_CREATED": SUBSCRIPTION, "SUBSCRIPTION_CANCELLED": SUBSCRIPTION,
    "INVOICE_POSTED": INVOICE, "INVOICE_CANCELED": INVOICE, "PAYMENT_CREATED": PAYMENT,
    "PAYMENT_APPLIED": PAYMENT, "PAYMENT_REFUNDED": PAYMENT, "CREDIT_MEMO_POSTED": CREDIT_MEMO,
    "DEBIT_MEMO_POSTED": DEBIT_MEMO, "BILL_RUN_COMPLETED": BILL_RUN, "BILL_RUN_FAILED": BILL_RUN,
}

# A delivery's id: the event's time-ordered first half, then 64 bits of md5(event, endpoint)
# (immutable functions only, so the statement is fine on Citus; deliveries list by event time).
DELIVERY_ID = ("CAST(substr(CAST(ev.id AS text), 1, 19) || substr(md5(CAST(ev.id AS text) || "
               "CAST(sub.id AS text)), 1, 4) || '-' || substr(md5(CAST(ev.id AS text) || "
               "CAST(sub.id AS text)), 5, 12) AS uuid)")


@dataclass(frozen=True)
class Group:
    """Events of one type: the source rows' keys and, per row, extra data merged in."""

    type: str
    ids: Sequence[uuid.UUID]
    extras: Sequence[Mapping[str, Any]] | None = None


def _part(n: str, group: Group, params: dict[str, Any], now: str) -> str:
    """The CTEs of one group's events and deliveries, their names and parameters ending in
    `n` (`:t` is the tenant, the parameter `now` the time)."""
    source = SOURCES[group.type]
    extras = (["{}"] * len(group.ids) if not group.extras
              else [json.dumps(e, default=str) for e in group.extras])
    params.update({f"type{n}": group.type, f"ids{n}": list(group.ids),
                   f"events{n}": [new_id() for _ in group.ids], f"extras{n}": extras})
    return f"""
sub{n} AS MATERIALIZED (
    SELECT id FROM webhook_endpoints
    WHERE tenant_id = :t AND enabled AND CAST(:type{n} AS text) = ANY(event_types)),
ev{n} AS (
    INSERT INTO webhook_events (tenant_id, id, type, data, created_at)
    SELECT CAST(:t AS uuid), u.event_id, CAST(:type{n} AS text),
           {source.data} || u.extra, CAST(:{now} AS timestamptz)
    FROM unnest(CAST(:ids{n} AS uuid[]), CAST(:events{n} AS uuid[]),
                CAST(:extras{n} AS jsonb[])) AS u(source_id, event_id, extra)
    JOIN {source.table} d ON d.tenant_id = CAST(:t AS uuid) AND d.{source.key} = u.source_id
    WHERE EXISTS (SELECT FROM sub{n})
    RETURNING id),
del{n} AS (
    INSERT INTO webhook_deliveries (tenant_id, id, event_id, endpoint_id, status, attempts,
                                    retry_step, next_attempt_at, created_at)
    SELECT CAST(:t AS uuid), {DELIVERY_ID.replace("sub.", f"sub{n}.").replace("ev.", f"ev{n}.")},
           ev{n}.id, sub{n}.id, 'PENDING', 0, 0, CAST(:{now} AS timestamptz),
           CAST(:{now} AS timestamptz)
    FROM ev{n} CROSS JOIN sub{n})"""


def _add_groups(later: raw.Later, groups: Sequence[Group]) -> None:
    """The events of `groups` and their deliveries as a part of `later`."""
    groups = [g for g in groups if g.ids]
    if groups:
        now = later.name("now")
        params: dict[str, Any] = {now: datetime.now(UTC)}
        later.add([_part(later.name(""), g, params, now) for g in groups], params)


async def record_groups(conn: AsyncConnection, tenant_id: uuid.UUID,
                        groups: Sequence[Group]) -> None:
    """Append the events of `groups` and their deliveries: one statement (none when no
    group has rows)."""
    statement = raw.Later(tenant_id)  # sent at once, on its own
    _add_groups(statement, groups)
    await statement.send(conn)


def defer_groups(writer: Writer, groups: Sequence[Group]) -> None:
    """`record_groups`, sent at the end of the writer's transaction with its other
    deferred writes (`Writer.later`): the events read the rows the transaction wrote by
    then, which include every row written before this call."""
    _add_groups(writer.later, groups)


async def record(writer: Writer, type: str, ids: Sequence[uuid.UUID],
                 extras: Sequence[Mapping[str, Any]] | None = None) -> None:
    """Call in the write transaction that changed the rows `ids` (of the type's table)."""
    await record_groups(writer.conn, writer.tenant_id, [Group(type, ids, extras)])


def order_created(writer: Writer, order_id: uuid.UUID, applied: Applied) -> None:
    """An order's events: ORDER_CREATED, SUBSCRIPTION_CREATED, SUBSCRIPTION_CANCELLED
    (deferred to the end of the transaction)."""
    cancelled = [a.subscription.id for a in applied.actions if a.type == "CANCEL_SUBSCRIPTION"]
    defer_groups(writer, [
        Group("ORDER_CREATED", [order_id]),
        Group("SUBSCRIPTION_CREATED", [s.id for s in applied.subs if s.new]),
        Group("SUBSCRIPTION_CANCELLED", sorted(set(cancelled))),
    ])


def applied(entries: Sequence[tuple[tuple[str, uuid.UUID], Any]]) -> dict[str, Any]:
    """PAYMENT_APPLIED's extra data: what this call applied, to which documents."""
    return {"applications": [
        {"invoiceId" if table == "invoices" else "debitMemoId": str(doc_id),
         "amount": str(amount)} for (table, doc_id), amount in entries]}
