"""Writing an applied order: one statement per table, whatever the number of rows."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.db.tx import Writer
from billgraph.models import new_id
from billgraph.services import bulk
from billgraph.services.accounts import next_number
from billgraph.services.errors import Conflict

from .actions import Applied, Sub

SUBSCRIPTION_COLUMNS = [
    ("id", "uuid"), ("subscription_number", "text"), ("owner_account_id", "uuid"),
    ("invoice_owner_account_id", "uuid"), ("status", "text"), ("start_date", "date"),
    ("cancelled_on", "date"), ("price_plan_id", "uuid"), ("scheme_id", "uuid"),
    ("billing_cycle_day", "int"), ("agreement_date", "date"), ("billing_frequency", "text"),
    ("performed_by_user_id", "uuid"), ("performed_on", "date"), ("binding_period", "text"),
    ("binding_start_date", "date"), ("binding_end_date", "date"),
    ("cu_concurrent_usage", "int"), ("cu_rate_percentage", "numeric"),
    ("cu_installed_items", "int"), ("cu_billing_method", "text"),
]
SUBSCRIPTION_CHANGES = [
    ("id", "uuid"), ("status", "text"), ("owner_account_id", "uuid"),
    ("invoice_owner_account_id", "uuid"), ("cancelled_on", "date"), ("binding_end_date", "date"),
]
ITEM_COLUMNS = [
    ("id", "uuid"), ("subscription_id", "uuid"), ("product_id", "uuid"), ("charge_type", "text"),
    ("quantity", "int"), ("price", "numeric"), ("price_period", "text"), ("start_date", "date"),
    ("end_date", "date"), ("mrr", "numeric"), ("replaces_item_id", "uuid"),
]
OWNER_COLUMNS = [("id", "uuid"), ("subscription_id", "uuid"), ("effective_date", "date"),
                 ("owner_account_id", "uuid"), ("invoice_owner_account_id", "uuid")]
SUSPENSION_COLUMNS = [("id", "uuid"), ("subscription_id", "uuid"), ("suspend_date", "date"),
                      ("resume_date", "date")]
ACTION_COLUMNS = [("id", "uuid"), ("order_id", "uuid"), ("subscription_id", "uuid"),
                  ("position", "int"), ("type", "text"), ("effective_date", "date")]


async def next_numbers(conn: AsyncConnection, sequence: str, prefix: str, n: int) -> list[str]:
    """`n` generated numbers from one sequence, in one statement (never a lock)."""
    if n == 0:
        return []
    values = (await conn.execute(
        text("SELECT nextval(CAST(:seq AS regclass)) FROM generate_series(1, :n)"),
        {"seq": sequence, "n": n})).scalars()
    return [f"{prefix}{value:08d}" for value in sorted(values)]


def _subscription_row(sub: Sub) -> tuple[object, ...]:
    terms = sub.terms
    assert terms is not None
    cu = terms.concurrent_usage
    return (
        sub.id, sub.number, sub.owner, sub.invoice_owner, sub.status, sub.start_date,
        sub.cancelled_on, terms.price_plan_id, terms.scheme_id, terms.billing_cycle_day,
        terms.agreement_date, terms.billing_frequency, terms.performed_by_user_id,
        terms.performed_on, sub.binding_period, sub.binding_start, sub.binding_end,
        cu and cu.concurrent_usage, cu and cu.rate_percentage, cu and cu.installed_items,
        cu and cu.billing_method,
    )


async def write_order(writer: Writer, order_number: str | None, order_date: date,
                      account_id: uuid.UUID, applied: Applied) -> uuid.UUID:
    """Insert the order and everything its actions do; the order's id."""
    conn, tenant_id = writer.conn, writer.tenant_id
    number = order_number or await next_number(conn, "order_number_seq", "O")
    new_subs = [s for s in applied.subs if s.new]
    unnumbered = [s for s in new_subs if s.number is None]
    for sub, generated in zip(unnumbered, await next_numbers(
            conn, "subscription_number_seq", "S", len(unnumbered)), strict=True):
        sub.number = generated
    order_id = new_id()
    inserted = (await conn.execute(
        text("INSERT INTO orders (tenant_id, id, order_number, order_date, account_id) "
             "VALUES (:t, :id, :num, :day, :account) "
             "ON CONFLICT (tenant_id, order_number) DO NOTHING RETURNING id"),
        {"t": tenant_id, "id": order_id, "num": number, "day": order_date,
         "account": account_id})).first()
    if inserted is None:
        raise Conflict(f"order number {number!r} is already taken", field="orderNumber")

    result = await bulk.insert(
        conn, "subscriptions", tenant_id, SUBSCRIPTION_COLUMNS,
        [_subscription_row(s) for s in new_subs],
        suffix="ON CONFLICT (tenant_id, subscription_number) DO NOTHING "
               "RETURNING subscription_number")
    taken = {s.number for s in new_subs} - set(result.scalars() if result else ())
    for sub in new_subs:
        if sub.number in taken:
            raise Conflict(f"subscription number {sub.number!r} is already taken",
                           field=f"{sub.at}.subscriptionNumber")
    await bulk.update(
        conn, "subscriptions", tenant_id, SUBSCRIPTION_CHANGES,
        [(s.id, s.status, s.owner, s.invoice_owner, s.cancelled_on, s.binding_end)
         for s in applied.subs if not s.new and s.changed],
        touch=", updated_at = now()")

    items = [(s, i) for s in applied.subs for i in s.items]
    await bulk.insert(conn, "subscription_items", tenant_id, ITEM_COLUMNS, [
        (i.id, s.id, i.product_id, i.charge_type, i.quantity, i.price, i.price_period,
         i.start_date, i.end_date, i.mrr, i.replaces_item_id) for s, i in items if i.new])
    await bulk.update(conn, "subscription_items", tenant_id, [("id", "uuid"), ("end_date", "date")],
                      [(i.id, i.end_date) for _, i in items if i.ended])
    await bulk.insert(conn, "subscription_owners", tenant_id, OWNER_COLUMNS, [
        (new_id(), s.id, day, owner, invoice_owner)
        for (_, day), (s, owner, invoice_owner) in applied.owners.items()])
    suspensions = [(s, p) for s in applied.subs for p in s.suspensions]
    await bulk.insert(conn, "subscription_suspensions", tenant_id, SUSPENSION_COLUMNS, [
        (p.id, s.id, p.suspend_date, p.resume_date) for s, p in suspensions if p.new])
    await bulk.update(conn, "subscription_suspensions", tenant_id,
                      [("id", "uuid"), ("resume_date", "date")],
                      [(p.id, p.resume_date) for _, p in suspensions if not p.new])
    await bulk.insert(conn, "order_actions", tenant_id, ACTION_COLUMNS, [
        (new_id(), order_id, a.subscription.id, a.position, a.type, a.effective_date)
        for a in applied.actions])
    return order_id
