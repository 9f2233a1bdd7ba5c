"""Account hierarchies (SPEC §15): placing an account under a parent, and reading trees.

Rules: the parent is in the same tenant (another tenant's id is NOT_FOUND), a tree
has at most LEVELS levels, and there are no cycles. A move carries the subtree (the
children keep pointing at the moved account). Any error is BAD_USER_INPUT naming
`parentAccountId`.

Concurrency: every placement takes a per-tenant transaction-level advisory lock
before it reads the tree — exclusive for a move (two moves that would together make a
cycle or a sixth level run one after the other, and the second sees the first),
shared for a new account under a parent (those cannot make a cycle, and never wait on
each other). Ordinary writes (orders, invoices, payments) never take it.

A placement inserts a hierarchy stale mark for each ancestor whose subtree changed
(the old and the new ones); the roll-up refresh (services.rollups) consumes them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.db.tx import Writer
from billgraph.models import new_id

from .errors import BadUserInput, NotFound
from .pagination import Page, PageRequest, keyset_pages

LEVELS = 5  # distributor → reseller → ... : depth 0 to LEVELS - 1
FIELD = "parentAccountId"
GUARD = LEVELS * 2  # recursion bound: a tree is never deeper, even mid-move

# Every recursive statement below filters both of its parts on the tenant.
ANCESTORS = text(f"""
WITH RECURSIVE up(start_id, distance, id, parent_id) AS (
    SELECT a.id, 0, a.id, a.parent_account_id FROM accounts a
    WHERE a.tenant_id = :t AND a.id = ANY(CAST(:ids AS uuid[]))
    UNION ALL
    SELECT up.start_id, up.distance + 1, p.id, p.parent_account_id
    FROM up JOIN accounts p ON p.tenant_id = :t AND p.id = up.parent_id
    WHERE up.distance < {GUARD})
SELECT up.start_id, up.distance, a.* FROM up
JOIN accounts a ON a.tenant_id = :t AND a.id = up.id
WHERE up.distance > 0
ORDER BY up.start_id, up.distance
""")

# an account and everything under it, with its level below the account (:root)
DOWN = f"""down(id, level) AS (
    SELECT id, 0 FROM accounts WHERE tenant_id = :t AND id = :root
    UNION ALL
    SELECT c.id, d.level + 1 FROM down d
    JOIN accounts c ON c.tenant_id = :t AND c.parent_account_id = d.id
    WHERE d.level < {GUARD})"""
HEIGHT = text(f"WITH RECURSIVE {DOWN} SELECT max(level) FROM down")
DESCENDANTS = f"WITH RECURSIVE {DOWN} SELECT id FROM down WHERE level > 0"


async def lock_placements(conn: AsyncConnection, tenant_id: uuid.UUID, *, shared: bool) -> None:
    """The tenant's placement lock, until the transaction ends (moves only: exclusive)."""
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    await conn.execute(text(f"SELECT {function}(hashtextextended(:lock, 0))"),
                       {"lock": f"hierarchy:{tenant_id}"})


async def ancestors(conn: AsyncConnection, tenant_id: uuid.UUID,
                    account_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[RowMapping]]:
    """Each account's ancestors, nearest first (one statement for all)."""
    found: dict[uuid.UUID, list[RowMapping]] = {i: [] for i in account_ids}
    rows = await conn.execute(ANCESTORS, {"t": tenant_id, "ids": list(account_ids)})
    for row in rows.mappings():
        found.setdefault(row["start_id"], []).append(row)
    return found


async def _check_placement(conn: AsyncConnection, tenant_id: uuid.UUID,
                           account_id: uuid.UUID, parent_id: uuid.UUID) -> None:
    """NOT_FOUND for an unknown parent; BAD_USER_INPUT for a cycle or a sixth level."""
    parent = (await conn.execute(
        text("SELECT id FROM accounts WHERE tenant_id = :t AND id = :id"),
        {"t": tenant_id, "id": parent_id})).first()
    if parent is None:
        raise NotFound("account", parent_id, field=FIELD)
    if parent_id == account_id:
        raise BadUserInput(FIELD, "an account cannot be its own parent")
    chain = (await ancestors(conn, tenant_id, [parent_id]))[parent_id]
    if any(row["id"] == account_id for row in chain):
        raise BadUserInput(FIELD, f"account {parent_id} is a descendant of this account: "
                                  "the move would make a cycle")
    height = (await conn.execute(HEIGHT, {"t": tenant_id, "root": account_id})).scalar() or 0
    levels = len(chain) + 1 + height + 1  # the parent's chain, the parent, the subtree
    if levels > LEVELS:
        raise BadUserInput(FIELD, f"a hierarchy has at most {LEVELS} levels; under {parent_id} "
                                  f"this account's subtree would reach level {levels}")


