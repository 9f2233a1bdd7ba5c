"""API keys: no key, bad key, read keys, tenant isolation."""

from __future__ import annotations

import uuid

from tests.support import Client, LiveServer

CREATE = "mutation($n: String!) { createAccount(input: {name: $n}) { id name } }"
UPDATE = "mutation($id: ID!) { updateAccount(id: $id, input: {name: \"stolen\"}) { id } }"


async def test_no_key_is_401_unauthenticated(server: LiveServer) -> None:
    response = await server.http.post("/graphql", json={"query": "{ viewer { name } }"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_bad_key_is_401_unauthenticated(server: LiveServer) -> None:
    for header in ("Bearer nope", "Basic abc", "Bearer", "bgk_no_scheme"):
        response = await server.http.post("/graphql", json={"query": "{ viewer { name } }"},
                                          headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_query_via_get_needs_a_key_too(server: LiveServer) -> None:
    response = await server.http.get("/graphql", params={"query": "{ viewer { name } }"})
    assert response.status_code == 401


async def test_graphiql_page_is_served_without_a_key(server: LiveServer) -> None:
    response = await server.http.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_healthz(server: LiveServer) -> None:
    assert (await server.http.get("/healthz")).json() == {"status": "ok"}


async def test_read_key_reads_but_cannot_mutate(server: LiveServer, client: Client) -> None:
    read_key = await server.create_key(client.tenant_id, "read")
    await client.gql(CREATE, {"n": "Acme"})
    data = await client.gql("{ accounts { totalCount } }", key=read_key)
    assert data["accounts"]["totalCount"] == 1
    error = await client.error(CREATE, {"n": "Other"}, key=read_key)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert (await client.gql("{ accounts { totalCount } }"))["accounts"]["totalCount"] == 1


async def test_another_tenants_account_is_not_found_and_unchanged(
    server: LiveServer, client: Client
) -> None:
    account = (await client.gql(CREATE, {"n": "Tenant A's"}))["createAccount"]
    async with server.new_tenant("tenant-b") as other:
        for query, variables in [
            ("query($id: ID!) { account(id: $id) { name } }", {"id": account["id"]}),
            ("query($id: ID!) { metrics(accountId: $id) { balance } }", {"id": account["id"]}),
            (UPDATE, {"id": account["id"]}),
            ("mutation($id: ID!) { setPartner(accountId: $id, partner: true) { id } }",
             {"id": account["id"]}),
            ("mutation($id: ID!) { refreshMetrics(accountId: $id) { balance } }",
             {"id": account["id"]}),
        ]:
            response = await other.post(query, variables)
            body = response.json()
            assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND", (query, body)
            assert "Tenant A" not in response.text
        assert (await other.gql("{ accounts { totalCount } }"))["accounts"]["totalCount"] == 0
    same = (await client.gql("query($id: ID!) { account(id: $id) { name partnerAccount } }",
                             {"id": account["id"]}))["account"]
    assert same == {"name": "Tenant A's", "partnerAccount": False}


async def test_malformed_id_is_not_found(client: Client) -> None:
    error = await client.error("{ account(id: \"not-a-uuid\") { name } }")
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_readyz_and_metrics(server: LiveServer, client: Client) -> None:
    ready = await server.http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"
    # counted by the process that answered: the scrapes and the queries go over the one
    # keep-alive connection (one process of `serve --workers N`), whose counts may include
    # earlier tests' (a server shared by the run), hence a name of its own and a difference
    name = f"Viewer{uuid.uuid4().hex[:8]}"
    not_found = 'billgraph_graphql_errors_total{code="NOT_FOUND"} '

    def errors(metrics: str) -> float:
        return sum(float(line.removeprefix(not_found)) for line in metrics.splitlines()
                   if line.startswith(not_found))

    before = errors((await server.http.get("/metrics")).text)
    await client.gql(f"query {name} {{ viewer {{ name }} }}")
    await client.error("query Broken { account(id: \"x\") { name } }")
    text = (await server.http.get("/metrics")).text
    assert f'billgraph_graphql_requests_total{{operation="{name}",type="query"}} 1.0' in text
    assert errors(text) == before + 1
    assert "billgraph_refresher_lag_seconds" in text
    assert 'billgraph_job_queue_depth{status="PENDING"}' in text
    [head] = await server.sql("SELECT version_num FROM alembic_version")
    await server.sql("UPDATE alembic_version SET version_num = 'old'")
    try:
        behind = await server.http.get("/readyz")
    finally:  # (on Citus the database is shared by the rest of the run)
        await server.sql("UPDATE alembic_version SET version_num = :v", v=head["version_num"])
    assert behind.status_code == 503 and behind.json()["migration"] == "old"


async def test_sql_statement_count_is_exposed_when_enabled(server: LiveServer) -> None:
    from tests.support import start_server

    async with start_server(server.database_url, run_workers=False, expose_sql_count=True) as s:
        async with s.new_tenant("sql") as client:
            response = await client.post("{ accounts(first: 5) { totalCount edges { node { "
                                         "metrics { balance } } } } }")
            assert response.json()["extensions"]["sqlStatements"] >= 2
