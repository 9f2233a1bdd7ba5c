"""Tests for billing period lengths, cycle alignment and proration."""

from __future__ import annotations

import calendar
import itertools
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billgraph.services.billing.periods import (
    BindingPeriod,
    Frequency,
    PeriodLength,
    PeriodUnit,
    ServicePeriod,
    UndefinedCustomPeriod,
    add_months,
    advance,
    binding_end,
    binding_length,
    clip,
    cycle_period_containing,
    monthly_factor,
    monthly_factor_fraction,
    period_length,
    price_per_period,
    prorate,
    prorated_amount,
    service_periods,
)
from billgraph.services.money import MINOR_UNITS, minor_unit, round_exact

DAY = PeriodLength(PeriodUnit.DAY, 1)
WEEK = PeriodLength(PeriodUnit.WEEK, 1)
MONTH = PeriodLength(PeriodUnit.MONTH, 1)
QUARTER = PeriodLength(PeriodUnit.MONTH, 3)
YEAR = PeriodLength(PeriodUnit.MONTH, 12)
CUSTOM = {"CUSTOM1": PeriodLength(PeriodUnit.MONTH, 2), "CUSTOM2": PeriodLength(PeriodUnit.DAY, 10)}


def sp(start: str, end: str) -> ServicePeriod:
    return ServicePeriod(date.fromisoformat(start), date.fromisoformat(end))


def first_periods(
    start: str, length: PeriodLength, cycle_day: int, until: str
) -> list[tuple[ServicePeriod, ServicePeriod]]:
    return list(
        service_periods(date.fromisoformat(start), length, cycle_day, date.fromisoformat(until))
    )


# --- enums and lengths -------------------------------------------------------


def test_enum_values_are_their_names() -> None:
    for enum in (Frequency, BindingPeriod, PeriodUnit):
        assert all(member.value == member.name for member in enum)
    assert [f.value for f in Frequency][-5:] == [f"CUSTOM{i}" for i in range(1, 6)]
    assert Frequency("MONTHLY") is Frequency.MONTHLY


def test_period_length_table() -> None:
    assert period_length(Frequency.DAILY, {}) == DAY
    assert period_length(Frequency.WEEKLY, {}) == WEEK
    assert period_length("MONTHLY", {}) == MONTH
    assert period_length(Frequency.QUARTERLY, {}) == QUARTER
    assert period_length(Frequency.BIANNUAL, {}) == PeriodLength(PeriodUnit.MONTH, 6)
    assert period_length(Frequency.ANNUAL, {}) == YEAR
    assert period_length(Frequency.TWOYEARS, {}) == PeriodLength(PeriodUnit.MONTH, 24)


def test_binding_length_table() -> None:
    assert binding_length(BindingPeriod.WEEK, {}) == WEEK
    assert binding_length(BindingPeriod.MONTH, {}) == MONTH
    assert binding_length("QUARTER", {}) == QUARTER
    assert binding_length(BindingPeriod.BIANNUAL, {}) == PeriodLength(PeriodUnit.MONTH, 6)
    assert binding_length(BindingPeriod.ANNUAL, {}) == YEAR
    assert binding_length(BindingPeriod.TWOYEARS, {}) == PeriodLength(PeriodUnit.MONTH, 24)


def test_custom_periods_come_from_tenant_definitions() -> None:
    assert period_length(Frequency.CUSTOM1, CUSTOM) == PeriodLength(PeriodUnit.MONTH, 2)
    assert period_length("CUSTOM2", CUSTOM) == PeriodLength(PeriodUnit.DAY, 10)
    assert binding_length(BindingPeriod.CUSTOM1, CUSTOM) == PeriodLength(PeriodUnit.MONTH, 2)
    with pytest.raises(UndefinedCustomPeriod, match="CUSTOM3") as info:
        period_length(Frequency.CUSTOM3, CUSTOM)
    assert info.value.name == "CUSTOM3"
    with pytest.raises(ValueError, match="CUSTOM5"):
        binding_length("CUSTOM5", {})


def test_unknown_names_and_bad_lengths_are_rejected() -> None:
    with pytest.raises(ValueError):
        period_length("FORTNIGHTLY", {})
    with pytest.raises(ValueError):
        binding_length("MONTHLY", {})
    with pytest.raises(ValueError):
        PeriodLength(PeriodUnit.MONTH, 0)


# --- date arithmetic ---------------------------------------------------------


def test_add_months_clamps_and_anchor_comes_back() -> None:
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2027, 2, 28), 1, day=31) == date(2027, 3, 31)
    assert add_months(date(2027, 2, 28), 1) == date(2027, 3, 28)
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)
    assert add_months(date(2026, 1, 15), -1) == date(2025, 12, 15)
    assert add_months(date(2026, 5, 31), -3) == date(2026, 2, 28)
    with pytest.raises(ValueError):
        add_months(date(2026, 1, 1), 1, day=32)


