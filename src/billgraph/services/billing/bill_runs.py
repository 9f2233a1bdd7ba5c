"""Bill runs (SPEC §6): create one (PENDING, queued as a job), and run it.

A run bills its invoice owners in id order, a batch of them (BATCH) at a time. A
batch's owners are written a write batch at a time (WRITE_OWNERS owners, at most
WRITE_LINES lines), several side by side, each write batch in one short transaction
(`invoicing.write_invoices`): an invoice per owner with what is new since the last
run (`charges.py`), their metrics and events, and the run's counters, in a fixed
number of statements however many owners it holds. A write batch that fails (a
concurrent run took some of its ledger keys, one owner's write fails) keeps nothing,
and its owners are billed one by one, each in its own transaction, exactly as if it
had held one owner. When a batch is done the run's cursor (`last_account_id`) moves
to its last owner. So a crash loses nothing: a resumed run continues after the
cursor and skips the owners it already invoiced; and even a new run bills nothing
twice, because the ledger's key admits each (item, period, revision) once.

Facts are read a batch of owners at a time (`facts.load_facts`, a few set-based
statements), outside the write transactions — the next batch's while this one's
invoices are written: a fact that changes meanwhile is billed (or credited) by the
next run, and a concurrent run billing the same periods makes the write fail on the
ledger key, after which the owner is recomputed from fresh facts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.exc import DBAPIError, IntegrityError, InternalError
from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.db import clock
from billgraph.db.tx import Database, Writer, unique_violation
from billgraph.events import Event, Publish
from billgraph.models import new_id
from billgraph.services import jobs
from billgraph.services.billing import facts as billing_facts
from billgraph.services.billing import invoicing
from billgraph.services.billing.adjusted import Line
from billgraph.services.billing.invoicing import (
    GUARD,
    MAX_ERRORS,
    BatchLines,
    OwnerInvoice,
    OwnerStream,
    RunGuard,
    Superseded,
    advance,
    done_after,
    error,
    owner_lines,
    write_invoices,
    write_stream,
)
from billgraph.services.billing.periods import CustomPeriods
from billgraph.services.errors import (
    BadUserInput,
    BillgraphError,
    ErrorCode,
    LockCompetition,
    NotFound,
)
from billgraph.services.webhooks import outbox

log = logging.getLogger(__name__)

JOB_KIND = "bill_run"
BATCH = 200  # invoice owners whose facts are read together (and the cursor's step)
CONCURRENCY = 4  # write batches billed side by side, each in its own transaction
WRITE_OWNERS = 50  # invoice owners written together in one transaction ...
WRITE_LINES = 2_000  # ... until their lines reach this many
STREAM_ITEMS = invoicing.STREAM_ITEMS  # an owner with more items: its invoice streamed
PUBLISH_SECONDS = 0.25  # billRunProgress events at most this often (and after each batch)
WRITE_TRIES = 5

OwnerHook = Callable[[uuid.UUID], Awaitable[None]]
MAX_YEARS_AHEAD = 10  # billing further in advance only makes huge invoices (found by fuzzing)


def write_batches(invoices: Sequence[OwnerInvoice]) -> list[list[OwnerInvoice]]:
    """`invoices` in order, cut into the write batches of one transaction each: at most
    WRITE_OWNERS owners, and no more lines than WRITE_LINES unless one owner has more."""
    batches: list[list[OwnerInvoice]] = []
    lines = 0
    for invoice in invoices:
        if not batches or len(batches[-1]) >= WRITE_OWNERS or (
                lines + len(invoice.lines) > WRITE_LINES):
            batches.append([])
            lines = 0
        batches[-1].append(invoice)
        lines += len(invoice.lines)
    return batches


def check_target_date(target_date: date) -> date:
    """A target date at most MAX_YEARS_AHEAD years after today."""
    today = datetime.now(UTC).date()
    if target_date.year - today.year > MAX_YEARS_AHEAD or (
            target_date.year - today.year == MAX_YEARS_AHEAD
            and (target_date.month, target_date.day) > (today.month, today.day)):
        raise BadUserInput("targetDate", f"must be at most {MAX_YEARS_AHEAD} years after "
                                         "today: a bill run bills in advance up to its target")
    return target_date


async def accounts_to_bill(conn: AsyncConnection, tenant_id: uuid.UUID,
                           account_ids: Sequence[uuid.UUID] | None) -> list[uuid.UUID] | None:
    """A run's (or a preview's) `accountIds`, checked and sorted; None: every owner."""
    if account_ids is None:
        return None
    if not account_ids:
        raise BadUserInput("accountIds", "must not be empty; omit it to bill every "
                                         "invoice owner")
    found = set((await conn.execute(
        text("SELECT id FROM accounts WHERE tenant_id = :t "
             "AND id = ANY(CAST(:ids AS uuid[]))"),
        {"t": tenant_id, "ids": list(account_ids)})).scalars())
    for i, account_id in enumerate(account_ids):
        if account_id not in found:
            raise NotFound("account", account_id, field=f"accountIds[{i}]")
    return sorted(set(account_ids))


@dataclass
class BillRunInput:
    target_date: date
    invoice_date: date | None = None
    account_ids: list[uuid.UUID] | None = None
    auto_post: bool | None = None


async def create_bill_run(writer: Writer, data: BillRunInput) -> uuid.UUID:
    """A PENDING bill run and its job; the accounts must exist in the tenant."""
    conn, tenant_id = writer.conn, writer.tenant_id
    check_target_date(data.target_date)
    account_ids = await accounts_to_bill(conn, tenant_id, data.account_ids)
    run_id = new_id()
    await conn.execute(
        text("INSERT INTO bill_runs (tenant_id, id, status, target_date, invoice_date, "
             "account_ids, auto_post, accounts_total, accounts_processed, invoices_created, "
             "total_amount, errors) VALUES (:t, :id, 'PENDING', :target, :invoice_date, "
             ":accounts, :post, 0, 0, 0, 0, '[]')"),
        {"t": tenant_id, "id": run_id, "target": data.target_date,
         "invoice_date": data.invoice_date or data.target_date, "accounts": account_ids,
         "post": data.auto_post is not False})
    await jobs.enqueue(writer, JOB_KIND, {}, bill_run_id=run_id)
    return run_id


async def get_bill_run(conn: AsyncConnection, tenant_id: uuid.UUID, run_id: uuid.UUID, *,
                       field: str = "id") -> RowMapping:
    row = (await conn.execute(text("SELECT * FROM bill_runs WHERE tenant_id = :t AND id = :id"),
                              {"t": tenant_id, "id": run_id})).mappings().first()
    if row is None:
        raise NotFound("bill run", run_id, field=field)
    return row


class _Run:
    """One worker's pass over a bill run: batches of owners in id order, the owners of a
    batch billed side by side (CONCURRENCY transactions at a time)."""

    def __init__(self, db: Database, emit: Publish, run: RowMapping, guard: RunGuard,
                 custom: CustomPeriods, done: set[uuid.UUID],
                 after_owner: OwnerHook | None) -> None:
        self.db, self.emit, self.run, self.guard, self.custom = db, emit, run, guard, custom
        self.tenant_id = guard.tenant_id
        self.done = done  # owners after the cursor already invoiced by this run
        self.after_owner = after_owner
        self.errors: list[dict[str, str]] = []
        self.seen: set[str] = set()
        self.published_at = 0.0

    def add_errors(self, errors: Sequence[dict[str, str]]) -> None:
        for e in errors:
            if e["message"] not in self.seen and len(self.seen) < MAX_ERRORS:
                self.seen.add(e["message"])
                self.errors.append(e)

    def take_errors(self) -> list[dict[str, str]]:
        errors, self.errors = self.errors, []
        return errors

    async def publish(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.published_at >= PUBLISH_SECONDS:
            self.published_at = now
            await self.emit(Event("bill_run", self.tenant_id, self.guard.run_id))

    async def read_lines(self, owners: Sequence[tuple[uuid.UUID, str]], *,
                         stream: bool = True) -> BatchLines:
        if not owners:
            return BatchLines({}, [], [])
        return await owner_lines(self.db, self.tenant_id, owners,
                                 target=self.run["target_date"], custom=self.custom,
                                 stream_items=STREAM_ITEMS if stream else None)

    async def charges_of(self, owners: Sequence[tuple[uuid.UUID, str]]
                         ) -> dict[uuid.UUID, list[Line]]:
        batch = await self.read_lines(owners, stream=False)
        self.add_errors(batch.errors)
        return batch.lines

    async def bill(self, owners: Sequence[tuple[uuid.UUID, str]]) -> None:
        """The batches in order; the next batch's facts are read (and its lines computed)
        while this one's invoices are written."""
        batches = [owners[start:start + BATCH] for start in range(0, len(owners), BATCH)]
        todo = [[(o, c) for o, c in batch if o not in self.done] for batch in batches]
        ahead: asyncio.Task[BatchLines] | None
        ahead = asyncio.create_task(self.read_lines(todo[0])) if batches else None
        try:
            for n, batch in enumerate(batches):
                assert ahead is not None
                lines = await ahead
                ahead = (asyncio.create_task(self.read_lines(todo[n + 1]))
                         if n + 1 < len(batches) else None)
                self.add_errors(lines.errors)
                without_invoice = await self.bill_batch(todo[n], lines)
                await self.advance(batch[-1][0], without_invoice)
        finally:
            if ahead is not None:  # a batch failed: the read ahead is not needed
                ahead.cancel()
                await asyncio.wait([ahead])
                if not ahead.cancelled():
                    ahead.exception()  # retrieved: the batch's own failure is the one raised

    async def bill_batch(self, batch: Sequence[tuple[uuid.UUID, str]],
                         lines: BatchLines) -> int:
        """Bill a batch's owners (`lines`: their lines, or streams), the streamed owners
        each in its own transaction and the others a write batch at a time (several side
        by side); how many needed no invoice."""
        by_owner = lines.lines
        billable = [OwnerInvoice(o, c, by_owner[o]) for o, c in batch if by_owner.get(o)]
        queue: deque[OwnerStream | list[OwnerInvoice]] = deque(
            [*lines.streams, *write_batches(billable)])
        without_invoice = len(batch) - len(billable) - len(lines.streams)

        async def work_through() -> None:
            nonlocal without_invoice
            while queue:
                work = queue.popleft()
                missed = await (self.bill_stream(work) if isinstance(work, OwnerStream)
                                else self.bill_together(work))
                without_invoice += missed  # (not `+= await`: it would read before it waits)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(CONCURRENCY, len(queue))):
                    group.create_task(work_through())
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None  # the others were cancelled
        return without_invoice

    async def bill_stream(self, stream: OwnerStream) -> int:
        """Bill a streamed owner in its own transaction (`write_stream`); when a
        concurrent run took some of its ledger keys, recompute it from fresh facts and
        bill it as `bill_owner` does. How many got no invoice (0 or 1)."""
        def chunks() -> Iterator[list[Line]]:
            for chunk, errors in stream.chunks():
                self.add_errors(errors)
                yield chunk

        async def work(writer: Writer) -> Decimal | None:
            return await write_stream(writer, self.guard, stream.owner, stream.currency,
                                      chunks(), invoice_date=self.run["invoice_date"],
                                      post=self.run["auto_post"])

        try:
            billed = await self.db.write(self.tenant_id, work) is not None
            await self.publish()
        except (IntegrityError, InternalError) as failure:
            if not unique_violation(failure):
                raise
            log.info("bill run %s: recomputing account %s after %s", self.guard.run_id,
                     stream.owner, failure.orig)
            lines = (await self.charges_of([(stream.owner, stream.currency)])).get(
                stream.owner, [])
            billed = await self.bill_owner(OwnerInvoice(stream.owner, stream.currency, lines))
        await self.owner_done(stream.owner)
        return 0 if billed else 1

    async def bill_together(self, invoices: Sequence[OwnerInvoice]) -> int:
        """Bill `invoices` in one transaction; when it fails (a concurrent run took some
        of their ledger keys, one owner's write fails) nothing of it is kept, and each
        owner is billed in its own transaction instead, as if it had been alone. How many
        of the owners got no invoice."""
        if len(invoices) > 1:
            try:
                await self.write(invoices)
            except (DBAPIError, Superseded, LockCompetition) as failure:
                log.info("bill run %s: the invoices of %d accounts failed together (%s); "
                         "billing them one by one", self.guard.run_id, len(invoices),
                         failure)
            else:
                for invoice in invoices:
                    await self.owner_done(invoice.owner)
                return 0
        without_invoice = 0
        for invoice in invoices:
            if not await self.bill_owner(invoice):
                without_invoice += 1
            await self.owner_done(invoice.owner)
        return without_invoice

    async def bill_owner(self, invoice: OwnerInvoice) -> bool:
        """Bill one owner in its own transaction; False when nothing (new) was billed."""
        owner, currency, lines = invoice.owner, invoice.currency, invoice.lines
        for attempt in range(WRITE_TRIES):
            if not lines:
                return False
            try:
                await self.write([OwnerInvoice(owner, currency, lines)])
                return True
            except (IntegrityError, InternalError) as failure:
                if not unique_violation(failure) or attempt == WRITE_TRIES - 1:
                    raise
                # Another run billed some of these periods meanwhile (or took the number):
                # recompute this owner from what is billed now.
                log.info("bill run %s: recomputing account %s after %s", self.guard.run_id,
                         owner, failure.orig)
                lines = (await self.charges_of([(owner, currency)])).get(owner, [])
        return False

    async def owner_done(self, owner: uuid.UUID) -> None:
        if self.after_owner is not None:
            await self.after_owner(owner)

    async def write(self, invoices: Sequence[OwnerInvoice]) -> None:
        async def work(writer: Writer) -> None:
            await write_invoices(writer, self.guard, invoices,
                                 invoice_date=self.run["invoice_date"],
                                 post=self.run["auto_post"])

        await self.db.write(self.tenant_id, work)
        await self.publish()

    async def advance(self, last_owner: uuid.UUID, processed: int) -> None:
        errors = self.take_errors()

        async def work(writer: Writer) -> None:
            await advance(writer, self.guard, last_owner=last_owner, processed=processed,
                          errors=errors)

        await self.db.write(self.tenant_id, work)
        await self.publish(force=True)

    async def finish(self) -> None:
        """Mark the run COMPLETED (and its job SUCCEEDED)."""
        errors = self.take_errors()

        async def work(writer: Writer) -> None:
            done = (await writer.conn.execute(
                text(f"UPDATE bill_runs SET status = 'COMPLETED', finished_at = "
                     "CAST(:now AS timestamptz), errors = errors || CAST(:errors AS jsonb) "
                     f"WHERE {GUARD} RETURNING id"),
                {**self.guard.params(), "errors": _json(errors), "now": clock.now()})).first()
            if done is None:
                raise Superseded(f"bill run {self.guard.run_id} is no longer running")
            await outbox.record(writer, "BILL_RUN_COMPLETED", [self.guard.run_id])
            if self.guard.job is not None:
                await jobs.finish(writer.conn, self.guard.job, "SUCCEEDED")

        await self.db.write(self.tenant_id, work)
        await self.publish(force=True)


