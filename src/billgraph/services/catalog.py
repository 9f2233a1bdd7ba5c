"""The catalog: products, price plans with their charges, billing term schemes (SPEC §4)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.db.tx import Writer
from billgraph.models import new_id

from . import bulk, money
from .accounts import check_number
from .billing import periods, pricing
from .errors import BadUserInput, Conflict, NotFound

CHARGE_TYPES = ("RECURRING", "ONE_TIME", "USAGE")
SCHEME_TYPES = ("NORMAL", "ONE_TIME")


@dataclass
class CreateProduct:
    code: str
    name: str


@dataclass
class ChargeInput:
    product_code: str
    charge_type: str
    price: Decimal
    price_period: str | None = None
    pricing_model: str | None = None  # default PER_UNIT
    tiers: list[pricing.Tier] | None = None
    package_size: int | None = None
    usage_aggregation: str | None = None  # USAGE only, default SUM
    unit_of_measure: str | None = None  # USAGE only


@dataclass
class CreatePricePlan:
    code: str
    name: str
    charges: list[ChargeInput] = field(default_factory=list)
    currency: str | None = None


@dataclass
class CreateScheme:
    code: str
    type: str
    billing_cycle_day: int | None = None
    concurrent_usage_based: bool | None = None


def check_name(name: str, field: str = "name") -> str:
    name = name.strip()
    if not name or len(name) > 255:
        raise BadUserInput(field, "must be 1 to 255 characters")
    return name


async def tenant_settings(conn: AsyncConnection, tenant_id: uuid.UUID) -> RowMapping:
    return (await conn.execute(
        text("SELECT default_currency, custom_periods FROM tenants WHERE id = :t"),
        {"t": tenant_id})).mappings().one()


async def _insert_unique(conn: AsyncConnection, sql: str, params: dict[str, object],
                         what: str, code: str) -> None:
    """An INSERT ... ON CONFLICT DO NOTHING RETURNING id: no row means the code is taken."""
    if (await conn.execute(text(sql), params)).first() is None:
        raise Conflict(f"{what} code {code!r} is already taken", field="code")


async def create_product(writer: Writer, data: CreateProduct) -> RowMapping:
    conn, tenant_id = writer.conn, writer.tenant_id
    code, name = check_number("code", data.code), check_name(data.name)
    product_id = new_id()
    await _insert_unique(
        conn, "INSERT INTO products (tenant_id, id, code, name) VALUES (:t, :id, :code, :name) "
              "ON CONFLICT (tenant_id, code) DO NOTHING RETURNING id",
        {"t": tenant_id, "id": product_id, "code": code, "name": name}, "product", code)
    return await _get(conn, "products", tenant_id, product_id)


async def create_price_plan(writer: Writer, data: CreatePricePlan) -> RowMapping:
    conn, tenant_id = writer.conn, writer.tenant_id
    code, name = check_number("code", data.code), check_name(data.name)
    tenant = await tenant_settings(conn, tenant_id)
    currency = tenant["default_currency"] if data.currency is None else data.currency
    if not money.is_currency(currency):
        raise BadUserInput("currency", f"{currency!r} is not an ISO 4217 currency code")
    if not data.charges:
        raise BadUserInput("charges", "a price plan needs at least one charge")
    custom = periods.custom_periods(tenant["custom_periods"])
    codes = [c.product_code.strip() for c in data.charges]
    products = {row.code: row.id for row in await conn.execute(
        text("SELECT id, code FROM products WHERE tenant_id = :t AND code = ANY(:codes)"),
        {"t": tenant_id, "codes": codes})}
    seen: set[str] = set()
    for i, (charge, product_code) in enumerate(zip(data.charges, codes, strict=True)):
        at = f"charges[{i}]"
        if product_code not in products:
            raise BadUserInput(f"{at}.productCode", f"no product with code {product_code!r}")
        if product_code in seen:
            raise BadUserInput(f"{at}.productCode",
                               f"product {product_code!r} already has a charge in this plan")
        seen.add(product_code)
        if charge.charge_type not in CHARGE_TYPES:
            raise BadUserInput(f"{at}.chargeType", "must be RECURRING, ONE_TIME or USAGE")
        check_charge_pricing(charge, at)
        check_frequency(charge.price_period or "MONTHLY", custom, f"{at}.pricePeriod")
    plan_id = new_id()
    await _insert_unique(
        conn, "INSERT INTO price_plans (tenant_id, id, code, name, currency) "
              "VALUES (:t, :id, :code, :name, :cur) "
              "ON CONFLICT (tenant_id, code) DO NOTHING RETURNING id",
        {"t": tenant_id, "id": plan_id, "code": code, "name": name, "cur": currency},
        "price plan", code)
    await bulk.insert(
        conn, "plan_charges", tenant_id,
        [("id", "uuid"), ("price_plan_id", "uuid"), ("product_id", "uuid"), ("position", "int"),
         ("charge_type", "text"), ("price", "numeric"), ("price_period", "text"),
         ("pricing_model", "text"), ("tiers", "jsonb"), ("package_size", "int"),
         ("usage_aggregation", "text"), ("unit_of_measure", "text")],
        [(new_id(), plan_id, products[product_code], position, c.charge_type, c.price,
          c.price_period or "MONTHLY", c.pricing_model or "PER_UNIT",
          json.dumps(pricing.tiers_to_json(c.tiers or [])), c.package_size,
          (c.usage_aggregation or "SUM") if c.charge_type == "USAGE" else None,
          c.unit_of_measure.strip() if c.unit_of_measure else None)
         for position, (c, product_code) in enumerate(zip(data.charges, codes, strict=True))],
    )
    return await _get(conn, "price_plans", tenant_id, plan_id)


def check_charge_pricing(charge: ChargeInput, at: str) -> None:
    """SPEC §11: the model's parameters, and the usage fields on USAGE charges only."""
    try:
        pricing.check_pricing(pricing.PricingModel(charge.pricing_model or "PER_UNIT"),
                              price=charge.price, tiers=charge.tiers,
                              package_size=charge.package_size)
    except pricing.PricingError as problem:
        raise BadUserInput(f"{at}.{problem.field}", problem.message) from None
    usage = charge.charge_type == "USAGE"
    if charge.usage_aggregation is not None and not usage:
        raise BadUserInput(f"{at}.usageAggregation", "only USAGE charges aggregate usage")
    if charge.unit_of_measure is not None:
        if not usage:
            raise BadUserInput(f"{at}.unitOfMeasure", "only USAGE charges have a unit of measure")
        check_name(charge.unit_of_measure, f"{at}.unitOfMeasure")


