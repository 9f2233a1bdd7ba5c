"""Tests for currency-aware rounding and parsing."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billgraph.services.money import (
    MINOR_UNITS,
    is_currency,
    minor_unit,
    minor_units,
    parse_money,
    round_exact,
    round_money,
)

CURRENCIES = sorted(MINOR_UNITS)


def test_minor_units_of_exceptional_currencies() -> None:
    zero = "JPY KRW VND CLP ISK UGX XAF XOF XPF PYG RWF KMF GNF DJF BIF VUV".split()
    three = "BHD IQD JOD KWD LYD OMR TND".split()
    assert all(MINOR_UNITS[c] == 0 for c in zero)
    assert all(MINOR_UNITS[c] == 3 for c in three)
    assert MINOR_UNITS["CLF"] == MINOR_UNITS["UYW"] == 4
    assert MINOR_UNITS["USD"] == MINOR_UNITS["EUR"] == MINOR_UNITS["GBP"] == 2


def test_table_holds_only_active_billable_codes() -> None:
    assert len(MINOR_UNITS) > 150
    assert all(len(c) == 3 and c.isalpha() and c.isupper() for c in MINOR_UNITS)
    assert set(MINOR_UNITS.values()) == {0, 2, 3, 4}
    for not_billable in ("XAU", "XDR", "XTS", "XXX", "HRK", "VEF"):
        assert not is_currency(not_billable)


def test_unknown_currency_is_value_error() -> None:
    assert is_currency("USD")
    assert not is_currency("usd")
    assert not is_currency("ABC")
    with pytest.raises(ValueError, match="ABC"):
        minor_units("ABC")
    with pytest.raises(ValueError):
        round_money(Decimal("1"), "ABC")


def test_round_money_pads_to_minor_units() -> None:
    assert str(round_money(Decimal("10"), "USD")) == "10.00"
    assert str(round_money(Decimal("10"), "JPY")) == "10"
    assert str(round_money(Decimal("1.2"), "KWD")) == "1.200"
    assert str(round_money(Decimal("1.23456"), "CLF")) == "1.2346"
    assert minor_unit("USD") == Decimal("0.01")
    assert minor_unit("JPY") == Decimal("1")


def test_round_money_jpy_has_no_decimals() -> None:
    assert round_money(Decimal("1234.4"), "JPY") == Decimal("1234")
    assert round_money(Decimal("1234.5"), "JPY") == Decimal("1235")


def test_round_money_half_up_on_exact_half() -> None:
    assert round_money(Decimal("0.005"), "USD") == Decimal("0.01")
    assert round_money(Decimal("2.675"), "USD") == Decimal("2.68")
    assert round_money(Decimal("0.0049999"), "USD") == Decimal("0.00")
    # away from zero for credits
    assert round_money(Decimal("-0.005"), "USD") == Decimal("-0.01")
    assert round_money(Decimal("-2.675"), "USD") == Decimal("-2.68")


def test_round_money_rejects_non_finite() -> None:
    for bad in ("NaN", "Infinity", "-Infinity"):
        with pytest.raises(ValueError):
            round_money(Decimal(bad), "USD")


def test_round_money_handles_large_amounts() -> None:
    big = Decimal("123456789012345678901234567890.125")
    assert round_money(big, "USD") == Decimal("123456789012345678901234567890.13")


def test_round_exact_uses_the_exact_value() -> None:
    assert round_exact(Fraction(1, 200), "USD") == Decimal("0.01")  # exactly half a cent
    assert round_exact(Fraction(-1, 200), "USD") == Decimal("-0.01")
    assert round_exact(Fraction(1, 3), "USD") == Decimal("0.33")
    assert round_exact(Fraction(2, 3), "JPY") == Decimal("1")
    assert round_exact(Fraction(-1, 1000), "USD") == Decimal("0.00")
    assert str(round_exact(Fraction(120, 52), "USD")) == "2.31"
    assert str(round_exact(7, "BHD")) == "7.000"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12.50", Decimal("12.50")),
        ("-3", Decimal("-3")),
        (" 1e2 ", Decimal("100")),
        ("0", Decimal(0)),
    ],
)
def test_parse_money_accepts_numbers(text: str, expected: Decimal) -> None:
    assert parse_money(text) == expected


@pytest.mark.parametrize(
    "text", ["NaN", "nan", "sNaN", "Infinity", "-inf", "", "abc", "1,00", "1.2.3"]
)
def test_parse_money_rejects_non_numbers(text: str) -> None:
    with pytest.raises(ValueError):
        parse_money(text)


amounts = st.builds(
    lambda units, places: Decimal(units).scaleb(-places),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.integers(min_value=0, max_value=8),
)


@settings(max_examples=200, deadline=None)
@given(amount=amounts, currency=st.sampled_from(CURRENCIES))
def test_round_money_idempotent_and_within_half_unit(amount: Decimal, currency: str) -> None:
    rounded = round_money(amount, currency)
    assert round_money(rounded, currency) == rounded
    assert rounded.as_tuple().exponent == -minor_units(currency)
    assert abs(rounded - amount) * 2 <= minor_unit(currency)
    assert round_exact(amount, currency) == rounded
