"""Invoice lines with their discount and tax: the charges of charges.py, adjusted.

Pure. For each charge (a difference for one item and period, §6):

* a period not invoiced before is discounted and taxed from the facts as they are now
  (``adjustments.line_discounts`` over the subscription's new lines of each billing
  period, then ``adjustments.line_taxes`` at the invoice owner's rates);
* a period already invoiced keeps what it was invoiced with: the difference line (a
  credit when an item was removed) carries the discount share the period carried
  (``frozen_discount``) and the tax at the percentages it was taxed with
  (``frozen_taxes``), each as the difference to what was billed. So a credit of a whole
  period reverses its charge, its discount and its tax exactly, and a rate, address or
  exemption change never corrects a posted invoice.

Fixed discounts are spread when a billing period is first invoiced; lines added to an
already-invoiced period (an item added mid-period) get its percentage discounts only.
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from billgraph.services.billing import adjustments as adj
from billgraph.services.billing.charges import Charge, Terms
from billgraph.services.billing.periods import CustomPeriods, ServicePeriod
from billgraph.services.billing.values import quick_init
from billgraph.services.money import round_exact, round_money

ONE_DAY = timedelta(days=1)


@quick_init
@dataclass(frozen=True)
class BilledAdjustment:
    """What the ledger holds for one (item, period) on invoices not canceled."""

    amount: Decimal
    discount: Decimal
    taxes: Mapping[Any, tuple[Decimal, Decimal]]  # rate id -> (percentage, tax billed)


@dataclass
class AdjustmentFacts:
    discounts: dict[uuid.UUID, list[adj.SubscriptionDiscount]] = field(default_factory=dict)
    rates: list[adj.TaxRate] = field(default_factory=list)
    owners: dict[uuid.UUID, adj.TaxProfile] = field(default_factory=dict)
    product_codes: dict[uuid.UUID, str] = field(default_factory=dict)
    billed: dict[tuple[uuid.UUID, date], BilledAdjustment] = field(default_factory=dict)
    item_subscription: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)


@functools.cache
def _no_tax(currency: str) -> Decimal:
    return round_money(Decimal(0), currency)


@functools.cache
def _no_discount(currency: str) -> Decimal:
    return round_exact(0, currency)


@quick_init
@dataclass(frozen=True)
class Line:
    """An invoice line: the charge, the part of it discounts took off, its taxes."""

    charge: Charge
    currency: str
    discount: Decimal = Decimal(0)
    taxes: tuple[adj.LineTax, ...] = ()

    @property
    def tax(self) -> Decimal:
        if not self.taxes:  # most lines: no rate applies
            return _no_tax(self.currency)
        return round_money(sum((t.amount for t in self.taxes), Decimal(0)), self.currency)

    @property
    def total(self) -> Decimal:
        return self.charge.amount - self.discount + self.tax


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    discount: Decimal
    tax: Decimal

    @property
    def amount(self) -> Decimal:
        return self.subtotal - self.discount + self.tax


def totals(lines: Iterable[Line]) -> Totals:
    lines = list(lines)
    return Totals(sum((ln.charge.amount for ln in lines), Decimal(0)),
                  sum((ln.discount for ln in lines), Decimal(0)),
                  sum((ln.tax for ln in lines), Decimal(0)))


def _tax_delta(taxes: Sequence[adj.LineTax], billed: BilledAdjustment | None
               ) -> tuple[adj.LineTax, ...]:
    before = billed.taxes if billed is not None else {}
    out = [adj.LineTax(t.rate_id, t.percentage, t.amount - before.get(t.rate_id, (0, 0))[1])
           for t in taxes]
    return tuple(t for t in out if t.amount != 0)


def adjust(charges: Sequence[Charge], *, owner: uuid.UUID, facts: AdjustmentFacts,
           terms: Mapping[uuid.UUID, Terms], currency: str,
           custom: CustomPeriods) -> list[Line]:
    """The lines of one invoice owner's charges, in the charges' order."""
    rates = adj.taxable_rates(facts.rates, facts.owners.get(owner, adj.TaxProfile(None)))
    by_key = {(c.item_id, c.period_start): c for c in charges}
    fresh: dict[uuid.UUID, list[adj.PeriodLine]] = defaultdict(list)
    done: dict[tuple[uuid.UUID, date], Line] = {}
    no_discount = _no_discount(currency)  # as line_discounts gives a line without one
    first_discount = round_money(no_discount, currency)  # (nothing billed before)
    for charge in charges:
        key = (charge.item_id, charge.period_start)
        billed = facts.billed.get(key)
        code = facts.product_codes.get(charge.product_id)
        if billed is not None and billed.amount != 0:
            should = billed.amount + charge.amount
            discount = adj.frozen_discount(should, billed.amount, billed.discount, currency)
            taxes = adj.frozen_taxes(should - discount, billed.taxes, currency)
            done[key] = Line(charge, currency, round_money(discount - billed.discount, currency),
                             _tax_delta(taxes, billed))
            continue
        if not facts.discounts.get(charge.subscription_id):
            # no discount applies: the line below with every discount amount zero
            if billed is None and not rates:  # most lines: a period billed first, untaxed
                done[key] = Line(charge, currency, first_discount)
                continue
            before = billed.discount if billed is not None else Decimal(0)
            taxes = adj.line_taxes(charge.amount - no_discount, code, rates, currency)
            done[key] = Line(charge, currency, round_money(no_discount - before, currency),
                             _tax_delta(taxes, billed))
            continue
        fresh[charge.subscription_id].append(adj.PeriodLine(
            key=key, product_code=code, amount=charge.amount,
            span=ServicePeriod(charge.service_start, charge.service_end + ONE_DAY),
            whole=_whole(terms[charge.subscription_id], charge.period_start, custom)))
    # the billing periods already invoiced, of the subscriptions with discounts
    invoiced: dict[uuid.UUID, set[ServicePeriod]] = defaultdict(set)
    if fresh:
        for (item_id, start), entry in facts.billed.items():
            sub = facts.item_subscription.get(item_id)
            if sub is not None and entry.amount != 0 and sub in fresh:
                invoiced[sub].add(_whole(terms[sub], start, custom))
    for sub, lines in fresh.items():
        discounts = facts.discounts.get(sub, [])
        percentages = [d for d in discounts if d.type is adj.DiscountType.PERCENTAGE]
        first = [ln for ln in lines if ln.whole not in invoiced[sub]]
        later = [ln for ln in lines if ln.whole in invoiced[sub]]
        amounts = {**adj.line_discounts(first, discounts, currency),
                   **adj.line_discounts(later, percentages, currency)}
        for ln in lines:
            line_key: tuple[uuid.UUID, date] = ln.key  # type: ignore[assignment]
            billed = facts.billed.get(line_key)
            before = billed.discount if billed is not None else Decimal(0)
            taxes = adj.line_taxes(ln.amount - amounts[ln.key], ln.product_code, rates, currency)
            done[line_key] = Line(by_key[line_key], currency,
                                  round_money(amounts[ln.key] - before, currency),
                                  _tax_delta(taxes, billed))
    return [done[(c.item_id, c.period_start)] for c in charges]


def _whole(terms: Terms, key: date, custom: CustomPeriods) -> ServicePeriod:
    frequency = None if terms.one_time else terms.billing_frequency
    return adj.whole_period(key, frequency, terms.cycle_day, terms.start_date, custom)
