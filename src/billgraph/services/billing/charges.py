"""What a bill run invoices: the exact, self-correcting charge of every item and period.

Pure: facts in (an item, its subscription's terms, what the ledger says was already
billed), charges out. No database, no clock.

For each service period of an item that starts on or before the target date, the
amount that *should* have been billed is computed from the facts as they are now,
compared with the sum already billed for that (item, period) and only the
difference becomes a charge: a positive one for new periods (or more service than
billed), a negative one — a prorated credit — when an item ended, or a suspension
was added, inside a period that was already billed. So the same facts billed twice
give nothing new, and billing through several increasing target dates sums to
billing once through the last.

Rules (SPEC §4, §6):

* RECURRING items bill in advance, one charge per service period
  (``periods.service_periods``: month-based periods aligned to the billing cycle
  day, the first one partial; day/week-based ones from the item's start). Periods
  of several months are the subscription's (counted from its start), so an item
  added mid-quarter is co-termed with the others. The price per period is
  ``periods.price_per_period`` of the item's price.
* A period is prorated by days (``periods.prorate``) when the item ends inside it
  (end date exclusive), and suspended days are cut out of it.
* Concurrent-usage pricing replaces the quantity of a recurring item by the billed
  quantity (installed items, the capacity, or the highest usage reported inside
  the period capped at the capacity) and scales the price by ratePercentage/100.
* ONE_TIME charges, and every item of a ONE_TIME scheme subscription, bill once,
  price x quantity, in the period of their start. Suspensions do not affect them.
* Every amount of a quantity is the item's pricing model (``pricing.amount``, SPEC
  §11: PER_UNIT, FLAT_FEE, TIERED, VOLUME, PACKAGE) of that quantity per price period;
  a recurring period pays that amount scaled to the billing frequency, then prorated.
  PER_UNIT is price x quantity exactly as before pricing models.
* USAGE items bill in arrears (``usage_charges``): a service period (the same periods
  as a recurring item's) once the target date is after its last day, at the pricing
  model of the period's usage aggregated by the charge's aggregation
  (``metering.aggregate``), unprorated. A record arriving after its period was billed
  is billed by the next run as model(new total) - billed, like any difference.
* Amounts stay exact (``Fraction``) and are rounded once per charge, half-up, to
  the invoice owner's currency (``money.round_exact``).
* A period belongs to the invoice owner effective on its first day.
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

from billgraph.services.billing import metering, periods, pricing
from billgraph.services.billing.metering import UsageDay
from billgraph.services.billing.periods import CustomPeriods, ServicePeriod
from billgraph.services.billing.pricing import Pricing, PricingModel
from billgraph.services.billing.values import quick_init
from billgraph.services.money import round_exact

__all__ = [
    "Billed",
    "Charge",
    "ChargeError",
    "ConcurrentUsage",
    "Item",
    "Terms",
    "UsagePeriod",
    "item_charges",
    "usage_charges",
    "usage_periods",
]

RECURRING = "RECURRING"
ONE_TIME = "ONE_TIME"
USAGE = "USAGE"
INSTALLED = "BASED_ON_NUMBER_OF_INSTALLED_ITEMS"
MAXIMUM = "BASED_ON_MAXIMUM_CAPACITY"
ACTUAL = "BASED_ON_ACTUAL_CAPACITY"
ONE_DAY = timedelta(days=1)


class ChargeError(ValueError):
    """A subscription that cannot be billed as it stands (its terms are incomplete)."""


@dataclass(frozen=True)
class ConcurrentUsage:
    """Concurrent-usage based pricing of a subscription's recurring items."""

    method: str
    concurrent_usage: int
    rate_percentage: Decimal
    installed_items: int | None = None


