"""A bill run's work for its invoice owners: their charges, and one statement that
writes the invoices of a write batch of owners, their lines and their ledger entries;
then the run's counters and cursor.

The ledger key (tenant, item, period start, revision) is what makes billing exactly
once: a concurrent run that computed the same difference inserts the same key, and
one of the two transactions fails with a unique violation (the caller bills that
write batch's owners one by one, recomputing an owner that collides from fresh facts,
which finds nothing new).
"""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.db import clock, raw
from billgraph.db.tx import Writer
from billgraph.models import new_id, new_ids
from billgraph.services import metrics
from billgraph.services.billing import facts as billing_facts
from billgraph.services.billing.adjusted import AdjustmentFacts, Line, Totals, adjust, totals
from billgraph.services.billing.adjustment_facts import load_adjustment_facts
from billgraph.services.billing.charges import Charge, ChargeError, Item, Terms, item_charges
from billgraph.services.billing.facts import Facts
from billgraph.services.billing.periods import CustomPeriods
from billgraph.services.errors import ErrorCode
from billgraph.services.money import round_money
from billgraph.services.webhooks import outbox

MAX_ERRORS = 100  # per run; a run with more problems than this is read from its first ones


class Superseded(Exception):
    """The run is no longer this worker's to advance: it finished, another worker
    already billed this owner, or (for a job) the job was claimed again."""


@dataclass(frozen=True)
class RunGuard:
    """Which run this work advances, and the job attempt allowed to commit it."""

    tenant_id: uuid.UUID
    run_id: uuid.UUID
    job: RowMapping | None = None

    def params(self) -> dict[str, Any]:
        return {"t": self.tenant_id, "run": self.run_id,
                "job": self.job["id"] if self.job is not None else None,
                "attempt": self.job["attempt"] if self.job is not None else 0}


# Only the current claim of the run's job (if it has one) may advance the run. The key
# share lock keeps the job from being claimed again until this transaction ends (the
# claim locks FOR UPDATE SKIP LOCKED), without blocking the job's heartbeat.
GUARD = """tenant_id = :t AND id = :run AND status = 'RUNNING'
  AND (CAST(:job AS uuid) IS NULL OR EXISTS (
      SELECT 1 FROM jobs j WHERE j.tenant_id = :t AND j.id = CAST(:job AS uuid)
        AND j.attempt = :attempt AND j.status = 'RUNNING' FOR KEY SHARE))"""

