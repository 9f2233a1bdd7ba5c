"""Discounts and taxes of invoice lines (SPEC §12): pure, like charges.py.

Facts in (the lines a period bills, the discounts of their subscription, the tax rates
of their invoice owner), amounts out. No database, no clock. Bill runs call these; a
preview computes the same lines with the same functions.

Discounts, per line of a billing period:

* PERCENTAGE discounts first, on the line amount, for the days of the line's service
  that the discount covers (a discount starting mid-period takes its share of the days).
* then FIXED_AMOUNT discounts, each per billing period, prorated by the days of the
  period that both the discount and the discounted lines' service cover (a partial
  first period pays a partial fixed discount, like its charge), and spread over the
  period's matching lines in proportion to what is left of their amounts; the rounding
  remainder goes to the largest line.
* a line's discount never exceeds its amount: lines go to 0, never below.

Taxes: every applicable rate (active, the invoice owner's billing country, region null
or the owner's, productCodes empty or holding the line's product) on the line's net
amount (amount - discount), rounded half-up to the currency's minor units per line and
rate. Tax-exempt owners and owners without a billing address pay no tax.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

from billgraph.services.billing import periods
from billgraph.services.billing.periods import CustomPeriods, ServicePeriod
from billgraph.services.billing.values import quick_init
from billgraph.services.money import minor_unit, round_exact

__all__ = [
    "DiscountType",
    "LineTax",
    "PeriodLine",
    "SubscriptionDiscount",
    "TaxProfile",
    "TaxRate",
    "discount_end",
    "line_discounts",
    "line_taxes",
    "spread",
    "taxable_rates",
]

ONE_DAY = timedelta(days=1)


class DiscountType(StrEnum):
    PERCENTAGE = "PERCENTAGE"
    FIXED_AMOUNT = "FIXED_AMOUNT"


@dataclass(frozen=True)
class SubscriptionDiscount:
    """A discount attached to a subscription from ``start`` through ``end`` (inclusive;
    None: open-ended). ``value``: the percentage, or the fixed amount per period."""

    type: DiscountType
    value: Decimal
    start: date
    end: date | None = None
    product_codes: frozenset[str] = frozenset()

    def matches(self, product_code: str | None) -> bool:
        return not self.product_codes or product_code in self.product_codes

    def covered(self, span: ServicePeriod) -> ServicePeriod | None:
        """The days of ``span`` the discount is active on."""
        return periods.clip(span, self.start, None if self.end is None else self.end + ONE_DAY)


@quick_init
@dataclass(frozen=True)
class PeriodLine:
    """A line to discount: its key (the caller's), product, amount, service days and the
    whole billing period it belongs to (the subscription's)."""

    key: Hashable
    product_code: str | None
    amount: Decimal
    span: ServicePeriod
    whole: ServicePeriod


def _percentage_share(line: PeriodLine, discount: SubscriptionDiscount) -> Fraction:
    covered = discount.covered(line.span)
    if covered is None or not discount.matches(line.product_code):
        return Fraction(0)
    return Fraction(line.amount) * Fraction(discount.value) / 100 * covered.days / line.span.days


def spread(amount: Decimal, weights: Sequence[Decimal], currency: str) -> list[Decimal]:
    """``amount`` (at most sum(weights)) spread over lines in proportion to ``weights``
    (each >= 0), in minor units, each share at most its weight; the rounding remainder
    goes to the largest line first (then the next largest with room)."""
    total = sum(weights, Decimal(0))
    if amount <= 0 or total <= 0:
        return [Decimal(0) for _ in weights]
    if amount >= total:
        return list(weights)
    shares = [min(w, round_exact(Fraction(amount) * Fraction(w) / Fraction(total), currency))
              for w in weights]
    unit = minor_unit(currency)
    order = sorted(range(len(weights)), key=lambda i: (-weights[i], i))
    left = amount - sum(shares, Decimal(0))
    while left != 0:
        step = unit if left > 0 else -unit
        for i in order:
            if Decimal(0) <= shares[i] + step <= weights[i]:
                shares[i] += step
                left -= step
                break
        else:  # pragma: no cover - amount < total leaves room on some line
            raise AssertionError("no line can take the remainder")
    return shares


def _fixed_amount(discount: SubscriptionDiscount, whole: ServicePeriod,
                  lines: Sequence[PeriodLine]) -> Fraction:
    """The fixed discount of one billing period: its amount for the days of ``whole``
    both the discount and the lines' service (first to last day) cover."""
    served = ServicePeriod(min(ln.span.start for ln in lines), max(ln.span.end for ln in lines))
    covered = discount.covered(served)
    if covered is None:
        return Fraction(0)
    return periods.prorate(discount.value, covered, whole)


def line_discounts(lines: Sequence[PeriodLine], discounts: Sequence[SubscriptionDiscount],
                   currency: str) -> dict[Hashable, Decimal]:
    """The discount of each line (by key), lines of one subscription: percentages first,
    then fixed amounts per billing period (``line.whole``), never above the line."""
    result: dict[Hashable, Decimal] = {}
    for line in lines:
        share = sum((_percentage_share(line, d) for d in discounts
                     if d.type is DiscountType.PERCENTAGE), Fraction(0))
        capped = min(share, Fraction(line.amount)) if line.amount > 0 else Fraction(0)
        result[line.key] = round_exact(capped, currency)
    fixed = [d for d in discounts if d.type is DiscountType.FIXED_AMOUNT]
    if not fixed:
        return result
    by_period: dict[ServicePeriod, list[PeriodLine]] = {}
    for line in lines:
        if line.amount > 0:
            by_period.setdefault(line.whole, []).append(line)
    for whole, in_period in by_period.items():
        for discount in fixed:
            matching = [ln for ln in in_period if discount.matches(ln.product_code)]
            if not matching:
                continue
            amount = round_exact(_fixed_amount(discount, whole, matching), currency)
            left = [ln.amount - result[ln.key] for ln in matching]
            for ln, part in zip(matching, spread(amount, left, currency), strict=True):
                result[ln.key] += part
    return result


@dataclass(frozen=True)
class TaxRate:
    id: Hashable
    percentage: Decimal
    country: str
    region: str | None = None
    product_codes: frozenset[str] = frozenset()
    active: bool = True


@dataclass(frozen=True)
class TaxProfile:
    """The invoice owner as taxes see it: its billing country and region (country None:
    no billing address) and whether it is tax-exempt."""

    country: str | None
    region: str | None = None
    exempt: bool = False


@quick_init
@dataclass(frozen=True)
class LineTax:
    rate_id: Hashable
    percentage: Decimal
    amount: Decimal


def taxable_rates(rates: Iterable[TaxRate], owner: TaxProfile) -> list[TaxRate]:
    """The rates that apply to the owner's lines (before product codes)."""
    if owner.exempt or owner.country is None:
        return []
    return [r for r in rates if r.active and r.country == owner.country
            and (r.region is None or r.region == owner.region)]


def line_taxes(net: Decimal, product_code: str | None, rates: Iterable[TaxRate],
               currency: str) -> list[LineTax]:
    """The tax of a line's net amount under each of ``rates`` (already the owner's) that
    applies to its product, each rounded half-up to minor units."""
    return [LineTax(r.id, r.percentage,
                    round_exact(Fraction(net) * Fraction(r.percentage) / 100, currency))
            for r in rates if not r.product_codes or product_code in r.product_codes]


def frozen_taxes(net: Decimal, billed: Mapping[Any, tuple[Decimal, Decimal]],
                 currency: str) -> list[LineTax]:
    """The tax of a period already invoiced, at the percentages it was invoiced with
    (rate id -> (percentage, tax billed)): a later rate change never corrects it."""
    return [LineTax(rate_id, percentage,
                    round_exact(Fraction(net) * Fraction(percentage) / 100, currency))
            for rate_id, (percentage, _) in billed.items()]


def frozen_discount(should: Decimal, billed_amount: Decimal, billed_discount: Decimal,
                    currency: str) -> Decimal:
    """The discount of a period already invoiced, now that it should bill ``should``:
    the share the period carried (a full credit reverses it exactly)."""
    if billed_amount == 0:
        return Decimal(0)
    share = Fraction(billed_discount) * Fraction(should) / Fraction(billed_amount)
    return round_exact(min(max(share, Fraction(0)), Fraction(max(should, Decimal(0)))),
                       currency)


def whole_period(day: date, frequency: str | None, cycle_day: int, anchor: date | None,
                 custom: CustomPeriods) -> ServicePeriod:
    """The subscription's billing period holding ``day`` (a day for ONE_TIME terms)."""
    if frequency is None:
        return ServicePeriod(day, day + ONE_DAY)
    length = periods.period_length(frequency, custom)
    return periods.cycle_period_containing(day, length, cycle_day, anchor)


def discount_end(start: date, duration_periods: int | None, *, frequency: str | None,
                 cycle_day: int, anchor: date | None, custom: CustomPeriods) -> date | None:
    """The inclusive last day of a discount lasting ``duration_periods`` billing periods,
    the (possibly partial) period holding ``start`` counted as the first."""
    if duration_periods is None:
        return None
    first = whole_period(start, frequency, cycle_day, anchor, custom)
    if frequency is None:
        return first.last_day
    length = periods.period_length(frequency, custom)
    anchor_day = cycle_day if length.unit is periods.PeriodUnit.MONTH else None
    return periods.advance(first.start, length, duration_periods, anchor_day=anchor_day) - ONE_DAY
