"""Writing an applied order: one statement, whatever the number of rows and tables."""

from __future__ import annotations

import uuid
from datetime import date

from billgraph.db import clock, raw
from billgraph.db.raw import Row
from billgraph.db.tx import Writer
from billgraph.models import new_id
from billgraph.services import bulk
from billgraph.services.errors import Conflict
from billgraph.services.numbers import document_number

from .actions import Applied, Sub
from .lookup import Lookups

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


class _Statement:
    """One INSERT/UPDATE per table as the parts of a single WITH statement: the rows of
    each part travel as arrays (bulk.unnest), so an order is written in one round trip
    whatever its size."""

    def __init__(self, tenant_id: uuid.UUID) -> None:
        self.parts: list[str] = []
        self.params: dict[str, object] = {"t": tenant_id, "now": clock.now()}

    def add(self, name: str, sql: str) -> None:
        self.parts.append(f"{name} AS ({sql})")

    def rows(self, name: str, columns: bulk.Columns, rows: list[tuple[object, ...]]) -> str:
        source, params = bulk.unnest(columns, rows, prefix=f"{name}_")
        self.params.update(params)
        return source

    def insert(self, name: str, table: str, columns: bulk.Columns,
               rows: list[tuple[object, ...]]) -> None:
        """Insert only once the order and its new subscriptions are in (`ok`): a row must
        not reference a subscription a taken number kept out (the call then fails with
        CONFLICT and rolls back)."""
        if rows:
            names = ", ".join(n for n, _ in columns)
            self.add(name, f"INSERT INTO {table} (tenant_id, {names}) "
                           f"SELECT CAST(:t AS uuid), {names} "
                           f"FROM {self.rows(name, columns, rows)}, ok WHERE ok.ok")

    def update(self, name: str, table: str, columns: bulk.Columns,
               rows: list[tuple[object, ...]], touch: str = "") -> None:
        if rows:
            sets = ", ".join(f"{n} = v.{n}" for n, _ in columns[1:])
            self.add(name, f"UPDATE {table} t SET {sets}{touch} "
                           f"FROM {self.rows(name, columns, rows)}, ok "
                           "WHERE ok.ok AND t.tenant_id = CAST(:t AS uuid) AND t.id = v.id")


async def write_order(writer: Writer, order_number: str | None, order_date: date,
                      account_id: uuid.UUID, applied: Applied, numbers: Lookups) -> Row:
    """Insert the order and everything its actions do (one statement); the order's row as
    inserted (its columns as `find_order` reads them). The order (when `order_number` is
    None) and its new subscriptions without a number take the numbers read with the
    lookups (`numbers`), in order."""
    conn, tenant_id = writer.conn, writer.tenant_id
    new_subs = [s for s in applied.subs if s.new]
    unnumbered = [s for s in new_subs if s.number is None]
    number = order_number
    if number is None:
        assert numbers.order_number is not None
        number = document_number("O", numbers.order_number)
    assert len(unnumbered) <= len(numbers.subscription_numbers)
    for sub, value in zip(unnumbered, numbers.subscription_numbers, strict=False):
        sub.number = document_number("S", value)
    order_id = new_id()

    out = _Statement(tenant_id)
    out.params.update({"order_id": order_id, "num": number, "day": order_date,
                       "account": account_id, "new_subs": len(new_subs)})
    out.add("o", "INSERT INTO orders (tenant_id, id, order_number, order_date, account_id) "
                 "VALUES (CAST(:t AS uuid), CAST(:order_id AS uuid), CAST(:num AS text), "
                 "CAST(:day AS date), CAST(:account AS uuid)) "
                 "ON CONFLICT (tenant_id, order_number) DO NOTHING RETURNING *")
    inserted_subs = "ARRAY[]::text[]"
    if new_subs:
        names = ", ".join(n for n, _ in SUBSCRIPTION_COLUMNS)
        source = out.rows("s", SUBSCRIPTION_COLUMNS, [_subscription_row(s) for s in new_subs])
        out.add("s", f"INSERT INTO subscriptions (tenant_id, {names}) "
                     f"SELECT CAST(:t AS uuid), {names} FROM {source} "
                     "ON CONFLICT (tenant_id, subscription_number) DO NOTHING "
                     "RETURNING subscription_number")
        inserted_subs = "ARRAY(SELECT subscription_number FROM s)"
    out.add("ok", "SELECT EXISTS (SELECT FROM o) AND "
                  + ("(SELECT count(*) FROM s) = :new_subs" if new_subs else "true") + " AS ok")
    out.update("su", "subscriptions", SUBSCRIPTION_CHANGES,
               [(s.id, s.status, s.owner, s.invoice_owner, s.cancelled_on, s.binding_end)
                for s in applied.subs if not s.new and s.changed],
               touch=", updated_at = CAST(:now AS timestamptz)")
    items = [(s, i) for s in applied.subs for i in s.items]
    out.insert("i", "subscription_items", ITEM_COLUMNS, [
        (i.id, s.id, i.product_id, i.charge_type, i.quantity, i.price, i.price_period,
         i.start_date, i.end_date, i.mrr, i.replaces_item_id) for s, i in items if i.new])
    out.update("iu", "subscription_items", [("id", "uuid"), ("end_date", "date")],
               [(i.id, i.end_date) for _, i in items if i.ended])
    out.insert("w", "subscription_owners", OWNER_COLUMNS, [
        (new_id(), s.id, day, owner, invoice_owner)
        for (_, day), (s, owner, invoice_owner) in applied.owners.items()])
    suspensions = [(s, p) for s in applied.subs for p in s.suspensions]
    out.insert("p", "subscription_suspensions", SUSPENSION_COLUMNS, [
        (p.id, s.id, p.suspend_date, p.resume_date) for s, p in suspensions if p.new])
    out.update("pu", "subscription_suspensions", [("id", "uuid"), ("resume_date", "date")],
               [(p.id, p.resume_date) for _, p in suspensions if not p.new])
    out.insert("a", "order_actions", ACTION_COLUMNS, [
        (new_id(), order_id, a.subscription.id, a.position, a.type, a.effective_date)
        for a in applied.actions])
    # one row: the order's columns (NULL when its number was taken), the numbers inserted
    row = await raw.one(
        conn, f"WITH {', '.join(out.parts)} SELECT o.*, {inserted_subs} AS inserted "
              "FROM (VALUES (1)) AS one (n) LEFT JOIN o ON true", out.params)

    if row["id"] is None:
        raise Conflict(f"order number {number!r} is already taken", field="orderNumber")
    taken = {s.number for s in new_subs} - set(row["inserted"])
    for sub in new_subs:
        if sub.number in taken:
            raise Conflict(f"subscription number {sub.number!r} is already taken",
                           field=f"{sub.at}.subscriptionNumber")
    return row