# An invoice's lines, their taxes and a ledger entry per line, for the invoices of `inv`.
_LINES = """lines AS (
    INSERT INTO invoice_lines (tenant_id, id, invoice_id, position, description,
                               subscription_id, item_id, product_id, quantity, unit_price,
                               amount, service_period_start, service_period_end,
                               charge_type, pricing_model, discount_amount, tax_amount)
    SELECT CAST(:t AS uuid), u.id, inv.id, u.position, u.description, u.subscription_id,
           u.item_id, u.product_id, u.quantity, u.unit_price, u.amount, u.period_start,
           u.period_end, u.charge_type, u.pricing_model, u.discount, u.tax
    FROM unnest(CAST(CAST(:line_invoices AS text) AS uuid[]), CAST(:line_ids AS uuid[]),
                CAST(CAST(:positions AS text) AS integer[]),
                CAST(:descriptions AS text[]), CAST(:subscriptions AS uuid[]),
                CAST(:items AS uuid[]), CAST(CAST(:products AS text) AS uuid[]),
                CAST(CAST(:quantities AS text) AS numeric[]),
                CAST(CAST(:unit_prices AS text) AS numeric[]),
                CAST(CAST(:amounts AS text) AS numeric[]), CAST(CAST(:starts AS text) AS date[]),
                CAST(CAST(:ends AS text) AS date[]),
                CAST(CAST(:charge_types AS text) AS text[]),
                CAST(CAST(:pricing_models AS text) AS text[]),
                CAST(CAST(:discounts AS text) AS numeric[]),
                CAST(CAST(:taxes AS text) AS numeric[]))
         AS u(invoice_id, id, position, description, subscription_id, item_id, product_id,
              quantity, unit_price, amount, period_start, period_end, charge_type,
              pricing_model, discount, tax)
    JOIN inv ON inv.id = u.invoice_id),
line_taxes AS (
    INSERT INTO invoice_line_taxes (tenant_id, invoice_line_id, tax_rate_id, percentage,
                                    amount)
    SELECT CAST(:t AS uuid), u.line_id, u.rate_id, u.percentage, u.amount
    FROM unnest(CAST(:tax_invoices AS uuid[]), CAST(:tax_lines AS uuid[]),
                CAST(:tax_rates AS uuid[]), CAST(CAST(:tax_percentages AS text) AS numeric[]),
                CAST(CAST(:tax_amounts AS text) AS numeric[]))
         AS u(invoice_id, line_id, rate_id, percentage, amount)
    JOIN inv ON inv.id = u.invoice_id),
ledger AS (
    INSERT INTO billing_ledger (tenant_id, item_id, period_start, revision, amount,
                                invoice_id, invoice_line_id, discount_amount, tax_amount)
    SELECT CAST(:t AS uuid), u.item_id, u.period_start, u.revision, u.amount, inv.id,
           u.line_id, u.discount, u.tax
    FROM unnest(CAST(CAST(:line_invoices AS text) AS uuid[]), CAST(:items AS uuid[]),
                CAST(CAST(:period_keys AS text) AS date[]),
                CAST(CAST(:revisions AS text) AS integer[]),
                CAST(CAST(:amounts AS text) AS numeric[]), CAST(:line_ids AS uuid[]),
                CAST(CAST(:discounts AS text) AS numeric[]),
                CAST(CAST(:taxes AS text) AS numeric[]))
         AS u(invoice_id, item_id, period_start, revision, amount, line_id, discount, tax)
    JOIN inv ON inv.id = u.invoice_id)"""

# The invoices of several owners, one statement: per owner an invoice (numbered in the
# order given), its lines, their taxes and a ledger entry per line. One invoice per
# owner per run: an owner that already has one in this run is left out (the caller
# compares the count).
WRITE_INVOICES = f"""
WITH guard AS (SELECT 1 FROM bill_runs WHERE {GUARD}),
fresh AS (
    SELECT u.id, u.owner, u.currency, u.amount, u.subtotal, u.discount, u.tax, u.ord
    FROM guard, unnest(CAST(:invoices AS uuid[]), CAST(:owners AS uuid[]),
                       CAST(:currencies AS text[]),
                       CAST(CAST(:invoice_amounts AS text) AS numeric[]),
                       CAST(CAST(:subtotals AS text) AS numeric[]),
                       CAST(CAST(:invoice_discounts AS text) AS numeric[]),
                       CAST(CAST(:invoice_taxes AS text) AS numeric[]))
         WITH ORDINALITY AS u(id, owner, currency, amount, subtotal, discount, tax, ord)
    WHERE NOT EXISTS (SELECT 1 FROM invoices i WHERE i.tenant_id = :t
                      AND i.bill_run_id = :run AND i.account_id = u.owner)),
number AS (SELECT f.*, nextval('invoice_number_seq') AS n
           FROM (SELECT * FROM fresh ORDER BY ord) f),
inv AS (
    INSERT INTO invoices (tenant_id, id, invoice_number, account_id, invoice_date, due_date,
                          status, amount, balance, currency, bill_run_id, posted_at,
                          subtotal, discount_amount, tax_amount)
    SELECT CAST(:t AS uuid), id,
           'INV' || lpad(n::text, greatest(8, length(n::text)), '0'), owner,
           CAST(:invoice_date AS date), CAST(:invoice_date AS date), CAST(:status AS text),
           amount, amount, currency, CAST(:run AS uuid),
           CASE WHEN CAST(:status AS text) = 'POSTED' THEN CAST(:now AS timestamptz) END,
           subtotal, discount, tax
    FROM number
    RETURNING id, invoice_number),
{_LINES}
SELECT count(*) AS written FROM inv
"""

