"""Currency-aware money arithmetic for billing.

Amounts are ``Decimal`` (or exact ``Fraction`` while a computation is still in
progress). An amount is *rounded once*, at the end, to its currency's minor
unit -- the smallest unit that can appear on an invoice (a cent for USD, a
whole yen for JPY, a fils for KWD).

Rounding is ROUND_HALF_UP: a value exactly half-way between two minor units
goes to the one further from zero. For negatives (credits, refunds) that means
``-0.005`` USD becomes ``-0.01``, mirroring ``0.005`` -> ``0.01``, so a credit
is always the exact negative of the matching charge.
"""

from __future__ import annotations

import functools
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext
from fractions import Fraction

__all__ = [
    "MINOR_UNITS",
    "is_currency",
    "minor_unit",
    "minor_units",
    "parse_money",
    "round_exact",
    "round_money",
]

_ZERO_DIGIT = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split()
_THREE_DIGIT = "BHD IQD JOD KWD LYD OMR TND".split()
_FOUR_DIGIT = "CLF UYW".split()
_TWO_DIGIT = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV "
    "BRL BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK "
    "DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL "
    "HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL "
    "MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO "
    "NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK "
    "SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS "
    "UAH USD USN UYU UZS VED VES WST XAD XCD XCG YER ZAR ZMW ZWG"
).split()

#: Active ISO 4217 codes (List One) -> number of minor-unit digits, i.e. how
#: many decimal places an invoiced amount in that currency has. Codes whose
#: minor unit is "N.A." (precious metals XAU/XAG/XPT/XPD, SDR XDR, bond units
#: XBA..XBD, XSU, XUA, testing XTS, no-currency XXX) are not billable and are
#: left out. UYI (Uruguayan indexed peso) has 0 digits per ISO 4217.
MINOR_UNITS: dict[str, int] = {
    **{code: 2 for code in _TWO_DIGIT},
    **{code: 0 for code in _ZERO_DIGIT},
    **{code: 3 for code in _THREE_DIGIT},
    **{code: 4 for code in _FOUR_DIGIT},
}


def is_currency(code: str) -> bool:
    """Whether ``code`` is an active ISO 4217 code we can bill in.

    Codes are matched exactly: ISO codes are upper-case, so ``"usd"`` is not one.
    """
    return code in MINOR_UNITS


def minor_units(code: str) -> int:
    """Decimal places of ``code``'s minor unit (2 for USD, 0 for JPY, 3 for KWD).

    Raises ``ValueError`` (not ``KeyError``) for an unknown code.
    """
    try:
        return MINOR_UNITS[code]
    except KeyError:
        raise ValueError(f"unknown ISO 4217 currency code: {code!r}") from None


@functools.cache  # (a bill run rounds every line several times)
def minor_unit(code: str) -> Decimal:
    """The smallest invoiceable amount of ``code``: ``0.01`` USD, ``1`` JPY."""
    return Decimal(f"1E-{minor_units(code)}")


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round ``amount`` half-up (away from zero) to ``currency``'s minor unit.

    The result always carries exactly the currency's decimal places:
    ``round_money(Decimal("10"), "USD") == Decimal("10.00")`` (and prints so),
    ``round_money(Decimal("10.5"), "JPY") == Decimal("11")``. Raises
    ``ValueError`` for an unknown currency or a NaN/infinite amount.
    """
    digits = minor_units(currency)
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {amount!r}")
    if amount.as_tuple().exponent == -digits:
        return amount  # already in minor units: quantize would return it unchanged
    # Enough precision that quantize can never fail on a large amount.
    prec = max(28, amount.adjusted() + digits + 2)
    with localcontext(Context(prec=prec, traps=[InvalidOperation])):
        return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def round_exact(value: Fraction | Decimal | int, currency: str) -> Decimal:
    """Round an exact value (typically a ``Fraction`` such as a prorated price)
    half-up, away from zero, to ``currency``'s minor unit.

    The rounding decision is made on the exact value with integer arithmetic,
    so a value like 1/200 USD is recognised as exactly half a cent and becomes
    ``0.01`` -- no intermediate decimal approximation can tip it either way.
    For a ``Decimal`` input the result equals ``round_money``.
    """
    digits = minor_units(currency)
    exact = Fraction(value)  # ValueError for NaN / infinity
    scaled = exact * 10**digits
    units, remainder = divmod(abs(scaled.numerator), scaled.denominator)
    if 2 * remainder >= scaled.denominator:
        units += 1
    sign = "-" if scaled < 0 and units else ""
    return Decimal(f"{sign}{units}E-{digits}")


def parse_money(value: str) -> Decimal:
    """Parse a money amount from text (an API field, a CSV cell).

    Accepts anything ``Decimal`` reads as a finite number ("12.50", "-3",
    " 1e2 "); raises ``ValueError`` for NaN, Infinity, or non-numeric text.
    The value is *not* rounded: pass it to ``round_money`` for that.
    """
    if not isinstance(value, str):
        raise TypeError(f"expected a string amount, got {type(value).__name__}")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    return amount
