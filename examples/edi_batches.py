"""Use case 2 of the Reseller Account seed: a distributor's EDI orders, in batches.

Orders come from Electronic Data Interchange as individual orders of one
distributor, processed by a batch every 20 minutes. Each order has its own end
customer (a distinct subscription owner), so only the distributor - the invoice
owner of every subscription - is flagged as a partner account; the customers keep
synchronous metrics (their contractedMrr is right in each order's response).

    python examples/edi_batches.py [--interval 1200] [--batches 0] [--edi-dir DIR]
        [--orders-per-batch 8] [--distributor ACCOUNT_NUMBER]

--edi-dir: a drop folder of EDI orders, one JSON file each:
    {"ediOrderId": "PO-1001", "customer": "Acme Haulage", "date": "2026-01-05", "trackers": 3}
processed files move to DIR/processed/. Without it, each batch makes up demo orders.
--batches 0 runs until Ctrl-C. Every EDI order is sent with idempotency keys derived
from its ediOrderId, so a batch that crashed half-way can simply run again.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import _common as bg

ACCOUNT_BY_NUMBER = """query Account($number: String!) {
  account(accountNumber: $number) { id accountNumber partnerAccount } }"""


def read_drop_folder(folder: Path) -> list[tuple[Path | None, dict[str, Any]]]:
    return [(path, json.loads(path.read_text())) for path in sorted(folder.glob("*.json"))]


def demo_orders(run_id: str, batch: int, count: int) -> list[tuple[Path | None, dict[str, Any]]]:
    today = dt.date.today().isoformat()
    return [(None, {"ediOrderId": f"DEMO-{run_id}-{batch}-{i}",
                    "customer": f"EDI customer {run_id}-{batch}-{i}", "date": today,
                    "trackers": 1 + i % 3}) for i in range(count)]


async def process(api: bg.Api, distributor: dict[str, Any], edi: dict[str, Any]) -> str:
    """One EDI order: its customer account, then the subscription (invoice owner: the
    distributor). Returns the customer's contractedMrr, computed synchronously."""
    edi_id = edi["ediOrderId"]
    customer = await bg.create_account(api, edi["customer"], partner=False,
                                       key=f"edi-customer-{edi_id}")
    date = edi.get("date") or dt.date.today().isoformat()
    await api(bg.CREATE_ORDER, key=f"edi-order-{edi_id}", input={
        "accountId": distributor["id"], "orderDate": date,
        "subscriptions": [bg.new_subscription(customer["id"], distributor["id"], date,
                                              trackers=int(edi.get("trackers", 1)))]})
    metrics = (await api(bg.METRICS, id=customer["id"]))["account"]["metrics"]
    return f"{customer['accountNumber']} contractedMrr {metrics['contractedMrr']}"


async def main(args: argparse.Namespace) -> int:
    run_id = uuid.uuid4().hex[:8]
    async with bg.connect(args) as api:
        await bg.fleet_catalog(api)
        if args.distributor:
            distributor = (await api(ACCOUNT_BY_NUMBER, number=args.distributor))["account"]
        else:
            distributor = await bg.create_account(api, f"EDI Distributor {run_id}")
        distributor = (await api(bg.SET_PARTNER, id=distributor["id"], partner=True))["setPartner"]
        print(f"distributor {distributor['accountNumber']} flagged as a partner account; "
              f"a batch every {args.interval:g} s")
        batch, failures = 0, 0
        while True:
            batch += 1
            if args.edi_dir:
                orders = read_drop_folder(args.edi_dir)
            else:
                orders = demo_orders(run_id, batch, args.orders_per_batch)
            results = await asyncio.gather(*(process(api, distributor, edi) for _, edi in orders),
                                           return_exceptions=True)
            failed = 0
            for (path, edi), result in zip(orders, results, strict=True):
                if isinstance(result, BaseException):
                    failed += 1
                    print(f"  {edi.get('ediOrderId')}: failed: {result}")
                    continue
                if args.verbose:
                    print(f"  {edi['ediOrderId']}: customer {result}")
                if path is not None:
                    (path.parent / "processed").mkdir(exist_ok=True)
                    path.rename(path.parent / "processed" / path.name)
            failures += failed
            print(f"batch {batch}: {len(orders) - failed} orders processed, {failed} failed")
            done = [r for r in results if isinstance(r, str)]
            if done:  # a non-partner subscription owner: metrics already up to date
                print(f"  customer {done[0]} (synchronous)")
            await bg.show_metrics(api, distributor["id"], "  distributor")
            if args.batches and batch >= args.batches:
                break
            await asyncio.sleep(args.interval)
    return 1 if failures else 0


if __name__ == "__main__":
    p = bg.parser(__doc__)
    p.add_argument("--interval", type=float, default=1200.0,
                   help="seconds between batches (default 1200: every 20 minutes)")
    p.add_argument("--batches", type=int, default=0, help="stop after N batches (0: never)")
    p.add_argument("--edi-dir", type=Path, help="drop folder of EDI order JSON files")
    p.add_argument("--orders-per-batch", type=int, default=8, help="demo orders per batch")
    p.add_argument("--distributor", help="the distributor's account number (default: a new one)")
    p.add_argument("--verbose", action="store_true", help="a line per order")
    bg.run(main, p.parse_args())