# More lines of one invoice written by WRITE_INVOICES earlier in the transaction (an
# invoice streamed in chunks: `write_stream`).
WRITE_LINES = f"""
WITH inv AS (SELECT CAST(:invoice AS uuid) AS id),
{_LINES}
SELECT 1
"""

# A streamed invoice's totals, once its last line is written.
SET_TOTALS = """
UPDATE invoices SET amount = CAST(:amount AS numeric), balance = CAST(:amount AS numeric),
    subtotal = CAST(:subtotal AS numeric), discount_amount = CAST(:discount AS numeric),
    tax_amount = CAST(:tax AS numeric)
WHERE tenant_id = :t AND id = :invoice
RETURNING id"""

# Last in the transaction: the run's row is locked only briefly, so invoices written
# side by side do not queue on it.
COUNT_INVOICES = f"""
UPDATE bill_runs SET accounts_processed = accounts_processed + :invoices_written,
    invoices_created = invoices_created + :invoices_written,
    total_amount = total_amount + CAST(:amount AS numeric)
WHERE {GUARD} RETURNING id"""

# Owners are billed in id order, a batch at a time: once a batch is done, every owner
# up to `last_account_id` is, and the batch's owners without an invoice are counted.
ADVANCE = text(f"""
UPDATE bill_runs SET accounts_processed = accounts_processed + :processed,
    last_account_id = CAST(:owner AS uuid), errors = errors || CAST(:errors AS jsonb)
WHERE {GUARD} AND (last_account_id IS NULL OR last_account_id < CAST(:owner AS uuid))
RETURNING id""")

# Owners after `last_account_id` that already have their invoice of this run (billed
# side by side before a crash): done and counted.
DONE_AFTER = text("""
SELECT account_id FROM invoices
WHERE tenant_id = :t AND bill_run_id = :run
  AND (CAST(:after AS uuid) IS NULL OR account_id > CAST(:after AS uuid))""")


def error(code: ErrorCode, message: str) -> dict[str, str]:
    return {"code": code.value, "message": message}


def owner_charges(facts: Facts, owners: Mapping[uuid.UUID, str], *, target: date,
                  custom: CustomPeriods,
                  by_subscription: Mapping[uuid.UUID, Sequence[Item]] | None = None
                  ) -> tuple[dict[uuid.UUID, list[Charge]], list[dict[str, str]]]:
    """The charges of each of `owners` (id → currency), in invoice order, and the coded
    errors of subscriptions that cannot be billed (their charges are left out).
    `by_subscription`: only these subscriptions' items (default: all of `facts.items`)."""
    by_owner: dict[uuid.UUID, list[Charge]] = defaultdict(list)
    errors: list[dict[str, str]] = []
    if by_subscription is None:
        by_subscription = items_by_subscription(facts)
    for sub_id, items in by_subscription.items():
        terms, currency = facts.terms[sub_id], facts.plan_currency[sub_id]
        try:
            charges = [c for item in items for c in item_charges(
                item, terms, target=target, currency=currency, custom=custom,
                billed=facts.billed.get(item.id, {}))]
        except ChargeError as problem:
            errors.append(error(ErrorCode.BAD_USER_INPUT, str(problem)))
            continue
        mismatched: set[uuid.UUID] = set()
        for charge in charges:
            owner = charge.invoice_owner_id
            if owner not in owners:
                continue  # billed when that owner's turn comes (or not in this run)
            if owners[owner] != currency:
                mismatched.add(owner)
                continue
            by_owner[owner].append(charge)
        errors.extend(error(ErrorCode.BAD_USER_INPUT, (
            f"subscription {terms.subscription_number} is priced in {currency} but its "
            f"invoice owner {owner} is billed in {owners[owner]}; it was not billed"))
            for owner in sorted(mismatched))
    return by_owner, errors


def items_by_subscription(facts: Facts) -> dict[uuid.UUID, list[Item]]:
    """`facts.items` by subscription, the subscriptions in invoice order."""
    by_subscription: dict[uuid.UUID, list[Item]] = defaultdict(list)
    for item in facts.items:
        by_subscription[item.subscription_id].append(item)
    return by_subscription


