"""Everything an order refers to, read in a few batched queries before anything is written."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.db import raw
from billgraph.db.engine import on_citus
from billgraph.db.raw import Row
from billgraph.services import billing_terms
from billgraph.services.billing import pricing
from billgraph.services.billing.periods import custom_periods
from billgraph.services.billing.pricing import Pricing
from billgraph.services.billing_terms import Refs
from billgraph.services.numbers import parse_uuid

from .inputs import OrderInput


@dataclass(frozen=True)
class Charge:
    product_id: uuid.UUID
    product_code: str
    charge_type: str
    price: Decimal
    price_period: str
    pricing_model: str = "PER_UNIT"
    tiers: tuple[Any, ...] = ()  # stored jsonb tiers
    package_size: int | None = None

    def pricing(self, price: Decimal) -> Pricing:
        """This charge's pricing model with ``price`` (the item's)."""
        return pricing.stored(self.pricing_model, price, self.tiers, self.package_size)


@dataclass
class Plan:
    id: uuid.UUID
    code: str
    currency: str
    charges: dict[str, Charge] = field(default_factory=dict)  # by product code, plan order


@dataclass
class Lookups:
    refs: Refs
    accounts: dict[uuid.UUID, Row]
    subscriptions: dict[str, Row]  # existing ones, by number, locked FOR UPDATE
    items: dict[uuid.UUID, list[Row]]  # open items of those, by subscription id
    suspensions: dict[uuid.UUID, Row]  # their open suspensions, by subscription id
    plans_by_id: dict[uuid.UUID, Plan]
    plans_by_code: dict[str, Plan]
    order_number: int | None = None  # generated, when the order names none
    subscription_numbers: list[int] = field(default_factory=list)  # generated, ascending


ACCOUNT_FIELDS = ("account_id", "subscription_owner_account_id", "invoice_owner_account_id",
                  "new_subscription_owner_account_id", "new_invoice_owner_account_id")


PLAN_COLUMNS = ("p.id, p.code, p.currency, c.charge_type, c.price, c.price_period, "
                "c.pricing_model, c.tiers, c.package_size, pr.id AS product_id, "
                "pr.code AS product_code, c.position")
PLAN_JOINS = ("FROM price_plans p "
              "LEFT JOIN plan_charges c ON c.tenant_id = p.tenant_id AND c.price_plan_id = p.id "
              "LEFT JOIN products pr ON pr.tenant_id = c.tenant_id AND pr.id = c.product_id")
PLANS = (f"SELECT {PLAN_COLUMNS} {PLAN_JOINS} WHERE p.tenant_id = :t AND p.id = ANY(:ids) "
         "ORDER BY p.id, c.position")
# The generated numbers: kind O, the order's (when it names none); S, one per subscription
# entry without a number; the value as text in `code`. A sequence's nextval is never
# rolled back: an order that then fails leaves a gap, as a failed write always did. A
# preview (rolled back) reads what the sequences would hand out next, taking none: the
# next real order gets the very numbers the preview showed (unless another came first).
_ORDER_NUMBER = {True: "nextval('order_number_seq')",
                 False: "(SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END "
                        "FROM order_number_seq)"}
_SUBSCRIPTION_NUMBER = {True: "nextval('subscription_number_seq')",
                        False: "(SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 "
                               "END FROM subscription_number_seq) + n"}


def _numbers(consume: bool, before: str = "", after: str = "") -> str:
    """The rows of the generated numbers, their other columns `before` and `after`."""
    return (f"SELECT 'O' AS kind{before}, CAST({_ORDER_NUMBER[consume]} AS text) AS code{after}"
            " WHERE :order\nUNION ALL\n"
            f"SELECT 'S'{before}, CAST({_SUBSCRIPTION_NUMBER[consume]} AS text){after} "
            "FROM generate_series(1, :subs) AS n")


# One round trip for what every order reads: kind T, the tenant (its custom periods) with
# the schemes named (none: one row, code null); A, the accounts named; P, the plans named
# with their charges and products; then the numbers to generate. Each branch casts its
# nulls: UNION resolves the column types pairwise, from the left.
LOOKUPS = f"""SELECT 'T' AS kind, t.custom_periods, s.id, s.code, s.type, s.billing_cycle_day,
    s.concurrent_usage_based, NULL::text AS currency, NULL::text AS status,
    NULL::text AS charge_type, NULL::numeric AS price, NULL::text AS price_period,
    NULL::text AS pricing_model, NULL::jsonb AS tiers, NULL::int AS package_size,
    NULL::uuid AS product_id, NULL::text AS product_code, NULL::int AS position
  FROM tenants t LEFT JOIN billing_term_schemes s ON s.tenant_id = t.id AND s.code = ANY(:codes)
  WHERE t.id = :t
