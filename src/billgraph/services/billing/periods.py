"""Billing periods: how long they are, where they start and end, and proration.

Vocabulary:

* A *frequency* says how often an item is billed (MONTHLY, QUARTERLY, ...);
  a *binding period* says how long a customer is committed (ANNUAL, ...).
  Both resolve to a ``PeriodLength``: a count of days, weeks or months.
  CUSTOM1..CUSTOM5 are defined per tenant in a ``CustomPeriods`` mapping.
* A ``ServicePeriod`` is a span of service ``[start, end)``. ``end`` is
  exclusive internally (so periods tile without overlap and ``days`` is a
  plain subtraction); invoices show ``last_day``, the inclusive end.
* The *billing cycle day* (1-31) is the day of the month on which month-based
  periods start. Days 29-31 clamp to the end of shorter months and come back
  afterwards: cycle day 31 gives Jan 31, Feb 28 (29), Mar 31, Apr 30, ...
* Billing is in advance: a period is billed once it has started.
* Money is kept exact (``Fraction``) through factors and proration and is
  rounded once, per invoice line, with ``money.round_exact``.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from enum import StrEnum
from fractions import Fraction
from typing import Any

from billgraph.services.money import round_exact

__all__ = [
    "BindingPeriod",
    "CustomPeriods",
    "Frequency",
    "PeriodLength",
    "PeriodUnit",
    "ServicePeriod",
    "UndefinedCustomPeriod",
    "add_months",
    "advance",
    "binding_end",
    "binding_length",
    "clip",
    "custom_periods",
    "cycle_period_containing",
    "monthly_factor",
    "monthly_factor_fraction",
    "period_length",
    "price_per_period",
    "prorate",
    "prorated_amount",
    "service_periods",
]


class Frequency(StrEnum):
    """How often an item is billed."""

    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    QUARTERLY = "QUARTERLY"
    BIANNUAL = "BIANNUAL"
    ANNUAL = "ANNUAL"
    TWOYEARS = "TWOYEARS"
    CUSTOM1 = "CUSTOM1"
    CUSTOM2 = "CUSTOM2"
    CUSTOM3 = "CUSTOM3"
    CUSTOM4 = "CUSTOM4"
    CUSTOM5 = "CUSTOM5"


class BindingPeriod(StrEnum):
    """How long a customer is committed to an item (its minimum term)."""

    WEEK = "WEEK"
    MONTH = "MONTH"
    QUARTER = "QUARTER"
    BIANNUAL = "BIANNUAL"
    ANNUAL = "ANNUAL"
    TWOYEARS = "TWOYEARS"
    CUSTOM1 = "CUSTOM1"
    CUSTOM2 = "CUSTOM2"
    CUSTOM3 = "CUSTOM3"
    CUSTOM4 = "CUSTOM4"
    CUSTOM5 = "CUSTOM5"


class PeriodUnit(StrEnum):
    """The calendar unit a period is counted in."""

    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


@dataclass(frozen=True)
class PeriodLength:
    """A period length: ``count`` days, weeks or calendar months (count >= 1)."""

    unit: PeriodUnit
    count: int

    def __post_init__(self) -> None:
        if not isinstance(self.unit, PeriodUnit):
            raise TypeError(f"unit must be a PeriodUnit, got {self.unit!r}")
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ValueError(f"period count must be a positive integer, got {self.count!r}")


#: A tenant's definitions of CUSTOM1..CUSTOM5 (keyed by name); a name that is
#: missing is undefined for that tenant.
CustomPeriods = Mapping[str, PeriodLength]


def custom_periods(definitions: Iterable[Mapping[str, Any]] | None) -> CustomPeriods:
    """A tenant's CUSTOM1..CUSTOM5 (its `custom_periods` setting: name, unit, count)."""
    return {d["name"]: PeriodLength(PeriodUnit(d["unit"]), int(d["count"]))
            for d in definitions or []}


class UndefinedCustomPeriod(ValueError):
    """A CUSTOMn frequency or binding period the tenant has not defined."""

    def __init__(self, name: str) -> None:
        super().__init__(f"custom period {name} is not defined for this tenant")
        self.name = name


_DAY = PeriodUnit.DAY
_WEEK = PeriodUnit.WEEK
_MONTH = PeriodUnit.MONTH

_FREQUENCY_LENGTHS: dict[str, PeriodLength] = {  # by Frequency (a StrEnum: its name too)
    Frequency.DAILY: PeriodLength(_DAY, 1),
    Frequency.WEEKLY: PeriodLength(_WEEK, 1),
    Frequency.MONTHLY: PeriodLength(_MONTH, 1),
    Frequency.QUARTERLY: PeriodLength(_MONTH, 3),
    Frequency.BIANNUAL: PeriodLength(_MONTH, 6),
    Frequency.ANNUAL: PeriodLength(_MONTH, 12),
    Frequency.TWOYEARS: PeriodLength(_MONTH, 24),
}

