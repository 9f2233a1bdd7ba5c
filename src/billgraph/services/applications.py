"""Applying payments and credit memos to invoices and debit memos (SPEC §7).

One implementation for both sources. The `applications` table is an append-only
ledger (an apply is a positive row, an unapply a negative one); the running
totals it implies — the source's applied_amount, the targets' balance — are
updated in the same transaction. Locks are taken on those documents only, in
one order (the source, then invoices by id, then debit memos by id), so two
writers never deadlock; the metrics lock comes last (metrics.touched).

Every check runs before the first write, so a rejected request changes nothing.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import RowMapping, text

from billgraph.db.tx import Writer
from billgraph.models import new_id

from . import metrics
from .errors import BadUserInput, NotFound
from .money import minor_units, round_money
from .webhooks import outbox


@dataclass(frozen=True)
class Source:
    """A kind of document money is applied from."""

    table: str
    column: str  # its column in applications and refunds
    what: str
    field: str  # its id argument in the API
    number: str  # its number column


PAYMENT = Source("payments", "payment_id", "payment", "paymentId", "payment_number")
CREDIT_MEMO = Source("credit_memos", "credit_memo_id", "credit memo", "creditMemoId",
                     "memo_number")


@dataclass
class ApplicationInput:
    amount: Decimal
    invoice_id: uuid.UUID | None = None
    debit_memo_id: uuid.UUID | None = None


# (table, id): ("invoices", id) or ("debit_memos", id)
Target = tuple[str, uuid.UUID]


def check_amount(field: str, amount: Decimal, currency: str) -> Decimal:
    """A positive amount with no more decimals than `currency` has (then at its scale)."""
    if not amount.is_finite() or amount <= 0:
        raise BadUserInput(field, "must be greater than 0")
    rounded = round_money(amount, currency)
    if rounded != amount:
        raise BadUserInput(field, f"{amount} has more decimals than {currency} allows "
                                  f"({minor_units(currency)})")
    return rounded


async def lock_source(writer: Writer, source: Source, source_id: uuid.UUID) -> RowMapping:
    row = (await writer.conn.execute(
        text(f"SELECT * FROM {source.table} WHERE tenant_id = :t AND id = :id FOR UPDATE"),
        {"t": writer.tenant_id, "id": source_id},
    )).mappings().first()
    if row is None:
        raise NotFound(source.what, source_id, field=source.field)
    if row.get("status", "POSTED") != "POSTED":
        raise BadUserInput(source.field,
                           f"{source.what} {row[source.number]} is {row['status']}",
                           reason="not_posted")
    return row


def unapplied(row: RowMapping) -> Decimal:
    amount: Decimal = row["amount"] - row["applied_amount"] - row["refunded_amount"]
    return amount


async def apply(writer: Writer, source: Source, source_id: uuid.UUID,
                applications: list[ApplicationInput]) -> None:
    row = await lock_source(writer, source, source_id)
    await move(writer, source, row, applications, unapply=False)
    await metrics.touched(writer, [row["account_id"]])


async def unapply(writer: Writer, source: Source, source_id: uuid.UUID,
                  applications: list[ApplicationInput]) -> None:
    row = await lock_source(writer, source, source_id)
    await move(writer, source, row, applications, unapply=True)
    await metrics.touched(writer, [row["account_id"]])


async def refund(writer: Writer, source: Source, source_id: uuid.UUID, amount: Decimal) -> None:
    """Pay back up to the unapplied amount of a payment or credit memo."""
    row = await lock_source(writer, source, source_id)
    amount = check_amount("amount", amount, row["currency"])
    if amount > unapplied(row):
        raise BadUserInput("amount", f"{amount} is more than the {unapplied(row)} unapplied "
                                     f"on {source.what} {row[source.number]}",
                           reason="exceeds_unapplied")
    await writer.conn.execute(
        text(f"INSERT INTO refunds (tenant_id, id, {source.column}, amount) "
             "VALUES (:t, :id, :source, :amount)"),
        {"t": writer.tenant_id, "id": new_id(), "source": source_id, "amount": amount},
    )
    await writer.conn.execute(
        text(f"UPDATE {source.table} SET refunded_amount = refunded_amount + :amount "
             "WHERE tenant_id = :t AND id = :id"),
        {"t": writer.tenant_id, "id": source_id, "amount": amount},
    )
    if source is PAYMENT:
        await outbox.record(writer, "PAYMENT_REFUNDED", [source_id], [{"refundAmount": amount}])
    await metrics.touched(writer, [row["account_id"]])


def _targets(applications: list[ApplicationInput], currency: str,
             field: str) -> list[tuple[str, Target, Decimal]]:
    """Each application's path, target and checked amount (no database needed)."""
    if not applications:
        raise BadUserInput(field, "give at least one application")
    checked = []
    for index, app in enumerate(applications):
        path = f"{field}[{index}]"
        if (app.invoice_id is None) == (app.debit_memo_id is None):
            raise BadUserInput(path, "give exactly one of invoiceId and debitMemoId")
        target: Target = (("invoices", app.invoice_id) if app.invoice_id is not None
                          else ("debit_memos", app.debit_memo_id))  # type: ignore[assignment]
        checked.append((path, target, check_amount(f"{path}.amount", app.amount, currency)))
    return checked


