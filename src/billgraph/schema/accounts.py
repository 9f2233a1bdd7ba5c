"""Account types and inputs."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import RowMapping

from billgraph.context import Info
from billgraph.services.errors import NotFound

from . import hierarchy
from .adjustments import BillingAddress, BillingAddressInput
from .common import Node, PageInfo, requested_page
from .enums import AccountStatus
from .subscriptions import account_subscriptions

if TYPE_CHECKING:
    from .billing import InvoiceConnection


@strawberry.type(description=(
    "Account metrics, in the account's currency. All but contractedMrr belong to the "
    "invoice owner; contractedMrr to the subscription owner. For a partner account they "
    "are recomputed by the background refresher: `stale` is true while writes wait for it."))
class AccountMetrics:
    balance: Decimal = strawberry.field(description="totalInvoiceBalance + totalDebitMemoBalance.")
    credit_balance: Decimal = strawberry.field(
        description="unappliedPaymentAmount + unappliedCreditMemoAmount.")
    last_invoice_date: dt.date | None = strawberry.field(
        description="Latest invoice date of the posted invoices.")
    total_invoice_balance: Decimal = strawberry.field(
        description="Sum of the open balances of posted invoices.")
    total_debit_memo_balance: Decimal = strawberry.field(
        description="Sum of the open balances of posted debit memos.")
    unapplied_credit_memo_amount: Decimal = strawberry.field(
        description="Sum over posted credit memos of amount − applied − refunded.")
    unapplied_payment_amount: Decimal = strawberry.field(
        description="Sum over payments of amount − applied − refunded.")
    contracted_mrr: Decimal = strawberry.field(description=(
        "MRR once every scheduled change has happened: open-ended recurring items of the "
        "non-cancelled subscriptions this account owns."))
    currency: str = strawberry.field(description="The account's currency (ISO 4217).")
    last_metrics_update: dt.datetime | None = strawberry.field(
        description="When these metrics were last computed.")
    stale: bool = strawberry.field(
        description="True while writes are waiting for the deferred refresh.")

    @classmethod
    def from_row(cls, row: RowMapping) -> AccountMetrics:
        return cls(
            balance=row["balance"], credit_balance=row["credit_balance"],
            last_invoice_date=row["last_invoice_date"],
            total_invoice_balance=row["total_invoice_balance"],
            total_debit_memo_balance=row["total_debit_memo_balance"],
            unapplied_credit_memo_amount=row["unapplied_credit_memo_amount"],
            unapplied_payment_amount=row["unapplied_payment_amount"],
            contracted_mrr=row["contracted_mrr"], currency=row["currency"],
            last_metrics_update=row["last_metrics_update"], stale=bool(row.get("stale", False)),
        )


async def load_account(info: Info, account_id: uuid.UUID) -> Account:
    return Account.from_row(await info.context.loaders.account.one(account_id))


async def load_metrics(info: Info, account_id: Any) -> AccountMetrics:
    row = await info.context.loaders.metrics.load(account_id)
    if row is None:
        raise NotFound("metrics of account", account_id)
    return AccountMetrics.from_row(row)


@strawberry.type(description="A customer account: an invoice owner, a subscription owner, or both.")
class Account(Node):
    id: strawberry.ID
    account_number: str = strawberry.field(
        description="Unique per tenant (A00000001 when generated).")
    name: str = strawberry.field(description="The account's display name.")
    currency: str = strawberry.field(
        description="ISO 4217 code of the account's documents and metrics.")
    bill_cycle_day: int = strawberry.field(
        description="Day of the month (1-31) billing periods start on by default.")
    partner_account: bool = strawberry.field(description=(
        "A partner (reseller) account: its metrics are computed asynchronously, so "
        "concurrent writes to it never wait on each other."))
    status: AccountStatus = strawberry.field(description="ACTIVE or CANCELED.")
    created_at: dt.datetime
    updated_at: dt.datetime
    billing_address: BillingAddress | None = strawberry.field(
        description="Where it is billed; null: no address, so its invoices carry no tax.")
    tax_exempt: bool = strawberry.field(description="Tax-exempt: its invoices carry no tax.")
    parent_account_id: strawberry.Private[uuid.UUID | None] = None

    @classmethod
    def from_row(cls, row: RowMapping) -> Account:
        return cls(
            id=strawberry.ID(str(row["id"])), account_number=row["account_number"],
            name=row["name"], currency=row["currency"], bill_cycle_day=row["bill_cycle_day"],
            partner_account=row["partner_account"], status=AccountStatus(row["status"]),
            created_at=row["created_at"], updated_at=row["updated_at"],
            billing_address=BillingAddress.of(row), tax_exempt=bool(row.get("tax_exempt")),
            parent_account_id=row["parent_account_id"],
        )

    parent_account = strawberry.field(
        resolver=hierarchy.parent_account, description="The account above this one, if any.")
    children = strawberry.field(
        resolver=hierarchy.children, description="The accounts directly under this one.")
    ancestors = strawberry.field(
        resolver=hierarchy.ancestors, description="The accounts above this one, nearest first.")
    depth = strawberry.field(
        resolver=hierarchy.depth, description="0 for an account without a parent.")
    hierarchy_metrics = strawberry.field(resolver=hierarchy.hierarchy_metrics, description=(
        "Roll-ups of the metrics of this account and all its descendants, one per currency."))

    @strawberry.field(description="The account's metrics (see AccountMetrics).")
    async def metrics(self, info: Info) -> AccountMetrics:
        return await load_metrics(info, uuid.UUID(self.id))

    subscriptions = strawberry.field(
        resolver=account_subscriptions,
        description="The subscriptions this account owns, oldest first.")

    @strawberry.field(description="The invoices this account owns, oldest first.")
    async def invoices(self, info: Info, first: int | None = None, after: str | None = None
                       ) -> Annotated[InvoiceConnection, strawberry.lazy(".billing")]:
        from .billing import InvoiceConnection

        page = requested_page(info, first, after)
        result = await info.context.loaders.invoice_pages.load((uuid.UUID(self.id), page))
        return InvoiceConnection.from_page(result)


@strawberry.type(description="An account whose metrics were just recomputed, and the metrics.")
class MetricsUpdate:
    account: Account = strawberry.field(description="The account whose metrics were recomputed.")
    metrics: AccountMetrics = strawberry.field(description="The metrics as recomputed.")


@strawberry.type
class AccountEdge:
    cursor: str
    node: Account


@strawberry.type(description="A page of accounts.")
class AccountConnection:
    edges: list[AccountEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input(description="Narrows an accounts query; omitted fields do not filter.")
class AccountFilter:
    partner_account: bool | None = strawberry.field(
        default=None, description="Only partner (true) or other (false) accounts.")
    status: AccountStatus | None = strawberry.field(
        default=None, description="Only accounts with this status.")
    name_contains: str | None = strawberry.field(
        default=None, description=(
        "Only accounts whose name contains this text (case-insensitive)."))
    parent_account_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only the accounts directly under this account.")
    descendant_of: strawberry.ID | None = strawberry.field(
        default=None, description="Only the accounts anywhere under this account.")


@strawberry.input(description="A new account.")
class CreateAccountInput:
    name: str = strawberry.field(description="The account's display name.")
    account_number: str | None = strawberry.field(
        default=None, description="Unique per tenant; generated (A00000001) when omitted.")
    currency: str | None = strawberry.field(
        default=None, description="ISO 4217 code; the tenant's default currency when omitted.")
    bill_cycle_day: int | None = strawberry.field(default=None, description="1–31, default 1.")
    partner_account: bool | None = strawberry.field(
        default=None, description="Flag as a partner account (default false).")
    billing_address: BillingAddressInput | None = strawberry.field(
        default=None, description="Where it is billed (its taxes follow the country).")
    tax_exempt: bool | None = strawberry.field(default=None, description="Default false.")
    parent_account_id: strawberry.ID | None = strawberry.field(default=None, description=(
        "Place the account under this one (same tenant, at most 5 levels)."))


@strawberry.input(description="Changes to an account; omitted fields stay as they are.")
class UpdateAccountInput:
    name: str | None = strawberry.field(default=None, description="A new display name.")
    bill_cycle_day: int | None = strawberry.field(
        default=None, description="A new default billing cycle day (1-31).")
    partner_account: bool | None = strawberry.field(
        default=None, description="Flag or unflag as a partner account (like setPartner).")
    status: AccountStatus | None = strawberry.field(default=None, description="ACTIVE or CANCELED.")
    billing_address: BillingAddressInput | None = strawberry.field(
        default=None, description="A new billing address (periods not yet invoiced).")
    tax_exempt: bool | None = strawberry.field(
        default=None, description="Exempt or not (periods not yet invoiced).")
    parent_account_id: strawberry.ID | None = strawberry.field(default=None, description=(
        "Move the account, with its whole subtree, under this one (no cycles, at most 5 "
        "levels)."))
    detach_from_parent: bool | None = strawberry.field(
        default=None, description="true: make the account (and its subtree) a top-level one.")