@quick_init
@dataclass(frozen=True)
class Terms:
    """A subscription's billing terms and history, as the bill run needs them.

    ``owners``: (effective date, invoice owner) in ascending date order;
    ``suspensions``: [suspend, resume) with resume None while open;
    ``usage``: reported (day, concurrent usage) in ascending date order.
    """

    subscription_id: uuid.UUID
    subscription_number: str
    invoice_owner_id: uuid.UUID
    cycle_day: int
    billing_frequency: str | None
    one_time: bool = False
    concurrent: ConcurrentUsage | None = None
    owners: tuple[tuple[date, uuid.UUID], ...] = ()
    suspensions: tuple[tuple[date, date | None], ...] = ()
    usage: tuple[tuple[date, int], ...] = ()
    start_date: date | None = None  # the subscription's: where its periods are counted from

    def invoice_owner_on(self, day: date) -> uuid.UUID:
        """The invoice owner effective on ``day``: the latest owner change on or
        before it, else the subscription's invoice owner."""
        i = bisect.bisect_right(self.owners, day, key=lambda o: o[0])
        return self.owners[i - 1][1] if i else self.invoice_owner_id

    def peak_usage(self, span: ServicePeriod) -> int:
        """The highest concurrent usage reported for a day of ``span`` (0 if none)."""
        lo = bisect.bisect_left(self.usage, span.start, key=lambda u: u[0])
        hi = bisect.bisect_left(self.usage, span.end, key=lambda u: u[0])
        return max((u[1] for u in self.usage[lo:hi]), default=0)


@quick_init
@dataclass(frozen=True)
class Item:
    """A subscription item: ``end_date`` is exclusive (None: open-ended).

    ``pricing``: its charge's pricing model with the item's price (None: PER_UNIT);
    ``aggregation`` and ``usage`` (its records per UTC day, ascending): USAGE items."""

    id: uuid.UUID
    subscription_id: uuid.UUID
    product_id: uuid.UUID
    product_name: str
    charge_type: str
    quantity: int
    price: Decimal
    price_period: str
    start_date: date
    end_date: date | None = None
    pricing: Pricing | None = None
    aggregation: str = metering.UsageAggregation.SUM
    usage: tuple[UsageDay, ...] = ()

    @property
    def model(self) -> Pricing:
        return self.pricing if self.pricing is not None else Pricing(price=self.price)

    @property
    def model_name(self) -> PricingModel:
        """`model`'s name, without making a Pricing (one per invoice line)."""
        return self.pricing.model if self.pricing is not None else PricingModel.PER_UNIT


@quick_init
@dataclass(frozen=True)
class Billed:
    """What the ledger holds for one (item, period): the sum billed on invoices
    that are not canceled, and the highest revision written (canceled or not)."""

    amount: Decimal
    revision: int


@quick_init
@dataclass(frozen=True)
class Charge:
    """One invoice line and its ledger entry (``period_start``, ``revision``)."""

    item_id: uuid.UUID
    subscription_id: uuid.UUID
    product_id: uuid.UUID
    invoice_owner_id: uuid.UUID
    period_start: date
    revision: int
    service_start: date
    service_end: date  # inclusive, as printed
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    description: str
    charge_type: str = RECURRING
    pricing_model: str = pricing.PricingModel.PER_UNIT


def _billable_pieces(part: ServicePeriod, item: Item, terms: Terms) -> list[ServicePeriod]:
    """The days of ``part`` the item is in service and the subscription not suspended."""
    span = periods.clip(part, None, item.end_date)
    if span is None:
        return []
    pieces = [span]
    for suspend, resume in terms.suspensions:
        cut: list[ServicePeriod] = []
        for piece in pieces:
            before = periods.clip(piece, None, suspend)
            after = periods.clip(piece, resume, None) if resume is not None else None
            cut.extend(p for p in (before, after) if p is not None)
        pieces = cut
    return pieces


def _description(item: Item, terms: Terms, kind: str) -> str:
    text = f"{item.product_name} ({terms.subscription_number})"
    return f"{kind}: {text}" if kind else text


@quick_init
@dataclass(frozen=True)
class _Piece:
    """A charge without the item it belongs to: what the same billing inputs give any item
    (`_stamp` adds the item's ids, invoice owner and description)."""

    period_start: date
    revision: int
    service_start: date
    service_end: date
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    kind: str  # "", "Adjustment" or "Credit": the description's prefix


def _piece(billed: Mapping[date, Billed], key: date, should: Decimal,
           shown: tuple[date, date], credit_shown: tuple[date, date],
           quantity: int | Decimal, unit_price: Decimal) -> _Piece | None:
    before = billed.get(key)
    already = before.amount if before is not None else Decimal(0)
    delta = should - already
    if delta == 0:
        return None
    if delta < 0:
        kind, (start, end) = "Credit", credit_shown
    else:
        kind, (start, end) = ("Adjustment" if already else ""), shown
    return _Piece(key, (before.revision if before is not None else 0) + 1, start, end,
                  Decimal(quantity), unit_price, delta, kind)


