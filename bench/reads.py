"""The read path: an account's subscriptions with their items, billing terms, price plans
(charges, products), scheme, owners and MRR, in one query.

The SQL statements a request sends (extensions.sqlStatements) must not grow with the
list: the same count for 10 subscriptions and for 100 (DataLoaders, one query per kind
per level). Then requests/s of the 100-subscription query from 32 clients, with the
ceiling `{ __typename }` on the same server (the cost of a request doing nothing), and
the server's CPU per request against bare graphql-core executing the same document over
its response in memory (bench/graphql_ceiling.py: the cost of the GraphQL layer itself).
"""

from __future__ import annotations

from typing import Any

from .graphql_ceiling import cpu_per_execution
from .harness import Bench, Client, Row, create_account, fixed_load, fleet_catalog

CLIENTS = 32
QUERY = """query($id: ID!, $n: Int) { account(id: $id) { id name
  subscriptions(first: $n) { totalCount edges { node {
    id subscriptionNumber status startDate mrr
    ownerAccount { id name } invoiceOwnerAccount { id name partnerAccount }
    billingTerms { billingFrequency billingCycleDay agreementDate
      pricePlan { id code currency charges { chargeType price pricePeriod
        product { id code name } } }
      scheme { code type } }
    items { id quantity price pricePeriod startDate mrr product { id code name } }
  } } } } }"""
CREATE_ORDER = """mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }"""
TYPENAME = "{ __typename }"


def subscriptions(owner: str, payer: str, count: int) -> dict[str, Any]:
    return {"input": {"accountId": owner, "orderDate": "2026-01-01", "subscriptions": [
        {"actions": [{"type": "CREATE_SUBSCRIPTION", "effectiveDate": "2026-01-01",
                      "subscriptionOwnerAccountId": owner, "invoiceOwnerAccountId": payer,
                      "billingTerms": {"pricePlan": {"code": "FLEET"},
                                       "agreementDate": "2026-01-01",
                                       "billingFrequency": "MONTHLY"}}]}  # 3 items: the plan's
        for _ in range(count)]}}


async def statements(client: Client, account: str, n: int) -> tuple[int, int]:
    """The SQL statements of the query for `account`'s first `n`, and the items it got."""
    body, status = await client.post(QUERY, {"id": account, "n": n})
    if body.get("errors") or status != 200:
        raise AssertionError(f"the read query failed: {str(body.get('errors'))[:500]}")
    edges = body["data"]["account"]["subscriptions"]["edges"]
    return (int(body.get("extensions", {}).get("sqlStatements", -1)),
            sum(len(e["node"]["items"]) for e in edges))


async def run(bench: Bench) -> None:
    seconds = 2.0 if bench.quick else 10.0
    print(f"reads: 10 and 100 subscriptions x 3 items; {CLIENTS} clients, {seconds:.0f} s",
          flush=True)
    _, client = await bench.tenant("reads")
    try:
        await fleet_catalog(client)
        reseller = await create_account(client, "Reseller", True)
        small = await create_account(client, "Ten", False)
        large = await create_account(client, "Hundred", False)
        await client.gql(CREATE_ORDER, subscriptions(small, reseller, 10))
        for _ in range(2):
            await client.gql(CREATE_ORDER, subscriptions(large, reseller, 50))
        await statements(client, large, 100)  # warm the server's caches
        count_10, items_10 = await statements(client, small, 10)
        count_100, items_100 = await statements(client, large, 100)
        bench.report.require(items_10 == 30 and items_100 == 300,
                             f"reads: got {items_10} and {items_100} items, not 30 and 300")
        bench.report.require(count_10 == count_100 and count_10 > 0,
                             f"reads: {count_10} SQL statements for 10 subscriptions but "
                             f"{count_100} for 100: the count grows with the list")

        variables = {"id": large, "n": 100}

        answer = await client.gql(QUERY, variables)
        from billgraph.api import schema as served  # the SDL this build serves
        in_memory = cpu_per_execution(served.as_str(), QUERY, variables, answer,
                                      3 if bench.quick else 10)
        read = [(QUERY, variables)]
        await fixed_load(client, read, CLIENTS, 1.0)  # warm up
        with await bench.cpu_meter() as read_cpu:
            load = await fixed_load(client, read, CLIENTS, seconds)
        with await bench.cpu_meter() as floor_cpu:
            floor = await fixed_load(client, [(TYPENAME, {})], CLIENTS, seconds)
    finally:
        await client.close()
    report = bench.report
    report.notes.append(f"reads 5b: {read_cpu.per(load.done + load.errors, 'request')}; "
                        f"5c: {floor_cpu.per(floor.done + floor.errors, 'request')}")
    report.require(load.errors == 0 and floor.errors == 0,
                   f"reads: {load.errors} + {floor.errors} errors {load.samples[:1]}")
    report.add(Row(
        "5a account → 10 vs 100 subscriptions x 3 items, terms, plan, charges, products, "
        "owners, mrr: SQL statements per request",
        f"{count_10} for 10, {count_100} for 100", "-", None,
        "the same count for 10 and 100", count_10 == count_100))
    report.add(Row(
        f"5b that query for 100 subscriptions, {CLIENTS} clients",
        load.summary("requests"), f"`{{ __typename }}`: {floor.rate:,.0f} requests/s",
        load.rate / floor.rate, "0 errors (ratio reported)", load.errors == 0,
        rate=load.rate, cpu_ms=read_cpu.server_ms(load.done + load.errors)))
    read_ms = read_cpu.server_ms(load.done + load.errors)
    report.add(Row(
        "5d that query's server CPU per request vs bare graphql-core executing the same "
        "document over its response in memory",
        f"{read_ms:.1f} ms", f"graphql-core in memory: {in_memory * 1000:.1f} ms",
        in_memory * 1000 / read_ms, "(ratio reported: the GraphQL layer's share)", None))
    report.add(Row(
        f"5c `{{ __typename }}`, {CLIENTS} clients", floor.summary("requests"), "-", None,
        "0 errors", floor.errors == 0,
        rate=floor.rate, cpu_ms=floor_cpu.server_ms(floor.done + floor.errors)))
