"""Catalog queries and mutations: products, price plans, billing term schemes, users."""

from __future__ import annotations

import strawberry

from billgraph.context import Info
from billgraph.db.tx import Writer
from billgraph.schema.catalog import (
    BillingTermScheme,
    CreateBillingTermSchemeInput,
    CreatePricePlanInput,
    CreateProductInput,
    PricePlan,
    Product,
)
from billgraph.schema.common import parse_id
from billgraph.schema.users import User
from billgraph.services import catalog, tenants


@strawberry.type
class CatalogQueries:
    @strawberry.field(description="The tenant's products, by code.")
    async def products(self, info: Info) -> list[Product]:
        async with info.context.state.read() as conn:
            rows = await catalog.list_rows(conn, info.context.tenant_id, "products")
        return [Product.from_row(r) for r in rows]

    @strawberry.field(description=(
        "One price plan, by id or code; when both are given they must name the same plan."))
    async def price_plan(self, info: Info, id: strawberry.ID | None = None,
                         code: str | None = None) -> PricePlan | None:
        plan_id = parse_id(id, "price plan") if id is not None else None
        async with info.context.state.read() as conn:
            row = await catalog.find_price_plan(conn, info.context.tenant_id, plan_id=plan_id,
                                                code=code)
        return PricePlan.from_row(row)

    @strawberry.field(description="The tenant's price plans, by code.")
    async def price_plans(self, info: Info) -> list[PricePlan]:
        async with info.context.state.read() as conn:
            rows = await catalog.list_rows(conn, info.context.tenant_id, "price_plans")
        return [PricePlan.from_row(r) for r in rows]

    @strawberry.field(description="The tenant's billing term schemes (DEFAULT always exists).")
    async def billing_term_schemes(self, info: Info) -> list[BillingTermScheme]:
        async with info.context.state.read() as conn:
            rows = await catalog.list_rows(conn, info.context.tenant_id, "billing_term_schemes")
        return [BillingTermScheme.from_row(r) for r in rows]



@strawberry.type
class CatalogMutations:
    @strawberry.mutation(description="Create a product (code unique per tenant).")
    async def create_product(self, info: Info, input: CreateProductInput) -> Product:
        data = catalog.CreateProduct(code=input.code, name=input.name)

        async def work(writer: Writer) -> Product:
            return Product.from_row(await catalog.create_product(writer, data))

        return await info.context.state.write(info.context.tenant_id, work)

    @strawberry.mutation(description="Create a price plan with its charges.")
    async def create_price_plan(self, info: Info, input: CreatePricePlanInput) -> PricePlan:
        data = catalog.CreatePricePlan(
            code=input.code, name=input.name, currency=input.currency,
            charges=[catalog.ChargeInput(
                product_code=c.product_code, charge_type=c.charge_type.value, price=c.price,
                price_period=c.price_period.value if c.price_period else None)
                for c in input.charges])

        async def work(writer: Writer) -> PricePlan:
            return PricePlan.from_row(await catalog.create_price_plan(writer, data))

        return await info.context.state.write(info.context.tenant_id, work)

    @strawberry.mutation(description="Create a billing term scheme (code unique per tenant).")
    async def create_billing_term_scheme(self, info: Info,
                                         input: CreateBillingTermSchemeInput) -> BillingTermScheme:
        data = catalog.CreateScheme(code=input.code, type=input.type.value,
                                    billing_cycle_day=input.billing_cycle_day,
                                    concurrent_usage_based=input.concurrent_usage_based)

        async def work(writer: Writer) -> BillingTermScheme:
            return BillingTermScheme.from_row(await catalog.create_scheme(writer, data))

        return await info.context.state.write(info.context.tenant_id, work)

    @strawberry.mutation(
        description="Create a user of the tenant (for billing terms' performedBy).")
    async def create_user(self, info: Info, username: str) -> User:
        async def work(writer: Writer) -> User:
            user_id = await tenants.create_user(writer.conn, writer.tenant_id, username)
            return User(id=strawberry.ID(str(user_id)), username=username.strip())

        return await info.context.state.write(info.context.tenant_id, work)
