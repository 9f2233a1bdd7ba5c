"""The viewer (the key's tenant) and its settings."""

from __future__ import annotations

import strawberry

from billgraph.context import Info
from billgraph.db.tx import Writer
from billgraph.schema.tenants import Tenant, TenantSettingsInput
from billgraph.services import tenants


@strawberry.type
class TenantQueries:
    @strawberry.field(description="The tenant of the API key.")
    async def viewer(self, info: Info) -> Tenant:
        async with info.context.state.read() as conn:
            return Tenant.from_row(await tenants.get_tenant(conn, info.context.tenant_id))


@strawberry.type
class TenantMutations:
    @strawberry.mutation(description="Change the tenant's settings.")
    async def update_tenant_settings(self, info: Info, input: TenantSettingsInput) -> Tenant:
        data = tenants.SettingsInput(
            metrics_refresh_interval_seconds=input.metrics_refresh_interval_seconds,
            default_currency=input.default_currency,
            custom_periods=None if input.custom_periods is None else [
                {"name": p.name, "unit": p.unit, "count": p.count} for p in input.custom_periods],
        )

        async def work(writer: Writer) -> Tenant:
            return Tenant.from_row(
                await tenants.update_settings(writer.conn, writer.tenant_id, data))

        return await info.context.state.write(info.context.tenant_id, work)