_BINDING_LENGTHS: dict[BindingPeriod, PeriodLength] = {
    BindingPeriod.WEEK: PeriodLength(_WEEK, 1),
    BindingPeriod.MONTH: PeriodLength(_MONTH, 1),
    BindingPeriod.QUARTER: PeriodLength(_MONTH, 3),
    BindingPeriod.BIANNUAL: PeriodLength(_MONTH, 6),
    BindingPeriod.ANNUAL: PeriodLength(_MONTH, 12),
    BindingPeriod.TWOYEARS: PeriodLength(_MONTH, 24),
}


def _custom(name: str, custom: CustomPeriods) -> PeriodLength:
    length = custom.get(name)
    if length is None:
        raise UndefinedCustomPeriod(name)
    return length


def period_length(frequency: Frequency | str, custom: CustomPeriods) -> PeriodLength:
    """The length of one billing period at ``frequency``.

    CUSTOMn comes from the tenant's ``custom`` definitions
    (``UndefinedCustomPeriod`` if missing); an unknown name is a ``ValueError``.
    """
    fixed = _FREQUENCY_LENGTHS.get(frequency)
    if fixed is not None:
        return fixed
    return _custom(Frequency(frequency).value, custom)


def binding_length(period: BindingPeriod | str, custom: CustomPeriods) -> PeriodLength:
    """The length of a binding (commitment) period; CUSTOMn as in ``period_length``."""
    binding = BindingPeriod(period)
    fixed = _BINDING_LENGTHS.get(binding)
    return fixed if fixed is not None else _custom(binding.value, custom)


def _check_day(day: int) -> None:
    if not 1 <= day <= 31:
        raise ValueError(f"day of month must be 1..31, got {day}")


def add_months(d: date, months: int, day: int | None = None) -> date:
    """``d`` moved by ``months`` calendar months, landing on the anchor ``day``.

    The anchor defaults to ``d.day`` and is clamped to the target month's last
    day. Because the anchor is passed explicitly rather than taken from the
    (possibly clamped) previous date, it comes back after a short month:
    with anchor 31, Jan 31 -> Feb 28 -> Mar 31.
    """
    anchor = d.day if day is None else day
    _check_day(anchor)
    year, month0 = divmod(d.year * 12 + d.month - 1 + months, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(anchor, last))


def advance(d: date, length: PeriodLength, n: int = 1, anchor_day: int | None = None) -> date:
    """``d`` plus ``n`` periods of ``length`` (``n`` may be negative).

    Month-based lengths land on ``anchor_day`` (default ``d.day``), clamped as
    in ``add_months``; day and week lengths ignore it.
    """
    if length.unit is PeriodUnit.MONTH:
        return add_months(d, n * length.count, anchor_day)
    days = length.count * (7 if length.unit is PeriodUnit.WEEK else 1)
    return d + timedelta(days=n * days)


def binding_end(start: date, length: PeriodLength) -> date:
    """Last day (inclusive) of a binding starting on ``start``.

    One ``length`` after ``start``, minus a day: ANNUAL from 2026-03-01 ends
    on 2027-02-28.
    """
    return advance(start, length) - timedelta(days=1)


def monthly_factor_fraction(length: PeriodLength) -> Fraction:
    """Exact MRR factor: a price per ``length`` times this is a price per month.

    A year is taken as 365 days or 52 weeks: DAY x n -> 365 / (12 n),
    WEEK x n -> 52 / (12 n), MONTH x n -> 1 / n.
    """
    if length.unit is PeriodUnit.DAY:
        return Fraction(365, 12 * length.count)
    if length.unit is PeriodUnit.WEEK:
        return Fraction(52, 12 * length.count)
    return Fraction(1, length.count)


def monthly_factor(length: PeriodLength) -> Decimal:
    """``monthly_factor_fraction`` as a Decimal with 34 significant digits.

    Factors such as 365/12 have no exact decimal form, so this is an
    approximation for display and reporting. Money computations should use the
    exact fraction (``price_per_period``) and round only the final line total.
    """
    factor = monthly_factor_fraction(length)
    with localcontext(Context(prec=34, rounding=ROUND_HALF_EVEN)):
        return Decimal(factor.numerator) / Decimal(factor.denominator)


def price_per_period(
    price: Decimal, price_period: PeriodLength, billing_period: PeriodLength
) -> Fraction:
    """A ``price`` quoted per ``price_period`` converted to a price per ``billing_period``.

    Exact: price x factor(price_period) / factor(billing_period). Monthly 10.00
    billed QUARTERLY is 30; billed WEEKLY it is 10 x 12/52 (2.31 once rounded).
    """
    return (
        Fraction(price)
        * monthly_factor_fraction(price_period)
        / monthly_factor_fraction(billing_period)
    )


