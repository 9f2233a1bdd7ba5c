"""Invoices, their lines, bill runs: types and inputs."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import RowMapping
from strawberry.types.arguments import InputContext

from billgraph.context import Info
from billgraph.services.errors import ErrorCode as _ErrorCode
from billgraph.services.pagination import Page

from .accounts import Account
from .adjustments import LineTax, line_taxes
from .catalog import Product, load_product
from .common import JobError, Node, PageInfo
from .enums import BillRunStatus, ChargeType, DocumentStatus, ErrorCode
from .pricing import PricingModel

if TYPE_CHECKING:
    from .subscriptions import Subscription


@strawberry.type(description="A line of an invoice; servicePeriodEnd is inclusive.")
class InvoiceLine:
    id: strawberry.ID
    description: str = strawberry.field(description="The line's text.")
    quantity: Decimal = strawberry.field(description="How many units.")
    unit_price: Decimal = strawberry.field(description="Price per unit.")
    amount: Decimal = strawberry.field(
        description="quantity * unitPrice, rounded half-up to the currency's minor units.")
    service_period_start: dt.date | None = strawberry.field(
        description="First day of the service billed, if any.")
    service_period_end: dt.date | None = strawberry.field(
        description="Last day of the service billed (inclusive), if any.")
    charge_type: ChargeType | None = strawberry.field(
        description="The charge type billed; null on free lines (standalone invoices).")
    pricing_model: PricingModel | None = strawberry.field(
        description="The pricing model of the charge billed; null on free lines.")
    discount_amount: Decimal = strawberry.field(
        description="The part of amount that discounts took off.")
    tax_amount: Decimal = strawberry.field(description="Tax on (amount − discountAmount).")
    product_id: strawberry.Private[uuid.UUID | None]
    subscription_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_row(cls, row: RowMapping) -> InvoiceLine:
        charge_type, model = row.get("charge_type"), row.get("pricing_model")
        return cls(
            charge_type=ChargeType(charge_type) if charge_type else None,
            pricing_model=PricingModel(model) if model else None,
            id=strawberry.ID(str(row["id"])), description=row["description"],
            quantity=row["quantity"], unit_price=row["unit_price"], amount=row["amount"],
            service_period_start=row["service_period_start"],
            service_period_end=row["service_period_end"],
            product_id=row["product_id"], subscription_id=row["subscription_id"],
            discount_amount=row.get("discount_amount", Decimal(0)),
            tax_amount=row.get("tax_amount", Decimal(0)),
        )

    @strawberry.field(description="The tax of the line per rate.")
    async def taxes(self, info: Info) -> list[LineTax]:
        return await line_taxes(info, uuid.UUID(self.id))

    @strawberry.field(description="The subscription billed; null on a standalone line.")
    async def subscription(
        self, info: Info
    ) -> Annotated[Subscription, strawberry.lazy(".subscriptions")] | None:
        return await load_line_subscription(info, self.subscription_id)

    @strawberry.field(description="The product charged, if the line names one.")
    async def product(self, info: Info) -> Product | None:
        return None if self.product_id is None else await load_product(info, self.product_id)


async def load_line_subscription(info: Info, subscription_id: uuid.UUID | None
                                 ) -> Subscription | None:
    """The subscription a line (invoiced or previewed) bills; None for none or a gone one."""
    if subscription_id is None:
        return None
    from .subscriptions import Subscription  # (subscriptions imports this module)

    row = await info.context.loaders.subscription.load(subscription_id)
    return None if row is None else Subscription.from_row(row)


def job_errors(errors: list[dict[str, Any]] | None) -> list[JobError]:
    return [JobError(code=ErrorCode(_ErrorCode(e.get("code", "INTERNAL"))),
                     message=e.get("message", ""), field=e.get("field"))
            for e in errors or []]


@strawberry.type(description="A bill run: bills every invoice owner among its accounts.")
class BillRun:
    id: strawberry.ID
    status: BillRunStatus = strawberry.field(description="PENDING, RUNNING, COMPLETED or FAILED.")
    target_date: dt.date = strawberry.field(
        description="Service periods starting on or before this date are billed.")
    invoice_date: dt.date = strawberry.field(description="The date of the invoices it creates.")
    accounts_total: int = strawberry.field(description="Invoice owners the run will bill.")
    accounts_processed: int = strawberry.field(description="Invoice owners billed so far.")
    invoices_created: int = strawberry.field(description="Invoices created so far.")
    total_amount: Decimal = strawberry.field(
        description="Sum of the amounts of the invoices created so far.")
    created_at: dt.datetime
    finished_at: dt.datetime | None = strawberry.field(
        description="When the run completed or failed.")
    errors: list[JobError] = strawberry.field(
        description="Why the run, or an account of it, failed.")

    @classmethod
    def from_row(cls, row: RowMapping) -> BillRun:
        return cls(
            id=strawberry.ID(str(row["id"])), status=BillRunStatus(row["status"]),
            target_date=row["target_date"], invoice_date=row["invoice_date"],
            accounts_total=row["accounts_total"], accounts_processed=row["accounts_processed"],
            invoices_created=row["invoices_created"], total_amount=row["total_amount"],
            created_at=row["created_at"], finished_at=row["finished_at"],
            errors=job_errors(row["errors"]),
        )


@strawberry.input(description="What a bill run bills.")
class BillRunInput:
    target_date: dt.date = strawberry.field(
        description="Service periods starting on or before this date are billed (in advance).")
    invoice_date: dt.date | None = strawberry.field(
        default=None, description="The invoices' date; default targetDate.")
    account_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Bill only these accounts; default every invoice owner.")
    auto_post: bool | None = strawberry.field(
        default=None, description="Post the invoices (default true); false leaves DRAFTs.")


def invoice_pdf_path(invoice_id: str) -> str:
    """Where the app serves an invoice's PDF (app.py routes it to billgraph.documents)."""
    return f"/invoices/{invoice_id}.pdf"


