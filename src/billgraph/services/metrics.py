"""Account metrics: a read model recomputed from the documents (SPEC §1, §2).

There is ONE recompute, `recompute()`: a single set-based statement over the
accounts' documents. Because it is one statement it reads one snapshot, and in
that same snapshot it deletes the accounts' stale marks — so a mark written by a
transaction the recompute could not see survives, and the account stays stale.

Writes call `touched()` once, at the end of their transaction:
- a partner account gets a stale mark (an INSERT: writers never contend) and
  is left to the refresher;
- any other account's metrics row is locked (writes to one non-partner account
  serialize here, with the lock timeout of db.tx) and then recomputed in a new
  statement, whose snapshot includes every write committed before the lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.db import clock, raw
from billgraph.db.engine import plans_generically
from billgraph.db.tx import Writer
from billgraph.models import new_id
from billgraph.services.webhooks import outbox

METRIC_COLUMNS = (
    "currency, balance, credit_balance, last_invoice_date, total_invoice_balance, "
    "total_debit_memo_balance, unapplied_credit_memo_amount, unapplied_payment_amount, "
    "contracted_mrr, last_metrics_update"
)

# contractedMrr (SPEC §2) of the accounts :ids, exact (rounded by the caller): the MRR
# of the open-ended recurring items of the subscriptions they own, not cancelled.
CONTRACTED_MRR = """
    SELECT s.owner_account_id AS account_id, sum(i.mrr) AS mrr
    FROM subscriptions s
    JOIN subscription_items i ON i.tenant_id = s.tenant_id AND i.subscription_id = s.id
    WHERE s.tenant_id = :tenant AND s.owner_account_id = ANY(CAST(:ids AS uuid[]))
      AND s.status <> 'CANCELLED' AND s.cancelled_on IS NULL
      AND i.charge_type = 'RECURRING' AND i.end_date IS NULL
    GROUP BY s.owner_account_id"""

RECOMPUTE = text(f"""
WITH ids AS (SELECT DISTINCT unnest(CAST(:ids AS uuid[])) AS account_id),
inv AS (
    SELECT account_id, sum(balance) AS balance, max(invoice_date) AS last_date
    FROM invoices
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:ids AS uuid[])) AND status = 'POSTED'
    GROUP BY account_id),
dm AS (
    SELECT account_id, sum(balance) AS balance
    FROM debit_memos
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:ids AS uuid[])) AND status = 'POSTED'
    GROUP BY account_id),
pay AS (
    SELECT account_id, sum(amount - applied_amount - refunded_amount) AS unapplied
    FROM payments
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:ids AS uuid[]))
    GROUP BY account_id),
cm AS (
    SELECT account_id, sum(amount - applied_amount - refunded_amount) AS unapplied
    FROM credit_memos
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:ids AS uuid[])) AND status = 'POSTED'
    GROUP BY account_id),
mrr AS ({CONTRACTED_MRR}),
marks AS (
    DELETE FROM metrics_stale_marks
    WHERE tenant_id = :tenant AND account_id = ANY(CAST(:ids AS uuid[]))
    RETURNING account_id)
UPDATE account_metrics m SET
    total_invoice_balance = round(coalesce(inv.balance, 0), currency_minor_units(m.currency)),
    total_debit_memo_balance = round(coalesce(dm.balance, 0), currency_minor_units(m.currency)),
    unapplied_payment_amount = round(coalesce(pay.unapplied, 0), currency_minor_units(m.currency)),
    unapplied_credit_memo_amount = round(coalesce(cm.unapplied, 0),
                                         currency_minor_units(m.currency)),
    balance = round(coalesce(inv.balance, 0) + coalesce(dm.balance, 0),
                    currency_minor_units(m.currency)),
    credit_balance = round(coalesce(pay.unapplied, 0) + coalesce(cm.unapplied, 0),
                           currency_minor_units(m.currency)),
    last_invoice_date = inv.last_date,
    contracted_mrr = round(coalesce(mrr.mrr, 0), currency_minor_units(m.currency)),
    last_metrics_update = CAST(:now AS timestamptz)