Errors = list[dict[str, str]]
Chunks = Iterator[tuple[list[Line], Errors]]


@dataclass(frozen=True)
class OwnerStream:
    """An invoice owner billed for so many items that its invoice is written while its
    lines are computed (`write_stream`): `chunks()` computes them a few hundred items at
    a time, in invoice order, each chunk with the errors found on the way (every call
    starts over, so a retried transaction computes them again)."""

    owner: uuid.UUID
    currency: str
    chunks: Callable[[], Chunks]


@dataclass(frozen=True)
class BatchLines:
    """A batch's lines (`Billing.batch`): the owners computed at once, the streamed ones,
    and the errors found so far."""

    lines: dict[uuid.UUID, list[Line]]
    streams: list[OwnerStream]
    errors: Errors


STREAM_ITEMS = 2_000  # an owner billed for more items than this is streamed ...
CHUNK_ITEMS = 500  # ... this many items (its subscriptions' whole) at a time


@dataclass(frozen=True)
class Billing:
    """What a batch of invoice owners is billed from (`read_billing`). Their lines are
    computed from it: all at once (`lines`), or an owner's in chunks (`batch`)."""

    facts: Facts
    extra: AdjustmentFacts
    owners: Mapping[uuid.UUID, str]  # id -> currency
    target: date
    custom: CustomPeriods

    def lines(self, owners: Mapping[uuid.UUID, str] | None = None,
              by_subscription: Mapping[uuid.UUID, Sequence[Item]] | None = None
              ) -> tuple[dict[uuid.UUID, list[Line]], Errors]:
        """The lines of `owners` (default: all), from `by_subscription` (default: every
        subscription): `owner_charges`, discounted and taxed (`adjusted.adjust`)."""
        owners = self.owners if owners is None else owners
        by_owner, errors = owner_charges(self.facts, owners, target=self.target,
                                         custom=self.custom, by_subscription=by_subscription)
        return {owner: adjust(charges, owner=owner, facts=self.extra, terms=self.facts.terms,
                              currency=owners[owner], custom=self.custom)
                for owner, charges in by_owner.items()}, errors

    def batch(self, stream_items: int | None = STREAM_ITEMS) -> BatchLines:
        """The lines of the owners with at most `stream_items` items computed now; each
        owner with more as an `OwnerStream` (None: none streamed). A subscription is
        computed for each of its invoice owners' shares (an owner change splits it) —
        with the owners computed now, or in the chunks of the streamed owner."""
        by_subscription = items_by_subscription(self.facts)
        if stream_items is None or len(self.facts.items) <= stream_items:  # none can be
            lines, errors = self.lines(by_subscription=by_subscription)
            return BatchLines(lines, [], errors)
        terms = self.facts.terms
        owners_of = {sub: _owners(terms[sub]) for sub in by_subscription}
        items_of: dict[uuid.UUID, int] = defaultdict(int)
        for sub, items in by_subscription.items():
            for owner in owners_of[sub]:
                items_of[owner] += len(items)
        streamed = {o for o in self.owners if items_of[o] > stream_items}
        if not streamed:
            lines, errors = self.lines(by_subscription=by_subscription)
            return BatchLines(lines, [], errors)
        now = {o: c for o, c in self.owners.items() if o not in streamed}
        lines, errors = self.lines(now, {
            sub: items for sub, items in by_subscription.items()
            if any(o in now for o in owners_of[sub])})
        return BatchLines(lines, [
            OwnerStream(owner, self.owners[owner], functools.partial(
                self._chunks, owner, [s for s in by_subscription if owner in owners_of[s]],
                by_subscription))
            for owner in sorted(streamed)], errors)

    def _chunks(self, owner: uuid.UUID, subscriptions: Sequence[uuid.UUID],
                by_subscription: Mapping[uuid.UUID, Sequence[Item]]) -> Chunks:
        only = {owner: self.owners[owner]}
        chunk: dict[uuid.UUID, Sequence[Item]] = {}
        size = 0
        for n, sub in enumerate(subscriptions):
            chunk[sub] = by_subscription[sub]
            size += len(chunk[sub])
            if size >= CHUNK_ITEMS or n == len(subscriptions) - 1:
                lines, errors = self.lines(only, chunk)
                yield lines.get(owner, []), errors
                chunk, size = {}, 0


