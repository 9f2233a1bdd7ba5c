"""Payments, credit memos and debit memos: create and look up (SPEC §7).

Applying, unapplying and refunding are shared by payments and credit memos and
live in services/applications.py.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.db import raw
from billgraph.db.raw import Row
from billgraph.db.tx import Writer
from billgraph.models import new_id

from . import applications, metrics
from .accounts import get_account
from .applications import ApplicationInput, check_amount
from .errors import BadUserInput, NotFound
from .money import round_money
from .numbers import next_number
from .webhooks import outbox


@dataclass
class CreatePayment:
    account_id: uuid.UUID
    amount: Decimal
    effective_date: date | None = None
    applications: list[ApplicationInput] = field(default_factory=list)


@dataclass
class CreateCreditMemo:
    account_id: uuid.UUID
    amount: Decimal
    reason: str | None = None
    applications: list[ApplicationInput] = field(default_factory=list)


@dataclass
class CreateDebitMemo:
    account_id: uuid.UUID
    amount: Decimal
    reason: str | None = None


def today() -> date:
    return datetime.now(UTC).date()


def _reason(reason: str | None) -> str | None:
    if reason is not None and len(reason) > 2000:
        raise BadUserInput("reason", "must be at most 2000 characters")
    return reason.strip() or None if reason is not None else None


async def create_payment(writer: Writer, data: CreatePayment) -> Row:
    """A payment received, optionally applied at once to invoices and debit memos; its
    row as `get_document` reads it (the caller need not read it back)."""
    conn, tenant_id = writer.conn, writer.tenant_id
    account = await get_account(conn, tenant_id, data.account_id, field="accountId")
    amount = check_amount("amount", data.amount, account["currency"])
    payment = await raw.one(
        conn, "INSERT INTO payments (tenant_id, id, payment_number, account_id, currency, "
              "amount, applied_amount, refunded_amount, effective_date) VALUES (:t, :id, :num, "
              ":account, :cur, :amount, :zero, :zero, :day) RETURNING *",
        {"t": tenant_id, "id": new_id(), "account": account["id"], "cur": account["currency"],
         "num": await next_number(conn, "payment_number_seq", "P"), "amount": amount,
         "zero": round_money(Decimal(0), account["currency"]),
         "day": data.effective_date or today()})
    await outbox.record(writer, "PAYMENT_CREATED", [payment["id"]])
    if data.applications:
        await applications.move(writer, applications.PAYMENT, payment, data.applications,
                                unapply=False)
        payment = await get_document(conn, tenant_id, "payments", payment["id"],
                                     what="payment")  # its applied amount now
    await metrics.touched(writer, [account["id"]])
    return payment


async def create_credit_memo(writer: Writer, data: CreateCreditMemo) -> uuid.UUID:
    """A posted credit memo, optionally applied at once to invoices and debit memos."""
    conn, tenant_id = writer.conn, writer.tenant_id
    account = await get_account(conn, tenant_id, data.account_id, field="accountId")
    amount = check_amount("amount", data.amount, account["currency"])
    memo = (await conn.execute(
        text("INSERT INTO credit_memos (tenant_id, id, memo_number, account_id, currency, amount, "
             "applied_amount, refunded_amount, status, reason, memo_date, posted_at) "
             "VALUES (:t, :id, :num, :account, :cur, :amount, :zero, :zero, 'POSTED', :reason, "
             ":day, now()) RETURNING *"),
        {"t": tenant_id, "id": new_id(), "account": account["id"], "cur": account["currency"],
         "num": await next_number(conn, "credit_memo_number_seq", "CM"), "amount": amount,
         "zero": round_money(Decimal(0), account["currency"]),
         "reason": _reason(data.reason), "day": today()},
    )).mappings().one()
    await outbox.record(writer, "CREDIT_MEMO_POSTED", [memo["id"]])
    if data.applications:
        await applications.move(writer, applications.CREDIT_MEMO, memo, data.applications,
                                unapply=False)
    await metrics.touched(writer, [account["id"]])
    memo_id: uuid.UUID = memo["id"]
    return memo_id


async def create_debit_memo(writer: Writer, data: CreateDebitMemo) -> uuid.UUID:
    """A posted debit memo: a charge outside invoices, owed like one (balance = amount)."""
    conn, tenant_id = writer.conn, writer.tenant_id
    account = await get_account(conn, tenant_id, data.account_id, field="accountId")
    amount = check_amount("amount", data.amount, account["currency"])
    memo_id = new_id()
    await conn.execute(
        text("INSERT INTO debit_memos (tenant_id, id, memo_number, account_id, currency, amount, "
             "balance, status, reason, memo_date, posted_at) VALUES (:t, :id, :num, :account, "
             ":cur, :amount, :amount, 'POSTED', :reason, :day, now())"),
        {"t": tenant_id, "id": memo_id, "account": account["id"], "cur": account["currency"],
         "num": await next_number(conn, "debit_memo_number_seq", "DM"), "amount": amount,
         "reason": _reason(data.reason), "day": today()},
    )
    await outbox.record(writer, "DEBIT_MEMO_POSTED", [memo_id])
    await metrics.touched(writer, [account["id"]])
    return memo_id


async def get_document(conn: AsyncConnection, tenant_id: uuid.UUID, table: str,
                       document_id: uuid.UUID, *, what: str, field: str = "id") -> Row:
    """A payment, credit memo or debit memo of the tenant."""
    if table not in ("payments", "credit_memos", "debit_memos"):
        raise ValueError(table)
    row = await raw.fetchrow(conn, f"SELECT * FROM {table} WHERE tenant_id = :t AND id = :id",
                             {"t": tenant_id, "id": document_id})
    if row is None:
        raise NotFound(what, document_id, field=field)
    return row
