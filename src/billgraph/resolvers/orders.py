"""Orders: createOrder, createOrderAsync (a job), and order(orderNumber)."""

from __future__ import annotations

import uuid

import strawberry

from billgraph.context import Info
from billgraph.schema.jobs import Job
from billgraph.schema.orders import (
    BillingTermsInput,
    CreateOrderInput,
    ItemInput,
    Order,
    OrderActionInput,
)
from billgraph.services import billing_terms as bt
from billgraph.services import jobs, orders
from billgraph.services.errors import NotFound

from .jobs import fetch_job
from .mutations import create, create_answered


def _str(value: object | None) -> str | None:
    return None if value is None else str(value)


def _item(data: ItemInput | None) -> orders.ItemInput | None:
    if data is None:
        return None
    return orders.ItemInput(product_code=data.product_code, quantity=data.quantity,
                            price=data.price)


def _terms(data: BillingTermsInput | None) -> bt.BillingTermsInput | None:
    if data is None:
        return None
    binding = data.binding_information
    cu = data.concurrent_usage_based_pricing
    return bt.BillingTermsInput(
        price_plan=bt.PlanRef(id=_str(data.price_plan.id), code=data.price_plan.code),
        agreement_date=data.agreement_date, scheme_code=data.scheme_code,
        billing_cycle_day=data.billing_cycle_day,
        billing_frequency=data.billing_frequency.value if data.billing_frequency else None,
        performed_by=None if data.performed_by is None else bt.UserRef(
            id=_str(data.performed_by.id), username=data.performed_by.username),
        performed_on=data.performed_on,
        binding_information=None if binding is None else bt.BindingInput(
            binding_period=binding.binding_period.value, start_date=binding.start_date),
        concurrent_usage_based_pricing=None if cu is None else bt.ConcurrentUsageInput(
            concurrent_usage=cu.concurrent_usage, rate_percentage=cu.rate_percentage,
            number_of_installed_items=cu.number_of_installed_items,
            billing_method=(cu.concurrent_usage_billing_method.value
                            if cu.concurrent_usage_billing_method else None)),
    )


def _action(data: OrderActionInput) -> orders.ActionInput:
    return orders.ActionInput(
        type=data.type.value, effective_date=data.effective_date,
        subscription_owner_account_id=_str(data.subscription_owner_account_id),
        invoice_owner_account_id=_str(data.invoice_owner_account_id),
        billing_terms=_terms(data.billing_terms),
        items=None if data.items is None else [_item(i) for i in data.items],  # type: ignore[misc]
        item=_item(data.item), item_id=_str(data.item_id),
        new_subscription_owner_account_id=_str(data.new_subscription_owner_account_id),
        new_invoice_owner_account_id=_str(data.new_invoice_owner_account_id),
        override_binding=data.override_binding,
    )


def order_input(data: CreateOrderInput) -> orders.OrderInput:
    """The service's input for a CreateOrderInput (ids stay strings: the service names bad ones)."""
    return orders.OrderInput(
        account_id=str(data.account_id), order_date=data.order_date,
        order_number=data.order_number,
        subscriptions=[orders.SubscriptionInput(
            subscription_number=s.subscription_number,
            actions=[_action(a) for a in s.actions]) for s in data.subscriptions],
    )


async def fetch_order(info: Info, order_id: uuid.UUID) -> Order:
    async with info.context.state.read() as conn:
        row = await orders.find_order(conn, info.context.tenant_id, order_id=order_id)
    if row is None:
        raise NotFound("order", order_id)
    return Order.from_row(row)


@strawberry.type
class OrderQueries:
    @strawberry.field(description="One order, by order number.")
    async def order(self, info: Info, order_number: str) -> Order | None:
        async with info.context.state.read() as conn:
            row = await orders.find_order(conn, info.context.tenant_id, order_number=order_number)
        if row is None:
            raise NotFound("order", repr(order_number), field="orderNumber")
        return Order.from_row(row)


@strawberry.type
class OrderMutations:
    @strawberry.mutation(description=(
        "Apply order actions to subscriptions in one transaction (at most 50 subscriptions "
        "and 50 actions). Creating subscriptions starts no billing."))
    async def create_order(self, info: Info, input: CreateOrderInput,
                           idempotency_key: str | None = None) -> Order:
        data = order_input(input)
        return await create_answered(
            info, operation="createOrder", key=idempotency_key,
            payload=lambda: orders.to_json(data), write=lambda w: orders.create_order(w, data),
            answer=Order.from_row, read=lambda order_id: fetch_order(info, order_id))

    @strawberry.mutation(description=(
        "Queue an order (at most 300 subscriptions and 300 actions) as a job and return at "
        "once; poll job(id). A failing order leaves the job FAILED with its errors and "
        "writes nothing."))
    async def create_order_async(self, info: Info, input: CreateOrderInput,
                                 idempotency_key: str | None = None) -> Job:
        data = order_input(input)
        orders.check_limits(data, orders.ASYNC_LIMITS)
        payload = {"input": orders.to_json(data)}
        return await create(info, operation="createOrderAsync", key=idempotency_key,
                            payload=lambda: payload,
                            write=lambda w: jobs.enqueue(w, orders.JOB_KIND, payload),
                            after_commit=lambda job_id: info.context.state.events.job_queued(
                                info.context.tenant_id, job_id),
                            read=lambda job_id: fetch_job(info, job_id))
