"""Standalone invoices (SPEC §6): free lines, no subscription, up to 1,000 per call.

The migration hot path. Each input item succeeds or fails on its own; the valid
ones are written in the call's one transaction, set-based: a fixed handful of
statements per call whatever its size (accounts, products, numbers, one INSERT
of invoices, one of lines, the metrics touch). Nothing here locks a row another
writer needs, so concurrent calls into one partner account never wait on each
other: invoice numbers come from a sequence, and a taken number is detected by
the unique index (ON CONFLICT DO NOTHING), not by a lock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from billgraph.db import clock, raw
from billgraph.db.raw import Row
from billgraph.db.tx import Writer
from billgraph.models import new_id
from billgraph.services.billing.adjustment_facts import load_profiles, load_rates
from billgraph.services.billing.adjustments import LineTax, TaxProfile, line_taxes, taxable_rates

from . import metrics
from .errors import BadUserInput, ErrorCode
from .money import round_money
from .numbers import next_numbers, parse_uuid
from .webhooks import outbox

MAX_INVOICES = 1000
NUMBER_PREFIX = "INV"
ItemResult = dict[str, Any]  # {"id": "..."} or {"errors": [{"code", "message", "field"}]}


@dataclass
class LineInput:
    description: str
    unit_price: Decimal
    product_code: str | None = None
    quantity: Decimal | None = None
    service_period_start: date | None = None
    service_period_end: date | None = None


@dataclass
class StandaloneInvoice:
    account_id: str  # as given: a malformed id fails its item, not the call
    invoice_date: date
    lines: list[LineInput]
    due_date: date | None = None
    invoice_number: str | None = None
    post: bool | None = None
    apply_taxes: bool | None = None  # default false: migrated invoices carry their own totals


@dataclass
class _Line:
    description: str
    product_id: uuid.UUID | None
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    start: date | None
    end: date | None
    taxes: list[LineTax] = field(default_factory=list)

    @property
    def tax(self) -> Decimal:
        return sum((t.amount for t in self.taxes), Decimal(0))


@dataclass
class _Draft:
    """A valid item, ready to insert."""

    index: int
    id: uuid.UUID
    account_id: uuid.UUID
    currency: str
    invoice_date: date
    due_date: date
    number: str | None
    posted: bool
    generated: bool = False
    subtotal: Decimal = Decimal(0)
    lines: list[_Line] = field(default_factory=list)

    @property
    def tax(self) -> Decimal:
        return sum((ln.tax for ln in self.lines), Decimal(0))

    @property
    def amount(self) -> Decimal:
        return self.subtotal + self.tax


class _Errors:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.items: list[dict[str, str]] = []

    def add(self, code: ErrorCode, path: str, message: str) -> None:
        at = f"{self.prefix}.{path}"
        self.items.append({"code": code.value, "message": f"{at}: {message}", "field": at})


async def create_standalone_invoices(writer: Writer, inputs: list[StandaloneInvoice], *,
                                     created: dict[uuid.UUID, Row] | None = None,
                                     ) -> list[ItemResult]:
    """Create the valid invoices of `inputs`; one result per input, in order. `created`
    receives the rows of the invoices written, by id (as `invoices.get_invoices` reads
    them: the caller need not read them back)."""
    if len(inputs) > MAX_INVOICES:
        raise BadUserInput("inputs", f"at most {MAX_INVOICES} invoices per call, got {len(inputs)}")
    if not inputs:
        return []
    conn, tenant_id = writer.conn, writer.tenant_id
    account_ids = {a for a in (parse_uuid(i.account_id) for i in inputs) if a is not None}
    currencies: dict[uuid.UUID, str] = {r["id"]: r["currency"] for r in await raw.fetch(
        conn, "SELECT id, currency FROM accounts "
              "WHERE tenant_id = :t AND id = ANY(CAST(:ids AS uuid[]))",
        {"t": tenant_id, "ids": list(account_ids)})}
    codes = {ln.product_code for i in inputs for ln in i.lines if ln.product_code is not None}
    products: dict[str, uuid.UUID] = {}
    if codes:
        products = {r["code"]: r["id"] for r in await raw.fetch(
            conn, "SELECT code, id FROM products "
                  "WHERE tenant_id = :t AND code = ANY(CAST(:codes AS text[]))",
            {"t": tenant_id, "codes": list(codes)})}

    results: list[ItemResult] = [{} for _ in inputs]
    drafts: list[_Draft] = []
    numbers_in_call: set[str] = set()
    for index, item in enumerate(inputs):
        errors = _Errors(f"inputs[{index}]")
        draft = _validate(index, item, currencies, products, errors)
        if draft is not None and draft.number is not None:
            if draft.number in numbers_in_call:
                errors.add(ErrorCode.CONFLICT, "invoiceNumber",
                           f"{draft.number!r} is given to more than one invoice of this call")
            numbers_in_call.add(draft.number)
        if errors.items:
            results[index] = {"errors": errors.items}
        elif draft is not None:
            drafts.append(draft)
    if not drafts:
        return results

    await _tax(conn, tenant_id, [d for d in drafts if inputs[d.index].apply_taxes], products)
    rows = await _insert_numbered(writer, drafts)
    inserted = rows.keys()
    if created is not None:
        created.update(rows)
    for draft in drafts:
        if draft.id in inserted:
            results[draft.index] = {"id": str(draft.id)}
        else:
            at = f"inputs[{draft.index}].invoiceNumber"
            results[draft.index] = {"errors": [{
                "code": ErrorCode.CONFLICT.value, "field": at,
                "message": f"{at}: invoice number {draft.number!r} is already taken"}]}
    await outbox.record(writer, "INVOICE_POSTED",
                        [d.id for d in drafts if d.posted and d.id in inserted])
    await metrics.touched(writer, {d.account_id for d in drafts if d.posted and d.id in inserted})
    return results


def _validate(index: int, item: StandaloneInvoice, currencies: dict[uuid.UUID, str],
              products: dict[str, uuid.UUID], errors: _Errors) -> _Draft | None:
    account_id = parse_uuid(item.account_id)
    currency = currencies.get(account_id) if account_id is not None else None
    if account_id is None or currency is None:
        errors.add(ErrorCode.NOT_FOUND, "accountId", f"account {item.account_id} not found")
    due_date = item.due_date if item.due_date is not None else item.invoice_date
    if due_date < item.invoice_date:
        errors.add(ErrorCode.BAD_USER_INPUT, "dueDate", "must not be before invoiceDate")
    number = None
    if item.invoice_number is not None:
        number = item.invoice_number.strip()
        if not number or len(number) > 100:
            errors.add(ErrorCode.BAD_USER_INPUT, "invoiceNumber", "must be 1 to 100 characters")
    if not item.lines:
        errors.add(ErrorCode.BAD_USER_INPUT, "lines", "an invoice needs at least one line")
    draft = _Draft(index, new_id(), account_id or uuid.UUID(int=0), currency or "",
                   item.invoice_date, due_date, number, item.post is not False,
                   generated=item.invoice_number is None)
    for position, line in enumerate(item.lines):
        path = f"lines[{position}]"
        description = line.description.strip()
        if not description:
            errors.add(ErrorCode.BAD_USER_INPUT, f"{path}.description", "must not be empty")
        quantity = line.quantity if line.quantity is not None else Decimal(1)
        if not quantity.is_finite() or quantity <= 0:
            errors.add(ErrorCode.BAD_USER_INPUT, f"{path}.quantity", "must be greater than 0")
        if not line.unit_price.is_finite():
            errors.add(ErrorCode.BAD_USER_INPUT, f"{path}.unitPrice", "must be a finite number")
        start, end = line.service_period_start, line.service_period_end
        if start is not None and end is not None and start > end:
            errors.add(ErrorCode.BAD_USER_INPUT, f"{path}.servicePeriodEnd",
                       "must not be before servicePeriodStart")
        product_id = None
        if line.product_code is not None:
            product_id = products.get(line.product_code)
            if product_id is None:
                errors.add(ErrorCode.NOT_FOUND, f"{path}.productCode",
                           f"product {line.product_code!r} not found")
        if errors.items or currency is None:
            continue
        amount = round_money(quantity * line.unit_price, currency)
        draft.subtotal += amount
        draft.lines.append(_Line(description, product_id, quantity, line.unit_price, amount,
                                 start, end))
    return None if errors.items else draft


async def _insert_numbered(writer: Writer, drafts: list[_Draft]) -> dict[uuid.UUID, Row]:
    """Insert the drafts, numbering those without a number; the rows inserted, by id. A
    given number that is taken fails its item; a generated one that is taken (someone
    chose it by hand) is replaced by the next from the sequence."""
    inserted: dict[uuid.UUID, Row] = {}
    pending = drafts
    for _ in range(5):
        await _assign_numbers(writer, [d for d in pending if d.generated])
        inserted.update(await _insert(writer, pending))
        pending = [d for d in drafts if d.generated and d.id not in inserted]
        if not pending:
            break
    return inserted


async def _assign_numbers(writer: Writer, drafts: list[_Draft]) -> None:
    """Generated numbers (INV00000001, ...) for `drafts`: one statement, no lock."""
    if not drafts:
        return
    numbers = await next_numbers(writer.conn, "invoice_number_seq", NUMBER_PREFIX, len(drafts))
    for draft, number in zip(drafts, numbers, strict=True):
        draft.number = number


INSERT_INVOICES = """
INSERT INTO invoices (tenant_id, id, invoice_number, account_id, invoice_date, due_date, status,
                      amount, balance, currency, posted_at, subtotal, tax_amount)