FROM ids
LEFT JOIN inv USING (account_id)
LEFT JOIN dm USING (account_id)
LEFT JOIN pay USING (account_id)
LEFT JOIN cm USING (account_id)
LEFT JOIN mrr USING (account_id)
WHERE m.tenant_id = :tenant AND m.account_id = ids.account_id
RETURNING m.account_id, {", ".join("m." + c.strip() for c in METRIC_COLUMNS.split(","))}
""")


CONTRACTED_MRR_OF = text(f"""
WITH mrr AS ({CONTRACTED_MRR})
SELECT a.id AS account_id, round(coalesce(mrr.mrr, 0), currency_minor_units(a.currency)) AS mrr
FROM accounts a LEFT JOIN mrr ON mrr.account_id = a.id
WHERE a.tenant_id = :tenant AND a.id = ANY(CAST(:ids AS uuid[]))
""")


async def contracted_mrr(conn: AsyncConnection, tenant_id: uuid.UUID,
                         account_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Decimal]:
    """The contractedMrr a recompute would store for each account, computed from the
    subscriptions `conn` sees (uncommitted ones of its transaction included), written
    nowhere: the same sum as RECOMPUTE's."""
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    rows = await conn.execute(CONTRACTED_MRR_OF, {"tenant": tenant_id, "ids": ids})
    return {r.account_id: r.mrr for r in rows}


CUSTOM_PLAN_BATCH = 8  # accounts recomputed at once from which recompute() plans per values


async def recompute(
    conn: AsyncConnection, tenant_id: uuid.UUID, account_ids: Iterable[uuid.UUID]
) -> list[RowMapping]:
    """Recompute the metrics of `account_ids` from their documents; clear their stale marks.

    A batch (at least CUSTOM_PLAN_BATCH accounts: a bill run's write batch) is planned for
    its values, not generically: how to read the accounts' invoices depends on how many
    they have, which a generic plan cannot know. With one account of 200,000 invoices in
    the table, the generic plan scanned all invoices for every recompute — 60-75 ms for
    50 accounts of 10 invoices each (bench/RESULTS.md, issue 13 session 11). On a
    connection that plans generically the rest of the transaction is then planned per
    execution (force_custom_plan; `auto` went back to the generic plan on connections that
    had recomputed the big account); a recompute ends the writes that call it. A write's
    own one or two accounts keep the generic plan: planning this statement costs ~0.8 ms,
    ten times its execution, inside the accounts' metrics lock."""
    ids = sorted(set(account_ids))
    if not ids:
        return []
    if len(ids) >= CUSTOM_PLAN_BATCH and plans_generically(conn) and conn.in_transaction():
        await conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    result = await conn.execute(RECOMPUTE, {"tenant": tenant_id, "ids": ids, "now": clock.now()})
    rows = list(result.mappings())
    await outbox.record_groups(conn, tenant_id, [outbox.Group(
        "ACCOUNT_METRICS_UPDATED", [r["account_id"] for r in rows])])
    return rows


async def lock_and_recompute(
    conn: AsyncConnection, tenant_id: uuid.UUID, account_ids: Iterable[uuid.UUID]
) -> list[RowMapping]:
    """Take the accounts' metrics locks (in id order: no deadlocks), then recompute."""
    ids = sorted(set(account_ids))
    if not ids:
        return []
    await conn.execute(
        text("SELECT 1 FROM account_metrics WHERE tenant_id = :tenant "
             "AND account_id = ANY(CAST(:ids AS uuid[])) ORDER BY account_id FOR UPDATE"),
        {"tenant": tenant_id, "ids": ids},
    )
    return await recompute(conn, tenant_id, ids)


