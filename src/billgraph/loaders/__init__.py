"""Per-request DataLoaders, one named and typed loader per thing a field reads.

Every list or object field reached from a list reads through one of these, so the
statements of a request grow with the depth of the query, never with the length of a
list. Only this package (and services/) names tables: schema/ asks for
`loaders.account.one(id)` or `loaders.invoice_pages.load((account_id, page))`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import RowMapping

from billgraph.services import hierarchy, invoices, metered_usage, metrics, rollups, subscriptions

from .base import (
    MISSING,
    ChildrenLoader,
    Missing,
    PageKey,
    PageLoader,
    Read,
    RowLoader,
    SharedLoader,
)

__all__ = ["MISSING", "ChildrenLoader", "Loaders", "Missing", "PageKey", "PageLoader",
           "RowLoader", "SharedLoader"]

L = TypeVar("L")


class Loaders:
    """Built lazily per request: a loader exists only once a field asks for it."""

    def __init__(self, read: Read, tenant_id: uuid.UUID) -> None:
        self.read = read
        self.tenant_id = tenant_id
        self._made: dict[str, Any] = {}

    def _get(self, name: str, make: Callable[[], L]) -> L:
        loader = self._made.get(name)
        if loader is None:
            loader = self._made[name] = make()
        return loader

    def _rows(self, table: str, what: str) -> RowLoader:
        return self._get(table, lambda: RowLoader(self.read, self.tenant_id, table, what))

    def _children(self, table: str, parent: str, order: str) -> ChildrenLoader:
        return self._get(f"{table}.{parent}", lambda: ChildrenLoader(
            self.read, self.tenant_id, table, parent, order))

    # ------------------------------------------------------------- objects by id
    @property
    def account(self) -> RowLoader:
        return self._rows("accounts", "account")

    @property
    def subscription(self) -> RowLoader:
        return self._rows("subscriptions", "subscription")

    @property
    def product(self) -> RowLoader:
        return self._rows("products", "product")

    @property
    def price_plan(self) -> RowLoader:
        return self._rows("price_plans", "price plan")

    @property
    def billing_term_scheme(self) -> RowLoader:
        return self._rows("billing_term_schemes", "billing term scheme")

    @property
    def user(self) -> RowLoader:
        return self._rows("users", "user")

    @property
    def api_key(self) -> RowLoader:
        return self._rows("api_keys", "API key")

    @property
    def bill_run(self) -> RowLoader:
        return self._rows("bill_runs", "bill run")

    @property
    def order(self) -> RowLoader:
        return self._rows("orders", "order")

    @property
    def webhook_endpoint(self) -> RowLoader:
        return self._rows("webhook_endpoints", "webhook endpoint")

    @property
    def metrics(self) -> SharedLoader[uuid.UUID, RowMapping | None]:
        """An account's stored metrics with their `stale` flag."""
        async def load(ids: Sequence[uuid.UUID]) -> list[RowMapping | None]:
            async with self.read() as conn:
                found = await metrics.load(conn, self.tenant_id, ids)
            return [found.get(i) for i in ids]

        return self._get("metrics", lambda: SharedLoader(load_fn=load))

    @property
    def usage_summaries(self) -> SharedLoader[metered_usage.SummaryKey,
                                              list[metered_usage.UsageSummary]]:
        """(subscription id, from, to) → its USAGE items' periods overlapping [from, to],
        with their aggregated usage and amount (one batch for every subscription)."""
        async def load(keys: Sequence[metered_usage.SummaryKey]
                       ) -> list[list[metered_usage.UsageSummary]]:
            async with self.read() as conn:
                found = await metered_usage.summaries(conn, self.tenant_id, keys)
            return [found[k] for k in keys]

        return self._get("usage_summaries", lambda: SharedLoader(load_fn=load))

    @property
    def discount(self) -> RowLoader:
        return self._rows("discounts", "discount")

    @property
    def tax_rate(self) -> RowLoader:
        return self._rows("tax_rates", "tax rate")

    # ------------------------------------------------------------- lists by parent
    @property
    def line_taxes(self) -> ChildrenLoader:
        """An invoice line's tax per rate."""
        return self._children("invoice_line_taxes", "invoice_line_id", "tax_rate_id")

    @property
    def subscription_discounts(self) -> ChildrenLoader:
        """A subscription's discounts, by start date."""
        return self._children("subscription_discounts", "subscription_id", "start_date, id")

    @property
    def invoice_lines(self) -> ChildrenLoader:
        """An invoice's lines, in position order."""
        return self._children("invoice_lines", "invoice_id", "position")

    @property
    def plan_charges(self) -> ChildrenLoader:
        """A price plan's charges, in position order."""
        return self._children("plan_charges", "price_plan_id", "position")

    @property
    def subscription_items(self) -> ChildrenLoader:
        """A subscription's items, ended ones included, by start date."""
        return self._children("subscription_items", "subscription_id", "start_date, id")

    @property
    def order_actions(self) -> ChildrenLoader:
        """An order's actions, in input order."""
        return self._children("order_actions", "order_id", "position")

    @property
    def owned_subscriptions(self) -> ChildrenLoader:
        """All the subscriptions an account owns, oldest first."""
        return self._children("subscriptions", "owner_account_id", "id")

    @property
    def account_invoices(self) -> ChildrenLoader:
        """All the invoices an account owns, by invoice date."""
        return self._children("invoices", "account_id", "invoice_date, id")

    @property
    def account_payments(self) -> ChildrenLoader:
        """All the payments of an account, by effective date."""
        return self._children("payments", "account_id", "effective_date, id")

    # ------------------------------------------------------------- pages by parent
    @property
    def subscription_pages(self) -> PageLoader:
        """(owner account id, page) → a page of the subscriptions it owns."""
        return self._get("subscription_pages", lambda: PageLoader(
            self.read, self.tenant_id, subscriptions.pages_by_owner))

    @property
    def invoice_pages(self) -> PageLoader:
        """(account id, page) → a page of the invoices it owns."""
        return self._get("invoice_pages", lambda: PageLoader(
            self.read, self.tenant_id, invoices.pages_by_account))

    @property
    def child_account_pages(self) -> PageLoader:
        """(account id, page) → a page of the accounts directly under it."""
        return self._get("child_account_pages", lambda: PageLoader(
            self.read, self.tenant_id, hierarchy.children_pages))

    # ------------------------------------------------------------- account hierarchies
    @property
    def ancestors(self) -> SharedLoader[uuid.UUID, list[RowMapping]]:
        """An account's ancestors' rows, nearest first (one recursive statement per batch)."""
        async def load(ids: Sequence[uuid.UUID]) -> list[list[RowMapping]]:
            async with self.read() as conn:
                found = await hierarchy.ancestors(conn, self.tenant_id, ids)
            return [found.get(i, []) for i in ids]

        return self._get("ancestors", lambda: SharedLoader(load_fn=load))

    @property
    def hierarchy_metrics(self) -> SharedLoader[uuid.UUID, list[RowMapping]]:
        """An account's roll-ups (one row per currency) with their `stale` flag."""
        async def load(ids: Sequence[uuid.UUID]) -> list[list[RowMapping]]:
            async with self.read() as conn:
                found = await rollups.load(conn, self.tenant_id, ids)
            return [found.get(i, []) for i in ids]

        return self._get("hierarchy_metrics", lambda: SharedLoader(load_fn=load))
