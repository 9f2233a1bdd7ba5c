"""Use case 1 of the Reseller Account seed: a fleet reseller at month end.

The reseller is the invoice owner of its end users' subscriptions; orders for the
same end users arrive in parallel. Steps:

1. flag the reseller (invoice owner) and its end users (subscription owners) as
   partner accounts, so parallel orders do not compete for their metrics;
2. create the subscriptions with parallel createOrder requests (no billing starts);
3. give every subscription the partner margin (a 10 % discount) and the reseller a
   German billing address, so its invoice carries the 19 % VAT of the tax rate DE-VAT;
4. run a bill run for the reseller at the end of the month: one invoice carrying
   every end user's subscriptions, discounted and taxed;
5. read lastMetricsUpdate (and stale) of the accounts once the run is complete.

    python examples/reseller_month_end.py [--month 2026-01] [--end-users 10] [--orders 30]
        [--refresh]

--refresh forces the metrics recompute at the end (refreshMetrics) instead of
leaving it to the metrics refresher's interval.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid

import _common as bg

BILL_RUN = """mutation BillRun($input: BillRunInput!, $key: String) {
  billRun(input: $input, idempotencyKey: $key) { id status } }"""
BILL_RUN_STATUS = """query BillRunStatus($id: ID!) { billRun(id: $id) {
  id status accountsProcessed invoicesCreated totalAmount errors { code message } } }"""
INVOICES = """query Invoices($id: ID!) { invoices(first: 10, filter: {accountId: $id}) {
  totalCount edges { node { invoiceNumber subtotal discountAmount taxAmount amount status
    lines { description amount } } } } }"""
ADJUSTMENTS = "query Adjustments { discounts { code } taxRates { code } }"
CREATE_DISCOUNT = """mutation CreateDiscount($input: CreateDiscountInput!) {
  createDiscount(input: $input) { code } }"""
CREATE_TAX_RATE = """mutation CreateTaxRate($input: CreateTaxRateInput!) {
  createTaxRate(input: $input) { code } }"""
APPLY_DISCOUNT = """mutation ApplyDiscount($input: ApplyDiscountInput!) {
  applyDiscount(input: $input) { id } }"""
SET_ADDRESS = """mutation SetAddress($id: ID!, $input: UpdateAccountInput!) {
  updateAccount(id: $id, input: $input) { id } }"""


async def partner_terms(api: bg.Api) -> None:
    """The partner margin PARTNER10 (10 % off every charge) and the German VAT DE-VAT
    (19 %), made once per tenant."""
    have = (await api(ADJUSTMENTS))
    if "PARTNER10" not in {d["code"] for d in have["discounts"]}:
        await api(CREATE_DISCOUNT, input={"code": "PARTNER10", "name": "Partner margin",
                                          "type": "PERCENTAGE", "percentage": "10"})
    if "DE-VAT" not in {r["code"] for r in have["taxRates"]}:
        await api(CREATE_TAX_RATE, input={"code": "DE-VAT", "name": "Umsatzsteuer",
                                          "percentage": "19", "country": "DE"})


async def main(args: argparse.Namespace) -> int:
    first, last = bg.month_bounds(args.month)
    run_id = uuid.uuid4().hex[:8]  # makes this run's idempotency keys unique
    async with bg.connect(args) as api:
        plan = await bg.fleet_catalog(api)
        print(f"catalog: plan {plan}")
        await partner_terms(api)

        # 1. existing accounts, flagged as partner accounts
        reseller = await bg.create_account(api, f"Fleet Reseller {run_id}")
        users = [await bg.create_account(api, f"Driver {run_id}-{i}")
                 for i in range(args.end_users)]
        for account in (reseller, *users):
            await api(bg.SET_PARTNER, id=account["id"], partner=True)
        print(f"reseller {reseller['accountNumber']} and {len(users)} end users flagged as "
              f"partner accounts")

        # 2. parallel orders: end user i owns subscription i, the reseller pays for all
        async def order(i: int) -> dict:
            user = users[i % len(users)]
            return await api(bg.CREATE_ORDER, key=f"month-end-{run_id}-{i}", input={
                "accountId": reseller["id"], "orderDate": first.isoformat(),
                "subscriptions": [bg.new_subscription(user["id"], reseller["id"],
                                                      first.isoformat())]})

        results = await asyncio.gather(*(order(i) for i in range(args.orders)),
                                       return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        for error in failed[:3]:
            print(f"  order failed: {error}")
        print(f"orders: {len(results) - len(failed)} created in parallel, {len(failed)} failed")

        # 3. the partner margin on every subscription, the reseller's address for its tax
        await api(SET_ADDRESS, id=reseller["id"], input={
            "billingAddress": {"country": "DE", "region": "HH", "city": "Hamburg"}})
        numbers = [s["subscription"]["subscriptionNumber"] for r in results
                   if not isinstance(r, BaseException) for s in r["createOrder"]["subscriptions"]]
        await asyncio.gather(*(api(APPLY_DISCOUNT, input={"subscriptionNumber": n,
                                                          "discountCode": "PARTNER10"})
                               for n in numbers))
        print(f"partner margin PARTNER10 on {len(numbers)} subscriptions; reseller taxed in DE")

        # 4. the month-end bill run for the reseller
        run = (await api(BILL_RUN, key=f"month-end-{run_id}", input={
            "targetDate": last.isoformat(), "invoiceDate": last.isoformat(),
            "accountIds": [reseller["id"]]}))["billRun"]
        while run["status"] in ("PENDING", "RUNNING"):
            await asyncio.sleep(0.5)
            run = (await api(BILL_RUN_STATUS, id=run["id"]))["billRun"]
        print(f"bill run {run['id']}: {run['status']}, {run['invoicesCreated']} invoice(s), "
              f"total {run['totalAmount']}")
        for error in run.get("errors") or []:
            print(f"  {error['code']}: {error['message']}")
        page = (await api(INVOICES, id=reseller["id"]))["invoices"]
        for edge in page["edges"]:
            invoice = edge["node"]
            print(f"  invoice {invoice['invoiceNumber']}: {invoice['amount']} "
                  f"({invoice['status']}, {len(invoice['lines'])} lines)")
            print(f"    subtotal {invoice['subtotal']} - discount {invoice['discountAmount']} "
                  f"+ tax {invoice['taxAmount']}")

        # 5. lastMetricsUpdate once the run is complete
        if args.refresh:
            for account in (reseller, *users):
                await api(bg.REFRESH, id=account["id"])
        await bg.show_metrics(api, reseller["id"], "reseller")
        for user in users[:3]:
            await bg.show_metrics(api, user["id"], "end user")
    return 0 if not failed and run["status"] == "COMPLETED" else 1


if __name__ == "__main__":
    p = bg.parser(__doc__)
    p.add_argument("--month", help="YYYY-MM (default: this month)")
    p.add_argument("--end-users", type=int, default=10)
    p.add_argument("--orders", type=int, default=30)
    p.add_argument("--refresh", action="store_true",
                   help="recompute the metrics now (refreshMetrics) at the end")
    bg.run(main, p.parse_args())
