"""Concurrent usage reports: the actual usage BASED_ON_ACTUAL_CAPACITY bills on.

A report says how many were in use at once on a day. A bill run bills a period at
the highest usage reported for one of its days, capped at the subscription's
concurrentUsage; reports arriving after a period was billed are billed (as the
difference) by the next run.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import text

from billgraph.db.tx import Writer
from billgraph.models import new_id
from billgraph.services.errors import BadUserInput, NotFound


async def report_concurrent_usage(writer: Writer, subscription_number: str, usage_date: date,
                                  concurrent_usage: int) -> None:
    conn, tenant_id = writer.conn, writer.tenant_id
    if concurrent_usage < 0:
        raise BadUserInput("concurrentUsage", "must be 0 or more")
    sub = (await conn.execute(
        text("SELECT id, cu_concurrent_usage FROM subscriptions "
             "WHERE tenant_id = :t AND subscription_number = :n"),
        {"t": tenant_id, "n": subscription_number})).first()
    if sub is None:
        raise NotFound("subscription", subscription_number, field="subscriptionNumber")
    if sub.cu_concurrent_usage is None:
        raise BadUserInput("subscriptionNumber", f"subscription {subscription_number} is not "
                                                 "priced on concurrent usage")
    await conn.execute(
        text("INSERT INTO concurrent_usage_reports (tenant_id, id, subscription_id, usage_date, "
             "concurrent_usage) VALUES (:t, :id, :sub, :day, :usage)"),
        {"t": tenant_id, "id": new_id(), "sub": sub.id, "day": usage_date,
         "usage": concurrent_usage})
