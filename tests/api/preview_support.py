"""Billing previews checked against the real thing: `previewed` runs billingPreview (twice),
checks that it wrote nothing, and after the bill run compares the run's invoices with the
preview line for line. `bill_run_support.bill` calls it, so every bill-run scenario of the
suite (and any built on `bill`) also asserts that its preview was exact."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import text

from billgraph.db.engine import make_engine
from tests.invariants import snapshot
from tests.support import Client, LiveServer

PREVIEW_LINE = """description subscription { id } subscriptionNumber product { id } chargeType
  quantity unitPrice amount discountAmount taxAmount servicePeriodStart servicePeriodEnd"""
INVOICE_PREVIEW = f"""account {{ id }} invoiceDate currency subtotal discountAmount taxAmount
  amount lines {{ {PREVIEW_LINE} }}"""
BILLING_PREVIEW = f"""query($input: BillingPreviewInput!) {{
  billingPreview(input: $input) {{ {INVOICE_PREVIEW} }} }}"""
SEQUENCES = ("account_number_seq", "subscription_number_seq", "order_number_seq",
             "invoice_number_seq", "payment_number_seq", "credit_memo_number_seq",
             "debit_memo_number_seq")

RUN_INVOICES = """
SELECT i.id, i.account_id, i.invoice_date, i.currency, i.subtotal, i.discount_amount,
       i.tax_amount, i.amount
FROM invoices i WHERE i.tenant_id = :t AND i.bill_run_id = :run ORDER BY i.account_id"""
RUN_LINES = """
SELECT l.invoice_id, l.description, l.subscription_id, s.subscription_number, l.product_id,
       l.charge_type, l.quantity, l.unit_price, l.amount, l.discount_amount, l.tax_amount,
       l.service_period_start, l.service_period_end
FROM invoice_lines l JOIN invoices i ON i.tenant_id = l.tenant_id AND i.id = l.invoice_id
LEFT JOIN subscriptions s ON s.tenant_id = l.tenant_id AND s.id = l.subscription_id
WHERE l.tenant_id = :t AND i.bill_run_id = :run ORDER BY l.invoice_id, l.position"""

Invoice = tuple[Any, ...]


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


def _day(value: Any) -> str | None:
    return None if value is None else str(value)


def previewed_invoices(preview: list[dict[str, Any]]) -> list[Invoice]:
    """The preview's invoices as comparable tuples (amounts as Decimals), by owner id."""
    out = []
    for inv in preview:
        out.append((inv["account"]["id"], inv["invoiceDate"], inv["currency"],
                     _d(inv["subtotal"]), _d(inv["discountAmount"]), _d(inv["taxAmount"]),
                     _d(inv["amount"]), tuple(
            (ln["description"], ln["subscription"] and ln["subscription"]["id"],
             ln["subscriptionNumber"], ln["product"] and ln["product"]["id"], ln["chargeType"],
             _d(ln["quantity"]), _d(ln["unitPrice"]), _d(ln["amount"]),
             _d(ln["discountAmount"]), _d(ln["taxAmount"]), ln["servicePeriodStart"],
             ln["servicePeriodEnd"]) for ln in inv["lines"])))
    return sorted(out, key=lambda i: str(i[0]))


async def run_invoices(server: LiveServer, tenant_id: str, run_id: str) -> list[Invoice]:
    """The invoices the bill run created, in the same shape."""
    lines: dict[Any, list[tuple[Any, ...]]] = {}
    for ln in await server.sql(RUN_LINES, t=tenant_id, run=run_id):
        lines.setdefault(ln["invoice_id"], []).append((
            ln["description"], str(ln["subscription_id"]) if ln["subscription_id"] else None,
            ln["subscription_number"], str(ln["product_id"]) if ln["product_id"] else None,
            ln["charge_type"], _d(ln["quantity"]), _d(ln["unit_price"]), _d(ln["amount"]),
            _d(ln["discount_amount"]), _d(ln["tax_amount"]), _day(ln["service_period_start"]),
            _day(ln["service_period_end"])))
    return sorted(((str(i["account_id"]), str(i["invoice_date"]), i["currency"],
                    _d(i["subtotal"]), _d(i["discount_amount"]), _d(i["tax_amount"]),
                    _d(i["amount"]), tuple(lines.get(i["id"], [])))
                   for i in await server.sql(RUN_INVOICES, t=tenant_id, run=run_id)),
                  key=lambda i: str(i[0]))


async def billing_preview(client: Client, target: str, **extra: Any) -> list[dict[str, Any]]:
    data = await client.gql(BILLING_PREVIEW, {"input": {"targetDate": target, **extra}})
    return list(data["billingPreview"])


async def database_state(server: LiveServer, tenant_id: str) -> dict[str, Any]:
    """Every row of the tenant, and where every number sequence stands."""
    engine = make_engine(server.database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            rows = await snapshot(conn, tenant_id)
            numbers = {}
            for seq in SEQUENCES:
                row = (await conn.execute(text(
                    f"SELECT last_value, is_called FROM {seq}"))).one()
                numbers[seq] = (row.last_value, row.is_called)
    finally:
        await engine.dispose()
    return {"rows": rows, "numbers": numbers}


def preview_input(extra: dict[str, Any]) -> dict[str, Any]:
    """The part of a billRun input a preview takes (autoPost changes no amount)."""
    return {k: v for k, v in extra.items() if k in ("invoiceDate", "accountIds")}


async def preview_unwritten(client: Client, server: LiveServer, target: str,
                            **extra: Any) -> list[dict[str, Any]]:
    """billingPreview twice: the same answer, and nothing of the tenant's rows or the
    number sequences changed."""
    before = await database_state(server, client.tenant_id)
    preview = await billing_preview(client, target, **preview_input(extra))
    assert await billing_preview(client, target, **preview_input(extra)) == preview
    assert await database_state(server, client.tenant_id) == before, "a preview wrote"
    return preview


async def assert_run_matches(server: LiveServer, client: Client, run: dict[str, Any],
                             preview: list[dict[str, Any]]) -> None:
    """The completed run created exactly the previewed invoices."""
    created = await run_invoices(server, client.tenant_id, run["id"])
    assert created == previewed_invoices(preview), "billingPreview differs from the bill run"
