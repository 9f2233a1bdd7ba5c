"""Use case 3 of the Reseller Account seed: migrate a distributor's invoices.

Hundreds of thousands of invoices move into ONE account during a migration (then
tens of thousands a day). Flag the account as a partner account, then send the
standalone invoices in concurrent createStandaloneInvoices requests of up to 1,000
each; finally check lastMetricsUpdate. Each request carries an idempotency key, so
a request retried after a timeout is never applied twice.

    python examples/standalone_invoice_migration.py [--invoices 5000] [--batch 1000]
        [--concurrency 4] [--account ACCOUNT_NUMBER] [--refresh]

For a CSV file, `billgraph import invoices FILE.csv --account ...` does the same with
a progress bar, an errors file and resume after an interruption.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import time
import uuid
from decimal import Decimal

import _common as bg

CREATE_INVOICES = """mutation Migrate($inputs: [StandaloneInvoiceInput!]!, $key: String) {
  createStandaloneInvoices(inputs: $inputs, idempotencyKey: $key) {
    invoice { id amount } errors { code message } } }"""
ACCOUNT_BY_NUMBER = """query Account($number: String!) {
  account(accountNumber: $number) { id accountNumber partnerAccount } }"""
COUNT = """query Count($id: ID!) { invoices(first: 1, filter: {accountId: $id}) { totalCount } }"""


def legacy_invoice(account_id: str, n: int) -> dict:
    """Invoice n of the old system: a monthly service line and a one-off fee."""
    month = dt.date(2024, 1, 1) + dt.timedelta(days=31 * (n % 24))
    start = month.replace(day=1)
    return {"accountId": account_id, "invoiceDate": start.isoformat(),
            "lines": [
                {"description": f"Fleet service, legacy invoice {n}", "quantity": "1",
                 "unitPrice": f"{10 + n % 50}.00", "servicePeriodStart": start.isoformat(),
                 "servicePeriodEnd": (start + dt.timedelta(days=27)).isoformat()},
                {"description": "Installation", "unitPrice": "2.50"}]}


async def main(args: argparse.Namespace) -> int:
    run_id = uuid.uuid4().hex[:8]
    async with bg.connect(args) as api:
        if args.account:
            account = (await api(ACCOUNT_BY_NUMBER, number=args.account))["account"]
        else:
            account = await bg.create_account(api, f"Migrated Distributor {run_id}")
        account = (await api(bg.SET_PARTNER, id=account["id"], partner=True))["setPartner"]
        print(f"account {account['accountNumber']} flagged as a partner account")

        limit = asyncio.Semaphore(args.concurrency)
        batches = [list(range(start, min(start + args.batch, args.invoices)))
                   for start in range(0, args.invoices, args.batch)]

        async def send(index: int, numbers: list[int]) -> tuple[int, int, Decimal]:
            async with limit:
                data = await api(CREATE_INVOICES, key=f"migration-{run_id}-{index}",
                                 inputs=[legacy_invoice(account["id"], n) for n in numbers])
            results = data["createStandaloneInvoices"]
            created = [r["invoice"] for r in results if r["invoice"]]
            for r in results:
                for error in r["errors"]:
                    print(f"  {error['code']}: {error['message']}")
            return len(created), len(results) - len(created), sum(
                (Decimal(i["amount"]) for i in created), Decimal(0))

        started = time.perf_counter()
        totals = await asyncio.gather(*(send(i, b) for i, b in enumerate(batches)))
        seconds = time.perf_counter() - started
        created = sum(t[0] for t in totals)
        failed = sum(t[1] for t in totals)
        amount = sum((t[2] for t in totals), Decimal(0))
        print(f"created {created} invoices ({amount}) in {len(batches)} requests, "
              f"{failed} failed, {seconds:.1f} s ({created / max(seconds, 1e-9):.0f}/s)")
        count = (await api(COUNT, id=account["id"]))["invoices"]["totalCount"]
        print(f"account {account['accountNumber']} has {count} invoices")

        if args.refresh:
            await api(bg.REFRESH, id=account["id"])
        await bg.show_metrics(api, account["id"], "account")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    p = bg.parser(__doc__)
    p.add_argument("--invoices", type=int, default=5000)
    p.add_argument("--batch", type=int, default=1000, help="invoices per request (at most 1000)")
    p.add_argument("--concurrency", type=int, default=4, help="requests at once")
    p.add_argument("--account", help="the account number (default: a new account)")
    p.add_argument("--refresh", action="store_true", help="recompute the metrics at the end")
    bg.run(main, p.parse_args())
