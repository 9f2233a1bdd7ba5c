"""A bill run's work for one invoice owner: its charges, and one statement that writes
the invoice, its lines, their ledger entries and the run's progress.

The ledger key (tenant, item, period start, revision) is what makes billing exactly
once: a concurrent run that computed the same difference inserts the same key, and
one of the two transactions fails with a unique violation (the caller recomputes
that owner from fresh facts and finds nothing new).
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping, text

from billgraph.db.tx import Writer
from billgraph.models import new_id
from billgraph.services import metrics
from billgraph.services.billing.charges import Charge, ChargeError, item_charges, total
from billgraph.services.billing.facts import Facts
from billgraph.services.billing.periods import CustomPeriods
from billgraph.services.errors import ErrorCode

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


# Only the current claim of the run's job (if it has one) may advance the run.
GUARD = """tenant_id = :t AND id = :run AND status = 'RUNNING'
  AND (CAST(:job AS uuid) IS NULL OR EXISTS (
      SELECT 1 FROM jobs j WHERE j.tenant_id = :t AND j.id = CAST(:job AS uuid)
        AND j.attempt = :attempt AND j.status = 'RUNNING' FOR SHARE))"""

# Owners are billed in id order: an owner at or before `last_account_id` is done.
ADVANCE = f"""UPDATE bill_runs SET
    accounts_processed = accounts_processed + :processed,
    invoices_created = invoices_created + :invoices,
    total_amount = total_amount + CAST(:amount AS numeric),
    last_account_id = CAST(:owner AS uuid),
    errors = errors || CAST(:errors AS jsonb)
  WHERE {GUARD} AND (last_account_id IS NULL OR last_account_id < CAST(:owner AS uuid))
  RETURNING id"""

WRITE_INVOICE = text(f"""
WITH progress AS ({ADVANCE}),
number AS (SELECT nextval('invoice_number_seq') AS n FROM progress),
inv AS (
    INSERT INTO invoices (tenant_id, id, invoice_number, account_id, invoice_date, due_date,
                          status, amount, balance, currency, bill_run_id, posted_at)
    SELECT CAST(:t AS uuid), CAST(:invoice AS uuid),
           'INV' || lpad(n::text, greatest(8, length(n::text)), '0'), CAST(:owner AS uuid),
           CAST(:invoice_date AS date), CAST(:invoice_date AS date), CAST(:status AS text),
           CAST(:amount AS numeric), CAST(:amount AS numeric), CAST(:currency AS text),
           CAST(:run AS uuid), CASE WHEN CAST(:status AS text) = 'POSTED' THEN now() END
    FROM number
    RETURNING id, invoice_number),
lines AS (
    INSERT INTO invoice_lines (tenant_id, id, invoice_id, position, description,
                               subscription_id, item_id, product_id, quantity, unit_price,
                               amount, service_period_start, service_period_end)
    SELECT CAST(:t AS uuid), u.id, inv.id, u.position, u.description, u.subscription_id, u.item_id,
           u.product_id, u.quantity, u.unit_price, u.amount, u.period_start, u.period_end
    FROM inv, unnest(CAST(:line_ids AS uuid[]), CAST(:positions AS integer[]),
                     CAST(:descriptions AS text[]), CAST(:subscriptions AS uuid[]),
                     CAST(:items AS uuid[]), CAST(:products AS uuid[]),
                     CAST(:quantities AS numeric[]), CAST(:unit_prices AS numeric[]),
                     CAST(:amounts AS numeric[]), CAST(:starts AS date[]),
                     CAST(:ends AS date[]))
         AS u(id, position, description, subscription_id, item_id, product_id, quantity,
              unit_price, amount, period_start, period_end)),
ledger AS (
    INSERT INTO billing_ledger (tenant_id, item_id, period_start, revision, amount,
                                invoice_line_id)
    SELECT CAST(:t AS uuid), u.item_id, u.period_start, u.revision, u.amount, u.line_id
    FROM inv, unnest(CAST(:items AS uuid[]), CAST(:period_keys AS date[]),
                     CAST(:revisions AS integer[]), CAST(:amounts AS numeric[]),
                     CAST(:line_ids AS uuid[]))
         AS u(item_id, period_start, revision, amount, line_id))
SELECT invoice_number FROM inv
""")

FLUSH = text(ADVANCE)


def error(code: ErrorCode, message: str) -> dict[str, str]:
    return {"code": code.value, "message": message}


def owner_charges(facts: Facts, owners: Mapping[uuid.UUID, str], *, target: date,
                  custom: CustomPeriods) -> tuple[dict[uuid.UUID, list[Charge]],
                                                  list[dict[str, str]]]:
    """The charges of each of `owners` (id → currency), in invoice order, and the coded
    errors of subscriptions that cannot be billed (their charges are left out)."""
    by_owner: dict[uuid.UUID, list[Charge]] = defaultdict(list)
    errors: list[dict[str, str]] = []
    by_subscription: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for item in facts.items:
        by_subscription[item.subscription_id].append(item)
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


@dataclass(frozen=True)
class Written:
    invoice_number: str
    amount: Decimal


async def write_invoice(writer: Writer, guard: RunGuard, *, owner: uuid.UUID, currency: str,
                        charges: Sequence[Charge], invoice_date: date, post: bool,
                        processed: int, errors: Sequence[dict[str, str]]) -> Written:
    """The owner's invoice with a line and a ledger entry per charge, and the run's
    progress (`processed` owners up to and including this one), in one statement.
    Posting recomputes (or marks stale) the owner's metrics. Raises `Superseded`."""
    amount = total(charges)
    line_ids = [new_id() for _ in charges]
    row = (await writer.conn.execute(WRITE_INVOICE, {
        **guard.params(), "processed": processed, "invoices": 1, "amount": amount,
        "owner": owner, "errors": json.dumps(list(errors)), "invoice": new_id(),
        "invoice_date": invoice_date, "status": "POSTED" if post else "DRAFT",
        "currency": currency, "line_ids": line_ids, "positions": list(range(len(charges))),
        "descriptions": [c.description for c in charges],
        "subscriptions": [c.subscription_id for c in charges],
        "items": [c.item_id for c in charges], "products": [c.product_id for c in charges],
        "quantities": [c.quantity for c in charges],
        "unit_prices": [c.unit_price for c in charges],
        "amounts": [c.amount for c in charges],
        "starts": [c.service_start for c in charges], "ends": [c.service_end for c in charges],
        "period_keys": [c.period_start for c in charges],
        "revisions": [c.revision for c in charges],
    })).first()
    if row is None:
        raise Superseded(f"bill run {guard.run_id} has moved past account {owner}")
    if post:
        await metrics.touched(writer, [owner])
    return Written(row.invoice_number, amount)


async def flush_progress(writer: Writer, guard: RunGuard, *, last_owner: uuid.UUID,
                         processed: int, errors: Sequence[dict[str, str]]) -> None:
    """Record owners that needed no invoice (up to `last_owner`). Raises `Superseded`."""
    result = await writer.conn.execute(FLUSH, {
        **guard.params(), "processed": processed, "invoices": 0, "amount": Decimal(0),
        "owner": last_owner, "errors": json.dumps(list(errors))})
    if result.first() is None:
        raise Superseded(f"bill run {guard.run_id} has moved past account {last_owner}")
