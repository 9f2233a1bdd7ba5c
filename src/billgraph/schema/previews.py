"""Billing and order previews (SPEC §13): what a bill run or an order would do, unwritten."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from billgraph.context import Info
from billgraph.services.billing import preview as billing_preview
from billgraph.services.orders import preview as order_preview

from .accounts import Account
from .billing import load_line_subscription
from .catalog import Product, load_product
from .enums import ChargeType, SubscriptionStatus

if TYPE_CHECKING:
    from .subscriptions import Subscription


async def _account(info: Info, account_id: uuid.UUID) -> Account:
    return Account.from_row(await info.context.loaders.account.one(account_id))


@strawberry.type(description=(
    "A line a bill run would write: the same description, amounts and service period "
    "(servicePeriodEnd inclusive)."))
class PreviewLine:
    description: str = strawberry.field(description="The line's text.")
    subscription_number: str | None = strawberry.field(description=(
        "The subscription billed; null for one an order preview would create with a "
        "generated number."))
    charge_type: ChargeType | None = strawberry.field(description="The charge type billed.")
    quantity: Decimal = strawberry.field(description="How many units.")
    unit_price: Decimal = strawberry.field(description="Price per unit.")
    amount: Decimal = strawberry.field(description="The line's amount (before discount).")
    discount_amount: Decimal = strawberry.field(
        description="The part of amount that discounts take off.")
    tax_amount: Decimal = strawberry.field(description="Tax on (amount − discountAmount).")
    service_period_start: dt.date | None = strawberry.field(
        description="First day of the service billed.")
    service_period_end: dt.date | None = strawberry.field(
        description="Last day of the service billed (inclusive).")
    subscription_id: strawberry.Private[uuid.UUID | None]
    product_id: strawberry.Private[uuid.UUID]

    @classmethod
    def of(cls, line: billing_preview.PreviewLine,
           created: frozenset[uuid.UUID] = frozenset(),
           generated: frozenset[str] = frozenset()) -> PreviewLine:
        ln, charge = line.line, line.line.charge
        return cls(
            description=charge.description,
            subscription_number=(None if line.subscription_number in generated
                                 else line.subscription_number),
            charge_type=ChargeType(charge.charge_type), quantity=Decimal(charge.quantity),
            unit_price=charge.unit_price, amount=charge.amount, discount_amount=ln.discount,
            tax_amount=ln.tax, service_period_start=charge.service_start,
            service_period_end=charge.service_end,
            subscription_id=(None if charge.subscription_id in created
                             else charge.subscription_id),
            product_id=charge.product_id)

    @strawberry.field(description=(
        "The subscription billed; null for a subscription an order preview would create."))
    async def subscription(
        self, info: Info
    ) -> Annotated[Subscription, strawberry.lazy(".subscriptions")] | None:
        return await load_line_subscription(info, self.subscription_id)

    @strawberry.field(description="The product charged.")
    async def product(self, info: Info) -> Product | None:
        return await load_product(info, self.product_id)


@strawberry.type(description=(
    "An invoice a bill run would create now: nothing of it is written and no number is "
    "taken, so it has no id or invoice number."))
class InvoicePreview:
    invoice_date: dt.date = strawberry.field(description="The invoice's date.")
    currency: str = strawberry.field(description="ISO 4217 code (the owner's currency).")
    subtotal: Decimal = strawberry.field(description="Σ line amounts.")
    discount_amount: Decimal = strawberry.field(description="Σ line discountAmount.")
    tax_amount: Decimal = strawberry.field(description="Σ line taxAmount.")
    amount: Decimal = strawberry.field(description="subtotal − discountAmount + taxAmount.")
    lines: list[PreviewLine] = strawberry.field(description="The lines, in invoice order.")
    account_id: strawberry.Private[uuid.UUID]

    @classmethod
    def of(cls, invoice: billing_preview.PreviewInvoice,
           created: frozenset[uuid.UUID] = frozenset(),
           generated: frozenset[str] = frozenset()) -> InvoicePreview:
        sums = invoice.sums
        return cls(invoice_date=invoice.invoice_date, currency=invoice.currency,
                   subtotal=sums.subtotal, discount_amount=sums.discount,
                   tax_amount=sums.tax, amount=sums.amount, account_id=invoice.account_id,
                   lines=[PreviewLine.of(ln, created, generated) for ln in invoice.lines])

    @strawberry.field(description="The invoice owner.")
    async def account(self, info: Info) -> Account:
        return await _account(info, self.account_id)


@strawberry.input(description="What billingPreview previews: a billRun's input.")
class BillingPreviewInput:
    target_date: dt.date = strawberry.field(
        description="Service periods starting on or before this date are billed (in advance).")
    invoice_date: dt.date | None = strawberry.field(
        default=None, description="The invoices' date; default targetDate.")
    account_ids: list[strawberry.ID] | None = strawberry.field(default=None, description=(
        "Invoice owners to preview; default every invoice owner of the tenant (at most "
        "1,000, else BAD_USER_INPUT: name them here)."))


@strawberry.type(description="A subscription as the order would leave it.")
class SubscriptionPreview:
    subscription_number: str | None = strawberry.field(description=(
        "Its number; null for a subscription the order would create with a generated one."))
    status: SubscriptionStatus = strawberry.field(description="ACTIVE, SUSPENDED or CANCELLED.")
    mrr: Decimal = strawberry.field(description="Subscription.mrr after the order.")
    owner_account_id: strawberry.Private[uuid.UUID]
    invoice_owner_account_id: strawberry.Private[uuid.UUID]

    @classmethod
    def of(cls, sub: order_preview.SubscriptionPreview) -> SubscriptionPreview:
        return cls(subscription_number=sub.subscription_number,
                   status=SubscriptionStatus(sub.status), mrr=sub.mrr,
                   owner_account_id=sub.owner_account_id,
                   invoice_owner_account_id=sub.invoice_owner_account_id)

    @strawberry.field(description="The subscription owner after the order.")
    async def owner_account(self, info: Info) -> Account:
        return await _account(info, self.owner_account_id)

    @strawberry.field(description="The invoice owner after the order.")
    async def invoice_owner_account(self, info: Info) -> Account:
        return await _account(info, self.invoice_owner_account_id)


@strawberry.type(description="An account's contractedMrr before and after the order.")
class ContractedMrrChange:
    before: Decimal = strawberry.field(description="contractedMrr now.")
    after: Decimal = strawberry.field(description="contractedMrr once the order is placed.")
    account_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The account (a subscription owner the order touches).")
    async def account(self, info: Info) -> Account:
        return await _account(info, self.account_id)


@strawberry.type(description="What createOrder with the same input would do; nothing written.")
class OrderPreview:
    subscriptions: list[SubscriptionPreview] = strawberry.field(
        description="The subscriptions the order would create or change, in order.")
    contracted_mrr: list[ContractedMrrChange] = strawberry.field(
        description="Every account the order touches, by id.")
    invoices: list[InvoicePreview] = strawberry.field(description=(
        "With targetDate: the invoices a bill run through that date would create with the "
        "order in place (every invoice owner of the tenant, as billingPreview); else empty."))

    @classmethod
    def of(cls, result: order_preview.OrderPreview) -> OrderPreview:
        return cls(
            subscriptions=[SubscriptionPreview.of(s) for s in result.subscriptions],
            contracted_mrr=[ContractedMrrChange(before=c.before, after=c.after,
                                                account_id=c.account_id)
                            for c in result.contracted_mrr],
            invoices=[InvoicePreview.of(i, result.created, result.generated)
                      for i in result.invoices])
