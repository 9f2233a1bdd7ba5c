"""Billing terms of a subscription (seed `subscription-billing-terms.txt`, SPEC §4).

`resolve()` checks one `BillingTermsInput` against the catalog and the tenant's
custom periods (looked up beforehand, in batches) and returns the `Terms`
columns stored on the subscription. `item_mrr()` is an item's exact MRR.
Every failure is BAD_USER_INPUT naming the GraphQL field.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Context, Decimal, localcontext
from fractions import Fraction
from typing import Any

from sqlalchemy import RowMapping

from .billing import periods
from .billing.pricing import Pricing, amount
from .catalog import check_frequency
from .errors import BadUserInput
from .numbers import parse_uuid

INSTALLED_ITEMS = "BASED_ON_NUMBER_OF_INSTALLED_ITEMS"
MAXIMUM_CAPACITY = "BASED_ON_MAXIMUM_CAPACITY"
ACTUAL_CAPACITY = "BASED_ON_ACTUAL_CAPACITY"
BILLING_METHODS = (INSTALLED_ITEMS, MAXIMUM_CAPACITY, ACTUAL_CAPACITY)
MRR_PLACES = Decimal("1E-20")


@dataclass
class PlanRef:
    id: str | None = None
    code: str | None = None


@dataclass
class UserRef:
    id: str | None = None
    username: str | None = None


@dataclass
class BindingInput:
    binding_period: str
    start_date: date | None = None


@dataclass
class ConcurrentUsageInput:
    concurrent_usage: int
    rate_percentage: Decimal
    number_of_installed_items: int | None = None
    billing_method: str | None = None


@dataclass
class BillingTermsInput:
    price_plan: PlanRef
    agreement_date: date
    scheme_code: str | None = None
    billing_cycle_day: int | None = None
    billing_frequency: str | None = None
    performed_by: UserRef | None = None
    performed_on: date | None = None
    binding_information: BindingInput | None = None
    concurrent_usage_based_pricing: ConcurrentUsageInput | None = None


@dataclass(frozen=True)
class ConcurrentUsage:
    concurrent_usage: int
    rate_percentage: Decimal
    installed_items: int | None
    billing_method: str

    @property
    def billed_quantity(self) -> int:
        """The quantity MRR counts: installed items, or the agreed concurrent usage."""
        if self.billing_method == INSTALLED_ITEMS:
            assert self.installed_items is not None
            return self.installed_items
        return self.concurrent_usage


@dataclass(frozen=True)
class Terms:
    """The billing-terms columns of a subscription."""

    price_plan_id: uuid.UUID
    scheme_id: uuid.UUID
    billing_cycle_day: int
    agreement_date: date
    billing_frequency: str | None
    performed_by_user_id: uuid.UUID | None
    performed_on: date | None
    binding_period: str | None
    binding_start_date: date | None
    binding_end_date: date | None
    concurrent_usage: ConcurrentUsage | None


@dataclass
class Refs:
    """What billing terms refer to, looked up in batches by the caller."""

    schemes: Mapping[str, RowMapping]  # by code
    users_by_id: Mapping[uuid.UUID, uuid.UUID]
    users_by_name: Mapping[str, uuid.UUID]
    custom: periods.CustomPeriods


def pick(what: str, field: str, by_id: Mapping[uuid.UUID, Any], by_name: Mapping[str, Any],
         id_value: str | None, name_value: str | None, name_field: str) -> Any:
    """Resolve an `{id}` / `{code|username}` identifier: at least one; both name the same."""
    if id_value is None and name_value is None:
        raise BadUserInput(field, f"give id or {name_field}")
    found_id = found_name = None
    if id_value is not None:
        key = parse_uuid(id_value)
        found_id = by_id.get(key) if key is not None else None
        if found_id is None:
            raise BadUserInput(f"{field}.id", f"no {what} with id {id_value!r}")
    if name_value is not None:
        found_name = by_name.get(name_value)
        if found_name is None:
            raise BadUserInput(f"{field}.{name_field}", f"no {what} with {name_field} "
                                                        f"{name_value!r}")
    if found_id is not None and found_name is not None and found_id != found_name:
        raise BadUserInput(field, f"id and {name_field} name different {what}s")
    return found_id if found_id is not None else found_name


def resolve(data: BillingTermsInput, plan_id: uuid.UUID, refs: Refs, field: str) -> Terms:
    """Check billing terms (whose price plan the caller resolved) and default what is omitted."""
    scheme_code = data.scheme_code if data.scheme_code is not None else "DEFAULT"
    scheme = refs.schemes.get(scheme_code)
    if scheme is None:
        raise BadUserInput(f"{field}.schemeCode", f"no billing term scheme {scheme_code!r}")
    frequency = data.billing_frequency
    if scheme["type"] == "NORMAL":
        if frequency is None:
            raise BadUserInput(f"{field}.billingFrequency",
                               f"is mandatory: scheme {scheme_code} is NORMAL")
        check_frequency(frequency, refs.custom, f"{field}.billingFrequency")
    elif frequency is not None:
        raise BadUserInput(f"{field}.billingFrequency",
                           f"is not applicable: scheme {scheme_code} is {scheme['type']}")
    cycle_day = (data.billing_cycle_day if data.billing_cycle_day is not None
                 else scheme["billing_cycle_day"])
    if not 1 <= cycle_day <= 31:
        raise BadUserInput(f"{field}.billingCycleDay", "must be between 1 and 31")
    user_id = None
    if data.performed_by is not None:
        user_id = pick("user", f"{field}.performedBy", refs.users_by_id, refs.users_by_name,
                       data.performed_by.id, data.performed_by.username, "username")
    binding_period = binding_start = binding_end = None
    if data.binding_information is not None:
        binding = data.binding_information
        binding_period = binding.binding_period
        length = binding_length(binding_period, refs.custom,
                                f"{field}.bindingInformation.bindingPeriod")
        binding_start = binding.start_date or data.agreement_date
        binding_end = periods.binding_end(binding_start, length)
    return Terms(
        price_plan_id=plan_id, scheme_id=scheme["id"], billing_cycle_day=cycle_day,
        agreement_date=data.agreement_date, billing_frequency=frequency,
        performed_by_user_id=user_id, performed_on=data.performed_on,
        binding_period=binding_period, binding_start_date=binding_start,
        binding_end_date=binding_end,
        concurrent_usage=_concurrent_usage(data.concurrent_usage_based_pricing, scheme,
                                           f"{field}.concurrentUsageBasedPricing"),
    )


def binding_length(period: str, custom: periods.CustomPeriods, field: str) -> periods.PeriodLength:
    try:
        return periods.binding_length(period, custom)
    except periods.UndefinedCustomPeriod as error:
        raise BadUserInput(field, str(error)) from None
    except ValueError:
        raise BadUserInput(field, f"{period!r} is not a binding period") from None


def _concurrent_usage(data: ConcurrentUsageInput | None, scheme: RowMapping,
                      field: str) -> ConcurrentUsage | None:
    if not scheme["concurrent_usage_based"]:
        if data is not None:
            raise BadUserInput(field, f"is not applicable: scheme {scheme['code']} is not "
                                      "concurrent-usage based")
        return None
    if data is None:
        raise BadUserInput(field, f"is mandatory: scheme {scheme['code']} is concurrent-usage "
                                  "based")
    method = data.billing_method or INSTALLED_ITEMS
    if method not in BILLING_METHODS:
        raise BadUserInput(f"{field}.concurrentUsageBillingMethod", "unknown billing method")
    if data.concurrent_usage < 1:
        raise BadUserInput(f"{field}.concurrentUsage", "must be at least 1")
    if not 0 < data.rate_percentage <= 100:
        raise BadUserInput(f"{field}.ratePercentage", "must be greater than 0 and at most 100")
    installed = data.number_of_installed_items
    if method == INSTALLED_ITEMS:
        if installed is None:
            raise BadUserInput(f"{field}.numberOfInstalledItems",
                               f"is mandatory for {INSTALLED_ITEMS}")
        if installed < 1:
            raise BadUserInput(f"{field}.numberOfInstalledItems", "must be at least 1")
    elif installed is not None:
        raise BadUserInput(f"{field}.numberOfInstalledItems",
                           f"is only applicable to {INSTALLED_ITEMS}")
    return ConcurrentUsage(data.concurrent_usage, data.rate_percentage, installed, method)


def concurrent_usage_of(row: RowMapping) -> ConcurrentUsage | None:
    """The concurrent-usage pricing stored on a subscription row, if any."""
    if row["cu_billing_method"] is None:
        return None
    return ConcurrentUsage(row["cu_concurrent_usage"], row["cu_rate_percentage"],
                           row["cu_installed_items"], row["cu_billing_method"])


def item_mrr(charge_type: str, price: Decimal, quantity: int, price_period: periods.PeriodLength,
             concurrent_usage: ConcurrentUsage | None,
             pricing: Pricing | None = None) -> Decimal:
    """An item's MRR (SPEC §2, §11), exact to 20 places: the pricing model's amount for
    its quantity (``pricing.amount``; PER_UNIT price × quantity when ``pricing`` is None)
    normalized to a month, or under concurrent-usage pricing the amount for the billed
    quantity × ratePercentage / 100 instead; 0 unless RECURRING (USAGE has no MRR)."""
    if charge_type != "RECURRING":
        return Decimal(0)
    model = pricing if pricing is not None else Pricing(price=price)
    factor = periods.monthly_factor_fraction(price_period)
    if concurrent_usage is None:
        value = amount(model, quantity) * factor
    else:
        value = (amount(model, concurrent_usage.billed_quantity) * factor
                 * Fraction(concurrent_usage.rate_percentage) / 100)
    with localcontext(Context(prec=80)):
        return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(MRR_PLACES)
