"""Bill run queries and mutations, and concurrent usage reports."""

from __future__ import annotations

import datetime as dt
import uuid

import strawberry

from billgraph.context import Info
from billgraph.db.tx import Writer
from billgraph.schema.billing import BillRun, BillRunInput
from billgraph.schema.common import parse_id
from billgraph.services.billing import bill_runs, usage
from billgraph.services.idempotency import Result

from .mutations import create, create_result


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
            target_date=input.target_date, invoice_date=input.invoice_date,
            account_ids=None if input.account_ids is None else [
                parse_id(a, "account", f"accountIds[{i}]")
                for i, a in enumerate(input.account_ids)],
            auto_post=input.auto_post)

        return await create(info, operation="billRun", key=idempotency_key,
                            payload=lambda: [data.target_date, data.invoice_date,
                                             data.account_ids, data.auto_post],
                            write=lambda w: bill_runs.create_bill_run(w, data),
                            after_commit=lambda run_id: info.context.state.events.job_queued(
                                info.context.tenant_id, run_id),
                            read=lambda run_id: fetch_bill_run(info, run_id))

    @strawberry.mutation(description=(
        "Report the concurrent usage of a day, for BASED_ON_ACTUAL_CAPACITY pricing: a "
        "period bills the highest usage reported for it, capped at concurrentUsage."))
    async def report_concurrent_usage(self, info: Info, subscription_number: str,
                                      usage_date: dt.date, concurrent_usage: int,
                                      idempotency_key: str | None = None) -> bool:
        async def write(writer: Writer) -> Result:
            await usage.report_concurrent_usage(writer, subscription_number, usage_date,
                                                concurrent_usage)
            return {"ok": True}

        async def reported(result: Result) -> bool:
            return True

        return await create_result(info, operation="reportConcurrentUsage", key=idempotency_key,
                                   payload=lambda: [subscription_number, usage_date,
                                                    concurrent_usage],
                                   write=write, read=reported)