def test_advance_by_days_weeks_and_months() -> None:
    assert advance(date(2026, 1, 30), DAY, 3) == date(2026, 2, 2)
    assert advance(date(2026, 1, 30), WEEK, 2) == date(2026, 2, 13)
    assert advance(date(2026, 1, 30), QUARTER) == date(2026, 4, 30)
    assert advance(date(2026, 2, 28), MONTH, anchor_day=31) == date(2026, 3, 31)
    assert advance(date(2026, 3, 31), MONTH, -1) == date(2026, 2, 28)


def test_binding_end_is_inclusive() -> None:
    assert binding_end(date(2026, 3, 1), YEAR) == date(2027, 2, 28)
    assert binding_end(date(2028, 3, 1), YEAR) == date(2029, 2, 28)
    assert binding_end(date(2026, 1, 5), WEEK) == date(2026, 1, 11)
    assert binding_end(date(2026, 1, 15), MONTH) == date(2026, 2, 14)


def test_service_period_views() -> None:
    period = sp("2026-01-03", "2026-01-15")
    assert period.last_day == date(2026, 1, 14)
    assert period.days == 12
    assert date(2026, 1, 14) in period and date(2026, 1, 15) not in period
    with pytest.raises(ValueError):
        sp("2026-01-03", "2026-01-03")


# --- cycle alignment ---------------------------------------------------------


def test_spec_example_monthly_cycle_day_15() -> None:
    periods = first_periods("2026-01-03", MONTH, 15, "2026-02-15")
    assert periods == [
        (sp("2026-01-03", "2026-01-15"), sp("2025-12-15", "2026-01-15")),
        (sp("2026-01-15", "2026-02-15"), sp("2026-01-15", "2026-02-15")),
        (sp("2026-02-15", "2026-03-15"), sp("2026-02-15", "2026-03-15")),
    ]
    billed, whole = periods[0]
    assert billed.last_day == date(2026, 1, 14)
    assert (billed.days, whole.days) == (12, 31)
    assert prorated_amount(Decimal("10.00"), billed, whole, "USD") == Decimal("3.87")


def test_start_on_cycle_day_is_whole_from_the_start() -> None:
    periods = first_periods("2026-01-15", MONTH, 15, "2026-01-15")
    assert periods == [(sp("2026-01-15", "2026-02-15"), sp("2026-01-15", "2026-02-15"))]


def test_quarterly_cycle_day_1_starting_mid_month() -> None:
    periods = first_periods("2026-01-15", QUARTER, 1, "2026-06-30")
    assert periods == [
        (sp("2026-01-15", "2026-02-01"), sp("2025-11-01", "2026-02-01")),
        (sp("2026-02-01", "2026-05-01"), sp("2026-02-01", "2026-05-01")),
        (sp("2026-05-01", "2026-08-01"), sp("2026-05-01", "2026-08-01")),
    ]
    billed, whole = periods[0]
    assert (billed.days, whole.days) == (17, 92)
    assert prorated_amount(Decimal("30.00"), billed, whole, "USD") == Decimal("5.54")


def test_weekly_runs_from_item_start_ignoring_cycle_day() -> None:
    periods = first_periods("2026-01-07", WEEK, 15, "2026-01-21")
    assert [billed for billed, _ in periods] == [
        sp("2026-01-07", "2026-01-14"),
        sp("2026-01-14", "2026-01-21"),
        sp("2026-01-21", "2026-01-28"),
    ]
    assert all(billed == whole for billed, whole in periods)


def test_custom_periods_month_and_day_based() -> None:
    two_months = period_length("CUSTOM1", CUSTOM)
    assert first_periods("2026-03-01", two_months, 1, "2026-05-01") == [
        (sp("2026-03-01", "2026-05-01"), sp("2026-03-01", "2026-05-01")),
        (sp("2026-05-01", "2026-07-01"), sp("2026-05-01", "2026-07-01")),
    ]
    assert first_periods("2026-03-20", two_months, 1, "2026-04-01") == [
        (sp("2026-03-20", "2026-04-01"), sp("2026-02-01", "2026-04-01")),
        (sp("2026-04-01", "2026-06-01"), sp("2026-04-01", "2026-06-01")),
    ]
    ten_days = period_length("CUSTOM2", CUSTOM)
    assert [b for b, _ in first_periods("2026-02-25", ten_days, 1, "2026-03-10")] == [
        sp("2026-02-25", "2026-03-07"),
        sp("2026-03-07", "2026-03-17"),
    ]
    assert monthly_factor_fraction(ten_days) == Fraction(365, 120)


