"""Discounts, their attachment to subscriptions, tax rates, and the tax profile
(billing address, exemption) of accounts (SPEC §12). The math is in billing/adjustments.py."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import RowMapping, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.db.tx import Writer
from billgraph.models import new_id
from billgraph.services.billing import adjustments as adj
from billgraph.services.billing.periods import UndefinedCustomPeriod, custom_periods

from . import money
from .errors import BadUserInput, Conflict, NotFound

COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass
class CreateDiscount:
    code: str
    name: str
    type: str
    percentage: Decimal | None = None
    amount: Decimal | None = None
    currency: str | None = None
    duration_periods: int | None = None
    product_codes: list[str] | None = None


@dataclass
class CreateTaxRate:
    code: str
    name: str
    percentage: Decimal
    country: str
    region: str | None = None
    product_codes: list[str] | None = None


@dataclass
class BillingAddress:
    country: str
    region: str | None = None
    city: str | None = None
    postal_code: str | None = None
    line1: str | None = None


@dataclass
class TaxProfile:
    billing_address: BillingAddress | None = None
    tax_exempt: bool | None = None


def _text(field_name: str, value: str, limit: int = 255) -> str:
    value = value.strip()
    if not value or len(value) > limit:
        raise BadUserInput(field_name, f"must be 1 to {limit} characters")
    return value


async def _check_products(conn: AsyncConnection, tenant_id: uuid.UUID, codes: list[str],
                          field_name: str) -> list[str]:
    found = set((await conn.execute(
        text("SELECT code FROM products WHERE tenant_id = :t AND code = ANY(:codes)"),
        {"t": tenant_id, "codes": codes})).scalars())
    for i, code in enumerate(codes):
        if code not in found:
            raise NotFound("product", code, field=f"{field_name}[{i}]")
    return sorted(set(codes))


async def _insert_coded(conn: AsyncConnection, table: str, what: str,
                        values: dict[str, object]) -> uuid.UUID:
    """Insert a row whose code is unique per tenant (CONFLICT naming `code`); its id."""
    row_id = new_id()
    values = {**values, "id": row_id}
    columns = ", ".join(values)
    try:
        async with conn.begin_nested():
            await conn.execute(text(f"INSERT INTO {table} ({columns}) VALUES "
                                    f"({', '.join(':' + c for c in values)})"), values)
    except IntegrityError:
        raise Conflict(f"{what} code {values['code']!r} is already taken",
                       field="code") from None
    return row_id


async def create_discount(writer: Writer, data: CreateDiscount) -> RowMapping:
    conn, tenant_id = writer.conn, writer.tenant_id
    code, name = _text("code", data.code, 100), _text("name", data.name)
    percentage = amount = currency = None
    if data.type == adj.DiscountType.PERCENTAGE:
        if data.percentage is None or not 0 < data.percentage <= 100:
            raise BadUserInput("percentage", "a PERCENTAGE discount needs 0 < percentage ≤ 100")
        for name_, value in (("amount", data.amount), ("currency", data.currency)):
            if value is not None:
                raise BadUserInput(name_, "only a FIXED_AMOUNT discount takes it")
        percentage = data.percentage
    else:
        if data.percentage is not None:
            raise BadUserInput("percentage", "only a PERCENTAGE discount takes it")
        if data.currency is None or not money.is_currency(data.currency):
            raise BadUserInput("currency", "a FIXED_AMOUNT discount needs an ISO 4217 currency")
        currency = data.currency
        if data.amount is None or data.amount <= 0:
            raise BadUserInput("amount", "a FIXED_AMOUNT discount needs an amount > 0")
        if data.amount != money.round_money(data.amount, currency):
            raise BadUserInput("amount", f"has more decimals than {currency} has minor units")
        amount = data.amount
    if data.duration_periods is not None and data.duration_periods < 1:
        raise BadUserInput("durationPeriods", "must be at least 1 (omit it: open-ended)")
    codes = await _check_products(conn, tenant_id, data.product_codes or [], "productCodes")
    discount_id = await _insert_coded(conn, "discounts", "discount", {
        "tenant_id": tenant_id, "code": code, "name": name, "type": str(data.type),
        "percentage": percentage, "amount": amount, "currency": currency,
        "duration_periods": data.duration_periods, "product_codes": codes})
    return await get_row(conn, tenant_id, "discounts", discount_id, "discount")


async def get_row(conn: AsyncConnection, tenant_id: uuid.UUID, table: str, row_id: uuid.UUID,
                  what: str, field_name: str = "id") -> RowMapping:
    row = (await conn.execute(text(f"SELECT * FROM {table} WHERE tenant_id = :t AND id = :id"),
                              {"t": tenant_id, "id": row_id})).mappings().first()
    if row is None:
        raise NotFound(what, row_id, field=field_name)
    return row


async def apply_discount(writer: Writer, *, subscription_number: str, discount_code: str,
                         start_date: date | None) -> RowMapping:
    """Attach a discount from `start_date` (default: the subscription's start); its end
    is the last day of its durationPeriods-th billing period (the first may be partial)."""
    conn, tenant_id = writer.conn, writer.tenant_id
    sub = (await conn.execute(text(
        "SELECT s.id, s.start_date, s.billing_cycle_day, s.billing_frequency, sch.type, "
        "pp.currency, t.custom_periods FROM subscriptions s "
        "JOIN billing_term_schemes sch ON sch.tenant_id = s.tenant_id AND sch.id = s.scheme_id "
        "JOIN price_plans pp ON pp.tenant_id = s.tenant_id AND pp.id = s.price_plan_id "
        "JOIN tenants t ON t.id = s.tenant_id "
        "WHERE s.tenant_id = :t AND s.subscription_number = :n"),
        {"t": tenant_id, "n": subscription_number})).first()
    if sub is None:
        raise NotFound("subscription", subscription_number, field="subscriptionNumber")
    discount = (await conn.execute(text(
        "SELECT * FROM discounts WHERE tenant_id = :t AND code = :c"),
        {"t": tenant_id, "c": discount_code})).mappings().first()
    if discount is None:
        raise NotFound("discount", discount_code, field="discountCode")
    if discount["type"] == adj.DiscountType.FIXED_AMOUNT and discount["currency"] != sub.currency:
        raise BadUserInput("discountCode", f"discount {discount_code!r} is in "
                           f"{discount['currency']}, the subscription in {sub.currency}")
    start = start_date or sub.start_date
    if start < sub.start_date:
        raise BadUserInput("startDate", f"is before the subscription's start {sub.start_date}")
    frequency = None if sub.type == "ONE_TIME" else sub.billing_frequency
    try:
        end = adj.discount_end(start, discount["duration_periods"], frequency=frequency,
                               cycle_day=sub.billing_cycle_day, anchor=sub.start_date,
                               custom=custom_periods(sub.custom_periods))
    except UndefinedCustomPeriod as error:
        raise BadUserInput("subscriptionNumber", str(error)) from None
    row_id = new_id()
    await conn.execute(text(
        "INSERT INTO subscription_discounts (tenant_id, id, subscription_id, discount_id, "
        "start_date, end_date) VALUES (:t, :id, :sub, :d, :start, :end)"),
        {"t": tenant_id, "id": row_id, "sub": sub.id, "d": discount["id"], "start": start,
         "end": end})
    return await get_row(conn, tenant_id, "subscription_discounts", row_id,
                         "subscription discount")


async def remove_discount(writer: Writer, *, subscription_discount_id: uuid.UUID,
                          end_date: date) -> RowMapping:
    """End an attached discount on `end_date` (inclusive); never later than it ended."""
    conn, tenant_id = writer.conn, writer.tenant_id
    row = (await conn.execute(text(
        "SELECT * FROM subscription_discounts WHERE tenant_id = :t AND id = :id FOR UPDATE"),
        {"t": tenant_id, "id": subscription_discount_id})).mappings().first()
    if row is None:
        raise NotFound("subscription discount", subscription_discount_id,
                       field="subscriptionDiscountId")
    if end_date < row["start_date"]:
        raise BadUserInput("endDate", f"is before the discount's start {row['start_date']}")
    end = end_date if row["end_date"] is None else min(end_date, row["end_date"])
    await conn.execute(text("UPDATE subscription_discounts SET end_date = :end "
                            "WHERE tenant_id = :t AND id = :id"),
                       {"t": tenant_id, "id": subscription_discount_id, "end": end})
    return await get_row(conn, tenant_id, "subscription_discounts", subscription_discount_id,
                         "subscription discount")


def _country(field_name: str, value: str) -> str:
    if not COUNTRY.match(value):
        raise BadUserInput(field_name, f"{value!r} is not an ISO 3166-1 alpha-2 code (e.g. DE)")
    return value


async def create_tax_rate(writer: Writer, data: CreateTaxRate) -> RowMapping:
    conn, tenant_id = writer.conn, writer.tenant_id
    code, name = _text("code", data.code, 100), _text("name", data.name)
    if not 0 <= data.percentage <= 100:
        raise BadUserInput("percentage", "must be between 0 and 100")
    country = _country("country", data.country)
    region = _text("region", data.region, 100) if data.region is not None else None
    codes = await _check_products(conn, tenant_id, data.product_codes or [], "productCodes")
    rate_id = await _insert_coded(conn, "tax_rates", "tax rate", {
        "tenant_id": tenant_id, "code": code, "name": name, "percentage": data.percentage,
        "country": country, "region": region, "product_codes": codes, "active": True})
    return await get_row(conn, tenant_id, "tax_rates", rate_id, "tax rate")


async def deactivate_tax_rate(writer: Writer, rate_id: uuid.UUID) -> RowMapping:
    """No longer taxes periods not yet invoiced; posted invoices keep their tax."""
    conn, tenant_id = writer.conn, writer.tenant_id
    await get_row(conn, tenant_id, "tax_rates", rate_id, "tax rate")
    await conn.execute(text("UPDATE tax_rates SET active = false "
                            "WHERE tenant_id = :t AND id = :id"), {"t": tenant_id, "id": rate_id})
    return await get_row(conn, tenant_id, "tax_rates", rate_id, "tax rate")


async def set_tax_profile(writer: Writer, account_id: uuid.UUID, data: TaxProfile) -> None:
    """The account's billing address and tax exemption (omitted: unchanged)."""
    values: dict[str, object] = {}
    address = data.billing_address
    if address is not None:
        at = "billingAddress"
        values.update(
            billing_country=_country(f"{at}.country", address.country),
            billing_region=(_text(f"{at}.region", address.region, 100)
                            if address.region is not None else None),
            billing_city=address.city, billing_postal_code=address.postal_code,
            billing_line1=address.line1)
    if data.tax_exempt is not None:
        values["tax_exempt"] = data.tax_exempt
    if not values:
        return
    sets = ", ".join(f"{k} = :{k}" for k in values)
    await writer.conn.execute(text(f"UPDATE accounts SET {sets}, updated_at = now() "
                                   "WHERE tenant_id = :t AND id = :id"),
                              {**values, "t": writer.tenant_id, "id": account_id})