async def _lock_targets(writer: Writer, targets: set[Target]) -> dict[Target, RowMapping]:
    found: dict[Target, RowMapping] = {}
    for table, number in (("invoices", "invoice_number"), ("debit_memos", "memo_number")):
        ids = sorted(i for t, i in targets if t == table)
        if not ids:
            continue
        rows = await writer.conn.execute(
            text(f"SELECT id, {number} AS number, account_id, currency, status, balance "
                 f"FROM {table} WHERE tenant_id = :t AND id = ANY(CAST(:ids AS uuid[])) "
                 "ORDER BY id FOR UPDATE"),
            {"t": writer.tenant_id, "ids": ids},
        )
        found.update({(table, r["id"]): r for r in rows.mappings()})
    return found


async def _applied_by_target(writer: Writer, source: Source,
                             source_id: uuid.UUID) -> dict[Target, Decimal]:
    rows = await writer.conn.execute(
        text("SELECT invoice_id, debit_memo_id, sum(amount) AS applied FROM applications "
             f"WHERE tenant_id = :t AND {source.column} = :id GROUP BY invoice_id, debit_memo_id"),
        {"t": writer.tenant_id, "id": source_id},
    )
    return {(("invoices", r.invoice_id) if r.invoice_id is not None
             else ("debit_memos", r.debit_memo_id)): r.applied for r in rows}


async def move(writer: Writer, source: Source, source_row: RowMapping,
               applications: list[ApplicationInput], *, unapply: bool,
               field: str = "applications") -> None:
    """Check every application, then write them: apply (or unapply) from a locked source."""
    currency, name = source_row["currency"], f"{source.what} {source_row[source.number]}"
    checked = _targets(applications, currency, field)
    targets = await _lock_targets(writer, {t for _, t, _ in checked})
    applied = await _applied_by_target(writer, source, source_row["id"]) if unapply else {}
    net: dict[Target, Decimal] = defaultdict(Decimal)
    available = unapplied(source_row)
    for path, target, amount in checked:
        row = targets.get(target)
        kind = "invoice" if target[0] == "invoices" else "debit memo"
        id_field = f"{path}.{'invoiceId' if target[0] == 'invoices' else 'debitMemoId'}"
        if row is None:
            raise NotFound(kind, target[1], field=id_field)
        if row["account_id"] != source_row["account_id"]:
            raise BadUserInput(id_field, f"{kind} {row['number']} belongs to another account "
                                         f"than {name}", reason="other_account")
        if row["currency"] != currency:
            raise BadUserInput(id_field, f"{kind} {row['number']} is in {row['currency']}, "
                                         f"{name} in {currency}", reason="other_currency")
        if unapply:
            still = applied.get(target, Decimal(0)) + net[target]
            if amount > still:
                raise BadUserInput(f"{path}.amount", f"{amount} is more than the {still} applied "
                                                     f"to {kind} {row['number']}",
                                   reason="exceeds_applied")
            net[target] -= amount
            continue
        if row["status"] != "POSTED":
            raise BadUserInput(id_field, f"{kind} {row['number']} is {row['status']}; "
                                         "only POSTED documents take applications",
                               reason="not_posted")
        open_balance = row["balance"] - net[target]
        if amount > open_balance:
            raise BadUserInput(f"{path}.amount", f"{amount} is more than the open balance "
                                                 f"{open_balance} of {kind} {row['number']}",
                               reason="exceeds_balance")
        if amount > available:
            raise BadUserInput(f"{path}.amount", f"{amount} is more than the {available} still "
                                                 f"unapplied on {name}",
                               reason="exceeds_unapplied")
        available -= amount
        net[target] += amount
    await _write(writer, source, source_row["id"], [(t, a) for _, t, a in checked],
                 net, sign=-1 if unapply else 1)


async def _write(writer: Writer, source: Source, source_id: uuid.UUID,
                 entries: list[tuple[Target, Decimal]], net: dict[Target, Decimal],
                 sign: int) -> None:
    conn, tenant_id = writer.conn, writer.tenant_id
    await conn.execute(
        text(f"INSERT INTO applications (tenant_id, id, {source.column}, invoice_id, "
             "debit_memo_id, amount) "
             "SELECT CAST(:t AS uuid), u.id, CAST(:source AS uuid), u.invoice_id, "
             "u.debit_memo_id, u.amount "
             "FROM unnest(CAST(:ids AS uuid[]), CAST(:invoices AS uuid[]), "
             "CAST(:debit_memos AS uuid[]), CAST(:amounts AS numeric[])) "
             "AS u(id, invoice_id, debit_memo_id, amount)"),
        {"t": tenant_id, "source": source_id, "ids": [new_id() for _ in entries],
         "invoices": [i if t == "invoices" else None for (t, i), _ in entries],
         "debit_memos": [i if t == "debit_memos" else None for (t, i), _ in entries],
         "amounts": [sign * a for _, a in entries]},
    )
    total = sum(net.values(), Decimal(0))
    await conn.execute(
        text(f"UPDATE {source.table} SET applied_amount = applied_amount + :delta "
             "WHERE tenant_id = :t AND id = :id"),
        {"t": tenant_id, "id": source_id, "delta": total},
    )
    if source is PAYMENT and sign > 0:
        await outbox.record(writer, "PAYMENT_APPLIED", [source_id], [outbox.applied(entries)])
    for table in ("invoices", "debit_memos"):
        changes = [(i, delta) for (t, i), delta in net.items() if t == table and delta != 0]
        if changes:
            await conn.execute(
                text(f"UPDATE {table} d SET balance = d.balance - u.delta "
                     "FROM unnest(CAST(:ids AS uuid[]), CAST(:deltas AS numeric[])) "
                     "AS u(id, delta) WHERE d.tenant_id = :t AND d.id = u.id"),
                {"t": tenant_id, "ids": [i for i, _ in changes],
                 "deltas": [d for _, d in changes]},
            )
