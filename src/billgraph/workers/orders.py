"""Async orders (createOrderAsync): the `order` job kind."""

from __future__ import annotations

from sqlalchemy import RowMapping

from billgraph.db.tx import Writer
from billgraph.services import jobs, orders
from billgraph.state import AppState


async def run_order(state: AppState, job: RowMapping) -> None:
    """Create the order and mark the job SUCCEEDED in one transaction."""
    order = orders.from_json(orders.OrderInput, job["payload"]["input"])

    async def work(writer: Writer) -> None:
        order_id = (await orders.create_order(writer, order, orders.ASYNC_LIMITS))["id"]
        await jobs.finish(writer.conn, job, "SUCCEEDED", order_id=order_id)

    await state.write(job["tenant_id"], work)
