"""Orders (SPEC §5): a list of order actions per subscription, applied in one transaction.

`create_order` validates the whole order in Python against a few batched lookups
(lookup.py), applies the actions in memory (actions.py), then writes everything
set-based (write.py) and recomputes the metrics of every account it touched.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.db import raw
from billgraph.db.raw import Row
from billgraph.db.tx import Writer
from billgraph.services import metrics
from billgraph.services.accounts import check_number
from billgraph.services.errors import BadUserInput, NotFound
from billgraph.services.numbers import parse_uuid
from billgraph.services.webhooks import outbox

from . import lookup
from .actions import Applied, OrderActions
from .inputs import (
    ASYNC_LIMITS,
    SYNC_LIMITS,
    ActionInput,
    ItemInput,
    Limits,
    OrderInput,
    SubscriptionInput,
    from_json,
    to_json,
)
from .write import write_order

__all__ = [
    "ASYNC_LIMITS",
    "JOB_KIND",
    "SYNC_LIMITS",
    "ActionInput",
    "ItemInput",
    "Limits",
    "OrderInput",
    "Placed",
    "SubscriptionInput",
    "check_limits",
    "create_order",
    "find_order",
    "from_json",
    "place_order",
    "to_json",
]

JOB_KIND = "order"  # createOrderAsync's jobs (run by workers/orders.py)


def today() -> date:
    return datetime.now(UTC).date()


def check_limits(order: OrderInput, limits: Limits) -> None:
    """At most `limits` subscriptions and actions (BAD_USER_INPUT naming `subscriptions`)."""
    if not order.subscriptions:
        raise BadUserInput("subscriptions", "give at least one subscription")
    if len(order.subscriptions) > limits.subscriptions:
        raise BadUserInput("subscriptions", f"at most {limits.subscriptions} subscriptions per "
                           f"order (this one has {len(order.subscriptions)})")
    actions = sum(len(s.actions) for s in order.subscriptions)
    if actions > limits.actions:
        raise BadUserInput("subscriptions", f"at most {limits.actions} order actions per order "
                           f"(this one has {actions})")


async def create_order(writer: Writer, order: OrderInput,
                       limits: Limits = SYNC_LIMITS) -> Row:
    """Apply the order's actions in this transaction; the order's row (as `find_order`
    reads it: the caller need not read it back). Starts no billing."""
    placed = await place_order(writer, order, limits)
    # the stale marks (or metrics locks), the events and the audit event go in one
    # statement before COMMIT (Writer.later): nothing after this reads them. The locks
    # come first: pg_stat_activity shows a statement's first 1 kB, so a write waiting
    # for a metrics lock shows as one.
    await metrics.touched_later(writer, placed.touched)
    outbox.order_created(writer, placed.order_id, placed.applied)
    return placed.row


@dataclass(frozen=True)
class Placed:
    row: Row  # the order's
    order_id: uuid.UUID
    applied: Applied
    touched: set[uuid.UUID]  # every account whose metrics the order changes
    generated: frozenset[uuid.UUID]  # new subscriptions whose number was generated


async def place_order(writer: Writer, order: OrderInput, limits: Limits = SYNC_LIMITS, *,
                      consume_numbers: bool = True) -> Placed:
    """createOrder's checks and rows, without its events and metrics: what
    `create_order` commits, and what `preview.preview_order` writes and rolls back."""
    check_limits(order, limits)
    number = (check_number("orderNumber", order.order_number)
              if order.order_number is not None else None)
    order_date = order.order_date or today()
    earliest = min([order_date] + [a.effective_date for s in order.subscriptions
                                   for a in s.actions if a.effective_date is not None])
    found = await lookup.load(writer.conn, writer.tenant_id, order, earliest,
                              consume_numbers=consume_numbers)
    account_id = parse_uuid(order.account_id)
    if account_id is None or account_id not in found.accounts:
        raise NotFound("account", order.account_id, field="accountId")
    applied = OrderActions(order, found, order_date).apply()
    generated = frozenset(s.id for s in applied.subs if s.new and s.number is None)
    row = await write_order(writer, number, order_date, account_id, applied, found)
    return Placed(row, row["id"], applied, applied.touched | {account_id}, generated)


async def find_order(conn: AsyncConnection, tenant_id: uuid.UUID, *,
                     order_id: uuid.UUID | None = None,
                     order_number: str | None = None) -> Row | None:
    column, value = ("id", order_id) if order_id is not None else ("order_number", order_number)
    return await raw.fetchrow(conn, f"SELECT * FROM orders WHERE tenant_id = :t AND {column} = :v",
                              {"t": tenant_id, "v": value})
