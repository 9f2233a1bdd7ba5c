"""Account hierarchy mutations: refreshHierarchyMetrics."""

from __future__ import annotations

import strawberry

from billgraph.context import Info
from billgraph.db.tx import Writer
from billgraph.schema.common import parse_id
from billgraph.schema.hierarchy import HierarchyMetrics
from billgraph.services import rollups


@strawberry.type
class HierarchyMutations:
    @strawberry.mutation(description=(
        "Recompute now the roll-ups of the whole hierarchy this account belongs to; "
        "returns this account's."))
    async def refresh_hierarchy_metrics(self, info: Info,
                                        account_id: strawberry.ID) -> list[HierarchyMetrics]:
        uid = parse_id(account_id, "account", "accountId")

        async def work(writer: Writer) -> None:
            await rollups.refresh_hierarchy(writer, uid)

        await info.context.state.write(info.context.tenant_id, work)
        rows = await info.context.loaders.hierarchy_metrics.load(uid)
        return [HierarchyMetrics.from_row(row) for row in rows]
