"""Reading subscriptions: by number, pages (filtered, or per owner in one batch), MRR."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from . import money
from .pagination import Page, PageRequest, keyset_page, keyset_pages


@dataclass
class SubscriptionFilter:
    owner_account_id: uuid.UUID | None = None
    invoice_owner_account_id: uuid.UUID | None = None
    status: str | None = None


def is_cancelled(subscription: RowMapping) -> bool:
    """Cancelled, or with a cancellation scheduled (SPEC §2 counts both as cancelled)."""
    return subscription["status"] == "CANCELLED" or subscription["cancelled_on"] is not None


def subscription_mrr(subscription: RowMapping, items: Iterable[RowMapping],
                     currency: str) -> Decimal:
    """The sum of the open-ended recurring items' exact MRR, rounded once at the end;
    0 once cancelled (the same sum services.metrics makes per owner)."""
    if is_cancelled(subscription):
        return money.round_money(Decimal(0), currency)
    total = sum((i["mrr"] for i in items
                 if i["charge_type"] == "RECURRING" and i["end_date"] is None), Decimal(0))
    return money.round_money(total, currency)


async def find_by_number(conn: AsyncConnection, tenant_id: uuid.UUID,
                         number: str) -> RowMapping | None:
    return (await conn.execute(
        text("SELECT * FROM subscriptions WHERE tenant_id = :t AND subscription_number = :n"),
        {"t": tenant_id, "n": number})).mappings().first()


async def list_subscriptions(conn: AsyncConnection, tenant_id: uuid.UUID, page: PageRequest,
                             filters: SubscriptionFilter) -> Page[RowMapping]:
    clauses = ["tenant_id = :t"]
    params: dict[str, object] = {"t": tenant_id}
    for column, value in (("owner_account_id", filters.owner_account_id),
                          ("invoice_owner_account_id", filters.invoice_owner_account_id),
                          ("status", filters.status)):
        if value is not None:
            clauses.append(f"{column} = :{column}")
            params[column] = value
    return await keyset_page(conn, "subscriptions", " AND ".join(clauses), params, page)


async def pages_by_owner(conn: AsyncConnection, tenant_id: uuid.UUID,
                         owner_ids: Sequence[uuid.UUID],
                         page: PageRequest) -> dict[uuid.UUID, Page[RowMapping]]:
    """The same page of subscriptions owned by each account, in two statements for all."""
    return await keyset_pages(conn, tenant_id, "subscriptions", "owner_account_id", owner_ids,
                              page)
