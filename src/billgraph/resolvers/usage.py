"""recordUsage: usage records of USAGE items, up to 10,000 per call (SPEC §11)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import strawberry

from billgraph.context import Context, Info
from billgraph.db.tx import Writer
from billgraph.schema.pricing import UsageRecordInput, UsageRecordResult
from billgraph.services import metered_usage


async def record_usage(context: Context, records: Sequence[metered_usage.UsageRecordInput],
                       ) -> list[metered_usage.UsageRecordResult]:
    """The field's work: the records written in one transaction of the caller's tenant.
    Called by the field below and by the hot path that answers the common form of the
    call without graphql-core (billgraph/hot_paths.py)."""

    async def work(writer: Writer) -> list[metered_usage.UsageRecordResult]:
        return await metered_usage.record_usage(writer, records)

    return await context.state.write(context.tenant_id, work)


@strawberry.type
class UsageMutations:
    @strawberry.mutation(description=(
        "Up to 10,000 records per call; each succeeds or fails on its own. A recordId "
        "stored before is reported duplicate and counted once. Recording usage takes no "
        "lock another writer to the account needs and never recomputes metrics."))
    async def record_usage(self, info: Info,
                           records: Annotated[list[UsageRecordInput], strawberry.argument(
                               description="The usage records, up to 10,000.")],
                           ) -> list[UsageRecordResult]:
        # built as the service's records by UsageRecordInput's from_input hook
        data: list[metered_usage.UsageRecordInput] = records  # type: ignore[assignment]
        return [UsageRecordResult.of(r) for r in await record_usage(info.context, data)]