@pytest.mark.parametrize(
    ("year", "february_end"), [(2027, date(2027, 2, 28)), (2028, date(2028, 2, 29))]
)
def test_cycle_day_31_across_february(year: int, february_end: date) -> None:
    until = date(year, 4, 30)
    starts = [b.start for b, _ in service_periods(date(year, 1, 31), MONTH, 31, until)]
    assert starts == [date(year, 1, 31), february_end, date(year, 3, 31), date(year, 4, 30)]
    # an item starting inside February is prorated against Jan 31 .. Feb end
    billed, whole = next(service_periods(date(year, 2, 10), MONTH, 31, until))
    assert billed == ServicePeriod(date(year, 2, 10), february_end)
    assert whole == ServicePeriod(date(year, 1, 31), february_end)


def test_cycle_period_containing() -> None:
    assert cycle_period_containing(date(2026, 3, 1), MONTH, 31) == sp("2026-02-28", "2026-03-31")
    assert cycle_period_containing(date(2026, 3, 31), MONTH, 31) == sp("2026-03-31", "2026-04-30")
    # default anchor: the quarter ending at the next cycle date
    assert cycle_period_containing(date(2026, 1, 15), QUARTER, 1) == sp("2025-11-01", "2026-02-01")
    # anchored on the item's start: which of its quarters holds 2026-06-30
    in_june = cycle_period_containing(date(2026, 6, 30), QUARTER, 1, anchor=date(2026, 1, 15))
    assert in_june == sp("2026-05-01", "2026-08-01")
    in_week = cycle_period_containing(date(2026, 1, 20), WEEK, 1, anchor=date(2026, 1, 7))
    assert in_week == sp("2026-01-14", "2026-01-21")


def test_nothing_billed_before_the_item_starts() -> None:
    assert first_periods("2026-01-03", MONTH, 15, "2026-01-02") == []


# --- clipping, factors and proration ----------------------------------------


def test_clip() -> None:
    period = sp("2026-01-15", "2026-02-15")
    assert clip(period, None, None) == period
    assert clip(period, None, date(2026, 2, 1)) == sp("2026-01-15", "2026-02-01")
    assert clip(period, date(2026, 1, 20), date(2026, 3, 1)) == sp("2026-01-20", "2026-02-15")
    assert clip(period, date(2026, 2, 15), None) is None
    assert clip(period, None, date(2026, 1, 15)) is None


def test_monthly_factors() -> None:
    assert monthly_factor_fraction(DAY) == Fraction(365, 12)
    assert monthly_factor_fraction(WEEK) == Fraction(52, 12)
    assert monthly_factor_fraction(QUARTER) == Fraction(1, 3)
    assert monthly_factor(MONTH) == Decimal(1)
    assert monthly_factor(DAY) == Decimal("30.41666666666666666666666666666667")
    assert monthly_factor(QUARTER) == Decimal("0." + "3" * 34)


def test_price_per_period_conversions() -> None:
    monthly = Decimal("10.00")
    assert price_per_period(monthly, MONTH, QUARTER) == 30
    assert round_exact(price_per_period(monthly, MONTH, QUARTER), "USD") == Decimal("30.00")
    weekly = price_per_period(monthly, MONTH, WEEK)
    assert weekly == Fraction(10) * 12 / 52
    assert round_exact(weekly, "USD") == Decimal("2.31")
    daily_to_month = price_per_period(Decimal("1.00"), DAY, MONTH)
    assert daily_to_month == Fraction(365, 12)
    assert round_exact(daily_to_month, "USD") == Decimal("30.42")
    assert price_per_period(Decimal("120"), YEAR, MONTH) == 10


def test_prorate_is_exact_and_rounds_once() -> None:
    whole = sp("2026-01-01", "2026-02-01")
    assert prorate(Decimal("31.00"), sp("2026-01-01", "2026-01-11"), whole) == 10
    # 1 day of 0.31 in a 62-day period is exactly half a cent: half-up
    long_whole = sp("2026-01-01", "2026-03-04")
    assert long_whole.days == 62
    assert prorated_amount(
        Decimal("0.31"), sp("2026-01-01", "2026-01-02"), long_whole, "USD"
    ) == Decimal("0.01")
    assert prorated_amount(
        Decimal("1000"), sp("2026-01-01", "2026-01-11"), whole, "JPY"
    ) == Decimal("323")
    # a weekly-converted price stays exact until the line is rounded
    weekly = price_per_period(Decimal("10.00"), MONTH, WEEK)
    week = sp("2026-01-01", "2026-01-08")
    assert prorated_amount(weekly, sp("2026-01-01", "2026-01-04"), week, "USD") == Decimal("0.99")
    with pytest.raises(ValueError):
        prorate(Decimal(1), sp("2025-12-31", "2026-01-02"), whole)


