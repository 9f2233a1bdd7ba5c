"""Payments, credit memos and debit memos: create, apply, unapply, refund."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal

import strawberry

from billgraph.context import Info
from billgraph.db.tx import Writer
from billgraph.schema.common import parse_id
from billgraph.schema.payments import (
    ApplicationInput,
    CreateCreditMemoInput,
    CreateDebitMemoInput,
    CreatePaymentInput,
    CreditMemo,
    DebitMemo,
    Payment,
)
from billgraph.services import applications as ledger
from billgraph.services import payments
from billgraph.services.applications import CREDIT_MEMO, PAYMENT

from .mutations import create, create_answered


def parse_applications(inputs: list[ApplicationInput] | None,
                       field: str = "applications") -> list[ledger.ApplicationInput]:
    return [ledger.ApplicationInput(
        amount=a.amount,
        invoice_id=(parse_id(a.invoice_id, "invoice", f"{field}[{n}].invoiceId")
                    if a.invoice_id is not None else None),
        debit_memo_id=(parse_id(a.debit_memo_id, "debit memo", f"{field}[{n}].debitMemoId")
                       if a.debit_memo_id is not None else None),
    ) for n, a in enumerate(inputs or [])]


async def fetch_payment(info: Info, payment_id: uuid.UUID, field: str = "id") -> Payment:
    async with info.context.state.read() as conn:
        return Payment.from_row(await payments.get_document(
            conn, info.context.tenant_id, "payments", payment_id, what="payment", field=field))


async def fetch_credit_memo(info: Info, memo_id: uuid.UUID, field: str = "id") -> CreditMemo:
    async with info.context.state.read() as conn:
        return CreditMemo.from_row(await payments.get_document(
            conn, info.context.tenant_id, "credit_memos", memo_id, what="credit memo",
            field=field))


async def fetch_debit_memo(info: Info, memo_id: uuid.UUID, field: str = "id") -> DebitMemo:
    async with info.context.state.read() as conn:
        return DebitMemo.from_row(await payments.get_document(
            conn, info.context.tenant_id, "debit_memos", memo_id, what="debit memo",
            field=field))


async def write(info: Info, action: Callable[[Writer], Awaitable[None]]) -> None:
    await info.context.state.write(info.context.tenant_id, action)


@strawberry.type
class PaymentQueries:
    @strawberry.field(description="One payment.")
    async def payment(self, info: Info, id: strawberry.ID) -> Payment | None:
        return await fetch_payment(info, parse_id(id, "payment"))

    @strawberry.field(description="One credit memo.")
    async def credit_memo(self, info: Info, id: strawberry.ID) -> CreditMemo | None:
        return await fetch_credit_memo(info, parse_id(id, "credit memo"))

    @strawberry.field(description="One debit memo.")
    async def debit_memo(self, info: Info, id: strawberry.ID) -> DebitMemo | None:
        return await fetch_debit_memo(info, parse_id(id, "debit memo"))


@strawberry.type
class PaymentMutations:
    @strawberry.mutation(description="Record a payment, optionally applying it at once.")
    async def create_payment(self, info: Info, input: CreatePaymentInput,
                             idempotency_key: str | None = None) -> Payment:
        data = payments.CreatePayment(
            account_id=parse_id(input.account_id, "account", "accountId"), amount=input.amount,
            effective_date=input.effective_date,
            applications=parse_applications(input.applications))
        return await create_answered(
            info, operation="createPayment", key=idempotency_key,
            payload=lambda: dataclasses.asdict(data),
            write=lambda w: payments.create_payment(w, data), answer=Payment.from_row,
            read=lambda payment_id: fetch_payment(info, payment_id))

    @strawberry.mutation(description="Apply a payment to posted invoices and debit memos.")
    async def apply_payment(self, info: Info, payment_id: strawberry.ID,
                            applications: list[ApplicationInput]) -> Payment:
        uid, apps = parse_id(payment_id, "payment", "paymentId"), parse_applications(applications)
        await write(info, lambda w: ledger.apply(w, PAYMENT, uid, apps))
        return await fetch_payment(info, uid, "paymentId")

    @strawberry.mutation(description="Take back applied payment amounts from their targets.")
    async def unapply_payment(self, info: Info, payment_id: strawberry.ID,
                              applications: list[ApplicationInput]) -> Payment:
        uid, apps = parse_id(payment_id, "payment", "paymentId"), parse_applications(applications)
        await write(info, lambda w: ledger.unapply(w, PAYMENT, uid, apps))
        return await fetch_payment(info, uid, "paymentId")

    @strawberry.mutation(description="Refund up to a payment's unapplied amount.")
    async def refund_payment(self, info: Info, payment_id: strawberry.ID,
                             amount: Decimal) -> Payment:
        uid = parse_id(payment_id, "payment", "paymentId")
        await write(info, lambda w: ledger.refund(w, PAYMENT, uid, amount))
        return await fetch_payment(info, uid, "paymentId")

    @strawberry.mutation(description="Issue a posted credit memo, optionally applying it at once.")
    async def create_credit_memo(self, info: Info, input: CreateCreditMemoInput,
                                 idempotency_key: str | None = None) -> CreditMemo:
        data = payments.CreateCreditMemo(
            account_id=parse_id(input.account_id, "account", "accountId"), amount=input.amount,
            reason=input.reason, applications=parse_applications(input.applications))
        return await create(info, operation="createCreditMemo", key=idempotency_key,
                            payload=lambda: dataclasses.asdict(data),
                            write=lambda w: payments.create_credit_memo(w, data),
                            read=lambda memo_id: fetch_credit_memo(info, memo_id))

    @strawberry.mutation(description="Apply a credit memo to posted invoices and debit memos.")
    async def apply_credit_memo(self, info: Info, credit_memo_id: strawberry.ID,
                                applications: list[ApplicationInput]) -> CreditMemo:
        uid = parse_id(credit_memo_id, "credit memo", "creditMemoId")
        apps = parse_applications(applications)
        await write(info, lambda w: ledger.apply(w, CREDIT_MEMO, uid, apps))
        return await fetch_credit_memo(info, uid, "creditMemoId")

    @strawberry.mutation(description="Take back applied credit memo amounts from their targets.")
    async def unapply_credit_memo(self, info: Info, credit_memo_id: strawberry.ID,
                                  applications: list[ApplicationInput]) -> CreditMemo:
        uid = parse_id(credit_memo_id, "credit memo", "creditMemoId")
        apps = parse_applications(applications)
        await write(info, lambda w: ledger.unapply(w, CREDIT_MEMO, uid, apps))
        return await fetch_credit_memo(info, uid, "creditMemoId")

    @strawberry.mutation(description="Refund up to a credit memo's unapplied amount.")
    async def refund_credit_memo(self, info: Info, credit_memo_id: strawberry.ID,
                                 amount: Decimal) -> CreditMemo:
        uid = parse_id(credit_memo_id, "credit memo", "creditMemoId")
        await write(info, lambda w: ledger.refund(w, CREDIT_MEMO, uid, amount))
        return await fetch_credit_memo(info, uid, "creditMemoId")

    @strawberry.mutation(description="Issue a posted debit memo (balance = amount).")
    async def create_debit_memo(self, info: Info, input: CreateDebitMemoInput,
                                idempotency_key: str | None = None) -> DebitMemo:
        data = payments.CreateDebitMemo(
            account_id=parse_id(input.account_id, "account", "accountId"), amount=input.amount,
            reason=input.reason)
        return await create(info, operation="createDebitMemo", key=idempotency_key,
                            payload=lambda: dataclasses.asdict(data),
                            write=lambda w: payments.create_debit_memo(w, data),
                            read=lambda memo_id: fetch_debit_memo(info, memo_id))