@strawberry.type(description=(
    "An invoice. Its balance is what is still owed: the amount, less what payments and "
    "credit memos applied; 0 once canceled."))
class Invoice(Node):
    id: strawberry.ID
    invoice_number: str = strawberry.field(
        description="Unique per tenant (INV00000001 when generated).")
    invoice_date: dt.date = strawberry.field(description="The invoice's date.")
    due_date: dt.date = strawberry.field(
        description="When payment is due (not before the invoice date).")
    status: DocumentStatus = strawberry.field(
        description="DRAFT, POSTED or CANCELED; only posted invoices count in metrics.")
    amount: Decimal = strawberry.field(
        description="subtotal − discountAmount + taxAmount: what the invoice bills.")
    subtotal: Decimal = strawberry.field(description="Σ line amounts.")
    discount_amount: Decimal = strawberry.field(description="Σ line discountAmount.")
    tax_amount: Decimal = strawberry.field(description="Σ line taxAmount.")
    balance: Decimal = strawberry.field(
        description="What is still owed: the amount less what was applied; 0 once canceled.")
    currency: str = strawberry.field(description="ISO 4217 code (the account's currency).")
    account_id: strawberry.Private[uuid.UUID]
    bill_run_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_row(cls, row: RowMapping) -> Invoice:
        return cls(
            id=strawberry.ID(str(row["id"])), invoice_number=row["invoice_number"],
            invoice_date=row["invoice_date"], due_date=row["due_date"],
            status=DocumentStatus(row["status"]), amount=row["amount"], balance=row["balance"],
            subtotal=row.get("subtotal", row["amount"]),
            discount_amount=row.get("discount_amount", Decimal(0)),
            tax_amount=row.get("tax_amount", Decimal(0)),
            currency=row["currency"], account_id=row["account_id"],
            bill_run_id=row["bill_run_id"],
        )

    @strawberry.field(description="The invoice owner.")
    async def account(self, info: Info) -> Account:
        return Account.from_row(await info.context.loaders.account.one(self.account_id))

    @strawberry.field(description=(
        "The invoice as a PDF document: a path on this server (/invoices/{id}.pdf), "
        "fetched with GET and the same Authorization header. A posted invoice's document "
        "never changes; a draft's is marked DRAFT."))
    def pdf_url(self) -> str:
        return invoice_pdf_path(self.id)

    @strawberry.field(description="The lines, in order.")
    async def lines(self, info: Info) -> list[InvoiceLine]:
        rows = await info.context.loaders.invoice_lines.load(uuid.UUID(self.id))
        return [InvoiceLine.from_row(r) for r in rows]

    @strawberry.field(description="The bill run that created it; null for standalone invoices.")
    async def bill_run(self, info: Info) -> BillRun | None:
        if self.bill_run_id is None:
            return None
        row = await info.context.loaders.bill_run.load(self.bill_run_id)
        return None if row is None else BillRun.from_row(row)


