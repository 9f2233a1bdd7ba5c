"""The pure bill-run computation: charges per item and period, corrections, amounts by hand."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billgraph.services.billing.charges import (
    ACTUAL,
    INSTALLED,
    MAXIMUM,
    Billed,
    Charge,
    ChargeError,
    ConcurrentUsage,
    Item,
    Terms,
    item_charges,
)
from billgraph.services.billing.periods import PeriodLength, PeriodUnit

D = date.fromisoformat
A, B = uuid.UUID(int=1), uuid.UUID(int=2)
SUB = uuid.UUID(int=10)
CUSTOM = {"CUSTOM1": PeriodLength(PeriodUnit.MONTH, 2), "CUSTOM2": PeriodLength(PeriodUnit.DAY, 10)}
Ledger = dict[tuple[uuid.UUID, date], Billed]


def terms(frequency: str | None = "MONTHLY", cycle_day: int = 1, **kw: object) -> Terms:
    return Terms(subscription_id=SUB, subscription_number="S00000001", invoice_owner_id=A,
                 cycle_day=cycle_day, billing_frequency=frequency, **kw)  # type: ignore[arg-type]


def item(start: str, price: str = "10.00", *, end: str | None = None, quantity: int = 1,
         charge_type: str = "RECURRING", price_period: str = "MONTHLY",
         item_id: int = 100) -> Item:
    return Item(id=uuid.UUID(int=item_id), subscription_id=SUB, product_id=uuid.UUID(int=50),
                product_name="Seat", charge_type=charge_type, quantity=quantity,
                price=Decimal(price), price_period=price_period, start_date=D(start),
                end_date=D(end) if end else None)


def run(items: Sequence[Item], t: Terms, target: str | date, ledger: Ledger | None = None,
        currency: str = "USD") -> list[Charge]:
    """One bill run over `items`; what it charges is added to `ledger`."""
    ledger = {} if ledger is None else ledger
    target = D(target) if isinstance(target, str) else target
    out: list[Charge] = []
    for it in items:
        billed = {k[1]: v for k, v in ledger.items() if k[0] == it.id}
        charges = item_charges(it, t, target=target, currency=currency, custom=CUSTOM,
                               billed=billed)
        for c in charges:
            before = ledger.get((it.id, c.period_start), Billed(Decimal(0), 0))
            assert c.revision == before.revision + 1
            ledger[(it.id, c.period_start)] = Billed(before.amount + c.amount, c.revision)
        out.extend(charges)
    return out


def lines(charges: Sequence[Charge]) -> list[tuple[str, str, str]]:
    return [(c.service_start.isoformat(), c.service_end.isoformat(), str(c.amount))
            for c in charges]


# --- worked examples ---------------------------------------------------------------


def test_spec_example_monthly_cycle_day_15_starting_on_the_3rd() -> None:
    # The whole period 2025-12-15..2026-01-14 has 31 days; the item serves 12 of them
    # (Jan 3..14): 10.00 x 12/31 = 3.8709... → 3.87. Then whole periods of 10.00, billed in
    # advance: Jan 15 and Feb 15 both start on or before the target 2026-03-01.
    charges = run([item("2026-01-03")], terms(cycle_day=15), "2026-03-01")
    assert lines(charges) == [
        ("2026-01-03", "2026-01-14", "3.87"),
        ("2026-01-15", "2026-02-14", "10.00"),
        ("2026-02-15", "2026-03-14", "10.00"),
    ]
    assert charges[0].description == "Seat (S00000001)"
    assert charges[0].unit_price == Decimal("10.00") and charges[0].quantity == 1
    assert {c.period_start for c in charges} == {D("2026-01-03"), D("2026-01-15"),
                                                 D("2026-02-15")}


def test_quarterly_prices_a_monthly_price_per_quarter() -> None:
    # monthly 10.00 billed QUARTERLY = 30.00 a period. Cycle day 1, start 2026-02-10:
    # the quarter containing it is 2025-12-01..2026-02-28 (31+31+28 = 90 days), the item
    # serves Feb 10..28 (19 days): 30 x 19/90 = 6.333... → 6.33; then Mar 1..May 31: 30.00.
    charges = run([item("2026-02-10")], terms("QUARTERLY"), "2026-03-01")
    assert lines(charges) == [("2026-02-10", "2026-02-28", "6.33"),
                              ("2026-03-01", "2026-05-31", "30.00")]
    assert charges[1].unit_price == Decimal("30.00")


def test_an_item_added_mid_quarter_is_co_termed_with_the_subscription() -> None:
    # The subscription's quarters run Jan 1..Mar 31, Apr 1..Jun 30 (cycle day 1). An item
    # added on Feb 16 bills the rest of that quarter: Feb 16..Mar 31 is 13 + 31 = 44 of
    # its 31 + 28 + 31 = 90 days, 30 x 44/90 = 14.666... -> 14.67; then Apr 1..Jun 30.
    t = terms("QUARTERLY", start_date=D("2026-01-01"))
    charges = run([item("2026-02-16")], t, "2026-04-01")
    assert lines(charges) == [("2026-02-16", "2026-03-31", "14.67"),
                              ("2026-04-01", "2026-06-30", "30.00")]
    # Monthly periods are the same either way (Feb 16..28: 10 x 13/28 = 4.64); weekly
    # ones run from the item's start.
    assert lines(run([item("2026-02-16")], terms(start_date=D("2026-01-01")),
                     "2026-02-16")) == [("2026-02-16", "2026-02-28", "4.64")]
    weekly = terms("WEEKLY", start_date=D("2026-01-01"))
    assert lines(run([item("2026-02-16")], weekly, "2026-02-16")) == [
        ("2026-02-16", "2026-02-22", "2.31")]


def test_weekly_periods_run_from_the_item_start() -> None:
    # monthly 10.00 billed WEEKLY = 10 x 12/52 = 2.3077 → 2.31 per week, each rounded on
    # its own; weeks start on the item's start (a Wednesday), whatever the cycle day.
    charges = run([item("2026-01-07")], terms("WEEKLY", cycle_day=15), "2026-01-21")
    assert lines(charges) == [("2026-01-07", "2026-01-13", "2.31"),
                              ("2026-01-14", "2026-01-20", "2.31"),
                              ("2026-01-21", "2026-01-27", "2.31")]


def test_custom_periods_in_months_and_days() -> None:
    # CUSTOM1 = 2 months: monthly 10.00 → 20.00 a period, aligned to cycle day 1.
    two_months = run([item("2026-01-01")], terms("CUSTOM1"), "2026-03-01")
    assert lines(two_months) == [("2026-01-01", "2026-02-28", "20.00"),
                                 ("2026-03-01", "2026-04-30", "20.00")]
    # CUSTOM2 = 10 days: 10 x (365/12 days a month)⁻¹ x 10 = 10 x 120/365 = 3.2876... → 3.29
    ten_days = run([item("2026-01-05")], terms("CUSTOM2"), "2026-01-15")
    assert lines(ten_days) == [("2026-01-05", "2026-01-14", "3.29"),
                               ("2026-01-15", "2026-01-24", "3.29")]
    with pytest.raises(ChargeError, match="CUSTOM3"):
        run([item("2026-01-05")], terms("CUSTOM3"), "2026-01-15")


def test_cycle_day_31_across_february() -> None:
    # Cycle day 31 clamps to Feb 28 and comes back on Mar 31: the periods are
    # Jan 31..Feb 27, Feb 28..Mar 30, Mar 31..Apr 29, each a whole 31.00.
    charges = run([item("2026-01-31", "31.00")], terms(cycle_day=31), "2026-03-31")
    assert lines(charges) == [("2026-01-31", "2026-02-27", "31.00"),
                              ("2026-02-28", "2026-03-30", "31.00"),
                              ("2026-03-31", "2026-04-29", "31.00")]
    # Starting Feb 15: the whole period Jan 31..Feb 27 has 28 days, 13 served (Feb 15..27):
    # 31 x 13/28 = 14.392... → 14.39.
    partial = run([item("2026-02-15", "31.00")], terms(cycle_day=31), "2026-02-15")
    assert lines(partial) == [("2026-02-15", "2026-02-27", "14.39")]


def test_removal_inside_a_billed_period_is_credited_on_the_next_run() -> None:
    ledger: Ledger = {}
    # Jan and Feb billed in advance: 30.00 each.
    first = run([item("2026-01-01", "30.00")], terms(), "2026-02-01", ledger)
    assert [c.amount for c in first] == [Decimal("30.00")] * 2
    # REMOVE_PRODUCT effective 2026-02-15 (exclusive end): Feb should be 30 x 14/28 = 15.00,
    # so the next run credits 15.00 for Feb 15..28, and bills nothing for March.
    removed = item("2026-01-01", "30.00", end="2026-02-15")
    second = run([removed], terms(), "2026-03-01", ledger)
    assert lines(second) == [("2026-02-15", "2026-02-28", "-15.00")]
    assert second[0].description == "Credit: Seat (S00000001)"
    assert second[0].revision == 2
    assert run([removed], terms(), "2026-04-01", ledger) == []


def test_removal_before_an_already_billed_period_credits_it_whole() -> None:
    ledger: Ledger = {}
    run([item("2026-01-01", "30.00")], terms(), "2026-03-01", ledger)  # Jan, Feb, Mar
    # Removed Feb 15: Feb -15.00 (30 x 14/28 kept), Mar -30.00 (nothing kept). The run's
    # target (Feb 20) is before March, yet March was billed: it is still corrected.
    removed = item("2026-01-01", "30.00", end="2026-02-15")
    charges = run([removed], terms(), "2026-02-20", ledger)
    assert lines(charges) == [("2026-02-15", "2026-02-28", "-15.00")]
    charges = run([removed], terms(), "2026-03-01", ledger)
    assert lines(charges) == [("2026-03-01", "2026-03-31", "-30.00")]


def test_update_product_mid_period() -> None:
    ledger: Ledger = {}
    old = item("2026-01-01", "31.00", item_id=1)
    run([old], terms(), "2026-01-01", ledger)  # January: 31.00
    # UPDATE_PRODUCT on Jan 16: the old item ends (exclusive) and its successor, 2 seats,
    # starts the same day. Old item: 31 x 15/31 = 15.00 kept → credit 16.00 for Jan 16..31.
    # Successor: 62.00 a month x 16/31 = 32.00 for Jan 16..31, then 62.00 for February.
    old = item("2026-01-01", "31.00", end="2026-01-16", item_id=1)
    new = item("2026-01-16", "31.00", quantity=2, item_id=2)
    charges = run([old, new], terms(), "2026-02-01", ledger)
    assert lines(charges) == [("2026-01-16", "2026-01-31", "-16.00"),
                              ("2026-01-16", "2026-01-31", "32.00"),
                              ("2026-02-01", "2026-02-28", "62.00")]


def test_owner_transfer_moves_later_periods_to_the_new_invoice_owner() -> None:
    # Transfer effective Feb 15: the period that started Feb 1 stays with A; March is B's.
    t = terms(owners=((D("2026-01-01"), A), (D("2026-02-15"), B)))
    charges = run([item("2026-01-01")], t, "2026-03-01")
    assert [(c.period_start.isoformat(), c.invoice_owner_id) for c in charges] == [
        ("2026-01-01", A), ("2026-02-01", A), ("2026-03-01", B)]
    # Without any owner history, the subscription's invoice owner pays.
    assert {c.invoice_owner_id for c in run([item("2026-01-01")], terms(), "2026-03-01")} == {A}


def test_one_time_charges_bill_once_in_the_period_of_their_start() -> None:
    ledger: Ledger = {}
    setup = item("2026-01-10", "99.50", quantity=2, charge_type="ONE_TIME")
    # 99.50 x 2 = 199.00, shown on the (partial) monthly period it falls in.
    assert lines(run([setup], terms(), "2026-01-10", ledger)) == [
        ("2026-01-10", "2026-01-31", "199.00")]
    assert run([setup], terms(), "2026-06-01", ledger) == []
    assert run([setup], terms(), "2026-01-09") == []  # not yet started
    # Ending it later changes nothing: a one-time charge is earned once it started.
    ended = item("2026-01-10", "99.50", quantity=2, charge_type="ONE_TIME", end="2026-02-01")
    assert run([ended], terms(), "2026-06-01", ledger) == []


def test_one_time_scheme_bills_everything_once_at_the_start() -> None:
    t = terms(frequency=None, one_time=True)
    charges = run([item("2026-01-10", "10.00", quantity=3)], t, "2027-01-01")
    assert lines(charges) == [("2026-01-10", "2026-01-10", "30.00")]


def test_suspended_days_are_not_billed() -> None:
    # Suspended Jan 11 → resumed Jan 21 (exclusive): 10 of 31 days out: 31 x 21/31 = 21.00.
    # Suspended again from Feb 10, open: Feb 1..9 = 9 of 28 days: 31 x 9/28 = 9.964 → 9.96;
    # nothing from March on.
    t = terms(suspensions=((D("2026-01-11"), D("2026-01-21")), (D("2026-02-10"), None)))
    charges = run([item("2026-01-01", "31.00")], t, "2026-04-01")
    assert lines(charges) == [("2026-01-01", "2026-01-31", "21.00"),
                              ("2026-02-01", "2026-02-09", "9.96")]


def test_a_suspension_after_billing_is_credited() -> None:
    ledger: Ledger = {}
    run([item("2026-01-01", "31.00")], terms(), "2026-01-01", ledger)
    # Suspended Jan 11 → Jan 21 after January was billed: 31 x 10/31 = 10.00 back.
    t = terms(suspensions=((D("2026-01-11"), D("2026-01-21")),))
    charges = run([item("2026-01-01", "31.00")], t, "2026-01-01", ledger)
    assert lines(charges) == [("2026-01-01", "2026-01-31", "-10.00")]


def test_concurrent_usage_pricing_three_methods() -> None:
    # price 10.00 a month, capacity 50, rate 80 %, 20 installed.
    def cu(method: str, usage: tuple[tuple[date, int], ...] = ()) -> Terms:
        return terms(concurrent=ConcurrentUsage(method, 50, Decimal("80"), 20), usage=usage)

    seat = item("2026-01-01", "10.00", quantity=7)  # the item quantity is replaced
    # installed items: 10 x 20 x 0.8 = 160.00
    installed = run([seat], cu(INSTALLED), "2026-01-01")
    assert lines(installed) == [("2026-01-01", "2026-01-31", "160.00")]
    assert installed[0].quantity == 20 and installed[0].unit_price == Decimal("8.00")
    # maximum capacity: 10 x 50 x 0.8 = 400.00
    assert lines(run([seat], cu(MAXIMUM), "2026-01-01")) == [
        ("2026-01-01", "2026-01-31", "400.00")]
    # actual capacity: January's peak 35 → 10 x 35 x 0.8 = 280.00; February's peak 70 is
    # capped at 50 → 400.00; March has no report yet → nothing.
    usage = ((D("2026-01-05"), 12), (D("2026-01-20"), 35), (D("2026-02-02"), 70))
    assert lines(run([seat], cu(ACTUAL, usage), "2026-03-01")) == [
        ("2026-01-01", "2026-01-31", "280.00"), ("2026-02-01", "2026-02-28", "400.00")]
    # Billed in advance before usage is known, a period is billed once reports arrive.
    ledger: Ledger = {}
    assert run([seat], cu(ACTUAL, usage[:1]), "2026-01-01", ledger)[0].amount == Decimal("96.00")
    later = run([seat], cu(ACTUAL, usage), "2026-01-01", ledger)
    assert [(c.amount, c.description) for c in later] == [
        (Decimal("184.00"), "Adjustment: Seat (S00000001)")]  # 280 - 12 x 8


def test_installed_items_method_needs_the_number() -> None:
    t = terms(concurrent=ConcurrentUsage(INSTALLED, 50, Decimal("80"), None))
    with pytest.raises(ChargeError, match="numberOfInstalledItems"):
        run([item("2026-01-01")], t, "2026-01-01")


def test_rounds_to_the_currency_of_the_invoice_owner() -> None:
    # 1000 JPY x 12/31 = 387.09... → 387 (no minor unit)
    charges = run([item("2026-01-03", "1000")], terms(cycle_day=15), "2026-01-03",
                  currency="JPY")
    assert lines(charges) == [("2026-01-03", "2026-01-14", "387")]


def test_usage_items_and_items_not_started_give_nothing() -> None:
    assert run([item("2026-01-01", charge_type="USAGE")], terms(), "2026-06-01") == []
    assert run([item("2026-02-01")], terms(), "2026-01-31") == []
    assert run([item("2026-02-01", end="2026-02-01")], terms(), "2026-06-01") == []


# --- properties --------------------------------------------------------------------

FREQUENCIES = ["DAILY", "WEEKLY", "MONTHLY", "QUARTERLY", "ANNUAL", "CUSTOM1", "CUSTOM2"]
days = st.integers(min_value=0, max_value=500)
base = D("2025-11-01")


@st.composite
def facts(draw: st.DrawFn) -> tuple[Item, Terms]:
    start = base + timedelta(days=draw(days))
    end = draw(st.none() | st.integers(min_value=0, max_value=300))
    suspensions = []
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        s = start + timedelta(days=draw(st.integers(min_value=-30, max_value=300)))
        length = draw(st.none() | st.integers(min_value=1, max_value=90))
        suspensions.append((s, None if length is None else s + timedelta(days=length)))
    it = Item(id=uuid.UUID(int=7), subscription_id=SUB, product_id=uuid.UUID(int=8),
              product_name="P", charge_type=draw(st.sampled_from(["RECURRING", "ONE_TIME"])),
              quantity=draw(st.integers(min_value=0, max_value=5)),
              price=Decimal(draw(st.integers(min_value=0, max_value=100_000))) / 100,
              price_period=draw(st.sampled_from(FREQUENCIES)), start_date=start,
              end_date=None if end is None else start + timedelta(days=end))
    subscription_start = draw(st.none() | st.integers(min_value=0, max_value=400).map(
        lambda back: start - timedelta(days=back)))
    t = terms(draw(st.sampled_from(FREQUENCIES)), draw(st.integers(min_value=1, max_value=31)),
              suspensions=tuple(sorted(suspensions, key=lambda s: s[0])),
              start_date=subscription_start)
    return it, t


def sums(ledger: Ledger) -> dict[tuple[uuid.UUID, date], Decimal]:
    return {k: v.amount for k, v in ledger.items() if v.amount != 0}


@settings(max_examples=150, deadline=None)
@given(facts(), st.lists(days, min_size=1, max_size=4))
def test_billing_in_several_runs_sums_to_billing_once(
        case: tuple[Item, Terms], targets: list[int]) -> None:
    it, t = case
    dates = sorted(base + timedelta(days=d) for d in targets)
    stepwise: Ledger = {}
    for target in dates:
        run([it], t, target, stepwise)
    once: Ledger = {}
    run([it], t, dates[-1], once)
    assert sums(stepwise) == sums(once)
    assert run([it], t, dates[-1], stepwise) == []  # the same run again bills nothing new


@settings(max_examples=150, deadline=None)
@given(facts(), days, st.integers(min_value=0, max_value=300), days)
def test_corrections_converge_to_billing_the_final_facts(
        case: tuple[Item, Terms], first: int, end: int, later: int) -> None:
    it, t = case
    ledger: Ledger = {}
    t1 = base + timedelta(days=first)
    run([it], t, t1, ledger)
    # The item is then ended (or ended earlier) and billed again at a later target.
    new_end = it.start_date + timedelta(days=end)
    if it.end_date is not None:
        new_end = min(new_end, it.end_date)
    ended = Item(**{**it.__dict__, "end_date": new_end})
    t2 = max(t1, base + timedelta(days=later))
    corrections = run([ended], t, t2, ledger)
    fresh: Ledger = {}
    run([ended], t, t2, fresh)
    assert sums(ledger) == sums(fresh)
    assert all(c.amount != 0 for c in corrections)


@settings(max_examples=100, deadline=None)
@given(facts(), days)
def test_whole_periods_cost_the_price_per_period(case: tuple[Item, Terms], target: int) -> None:
    it, t = case
    it = Item(**{**it.__dict__, "end_date": None, "charge_type": "RECURRING"})
    t = Terms(**{**t.__dict__, "suspensions": ()})
    charges = run([it], t, base + timedelta(days=target))
    amounts = {c.amount for c in charges[1:]}
    assert len(amounts) <= 1  # every period after the first is whole and costs the same
    if charges:
        assert abs(charges[0].amount) <= max(amounts | {charges[0].amount})


def test_owner_charges_groups_by_invoice_owner_and_skips_other_currencies() -> None:
    from billgraph.services.billing.facts import Facts
    from billgraph.services.billing.invoicing import owner_charges

    other = uuid.UUID(int=3)
    t = terms(owners=((D("2026-01-01"), A), (D("2026-02-01"), B), (D("2026-03-01"), other)))
    facts = Facts(terms={SUB: t}, plan_currency={SUB: "USD"}, items=[item("2026-01-01")])
    by_owner, errors = owner_charges(facts, {A: "USD", B: "EUR"}, target=D("2026-03-01"),
                                     custom=CUSTOM)
    # January is A's; February would be B's but B bills in EUR; March's owner is not
    # in this batch (billed in its own turn)
    assert {o: [c.period_start for c in cs] for o, cs in by_owner.items()} == {
        A: [D("2026-01-01")]}
    assert errors == [{"code": "BAD_USER_INPUT", "message": (
        f"subscription S00000001 is priced in USD but its invoice owner {B} is billed in "
        "EUR; it was not billed")}]


# each changes one input of an item's billing (or two that go together)
Variant = Callable[[Item, Terms, timedelta], tuple[Item, Terms]]
VARIANTS: dict[str, Variant] = {
    "end": lambda it, t, d: (Item(**{**it.__dict__, "end_date": it.start_date + d}), t),
    "no end": lambda it, t, d: (Item(**{**it.__dict__, "end_date": None}), t),
    "quantity": lambda it, t, d: (Item(**{**it.__dict__, "quantity": it.quantity + 1}), t),
    "price": lambda it, t, d: (Item(**{**it.__dict__, "price": it.price + 1}), t),
    "price period": lambda it, t, d: (Item(**{**it.__dict__, "price_period": "ANNUAL"}), t),
    "start": lambda it, t, d: (Item(**{**it.__dict__, "start_date": it.start_date + d}), t),
    "type": lambda it, t, d: (Item(**{**it.__dict__, "charge_type": "ONE_TIME"}), t),
    "cycle day": lambda it, t, d: (it, Terms(**{**t.__dict__, "cycle_day": t.cycle_day % 28 + 1})),
    "frequency": lambda it, t, d: (it, Terms(**{**t.__dict__, "billing_frequency": "WEEKLY"})),
    "suspended": lambda it, t, d: (it, Terms(**{**t.__dict__, "suspensions": (
        (it.start_date + d, it.start_date + d + timedelta(days=9)),)})),
    "subscription start": lambda it, t, d: (it, Terms(**{**t.__dict__,
                                                          "start_date": it.start_date - d})),
    "concurrent": lambda it, t, d: (it, Terms(**{**t.__dict__, "concurrent": ConcurrentUsage(
        MAXIMUM, 3, Decimal(50))})),
    "actual usage": lambda it, t, d: (it, Terms(**{**t.__dict__, "concurrent": ConcurrentUsage(
        ACTUAL, 9, Decimal(100)), "usage": ((it.start_date + d, 2),)})),
}


@settings(max_examples=200, deadline=None)
@given(facts(), days, st.lists(st.tuples(st.sampled_from(sorted(VARIANTS)),
                                         st.integers(min_value=1, max_value=60),
                                         st.integers(min_value=0, max_value=2)),
                               min_size=1, max_size=5))
def test_kept_results_equal_a_fresh_computation(
        case: tuple[Item, Terms], target: int, changes: list[tuple[str, int, int]]) -> None:
    """Items of other subscriptions, numbers and owners that differ from one item in one
    billing input each (or in none, or in what was billed before): each item's charges,
    computed after the others (whose results the shape cache keeps), equal its charges
    computed with an empty cache."""
    from billgraph.services.billing import charges as module

    it, t = case
    it = Item(**{**it.__dict__, "charge_type": "RECURRING"})  # (ONE_TIME is not kept)
    day = it.start_date + timedelta(days=target)  # on or after the start: something to bill
    made: list[tuple[Item, Terms, date, dict[date, Billed]]] = [(it, t, day, {})]
    for n, (name, shift, billed) in enumerate(changes, start=1):
        other, other_terms = VARIANTS[name](it, t, timedelta(days=shift))
        other = Item(**{**other.__dict__, "id": uuid.UUID(int=1000 + n),
                        "subscription_id": uuid.UUID(int=2000 + n), "product_name": f"P{n}"})
        other_terms = Terms(**{**other_terms.__dict__, "subscription_id": other.subscription_id,
                               "subscription_number": f"S{n:08d}",
                               "owners": ((base + timedelta(days=shift), B),),
                               "invoice_owner_id": A})
        ledger: dict[date, Billed] = {} if billed == 0 else {
            other.start_date: Billed(Decimal(billed), billed)}
        made.append((other, other_terms, day, ledger))
        made.append((Item(**{**it.__dict__, "id": uuid.UUID(int=3000 + n)}), t, day, ledger))

    def charges_of(it: Item, t: Terms, target: date, billed: dict[date, Billed]) -> object:
        try:
            return item_charges(it, t, target=target, currency="USD", custom=CUSTOM,
                                billed=billed)
        except ChargeError as error:
            return str(error)

    module._SHAPES.clear()
    shared = [charges_of(*made_case) for made_case in made]
    for made_case, seen in zip(made, shared, strict=True):
        module._SHAPES.clear()
        assert charges_of(*made_case) == seen