def _stamp(item: Item, terms: Terms, piece: _Piece) -> Charge:
    return Charge(
        item_id=item.id, subscription_id=item.subscription_id, product_id=item.product_id,
        invoice_owner_id=terms.invoice_owner_on(piece.period_start),
        period_start=piece.period_start, revision=piece.revision,
        service_start=piece.service_start, service_end=piece.service_end,
        quantity=piece.quantity, unit_price=piece.unit_price, amount=piece.amount,
        description=_description(item, terms, piece.kind), charge_type=item.charge_type,
        pricing_model=item.model_name)


def _charge(item: Item, terms: Terms, billed: Mapping[date, Billed], key: date,
            should: Decimal, shown: tuple[date, date], credit_shown: tuple[date, date],
            quantity: int | Decimal, unit_price: Decimal) -> Charge | None:
    piece = _piece(billed, key, should, shown, credit_shown, quantity, unit_price)
    return None if piece is None else _stamp(item, terms, piece)


def _quantity_and_rate(item: Item, terms: Terms,
                       span: ServicePeriod | None) -> tuple[int, Fraction]:
    """Billed quantity and price factor; ``span`` is where usage is looked up."""
    cu = terms.concurrent
    if cu is None or item.charge_type != RECURRING:
        return item.quantity, Fraction(1)
    rate = Fraction(cu.rate_percentage) / 100
    if cu.method == MAXIMUM:
        return cu.concurrent_usage, rate
    if cu.method == ACTUAL:
        peak = terms.peak_usage(span) if span is not None else 0
        return min(peak, cu.concurrent_usage), rate
    if cu.installed_items is None:
        raise ChargeError(f"subscription {terms.subscription_number} is billed on the number "
                          "of installed items but has no numberOfInstalledItems")
    return cu.installed_items, rate


def _length(name: str, custom: CustomPeriods, terms: Terms) -> periods.PeriodLength:
    try:
        return periods.period_length(name, custom)
    except periods.UndefinedCustomPeriod as error:
        raise ChargeError(f"subscription {terms.subscription_number}: {error}") from None


def _once(item: Item, terms: Terms, custom: CustomPeriods, target: date, currency: str,
          billed: Mapping[date, Billed]) -> list[Charge]:
    """A charge billed once, at its start, price x quantity."""
    key = item.start_date
    if key > target:
        return []
    if terms.one_time or terms.billing_frequency is None:
        shown = (key, key)
    else:
        length = _length(terms.billing_frequency, custom, terms)
        first, _ = next(_service_periods(item, terms, length, key))
        shown = (first.start, first.last_day)
    in_service = item.end_date is None or item.end_date > item.start_date
    quantity, rate = _quantity_and_rate(item, terms, ServicePeriod(key, key + ONE_DAY))
    whole = pricing.amount(item.model, quantity) * rate
    should = round_exact(whole, currency) if in_service else Decimal(0)
    charge = _charge(item, terms, billed, key, should, shown, shown, quantity,
                     _unit_price(item.model, whole, Fraction(item.price) * rate, quantity,
                                 currency))
    return [charge] if charge is not None else []


@lru_cache(maxsize=256)  # the items of a batch mostly share their start and cycle day
def _periods(item_start: date, length: periods.PeriodLength, cycle_day: int,
             until: date) -> tuple[tuple[ServicePeriod, ServicePeriod], ...]:
    return tuple(periods.service_periods(item_start, length, cycle_day, until))


def _service_periods(item: Item, terms: Terms, length: periods.PeriodLength,
                     until: date) -> Iterator[tuple[ServicePeriod, ServicePeriod]]:
    """``periods.service_periods`` of the item, except that periods of several months
    (QUARTERLY, ...) are those of the subscription: an item added in the middle of a
    quarter bills the rest of that quarter, then quarters along with the others."""
    anchor = terms.start_date
    if length.unit is not periods.PeriodUnit.MONTH or length.count == 1 or (
            anchor is None or anchor >= item.start_date):
        yield from _periods(item.start_date, length, terms.cycle_day, until)
        return
    whole = periods.cycle_period_containing(item.start_date, length, terms.cycle_day, anchor)
    part = ServicePeriod(item.start_date, whole.end)
    while part.start <= until:
        yield part, whole
        whole = ServicePeriod(whole.end,
                              periods.advance(whole.end, length, anchor_day=terms.cycle_day))
        part = whole


