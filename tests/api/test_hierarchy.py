"""Account hierarchies (SPEC §15): rules, moves, reads, roll-ups, isolation, SQL counts."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from billgraph.db.engine import make_engine
from billgraph.db.tx import Writer
from billgraph.services import hierarchy
from billgraph.services.errors import BadUserInput
from tests.api.hierarchy_support import (
    CREATE,
    MOVE,
    account,
    invoice,
    move,
    pay,
    refresh,
    rollups,
    sums,
)
from tests.api.partner_support import CREATE_ORDER, catalog, new_subscription, order
from tests.support import Client, LiveServer, start_server


async def test_three_levels_in_two_currencies_roll_up_to_hand_sums(client: Client) -> None:
    await catalog(client)  # FLEET: TRACKER 12.00 a month, SUPPORT 60.00 a quarter (USD)
    distributor = await account(client, "Distributor")                      # USD
    r1 = await account(client, "Reseller 1", distributor)                   # USD
    r2 = await account(client, "Reseller 2", distributor, currency="EUR")
    u1 = await account(client, "End user 1", r1)                            # USD
    u2 = await account(client, "End user 2", r1, currency="EUR")
    u3 = await account(client, "End user 3", r2, currency="EUR")
    await invoice(client, distributor, "1.00")
    await invoice(client, r1, "10.00")
    await invoice(client, u1, "100.00")
    await invoice(client, u1, "50.00")
    await pay(client, u1, "30.00")                                  # unapplied: credit 30.00
    await client.gql(CREATE_ORDER, order(u1, new_subscription(u1, u1)))  # MRR 12 + 60/3 = 32
    await invoice(client, u2, "200.00")
    u3_invoice = await invoice(client, u3, "75.50")
    await pay(client, u3, "20.00", u3_invoice)                      # balance 75.50 - 20 = 55.50

    await refresh(client, u3)  # any member refreshes its whole hierarchy
    # (accountCount, balance, creditBalance, totalInvoiceBalance, contractedMrr)
    assert sums(await rollups(client, distributor)) == {
        # D, R1, U1: balance 1 + 10 + (100 + 50) = 161.00; credit 30.00; MRR 32.00
        "USD": (3, "161.00", "30.00", "161.00", "32.00"),
        # R2, U2, U3: 0 + 200.00 + 55.50 = 255.50
        "EUR": (3, "255.50", "0.00", "255.50", "0.00"),
    }
    assert sums(await rollups(client, r1)) == {
        "USD": (2, "160.00", "30.00", "160.00", "32.00"),  # R1 10 + U1 150
        "EUR": (1, "200.00", "0.00", "200.00", "0.00"),    # U2
    }
    assert sums(await rollups(client, r2)) == {"EUR": (2, "55.50", "0.00", "55.50", "0.00")}
    # a leaf rolls up to its own metrics
    assert sums(await rollups(client, u1)) == {"USD": (1, "150.00", "30.00", "150.00", "32.00")}
    rows = await rollups(client, distributor)
    assert not any(r["stale"] for r in rows.values())
    assert rows["USD"]["lastMetricsUpdate"] == rows["EUR"]["lastMetricsUpdate"]

    tree = (await client.gql("""query($id: ID!) { account(id: $id) { depth
        parentAccount { id } ancestors { id } } }""", {"id": u3}))["account"]
    assert tree == {"depth": 2, "parentAccount": {"id": r2},
                    "ancestors": [{"id": r2}, {"id": distributor}]}


async def test_a_cycle_and_a_sixth_level_are_refused_naming_parent_account_id(
        client: Client) -> None:
    chain = [await account(client, "Level 1")]
    for level in range(2, 6):
        chain.append(await account(client, f"Level {level}", chain[-1]))
    sixth = await client.error(CREATE, {"input": {"name": "Level 6", "parentAccountId": chain[-1]}})
    assert sixth["extensions"]["code"] == "BAD_USER_INPUT"
    assert sixth["extensions"]["field"] == "parentAccountId"
    assert "at most 5 levels" in sixth["message"]

    for child in (chain[2], chain[0]):  # under a descendant, under itself
        cycle = await client.error(MOVE, {"id": chain[0], "input": {"parentAccountId": child}})
        assert cycle["extensions"]["code"] == "BAD_USER_INPUT", cycle
        assert cycle["extensions"]["field"] == "parentAccountId"

    # a two-level tree fits under level 3 (levels 4 and 5), not under level 4 (5 and 6)
    top = await account(client, "Other top")
    below = await account(client, "Other below", top)
    deep = await client.error(MOVE, {"id": top, "input": {"parentAccountId": chain[3]}})
    assert (deep["extensions"]["code"], deep["extensions"]["field"]) == (
        "BAD_USER_INPUT", "parentAccountId")
    assert (await move(client, top, chain[2]))["depth"] == 3
    # the move carried the subtree
    carried = (await client.gql("query($id: ID!) { account(id: $id) { depth ancestors { id } } }",
                                {"id": below}))["account"]
    assert carried == {"depth": 4, "ancestors": [{"id": i} for i in (top, *chain[2::-1])]}
    both = await client.error(MOVE, {"id": top, "input": {"parentAccountId": chain[0],
                                                          "detachFromParent": True}})
    assert both["extensions"]["code"] == "BAD_USER_INPUT"
    detached = await move(client, top, None)
    assert detached == {"id": top, "depth": 0, "parentAccount": None}


async def test_two_concurrent_moves_that_would_make_a_cycle_cannot_both_commit(
        server: LiveServer, client: Client) -> None:
    # over the API: X under Y and Y under X at once, five times
    for round_ in range(5):
        x, y = await account(client, f"X{round_}"), await account(client, f"Y{round_}")
        bodies = await asyncio.gather(
            client.post(MOVE, {"id": x, "input": {"parentAccountId": y}}),
            client.post(MOVE, {"id": y, "input": {"parentAccountId": x}}))
        outcomes = sorted("errors" in b.json() for b in bodies)
        assert outcomes == [False, True], [b.json() for b in bodies]
        failed = next(b.json() for b in bodies if "errors" in b.json())
        assert failed["errors"][0]["extensions"]["field"] == "parentAccountId"
        parents = await server.sql("SELECT count(*) AS n FROM accounts WHERE id IN (:x, :y) "
                                   "AND parent_account_id IS NOT NULL", x=x, y=y)
        assert parents[0]["n"] == 1

    # and deterministically: the second move waits for the first and then sees it
    a, b = await account(client, "A"), await account(client, "B")
    tenant = uuid.UUID(client.tenant_id)
    engine = make_engine(server.database_url, pool_size=2, max_overflow=0)
    try:
        async with engine.connect() as first, engine.connect() as second:
            tx = await first.begin()
            await hierarchy.move(Writer(first, tenant), uuid.UUID(a), uuid.UUID(b))

            async def other() -> None:
                async with second.begin():
                    await hierarchy.move(Writer(second, tenant), uuid.UUID(b), uuid.UUID(a))

            waiting = asyncio.create_task(other())
            await asyncio.sleep(0.5)
            assert not waiting.done()  # blocked on the tenant's placement lock
            await tx.commit()
            with pytest.raises(BadUserInput) as refused:
                await waiting
            assert refused.value.field == "parentAccountId"
    finally:
        await engine.dispose()


async def test_a_members_payment_leaves_the_roll_up_stale_until_the_refresh(
        server: LiveServer, client: Client) -> None:
    distributor = await account(client, "Distributor")
    reseller = await account(client, "Reseller", distributor)
    end_user = await account(client, "End user", reseller)
    bill = await invoice(client, end_user, "100.00")
    fresh = await refresh(client, distributor)
    assert sums(fresh)["USD"] == (3, "100.00", "0.00", "100.00", "0.00")
    assert fresh["USD"]["stale"] is False
    versions = "SELECT {1}, xmin::text AS v FROM {0} WHERE {1} IN (:d, :r) ORDER BY 1, 2"
    tables = (("hierarchy_metrics", "account_id"), ("account_metrics", "account_id"),
              ("accounts", "id"))
    before = [await server.sql(versions.format(*t), d=distributor, r=reseller) for t in tables]
    assert len(before[0]) == 2  # the distributor's and the reseller's roll-ups

    await pay(client, end_user, "25.00", bill)
    during = await rollups(client, distributor)
    assert sums(during)["USD"] == (3, "100.00", "0.00", "100.00", "0.00")  # as it was
    assert during["USD"]["stale"] is True
    assert during["USD"]["lastMetricsUpdate"] == fresh["USD"]["lastMetricsUpdate"]
    assert (await rollups(client, reseller))["USD"]["stale"] is True
    # the payment wrote no row of an ancestor (no lock taken there, no version written)
    assert [await server.sql(versions.format(*t), d=distributor, r=reseller)
            for t in tables] == before

    after = await refresh(client, end_user)
    assert sums(await rollups(client, distributor))["USD"] == (
        3, "75.00", "0.00", "75.00", "0.00")  # 100.00 - 25.00
    assert after["USD"]["stale"] is False  # the end user's own (a leaf: its metrics)
    assert (await rollups(client, distributor))["USD"]["stale"] is False


async def test_a_partner_members_pending_metrics_keep_the_roll_up_stale(client: Client) -> None:
    distributor = await account(client, "Distributor")
    partner = await account(client, "Partner reseller", distributor, partner=True)
    await refresh(client, distributor)
    await invoice(client, partner, "40.00")  # deferred: the partner's metrics are stale
    rolled = await refresh(client, distributor)
    assert sums(rolled)["USD"] == (2, "0.00", "0.00", "0.00", "0.00")  # stored metrics: 0
    assert rolled["USD"]["stale"] is True  # ... and it says so
    await client.gql("mutation($id: ID!) { refreshMetrics(accountId: $id) { balance } }",
                     {"id": partner})
    assert (await rollups(client, distributor))["USD"]["stale"] is True  # member changed since
    exact = await refresh(client, distributor)
    assert sums(exact)["USD"] == (2, "40.00", "0.00", "40.00", "0.00")
    assert exact["USD"]["stale"] is False


async def test_children_filters_and_detach(client: Client) -> None:
    top = await account(client, "Top")
    kids = [await account(client, f"Kid {i}", top) for i in range(3)]
    grandchild = await account(client, "Grandchild", kids[0])
    outsider = await account(client, "Outsider")
    page = (await client.gql("""query($id: ID!) { account(id: $id) { children(first: 2) {
        totalCount edges { node { id } } pageInfo { hasNextPage endCursor } } } }""",
                             {"id": top}))["account"]["children"]
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["id"] for e in page["edges"]] == kids[:2]
    rest = (await client.gql("""query($id: ID!, $after: String) { account(id: $id) {
        children(first: 2, after: $after) { edges { node { id } } } } }""",
                             {"id": top, "after": page["pageInfo"]["endCursor"]}))
    assert [e["node"]["id"] for e in rest["account"]["children"]["edges"]] == kids[2:]

    def ids(data: Any) -> set[str]:
        return {e["node"]["id"] for e in data["accounts"]["edges"]}

    listing = "query($f: AccountFilter) { accounts(first: 50, filter: $f) { totalCount " \
              "edges { node { id } } } }"
    assert ids(await client.gql(listing, {"f": {"parentAccountId": top}})) == set(kids)
    assert ids(await client.gql(listing, {"f": {"descendantOf": top}})) == {*kids, grandchild}
    assert ids(await client.gql(listing, {"f": {"descendantOf": outsider}})) == set()
    await move(client, kids[0], None)
    assert ids(await client.gql(listing, {"f": {"descendantOf": top}})) == set(kids[1:])
    assert ids(await client.gql(listing, {"f": {"descendantOf": kids[0]}})) == {grandchild}


async def test_another_tenants_parent_is_not_found(server: LiveServer) -> None:
    async with server.new_tenant("hier-a") as a, server.new_tenant("hier-b") as b:
        theirs = await account(a, "A's distributor")
        await account(a, "A's reseller", theirs)
        await invoice(a, theirs, "9.00")
        mine = await account(b, "B's account")
        cases: list[tuple[str, dict[str, Any], str]] = [
            (CREATE, {"input": {"name": "x", "parentAccountId": theirs}}, "parentAccountId"),
            (MOVE, {"id": mine, "input": {"parentAccountId": theirs}}, "parentAccountId"),
            (MOVE, {"id": theirs, "input": {"parentAccountId": mine}}, "id"),
            ("query($id: ID!) { accounts(filter: {descendantOf: $id}) { totalCount } }",
             {"id": theirs}, "filter.descendantOf"),
            ("query($id: ID!) { accounts(filter: {parentAccountId: $id}) { totalCount } }",
             {"id": theirs}, "filter.parentAccountId"),
            ("mutation($id: ID!) { refreshHierarchyMetrics(accountId: $id) { balance } }",
             {"id": theirs}, "accountId"),
        ]
        for query, variables, field in cases:
            error = await b.error(query, variables)
            assert (error["extensions"]["code"], error["extensions"].get("field")) == (
                "NOT_FOUND", field), (query, error)
        rows = await server.sql("SELECT count(*) AS n FROM accounts WHERE tenant_id = :t "
                                "AND parent_account_id IS NOT NULL", t=b.tenant_id)
        assert rows[0]["n"] == 0


PAGE = """query($n: Int!) { accounts(first: $n) { edges { node { name
  parentAccount { name } hierarchyMetrics { balance } children(first: 5) { totalCount }
  ancestors { name } depth } } } }"""


async def test_a_page_of_accounts_with_their_tree_has_a_flat_statement_count(
        server: LiveServer) -> None:
    async with start_server(server.database_url, run_workers=False,
                            expose_sql_count=True) as live, live.new_tenant("sql") as client:
        for d in range(4):  # 4 × (1 + 2 + 4) = 28 accounts, 3 levels
            top = await account(client, f"D{d}")
            for r in range(2):
                reseller = await account(client, f"D{d}R{r}", top)
                for u in range(2):
                    await invoice(client, await account(client, f"D{d}R{r}U{u}", reseller),
                                  "1.00")
            await refresh(client, top)
        counts = {}
        for n in (2, 20):
            response = (await client.post(PAGE, {"n": n})).json()
            assert "errors" not in response, response
            assert len(response["data"]["accounts"]["edges"]) == n
            counts[n] = response["extensions"]["sqlStatements"]
        assert counts[2] == counts[20], counts
