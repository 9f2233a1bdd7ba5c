"""Discounts and taxes (SPEC §12), pure: amounts by hand and hypothesis properties."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from billgraph.services.billing.adjustments import (
    DiscountType,
    PeriodLine,
    SubscriptionDiscount,
    TaxProfile,
    TaxRate,
    discount_end,
    frozen_discount,
    line_discounts,
    line_taxes,
    spread,
    taxable_rates,
)
from billgraph.services.billing.periods import ServicePeriod
from billgraph.services.money import round_money

JAN = ServicePeriod(date(2026, 1, 1), date(2026, 2, 1))
PCT, FIXED = DiscountType.PERCENTAGE, DiscountType.FIXED_AMOUNT


def line(key: str, amount: str, code: str | None = "SEAT", span: ServicePeriod = JAN
         ) -> PeriodLine:
    return PeriodLine(key, code, Decimal(amount), span, JAN)


def test_fixed_15_over_10_and_30_by_hand() -> None:
    # 15 x 10/40 = 3.75, 15 x 30/40 = 11.25
    fixed = SubscriptionDiscount(FIXED, Decimal("15.00"), date(2026, 1, 1))
    assert line_discounts([line("a", "10.00"), line("b", "30.00")], [fixed], "USD") == {
        "a": Decimal("3.75"), "b": Decimal("11.25")}


def test_percentages_first_then_fixed_on_what_is_left() -> None:
    # 10 % of 50.00 = 5.00, then the fixed 20.00 on the 45.00 left; 10 % of 30.00 = 3.00,
    # but the discount is for SEAT only: SUPPORT keeps 0
    ten = SubscriptionDiscount(PCT, Decimal(10), date(2026, 1, 1))
    fixed = SubscriptionDiscount(FIXED, Decimal("20.00"), date(2026, 1, 1),
                                 product_codes=frozenset({"SEAT"}))
    got = line_discounts([line("a", "50.00"), line("b", "30.00", "SUPPORT")], [ten, fixed],
                         "USD")
    assert got == {"a": Decimal("25.00"), "b": Decimal("3.00")}


def test_rounding_remainder_goes_to_the_largest_line() -> None:
    # 0.10 over three equal lines: 0.0333 -> 0.03 each = 0.09; the 0.01 left goes to the
    # largest (the first of equals)
    assert spread(Decimal("0.10"), [Decimal(1), Decimal(1), Decimal(1)], "USD") == [
        Decimal("0.04"), Decimal("0.03"), Decimal("0.03")]


def test_durations_count_the_partial_first_period() -> None:
    # monthly, cycle day 1: Jan 16 is in January, so 3 periods are Jan, Feb, Mar
    assert discount_end(date(2026, 1, 16), 3, frequency="MONTHLY", cycle_day=1,
                        anchor=date(2026, 1, 1), custom={}) == date(2026, 3, 31)
    # cycle day 15: Jan 3 is in Dec 15..Jan 14; 2 periods end Feb 14
    assert discount_end(date(2026, 1, 3), 2, frequency="MONTHLY", cycle_day=15,
                        anchor=date(2026, 1, 3), custom={}) == date(2026, 2, 14)
    assert discount_end(date(2026, 1, 3), None, frequency="MONTHLY", cycle_day=15,
                        anchor=None, custom={}) is None


def test_applicable_rates() -> None:
    rates = [TaxRate("vat", Decimal(19), "DE"), TaxRate("by", Decimal("2.5"), "DE", "BY"),
             TaxRate("be", Decimal(3), "DE", "BE"), TaxRate("fr", Decimal(20), "FR"),
             TaxRate("old", Decimal(7), "DE", active=False)]
    assert [r.id for r in taxable_rates(rates, TaxProfile("DE", "BY"))] == ["vat", "by"]
    assert [r.id for r in taxable_rates(rates, TaxProfile("DE"))] == ["vat"]
    assert taxable_rates(rates, TaxProfile("DE", "BY", exempt=True)) == []
    assert taxable_rates(rates, TaxProfile(None)) == []
    # 26.66 x 19 % = 5.0654 -> 5.07, x 2.5 % = 0.6665 -> 0.67
    assert [t.amount for t in line_taxes(Decimal("26.66"), "SEAT", rates[:2], "USD")] == [
        Decimal("5.07"), Decimal("0.67")]


amounts = st.decimals(min_value=0, max_value=10_000, places=2)


@given(st.lists(amounts, min_size=1, max_size=6), amounts)
def test_spread_sums_exactly_and_never_exceeds_a_line(weights: list[Decimal],
                                                      fixed: Decimal) -> None:
    shares = spread(fixed, weights, "USD")
    assert sum(shares) == min(fixed, sum(weights)) or sum(weights) == 0
    assert all(Decimal(0) <= s <= w for s, w in zip(shares, weights, strict=True))


@given(st.lists(amounts, min_size=1, max_size=5),
       st.lists(st.decimals(min_value=Decimal("0.01"), max_value=100, places=2), max_size=3),
       st.lists(amounts, max_size=3), st.integers(min_value=0, max_value=30))
def test_a_discount_never_exceeds_its_line(values: list[Decimal], percentages: list[Decimal],
                                           fixed: list[Decimal], offset: int) -> None:
    start = date(2026, 1, 1) + timedelta(days=offset)
    discounts = [SubscriptionDiscount(PCT, p, start) for p in percentages]
    discounts += [SubscriptionDiscount(FIXED, f, start) for f in fixed if f > 0]
    lines = [line(str(i), str(v)) for i, v in enumerate(values)]
    got = line_discounts(lines, discounts, "USD")
    for ln in lines:
        assert Decimal(0) <= got[ln.key] <= ln.amount
        assert got[ln.key] == round_money(got[ln.key], "USD")


@given(st.lists(amounts, min_size=1, max_size=5), amounts,
       st.integers(min_value=0, max_value=30))
def test_the_fixed_amount_is_spread_exactly_prorated(values: list[Decimal], fixed: Decimal,
                                                     offset: int) -> None:
    # served from Jan 1 + offset: the fixed amount is prorated by (31 - offset)/31
    span = ServicePeriod(date(2026, 1, 1) + timedelta(days=offset), JAN.end)
    lines = [line(str(i), str(v), span=span) for i, v in enumerate(values)]
    got = line_discounts(lines, [SubscriptionDiscount(FIXED, fixed, date(2026, 1, 1))], "USD")
    prorated = round_money(fixed * span.days / 31, "USD")
    assert sum(got.values()) == min(prorated, sum(values))


@given(amounts, st.decimals(min_value=0, max_value=100, places=3))
def test_tax_is_rounded_per_line_and_rate(net: Decimal, percentage: Decimal) -> None:
    [tax] = line_taxes(net, None, [TaxRate("r", percentage, "DE")], "USD")
    assert tax.amount == round_money(net * percentage / 100, "USD")
    [yen] = line_taxes(net.to_integral_value(), None, [TaxRate("r", percentage, "JP")], "JPY")
    assert yen.amount == round_money(net.to_integral_value() * percentage / 100, "JPY")


@given(amounts, amounts, st.integers(min_value=0, max_value=100))
def test_a_full_credit_reverses_the_discount_exactly(billed: Decimal, discount: Decimal,
                                                     kept: int) -> None:
    discount = min(discount, billed)
    assert frozen_discount(Decimal(0), billed, discount, "USD") == 0
    should = round_money(billed * kept / 100, "USD")
    share = frozen_discount(should, billed, discount, "USD")
    assert Decimal(0) <= share <= should
