"""Catalog queries and mutations: products, price plans, billing term schemes, users."""

from __future__ import annotations

import dataclasses
import uuid

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
    load_price_plan,
    load_product,
    load_scheme,
)
from billgraph.schema.common import parse_id
from billgraph.schema.users import User
from billgraph.services import catalog, tenants

from .mutations import create


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
    async def create_product(self, info: Info, input: CreateProductInput,
                             idempotency_key: str | None = None) -> Product:
        data = catalog.CreateProduct(code=input.code, name=input.name)

        async def write(writer: Writer) -> uuid.UUID:
            return uuid.UUID(str((await catalog.create_product(writer, data))["id"]))

        return await create(info, operation="createProduct", key=idempotency_key,
                            payload=lambda: dataclasses.asdict(data), write=write,
                            read=lambda product_id: load_product(info, product_id))

    @strawberry.mutation(description="Create a price plan with its charges.")
    async def create_price_plan(self, info: Info, input: CreatePricePlanInput,
                                idempotency_key: str | None = None) -> PricePlan:
        data = catalog.CreatePricePlan(
            code=input.code, name=input.name, currency=input.currency,
            charges=[catalog.ChargeInput(
                product_code=c.product_code, charge_type=c.charge_type.value, price=c.price,
                price_period=c.price_period.value if c.price_period else None,
                pricing_model=c.pricing_model, package_size=c.package_size,
                tiers=[t.to_tier() for t in c.tiers] if c.tiers is not None else None,
                usage_aggregation=c.usage_aggregation, unit_of_measure=c.unit_of_measure)
                for c in input.charges])

        async def write(writer: Writer) -> uuid.UUID:
            return uuid.UUID(str((await catalog.create_price_plan(writer, data))["id"]))

        return await create(info, operation="createPricePlan", key=idempotency_key,
                            payload=lambda: dataclasses.asdict(data), write=write,
                            read=lambda plan_id: load_price_plan(info, plan_id))

    @strawberry.mutation(description="Create a billing term scheme (code unique per tenant).")
    async def create_billing_term_scheme(self, info: Info, input: CreateBillingTermSchemeInput,
                                         idempotency_key: str | None = None
                                         ) -> BillingTermScheme:
        data = catalog.CreateScheme(code=input.code, type=input.type.value,
                                    billing_cycle_day=input.billing_cycle_day,
                                    concurrent_usage_based=input.concurrent_usage_based)

        async def write(writer: Writer) -> uuid.UUID:
            return uuid.UUID(str((await catalog.create_scheme(writer, data))["id"]))

        return await create(info, operation="createBillingTermScheme", key=idempotency_key,
                            payload=lambda: dataclasses.asdict(data), write=write,
                            read=lambda scheme_id: load_scheme(info, scheme_id))

    @strawberry.mutation(
        description="Create a user of the tenant (for billing terms' performedBy).")
    async def create_user(self, info: Info, username: str,
                          idempotency_key: str | None = None) -> User:
        async def read(user_id: uuid.UUID) -> User:
            return User.from_row(await info.context.loaders.user.one(user_id))

        return await create(info, operation="createUser", key=idempotency_key,
                            payload=lambda: username,
                            write=lambda w: tenants.create_user(w.conn, w.tenant_id, username),
                            read=read)
