"""Pricing models (SPEC §11): amounts by hand, and properties checked with hypothesis."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billgraph.services.billing import periods
from billgraph.services.billing.pricing import (
    Pricing,
    PricingError,
    PricingModel,
    Tier,
    amount,
    check_pricing,
    tier_parts,
    tiers_from_json,
    tiers_to_json,
    volume_tier,
)

M = PricingModel
SEATS = (Tier(Decimal(100), Decimal("10.00")), Tier(None, Decimal("8.00"), Decimal("50.00")))


def test_tiered_120_seats_by_hand() -> None:
    # 100 × 10.00 + 20 × 8.00 + 50.00 (second tier's flat fee) = 1000 + 160 + 50 = 1210
    assert amount(Pricing(M.TIERED, tiers=SEATS), 120) == 1210
    assert tier_parts(SEATS, 120) == [1000, 210]


def test_volume_at_the_tier_boundary() -> None:
    # exactly 100: all in the first tier, 100 × 10.00 = 1000.00
    assert amount(Pricing(M.VOLUME, tiers=SEATS), 100) == 1000
    # 101: all in the second, 101 × 8.00 + 50.00 = 858.00
    assert amount(Pricing(M.VOLUME, tiers=SEATS), 101) == 858


def test_package_rounds_up() -> None:
    # 250 GB in packages of 100 at 5.00: ⌈2.5⌉ = 3 packages × 5.00 = 15.00
    assert amount(Pricing(M.PACKAGE, Decimal("5.00"), package_size=100), 250) == 15
    assert amount(Pricing(M.PACKAGE, Decimal("5.00"), package_size=100), Decimal("0.1")) == 5


def test_flat_fee_and_zero() -> None:
    assert amount(Pricing(M.FLAT_FEE, Decimal("30.00")), 7) == 30
    for model in M:
        assert amount(Pricing(model, Decimal(3), SEATS if model in (M.TIERED, M.VOLUME)
                              else (), 10 if model is M.PACKAGE else None), 0) == 0


def test_fractional_usage_is_graduated() -> None:
    # 100.5 GB: 100 × 10.00 + 0.5 × 8.00 + 50.00 = 1054.00
    assert amount(Pricing(M.TIERED, tiers=SEATS), Decimal("100.5")) == 1054


@pytest.mark.parametrize(("model", "tiers", "size", "field"), [
    (M.TIERED, None, None, "tiers"),
    (M.VOLUME, (Tier(Decimal(10), Decimal(1)),), None, "tiers[0].upTo"),
    (M.TIERED, (Tier(None, Decimal(1)), Tier(None, Decimal(1))), None, "tiers[0].upTo"),
    (M.TIERED, (Tier(Decimal(10), Decimal(1)), Tier(Decimal(10), Decimal(1)),
                Tier(None, Decimal(1))), None, "tiers[1].upTo"),
    (M.TIERED, (Tier(Decimal(0), Decimal(1)), Tier(None, Decimal(1))), None, "tiers[0].upTo"),
    (M.TIERED, (Tier(None, Decimal(-1)),), None, "tiers[0].unitPrice"),
    (M.VOLUME, (Tier(None, Decimal(1), Decimal("-0.01")),), None, "tiers[0].flatFee"),
    (M.PER_UNIT, SEATS, None, "tiers"),
    (M.PACKAGE, None, None, "packageSize"),
    (M.PACKAGE, None, 0, "packageSize"),
    (M.FLAT_FEE, None, 5, "packageSize"),
])
def test_invalid_parameters_name_the_field(model: PricingModel, tiers: tuple[Tier, ...] | None,
                                           size: int | None, field: str) -> None:
    with pytest.raises(PricingError) as caught:
        check_pricing(model, price=Decimal(1), tiers=tiers, package_size=size)
    assert caught.value.field == field


def test_tiers_round_trip_through_json() -> None:
    assert tiers_from_json(tiers_to_json(SEATS)) == SEATS


# ---------------------------------------------------------------- properties

money = st.decimals(min_value=0, max_value=1000, places=2, allow_nan=False)
quantities = st.decimals(min_value=0, max_value=5000, places=3, allow_nan=False)


@st.composite
def tier_lists(draw: st.DrawFn) -> tuple[Tier, ...]:
    bounds = sorted(draw(st.sets(st.integers(1, 2000), max_size=5)))
    tiers = [Tier(Decimal(b), draw(money), draw(money)) for b in bounds]
    return (*tiers, Tier(None, draw(money), draw(money)))


@given(tier_lists(), quantities)
def test_tiered_is_the_sum_of_its_tiers_parts(tiers: tuple[Tier, ...], q: Decimal) -> None:
    # Each tier's part computed on its own: the units of q inside (lower, upper], priced.
    expected = Fraction(0)
    lower = Fraction(0)
    for tier in tiers:
        top = Fraction(q) if tier.up_to is None else min(Fraction(q), Fraction(tier.up_to))
        units = max(Fraction(0), top - lower)
        if units > 0:
            expected += units * Fraction(tier.unit_price) + Fraction(tier.flat_fee)
        if tier.up_to is not None:
            lower = Fraction(tier.up_to)
    assert amount(Pricing(M.TIERED, tiers=tiers), q) == expected


@given(tier_lists(), quantities, quantities)
def test_tiered_never_decreases(tiers: tuple[Tier, ...], a: Decimal, b: Decimal) -> None:
    low, high = sorted((a, b))
    pricing = Pricing(M.TIERED, tiers=tiers)
    assert amount(pricing, low) <= amount(pricing, high)


@given(tier_lists(), quantities)
def test_volume_is_piecewise(tiers: tuple[Tier, ...], q: Decimal) -> None:
    # Inside each tier's range the amount is that tier's line unitPrice × q + flatFee.
    pricing = Pricing(M.VOLUME, tiers=tiers)
    if q == 0:
        assert amount(pricing, q) == 0
        return
    lower = Decimal(0)
    for tier in tiers:
        if tier.up_to is None or q <= tier.up_to:
            assert lower < q
            assert amount(pricing, q) == Fraction(tier.unit_price) * Fraction(q) + Fraction(
                tier.flat_fee)
            assert volume_tier(tiers, q) == tier
            return
        lower = tier.up_to
    raise AssertionError("no tier held the quantity")


@given(money, st.integers(1, 500), quantities)
def test_package_rounds_up_property(price: Decimal, size: int, q: Decimal) -> None:
    # The fewest whole packages that hold q: (n - 1) × size < q ≤ n × size.
    value = amount(Pricing(M.PACKAGE, price, package_size=size), q)
    n = next(n for n in range(0, 6000) if q <= n * size)
    assert value == Fraction(price) * n


@given(money, st.integers(0, 10_000),
       st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "QUARTERLY", "ANNUAL"]),
       st.sampled_from(["MONTHLY", "QUARTERLY", "WEEKLY"]))
def test_per_unit_is_todays_quantity_times_price(price: Decimal, q: int, price_period: str,
                                                 frequency: str) -> None:
    # Today's bill-run amount of a whole period: price_per_period(price) × quantity.
    pp, freq = periods.period_length(price_period, {}), periods.period_length(frequency, {})
    today = periods.price_per_period(price, pp, freq) * q
    factor = periods.price_per_period(Decimal(1), pp, freq)
    assert amount(Pricing(M.PER_UNIT, price), q) * factor == today
    assert amount(Pricing(M.PER_UNIT, price), q) == Fraction(price) * q