def _owners(terms: Terms) -> tuple[uuid.UUID, ...]:
    """Every invoice owner a subscription has (had): its own and its history's."""
    own = terms.invoice_owner_id
    if not terms.owners or (len(terms.owners) == 1 and terms.owners[0][1] == own):
        return (own,)  # most subscriptions
    return (own, *{o for _, o in terms.owners if o != own})


async def read_billing(conn: AsyncConnection, tenant_id: uuid.UUID,
                       owners: Sequence[tuple[uuid.UUID, str]], *, target: date,
                       custom: CustomPeriods) -> Billing:
    """The billing facts of `owners` (id, currency), read on `conn` (a few set-based
    statements per batch), nothing written."""
    ids = [o for o, _ in owners]
    facts = await billing_facts.load_facts(conn, tenant_id, ids, target)
    extra = await load_adjustment_facts(conn, tenant_id, ids, facts)
    return Billing(facts, extra, dict(owners), target, custom)


async def owner_lines(db: Any, tenant_id: uuid.UUID, owners: Sequence[tuple[uuid.UUID, str]],
                      *, target: date, custom: CustomPeriods,
                      stream_items: int | None = STREAM_ITEMS) -> BatchLines:
    """The facts of `owners` read on one short read connection of `db`, then their lines
    (`Billing.batch`: an owner with more than `stream_items` items streamed)."""
    async with db.read() as conn:
        billing = await read_billing(conn, tenant_id, owners, target=target, custom=custom)
    return billing.batch(stream_items)


async def lines_on(conn: AsyncConnection, tenant_id: uuid.UUID,
                   owners: Sequence[tuple[uuid.UUID, str]], *, target: date,
                   custom: CustomPeriods
                   ) -> tuple[dict[uuid.UUID, list[Line]], list[dict[str, str]]]:
    """The invoice lines of each of `owners` (id, currency): their charges
    (`owner_charges`), discounted and taxed (`adjusted.adjust`); the facts read on
    `conn` (`read_billing`), nothing written. The bill run and the previews
    (billing/preview.py) both bill through here (the run via `owner_lines`)."""
    billing = await read_billing(conn, tenant_id, owners, target=target, custom=custom)
    return billing.lines()


@dataclass(frozen=True)
class InvoiceSums:
    """An invoice's stored totals: each sum of its lines rounded to minor units."""

    subtotal: Decimal
    discount: Decimal
    tax: Decimal
    amount: Decimal


def invoice_sums(lines: Sequence[Line], currency: str) -> InvoiceSums:
    """The totals an invoice of `lines` is written with (and a preview shows)."""
    return rounded_sums(totals(lines), currency)


def rounded_sums(sums: Totals, currency: str) -> InvoiceSums:
    """`sums` (exact) as an invoice's stored totals."""
    return InvoiceSums(round_money(sums.subtotal, currency), round_money(sums.discount, currency),
                       round_money(sums.tax, currency), round_money(sums.amount, currency))


@dataclass(frozen=True)
class OwnerInvoice:
    """What one invoice owner is billed: its currency and lines (`lines_on`)."""

    owner: uuid.UUID
    currency: str
    lines: Sequence[Line]