SELECT CAST(:t AS uuid), u.id, u.num, u.account_id, u.invoice_date, u.due_date, u.status,
       u.amount, u.amount, u.currency,
       CASE WHEN u.status = 'POSTED' THEN CAST(:now AS timestamptz) END,
       u.subtotal, u.tax
FROM unnest(CAST(:ids AS uuid[]), CAST(:nums AS text[]), CAST(:accounts AS uuid[]),
            CAST(:invoice_dates AS date[]), CAST(:due_dates AS date[]),
            CAST(:statuses AS text[]), CAST(:amounts AS numeric[]), CAST(:currencies AS text[]),
            CAST(:subtotals AS numeric[]), CAST(:taxes AS numeric[]))
     AS u(id, num, account_id, invoice_date, due_date, status, amount, currency, subtotal, tax)
ON CONFLICT (tenant_id, invoice_number) DO NOTHING
RETURNING *
"""

INSERT_LINES = """
INSERT INTO invoice_lines (tenant_id, id, invoice_id, position, description, product_id,
                           quantity, unit_price, amount, service_period_start, service_period_end,
                           tax_amount)
SELECT CAST(:t AS uuid), u.*
FROM unnest(CAST(:ids AS uuid[]), CAST(:invoices AS uuid[]), CAST(:positions AS int[]),
            CAST(:descriptions AS text[]), CAST(:products AS uuid[]),
            CAST(:quantities AS numeric[]), CAST(:prices AS numeric[]),
            CAST(:amounts AS numeric[]), CAST(:starts AS date[]), CAST(:ends AS date[]),
            CAST(:taxes AS numeric[])) AS u