@dataclass(frozen=True)
class ServicePeriod:
    """A non-empty span of service ``[start, end)``; ``end`` is exclusive."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError(f"empty service period: {self.start} .. {self.end}")

    @property
    def last_day(self) -> date:
        """The inclusive last day of service, as printed on invoices."""
        return self.end - timedelta(days=1)

    @property
    def days(self) -> int:
        """Number of days of service."""
        return (self.end - self.start).days

    def __contains__(self, d: object) -> bool:
        return isinstance(d, date) and self.start <= d < self.end


def _cycle_date_on_or_after(d: date, cycle_day: int) -> date:
    """The first billing-cycle date (cycle day, clamped) on or after ``d``."""
    candidate = add_months(d, 0, cycle_day)
    return candidate if candidate >= d else add_months(d, 1, cycle_day)


def cycle_period_containing(
    d: date, length: PeriodLength, cycle_day: int, anchor: date | None = None
) -> ServicePeriod:
    """The whole billing period that contains ``d``.

    Month-based lengths (MONTH x n): the period boundaries are
    ``add_months(a, k * n, cycle_day)`` for every integer ``k``, where ``a`` is
    the first cycle date (the cycle day, clamped to the month's end) on or
    after ``anchor``. ``anchor`` defaults to ``d``, which gives the period
    *ending* at the first boundary on or after ``d`` -- or starting at ``d``
    if ``d`` is itself a cycle date. Pass the item's start date as ``anchor``
    to find which of that item's periods contains ``d``. For MONTH x 1 every
    month's cycle date is a boundary, so ``anchor`` makes no difference.

    Day- and week-based lengths are not aligned to the cycle day: boundaries
    are ``anchor + k * length`` (``cycle_day`` is only validated).
    """
    _check_day(cycle_day)
    origin = d if anchor is None else anchor
    if length.unit is not PeriodUnit.MONTH:
        step = advance(origin, length) - origin
        k = (d - origin) // step
        start = origin + k * step
        return ServicePeriod(start, start + step)
    first = _cycle_date_on_or_after(origin, cycle_day)
    months_apart = (d.year - first.year) * 12 + d.month - first.month
    k = months_apart // length.count
    start = add_months(first, k * length.count, cycle_day)
    if start > d:
        k -= 1
        start = add_months(first, k * length.count, cycle_day)
    return ServicePeriod(start, add_months(first, (k + 1) * length.count, cycle_day))


def service_periods(
    item_start: date, length: PeriodLength, cycle_day: int, until: date
) -> Iterator[tuple[ServicePeriod, ServicePeriod]]:
    """Yield ``(billed_part, whole_period)`` for each period of an item that
    starts on or before ``until`` (inclusive: billing is in advance).

    Month-based lengths are aligned to the billing cycle day. If the item does
    not start on a cycle date, its first period is partial: it runs from
    ``item_start`` to the first cycle date after it and is prorated against
    the whole period it belongs to, which ends at that cycle date and starts
    ``length`` earlier. For QUARTERLY etc. the later boundaries are every n
    months from that first cycle date. Every later period is whole
    (``billed_part == whole_period``).

    Day- and week-based lengths run from ``item_start``; all periods are whole.

    Example: monthly, cycle day 15, item from 2026-01-03 yields
    2026-01-03..2026-01-15 (12 days) of 2025-12-15..2026-01-15 (31 days),
    then 2026-01-15..2026-02-15, and so on.
    """
    _check_day(cycle_day)
    whole = cycle_period_containing(item_start, length, cycle_day)
    billed = ServicePeriod(item_start, whole.end)
    while billed.start <= until:
        yield billed, whole
        whole = ServicePeriod(whole.end, advance(whole.end, length, anchor_day=cycle_day))
        billed = whole


def clip(period: ServicePeriod, start: date | None, end: date | None) -> ServicePeriod | None:
    """The part of ``period`` inside ``[start, end)`` (``None`` = unbounded),
    or ``None`` if they do not overlap.

    Used when an item ends inside a period, or to cut out a suspension.
    """
    lo = period.start if start is None else max(period.start, start)
    hi = period.end if end is None else min(period.end, end)
    return ServicePeriod(lo, hi) if lo < hi else None


def prorate(
    amount: Decimal | Fraction | int, part: ServicePeriod, whole: ServicePeriod
) -> Fraction:
    """Exact share of ``amount`` (the price of ``whole``) for the days of ``part``.

    ``amount x part.days / whole.days``, unrounded. ``part`` must lie within
    ``whole`` (``ValueError`` otherwise).
    """
    if part.start < whole.start or part.end > whole.end:
        raise ValueError(f"{part} does not lie within {whole}")
    return Fraction(amount) * part.days / whole.days


def prorated_amount(
    price_per_period: Fraction | Decimal,
    part: ServicePeriod,
    whole: ServicePeriod,
    currency: str,
) -> Decimal:
    """The invoice-line amount for ``part`` of a period priced ``price_per_period``.

    Computed exactly and rounded once, half-up, to the currency's minor unit:
    monthly 10.00 USD for 12 of 31 days is 3.87.
    """
    return round_exact(prorate(price_per_period, part, whole), currency)