@strawberry.type
class InvoiceEdge:
    cursor: str
    node: Invoice


@strawberry.type(description="A page of invoices.")
class InvoiceConnection:
    edges: list[InvoiceEdge]
    page_info: PageInfo
    total_count: int

    @classmethod
    def from_page(cls, page: Page[RowMapping]) -> InvoiceConnection:
        return cls(edges=[InvoiceEdge(cursor=c, node=Invoice.from_row(r))
                          for r, c in zip(page.items, page.cursors, strict=True)],
                   total_count=page.total_count, page_info=PageInfo.of(page))


@strawberry.input(description="Narrows an invoices query; omitted fields do not filter.")
class InvoiceFilter:
    account_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only this account's invoices.")
    status: DocumentStatus | None = strawberry.field(
        default=None, description="Only invoices with this status.")


@strawberry.input(description="A free invoice line.")
class InvoiceLineInput:
    description: str = strawberry.field(description="The line's text (not empty).")
    unit_price: Decimal = strawberry.field(description="Price per unit.")
    product_code: str | None = strawberry.field(
        default=None, description="A product of the catalog, if the line is for one.")
    quantity: Decimal | None = strawberry.field(default=None, description="> 0, default 1.")
    service_period_start: dt.date | None = strawberry.field(
        default=None, description="First day of the service billed.")
    service_period_end: dt.date | None = strawberry.field(
        default=None, description="Inclusive; not before servicePeriodStart.")


@strawberry.input(description="A standalone invoice: free lines, no subscription.")
class StandaloneInvoiceInput:
    account_id: strawberry.ID = strawberry.field(description="The invoice owner.")
    invoice_date: dt.date = strawberry.field(description="The invoice's date.")
    lines: list[InvoiceLineInput] = strawberry.field(description="At least one line.")
    due_date: dt.date | None = strawberry.field(
        default=None, description="Default: the invoice date; never before it.")
    invoice_number: str | None = strawberry.field(
        default=None, description="Unique per tenant; generated (INV00000001) when omitted.")
    post: bool | None = strawberry.field(
        default=None, description="Post at once (default true); false leaves a DRAFT.")
    apply_taxes: bool | None = strawberry.field(default=None, description=(
        "Tax the lines at the owner's rates; default false: migrated invoices carry their "
        "own totals."))


def _standalone_from_input(cls: type[StandaloneInvoiceInput], value: Mapping[str, Any],
                           context: InputContext) -> StandaloneInvoiceInput:
    """Build the input directly from graphql-core's coerced value (its leaves are final:
    dates, Decimals). Strawberry's generic per-field conversion costs more than the whole
    database work of a 1,000-invoice migration batch."""
    return cls(
        account_id=value["accountId"], invoice_date=value["invoiceDate"],
        due_date=value.get("dueDate"), invoice_number=value.get("invoiceNumber"),
        post=value.get("post"), apply_taxes=value.get("applyTaxes"),
        lines=[InvoiceLineInput(
            description=ln["description"], unit_price=ln["unitPrice"],
            product_code=ln.get("productCode"), quantity=ln.get("quantity"),
            service_period_start=ln.get("servicePeriodStart"),
            service_period_end=ln.get("servicePeriodEnd")) for ln in value["lines"]],
    )


StandaloneInvoiceInput.__strawberry_definition__.from_input = _standalone_from_input  # type: ignore[attr-defined]


@strawberry.type(description="The outcome of one input item: the invoice, or its errors.")
class InvoiceResult:
    invoice: Invoice | None = strawberry.field(
        description="The invoice created; null when the item failed.")
    errors: list[JobError] = strawberry.field(
        description="Why the item failed; empty when it succeeded.")