def _line_params(lines: Sequence[tuple[uuid.UUID, uuid.UUID, int, Line]]) -> dict[str, Any]:
    """_LINES' parameters for (invoice id, line id, position, line) rows."""
    charges = [ln.charge for _, _, _, ln in lines]
    taxed = [(invoice_id, line_id, t) for invoice_id, line_id, _, ln in lines
             for t in ln.taxes]
    # Numbers, dates and the columns of a few distinct values as array literals: cheaper
    # to send than asyncpg's arrays, which check each element against three ABCs.
    as_text, texts = raw.array_text, raw.text_array
    return {
        "line_invoices": as_text([i for i, _, _, _ in lines], repeated=True),
        "line_ids": [i for _, i, _, _ in lines],
        "positions": as_text([p for _, _, p, _ in lines]),
        "discounts": as_text([ln.discount for _, _, _, ln in lines]),
        "taxes": as_text([ln.tax for _, _, _, ln in lines]),
        "descriptions": [c.description for c in charges],
        "subscriptions": [c.subscription_id for c in charges],
        "items": [c.item_id for c in charges],
        "products": as_text([c.product_id for c in charges], repeated=True),
        "quantities": as_text([c.quantity for c in charges]),
        "unit_prices": as_text([c.unit_price for c in charges]),
        "amounts": as_text([c.amount for c in charges]),
        "starts": as_text([c.service_start for c in charges], repeated=True),
        "ends": as_text([c.service_end for c in charges], repeated=True),
        "period_keys": as_text([c.period_start for c in charges], repeated=True),
        "revisions": as_text([c.revision for c in charges]),
        "charge_types": texts([c.charge_type for c in charges]),
        "pricing_models": texts([str(c.pricing_model) for c in charges]),
        "tax_invoices": [i for i, _, _ in taxed], "tax_lines": [i for _, i, _ in taxed],
        "tax_rates": [t.rate_id for _, _, t in taxed],
        "tax_percentages": as_text([t.percentage for _, _, t in taxed]),
        "tax_amounts": as_text([t.amount for _, _, t in taxed]),
    }


async def _insert_invoices(writer: Writer, guard: RunGuard, ids: Sequence[uuid.UUID],
                           invoices: Sequence[OwnerInvoice], sums: Sequence[InvoiceSums],
                           lines: Sequence[tuple[uuid.UUID, uuid.UUID, int, Line]], *,
                           invoice_date: date, post: bool) -> None:
    """WRITE_INVOICES; raises `Superseded` unless every invoice was written."""
    as_text = raw.array_text
    written = (await raw.one(writer.conn, WRITE_INVOICES, {
        "invoices": ids, "owners": [i.owner for i in invoices],
        "currencies": [i.currency for i in invoices],
        "invoice_amounts": as_text([s.amount for s in sums]),
        "subtotals": as_text([s.subtotal for s in sums]),
        "invoice_discounts": as_text([s.discount for s in sums]),
        "invoice_taxes": as_text([s.tax for s in sums]),
        **_line_params(lines), **guard.params(),
        "now": clock.now(), "invoice_date": invoice_date,
        "status": "POSTED" if post else "DRAFT"}))[0]
    if written != len(invoices):
        raise Superseded(f"bill run {guard.run_id} is no longer this worker's to bill "
                         f"accounts {', '.join(str(i.owner) for i in invoices)}")


async def _written(writer: Writer, guard: RunGuard, ids: Sequence[uuid.UUID],
                   owners: Sequence[uuid.UUID], total: Decimal, *, post: bool) -> None:
    """After the invoices `ids` of `owners`: posting recomputes (or marks stale) the
    owners' metrics and records INVOICE_POSTED; then the run's counters."""
    if post:
        await outbox.record(writer, "INVOICE_POSTED", ids)
        await metrics.touched(writer, owners)
    counted = await raw.fetchrow(writer.conn, COUNT_INVOICES, {
        **guard.params(), "invoices_written": len(ids), "amount": total})
    if counted is None:
        raise Superseded(f"bill run {guard.run_id} is no longer running")


