"""A fleet reseller bills its end users per device-day, with volume tiers, through a month end.

The reseller (a partner account) is the invoice owner of its end users' subscriptions on
plan TELEMATICS: a PLATFORM fee (FLAT_FEE 49.00 a month, whatever the quantity) and
DEVICE_DAY usage priced VOLUME — every device-day of the month at the price of the one
tier the month's total falls in: 1–500 at 0.40, 501–2,000 at 0.30, 2,001+ at 0.25.
Steps:

1. the catalog, the reseller and its end users (fleets of 10, 20, 30 and 80 vehicles);
2. every vehicle reports one device-day per day of the month with recordUsage, in calls
   of up to 10,000 records — plus the first day of the next month, which belongs to the
   next service period (a record belongs to the period holding its UTC date);
3. a retry resends the first 1,000 records: reported duplicate, counted once;
4. Subscription.usage shows the month's quantity and amount before billing;
5. the bill run on the first day of the next month bills the month's usage in arrears
   (and the platform fee in advance, January's and February's), one invoice to the
   reseller; usage never touched the metrics until then.

    python examples/fleet_usage.py [--month 2026-01] [--refresh]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import uuid

import _common as bg

FLEETS = (10, 20, 30, 80)  # vehicles of each end user
RECORD = """mutation RecordUsage($records: [UsageRecordInput!]!) {
  recordUsage(records: $records) { recordId accepted duplicate errors { code field message } } }"""
USAGE = """query Usage($n: String!, $from: Date, $to: Date) { subscription(subscriptionNumber: $n) {
  usage(from: $from, to: $to) { product { code } periodStart periodEnd quantity recordCount
    amount billed } } }"""
BILL_RUN = """mutation BillRun($input: BillRunInput!) { billRun(input: $input) { id status } }"""
BILL_RUN_STATUS = """query BillRunStatus($id: ID!) { billRun(id: $id) {
  id status invoicesCreated totalAmount errors { code message } } }"""
LINES = """query Invoices($id: ID!) { invoices(first: 5, filter: {accountId: $id}) { edges {
  node { invoiceNumber amount lines { description quantity unitPrice amount
    servicePeriodStart servicePeriodEnd chargeType pricingModel } } } } }"""
TIERS = [{"upTo": "500", "unitPrice": "0.40"}, {"upTo": "2000", "unitPrice": "0.30"},
         {"upTo": None, "unitPrice": "0.25"}]


async def catalog(api: bg.Api, code: str) -> None:
    for product, name in (("PLATFORM", "Fleet platform"), ("DEVICE_DAY", "Device-day")):
        await api(bg.CREATE_PRODUCT, input={"code": f"{product}-{code}", "name": name})
    await api(bg.CREATE_PLAN, input={"code": code, "name": "Telematics", "charges": [
        {"productCode": f"PLATFORM-{code}", "chargeType": "RECURRING", "price": "49.00",
         "pricingModel": "FLAT_FEE"},
        {"productCode": f"DEVICE_DAY-{code}", "chargeType": "USAGE", "price": "0",
         "pricingModel": "VOLUME", "tiers": TIERS, "usageAggregation": "SUM",
         "unitOfMeasure": "device-day"}]})


async def main(args: argparse.Namespace) -> int:
    first, last = bg.month_bounds(args.month)
    following = last + dt.timedelta(days=1)
    run_id = uuid.uuid4().hex[:8]
    code = f"TELEMATICS-{run_id}"
    async with bg.connect(args) as api:
        # 1. catalog, reseller, end users and their subscriptions
        await catalog(api, code)
        reseller = await bg.create_account(api, f"Fleet Reseller {run_id}", partner=True)
        subscriptions: list[tuple[str, int]] = []
        for i, vehicles in enumerate(FLEETS):
            user = await bg.create_account(api, f"Fleet {run_id}-{i}")
            created = await api(bg.CREATE_ORDER, input={
                "accountId": reseller["id"], "orderDate": first.isoformat(),
                "subscriptions": [{"actions": [{
                    "type": "CREATE_SUBSCRIPTION", "effectiveDate": first.isoformat(),
                    "subscriptionOwnerAccountId": user["id"],
                    "invoiceOwnerAccountId": reseller["id"],
                    "billingTerms": {"pricePlan": {"code": code},
                                     "agreementDate": first.isoformat(),
                                     "billingFrequency": "MONTHLY"},
                    "items": [{"productCode": f"PLATFORM-{code}"},
                              {"productCode": f"DEVICE_DAY-{code}"}]}]}]})
            number = created["createOrder"]["subscriptions"][0]["subscription"][
                "subscriptionNumber"]
            subscriptions.append((number, vehicles))
        print(f"reseller {reseller['accountNumber']} (partner) with {len(FLEETS)} fleets: "
              + ", ".join(f"{n} ({v} vehicles)" for n, v in subscriptions))
        before = await bg.show_metrics(api, reseller["id"], "reseller before usage")

        # 2. one device-day per vehicle and day of the month, and the next month's first
        days = [first + dt.timedelta(days=d) for d in range((last - first).days + 1)]
        records = [{"recordId": f"{run_id}-{number}-{v}-{day}", "subscriptionNumber": number,
                    "productCode": f"DEVICE_DAY-{code}", "quantity": "1",
                    "timestamp": f"{day}T18:00:00Z"}
                   for number, vehicles in subscriptions for v in range(vehicles)
                   for day in (*days, following)]
        accepted = duplicates = errors = 0
        for start in range(0, len(records), 10_000):
            results = (await api(RECORD, records=records[start:start + 10_000]))["recordUsage"]
            accepted += sum(r["accepted"] for r in results)
            errors += sum(bool(r["errors"]) for r in results)
        print(f"usage: {len(records)} device-day records sent, {accepted} accepted, "
              f"{errors} refused")
        # 3. a retry of the first 1,000 records: counted once
        results = (await api(RECORD, records=records[:1000]))["recordUsage"]
        duplicates = sum(r["duplicate"] for r in results)
        print(f"retry: {len(results)} records sent again, {duplicates} reported duplicate")
        after = await bg.show_metrics(api, reseller["id"], "reseller after usage")
        unchanged = after["metrics"] == before["metrics"]
        print(f"metrics unchanged by usage: {str(unchanged).lower()}")

        # 4. the month's usage before billing
        for number, _ in subscriptions:
            summary = [s for s in (await api(USAGE, n=number, **{
                "from": first.isoformat(), "to": last.isoformat()}))["subscription"]["usage"]]
            for s in summary:
                print(f"  {number} {s['periodStart']}..{s['periodEnd']}: {s['quantity']} "
                      f"device-days, {s['amount']} (billed={str(s['billed']).lower()})")

        # 5. the bill run on the first day of the next month
        run = (await api(BILL_RUN, input={"targetDate": following.isoformat(),
                                          "accountIds": [reseller["id"]]}))["billRun"]
        while run["status"] in ("PENDING", "RUNNING"):
            await asyncio.sleep(0.3)
            run = (await api(BILL_RUN_STATUS, id=run["id"]))["billRun"]
        print(f"bill run: {run['status']}, {run['invoicesCreated']} invoice(s), "
              f"total {run['totalAmount']}")
        for edge in (await api(LINES, id=reseller["id"]))["invoices"]["edges"]:
            invoice = edge["node"]
            print(f"  invoice {invoice['invoiceNumber']}: {invoice['amount']}")
            for ln in invoice["lines"]:
                print(f"    {ln['chargeType']:9} {ln['pricingModel']:8} "
                      f"{ln['servicePeriodStart']}..{ln['servicePeriodEnd']} "
                      f"{ln['quantity']:>5} x {ln['unitPrice']:>5} = {ln['amount']:>7}  "
                      f"{ln['description']}")
        if args.refresh:
            await api(bg.REFRESH, id=reseller["id"])
        await bg.show_metrics(api, reseller["id"], "reseller after the bill run")
    return 0 if run["status"] == "COMPLETED" and not errors and unchanged else 1


if __name__ == "__main__":
    p = bg.parser(__doc__)
    p.add_argument("--month", help="YYYY-MM (default: this month)")
    p.add_argument("--refresh", action="store_true",
                   help="recompute the reseller's metrics (refreshMetrics) after the run")
    bg.run(main, p.parse_args())
