"""Previews (SPEC §13): what an order and the month end will do, before they happen.

A reseller pays for its end users' FLEET subscriptions (German VAT on its invoice).
Steps:

1. a sales desk asks previewOrder what one more subscription for a new end user does:
   the contractedMrr before and after, and the month-end invoice with the order in
   place — nothing is written, no number taken;
2. the order is placed for real (createOrder);
3. billingPreview shows the month-end invoice; then the bill run bills the month, and
   the two are compared line for line and cent for cent;
4. the invoice's PDF is fetched from Invoice.pdfUrl with the same API key.

    python examples/month_end_preview.py [--month 2026-01] [--end-users 3]
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from typing import Any

import _common as bg
import httpx

LINE = """description subscriptionNumber amount discountAmount taxAmount servicePeriodStart
  servicePeriodEnd"""
INVOICE = f"""account {{ id }} invoiceDate subtotal discountAmount taxAmount amount
  lines {{ {LINE} }}"""
PREVIEW_ORDER = f"""query PreviewOrder($input: CreateOrderInput!, $target: Date) {{
  previewOrder(input: $input, targetDate: $target) {{
    subscriptions {{ subscriptionNumber status mrr }}
    contractedMrr {{ account {{ id accountNumber }} before after }}
    invoices {{ {INVOICE} }} }} }}"""
BILLING_PREVIEW = f"""query BillingPreview($input: BillingPreviewInput!) {{
  billingPreview(input: $input) {{ {INVOICE} }} }}"""
BILL_RUN = """mutation BillRun($input: BillRunInput!, $key: String) {
  billRun(input: $input, idempotencyKey: $key) { id status } }"""
BILL_RUN_STATUS = """query BillRunStatus($id: ID!) { billRun(id: $id) {
  id status invoicesCreated totalAmount errors { code message } } }"""
INVOICES = """query Invoices($id: ID!) { invoices(first: 10, filter: {accountId: $id}) {
  edges { node { invoiceNumber pdfUrl account { id } invoiceDate subtotal discountAmount
    taxAmount amount lines { description subscription { subscriptionNumber } amount
    discountAmount taxAmount servicePeriodStart servicePeriodEnd } } } } }"""
ADJUSTMENTS = "query Adjustments { taxRates { code } }"
CREATE_TAX_RATE = """mutation CreateTaxRate($input: CreateTaxRateInput!) {
  createTaxRate(input: $input) { code } }"""
SET_ADDRESS = """mutation SetAddress($id: ID!, $input: UpdateAccountInput!) {
  updateAccount(id: $id, input: $input) { id } }"""


def comparable(invoice: dict[str, Any]) -> tuple[Any, ...]:
    """An invoice (previewed or billed) as the figures both have."""
    return (invoice["account"]["id"], invoice["invoiceDate"], invoice["subtotal"],
            invoice["discountAmount"], invoice["taxAmount"], invoice["amount"],
            [(ln["description"], ln.get("subscriptionNumber")
              or (ln.get("subscription") or {}).get("subscriptionNumber"), ln["amount"],
              ln["discountAmount"], ln["taxAmount"], ln["servicePeriodStart"],
              ln["servicePeriodEnd"]) for ln in invoice["lines"]])


async def main(args: argparse.Namespace) -> int:
    first, last = bg.month_bounds(args.month)
    run_id = uuid.uuid4().hex[:8]
    async with bg.connect(args) as api:
        print(f"catalog: plan {await bg.fleet_catalog(api)}")
        if "DE-VAT" not in {r["code"] for r in (await api(ADJUSTMENTS))["taxRates"]}:
            await api(CREATE_TAX_RATE, input={"code": "DE-VAT", "name": "Umsatzsteuer",
                                              "percentage": "19", "country": "DE"})
        reseller = await bg.create_account(api, f"Fleet Reseller {run_id}")
        await api(SET_ADDRESS, id=reseller["id"], input={
            "billingAddress": {"country": "DE", "city": "Hamburg", "line1": "Jungfernstieg 1"}})
        users = [await bg.create_account(api, f"Driver {run_id}-{i}")
                 for i in range(args.end_users)]
        for user in users:
            await api(bg.CREATE_ORDER, input={
                "accountId": reseller["id"], "orderDate": first.isoformat(),
                "subscriptions": [bg.new_subscription(user["id"], reseller["id"],
                                                      first.isoformat())]})
        print(f"reseller {reseller['accountNumber']} pays for {len(users)} end users")

        # 1. what would one more subscription do?
        newcomer = await bg.create_account(api, f"Driver {run_id}-new")
        order = {"accountId": reseller["id"], "orderDate": first.isoformat(),
                 "subscriptions": [bg.new_subscription(newcomer["id"], reseller["id"],
                                                       first.isoformat(), trackers=2)]}
        preview = (await api(PREVIEW_ORDER, input=order, target=last.isoformat()))[
            "previewOrder"]
        for change in preview["contractedMrr"]:
            print(f"order preview: contractedMrr of {change['account']['accountNumber']} "
                  f"{change['before']} -> {change['after']}")
        for invoice in preview["invoices"]:
            if invoice["account"]["id"] == reseller["id"]:
                print(f"order preview: the reseller's month-end invoice {invoice['amount']} "
                      f"({len(invoice['lines'])} lines)")

        # 2. place it
        await api(bg.CREATE_ORDER, input=order, key=f"preview-{run_id}")

        # 3. the month end: previewed, then billed
        target = {"targetDate": last.isoformat(), "accountIds": [reseller["id"]]}
        previewed = (await api(BILLING_PREVIEW, input=target))["billingPreview"]
        print(f"billing preview: {len(previewed)} invoice(s), total "
              f"{sum(float(i['amount']) for i in previewed):.2f}")
        run = (await api(BILL_RUN, key=f"month-end-{run_id}", input=target))["billRun"]
        while run["status"] in ("PENDING", "RUNNING"):
            await asyncio.sleep(0.2)
            run = (await api(BILL_RUN_STATUS, id=run["id"]))["billRun"]
        print(f"bill run: {run['status']}, {run['invoicesCreated']} invoice(s), "
              f"total {run['totalAmount']}")
        billed = [e["node"] for e in (await api(INVOICES, id=reseller["id"]))["invoices"][
            "edges"]]
        agree = [comparable(i) for i in previewed] == [comparable(i) for i in billed]
        lines = sum(len(i["lines"]) for i in billed)
        print(f"preview and bill run {'agree' if agree else 'DIFFER'}: {lines} lines")
        if not agree:
            print(f"  previewed {[comparable(i) for i in previewed]}")
            print(f"  billed    {[comparable(i) for i in billed]}")
        assert preview["invoices"] and comparable(
            next(i for i in preview["invoices"] if i["account"]["id"] == reseller["id"])
        )[2:6] == comparable(billed[0])[2:6], "the order preview's invoice differs"
        print("order preview's invoice matches the bill run's")

        # 4. the document
        async with httpx.AsyncClient(base_url=args.url.rstrip("/").removesuffix("/graphql"),
                                     headers={"Authorization": f"Bearer {args.key}"}) as http:
            for invoice in billed:
                pdf = await http.get(invoice["pdfUrl"])
                pdf.raise_for_status()
                ok = pdf.content.startswith(b"%PDF")
                print(f"invoice {invoice['invoiceNumber']}: {invoice['amount']}, PDF of "
                      f"{len(pdf.content):,} bytes{'' if ok else ' (NOT A PDF)'}")
                agree = agree and ok
    return 0 if agree and run["status"] == "COMPLETED" else 1


if __name__ == "__main__":
    p = bg.parser(__doc__)
    p.add_argument("--month", help="YYYY-MM (default: this month)")
    p.add_argument("--end-users", type=int, default=3)
    bg.run(main, p.parse_args())