async def _mark(conn: AsyncConnection, tenant_id: uuid.UUID,
                account_ids: Iterable[uuid.UUID]) -> None:
    ids = sorted(set(account_ids))
    if ids:
        await conn.execute(
            text("INSERT INTO hierarchy_stale_marks (tenant_id, id, account_id) "
                 "SELECT :t, m.id, m.account_id FROM unnest(CAST(:marks AS uuid[]), "
                 "CAST(:ids AS uuid[])) AS m(id, account_id)"),
            {"t": tenant_id, "marks": [new_id() for _ in ids], "ids": ids})


async def _chain_ids(conn: AsyncConnection, tenant_id: uuid.UUID,
                     account_id: uuid.UUID) -> list[uuid.UUID]:
    return [row["id"] for row in (await ancestors(conn, tenant_id, [account_id]))[account_id]]


async def attach_new(writer: Writer, account_id: uuid.UUID, parent_id: uuid.UUID) -> None:
    """Place a just-created account (no children yet) under `parent_id`."""
    conn, tenant_id = writer.conn, writer.tenant_id
    await lock_placements(conn, tenant_id, shared=True)
    await _check_placement(conn, tenant_id, account_id, parent_id)
    await conn.execute(
        text("UPDATE accounts SET parent_account_id = :p WHERE tenant_id = :t AND id = :id"),
        {"p": parent_id, "t": tenant_id, "id": account_id})
    await _mark(conn, tenant_id, await _chain_ids(conn, tenant_id, account_id))


async def move(writer: Writer, account_id: uuid.UUID, parent_id: uuid.UUID | None) -> None:
    """Put an account (and its whole subtree) under `parent_id`, or detach it (None)."""
    conn, tenant_id = writer.conn, writer.tenant_id
    await lock_placements(conn, tenant_id, shared=False)
    current = (await conn.execute(
        text("SELECT parent_account_id FROM accounts WHERE tenant_id = :t AND id = :id"),
        {"t": tenant_id, "id": account_id})).first()
    if current is None:
        raise NotFound("account", account_id)
    old_parent = current.parent_account_id
    if parent_id == old_parent:
        return
    if parent_id is not None:
        await _check_placement(conn, tenant_id, account_id, parent_id)
    old_chain = await _chain_ids(conn, tenant_id, account_id)
    await conn.execute(
        text("UPDATE accounts SET parent_account_id = :p, updated_at = :now "
             "WHERE tenant_id = :t AND id = :id"),
        {"p": parent_id, "now": dt.datetime.now(dt.UTC), "t": tenant_id, "id": account_id})
    await _mark(conn, tenant_id, [*old_chain, *await _chain_ids(conn, tenant_id, account_id)])
    if old_parent is not None:
        # a parent left without children is a leaf again: its roll-up is its own metrics
        # (under the exclusive lock no placement can add a child meanwhile)
        for table in ("hierarchy_metrics", "hierarchy_stale_marks"):
            await conn.execute(
                text(f"DELETE FROM {table} WHERE tenant_id = :t AND account_id = :p "
                     "AND NOT EXISTS (SELECT 1 FROM accounts c WHERE c.tenant_id = :t "
                     "AND c.parent_account_id = :p)"),
                {"t": tenant_id, "p": old_parent})


async def children_pages(conn: AsyncConnection, tenant_id: uuid.UUID,
                         parent_ids: Sequence[uuid.UUID],
                         page: PageRequest) -> dict[uuid.UUID, Page[RowMapping]]:
    """The same page of children of each account, oldest first, in two statements."""
    return await keyset_pages(conn, tenant_id, "accounts", "parent_account_id", parent_ids, page)


async def check_exists(conn: AsyncConnection, tenant_id: uuid.UUID, account_id: uuid.UUID,
                       field: str) -> None:
    found = (await conn.execute(
        text("SELECT 1 FROM accounts WHERE tenant_id = :t AND id = :id"),
        {"t": tenant_id, "id": account_id})).first()
    if found is None:
        raise NotFound("account", account_id, field=field)


async def filter_clauses(conn: AsyncConnection, tenant_id: uuid.UUID, *,
                         parent_account_id: uuid.UUID | None,
                         descendant_of: uuid.UUID | None) -> tuple[list[str], dict[str, object]]:
    """SQL conditions on `accounts` for the filters parentAccountId and descendantOf."""
    clauses: list[str] = []
    params: dict[str, object] = {}
    if parent_account_id is not None:
        await check_exists(conn, tenant_id, parent_account_id, "filter.parentAccountId")
        clauses.append("parent_account_id = :parent_account_id")
        params["parent_account_id"] = parent_account_id
    if descendant_of is not None:
        await check_exists(conn, tenant_id, descendant_of, "filter.descendantOf")
        clauses.append(f"id IN ({DESCENDANTS})")
        params["root"] = descendant_of
    return clauses, params
