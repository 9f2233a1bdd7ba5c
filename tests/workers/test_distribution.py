"""The same SQL on one PostgreSQL and on Citus (`pytest --citus`): the placement of the
tables, and the claims across tenants (find the tenants with work, claim within one)."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import text

from billgraph.db.citus import distribute, has_citus
from billgraph.db.engine import make_engine
from billgraph.db.migrate import upgrade
from billgraph.db.tx import Writer
from billgraph.services import jobs, metrics
from tests.api.partner_support import CREATE_PAYMENT, account
from tests.support import Client, LiveServer


async def test_every_table_is_placed_on_citus_and_nothing_happens_on_postgres(
        server: LiveServer) -> None:
    [row] = await server.sql("SELECT count(*) AS n FROM pg_extension WHERE extname = 'citus'")
    [tables] = await server.sql(
        "SELECT count(*) AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace "
        "WHERE s.nspname = current_schema() AND c.relkind = 'r'"
        # on Citus, not the coordinator's placements of the reference tables
        + (" AND relation_is_a_known_shard(c.oid) IS NOT TRUE" if row["n"] else ""))
    engine = make_engine(server.database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            again = await conn.run_sync(distribute)  # idempotent: nothing left to place
    finally:
        await engine.dispose()
    assert again == []
    if row["n"] == 0:  # plain PostgreSQL: a no-op
        return
    placed = await server.sql(
        "SELECT logicalrelid::text AS name, partmethod::text AS method, colocationid "
        "FROM pg_dist_partition")
    assert len(placed) == tables["n"]
    reference = {p["name"] for p in placed if p["method"] == "n"}
    assert reference == {"tenants", "api_keys", "alembic_version"}
    distributed = [p for p in placed if p["method"] == "h"]
    assert len({p["colocationid"] for p in distributed}) == 1  # one colocation group
    [column] = await server.sql(
        "SELECT DISTINCT column_to_column_name(logicalrelid, partkey) AS c "
        "FROM pg_dist_partition WHERE partmethod = 'h'")
    assert column["c"] == "tenant_id"


async def queue(server: LiveServer, tenant_id: str) -> uuid.UUID:
    engine = make_engine(server.database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            return await jobs.enqueue(Writer(conn, uuid.UUID(tenant_id)), "test-kind", {})
    finally:
        await engine.dispose()


async def test_a_worker_claims_the_jobs_of_every_tenant(server: LiveServer) -> None:
    first, _ = await server.create_tenant(f"claims-{uuid.uuid4().hex[:6]}")
    second, _ = await server.create_tenant(f"claims-{uuid.uuid4().hex[:6]}")
    mine = {await queue(server, first), await queue(server, second), await queue(server, first)}
    claimed: set[uuid.UUID] = set()
    engine = make_engine(server.database_url, pool_size=1, max_overflow=0)
    try:
        for _ in range(100):  # on the shared Citus database, other tests' jobs may come first
            async with engine.begin() as conn:
                job = await jobs.claim(conn, "test-worker", 60.0)
            if job is None or mine <= claimed:
                break
            claimed.add(job["id"])
            assert job["status"] == "RUNNING" and job["attempt"] == 1
    finally:
        await engine.dispose()
    assert mine <= claimed
    rows = await server.sql("SELECT status, claimed_by FROM jobs WHERE id = ANY(:ids)",
                            ids=list(mine))
    assert [(r["status"], r["claimed_by"]) for r in rows] == [("RUNNING", "test-worker")] * 3


async def test_the_due_accounts_of_every_tenant_are_found(server: LiveServer) -> None:
    found = []
    for _ in range(2):
        tenant_id, key = await server.create_tenant(f"due-{uuid.uuid4().hex[:6]}")
        client = Client(server.http, key, tenant_id)
        account_id = await account(client, "Partner", True)
        await client.gql(CREATE_PAYMENT, {"input": {"accountId": account_id, "amount": "5.00"}})
        found.append((uuid.UUID(tenant_id), uuid.UUID(account_id)))
    await server.sql("UPDATE account_metrics SET last_metrics_update = now() - interval '1 day' "
                     "WHERE tenant_id = ANY(:t)", t=[t for t, _ in found])
    engine = make_engine(server.database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            due = await metrics.due_accounts(conn, limit=100_000)
            assert set(found) <= set(due)
            await conn.commit()
            refreshed = await metrics.refresh_if_due(conn, *found[0])
            assert refreshed is not None
            assert str(refreshed["unapplied_payment_amount"]) == "5.00"  # the one payment
            await conn.commit()
    finally:
        await engine.dispose()
    [row] = await server.sql(
        "SELECT count(*) AS n FROM metrics_stale_marks WHERE tenant_id = :t", t=found[0][0])
    assert row["n"] == 0


async def test_an_older_schema_upgrades_to_head_with_every_table_placed(
        blank_database_url: str) -> None:
    """Migrations applied one release at a time (on Citus: to an already distributed schema,
    where a new table's foreign key to a tenant table waits for `distribute()`, rule 7)."""
    url = blank_database_url
    for revision in ("0004_webhooks", "0005_hierarchy", "head"):
        await asyncio.to_thread(upgrade, url, revision)
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            citus = await conn.run_sync(has_citus)
            keys = (await conn.execute(text(
                "SELECT conname FROM pg_constraint WHERE contype = 'f' "
                "AND conrelid IN ('hierarchy_metrics'::regclass, "
                "'hierarchy_stale_marks'::regclass) ORDER BY 1"))).scalars().all()
            unplaced = (await conn.execute(text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace "
                "WHERE s.nspname = current_schema() AND c.relkind = 'r' "
                "AND relation_is_a_known_shard(c.oid) IS NOT TRUE AND NOT EXISTS ("
                "SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = c.oid)"
            ))).scalars().all() if citus else []
            again = await conn.run_sync(distribute)
    finally:
        await engine.dispose()
    assert keys == ["hierarchy_metrics_account_id_fkey", "hierarchy_stale_marks_account_id_fkey"]
    assert unplaced == [] and again == []
