"""Statements per request grow with the depth of the query, never with the length of a list.

Every list or object field reached from a list reads through a loader: for each such
path, a page of 2 parents sends exactly as many SQL statements as a page of 20.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.bill_run_support import account, bill, plan
from tests.support import Client, LiveServer, start_server

MANY = 20

# the document of issue 12's acceptance, with the page size as a variable
ACCOUNT_INVOICES = """query($n: Int) { accounts(first: $n) { edges { node {
  invoices(first: 5) { totalCount edges { node { lines { amount } } } } } } } }"""

SUBSCRIPTION = """subscriptionNumber currency mrr
  ownerAccount { name metrics { balance } } invoiceOwnerAccount { name }
  billingTerms { pricePlan { code charges { price product { code } } }
                 scheme { code } performedBy { username } }
  items { quantity product { code } }"""

PATHS = {
    "accounts { invoices { lines } }": ACCOUNT_INVOICES,
    "accounts { metrics subscriptions { ... } invoices { account billRun lines { ... } } }":
        f"""query($n: Int) {{ accounts(first: $n) {{ edges {{ node {{ name
          metrics {{ balance contractedMrr stale }}
          subscriptions(first: 3) {{ totalCount edges {{ node {{ {SUBSCRIPTION} }} }} }}
          invoices(first: 3) {{ edges {{ node {{ amount account {{ name }} billRun {{ id }}
            lines {{ amount product {{ code }} subscription {{ subscriptionNumber }} }}
          }} }} }} }} }} }} }}""",
    "subscriptions { owners terms plan charges items }":
        f"""query($n: Int) {{ subscriptions(first: $n) {{ edges {{ node {{
          {SUBSCRIPTION} }} }} }} }}""",
    "invoices { account lines { product subscription } billRun }":
        """query($n: Int) { invoices(first: $n) { edges { node { invoiceNumber
          account { name metrics { balance } } billRun { status }
          lines { amount product { code } subscription { subscriptionNumber
                  items { quantity } } } } } } }""",
}

ORDER = """query($number: String!) { order(orderNumber: $number) { account { name }
  subscriptions { actions { type } subscription { SUBSCRIPTION } } } }""".replace(
    "SUBSCRIPTION", SUBSCRIPTION)

SUMMARY = """query($id: ID!) { accountSummary(id: $id) { account { name }
  metrics { balance }
  subscriptions { SUBSCRIPTION }
  invoices { amount account { name } lines { amount product { code } } }
  payments { amount account { name metrics { balance } } } } }""".replace(
    "SUBSCRIPTION", SUBSCRIPTION)


async def statements(client: Client, query: str, variables: dict[str, Any]) -> int:
    await client.gql("{ viewer { id } }")  # the key is looked up (and cached) here
    response = await client.post(query, variables)
    body = response.json()
    assert not body.get("errors"), body["errors"]
    return int(body["extensions"]["sqlStatements"])


async def subscribe_all(client: Client, placer: str, owners: list[str], number: str) -> None:
    """One order creating a subscription for each owner (its invoice owner too)."""
    await client.gql(
        "mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }",
        {"input": {"accountId": placer, "orderDate": "2026-01-01", "orderNumber": number,
                   "subscriptions": [{"actions": [{
                       "type": "CREATE_SUBSCRIPTION", "effectiveDate": "2026-01-01",
                       "subscriptionOwnerAccountId": owner,
                       "billingTerms": {"pricePlan": {"code": "PLAN"},
                                        "agreementDate": "2026-01-01",
                                        "billingFrequency": "MONTHLY"}}]}
                       for owner in owners]}})


async def pay(client: Client, account_id: str, times: int) -> None:
    for _ in range(times):
        await client.gql("mutation($i: CreatePaymentInput!) { createPayment(input: $i) { id } }",
                         {"i": {"accountId": account_id, "amount": "1.00",
                                "effectiveDate": "2026-01-02"}})


@pytest.mark.slow
async def test_a_page_of_2_parents_sends_as_many_statements_as_a_page_of_20(
        server: LiveServer) -> None:
    async with start_server(server.database_url, run_workers=False,
                            expose_sql_count=True) as live, live.new_tenant("counts") as client:
        await plan(client, "PLAN", ("SEAT", "RECURRING", "10.00", "MONTHLY"),
                   ("SETUP", "ONE_TIME", "5.00", "MONTHLY"))
        owners = [await account(client, f"Customer {n:02}") for n in range(MANY)]
        # the first 2 owners' subscriptions come from an order of 2, the other 18 from one
        # of 18; then a third order of 20 more: orders of 2 and 20 subscriptions to compare
        await subscribe_all(client, owners[0], owners[:2], "O-2")
        await subscribe_all(client, owners[0], owners[2:], "O-18")
        await subscribe_all(client, owners[0], owners, "O-20")
        run = await bill(client, live, "2026-01-01")
        assert (run["status"], run["invoicesCreated"]) == ("COMPLETED", MANY)
        await pay(client, owners[0], 2)
        await pay(client, owners[1], MANY)

        counts: dict[str, tuple[int, int]] = {}
        for name, query in PATHS.items():
            counts[name] = (await statements(client, query, {"n": 2}),
                            await statements(client, query, {"n": MANY}))
        counts["order { subscriptions { subscription { ... } } }"] = (
            await statements(client, ORDER, {"number": "O-2"}),
            await statements(client, ORDER, {"number": "O-20"}))
        # owners[0]: 2 subscriptions (O-2, O-20), 1 invoice, 2 payments;
        # owners[1]: 2 subscriptions, 1 invoice, 20 payments
        counts["accountSummary { payments { account } ... }"] = (
            await statements(client, SUMMARY, {"id": owners[0]}),
            await statements(client, SUMMARY, {"id": owners[1]}))

        report = "\n".join(f"{two:3} vs {many:3}  {name}" for name, (two, many) in counts.items())
        print("statements for 2 parents vs 20:\n" + report)
        assert all(two == many for two, many in counts.values()), report


async def test_the_acceptance_document_sends_the_same_statements_for_2_and_20_accounts(
        server: LiveServer) -> None:
    """Issue 12: `accounts(first: 20) { ... invoices(first: 5) { ... lines } }` is flat
    (it sent one statement per account before the invoice pages had a loader)."""
    async with start_server(server.database_url, run_workers=False,
                            expose_sql_count=True) as live, live.new_tenant("flat") as client:
        for n in range(MANY):
            owner = await account(client, f"Customer {n:02}")
            await client.gql(
                "mutation($i: [StandaloneInvoiceInput!]!) { createStandaloneInvoices(inputs: $i)"
                " { errors { message } } }",
                {"i": [{"accountId": owner, "invoiceDate": "2026-01-01",
                        "lines": [{"description": "Consulting", "unitPrice": "100.00"}]}]})
        two = await statements(client, ACCOUNT_INVOICES, {"n": 2})
        many = await statements(client, ACCOUNT_INVOICES, {"n": MANY})
        # accounts: count + page; invoices: counts + pages; lines: one batch
        assert (two, many) == (5, 5)


PREVIEW = """query($ids: [ID!]) { billingPreview(input: {targetDate: "2026-02-01",
  accountIds: $ids}) { amount account { name metrics { balance } }
  lines { amount product { code } subscription { subscriptionNumber items { quantity } } } } }"""


@pytest.mark.slow
async def test_a_billing_preview_of_2_owners_sends_as_many_statements_as_one_of_20(
        server: LiveServer) -> None:
    async with start_server(server.database_url, run_workers=False,
                            expose_sql_count=True) as live, live.new_tenant("preview") as client:
        await plan(client, "PLAN", ("SEAT", "RECURRING", "10.00", "MONTHLY"))
        owners = [await account(client, f"Owner {n:02}") for n in range(MANY)]
        for owner in owners:  # each its own invoice owner, 2 subscriptions each
            await subscribe_all(client, owner, [owner, owner], f"O-{owner}")
        two = await statements(client, PREVIEW, {"ids": owners[:2]})
        many = await statements(client, PREVIEW, {"ids": owners})
        print(f"billingPreview: {two} statements for 2 invoice owners, {many} for {MANY}")
        assert two == many


async def test_a_subscription_page_fetches_only_what_its_fields_select(
        server: LiveServer) -> None:
    """The page loads what its nodes' selected fields read before answering (so they
    answer at once): one batch per kind selected, nothing for a field not selected, and
    one batch of products for the items' and the charges' products together."""
    async with start_server(server.database_url, run_workers=False,
                            expose_sql_count=True) as live, live.new_tenant("fetch") as client:
        await plan(client, "PLAN", ("SEAT", "RECURRING", "10.00", "MONTHLY"),
                   ("SETUP", "ONE_TIME", "5.00", "MONTHLY"))
        owners = [await account(client, f"Customer {n}") for n in range(3)]
        await subscribe_all(client, owners[0], owners, "O-3")

        async def extra(node: str) -> int:
            query = f"{{ subscriptions(first: 10) {{ edges {{ node {{ id {node} }} }} }} }}"
            return await statements(client, query, {}) - base

        base = 0
        base = await extra("subscriptionNumber status billingTerms { agreementDate }")
        assert await extra("ownerAccount { name }") == 1  # the accounts
        assert await extra("ownerAccount { name } invoiceOwnerAccount { name }") == 1
        assert await extra("currency") == 1  # the price plans
        assert await extra("items { quantity }") == 2  # the items, the plans (currency)
        assert await extra("mrr items { mrr }") == 2
        assert await extra("billingTerms { scheme { code } }") == 1
        # the plans, their charges, the items, and one batch of products for both
        assert await extra("items { product { code } } "
                           "billingTerms { pricePlan { charges { product { code } } } }") == 4
        # through a fragment, the same
        assert await extra("...on Subscription { ownerAccount { name } }") == 1
        body = (await client.post(
            "{ subscriptions(first: 10) { edges { node { items { product { code } } "
            "billingTerms { pricePlan { charges { product { code } } } } } } } }")).json()
        codes = [sorted(i["product"]["code"] for i in e["node"]["items"])
                 for e in body["data"]["subscriptions"]["edges"]]  # items: by start, id
        assert codes == [["SEAT", "SETUP"]] * 3


async def test_a_partner_order_sends_the_same_few_statements_for_1_and_5_subscriptions(
        server: LiveServer, request: pytest.FixtureRequest) -> None:
    """createOrder on partner accounts: its lookups with the numbers it generates, its rows,
    then its webhook events, stale marks and audit event together (db/raw.Later) — 3
    statements, however many subscriptions it creates and whoever listens. On Citus the
    numbers are a statement of their own (the lookups run on a worker): 4."""
    from tests.api.webhook_support import endpoint
    from tests.conftest import citus_mode

    async with start_server(server.database_url, run_workers=False,
                            expose_sql_count=True) as live, live.new_tenant("orders") as client:
        await plan(client, "FLEET", ("TRACKER", "RECURRING", "12.00", "MONTHLY"),
                   ("SUPPORT", "RECURRING", "60.00", "QUARTERLY"))
        reseller = await account(client, "Reseller", partnerAccount=True)
        user = await account(client, "End user", partnerAccount=True)
        hook, _ = await endpoint(client, "http://127.0.0.1:9/hook", "ORDER_CREATED",
                                 "SUBSCRIPTION_CREATED")
        try:
            create = {"type": "CREATE_SUBSCRIPTION", "effectiveDate": "2026-01-01",
                      "subscriptionOwnerAccountId": user, "invoiceOwnerAccountId": reseller,
                      "billingTerms": {"pricePlan": {"code": "FLEET"},
                                       "agreementDate": "2026-01-01",
                                       "billingFrequency": "MONTHLY"},
                      "items": [{"productCode": "TRACKER"}, {"productCode": "SUPPORT"}]}
            expected = 4 if citus_mode(request.config) else 3
            for subscriptions in (1, 5):
                variables = {"input": {"accountId": reseller, "orderDate": "2026-01-01",
                                       "subscriptions": [{"actions": [create]}] * subscriptions}}
                assert await statements(client, "mutation($input: CreateOrderInput!) { "
                                        "createOrder(input: $input) { id orderNumber } }",
                                        variables) == expected
            events = await client.gql("{ webhookDeliveries(first: 50) { totalCount } }")
            assert events["webhookDeliveries"]["totalCount"] == 2 + 6  # 2 orders, 6 subscriptions
            audit = await client.gql('{ auditEvents(filter: {operation: "createOrder"}, first: 5) '
                                     "{ edges { node { outcome accountIds } } } }")
            assert [e["node"]["outcome"] for e in audit["auditEvents"]["edges"]] == ["OK", "OK"]
            assert all(set(e["node"]["accountIds"]) == {reseller, user}
                       for e in audit["auditEvents"]["edges"])
            marks = await client.gql("query($id: ID!) { account(id: $id) { metrics { stale } } }",
                                     {"id": user})
            assert marks["account"]["metrics"]["stale"] is True
        finally:  # on the shared Citus database another test's delivery worker would
            # take these deliveries to the unreachable URL (and count their failures)
            await client.gql("mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }",
                             {"id": hook})