def _json(value: Any) -> str:
    return json.dumps(value, default=str)


async def _start(db: Database, tenant_id: uuid.UUID, run_id: uuid.UUID) -> RowMapping | None:
    """PENDING (or RUNNING, when resumed) → RUNNING; None once it has finished."""
    async def work(writer: Writer) -> RowMapping | None:
        return (await writer.conn.execute(
            text("UPDATE bill_runs SET status = 'RUNNING', started_at = coalesce(started_at, "
                 "CAST(:now AS timestamptz)) WHERE tenant_id = :t AND id = :id "
                 "AND status IN ('PENDING', 'RUNNING') RETURNING *"),
            {"t": tenant_id, "id": run_id, "now": clock.now()})).mappings().first()

    return await db.write(tenant_id, work)


async def _set_total(db: Database, guard: RunGuard, total: int) -> None:
    async def work(writer: Writer) -> None:
        await writer.conn.execute(
            text(f"UPDATE bill_runs SET accounts_total = :total WHERE {GUARD}"),
            {**guard.params(), "total": total})

    await db.write(guard.tenant_id, work)


async def _fail(db: Database, publish: Publish, guard: RunGuard,
                errors: list[dict[str, Any]], *, where: str = GUARD) -> None:
    """Mark the run FAILED with coded errors (the job runner fails the job)."""
    async def work(writer: Writer) -> None:
        failed = (await writer.conn.execute(
            text(f"UPDATE bill_runs SET status = 'FAILED', finished_at = "
                 "CAST(:now AS timestamptz), errors = errors || CAST(:errors AS jsonb) "
                 f"WHERE {where} RETURNING id"),
            {**guard.params(), "errors": _json(errors), "now": clock.now()})).scalars().all()
        await outbox.record(writer, "BILL_RUN_FAILED", failed)

    await db.write(guard.tenant_id, work)
    await publish(Event("bill_run", guard.tenant_id, guard.run_id))