async def write_invoices(writer: Writer, guard: RunGuard, invoices: Sequence[OwnerInvoice], *,
                         invoice_date: date, post: bool) -> Decimal:
    """Each owner's invoice with a line, its taxes and a ledger entry per charge (one
    statement for all of them); posting recomputes (or marks stale) the owners' metrics
    and records INVOICE_POSTED; then the run's counters. The invoices' total amount.
    Raises `Superseded` (nothing of it kept) when the run is no longer this worker's or
    an owner already has its invoice of this run."""
    ids = new_ids(len(invoices))
    sums = [invoice_sums(i.lines, i.currency) for i in invoices]
    total = sum((s.amount for s in sums), Decimal(0))
    line_ids = iter(new_ids(sum(len(i.lines) for i in invoices)))
    lines = [(invoice_id, next(line_ids), position, ln)
             for invoice_id, i in zip(ids, invoices, strict=True)
             for position, ln in enumerate(i.lines)]
    await _insert_invoices(writer, guard, ids, invoices, sums, lines,
                           invoice_date=invoice_date, post=post)
    await _written(writer, guard, ids, [i.owner for i in invoices], total, post=post)
    return total


async def write_stream(writer: Writer, guard: RunGuard, owner: uuid.UUID, currency: str,
                       chunks: Iterable[Sequence[Line]], *, invoice_date: date,
                       post: bool) -> Decimal | None:
    """One owner's invoice, written while its lines are computed: the invoice (totals
    zero) when the first chunk has lines, then each chunk's lines with WRITE_LINES —
    sent before the next chunk is computed, so PostgreSQL inserts one while Python
    computes the next —, then the totals (SET_TOTALS) and what `write_invoices` does
    after its statement. All in the caller's transaction: a failure keeps none of it.
    The invoice's amount; None when no chunk had a line (nothing written)."""
    invoice_id = new_id()
    head = OwnerInvoice(owner, currency, ())
    sums = Totals(Decimal(0), Decimal(0), Decimal(0))
    position = 0
    pending: asyncio.Task[Any] | None = None
    try:
        for lines in chunks:
            if not lines:
                continue
            if pending is None:
                await _insert_invoices(writer, guard, [invoice_id], [head],
                                       [invoice_sums((), currency)], [],
                                       invoice_date=invoice_date, post=post)
            rows = [(invoice_id, line_id, position + n, ln)
                    for n, (line_id, ln) in enumerate(zip(new_ids(len(lines)), lines, strict=True))]
            position += len(rows)
            part = totals(lines)
            sums = Totals(sums.subtotal + part.subtotal, sums.discount + part.discount,
                          sums.tax + part.tax)
            params = {**_line_params(rows), "t": writer.tenant_id, "invoice": invoice_id}
            if pending is not None:
                await pending
            pending = asyncio.ensure_future(raw.fetch(writer.conn, WRITE_LINES, params))
            await asyncio.sleep(0)  # the chunk is sent: computing the next overlaps it
        if pending is None:
            return None
        await pending
    finally:
        if pending is not None and not pending.done():  # computing a chunk failed
            await asyncio.wait([pending])
        if pending is not None and not pending.cancelled():
            pending.exception()  # retrieved: the error raised here is the first one
    stored = rounded_sums(sums, currency)
    await raw.one(writer.conn, SET_TOTALS, {
        "t": writer.tenant_id, "invoice": invoice_id, "amount": stored.amount,
        "subtotal": stored.subtotal, "discount": stored.discount, "tax": stored.tax})
    await _written(writer, guard, [invoice_id], [owner], stored.amount, post=post)
    return stored.amount


async def advance(writer: Writer, guard: RunGuard, *, last_owner: uuid.UUID,
                  processed: int, errors: Sequence[dict[str, str]]) -> None:
    """Every owner up to `last_owner` is done; count `processed` more (those without an
    invoice) and record errors. Raises `Superseded`."""
    result = await writer.conn.execute(ADVANCE, {
        **guard.params(), "processed": processed, "owner": last_owner,
        "errors": json.dumps(list(errors))})
    if result.first() is None:
        raise Superseded(f"bill run {guard.run_id} has moved past account {last_owner}")


async def done_after(conn: Any, guard: RunGuard, after: uuid.UUID | None) -> set[uuid.UUID]:
    """Owners after `after` that already have their invoice of this run."""
    rows = await conn.execute(DONE_AFTER, {"t": guard.tenant_id, "run": guard.run_id,
                                           "after": after})
    return set(rows.scalars())