# --- properties --------------------------------------------------------------

starts = st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31))
cycle_days = st.integers(min_value=1, max_value=31)
lengths = st.one_of(
    st.builds(PeriodLength, st.just(PeriodUnit.DAY), st.integers(1, 60)),
    st.builds(PeriodLength, st.just(PeriodUnit.WEEK), st.integers(1, 8)),
    st.builds(PeriodLength, st.just(PeriodUnit.MONTH), st.integers(1, 24)),
)


def _cycle_date(d: date, cycle_day: int) -> bool:
    return d.day == min(cycle_day, calendar.monthrange(d.year, d.month)[1])


@settings(max_examples=200, deadline=None)
@given(
    item_start=starts,
    length=lengths,
    cycle_day=cycle_days,
    offset=st.integers(min_value=-40, max_value=1500),
)
def test_service_periods_tile_time(
    item_start: date, length: PeriodLength, cycle_day: int, offset: int
) -> None:
    until = item_start + timedelta(days=offset)
    periods = list(service_periods(item_start, length, cycle_day, until))
    if until < item_start:
        assert periods == []
        return
    assert periods, "a started item always has a period"
    assert periods[0][0].start == item_start
    for i, (billed, whole) in enumerate(periods):
        assert billed.days > 0
        assert whole.start <= billed.start and billed.end == whole.end
        assert whole.end == advance(whole.start, length, anchor_day=cycle_day)
        if i:
            assert billed == whole
            assert billed.start == periods[i - 1][0].end
        if length.unit is PeriodUnit.MONTH:
            assert _cycle_date(whole.start, cycle_day) and _cycle_date(whole.end, cycle_day)
    last = periods[-1][0]
    assert last.start <= until < last.end  # the next period would start after `until`
    if length.unit is PeriodUnit.MONTH:
        assert periods[0][1] == cycle_period_containing(item_start, length, cycle_day)
    else:
        assert all(billed == whole for billed, whole in periods)


@settings(max_examples=200, deadline=None)
@given(
    year=st.integers(1990, 2090),
    month=st.integers(1, 12),
    anchor=st.integers(29, 31),
    steps=st.integers(1, 30),
)
def test_cycle_day_clamps_to_month_end_and_comes_back(
    year: int, month: int, anchor: int, steps: int
) -> None:
    current = add_months(date(year, month, 1), 0, anchor)
    for k in range(1, steps + 1):
        current = add_months(current, 1, anchor)
        month_length = calendar.monthrange(current.year, current.month)[1]
        assert current.day == min(anchor, month_length)
        assert current == add_months(date(year, month, 1), k, anchor)


def test_anchor_31_visits_february_end_then_march_31() -> None:
    for year, feb_end in ((2027, 28), (2028, 29)):
        d = date(year, 1, 31)
        visited = []
        for _ in range(3):
            d = add_months(d, 1, 31)
            visited.append(d)
        assert visited == [date(year, 2, feb_end), date(year, 3, 31), date(year, 4, 30)]


@settings(max_examples=200, deadline=None)
@given(d=starts, months=st.integers(-60, 60))
def test_add_months_round_trips_on_its_anchor(d: date, months: int) -> None:
    assert add_months(add_months(d, months), -months, d.day) == d


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    anchor=starts,
    length=lengths,
    cycle_day=cycle_days,
    currency=st.sampled_from(sorted(MINOR_UNITS)),
    units=st.integers(min_value=-(10**9), max_value=10**9),
    as_fraction=st.booleans(),
)
def test_prorated_parts_add_up_to_the_whole(
    data: st.DataObject,
    anchor: date,
    length: PeriodLength,
    cycle_day: int,
    currency: str,
    units: int,
    as_fraction: bool,
) -> None:
    whole = cycle_period_containing(anchor, length, cycle_day)
    if whole.days < 2:
        return
    n_cuts = data.draw(st.integers(1, min(3, whole.days - 1)), label="cuts")
    cuts = data.draw(
        st.lists(st.integers(1, whole.days - 1), min_size=n_cuts, max_size=n_cuts, unique=True),
        label="cut offsets",
    )
    edges = [whole.start] + [whole.start + timedelta(days=c) for c in sorted(cuts)] + [whole.end]
    parts = [ServicePeriod(a, b) for a, b in itertools.pairwise(edges)]
    unit = minor_unit(currency)
    price: Fraction | Decimal = Fraction(units, 7) if as_fraction else units * unit

    assert sum(prorate(price, part, whole) for part in parts) == Fraction(price)
    total = sum(prorated_amount(price, part, whole, currency) for part in parts)
    assert abs(total - round_exact(price, currency)) <= len(parts) * unit