UNION ALL
SELECT 'A', NULL, id, NULL, NULL, NULL, NULL, currency, status, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL
  FROM accounts WHERE tenant_id = :t AND id = ANY(:accounts)
UNION ALL
SELECT 'P', NULL, p.id, p.code, NULL, NULL, NULL, p.currency, NULL, c.charge_type, c.price,
    c.price_period, c.pricing_model, c.tiers, c.package_size, pr.id, pr.code, c.position
  {PLAN_JOINS} WHERE p.tenant_id = :t AND (p.id = ANY(:plans) OR p.code = ANY(:plan_codes))"""
_NULLS = ", NULL" * 14
FIRST = {consume: f"{LOOKUPS}\nUNION ALL\n{_numbers(consume, ', NULL, NULL', _NULLS)}"
                  "\nORDER BY kind, id, position" for consume in (True, False)}
# On a Citus coordinator the lookups go to a worker, which has no number sequences: there
# the numbers are a statement of their own, run on the coordinator.
FIRST_CITUS = f"{LOOKUPS}\nORDER BY kind, id, position"
NUMBERS = {consume: _numbers(consume) for consume in (True, False)}


def _plans(plans_by_id: dict[uuid.UUID, Plan], rows: Iterable[Row]) -> None:
    """Plans with their charges (in plan order) from rows of PLAN_COLUMNS."""
    for r in rows:
        plan = plans_by_id.setdefault(r["id"], Plan(r["id"], r["code"], r["currency"]))
        if r["product_id"] is not None:
            plan.charges[r["product_code"]] = Charge(
                r["product_id"], r["product_code"], r["charge_type"], r["price"],
                r["price_period"], r["pricing_model"], tuple(r["tiers"] or ()),
                r["package_size"])


def _ids(values: set[str | None]) -> list[uuid.UUID]:
    return [u for u in (parse_uuid(v) for v in values if v is not None) if u is not None]


async def load(conn: AsyncConnection, tenant_id: uuid.UUID, order: OrderInput,
               earliest: date, *, consume_numbers: bool = True) -> Lookups:
    """Batched reads: schemes + tenant, accounts, subscriptions (locked), their open items
    and suspensions, plans with charges and products, users, and the numbers to generate
    (taken from their sequences, or with `consume_numbers=False` only peeked at).
    `earliest` is the earliest effective date of the order: items that ended before it
    cannot change (they are read only when an action names them, to say so)."""
    t = {"t": tenant_id}
    actions = [a for s in order.subscriptions for a in s.actions]
    terms = [a.billing_terms for a in actions if a.billing_terms is not None]
    account_ids = {order.account_id} | {getattr(a, f) for a in actions for f in ACCOUNT_FIELDS[1:]}
    numbers = sorted({s.subscription_number for s in order.subscriptions
                      if s.subscription_number is not None})
    scheme_codes = sorted({bt.scheme_code or "DEFAULT" for bt in terms})

    plan_ids = _ids({bt.price_plan.id for bt in terms})
    plan_codes = sorted({bt.price_plan.code for bt in terms if bt.price_plan.code is not None})
    # the tenant with its schemes, the accounts and the plans named, the numbers to
    # generate: one statement
    numbering = {"order": order.order_number is None,
                 "subs": sum(1 for s in order.subscriptions if s.subscription_number is None)}
    lookups = {**t, "codes": scheme_codes, "accounts": _ids(account_ids), "plans": plan_ids,
               "plan_codes": plan_codes}
    if on_citus(conn):
        rows = await raw.fetch(conn, FIRST_CITUS, lookups)
        numbered = await raw.fetch(conn, NUMBERS[consume_numbers], numbering)
    else:
        rows = await raw.fetch(conn, FIRST[consume_numbers], {**lookups, **numbering})
        numbered = [r for r in rows if r["kind"] in ("O", "S")]
    generated = [r for r in numbered if r["kind"] == "O"]
    tenant = [r for r in rows if r["kind"] == "T"]
    schemes = {r["code"]: r for r in tenant if r["code"] is not None}
    custom = custom_periods(tenant[0]["custom_periods"])
    accounts = {r["id"]: r for r in rows if r["kind"] == "A"}
    plans_by_id: dict[uuid.UUID, Plan] = {}
    _plans(plans_by_id, (r for r in rows if r["kind"] == "P"))

    subscriptions: dict[str, Row] = {}
    items: dict[uuid.UUID, list[Row]] = defaultdict(list)
    suspensions: dict[uuid.UUID, Row] = {}
    if numbers:
        subscriptions = {r["subscription_number"]: r for r in await raw.fetch(conn,
            "SELECT s.*, (SELECT max(o.effective_date) FROM subscription_owners o "
            "WHERE o.tenant_id = :t AND o.subscription_id = s.id) AS owners_since, "
            "(SELECT max(p.resume_date) FROM subscription_suspensions p "
            "WHERE p.tenant_id = :t AND p.subscription_id = s.id) AS resumed_on "
            "FROM subscriptions s WHERE s.tenant_id = :t AND s.subscription_number = "
            "ANY(:numbers) ORDER BY s.id FOR UPDATE", {**t, "numbers": numbers})}
    if subscriptions:
        sub_ids = [r["id"] for r in subscriptions.values()]
        for r in await raw.fetch(conn,
                "SELECT i.*, p.code AS product_code FROM subscription_items i "
                "JOIN products p ON p.tenant_id = i.tenant_id AND p.id = i.product_id "
                "WHERE i.tenant_id = :t AND i.subscription_id = ANY(:ids) "
                "AND (i.end_date IS NULL OR i.end_date > :earliest OR i.id = ANY(:named)) "
                "ORDER BY i.id", {**t, "ids": sub_ids, "earliest": earliest,
                 "named": _ids({a.item_id for a in actions})}):
            items[r["subscription_id"]].append(r)
        if any(a.type == "RESUME" for a in actions):
            suspensions = {r["subscription_id"]: r for r in await raw.fetch(conn,
                "SELECT * FROM subscription_suspensions WHERE tenant_id = :t "
                "AND subscription_id = ANY(:ids) AND resume_date IS NULL", {**t, "ids": sub_ids})}
        missing = sorted({r["price_plan_id"] for r in subscriptions.values()} - plans_by_id.keys())
        if missing:  # the plans of the existing subscriptions
            _plans(plans_by_id, await raw.fetch(conn, PLANS, {**t, "ids": missing}))

    users = [bt.performed_by for bt in terms if bt.performed_by is not None]
    users_by_id: dict[uuid.UUID, uuid.UUID] = {}
    users_by_name: dict[str, uuid.UUID] = {}
    if users:
        for user_id, username in await raw.fetch(
                conn, "SELECT id, username FROM users WHERE tenant_id = :t "
                      "AND (id = ANY(:ids) OR username = ANY(:names))",
                {**t, "ids": _ids({u.id for u in users}),
                 "names": [u.username for u in users if u.username is not None]}):
            users_by_id[user_id] = user_id
            users_by_name[username] = user_id

    return Lookups(
        refs=billing_terms.Refs(schemes, users_by_id, users_by_name, custom),
        accounts=accounts, subscriptions=subscriptions, items=items, suspensions=suspensions,
        plans_by_id=plans_by_id, plans_by_code={p.code: p for p in plans_by_id.values()},
        order_number=int(generated[0]["code"]) if generated else None,
        subscription_numbers=sorted(int(r["code"]) for r in numbered if r["kind"] == "S"),
    )
