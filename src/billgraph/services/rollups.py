"""Hierarchy roll-ups (SPEC §15): the §2 metrics of an account and all its
descendants, one row per currency — a deferred read model like partner metrics.

Stored in `hierarchy_metrics` for every account that has children; an account
without children rolls up to its own metrics (read live from account_metrics).

- `roll_up()` recomputes a whole hierarchy (a root and every account under it) in
  ONE set-based statement: a recursive walk down from the root (tenant-filtered in
  both parts) pairs each member with each of its ancestors, the pairs join the
  members' stored metrics and are summed per (ancestor, currency). The same
  statement deletes the hierarchy's stale marks it saw (same snapshot, as the
  metrics recompute does), so a move it could not see keeps the hierarchy stale;
  a second one (same transaction) upserts the sums it returned.
- Nothing on a member's write path touches an ancestor: staleness is derived from
  what the member's own recompute writes (account_metrics.last_metrics_update later
  than the roll-up's), from the member's own metrics marks (a partner account
  waiting for its refresh), and from the marks moves leave (services.hierarchy).
- `settle()` runs first: a FOR SHARE over the members' metrics rows waits for every
  member recompute in flight (each holds its row FOR UPDATE from before it stamps
  last_metrics_update until it commits) and then reads the clock. Every recompute
  stamped before that time has committed, so the roll-up computed after it includes
  it, and the roll-up's last_metrics_update is that time: `stale` never misses one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.db.tx import Writer

from . import bulk
from .errors import NotFound
from .hierarchy import GUARD

TREE = f"""
tree(account_id, path) AS (
    SELECT id, ARRAY[id] FROM accounts WHERE tenant_id = :t AND id = :root
    UNION ALL
    SELECT c.id, tree.path || c.id FROM tree
    JOIN accounts c ON c.tenant_id = :t AND c.parent_account_id = tree.account_id
    WHERE cardinality(tree.path) < {GUARD})"""

SETTLE = text(f"""
WITH RECURSIVE {TREE}
SELECT count(*) FROM (
    SELECT m.account_id FROM account_metrics m JOIN tree USING (account_id)
    WHERE m.tenant_id = :t ORDER BY m.account_id FOR SHARE OF m) settled
""")

# The roll-up in two statements of one transaction. The first computes the sums and
# deletes the hierarchy's rows and stale marks it no longer holds, in ONE snapshot (a
# move it could not see keeps its mark); the second upserts the sums it returned (an
# INSERT ... SELECT over a recursive CTE is one Citus cannot route to the tenant's shard).
ROLL_UP = text(f"""
WITH RECURSIVE {TREE},
pairs AS (SELECT unnest(path) AS holder_id, account_id FROM tree),
holders AS (SELECT DISTINCT holder_id FROM pairs WHERE holder_id <> account_id),
sums AS (
    SELECT p.holder_id, m.currency, count(*) AS account_count, sum(m.balance) AS balance,
           sum(m.credit_balance) AS credit_balance,
           sum(m.total_invoice_balance) AS total_invoice_balance,
           sum(m.contracted_mrr) AS contracted_mrr
    FROM pairs p JOIN holders USING (holder_id)
    JOIN account_metrics m ON m.tenant_id = :t AND m.account_id = p.account_id
    GROUP BY p.holder_id, m.currency),
gone AS (
    DELETE FROM hierarchy_metrics h
    WHERE h.tenant_id = :t AND h.account_id IN (SELECT account_id FROM tree)
      AND NOT EXISTS (SELECT 1 FROM sums s
                      WHERE s.holder_id = h.account_id AND s.currency = h.currency)),
marks AS (
    DELETE FROM hierarchy_stale_marks
    WHERE tenant_id = :t AND account_id IN (SELECT account_id FROM tree))
SELECT holder_id, currency, account_count, balance, credit_balance, total_invoice_balance,
       contracted_mrr
FROM sums
""")

SUM_COLUMNS = (("account_id", "uuid"), ("currency", "text"), ("account_count", "integer"),
               ("balance", "numeric"), ("credit_balance", "numeric"),
               ("total_invoice_balance", "numeric"), ("contracted_mrr", "numeric"))
UPSERT_SUMS = ("ON CONFLICT (tenant_id, account_id, currency) DO UPDATE SET "
               "account_count = EXCLUDED.account_count, balance = EXCLUDED.balance, "
               "credit_balance = EXCLUDED.credit_balance, "
               "total_invoice_balance = EXCLUDED.total_invoice_balance, "
               "contracted_mrr = EXCLUDED.contracted_mrr, "
               "last_metrics_update = EXCLUDED.last_metrics_update")

ROOT = text(f"""
WITH RECURSIVE up(id, parent_id, distance) AS (
    SELECT id, parent_account_id, 0 FROM accounts WHERE tenant_id = :t AND id = :id
    UNION ALL
    SELECT p.id, p.parent_account_id, up.distance + 1 FROM up
    JOIN accounts p ON p.tenant_id = :t AND p.id = up.parent_id
    WHERE up.distance < {GUARD})
