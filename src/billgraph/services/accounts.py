"""Accounts: create, update, the partner flag, lookups and pages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.db import clock, raw
from billgraph.db.raw import Row
from billgraph.db.tx import Writer
from billgraph.models import new_id

from . import hierarchy, metrics, money
from .errors import BadUserInput, Conflict, NotFound
from .numbers import next_number
from .pagination import Page, PageRequest, keyset_page

STATUSES = ("ACTIVE", "CANCELED")


@dataclass
class CreateAccount:
    name: str
    account_number: str | None = None
    currency: str | None = None
    bill_cycle_day: int | None = None
    partner_account: bool | None = None
    parent_account_id: uuid.UUID | None = None


@dataclass
class UpdateAccount:
    name: str | None = None
    bill_cycle_day: int | None = None
    partner_account: bool | None = None
    status: str | None = None
    parent_account_id: uuid.UUID | None = None
    detach_from_parent: bool | None = None


@dataclass
class AccountFilter:
    partner_account: bool | None = None
    status: str | None = None
    name_contains: str | None = None
    parent_account_id: uuid.UUID | None = None
    descendant_of: uuid.UUID | None = None


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise BadUserInput("name", "must not be empty")
    if len(name) > 255:
        raise BadUserInput("name", "must be at most 255 characters")
    return name


def _check_cycle_day(day: int) -> int:
    if not 1 <= day <= 31:
        raise BadUserInput("billCycleDay", "must be between 1 and 31")
    return day


def check_number(field: str, number: str) -> str:
    number = number.strip()
    if not number or len(number) > 100:
        raise BadUserInput(field, "must be 1 to 100 characters")
    return number


async def create_account(writer: Writer, data: CreateAccount) -> Row:
    conn, tenant_id = writer.conn, writer.tenant_id
    name = _check_name(data.name)
    if data.currency is None:
        tenant = (await conn.execute(text("SELECT default_currency FROM tenants WHERE id = :t"),
                                     {"t": tenant_id})).one()
        currency = tenant.default_currency
    elif money.is_currency(data.currency):
        currency = data.currency
    else:
        raise BadUserInput("currency", f"{data.currency!r} is not an ISO 4217 currency code")
    day = _check_cycle_day(data.bill_cycle_day if data.bill_cycle_day is not None else 1)
    number = (check_number("accountNumber", data.account_number)
              if data.account_number is not None
              else await next_number(conn, "account_number_seq", "A"))
    account_id = new_id()
    try:
        async with conn.begin_nested():
            await conn.execute(
                text("INSERT INTO accounts (tenant_id, id, account_number, name, currency, "
                     "bill_cycle_day, partner_account, status) "
                     "VALUES (:t, :id, :num, :name, :cur, :day, :partner, 'ACTIVE')"),
                {"t": tenant_id, "id": account_id, "num": number, "name": name, "cur": currency,
                 "day": day, "partner": bool(data.partner_account)},
            )
    except IntegrityError:
        raise Conflict(f"account number {number!r} is already taken",
                       field="accountNumber") from None
    await metrics.create_row(conn, tenant_id, account_id, currency)
    writer.accounts.add(account_id)
    if data.parent_account_id is not None:
        await hierarchy.attach_new(writer, account_id, data.parent_account_id)
    return await get_account(conn, tenant_id, account_id)


async def update_account(writer: Writer, account_id: uuid.UUID, data: UpdateAccount) -> Row:
    conn, tenant_id = writer.conn, writer.tenant_id
    current = await get_account(conn, tenant_id, account_id)
    writer.accounts.add(account_id)
    values: dict[str, Any] = {}
    if data.name is not None:
        values["name"] = _check_name(data.name)
    if data.bill_cycle_day is not None:
        values["bill_cycle_day"] = _check_cycle_day(data.bill_cycle_day)
    if data.status is not None:
        if data.status not in STATUSES:
            raise BadUserInput("status", "must be ACTIVE or CANCELED")
        values["status"] = data.status
    if values:
        sets = ", ".join(f"{k} = :{k}" for k in values)
        await conn.execute(
            text(f"UPDATE accounts SET {sets}, updated_at = CAST(:now AS timestamptz) "
                 "WHERE tenant_id = :t AND id = :id"),
            {**values, "t": tenant_id, "id": account_id, "now": clock.now()},
        )
    if data.detach_from_parent and data.parent_account_id is not None:
        raise BadUserInput("detachFromParent", "give parentAccountId or detachFromParent, not both")
    if data.parent_account_id is not None or data.detach_from_parent:
        await hierarchy.move(writer, account_id, data.parent_account_id)
    if data.partner_account is not None and data.partner_account != current["partner_account"]:
        return await set_partner(writer, account_id, data.partner_account)
    return await get_account(conn, tenant_id, account_id)


async def set_partner(writer: Writer, account_id: uuid.UUID, partner: bool) -> Row:
    """Flag or unflag a partner account. Unflagging recomputes at once: never stale after."""
    conn, tenant_id = writer.conn, writer.tenant_id
    # This UPDATE waits for writes in flight (they hold FOR SHARE on the account), so
    # after it no write can still be deferring metrics for a non-partner account.
    result = await conn.execute(
        text("UPDATE accounts SET partner_account = :p, updated_at = CAST(:now AS timestamptz) "
             "WHERE tenant_id = :t AND id = :id"),
        {"p": partner, "t": tenant_id, "id": account_id, "now": clock.now()},
    )
    if result.rowcount == 0:
        raise NotFound("account", account_id, field="accountId")
    writer.accounts.add(account_id)
    if not partner:
        await metrics.lock_and_recompute(conn, tenant_id, [account_id])
        writer.recomputed.add(account_id)
    return await get_account(conn, tenant_id, account_id)


async def refresh_metrics(writer: Writer, account_id: uuid.UUID) -> None:
    """Recompute an account's metrics now (a partner account's too), in this transaction;
    `metricsUpdated` is published after its commit."""
    await get_account(writer.conn, writer.tenant_id, account_id, field="accountId")
    await metrics.lock_and_recompute(writer.conn, writer.tenant_id, [account_id])
    writer.recomputed.add(account_id)


async def get_account(conn: AsyncConnection, tenant_id: uuid.UUID,
                      account_id: uuid.UUID, *, field: str = "id") -> Row:
    row = await raw.fetchrow(conn, "SELECT * FROM accounts WHERE tenant_id = :t AND id = :id",
                             {"t": tenant_id, "id": account_id})
    if row is None:
        raise NotFound("account", account_id, field=field)
    return row


async def find_account(conn: AsyncConnection, tenant_id: uuid.UUID, *,
                       account_id: uuid.UUID | None = None,
                       account_number: str | None = None) -> RowMapping | None:
    if account_id is None and account_number is None:
        raise BadUserInput("id", "give id or accountNumber")
    clauses, params = ["tenant_id = :t"], dict[str, Any](t=tenant_id)
    if account_id is not None:
        clauses.append("id = :id")
        params["id"] = account_id
    if account_number is not None:
        clauses.append("account_number = :num")
        params["num"] = account_number
    return (await conn.execute(
        text(f"SELECT * FROM accounts WHERE {' AND '.join(clauses)}"), params
    )).mappings().first()


async def list_accounts(conn: AsyncConnection, tenant_id: uuid.UUID, page: PageRequest,
                        filters: AccountFilter) -> Page[RowMapping]:
    clauses, params = ["tenant_id = :t"], dict[str, Any](t=tenant_id)
    if filters.partner_account is not None:
        clauses.append("partner_account = :partner")
        params["partner"] = filters.partner_account
    if filters.status is not None:
        clauses.append("status = :status")
        params["status"] = filters.status
    if filters.name_contains:
        clauses.append("position(lower(:needle) in lower(name)) > 0")
        params["needle"] = filters.name_contains
    tree_clauses, tree_params = await hierarchy.filter_clauses(
        conn, tenant_id, parent_account_id=filters.parent_account_id,
        descendant_of=filters.descendant_of)
    return await keyset_page(conn, "accounts", " AND ".join(clauses + tree_clauses),
                             {**params, **tree_params}, page)
