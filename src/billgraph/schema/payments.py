"""Payments, credit memos and debit memos: types and inputs."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import strawberry
from sqlalchemy import RowMapping

from billgraph.context import Info

from .accounts import Account, load_account
from .enums import DocumentStatus


@strawberry.type(description=(
    "Money received from an account, applied to its invoices and debit memos."))
class Payment:
    id: strawberry.ID
    payment_number: str = strawberry.field(
        description="Unique per tenant (P00000001 when generated).")
    amount: Decimal = strawberry.field(description="The amount received.")
    applied_amount: Decimal = strawberry.field(
        description="How much is applied to invoices and debit memos.")
    refunded_amount: Decimal = strawberry.field(description="How much was refunded.")
    unapplied_amount: Decimal = strawberry.field(description="amount - applied - refunded.")
    effective_date: dt.date = strawberry.field(description="When the payment was received.")
    currency: str = strawberry.field(description="ISO 4217 code (the account's currency).")
    account_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: RowMapping) -> Payment:
        return cls(
            id=strawberry.ID(str(row["id"])), payment_number=row["payment_number"],
            amount=row["amount"], applied_amount=row["applied_amount"],
            refunded_amount=row["refunded_amount"],
            unapplied_amount=row["amount"] - row["applied_amount"] - row["refunded_amount"],
            effective_date=row["effective_date"], currency=row["currency"],
            account_id=row["account_id"],
        )

    @strawberry.field(description="The paying account.")
    async def account(self, info: Info) -> Account:
        return await load_account(info, self.account_id)


@strawberry.type(description="A credit to an account, applied to its invoices and debit memos.")
class CreditMemo:
    id: strawberry.ID
    memo_number: str = strawberry.field(
        description="Unique per tenant (CM00000001 when generated).")
    amount: Decimal = strawberry.field(description="The credit granted.")
    applied_amount: Decimal = strawberry.field(
        description="How much is applied to invoices and debit memos.")
    refunded_amount: Decimal = strawberry.field(description="How much was refunded.")
    unapplied_amount: Decimal = strawberry.field(description="amount - applied - refunded.")
    status: DocumentStatus = strawberry.field(description="DRAFT, POSTED or CANCELED.")
    reason: str | None = strawberry.field(description="Why the credit was granted.")
    memo_date: dt.date = strawberry.field(description="The memo's date.")
    currency: str = strawberry.field(description="ISO 4217 code (the account's currency).")
    account_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: RowMapping) -> CreditMemo:
        return cls(
            id=strawberry.ID(str(row["id"])), memo_number=row["memo_number"],
            amount=row["amount"], applied_amount=row["applied_amount"],
            refunded_amount=row["refunded_amount"],
            unapplied_amount=row["amount"] - row["applied_amount"] - row["refunded_amount"],
            status=DocumentStatus(row["status"]), reason=row["reason"],
            memo_date=row["memo_date"], currency=row["currency"], account_id=row["account_id"],
        )

    @strawberry.field(description="The account credited.")
    async def account(self, info: Info) -> Account:
        return await load_account(info, self.account_id)


@strawberry.type(description="A charge outside invoices, owed like one.")
class DebitMemo:
    id: strawberry.ID
    memo_number: str = strawberry.field(
        description="Unique per tenant (DM00000001 when generated).")
    amount: Decimal = strawberry.field(description="The amount charged.")
    balance: Decimal = strawberry.field(description="What is still owed on it.")
    status: DocumentStatus = strawberry.field(description="DRAFT, POSTED or CANCELED.")
    reason: str | None = strawberry.field(description="Why the account is charged.")
    memo_date: dt.date = strawberry.field(description="The memo's date.")
    currency: str = strawberry.field(description="ISO 4217 code (the account's currency).")
    account_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: RowMapping) -> DebitMemo:
        return cls(
            id=strawberry.ID(str(row["id"])), memo_number=row["memo_number"],
            amount=row["amount"], balance=row["balance"], status=DocumentStatus(row["status"]),
            reason=row["reason"], memo_date=row["memo_date"], currency=row["currency"],
            account_id=row["account_id"],
        )

    @strawberry.field(description="The account charged.")
    async def account(self, info: Info) -> Account:
        return await load_account(info, self.account_id)


@strawberry.input(description="Money moved onto exactly one invoice or debit memo.")
class ApplicationInput:
    amount: Decimal = strawberry.field(description="> 0, at most the target's open balance.")
    invoice_id: strawberry.ID | None = strawberry.field(
        default=None, description="A posted invoice (give this or debitMemoId).")
    debit_memo_id: strawberry.ID | None = strawberry.field(
        default=None, description="A posted debit memo (give this or invoiceId).")


@strawberry.input(description="A payment received from an account.")
class CreatePaymentInput:
    account_id: strawberry.ID = strawberry.field(description="The paying account.")
    amount: Decimal = strawberry.field(description="> 0, in the account's currency.")
    effective_date: dt.date | None = strawberry.field(default=None, description="Default: today.")
    applications: list[ApplicationInput] | None = strawberry.field(
        default=None, description="Apply the payment at once (same account and currency).")


@strawberry.input(description="A credit memo, posted at once.")
class CreateCreditMemoInput:
    account_id: strawberry.ID = strawberry.field(description="The account credited.")
    amount: Decimal = strawberry.field(description="> 0, in the account's currency.")
    reason: str | None = strawberry.field(default=None, description="Why the credit is granted.")
    applications: list[ApplicationInput] | None = strawberry.field(
        default=None, description="Apply the memo at once (same account and currency).")


@strawberry.input(description="A debit memo, posted at once: adds a balance like an invoice.")
class CreateDebitMemoInput:
    account_id: strawberry.ID = strawberry.field(description="The account charged.")
    amount: Decimal = strawberry.field(description="> 0, in the account's currency.")
    reason: str | None = strawberry.field(default=None, description="Why the account is charged.")