# FOR SHARE: writers never block each other here, but setPartner (an UPDATE of the
# account) waits for writes in flight, so the flag cannot change under us. In the same
# statement the partner accounts get their stale mark, and the metrics rows of the others
# are locked (after every account, in id order as lock_and_recompute does; the count
# makes the statement lock them all). `locked` reads accounts itself, FOR SHARE (the
# flag re-checked on the row's latest version), rather than the `acc` CTE: a CTE
# referencing another one next to an INSERT is not routed to one shard by Citus.
def _touch(n: str) -> tuple[list[str], str]:
    """The touch's CTEs and its SELECT, their names and parameters ending in `n` (`:t` is the
    tenant, `:ids` the accounts, `:mark_ids` a new id per account)."""
    return [f"""acc{n} AS (
    SELECT id, partner_account FROM accounts
    WHERE tenant_id = :t AND id = ANY(CAST(:ids{n} AS uuid[])) ORDER BY id FOR SHARE)""",
            f"""marks{n} AS (
    INSERT INTO metrics_stale_marks (tenant_id, id, account_id)
    SELECT CAST(:t AS uuid), m.mark_id, m.account_id
    FROM unnest(CAST(:ids{n} AS uuid[]), CAST(:mark_ids{n} AS uuid[])) AS m(account_id, mark_id)
    JOIN acc{n} ON acc{n}.id = m.account_id
    WHERE acc{n}.partner_account)""",
            f"""locked{n} AS (
    SELECT m.account_id FROM account_metrics m
    JOIN accounts a ON a.tenant_id = m.tenant_id AND a.id = m.account_id
    WHERE m.tenant_id = :t AND m.account_id = ANY(CAST(:ids{n} AS uuid[]))
      AND NOT a.partner_account
    ORDER BY m.account_id FOR UPDATE OF m FOR SHARE OF a)"""], (
        f"SELECT id, partner_account, (SELECT count(*) FROM locked{n}) AS locked FROM acc{n}")


def _marks(ids: list[uuid.UUID]) -> list[uuid.UUID]:
    return [new_id() for _ in ids]


def _add_touch(writer: Writer, later: raw.Later, ids: list[uuid.UUID]) -> None:
    """The touch of `ids` as a part of `later`, whose rows then recompute the non-partner
    accounts."""
    n = later.name("")
    ctes, select = _touch(n)

    async def then(rows: list[raw.Row]) -> None:
        await _recompute_synchronous(writer, rows)

    later.add(ctes, {f"ids{n}": ids, f"mark_ids{n}": _marks(ids)}, result=select, then=then)


async def touched(writer: Writer, account_ids: Iterable[uuid.UUID]) -> None:
    """Call at the end of a write that changed documents of these accounts."""
    ids = sorted(set(account_ids))
    writer.accounts.update(ids)
    if ids:
        statement = raw.Later(writer.tenant_id)  # sent at once, on its own
        _add_touch(writer, statement, ids)
        await statement.send(writer.conn)


async def touched_later(writer: Writer, account_ids: Iterable[uuid.UUID]) -> None:
    """`touched`, sent with the transaction's other deferred writes in one statement
    before COMMIT (`Writer.later`), the non-partner accounts then recomputed: for a write
    that reads neither these accounts' metrics nor their marks after this call."""
    if writer.later.result is not None:  # another part reads its rows back: not deferred
        await touched(writer, account_ids)
        return
    ids = sorted(set(account_ids))
    writer.accounts.update(ids)
    if ids:
        _add_touch(writer, writer.later, ids)


async def _recompute_synchronous(writer: Writer, rows: list[raw.Row]) -> None:
    synchronous = [row["id"] for row in rows if not row["partner_account"]]
    if synchronous:
        # locked by the touch; recomputed in a new statement, whose snapshot includes every
        # write committed before the lock
        await recompute(writer.conn, writer.tenant_id, synchronous)
        writer.recomputed.update(synchronous)


async def create_row(conn: AsyncConnection, tenant_id: uuid.UUID, account_id: uuid.UUID,
                     currency: str) -> None:
    """The zero metrics of a new account (nothing to recompute yet)."""
    await conn.execute(
        text("INSERT INTO account_metrics (tenant_id, account_id, currency, balance, "
             "credit_balance, total_invoice_balance, total_debit_memo_balance, "
             "unapplied_credit_memo_amount, unapplied_payment_amount, contracted_mrr, "
             "last_metrics_update) SELECT CAST(:tenant AS uuid), CAST(:account AS uuid), "
             "CAST(:currency AS text), z.v, z.v, z.v, z.v, z.v, z.v, z.v, "
             "CAST(:now AS timestamptz) "
             "FROM (SELECT round(0::numeric, currency_minor_units(:currency)) AS v) z"),
        {"tenant": tenant_id, "account": account_id, "currency": currency,
         "now": clock.now()},
    )


METRICS_WITH_STALE = text(f"""
SELECT m.account_id, {", ".join("m." + c.strip() for c in METRIC_COLUMNS.split(","))},
       EXISTS (SELECT 1 FROM metrics_stale_marks s
               WHERE s.tenant_id = m.tenant_id AND s.account_id = m.account_id) AS stale
FROM account_metrics m
WHERE m.tenant_id = :tenant AND m.account_id = ANY(CAST(:ids AS uuid[]))
""")


