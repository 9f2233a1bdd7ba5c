"""The order actions of SPEC §5, applied in memory to the subscriptions of one order.

`Order.apply()` walks the actions in input order, checks each against the state
the previous ones left (so a subscription created by an order can be changed by
the same order), and collects what must be written. Nothing touches the database
here: `write.py` then writes it all set-based.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from billgraph.models import new_id
from billgraph.services import billing_terms
from billgraph.services.accounts import check_number
from billgraph.services.billing import periods
from billgraph.services.billing_terms import ConcurrentUsage
from billgraph.services.catalog import check_frequency
from billgraph.services.errors import BadUserInput, BindingPeriodActive, Conflict, NotFound
from billgraph.services.numbers import parse_uuid

from .inputs import ActionInput, ItemInput, OrderInput, SubscriptionInput
from .lookup import Lookups, Plan

APPLICABLE = {  # the action fields each type takes, besides type and effectiveDate
    "CREATE_SUBSCRIPTION": {"subscription_owner_account_id", "invoice_owner_account_id",
                            "billing_terms", "items"},
    "ADD_PRODUCT": {"item"},
    "UPDATE_PRODUCT": {"item", "item_id"},
    "REMOVE_PRODUCT": {"item", "item_id"},
    "SUSPEND": set(),
    "RESUME": set(),
    "CANCEL_SUBSCRIPTION": {"override_binding"},
    "OWNER_TRANSFER": {"new_subscription_owner_account_id", "new_invoice_owner_account_id"},
    "RENEW_SUBSCRIPTION": set(),
}
ACTION_FIELDS = set().union(*APPLICABLE.values())


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


@dataclass
class Item:
    id: uuid.UUID
    product_id: uuid.UUID
    product_code: str
    charge_type: str
    quantity: int
    price: Decimal
    price_period: str
    start_date: date
    end_date: date | None
    mrr: Decimal
    replaces_item_id: uuid.UUID | None = None
    new: bool = False
    ended: bool = False  # an existing item whose end date this order sets


@dataclass
class Suspension:
    id: uuid.UUID
    suspend_date: date
    resume_date: date | None = None
    new: bool = False


@dataclass
class Sub:
    id: uuid.UUID
    number: str | None  # None: generated when written
    at: str  # the order input entry that names it: subscriptions[i]
    new: bool
    plan: Plan
    concurrent_usage: ConcurrentUsage | None
    owner: uuid.UUID
    invoice_owner: uuid.UUID
    status: str
    start_date: date
    cancelled_on: date | None
    binding_period: str | None
    binding_start: date | None
    binding_end: date | None
    owners_since: date  # the effective date of its latest owners
    resumed_on: date | None  # the end of its latest suspension
    terms: billing_terms.Terms | None = None  # new subscriptions only
    items: list[Item] = field(default_factory=list)
    suspension: Suspension | None = None  # the open one, if known
    suspensions: list[Suspension] = field(default_factory=list)  # created or resumed here
    changed: bool = False


@dataclass
class ActionRow:
    subscription: Sub
    position: int  # in the whole order
    type: str
    effective_date: date


@dataclass
class Applied:
    """What an order does, ready to be written."""

    subs: list[Sub] = field(default_factory=list)
    actions: list[ActionRow] = field(default_factory=list)
    # (subscription, effective date) -> owner, invoice owner: one row per day and order
    owners: dict[tuple[uuid.UUID, date], tuple[Sub, uuid.UUID, uuid.UUID]] = field(
        default_factory=dict)
    touched: set[uuid.UUID] = field(default_factory=set)


class OrderActions:
    def __init__(self, order: OrderInput, lookups: Lookups, order_date: date) -> None:
        self.order = order
        self.lookups = lookups
        self.order_date = order_date
        self.custom = lookups.refs.custom
        self.out = Applied()

    # ---------------------------------------------------------------- entry points

    def apply(self) -> Applied:
        seen: set[str] = set()
        for i, entry in enumerate(self.order.subscriptions):
            at = f"subscriptions[{i}]"
            if entry.subscription_number is not None:
                if entry.subscription_number in seen:
                    raise BadUserInput(f"{at}.subscriptionNumber",
                                       f"{entry.subscription_number!r} appears twice in the order")
                seen.add(entry.subscription_number)
            self.apply_subscription(entry, at)
        return self.out

    def apply_subscription(self, entry: SubscriptionInput, at: str) -> None:
        if not entry.actions:
            raise BadUserInput(f"{at}.actions", "give at least one action")
        creates = entry.actions[0].type == "CREATE_SUBSCRIPTION"
        number = entry.subscription_number
        existing = self.lookups.subscriptions.get(number) if number is not None else None
        sub: Sub | None = None
        if existing is not None:
            if creates:
                raise Conflict(f"subscription number {number!r} is already taken",
                               field=f"{at}.subscriptionNumber")
            sub = self.existing(existing, at)
        elif creates and number is not None:
            check_number(f"{at}.subscriptionNumber", number)
        elif not creates:
            if number is not None:
                raise NotFound("subscription", repr(number), field=f"{at}.subscriptionNumber")
            raise BadUserInput(f"{at}.actions[0].type", "a new subscription starts with "
                               "CREATE_SUBSCRIPTION; give subscriptionNumber to change one")
        for j, action in enumerate(entry.actions):
            where = f"{at}.actions[{j}]"
            self.check_applicable(action, where)
            effective = action.effective_date or self.order_date
            if action.type == "CREATE_SUBSCRIPTION":
                if j > 0:
                    raise BadUserInput(f"{where}.type", "CREATE_SUBSCRIPTION must be the first "
                                       "action of its subscription")
                sub = self.create(action, number, at, effective, where)
            else:
                assert sub is not None
                self.change(sub, action, effective, where)
            self.out.actions.append(ActionRow(sub, len(self.out.actions), action.type, effective))

    def check_applicable(self, action: ActionInput, where: str) -> None:
        applicable = APPLICABLE.get(action.type)
        if applicable is None:
            raise BadUserInput(f"{where}.type", f"unknown action {action.type!r}")
        for name in sorted(ACTION_FIELDS - applicable):
            if getattr(action, name) is not None:
                raise BadUserInput(f"{where}.{camel(name)}",
                                   f"is not applicable to {action.type}")

    # ---------------------------------------------------------------- state

    def existing(self, row: Any, at: str) -> Sub:
        plan = self.lookups.plans_by_id[row["price_plan_id"]]
        sub = Sub(
            id=row["id"], number=row["subscription_number"], at=at, new=False, plan=plan,
            concurrent_usage=billing_terms.concurrent_usage_of(row),
            owner=row["owner_account_id"], invoice_owner=row["invoice_owner_account_id"],
            status=row["status"], start_date=row["start_date"], cancelled_on=row["cancelled_on"],
            binding_period=row["binding_period"], binding_start=row["binding_start_date"],
            binding_end=row["binding_end_date"], owners_since=row["owners_since"],
            resumed_on=row["resumed_on"],
        )
        sub.items = [Item(
            id=r["id"], product_id=r["product_id"], product_code=r["product_code"],
            charge_type=r["charge_type"], quantity=r["quantity"], price=r["price"],
            price_period=r["price_period"], start_date=r["start_date"], end_date=r["end_date"],
            mrr=r["mrr"], replaces_item_id=r["replaces_item_id"],
        ) for r in self.lookups.items.get(sub.id, [])]
        open_suspension = self.lookups.suspensions.get(sub.id)
        if open_suspension is not None:
            sub.suspension = Suspension(open_suspension["id"], open_suspension["suspend_date"])
        self.out.subs.append(sub)
        self.out.touched |= {sub.owner, sub.invoice_owner}
        return sub

    def account(self, value: str, field: str) -> Any:
        account_id = parse_uuid(value)
        row = self.lookups.accounts.get(account_id) if account_id is not None else None
        if row is None:
            raise NotFound("account", value, field=field)
        return row

    def new_item(self, sub: Sub, data: ItemInput, start: date, field: str,
                 replaces: Item | None = None) -> Item:
        code = data.product_code.strip()
        charge = sub.plan.charges.get(code)
        if charge is None:
            raise BadUserInput(f"{field}.productCode",
                               f"product {code!r} is not a charge of price plan {sub.plan.code}")
        quantity = data.quantity if data.quantity is not None else (
            replaces.quantity if replaces else 1)
        if quantity < 1:
            raise BadUserInput(f"{field}.quantity", "must be at least 1")
        price = data.price if data.price is not None else (
            replaces.price if replaces else charge.price)
        if price < 0:
            raise BadUserInput(f"{field}.price", "must not be negative")
        length = check_frequency(charge.price_period, self.custom, f"{field}.productCode")
        item = Item(
            id=new_id(), product_id=charge.product_id, product_code=code,
            charge_type=charge.charge_type, quantity=quantity, price=price,
            price_period=charge.price_period, start_date=start, end_date=None,
            mrr=billing_terms.item_mrr(charge.charge_type, price, quantity, length,
                                       sub.concurrent_usage, charge.pricing(price)),
            replaces_item_id=replaces.id if replaces else None, new=True,
        )
        sub.items.append(item)
        return item

    # ---------------------------------------------------------------- actions

    def create(self, action: ActionInput, number: str | None, at_entry: str, effective: date,
               where: str) -> Sub:
        owner = self.account(action.subscription_owner_account_id or self.order.account_id,
                             f"{where}.subscriptionOwnerAccountId"
                             if action.subscription_owner_account_id else "accountId")
        invoice_owner = owner if action.invoice_owner_account_id is None else self.account(
            action.invoice_owner_account_id, f"{where}.invoiceOwnerAccountId")
        data = action.billing_terms
        if data is None:
            raise BadUserInput(f"{where}.billingTerms", "is mandatory for CREATE_SUBSCRIPTION")
        at = f"{where}.billingTerms"
        plan: Plan = billing_terms.pick(
            "price plan", f"{at}.pricePlan", self.lookups.plans_by_id, self.lookups.plans_by_code,
            data.price_plan.id, data.price_plan.code, "code")
        terms = billing_terms.resolve(data, plan.id, self.lookups.refs, at)
        if plan.currency != invoice_owner["currency"]:
            raise BadUserInput(f"{at}.pricePlan", f"price plan {plan.code} is in {plan.currency}, "
                               f"the invoice owner in {invoice_owner['currency']}")
        sub = Sub(
            id=new_id(), number=number, at=at_entry, new=True, plan=plan,
            concurrent_usage=terms.concurrent_usage, owner=owner["id"],
            invoice_owner=invoice_owner["id"], status="ACTIVE", start_date=effective,
            cancelled_on=None, binding_period=terms.binding_period,
            binding_start=terms.binding_start_date, binding_end=terms.binding_end_date,
            owners_since=effective, resumed_on=None, terms=terms,
        )
        if action.items is not None and not action.items:
            raise BadUserInput(f"{where}.items", "must not be empty; omit it for one item per "
                               "charge of the price plan")
        wanted = action.items if action.items is not None else [
            ItemInput(code) for code in plan.charges]
        for k, data_item in enumerate(wanted):
            self.new_item(sub, data_item, effective, f"{where}.items[{k}]")
        self.out.subs.append(sub)
        self.out.owners[sub.id, effective] = (sub, sub.owner, sub.invoice_owner)
        self.out.touched |= {sub.owner, sub.invoice_owner}
        return sub

    def change(self, sub: Sub, action: ActionInput, effective: date, where: str) -> None:
        if sub.status == "CANCELLED":
            raise BadUserInput(f"{where}.type", f"subscription {sub.number} is cancelled")
        if effective < sub.start_date:
            raise BadUserInput(f"{where}.effectiveDate",
                               f"is before the subscription starts ({sub.start_date})")
        getattr(self, action.type.lower())(sub, action, effective, where)

    def add_product(self, sub: Sub, action: ActionInput, effective: date, where: str) -> None:
        if action.item is None:
            raise BadUserInput(f"{where}.item", "is mandatory for ADD_PRODUCT")
        self.new_item(sub, action.item, effective, f"{where}.item")

    def update_product(self, sub: Sub, action: ActionInput, effective: date, where: str) -> None:
        if action.item is None or (action.item.quantity is None and action.item.price is None):
            raise BadUserInput(f"{where}.item", "give the new quantity or price")
        item = self.end_item(sub, action, effective, where)
        self.new_item(sub, action.item, effective, f"{where}.item", replaces=item)

    def remove_product(self, sub: Sub, action: ActionInput, effective: date, where: str) -> None:
        for name in ("quantity", "price"):
            if action.item is not None and getattr(action.item, name) is not None:
                raise BadUserInput(f"{where}.item.{name}", "is not applicable to REMOVE_PRODUCT")
        self.end_item(sub, action, effective, where)

    def end_item(self, sub: Sub, action: ActionInput, effective: date, where: str) -> Item:
        """The open item an UPDATE/REMOVE_PRODUCT names (itemId, or the one open item of
        item.productCode), ended at the effective date."""
        code = action.item.product_code.strip() if action.item is not None else None
        if action.item_id is not None:
            item_id = parse_uuid(action.item_id)
            found = [i for i in sub.items if i.id == item_id]
            if not found:
                raise NotFound("item", action.item_id, field=f"{where}.itemId")
            item = found[0]
            if code is not None and code != item.product_code:
                raise BadUserInput(f"{where}.item.productCode",
                                   f"item {item.id} is product {item.product_code!r}")
        elif code is not None:
            found = [i for i in sub.items if i.product_code == code and i.end_date is None]
            if len(found) != 1:
                raise BadUserInput(f"{where}.itemId", f"{len(found)} open items of product "
                                   f"{code!r} on subscription {sub.number}: give itemId")
            item = found[0]
        else:
            raise BadUserInput(f"{where}.itemId", "give itemId or item.productCode")
        if item.end_date is not None:
            raise BadUserInput(f"{where}.itemId", f"item {item.id} already ends on "
                               f"{item.end_date}")
        if effective < item.start_date:
            raise BadUserInput(f"{where}.effectiveDate",
                               f"is before item {item.id} starts ({item.start_date})")
        item.end_date, item.ended = effective, not item.new
        return item

    def suspend(self, sub: Sub, action: ActionInput, effective: date, where: str) -> None:
        if sub.status == "SUSPENDED":
            raise BadUserInput(f"{where}.type", f"subscription {sub.number} is already suspended")
        if sub.resumed_on is not None and effective < sub.resumed_on:
            raise BadUserInput(f"{where}.effectiveDate", "is inside its previous suspension "
                               f"(resumed on {sub.resumed_on})")
        sub.suspension = Suspension(new_id(), effective, new=True)
        sub.suspensions.append(sub.suspension)
        sub.status, sub.changed = "SUSPENDED", True

    def resume(self, sub: Sub, action: ActionInput, effective: date, where: str) -> None:
        suspension = sub.suspension
        if sub.status != "SUSPENDED" or suspension is None:
            raise BadUserInput(f"{where}.type", f"subscription {sub.number} is not suspended")
        if effective < suspension.suspend_date:
            raise BadUserInput(f"{where}.effectiveDate",
                               f"is before the suspension starts ({suspension.suspend_date})")
        suspension.resume_date = effective
        if not suspension.new:
            sub.suspensions.append(suspension)
        sub.suspension, sub.resumed_on = None, effective
        sub.status, sub.changed = "ACTIVE", True

    def cancel_subscription(self, sub: Sub, action: ActionInput, effective: date,
                            where: str) -> None:
        if sub.binding_end is not None and effective <= sub.binding_end and not (
                action.override_binding):
            raise BindingPeriodActive(
                f"{where}.effectiveDate: the binding period of subscription {sub.number} runs "
                f"until {sub.binding_end}; cancel after it or set overrideBinding: true",
                field=f"{where}.effectiveDate")
        for item in sub.items:
            if item.end_date is None or item.end_date > effective:
                item.end_date, item.ended = max(effective, item.start_date), not item.new
        sub.status, sub.cancelled_on, sub.changed = "CANCELLED", effective, True

    def owner_transfer(self, sub: Sub, action: ActionInput, effective: date, where: str) -> None:
        if action.new_subscription_owner_account_id is None and (
                action.new_invoice_owner_account_id is None):
            raise BadUserInput(f"{where}.newSubscriptionOwnerAccountId",
                               "give newSubscriptionOwnerAccountId or newInvoiceOwnerAccountId")
        if effective < sub.owners_since:
            raise BadUserInput(f"{where}.effectiveDate", "is before the subscription's last "
                               f"change of owners ({sub.owners_since})")
        if action.new_subscription_owner_account_id is not None:
            sub.owner = self.account(action.new_subscription_owner_account_id,
                                     f"{where}.newSubscriptionOwnerAccountId")["id"]
        if action.new_invoice_owner_account_id is not None:
            invoice_owner = self.account(action.new_invoice_owner_account_id,
                                         f"{where}.newInvoiceOwnerAccountId")
            if invoice_owner["currency"] != sub.plan.currency:
                raise BadUserInput(f"{where}.newInvoiceOwnerAccountId",
                                   f"the account is in {invoice_owner['currency']}, the "
                                   f"subscription's price plan in {sub.plan.currency}")
            sub.invoice_owner = invoice_owner["id"]
        sub.changed, sub.owners_since = True, effective
        self.out.owners[sub.id, effective] = (sub, sub.owner, sub.invoice_owner)
        self.out.touched |= {sub.owner, sub.invoice_owner}

    def renew_subscription(self, sub: Sub, action: ActionInput, effective: date,
                           where: str) -> None:
        if sub.binding_period is None or sub.binding_start is None or sub.binding_end is None:
            raise BadUserInput(f"{where}.type",
                               f"subscription {sub.number} has no binding period to renew")
        length = billing_terms.binding_length(sub.binding_period, self.custom, f"{where}.type")
        sub.binding_end, sub.changed = renewed_end(sub.binding_start, sub.binding_end,
                                                   length), True


def renewed_end(start: date, end: date, length: periods.PeriodLength) -> date:
    """The binding end one more period on: binding_end(start, n + 1 periods), where the
    binding from `start` now ends on `end` after n periods (month ends stay anchored to
    the start day: from Jan 31, MONTH ends Feb 27, then Mar 30)."""
    n = 1
    while periods.advance(start, length, n) - timedelta(days=1) < end:
        n += 1
    return periods.advance(start, length, n + 1) - timedelta(days=1)
