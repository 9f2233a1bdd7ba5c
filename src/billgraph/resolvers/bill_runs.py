"""Bill run queries and mutations, and concurrent usage reports."""

from __future__ import annotations

import datetime as dt
import uuid

import strawberry

from billgraph.context import Info
from billgraph.db.tx import Writer
from billgraph.schema.billing import BillRun
from billgraph.schema.common import parse_id
from billgraph.services.billing import bill_runs, usage
from billgraph.services.errors import BadUserInput
from billgraph.services.idempotency import idempotent


@strawberry.input(description="What a bill run bills.")
class BillRunInput:
    target_date: dt.date = strawberry.field(
        description="Service periods starting on or before this date are billed (in advance).")
    invoice_date: dt.date | None = strawberry.field(
        default=None, description="The invoices' date; default targetDate.")
    account_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Bill only these accounts; default every invoice owner.")
    auto_post: bool | None = strawberry.field(
        default=None, description="Post the invoices (default true); false leaves DRAFTs.")


MAX_YEARS_AHEAD = 10  # billing further in advance only makes huge invoices (found by fuzzing)


def check_target_date(target_date: dt.date) -> dt.date:
    today = dt.datetime.now(dt.UTC).date()
    if target_date.year - today.year > MAX_YEARS_AHEAD or (
            target_date.year - today.year == MAX_YEARS_AHEAD
            and (target_date.month, target_date.day) > (today.month, today.day)):
        raise BadUserInput("targetDate", f"must be at most {MAX_YEARS_AHEAD} years after "
                                         "today: a bill run bills in advance up to its target")
    return target_date


async def fetch_bill_run(info: Info, run_id: uuid.UUID) -> BillRun:
    async with info.context.state.read() as conn:
        return BillRun.from_row(await bill_runs.get_bill_run(conn, info.context.tenant_id,
                                                             run_id))


@strawberry.type
class BillRunQueries:
    @strawberry.field(description="A bill run: its status and progress.")
    async def bill_run(self, info: Info, id: strawberry.ID) -> BillRun | None:
        return await fetch_bill_run(info, parse_id(id, "bill run"))


@strawberry.type
class BillRunMutations:
    @strawberry.mutation(description=(
        "Start a bill run in the background; it is returned at once (PENDING). Follow it "
        "with billRun(id) or the billRunProgress subscription."))
    async def bill_run(self, info: Info, input: BillRunInput,
                       idempotency_key: str | None = None) -> BillRun:
        data = bill_runs.BillRunInput(
            target_date=check_target_date(input.target_date), invoice_date=input.invoice_date,
            account_ids=None if input.account_ids is None else [
                parse_id(a, "account", f"accountIds[{i}]")
                for i, a in enumerate(input.account_ids)],
            auto_post=input.auto_post)

        async def work(writer: Writer) -> dict[str, str]:
            async def create() -> dict[str, str]:
                return {"id": str(await bill_runs.create_bill_run(writer, data))}

            return await idempotent(writer, idempotency_key, "billRun", [
                data.target_date, data.invoice_date, data.account_ids, data.auto_post], create)

        result = await info.context.state.write(info.context.tenant_id, work)
        await info.context.state.events.job_queued(info.context.tenant_id,
                                                   uuid.UUID(result["id"]))
        return await fetch_bill_run(info, uuid.UUID(result["id"]))

    @strawberry.mutation(description=(
        "Report the concurrent usage of a day, for BASED_ON_ACTUAL_CAPACITY pricing: a "
        "period bills the highest usage reported for it, capped at concurrentUsage."))
    async def report_concurrent_usage(self, info: Info, subscription_number: str,
                                      usage_date: dt.date, concurrent_usage: int,
                                      idempotency_key: str | None = None) -> bool:
        async def work(writer: Writer) -> dict[str, bool]:
            async def report() -> dict[str, bool]:
                await usage.report_concurrent_usage(writer, subscription_number, usage_date,
                                                    concurrent_usage)
                return {"ok": True}

            return await idempotent(writer, idempotency_key, "reportConcurrentUsage", [
                subscription_number, usage_date, concurrent_usage], report)

        await info.context.state.write(info.context.tenant_id, work)
        return True
