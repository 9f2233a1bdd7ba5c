"""Use case 4 of the Reseller Account seed: transfer subscription owners in parallel.

Subscriptions of a reseller's end users move from a source account to a target
account through concurrent OWNER_TRANSFER orders. Both accounts' metrics would be
recomputed by every order, so both are flagged as partner accounts: the orders do
not compete, and contractedMrr moves from source to target at the next refresh.

    python examples/owner_transfer.py [--subscriptions 20] [--transfer 12]
        [--date 2026-02-01] [--refresh]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import uuid

import _common as bg


async def main(args: argparse.Namespace) -> int:
    run_id = uuid.uuid4().hex[:8]
    transfer_date = dt.date.fromisoformat(args.date) if args.date else dt.date.today()
    start = (transfer_date.replace(day=1) - dt.timedelta(days=1)).replace(day=1).isoformat()
    async with bg.connect(args) as api:
        await bg.fleet_catalog(api)
        reseller = await bg.create_account(api, f"Reseller {run_id}", partner=True)
        source = await bg.create_account(api, f"Source fleet {run_id}", partner=True)
        target = await bg.create_account(api, f"Target fleet {run_id}", partner=True)
        print(f"reseller {reseller['accountNumber']}, source {source['accountNumber']}, "
              f"target {target['accountNumber']}: all partner accounts")

        created = (await api(bg.CREATE_ORDER, key=f"transfer-setup-{run_id}", input={
            "accountId": reseller["id"], "orderDate": start,
            "subscriptions": [bg.new_subscription(source["id"], reseller["id"], start)
                              for _ in range(args.subscriptions)]}))["createOrder"]
        numbers = [s["subscription"]["subscriptionNumber"] for s in created["subscriptions"]]
        print(f"{len(numbers)} subscriptions owned by {source['accountNumber']} "
              f"(order {created['orderNumber']})")
        for account in (source, target):
            await api(bg.REFRESH, id=account["id"])
            await bg.show_metrics(api, account["id"], "before:")

        async def transfer(number: str) -> dict:
            return await api(bg.CREATE_ORDER, key=f"transfer-{run_id}-{number}", input={
                "accountId": reseller["id"], "orderDate": transfer_date.isoformat(),
                "subscriptions": [{"subscriptionNumber": number, "actions": [{
                    "type": "OWNER_TRANSFER", "effectiveDate": transfer_date.isoformat(),
                    "newSubscriptionOwnerAccountId": target["id"]}]}]})

        results = await asyncio.gather(*(transfer(n) for n in numbers[:args.transfer]),
                                       return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        for error in failed[:3]:
            print(f"  transfer failed: {error}")
        print(f"transfers: {len(results) - len(failed)} concurrent orders succeeded, "
              f"{len(failed)} failed")

        for account in (source, target):
            if args.refresh:
                await api(bg.REFRESH, id=account["id"])
            await bg.show_metrics(api, account["id"], "after:")
    return 1 if failed else 0


if __name__ == "__main__":
    p = bg.parser(__doc__)
    p.add_argument("--subscriptions", type=int, default=20)
    p.add_argument("--transfer", type=int, default=12, help="how many to transfer")
    p.add_argument("--date", help="the transfer's effective date (default: today)")
    p.add_argument("--refresh", action="store_true", help="recompute the metrics at the end")
    bg.run(main, p.parse_args())