@lru_cache(maxsize=4096)
def _per_period(price: Decimal, price_period: periods.PeriodLength,
                length: periods.PeriodLength) -> Fraction:
    return periods.price_per_period(price, price_period, length)


@lru_cache(maxsize=4096)
def _round(value: Fraction, currency: str) -> Decimal:
    return round_exact(value, currency)


def _unit_price(model: pricing.Pricing, whole: Fraction, per_unit: Fraction,
                quantity: int | Decimal, currency: str) -> Decimal:
    """The line's unit price: the price (per billing period) under PER_UNIT, else the
    average of the whole period's model amount over the quantity."""
    if model.model is pricing.PricingModel.PER_UNIT or not quantity:
        return _round(per_unit, currency)
    return _round(whole / Fraction(quantity), currency)


@lru_cache(maxsize=4096)
def _period_prices(model: pricing.Pricing, price: Decimal, quantity: int | Decimal,
                   factor: Fraction, rate: Fraction,
                   currency: str) -> tuple[Fraction, Decimal, Decimal]:
    """A recurring item's whole-period amount (exact and rounded) and unit price: the
    same for every item of the same pricing, quantity and billing period."""
    amount = pricing.amount(model, quantity) * factor * rate
    return (amount, _round(amount, currency),
            _unit_price(model, amount, factor * Fraction(price) * rate, quantity, currency))


def _recurring_pieces(item: Item, terms: Terms, length: periods.PeriodLength,
                      price_length: periods.PeriodLength, target: date, currency: str,
                      billed: Mapping[date, Billed]) -> tuple[_Piece, ...]:
    """A recurring item's charges without its ids: what `_recurring` keys by `_shape`."""
    factor = _per_period(Decimal(1), price_length, length)
    model = item.model
    end = item.end_date
    until = target
    if end is not None:
        # Periods after the end are only looked at when something was billed for them.
        until = min(target, max([end - ONE_DAY, *billed]))
    # Usage (actual capacity) varies by period; everything else is the same for each.
    varying = terms.concurrent is not None and terms.concurrent.method == ACTUAL
    quantity, rate = _quantity_and_rate(item, terms, None) if not varying else (0, Fraction(0))
    amount, whole_amount, unit_price = _period_prices(  # of a whole period
        model, item.price, quantity, factor, rate, currency)
    plain = not terms.suspensions
    pieces_out: list[_Piece] = []
    for part, whole in _service_periods(item, terms, length, until):
        if varying:
            quantity, rate = _quantity_and_rate(item, terms, part)
            amount, whole_amount, unit_price = _period_prices(
                model, item.price, quantity, factor, rate, currency)
        if plain and (end is None or end >= part.end):
            pieces = [part]  # served throughout (the first period may be partial)
        else:
            pieces = _billable_pieces(part, item, terms)
        if not pieces:
            should = Decimal(0)
        elif pieces[0] == whole:
            should = whole_amount
        else:
            should = round_exact(sum((periods.prorate(amount, p, whole) for p in pieces),
                                     Fraction(0)), currency)
        before = billed.get(part.start)
        if should == (before.amount if before is not None else 0):
            continue
        shown = ((pieces[0].start, pieces[-1].last_day) if pieces
                 else (part.start, part.last_day))
        credit_shown = ((max(end, part.start), part.last_day) if end is not None and end < part.end
                        else (part.start, part.last_day))
        piece = _piece(billed, part.start, should, shown, credit_shown, quantity, unit_price)
        if piece is not None:
            pieces_out.append(piece)
    return tuple(pieces_out)


# _recurring's results by everything they depend on except the item's and subscription's
# identity: the 10,000 items of a reseller's end users mostly share one (bill runs and
# billing previews call the same function). A computation that raises is not kept.
_SHAPES: dict[tuple[object, ...], tuple[_Piece, ...]] = {}
SHAPES_KEPT = 4096