SELECT id FROM up ORDER BY distance DESC LIMIT 1
""")


async def root_of(conn: AsyncConnection, tenant_id: uuid.UUID,
                  account_id: uuid.UUID) -> uuid.UUID | None:
    """The top of the account's hierarchy (itself when it has no parent); None if unknown."""
    found: uuid.UUID | None = (await conn.execute(
        ROOT, {"t": tenant_id, "id": account_id})).scalar()
    return found


async def settle(conn: AsyncConnection, tenant_id: uuid.UUID, root_id: uuid.UUID) -> dt.datetime:
    """Wait for the member recomputes in flight; the time every earlier one has committed by."""
    await conn.execute(SETTLE, {"t": tenant_id, "root": root_id})
    now: dt.datetime = (await conn.execute(text("SELECT clock_timestamp()"))).scalar_one()
    return now


async def roll_up(conn: AsyncConnection, tenant_id: uuid.UUID, root_id: uuid.UUID,
                  covered_at: dt.datetime) -> int:
    """Recompute every roll-up of the hierarchy under `root_id` (one snapshot)."""
    sums = (await conn.execute(ROLL_UP, {"t": tenant_id, "root": root_id})).all()
    rows = [(*row, covered_at) for row in sums]
    await bulk.insert(conn, "hierarchy_metrics", tenant_id,
                      (*SUM_COLUMNS, ("last_metrics_update", "timestamptz")), rows,
                      suffix=UPSERT_SUMS)
    return len(rows)


async def refresh_now(conn: AsyncConnection, tenant_id: uuid.UUID, root_id: uuid.UUID) -> int:
    """refreshHierarchyMetrics: settle and recompute in the caller's transaction (members'
    writers wait for the FOR SHARE until it commits: an explicit, rare call)."""
    return await roll_up(conn, tenant_id, root_id, await settle(conn, tenant_id, root_id))


LOAD = text(f"""
WITH RECURSIVE asked AS (SELECT DISTINCT unnest(CAST(:ids AS uuid[])) AS account_id),
holders AS (
    SELECT a.account_id FROM asked a WHERE EXISTS (
        SELECT 1 FROM accounts c WHERE c.tenant_id = :t AND c.parent_account_id = a.account_id)),
computed AS (
    SELECT DISTINCT h.account_id FROM hierarchy_metrics h JOIN holders USING (account_id)
    WHERE h.tenant_id = :t),
down(holder_id, account_id, level) AS (
    SELECT account_id, account_id, 0 FROM computed
    UNION ALL
    SELECT down.holder_id, c.id, down.level + 1 FROM down
    JOIN accounts c ON c.tenant_id = :t AND c.parent_account_id = down.account_id
    WHERE down.level < {GUARD}),
changed AS (
    SELECT down.holder_id, m.currency, max(m.last_metrics_update) AS latest,
           bool_or(EXISTS (SELECT 1 FROM metrics_stale_marks s
                           WHERE s.tenant_id = :t AND s.account_id = m.account_id)) AS pending
    FROM down JOIN account_metrics m ON m.tenant_id = :t AND m.account_id = down.account_id
    GROUP BY down.holder_id, m.currency)
SELECT h.account_id, h.currency, h.account_count, h.balance, h.credit_balance,
       h.total_invoice_balance, h.contracted_mrr, h.last_metrics_update,
       coalesce(c.latest > h.last_metrics_update OR c.pending, false)
       OR EXISTS (SELECT 1 FROM hierarchy_stale_marks k
                  WHERE k.tenant_id = :t AND k.account_id = h.account_id) AS stale
FROM hierarchy_metrics h JOIN computed USING (account_id)
LEFT JOIN changed c ON c.holder_id = h.account_id AND c.currency = h.currency
WHERE h.tenant_id = :t
UNION ALL
-- no children: its own metrics; children but never rolled up: the same, stale
SELECT m.account_id, m.currency, 1, m.balance, m.credit_balance, m.total_invoice_balance,
       m.contracted_mrr, CASE WHEN holders.account_id IS NULL THEN m.last_metrics_update END,
       holders.account_id IS NOT NULL OR EXISTS (
           SELECT 1 FROM metrics_stale_marks s
           WHERE s.tenant_id = :t AND s.account_id = m.account_id)
FROM asked JOIN account_metrics m ON m.tenant_id = :t AND m.account_id = asked.account_id
LEFT JOIN holders ON holders.account_id = asked.account_id
WHERE asked.account_id NOT IN (SELECT account_id FROM computed)
ORDER BY 1, 2
""")