"""

INSERT_LINE_TAXES = """
INSERT INTO invoice_line_taxes (tenant_id, invoice_line_id, tax_rate_id, percentage, amount)
SELECT CAST(:t AS uuid), u.*
FROM unnest(CAST(:lines AS uuid[]), CAST(:rates AS uuid[]), CAST(:percentages AS numeric[]),
            CAST(:amounts AS numeric[])) AS u
"""


async def _tax(conn: Any, tenant_id: uuid.UUID, drafts: list[_Draft],
               products: dict[str, uuid.UUID]) -> None:
    """Tax the lines of `drafts` (those with applyTaxes) at their owners' rates (§12)."""
    if not drafts:
        return
    rates = await load_rates(conn, tenant_id)
    owners = await load_profiles(conn, tenant_id, list({d.account_id for d in drafts}))
    codes = {product_id: code for code, product_id in products.items()}
    for draft in drafts:
        applicable = taxable_rates(rates, owners.get(draft.account_id, TaxProfile(None)))
        for line in draft.lines:
            code = codes.get(line.product_id) if line.product_id is not None else None
            line.taxes = line_taxes(line.amount, code, applicable, draft.currency)



async def _insert(writer: Writer, drafts: list[_Draft]) -> dict[uuid.UUID, Row]:
    """Insert the invoices, then the lines of those whose number was free; the invoices'
    rows by id."""
    conn, tenant_id = writer.conn, writer.tenant_id
    inserted = {r["id"]: r for r in await raw.fetch(conn, INSERT_INVOICES, {
        "t": tenant_id, "now": clock.now(),
        "ids": [d.id for d in drafts],
        "nums": [d.number for d in drafts],
        "accounts": [d.account_id for d in drafts],
        "invoice_dates": [d.invoice_date for d in drafts],
        "due_dates": [d.due_date for d in drafts],
        "statuses": ["POSTED" if d.posted else "DRAFT" for d in drafts],
        "amounts": [d.amount for d in drafts],
        "currencies": [d.currency for d in drafts],
        "subtotals": [d.subtotal for d in drafts], "taxes": [d.tax for d in drafts],
    })}
    lines = [(d.id, position, line) for d in drafts if d.id in inserted
             for position, line in enumerate(d.lines)]
    if lines:
        line_ids = [new_id() for _ in lines]
        await raw.fetch(conn, INSERT_LINES, {
            "t": tenant_id,
            "ids": line_ids,
            "taxes": [ln.tax for _, _, ln in lines],
            "invoices": [invoice_id for invoice_id, _, _ in lines],
            "positions": [position for _, position, _ in lines],
            "descriptions": [ln.description for _, _, ln in lines],
            "products": [ln.product_id for _, _, ln in lines],
            "quantities": [ln.quantity for _, _, ln in lines],
            "prices": [ln.unit_price for _, _, ln in lines],
            "amounts": [ln.amount for _, _, ln in lines],
            "starts": [ln.start for _, _, ln in lines],
            "ends": [ln.end for _, _, ln in lines],
        })
        taxed = [(i, t) for i, (_, _, ln) in zip(line_ids, lines, strict=True) for t in ln.taxes]
        if taxed:
            await raw.fetch(conn, INSERT_LINE_TAXES, {
                "t": tenant_id, "lines": [i for i, _ in taxed],
                "rates": [t.rate_id for _, t in taxed],
                "percentages": [t.percentage for _, t in taxed],
                "amounts": [t.amount for _, t in taxed]})
    return inserted