def _shape(item: Item, terms: Terms, length: periods.PeriodLength,
           price_length: periods.PeriodLength, target: date, currency: str,
           billed: Mapping[date, Billed]) -> tuple[object, ...]:
    """Every input `_recurring_pieces` reads: of the item all but its ids and name, of the
    terms all but the subscription's id, number and owners (`_stamp` adds those)."""
    return (length, price_length, item.charge_type, item.quantity, item.price,
            item.pricing, item.start_date, item.end_date, terms.cycle_day, terms.start_date,
            terms.concurrent, terms.suspensions, terms.usage, target, currency,
            tuple(billed.items()))


def _recurring(item: Item, terms: Terms, custom: CustomPeriods, target: date, currency: str,
               billed: Mapping[date, Billed]) -> list[Charge]:
    if terms.billing_frequency is None:
        raise ChargeError(f"subscription {terms.subscription_number} has no billing frequency")
    length = _length(terms.billing_frequency, custom, terms)
    price_length = _length(item.price_period, custom, terms)
    key = _shape(item, terms, length, price_length, target, currency, billed)
    pieces = _SHAPES.get(key)
    if pieces is None:
        pieces = _recurring_pieces(item, terms, length, price_length, target, currency,
                                   billed)
        if len(_SHAPES) >= SHAPES_KEPT:
            _SHAPES.clear()
        _SHAPES[key] = pieces
    return [_stamp(item, terms, piece) for piece in pieces]


@dataclass(frozen=True)
class UsagePeriod:
    """A USAGE item's service period with its aggregated usage and what it costs."""

    period: ServicePeriod
    quantity: Decimal
    record_count: int
    amount: Decimal  # the pricing model of ``quantity``, rounded to the currency


def usage_periods(item: Item, terms: Terms, *, custom: CustomPeriods, currency: str,
                  until: date) -> Iterator[UsagePeriod]:
    """The service periods of a USAGE item starting on or before ``until``: the periods a
    recurring item would have (aligned to the cycle day, the first one from the item's
    start), each with the usage recorded in it, aggregated, and its amount."""
    if terms.billing_frequency is None:
        raise ChargeError(f"subscription {terms.subscription_number} has no billing "
                          "frequency: its usage has no service periods")
    length = _length(terms.billing_frequency, custom, terms)
    for part, _ in _service_periods(item, terms, length, until):
        days = metering.days_within(item.usage, part.start, part.end)
        quantity = metering.aggregate(days, item.aggregation)
        yield UsagePeriod(part, quantity, sum(d.count for d in days),
                          round_exact(pricing.amount(item.model, quantity), currency))


def usage_charges(item: Item, terms: Terms, *, target: date, currency: str,
                  custom: CustomPeriods, billed: Mapping[date, Billed]) -> list[Charge]:
    """A USAGE item's charges: in arrears, each period whose last day is before
    ``target``, the difference between its model amount and what was billed."""
    until = target if item.end_date is None else min(target, item.end_date - ONE_DAY)
    charges: list[Charge] = []
    for usage in usage_periods(item, terms, custom=custom, currency=currency, until=until):
        part = usage.period
        if part.end > target:
            break  # still open (its last day is not before the target date)
        shown = (part.start, part.last_day)
        whole = pricing.amount(item.model, usage.quantity)
        charge = _charge(item, terms, billed, part.start, usage.amount, shown, shown,
                         usage.quantity, _unit_price(item.model, whole, Fraction(item.price),
                                                     usage.quantity, currency))
        if charge is not None:
            charges.append(charge)
    return charges


def item_charges(item: Item, terms: Terms, *, target: date, currency: str,
                 custom: CustomPeriods, billed: Mapping[date, Billed]) -> list[Charge]:
    """The charges (differences to what was billed) of ``item`` through ``target``.

    ``billed`` maps a period's start (the ledger key) to what was billed for it.
    Raises ``ChargeError`` when the subscription's terms cannot be billed.
    """
    if item.charge_type == ONE_TIME or (terms.one_time and item.charge_type == RECURRING):
        return _once(item, terms, custom, target, currency, billed)
    if item.charge_type == RECURRING:
        return _recurring(item, terms, custom, target, currency, billed)
    if item.charge_type == USAGE:
        return usage_charges(item, terms, target=target, currency=currency, custom=custom,
                             billed=billed)
    return []


def total(charges: Iterable[Charge]) -> Decimal:
    """The sum of charges (an invoice's amount)."""
    return sum((c.amount for c in charges), Decimal(0))
