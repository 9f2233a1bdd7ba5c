"""Account hierarchies: a distributor over two resellers, each with its end users.

1. create the distributor, two resellers under it (parentAccountId) and end users
   under each (one of them billed in EUR);
2. each USD end user orders a FLEET subscription (MRR 12.00 + 60.00 / 3 = 32.00) and
   gets a 100.00 invoice; the EUR end user an 80.00 invoice;
3. roll the hierarchy up now (refreshHierarchyMetrics) — or, with --wait, let the
   background refresher do it on the tenant interval (set to --interval seconds);
4. print the tree and each level's roll-up, one row per currency.

    python examples/distributor_hierarchy.py [--end-users 3] [--wait] [--interval 5]
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import _common as bg

CREATE = """mutation CreateAccount($input: CreateAccountInput!) {
  createAccount(input: $input) { id accountNumber name depth } }"""
INVOICE = """mutation Invoice($inputs: [StandaloneInvoiceInput!]!) {
  createStandaloneInvoices(inputs: $inputs) { invoice { invoiceNumber amount } } }"""
ROLLUP_FIELDS = "currency accountCount balance contractedMrr stale lastMetricsUpdate"
TREE = f"""query Tree($id: ID!) {{ account(id: $id) {{ name depth
  hierarchyMetrics {{ {ROLLUP_FIELDS} }}
  children(first: 50) {{ totalCount edges {{ node {{ name depth
    hierarchyMetrics {{ {ROLLUP_FIELDS} }}
    children(first: 50) {{ edges {{ node {{ name depth ancestors {{ name }} }} }} }}
  }} }} }} }} }}"""
REFRESH = f"""mutation Refresh($id: ID!) {{ refreshHierarchyMetrics(accountId: $id) {{
  {ROLLUP_FIELDS} }} }}"""
SETTINGS = """mutation Interval($s: Int!) {
  updateTenantSettings(input: {metricsRefreshIntervalSeconds: $s}) { id } }"""


async def account(api: bg.Api, name: str, parent: str | None = None,
                  currency: str = "USD") -> dict[str, Any]:
    data = await api(CREATE, input={"name": name, "parentAccountId": parent,
                                    "currency": currency})
    return dict(data["createAccount"])


def rollup_line(indent: str, node: dict[str, Any]) -> list[str]:
    return [f"{indent}{node['name']} (depth {node['depth']}): {r['currency']} "
            f"{r['accountCount']} accounts, balance {r['balance']}, "
            f"contractedMrr {r['contractedMrr']}, stale={str(r['stale']).lower()}"
            for r in node["hierarchyMetrics"]]


async def main(args: argparse.Namespace) -> int:
    async with bg.connect(args) as api:
        await bg.fleet_catalog(api)
        distributor = await account(api, "Distributor")
        resellers = [await account(api, f"Reseller {i}", distributor["id"]) for i in (1, 2)]
        users = [await account(api, f"End user {r + 1}.{u + 1}", reseller["id"])
                 for r, reseller in enumerate(resellers) for u in range(args.end_users - r)]
        euro = await account(api, "End user 2.EUR", resellers[1]["id"], currency="EUR")
        print(f"distributor {distributor['accountNumber']} over {len(resellers)} resellers and "
              f"{len(users) + 1} end users")

        async def documents(user: dict[str, Any]) -> None:
            await api(bg.CREATE_ORDER, input={
                "accountId": user["id"], "orderDate": "2026-01-01",
                "subscriptions": [bg.new_subscription(user["id"], user["id"], "2026-01-01")]})
            await api(INVOICE, inputs=[{"accountId": user["id"], "invoiceDate": "2026-01-31",
                                        "lines": [{"description": "Fleet service",
                                                   "unitPrice": "100.00"}]}])

        await asyncio.gather(*(documents(u) for u in users))
        await api(INVOICE, inputs=[{"accountId": euro["id"], "invoiceDate": "2026-01-31",
                                    "lines": [{"description": "Service", "unitPrice": "80.00"}]}])
        print(f"documents: {len(users)} orders and {len(users) + 1} invoices")

        if args.wait:
            await api(SETTINGS, s=args.interval)
            print(f"waiting for the refresher (interval {args.interval} s)")
            deadline = asyncio.get_running_loop().time() + 10 * args.interval + 30
            while asyncio.get_running_loop().time() < deadline:
                tree = (await api(TREE, id=distributor["id"]))["account"]
                rows = tree["hierarchyMetrics"]
                counted = sum(r["accountCount"] for r in rows)  # every account, once
                if counted == 3 + len(users) + 1 and not any(r["stale"] for r in rows):
                    break
                await asyncio.sleep(0.5)
            else:
                print("the refresher did not roll the hierarchy up in time")
                return 1
        else:
            await api(REFRESH, id=distributor["id"])
        tree = (await api(TREE, id=distributor["id"]))["account"]
        for text in rollup_line("", tree):
            print(text)
        for edge in tree["children"]["edges"]:
            for text in rollup_line("  ", edge["node"]):
                print(text)
            for leaf in edge["node"]["children"]["edges"]:
                path = " < ".join(a["name"] for a in leaf["node"]["ancestors"])
                print(f"    {leaf['node']['name']} (depth {leaf['node']['depth']}) < {path}")
    return 0


if __name__ == "__main__":
    p = bg.parser(__doc__)
    p.add_argument("--end-users", type=int, default=3,
                   help="end users of reseller 1 (reseller 2 has one fewer, plus one in EUR)")
    p.add_argument("--wait", action="store_true",
                   help="let the background refresher roll up instead of forcing it")
    p.add_argument("--interval", type=int, default=5,
                   help="the tenant's refresh interval with --wait (seconds)")
    bg.run(main, p.parse_args())
