"""Pricing models (SPEC §11): what a quantity costs under a charge's model. Pure.

``amount(pricing, quantity)`` is the one implementation bill runs, MRR and usage
summaries call (and discounts/taxes build on): an exact ``Fraction`` per price period,
never rounded here — callers scale it to the billing frequency, prorate it and round
once, half-up, to the currency (``money.round_exact``).

* PER_UNIT — quantity × price (what every charge did before pricing models).
* FLAT_FEE — the price whatever the quantity; nothing for quantity 0.
* TIERED (graduated) — tiers with ascending inclusive ``up_to`` bounds, the last one
  open (``None``). Each unit is priced by the tier it falls in (units ``(previous
  up_to, up_to]``), and every tier the quantity reaches adds its ``flat_fee``.
  120 seats on 1–100 at 10.00, 101+ at 8.00 with flat fee 50.00 on the second tier:
  100 × 10 + 20 × 8 + 50 = 1210.
* VOLUME — every unit at the unit price of the one tier the whole quantity falls in,
  plus that tier's flat fee: 101 units on the tiers above cost 101 × 8 + 50 = 858.
* PACKAGE — price × ⌈quantity ÷ package_size⌉: 250 GB in packages of 100 is 3 packages.

A quantity of 0 costs nothing under every model (no tier is reached). Quantities are
``Decimal`` or ``int`` (usage may be fractional: 0.5 GB).

``check_pricing`` validates a model's parameters (SPEC §11) and raises
``PricingError`` with the field at fault relative to the charge (``tiers[2].upTo``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

from billgraph.services.billing.values import quick_init

__all__ = [
    "Pricing",
    "PricingError",
    "PricingModel",
    "Tier",
    "amount",
    "check_pricing",
    "stored",
    "tier_parts",
    "tiers_from_json",
    "tiers_to_json",
    "volume_tier",
]


class PricingModel(StrEnum):
    PER_UNIT = "PER_UNIT"
    FLAT_FEE = "FLAT_FEE"
    TIERED = "TIERED"
    VOLUME = "VOLUME"
    PACKAGE = "PACKAGE"


TIER_MODELS = (PricingModel.TIERED, PricingModel.VOLUME)


class PricingError(ValueError):
    """Invalid pricing parameters; ``field`` is relative to the charge (``tiers[1].upTo``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Tier:
    """A tier: units up to ``up_to`` (inclusive; ``None`` on the open last tier)."""

    up_to: Decimal | None
    unit_price: Decimal
    flat_fee: Decimal = Decimal(0)


@quick_init
@dataclass(frozen=True)
class Pricing:
    """A charge's pricing model and its parameters (``price`` is unused by TIERED and
    VOLUME, whose prices are their tiers')."""

    model: PricingModel = PricingModel.PER_UNIT
    price: Decimal = Decimal(0)
    tiers: tuple[Tier, ...] = ()
    package_size: int | None = None



def tier_parts(tiers: Sequence[Tier], quantity: Decimal | int) -> list[Fraction]:
    """Graduated pricing, tier by tier: the part of each tier ``quantity`` reaches (its
    units × its unit price + its flat fee); tiers not reached are left out."""
    q = Fraction(quantity)
    parts: list[Fraction] = []
    below = Fraction(0)
    for tier in tiers:
        if q <= below:
            break
        top = q if tier.up_to is None else min(q, Fraction(tier.up_to))
        parts.append((top - below) * Fraction(tier.unit_price) + Fraction(tier.flat_fee))
        if tier.up_to is None:
            break
        below = Fraction(tier.up_to)
    return parts


def volume_tier(tiers: Sequence[Tier], quantity: Decimal | int) -> Tier:
    """The tier the whole ``quantity`` falls in: the first whose ``up_to`` holds it."""
    for tier in tiers:
        if tier.up_to is None or quantity <= tier.up_to:
            return tier
    raise ValueError("tiers must end with an open tier (upTo null)")


def amount(pricing: Pricing, quantity: Decimal | int) -> Fraction:
    """What ``quantity`` costs per price period under ``pricing``: exact, unrounded."""
    if quantity < 0:
        raise ValueError("a quantity cannot be negative")
    if quantity == 0:
        return Fraction(0)
    model = pricing.model
    if model is PricingModel.PER_UNIT:
        return Fraction(pricing.price) * Fraction(quantity)
    if model is PricingModel.FLAT_FEE:
        return Fraction(pricing.price)
    if model is PricingModel.TIERED:
        return sum(tier_parts(pricing.tiers, quantity), Fraction(0))
    if model is PricingModel.VOLUME:
        tier = volume_tier(pricing.tiers, quantity)
        return Fraction(tier.unit_price) * Fraction(quantity) + Fraction(tier.flat_fee)
    if model is PricingModel.PACKAGE:
        if not pricing.package_size:
            raise ValueError("PACKAGE pricing needs a package size")
        packages = math.ceil(Fraction(quantity) / pricing.package_size)
        return Fraction(pricing.price) * packages
    raise ValueError(f"unknown pricing model {model!r}")


def check_pricing(model: PricingModel, *, price: Decimal, tiers: Sequence[Tier] | None,
                  package_size: int | None) -> Pricing:
    """The validated ``Pricing`` (SPEC §11) or ``PricingError`` naming the field:
    tiers only on TIERED/VOLUME, ascending positive ``upTo`` with only the last open,
    no negative prices or fees; a package size ≥ 1 on PACKAGE only."""
    if price < 0:
        raise PricingError("price", "must not be negative")
    if model in TIER_MODELS:
        if not tiers:
            raise PricingError("tiers", f"{model} pricing needs at least one tier")
        _check_tiers(tiers)
    elif tiers:
        raise PricingError("tiers", f"{model} pricing takes no tiers")
    if model is PricingModel.PACKAGE:
        if package_size is None:
            raise PricingError("packageSize", "PACKAGE pricing needs a packageSize")
        if package_size < 1:
            raise PricingError("packageSize", "must be at least 1")
    elif package_size is not None:
        raise PricingError("packageSize", f"{model} pricing takes no packageSize")
    return Pricing(model=model, price=price, tiers=tuple(tiers or ()),
                   package_size=package_size)


def _check_tiers(tiers: Sequence[Tier]) -> None:
    below = Decimal(0)
    last = len(tiers) - 1
    for i, tier in enumerate(tiers):
        at = f"tiers[{i}]"
        if tier.unit_price < 0:
            raise PricingError(f"{at}.unitPrice", "must not be negative")
        if tier.flat_fee < 0:
            raise PricingError(f"{at}.flatFee", "must not be negative")
        if tier.up_to is None:
            if i != last:
                raise PricingError(f"{at}.upTo", "only the last tier is open (upTo null); "
                                                 "give this tier its upper bound")
            continue
        if i == last:
            raise PricingError(f"{at}.upTo", "the last tier must be open: upTo null")
        if tier.up_to <= below:
            raise PricingError(f"{at}.upTo", f"must be greater than {below} (the previous "
                                             "tier's upTo): tiers ascend")
        below = tier.up_to


def tiers_to_json(tiers: Sequence[Tier]) -> list[dict[str, str | None]]:
    """Tiers as stored (jsonb): decimals as strings, so nothing passes through a float."""
    return [{"upTo": None if t.up_to is None else str(t.up_to),
             "unitPrice": str(t.unit_price), "flatFee": str(t.flat_fee)} for t in tiers]


def stored(model: str | None, price: Decimal, tiers: Sequence[Mapping[str, Any]] | None,
           package_size: int | None) -> Pricing:
    """The ``Pricing`` of a stored plan charge (columns pricing_model, tiers, package_size)
    with ``price`` (the item's price: the plan's unless overridden)."""
    return Pricing(model=PricingModel(model or "PER_UNIT"), price=price,
                   tiers=tiers_from_json(tiers), package_size=package_size)


def tiers_from_json(stored: Sequence[Mapping[str, Any]] | None) -> tuple[Tier, ...]:
    return tuple(Tier(up_to=None if t.get("upTo") is None else Decimal(t["upTo"]),
                      unit_price=Decimal(t["unitPrice"]),
                      flat_fee=Decimal(t.get("flatFee") or 0)) for t in stored or ())
