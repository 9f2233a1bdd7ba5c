"""API keys (SPEC §16): scopes READ ⊂ WRITE ⊂ ADMIN, expiry, revocation, lastUsedAt."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.cli import bootstrap_default_tenant
from billgraph.db.bootstrap import run_with_connection
from billgraph.db.engine import make_engine
from billgraph.services import tenants
from tests import processes
from tests.support import Client, LiveServer, start_server

CREATE_KEY = """mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) {
  secret apiKey { id prefix scope description expiresAt revokedAt lastUsedAt } } }"""
REVOKE = "mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }"
KEYS = "{ apiKeys { id prefix scope revokedAt lastUsedAt } }"
AUDIT = "{ auditEvents { totalCount } }"
ACCOUNT = 'mutation { createAccount(input: {name: "x"}) { id } }'


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[LiveServer]:
    async with start_server(database_url, run_workers=False,
                            key_usage_flush_seconds=3600) as server:
        yield server


async def admin_client(live: LiveServer, name: str) -> Client:
    tenant_id, key = await live.create_tenant(name, "admin")
    return Client(live.http, key, tenant_id)


async def new_key(admin: Client, scope: str, **fields: object) -> tuple[str, str]:
    """(id, secret) of a key created through the API."""
    made = (await admin.gql(CREATE_KEY, {"input": {"scope": scope, **fields}}))["createApiKey"]
    assert made["apiKey"]["scope"] == scope
    assert made["secret"].startswith(made["apiKey"]["prefix"])
    return made["apiKey"]["id"], made["secret"]


async def test_scopes_read_write_admin(live: LiveServer) -> None:
    admin = await admin_client(live, "scopes")
    _, read = await new_key(admin, "READ", description="dashboards")
    write_id, write = await new_key(admin, "WRITE")
    for key in (read, write):
        for query, variables in ((CREATE_KEY, {"input": {"scope": "READ"}}),
                                 (REVOKE, {"id": write_id}), (AUDIT, None), (KEYS, None)):
            error = await admin.error(query, variables, key=key)
            assert error["extensions"]["code"] == "FORBIDDEN", (key[:8], query)
    # READ: queries only; WRITE and ADMIN: mutations too
    assert (await admin.error(ACCOUNT, key=read))["extensions"]["code"] == "FORBIDDEN"
    assert await admin.gql("{ viewer { name } }", key=read) == {"viewer": {"name": "scopes"}}
    await admin.gql(ACCOUNT, key=write)
    await admin.gql(ACCOUNT)
    keys = (await admin.gql(KEYS))["apiKeys"]
    assert [k["scope"] for k in keys] == ["ADMIN", "READ", "WRITE"]  # oldest first
    # the write key's refused revokeApiKey changed nothing
    assert all(k["revokedAt"] is None for k in keys)


async def test_keys_of_before_keep_working(live: LiveServer) -> None:
    """Keys made as before (read/write, no expiry) authenticate as they did."""
    tenant_id, write = await live.create_tenant("legacy", "write")
    read = await live.create_key(tenant_id, "read")
    client = Client(live.http, write, tenant_id)
    await client.gql(ACCOUNT)
    assert (await client.error(ACCOUNT, key=read))["extensions"]["code"] == "FORBIDDEN"


async def test_first_key_of_a_tenant_is_admin(empty_database_url: str) -> None:
    database_url = empty_database_url
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            key = await bootstrap_default_tenant(conn)  # what `billgraph serve` prints
    finally:
        await engine.dispose()
    assert key is not None
    async with start_server(database_url, run_workers=False) as live:
        client = Client(live.http, key)
        assert [k["scope"] for k in (await client.gql(KEYS))["apiKeys"]] == ["ADMIN"]


async def test_revoked_key_is_refused(live: LiveServer) -> None:
    admin = await admin_client(live, "revoke")
    key_id, key = await new_key(admin, "WRITE")
    await admin.gql(ACCOUNT, key=key)  # now cached by the server
    revoked = (await admin.gql(REVOKE, {"id": key_id}))["revokeApiKey"]
    assert revoked["revokedAt"] is not None
    response = await admin.post("{ viewer { name } }", key=key)
    assert response.status_code == 401, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # revoking again keeps the first time; an unknown or foreign id is NOT_FOUND
    again = (await admin.gql(REVOKE, {"id": key_id}))["revokeApiKey"]
    assert again["revokedAt"] == revoked["revokedAt"]
    other = await admin_client(live, "revoke-other")
    error = await other.error(REVOKE, {"id": key_id})
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_expired_key_is_refused(live: LiveServer) -> None:
    admin = await admin_client(live, "expiry")
    soon = datetime.now(UTC) + timedelta(seconds=1.5)
    _, key = await new_key(admin, "READ", expiresAt=soon.isoformat())
    assert (await admin.post("{ viewer { name } }", key=key)).status_code == 200
    await asyncio.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.1)
    assert (await admin.post("{ viewer { name } }", key=key)).status_code == 401
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    error = await admin.error(CREATE_KEY, {"input": {"scope": "READ", "expiresAt": past}})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.expiresAt"}


async def test_last_used_at_is_batched(live: LiveServer) -> None:
    admin = await admin_client(live, "usage")
    key_id, key = await new_key(admin, "READ")
    for _ in range(20):
        await admin.gql("{ viewer { name } }", key=key)
    # 20 requests, and no write for them yet (the flush interval is an hour here)
    [row] = await live.sql("SELECT last_used_at FROM api_keys WHERE id = CAST(:id AS uuid)",
                           id=key_id)
    assert row["last_used_at"] is None
    before_flush = datetime.now(UTC)
    await live.app.state.billgraph.flush_key_usage()
    keys = {k["id"]: k for k in (await admin.gql(KEYS))["apiKeys"]}
    used = datetime.fromisoformat(keys[key_id]["lastUsedAt"])
    assert before_flush - timedelta(seconds=30) < used <= before_flush


async def test_last_used_at_flushed_periodically(database_url: str) -> None:
    async with start_server(database_url, run_workers=False,
                            key_usage_flush_seconds=0.2) as live:
        admin = await admin_client(live, "usage-daemon")
        await admin.gql("{ viewer { name } }")
        for _ in range(50):
            [key] = (await admin.gql(KEYS))["apiKeys"]
            if key["lastUsedAt"] is not None:
                return
            await asyncio.sleep(0.1)
        raise AssertionError("lastUsedAt was not written within 5 s")


def test_revocation_reaches_another_server_process_within_5_s(database_url: str) -> None:
    """Two `billgraph serve` processes on one database: a key revoked through one is
    refused by the other within 5 s (each keeps a looked-up key for 2 s at most)."""
    with processes.serve(database_url, workers=False) as one, \
            processes.serve(database_url, workers=False) as two:
        admin = run_with_connection(database_url, admin_key("two-processes"))
        headers = {"Authorization": f"Bearer {admin}"}
        made = httpx.post(f"{one.url}/graphql", headers=headers, json={
            "query": CREATE_KEY, "variables": {"input": {"scope": "READ"}}}).json()
        key_id, key = made["data"]["createApiKey"]["apiKey"]["id"], \
            made["data"]["createApiKey"]["secret"]
        viewer = {"query": "{ viewer { name } }"}
        bearer = {"Authorization": f"Bearer {key}"}
        assert httpx.post(f"{two.url}/graphql", headers=bearer, json=viewer).status_code == 200
        revoked = httpx.post(f"{one.url}/graphql", headers=headers, json={
            "query": REVOKE, "variables": {"id": key_id}}).json()
        assert revoked["data"]["revokeApiKey"]["revokedAt"], revoked
        started = time.monotonic()
        while httpx.post(f"{two.url}/graphql", headers=bearer, json=viewer).status_code == 200:
            assert time.monotonic() - started < 5.0, "still accepted after 5 s"
            time.sleep(0.05)
        took = time.monotonic() - started
        print(f"revoked key refused by the other process after {took:.2f} s")
        assert httpx.post(f"{one.url}/graphql", headers=bearer, json=viewer).status_code == 401


def admin_key(name: str) -> Callable[[AsyncConnection], Awaitable[str]]:
    """For run_with_connection: a new tenant's ADMIN key."""

    async def make(conn: AsyncConnection) -> str:
        tenant_id = await tenants.create_tenant(conn, name)
        return await tenants.create_key(conn, tenant_id, "admin")

    return make
