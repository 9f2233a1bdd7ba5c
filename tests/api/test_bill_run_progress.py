"""billRunProgress over graphql-transport-ws, fed by the bill run in a worker process."""

from __future__ import annotations

from tests.api.partner_support import CREATE_ORDER, account, catalog, new_subscription, order
from tests.support import GraphQLErrors, Subscriber, start_server

PROGRESS = """subscription($id: ID!) { billRunProgress(id: $id) {
  id status accountsProcessed invoicesCreated totalAmount } }"""
BILL_RUN = "mutation($input: BillRunInput!) { billRun(input: $input) { id status } }"


async def test_progress_until_completed(database_url: str) -> None:
    async with start_server(database_url, run_workers=False) as server:
        async with server.new_tenant("progress") as client:
            await catalog(client)
            owners = [await account(client, f"Owner {i}", partner=False) for i in range(5)]
            for owner in owners:
                await client.gql(CREATE_ORDER, order(owner, new_subscription(owner, owner)))
            run = (await client.gql(BILL_RUN, {"input": {"targetDate": "2026-01-31"}}))["billRun"]
            async with Subscriber(server.url, client.key) as sub:
                await sub.ack()
                await sub.subscribe(PROGRESS, {"id": run["id"]})
                first = (await sub.next())["billRunProgress"]
                assert first["status"] == "PENDING" and first["accountsProcessed"] == 0
                # a worker in another server instance runs the bill run
                async with start_server(database_url, run_workers=True,
                                        worker_tick_seconds=0.1):
                    seen = [first]
                    while seen[-1]["status"] not in ("COMPLETED", "FAILED"):
                        seen.append((await sub.next(timeout=30))["billRunProgress"])
                    complete = await sub.receive()
                    assert complete["type"] == "complete"
            processed = [s["accountsProcessed"] for s in seen]
            assert processed == sorted(processed)
            assert seen[-1] == {"id": run["id"], "status": "COMPLETED", "accountsProcessed": 5,
                                "invoicesCreated": 5, "totalAmount": "160.00"}


async def test_unknown_or_foreign_bill_run(database_url: str) -> None:
    async with start_server(database_url, run_workers=False) as server:
        async with server.new_tenant("a") as a, server.new_tenant("b") as b:
            await catalog(a)
            owner = await account(a, "Owner", partner=False)
            await a.gql(CREATE_ORDER, order(owner, new_subscription(owner, owner)))
            run = (await a.gql(BILL_RUN, {"input": {"targetDate": "2026-01-31"}}))["billRun"]
            async with Subscriber(server.url, b.key) as sub:
                await sub.ack()
                await sub.subscribe(PROGRESS, {"id": run["id"]})
                try:
                    await sub.next()
                except GraphQLErrors as refused:
                    assert refused.codes == ["NOT_FOUND"]
                else:
                    raise AssertionError("another tenant's bill run was delivered")