async def load(conn: AsyncConnection, tenant_id: uuid.UUID,
               account_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, RowMapping]:
    """Stored metrics with their `stale` flag, by account id."""
    rows = await conn.execute(METRICS_WITH_STALE, {"tenant": tenant_id, "ids": list(account_ids)})
    return {row["account_id"]: row for row in rows.mappings()}


# ---------------------------------------------------------------- deferred refresh

# Tenants with stale marks: one probe per tenant of the (tenant, account, marked_at)
# index (tenants is small; a reference table on Citus).
TENANTS_WITH_MARKS = text("""
SELECT t.id FROM tenants t WHERE t.id IN (SELECT tenant_id FROM metrics_stale_marks)
""")

# Within one tenant the stale accounts are found by a skip scan over that index: one
# index probe per stale account, however many marks each has piled up (a busy partner
# account gathers thousands within one interval). Filtered by tenant_id, as Citus
# requires of a recursive CTE (it then runs on the tenant's shard).
DUE_ACCOUNTS = text("""
WITH RECURSIVE stale(tenant_id, account_id) AS (
    (SELECT tenant_id, account_id FROM metrics_stale_marks
     WHERE tenant_id = :tenant ORDER BY tenant_id, account_id LIMIT 1)
    UNION ALL
    SELECT n.tenant_id, n.account_id FROM stale s
    CROSS JOIN LATERAL (
        SELECT k.tenant_id, k.account_id FROM metrics_stale_marks k
        WHERE k.tenant_id = :tenant AND (k.tenant_id, k.account_id) > (s.tenant_id, s.account_id)
        ORDER BY k.tenant_id, k.account_id LIMIT 1) n)
SELECT s.tenant_id, s.account_id, f.first_marked
FROM stale s
JOIN account_metrics m ON m.tenant_id = :tenant AND m.account_id = s.account_id
JOIN accounts a ON a.tenant_id = :tenant AND a.id = s.account_id
JOIN tenants t ON t.id = :tenant
CROSS JOIN LATERAL (
    SELECT k.marked_at AS first_marked FROM metrics_stale_marks k
    WHERE k.tenant_id = :tenant AND k.account_id = s.account_id
    ORDER BY k.marked_at LIMIT 1) f
WHERE (NOT a.partner_account
   OR m.last_metrics_update IS NULL
   OR m.last_metrics_update <= now() - make_interval(secs => t.metrics_refresh_interval_seconds))
ORDER BY f.first_marked
LIMIT :limit
""")

CLAIM = text("""
SELECT m.account_id
FROM account_metrics m
JOIN accounts a ON a.tenant_id = m.tenant_id AND a.id = m.account_id
JOIN tenants t ON t.id = m.tenant_id
WHERE m.tenant_id = :tenant AND m.account_id = :account
  AND (NOT a.partner_account
       OR m.last_metrics_update IS NULL
       OR m.last_metrics_update
          <= now() - make_interval(secs => t.metrics_refresh_interval_seconds))
FOR UPDATE OF m SKIP LOCKED
""")


async def due_accounts(conn: AsyncConnection,
                       limit: int = 500) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Stale accounts whose interval has passed (non-partner ones at once), oldest mark
    first: the tenants with marks, then each tenant's due accounts."""
    due = []
    for tenant_id in (await conn.execute(TENANTS_WITH_MARKS)).scalars().all():
        rows = await conn.execute(DUE_ACCOUNTS, {"tenant": tenant_id, "limit": limit})
        due += [(r.first_marked, r.tenant_id, r.account_id) for r in rows]
    due.sort()
    return [(tenant_id, account_id) for _, tenant_id, account_id in due[:limit]]


async def refresh_if_due(conn: AsyncConnection, tenant_id: uuid.UUID,
                         account_id: uuid.UUID) -> RowMapping | None:
    """Recompute one account if it is still due and no other refresher holds it.

    The claim locks the metrics row with SKIP LOCKED and re-checks the interval on
    the locked row, so two refreshers never recompute an account twice in one
    interval. Run inside a short transaction of its own.
    """
    claimed = (await conn.execute(CLAIM, {"tenant": tenant_id, "account": account_id})).first()
    if claimed is None:
        return None
    rows = await recompute(conn, tenant_id, [account_id])
    return rows[0] if rows else None
