"""Accounts: create, validation, pages, partner flag, metrics."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support import Client, LiveServer

ACCOUNT_FIELDS = "id accountNumber name currency billCycleDay partnerAccount status createdAt"
CREATE = f"""mutation($input: CreateAccountInput!, $key: String) {{
  createAccount(input: $input, idempotencyKey: $key) {{ {ACCOUNT_FIELDS}
    metrics {{ balance creditBalance contractedMrr currency stale lastMetricsUpdate }} }} }}"""
PAGE = """query($first: Int, $after: String, $filter: AccountFilter) {
  accounts(first: $first, after: $after, filter: $filter) {
    totalCount edges { cursor node { id name partnerAccount } }
    pageInfo { hasNextPage endCursor } } }"""


async def create(client: Client, **input: object) -> dict[str, Any]:
    account: dict[str, Any] = (await client.gql(CREATE, {"input": input}))["createAccount"]
    return account


async def test_create_account_with_defaults(client: Client) -> None:
    account = await create(client, name="Acme Reseller")
    assert account["accountNumber"].startswith("A") and len(account["accountNumber"]) == 9
    assert account["currency"] == "USD"
    assert account["billCycleDay"] == 1
    assert account["partnerAccount"] is False
    assert account["status"] == "ACTIVE"
    metrics = account["metrics"]
    assert metrics == {**metrics, "balance": "0.00", "creditBalance": "0.00",
                       "contractedMrr": "0.00", "currency": "USD", "stale": False}
    assert metrics["lastMetricsUpdate"]


async def test_zero_decimal_currency(client: Client) -> None:
    account = await create(client, name="Tokyo", currency="JPY")
    assert account["metrics"]["balance"] == "0"


@pytest.mark.parametrize(
    ("input", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x", "currency": "EURO"}, "currency"),
        ({"name": "x", "currency": "ZZZ"}, "currency"),
        ({"name": "x", "currency": "usd"}, "currency"),
        ({"name": "x", "billCycleDay": 0}, "billCycleDay"),
        ({"name": "x", "billCycleDay": 32}, "billCycleDay"),
        ({"name": "x", "accountNumber": ""}, "accountNumber"),
    ],
)
async def test_validation_names_the_field(client: Client, input: dict[str, Any],
                                          field: str) -> None:
    error = await client.error(CREATE, {"input": input})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
    assert field in error["message"]
    assert (await client.gql("{ accounts { totalCount } }"))["accounts"]["totalCount"] == 0


async def test_duplicate_account_number_is_conflict(client: Client) -> None:
    await create(client, name="One", accountNumber="RES-1")
    error = await client.error(CREATE, {"input": {"name": "Two", "accountNumber": "RES-1"}})
    assert error["extensions"] == {"code": "CONFLICT", "field": "accountNumber"}


async def test_account_numbers_are_per_tenant(server: LiveServer, client: Client) -> None:
    await create(client, name="One", accountNumber="SAME")
    async with server.new_tenant("other") as other:
        assert (await create(other, name="Two", accountNumber="SAME"))["accountNumber"] == "SAME"


async def test_lookup_by_id_and_number(client: Client) -> None:
    account = await create(client, name="Lookup", accountNumber="L-1")
    by_id = await client.gql("query($id: ID!) { account(id: $id) { accountNumber } }",
                             {"id": account["id"]})
    by_number = await client.gql('{ account(accountNumber: "L-1") { id } }')
    assert by_id["account"]["accountNumber"] == "L-1"
    assert by_number["account"]["id"] == account["id"]
    missing = await client.error('{ account(accountNumber: "nope") { id } }')
    assert missing["extensions"]["code"] == "NOT_FOUND"


async def test_pagination_over_120_accounts(client: Client) -> None:
    await asyncio.gather(*(create(client, name=f"acct {i:03d}", partnerAccount=i % 3 == 0)
                           for i in range(120)))
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = (await client.gql(PAGE, {"first": 25, "after": after}))["accounts"]
        assert page["totalCount"] == 120
        seen += [e["node"]["id"] for e in page["edges"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
    assert pages == 5
    assert len(seen) == 120 == len(set(seen))
    partners = (await client.gql(PAGE, {"first": 500, "filter": {"partnerAccount": True}}))
    nodes = [e["node"] for e in partners["accounts"]["edges"]]
    assert partners["accounts"]["totalCount"] == 40 == len(nodes)
    assert all(n["partnerAccount"] for n in nodes)
    named = await client.gql(PAGE, {"filter": {"nameContains": "ACCT 11"}})
    assert named["accounts"]["totalCount"] == 10


@pytest.mark.parametrize(("first", "after"), [(-1, None), (501, None), (10, "garbage")])
async def test_bad_page_requests(client: Client, first: int, after: str | None) -> None:
    error = await client.error(PAGE, {"first": first, "after": after})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == ("after" if after else "first")


async def test_update_account(client: Client) -> None:
    account = await create(client, name="Before")
    updated = (await client.gql(
        """mutation($id: ID!) { updateAccount(id: $id, input: {name: "After", billCycleDay: 15,
           status: CANCELED}) { name billCycleDay status } }""", {"id": account["id"]}))
    assert updated["updateAccount"] == {"name": "After", "billCycleDay": 15, "status": "CANCELED"}
    error = await client.error(
        'mutation($id: ID!) { updateAccount(id: $id, input: {billCycleDay: 40}) { id } }',
        {"id": account["id"]})
    assert error["extensions"]["field"] == "billCycleDay"


async def test_set_partner_toggles_and_unflagging_recomputes(
    server: LiveServer, client: Client
) -> None:
    account = await create(client, name="Reseller")
    toggle = """mutation($id: ID!, $p: Boolean!) { setPartner(accountId: $id, partner: $p) {
      partnerAccount metrics { stale lastMetricsUpdate } } }"""
    flagged = (await client.gql(toggle, {"id": account["id"], "p": True}))["setPartner"]
    assert flagged["partnerAccount"] is True
    # a write to a partner account leaves a stale mark for the refresher
    await server.sql("INSERT INTO metrics_stale_marks (tenant_id, id, account_id) "
                     "VALUES (:t, gen_random_uuid(), :a)", t=client.tenant_id, a=account["id"])
    stale = await client.gql("query($id: ID!) { metrics(accountId: $id) { stale } }",
                             {"id": account["id"]})
    assert stale["metrics"]["stale"] is True
    unflagged = (await client.gql(toggle, {"id": account["id"], "p": False}))["setPartner"]
    assert unflagged["partnerAccount"] is False
    assert unflagged["metrics"]["stale"] is False
    assert unflagged["metrics"]["lastMetricsUpdate"] > flagged["metrics"]["lastMetricsUpdate"]


async def test_refresh_metrics_moves_last_update(client: Client) -> None:
    account = await create(client, name="Refresh")
    refreshed = await client.gql(
        "mutation($id: ID!) { refreshMetrics(accountId: $id) { balance stale lastMetricsUpdate } }",
        {"id": account["id"]})
    assert refreshed["refreshMetrics"]["stale"] is False
    assert (refreshed["refreshMetrics"]["lastMetricsUpdate"]
            > account["metrics"]["lastMetricsUpdate"])


async def test_create_account_idempotency(client: Client) -> None:
    first = (await client.gql(CREATE, {"input": {"name": "Once"}, "key": "k-1"}))["createAccount"]
    again = (await client.gql(CREATE, {"input": {"name": "Once"}, "key": "k-1"}))["createAccount"]
    assert again["id"] == first["id"]
    error = await client.error(CREATE, {"input": {"name": "Different"}, "key": "k-1"})
    assert error["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert (await client.gql("{ accounts { totalCount } }"))["accounts"]["totalCount"] == 1


async def test_concurrent_duplicates_execute_once(client: Client) -> None:
    results = await asyncio.gather(*(
        client.post(CREATE, {"input": {"name": "Racing"}, "key": "race"}) for _ in range(8)))
    bodies = [r.json() for r in results]
    ids = {b["data"]["createAccount"]["id"] for b in bodies if b.get("data")}
    codes = {b["errors"][0]["extensions"]["code"] for b in bodies if b.get("errors")}
    assert len(ids) == 1
    assert codes <= {"IDEMPOTENCY_KEY_IN_USE"}
    assert (await client.gql("{ accounts { totalCount } }"))["accounts"]["totalCount"] == 1


async def test_money_inputs_reject_floats(client: Client) -> None:
    # the Decimal scalar only takes strings: checked through a tenant-settings-free path
    error = await client.error('mutation { createAccount(input: {name: 1.5}) { id } }')
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