def check_frequency(value: str, custom: periods.CustomPeriods, field: str) -> periods.PeriodLength:
    """The length of a billing frequency / price period; CUSTOMn must be defined."""
    try:
        return periods.period_length(value, custom)
    except periods.UndefinedCustomPeriod as error:
        raise BadUserInput(field, str(error)) from None
    except ValueError:
        raise BadUserInput(field, f"{value!r} is not a billing frequency") from None


async def create_scheme(writer: Writer, data: CreateScheme) -> RowMapping:
    conn, tenant_id = writer.conn, writer.tenant_id
    code = check_number("code", data.code)
    if data.type not in SCHEME_TYPES:
        raise BadUserInput("type", "must be NORMAL or ONE_TIME")
    day = 1 if data.billing_cycle_day is None else data.billing_cycle_day
    if not 1 <= day <= 31:
        raise BadUserInput("billingCycleDay", "must be between 1 and 31")
    scheme_id = new_id()
    await _insert_unique(
        conn, "INSERT INTO billing_term_schemes (tenant_id, id, code, type, billing_cycle_day, "
              "concurrent_usage_based) VALUES (:t, :id, :code, :type, :day, :cu) "
              "ON CONFLICT (tenant_id, code) DO NOTHING RETURNING id",
        {"t": tenant_id, "id": scheme_id, "code": code, "type": data.type, "day": day,
         "cu": bool(data.concurrent_usage_based)}, "billing term scheme", code)
    return await _get(conn, "billing_term_schemes", tenant_id, scheme_id)


async def _get(conn: AsyncConnection, table: str, tenant_id: uuid.UUID,
               row_id: uuid.UUID) -> RowMapping:
    return (await conn.execute(text(f"SELECT * FROM {table} WHERE tenant_id = :t AND id = :id"),
                               {"t": tenant_id, "id": row_id})).mappings().one()


async def list_rows(conn: AsyncConnection, tenant_id: uuid.UUID, table: str) -> list[RowMapping]:
    """All products, price plans, schemes, discounts or tax rates of the tenant, by code."""
    assert table in ("products", "price_plans", "billing_term_schemes", "discounts",
                     "tax_rates")
    return list((await conn.execute(
        text(f"SELECT * FROM {table} WHERE tenant_id = :t ORDER BY code"),
        {"t": tenant_id})).mappings())


async def find_price_plan(conn: AsyncConnection, tenant_id: uuid.UUID, *,
                          plan_id: uuid.UUID | None, code: str | None) -> RowMapping:
    """A plan by id or code; both given must name the same plan (BAD_USER_INPUT)."""
    if plan_id is None and code is None:
        raise BadUserInput("id", "give id or code")
    rows = (await conn.execute(
        text("SELECT * FROM price_plans WHERE tenant_id = :t AND (id = :id OR code = :code)"),
        {"t": tenant_id, "id": plan_id, "code": code})).mappings()
    by_id = by_code = None
    for row in rows:
        if row["id"] == plan_id:
            by_id = row
        if row["code"] == code:
            by_code = row
    if plan_id is not None and code is not None and (by_id or by_code) and by_id != by_code:
        raise BadUserInput("code", "id and code name different price plans")
    found = by_id or by_code
    if found is None:
        raise NotFound("price plan", plan_id or repr(code), field="id" if plan_id else "code")
    return found