# GUARD for a run its job may have died before starting (still PENDING)
UNFINISHED_GUARD = GUARD.replace("status = 'RUNNING'", "status IN ('PENDING', 'RUNNING')", 1)
assert UNFINISHED_GUARD != GUARD


async def give_up(db: Database, publish: Publish, job: RowMapping,
                  errors: list[dict[str, Any]]) -> None:
    """The run's job is not tried again: the run (not yet finished) is FAILED with `errors`.

    Invoices it committed stay; a new bill run bills what this one did not.
    """
    await _fail(db, publish, RunGuard(job["tenant_id"], job["bill_run_id"], job), errors,
                where=UNFINISHED_GUARD)


async def run_bill_run(db: Database, publish: Publish, tenant_id: uuid.UUID,
                       run_id: uuid.UUID, *,
                       job: RowMapping | None = None,
                       after_owner: OwnerHook | None = None) -> None:
    """Bill the run's invoice owners after the last one it committed, then complete it.

    `job`: the claimed job running it — only that claim may advance the run.
    `after_owner` is awaited after each owner (progress reporting, tests).
    Raises `Superseded` when another worker has taken the run over.
    """
    run = await _start(db, tenant_id, run_id)
    if run is None:
        return
    guard = RunGuard(tenant_id, run_id, job)
    await publish(Event("bill_run", tenant_id, run_id))
    try:
        async with db.read() as conn:
            custom = await billing_facts.load_custom_periods(conn, tenant_id)
            owners = await billing_facts.invoice_owners(
                conn, tenant_id, only=run["account_ids"], after=run["last_account_id"])
            done = await done_after(conn, guard, run["last_account_id"])
        await _set_total(db, guard, run["accounts_processed"] + len(owners)
                         - len(done & {o for o, _ in owners}))
        worker = _Run(db, publish, run, guard, custom, done, after_owner)
        await worker.bill(owners)
        await worker.finish()
    except (Superseded, jobs.LostClaim):
        raise
    except BillgraphError as failure:
        await _fail(db, publish, guard, [error(failure.code, failure.message)])
        raise
    except Exception:
        log.exception("bill run %s failed", run_id)
        await _fail(db, publish, guard, [error(ErrorCode.INTERNAL,
                                         f"internal error; bill run id {run_id}")])
        raise