async def load(conn: AsyncConnection, tenant_id: uuid.UUID,
               account_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[RowMapping]]:
    """Each account's roll-up rows (currency order) with their `stale` flag."""
    found: dict[uuid.UUID, list[RowMapping]] = {i: [] for i in account_ids}
    rows = await conn.execute(LOAD, {"t": tenant_id, "ids": list(account_ids)})
    for row in rows.mappings():
        found.setdefault(row["account_id"], []).append(row)
    return found


# ---------------------------------------------------------------- deferred refresh

TENANTS = text("""
SELECT t.id FROM tenants t WHERE t.id IN (
    SELECT a.tenant_id FROM accounts a WHERE a.parent_account_id IS NOT NULL)
""")

# A hierarchy is due when its root was never rolled up, or was rolled up at least one
# tenant interval ago and since then a member's metrics were recomputed or a move marked
# one of its accounts.
DUE_ROOTS = text(f"""
WITH RECURSIVE parents AS (
    SELECT DISTINCT parent_account_id AS id FROM accounts
    WHERE tenant_id = :t AND parent_account_id IS NOT NULL),
roots AS (
    SELECT p.id, (SELECT min(h.last_metrics_update) FROM hierarchy_metrics h
                  WHERE h.tenant_id = :t AND h.account_id = p.id) AS computed
    FROM parents p JOIN accounts a ON a.tenant_id = :t AND a.id = p.id
    WHERE a.parent_account_id IS NULL),
waiting AS (
    SELECT r.id, r.computed FROM roots r JOIN tenants tn ON tn.id = :t
    WHERE r.computed IS NULL
       OR r.computed <= now() - make_interval(secs => tn.metrics_refresh_interval_seconds)),
down(root_id, account_id, computed, level) AS (
    SELECT id, id, computed, 0 FROM waiting WHERE computed IS NOT NULL
    UNION ALL
    SELECT down.root_id, c.id, down.computed, down.level + 1 FROM down
    JOIN accounts c ON c.tenant_id = :t AND c.parent_account_id = down.account_id
    WHERE down.level < {GUARD})
SELECT id FROM waiting WHERE computed IS NULL
UNION
SELECT down.root_id FROM down
JOIN account_metrics m ON m.tenant_id = :t AND m.account_id = down.account_id
WHERE m.last_metrics_update > down.computed
   OR EXISTS (SELECT 1 FROM hierarchy_stale_marks k
              WHERE k.tenant_id = :t AND k.account_id = down.account_id)
LIMIT :limit
""")

CLAIM = text("""
SELECT h.currency FROM hierarchy_metrics h JOIN tenants tn ON tn.id = h.tenant_id
WHERE h.tenant_id = :t AND h.account_id = :root
  AND h.last_metrics_update <= now() - make_interval(secs => tn.metrics_refresh_interval_seconds)
FOR UPDATE OF h SKIP LOCKED
""")


async def tenants_with_hierarchies(conn: AsyncConnection) -> list[uuid.UUID]:
    return [row.id for row in await conn.execute(TENANTS)]


async def due_roots(conn: AsyncConnection, tenant_id: uuid.UUID,
                    limit: int = 100) -> list[uuid.UUID]:
    return [row.id for row in await conn.execute(DUE_ROOTS, {"t": tenant_id, "limit": limit})]


async def refresh_if_due(conn: AsyncConnection, tenant_id: uuid.UUID, root_id: uuid.UUID,
                         covered_at: dt.datetime) -> bool:
    """Roll the hierarchy up if its root is still due and no other refresher holds it.

    Claims the root's roll-up rows (SKIP LOCKED, re-checking the interval on the locked
    rows); a root never rolled up has none to claim and is rolled up at once.
    """
    claimed = (await conn.execute(CLAIM, {"t": tenant_id, "root": root_id})).first()
    if claimed is None:
        exists = (await conn.execute(
            text("SELECT 1 FROM hierarchy_metrics WHERE tenant_id = :t AND account_id = :root "
                 "LIMIT 1"), {"t": tenant_id, "root": root_id})).first()
        if exists is not None:
            return False  # rolled up within the interval, or another refresher holds it
    await roll_up(conn, tenant_id, root_id, covered_at)
    return True


async def refresh_hierarchy(writer: Writer, account_id: uuid.UUID) -> None:
    """refreshHierarchyMetrics: recompute now the roll-ups of the hierarchy `account_id`
    belongs to (NOT_FOUND naming accountId when the tenant has no such account)."""
    root = await root_of(writer.conn, writer.tenant_id, account_id)
    if root is None:
        raise NotFound("account", account_id, field="accountId")
    writer.accounts.add(account_id)
    await refresh_now(writer.conn, writer.tenant_id, root)
