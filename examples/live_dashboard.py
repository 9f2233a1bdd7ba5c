"""A live dashboard: subscribe to metricsUpdated and print every change.

A GraphQL subscription over a websocket (graphql-transport-ws); the API key goes in
the connection_init payload. Each recompute of an account's metrics - a partner
account's refresh, a non-partner account's write, refreshMetrics - arrives as one
event; the dashboard prints what changed since the last event of that account.

    python examples/live_dashboard.py [--account ACCOUNT_ID] [--max-events N]

Runs until Ctrl-C (or N events).
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

import _common as bg
from gql import GraphQLRequest, gql

METRICS_UPDATED = gql("""subscription Dashboard($accountId: ID) {
  metricsUpdated(accountId: $accountId) {
    account { accountNumber name partnerAccount }
    metrics { balance creditBalance contractedMrr currency stale lastMetricsUpdate }
  }
}""")
WATCHED = ("balance", "creditBalance", "contractedMrr", "stale")


def show(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def describe(previous: dict[str, Any] | None, metrics: dict[str, Any]) -> str:
    if previous is None:
        return ", ".join(f"{k} {show(metrics[k])}" for k in WATCHED)
    changes = [f"{k} {show(previous[k])} -> {show(metrics[k])}" for k in WATCHED
               if previous[k] != metrics[k]]
    return ", ".join(changes) or "no change"


async def main(args: argparse.Namespace) -> int:
    seen: dict[str, dict[str, Any]] = {}
    count = 0
    variables = {"accountId": args.account} if args.account else {}
    async with bg.subscribe_session(args) as session:
        scope = f"account {args.account}" if args.account else "all accounts"
        print(f"listening for metricsUpdated ({scope}); Ctrl-C stops", flush=True)
        request = GraphQLRequest(METRICS_UPDATED, variable_values=variables)
        async for data in session.subscribe(request):
            update = data["metricsUpdated"]
            account, metrics = update["account"], update["metrics"]
            number = account["accountNumber"]
            now = dt.datetime.now().strftime("%H:%M:%S")
            kind = "partner" if account["partnerAccount"] else "account"
            print(f"{now} {number} ({kind}, {account['name']}): "
                  f"{describe(seen.get(number), metrics)} [{metrics['currency']}, "
                  f"lastMetricsUpdate {metrics['lastMetricsUpdate']}]", flush=True)
            seen[number] = metrics
            count += 1
            if args.max_events and count >= args.max_events:
                break
    return 0


if __name__ == "__main__":
    p = bg.parser(__doc__)
    p.add_argument("--account", help="only this account id (default: all the tenant's)")
    p.add_argument("--max-events", type=int, default=0, help="stop after N events (0: never)")
    bg.run(main, p.parse_args())
