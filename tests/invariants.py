"""Database invariants of a tenant, checked with SQL independent of the services.

Used after fuzzing, after each step of the stateful test and after fault injection:

- every account's stored metrics equal a fresh recomputation from its documents
  (call after a refresh: partner accounts may lag until then);
- an invoice's amount is the sum of its lines;
- no open balance is negative or above its document's amount (a credit invoice
  of a bill run, amount < 0, keeps balance = amount: nothing applies to it);
- for every payment and credit memo, applied + refunded <= amount, both >= 0;
- the ledgers agree with the running totals: a source's applied amount is the sum
  of its application rows, its refunded amount the sum of its refund rows, and a
  posted target's balance is its amount minus what is applied to it;
- money is conserved per account: what posted invoices and debit memos charged
  minus what is still open equals what payments and credit memos applied to them.
"""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

ZERO_DECIMAL_CURRENCIES = {"JPY", "KRW", "CLP", "ISK", "VND", "XAF", "XOF", "UGX", "PYG"}
THREE_DECIMAL_CURRENCIES = {"BHD", "KWD", "OMR", "JOD", "TND", "IQD", "LYD"}

RECOMPUTED = text("""
SELECT a.id, a.currency, m.balance, m.credit_balance, m.total_invoice_balance,
       m.total_debit_memo_balance, m.unapplied_payment_amount, m.unapplied_credit_memo_amount,
       m.contracted_mrr, m.last_invoice_date,
  (SELECT coalesce(sum(balance), 0) FROM invoices
    WHERE tenant_id = a.tenant_id AND account_id = a.id AND status = 'POSTED') AS inv,
  (SELECT max(invoice_date) FROM invoices
    WHERE tenant_id = a.tenant_id AND account_id = a.id AND status = 'POSTED') AS last_date,
  (SELECT coalesce(sum(balance), 0) FROM debit_memos
    WHERE tenant_id = a.tenant_id AND account_id = a.id AND status = 'POSTED') AS dm,
  (SELECT coalesce(sum(amount - applied_amount - refunded_amount), 0) FROM payments
    WHERE tenant_id = a.tenant_id AND account_id = a.id) AS pay,
  (SELECT coalesce(sum(amount - applied_amount - refunded_amount), 0) FROM credit_memos
    WHERE tenant_id = a.tenant_id AND account_id = a.id AND status = 'POSTED') AS cm,
  (SELECT coalesce(sum(i.mrr), 0) FROM subscriptions s JOIN subscription_items i
     ON i.tenant_id = s.tenant_id AND i.subscription_id = s.id
    WHERE s.tenant_id = a.tenant_id AND s.owner_account_id = a.id
      AND s.status <> 'CANCELLED' AND s.cancelled_on IS NULL
      AND i.end_date IS NULL AND i.charge_type = 'RECURRING') AS mrr,
  EXISTS (SELECT 1 FROM metrics_stale_marks k
          WHERE k.tenant_id = a.tenant_id AND k.account_id = a.id) AS stale
FROM accounts a JOIN account_metrics m ON m.tenant_id = a.tenant_id AND m.account_id = a.id
WHERE a.tenant_id = :t
ORDER BY a.id
""")

CHECKS: list[tuple[str, str]] = [
    ("open balance out of range", """
     SELECT 'invoice ' || invoice_number || ' amount ' || amount || ' balance ' || balance
     FROM invoices WHERE tenant_id = :t AND (
       (amount >= 0 AND (balance < 0 OR balance > amount))
       OR (amount < 0 AND status = 'POSTED' AND balance <> amount)
       OR (status = 'CANCELED' AND balance <> 0))
     UNION ALL
     SELECT 'debit memo ' || memo_number || ' amount ' || amount || ' balance ' || balance
     FROM debit_memos WHERE tenant_id = :t AND (balance < 0 OR balance > amount)"""),
    ("amount is not the sum of the lines", """
     SELECT 'invoice ' || i.invoice_number || ' amount ' || i.amount || ' lines '
            || coalesce(sum(l.amount - l.discount_amount + l.tax_amount), 0)
     FROM invoices i LEFT JOIN invoice_lines l ON l.tenant_id = i.tenant_id
       AND l.invoice_id = i.id
     WHERE i.tenant_id = :t
     GROUP BY i.id, i.invoice_number, i.amount, i.subtotal, i.discount_amount, i.tax_amount
     HAVING i.amount <> coalesce(sum(l.amount - l.discount_amount + l.tax_amount), 0)
         OR i.amount <> i.subtotal - i.discount_amount + i.tax_amount"""),
    ("applied + refunded > amount", """
     SELECT 'payment ' || payment_number || ': ' || applied_amount || ' + ' || refunded_amount
            || ' of ' || amount
     FROM payments WHERE tenant_id = :t AND (applied_amount < 0 OR refunded_amount < 0
       OR applied_amount + refunded_amount > amount OR amount <= 0)
     UNION ALL
     SELECT 'credit memo ' || memo_number || ': ' || applied_amount || ' + ' || refunded_amount
            || ' of ' || amount
     FROM credit_memos WHERE tenant_id = :t AND (applied_amount < 0 OR refunded_amount < 0
       OR applied_amount + refunded_amount > amount OR amount <= 0)"""),
    ("source totals disagree with the ledger", """
     SELECT 'payment ' || p.payment_number || ' applied ' || p.applied_amount || ' ledger '
            || coalesce(a.s, 0) || ' refunded ' || p.refunded_amount || ' ledger '
            || coalesce(r.s, 0)
     FROM payments p
     LEFT JOIN (SELECT payment_id, sum(amount) s FROM applications WHERE tenant_id = :t
                GROUP BY payment_id) a ON a.payment_id = p.id
     LEFT JOIN (SELECT payment_id, sum(amount) s FROM refunds WHERE tenant_id = :t
                GROUP BY payment_id) r ON r.payment_id = p.id
     WHERE p.tenant_id = :t AND (p.applied_amount <> coalesce(a.s, 0)
                                 OR p.refunded_amount <> coalesce(r.s, 0))
     UNION ALL
     SELECT 'credit memo ' || c.memo_number || ' applied ' || c.applied_amount || ' ledger '
            || coalesce(a.s, 0) || ' refunded ' || c.refunded_amount || ' ledger '
            || coalesce(r.s, 0)
     FROM credit_memos c
     LEFT JOIN (SELECT credit_memo_id, sum(amount) s FROM applications WHERE tenant_id = :t
                GROUP BY credit_memo_id) a ON a.credit_memo_id = c.id
     LEFT JOIN (SELECT credit_memo_id, sum(amount) s FROM refunds WHERE tenant_id = :t
                GROUP BY credit_memo_id) r ON r.credit_memo_id = c.id
     WHERE c.tenant_id = :t AND (c.applied_amount <> coalesce(a.s, 0)
                                 OR c.refunded_amount <> coalesce(r.s, 0))"""),
    ("target balance disagrees with the ledger", """
     SELECT 'invoice ' || i.invoice_number || ' ' || i.status || ' amount ' || i.amount
            || ' balance ' || i.balance || ' applied ' || coalesce(a.s, 0)
     FROM invoices i
     LEFT JOIN (SELECT invoice_id, sum(amount) s FROM applications WHERE tenant_id = :t
                AND invoice_id IS NOT NULL GROUP BY invoice_id) a ON a.invoice_id = i.id
     WHERE i.tenant_id = :t AND (
       (i.status = 'POSTED' AND i.balance <> i.amount - coalesce(a.s, 0))
       OR (i.status <> 'POSTED' AND coalesce(a.s, 0) <> 0))
     UNION ALL
     SELECT 'debit memo ' || d.memo_number || ' amount ' || d.amount || ' balance '
            || d.balance || ' applied ' || coalesce(a.s, 0)
     FROM debit_memos d
     LEFT JOIN (SELECT debit_memo_id, sum(amount) s FROM applications WHERE tenant_id = :t
                AND debit_memo_id IS NOT NULL GROUP BY debit_memo_id) a
       ON a.debit_memo_id = d.id
     WHERE d.tenant_id = :t AND d.balance <> d.amount - coalesce(a.s, 0)"""),
    ("applications cross accounts or currencies", """
     SELECT 'application ' || x.id || ' from account ' || coalesce(p.account_id, c.account_id)
            || ' to account ' || coalesce(i.account_id, d.account_id)
     FROM applications x
     LEFT JOIN payments p ON p.tenant_id = x.tenant_id AND p.id = x.payment_id
     LEFT JOIN credit_memos c ON c.tenant_id = x.tenant_id AND c.id = x.credit_memo_id
     LEFT JOIN invoices i ON i.tenant_id = x.tenant_id AND i.id = x.invoice_id
     LEFT JOIN debit_memos d ON d.tenant_id = x.tenant_id AND d.id = x.debit_memo_id
     WHERE x.tenant_id = :t AND (
       coalesce(p.account_id, c.account_id) IS DISTINCT FROM coalesce(i.account_id, d.account_id)
       OR coalesce(p.currency, c.currency) IS DISTINCT FROM coalesce(i.currency, d.currency))"""),
    ("money not conserved", """
     WITH charged AS (
       SELECT account_id, sum(amount) - sum(balance) AS paid_down FROM (
         SELECT account_id, amount, balance FROM invoices
           WHERE tenant_id = :t AND status = 'POSTED'
         UNION ALL
         SELECT account_id, amount, balance FROM debit_memos
           WHERE tenant_id = :t AND status = 'POSTED') d GROUP BY account_id),
     applied AS (
       SELECT account_id, sum(applied_amount) AS applied FROM (
         SELECT account_id, applied_amount FROM payments WHERE tenant_id = :t
         UNION ALL
         SELECT account_id, applied_amount FROM credit_memos WHERE tenant_id = :t) s
       GROUP BY account_id)
     SELECT 'account ' || a.account_number || ': charged - open = '
            || coalesce(c.paid_down, 0) || ', applied = ' || coalesce(p.applied, 0)
     FROM accounts a LEFT JOIN charged c ON c.account_id = a.id
     LEFT JOIN applied p ON p.account_id = a.id
     WHERE a.tenant_id = :t AND coalesce(c.paid_down, 0) <> coalesce(p.applied, 0)"""),
]


def minor_units(currency: str) -> int:
    if currency in ZERO_DECIMAL_CURRENCIES:
        return 0
    return 3 if currency in THREE_DECIMAL_CURRENCIES else 2


def rounded(value: Decimal, currency: str) -> Decimal:
    with localcontext(Context(prec=200)):  # amounts up to the API's 10^30 round exactly
        return Decimal(value).quantize(Decimal(1).scaleb(-minor_units(currency)),
                                       rounding=ROUND_HALF_UP)


async def metric_mismatches(conn: AsyncConnection, tenant_id: uuid.UUID | str, *,
                            include_stale: bool = False) -> list[str]:
    """Accounts whose stored metrics differ from a fresh recomputation (stale partner
    accounts are skipped unless `include_stale`: their metrics may lag by design)."""
    problems = []
    for row in (await conn.execute(RECOMPUTED, {"t": tenant_id})).mappings():
        if row["stale"] and not include_stale:
            continue
        with localcontext(Context(prec=200)):  # exact sums of amounts up to 10^30
            problems += _compare(row)
    return problems


def _compare(row: Any) -> list[str]:
    cur = row["currency"]
    expected: dict[str, Any] = {
        "total_invoice_balance": rounded(row["inv"], cur),
        "total_debit_memo_balance": rounded(row["dm"], cur),
        "balance": rounded(row["inv"] + row["dm"], cur),
        "unapplied_payment_amount": rounded(row["pay"], cur),
        "unapplied_credit_memo_amount": rounded(row["cm"], cur),
        "credit_balance": rounded(row["pay"] + row["cm"], cur),
        "contracted_mrr": rounded(row["mrr"], cur),
        "last_invoice_date": row["last_date"],
    }
    return [f"account {row['id']}: stored {name} {row[name]}, recomputed {value}"
            for name, value in expected.items() if row[name] != value]


async def document_violations(conn: AsyncConnection, tenant_id: uuid.UUID | str) -> list[str]:
    problems = []
    for name, query in CHECKS:
        for (detail,) in (await conn.execute(text(query), {"t": tenant_id})).all():
            problems.append(f"{name}: {detail}")
    return problems


async def violations(conn: AsyncConnection, tenant_id: uuid.UUID | str, *,
                     include_stale: bool = False) -> list[str]:
    """Every invariant broken in the tenant's data (empty when all hold)."""
    return (await document_violations(conn, tenant_id)
            + await metric_mismatches(conn, tenant_id, include_stale=include_stale))


VOLATILE = {"api_keys": "last_used_at"}


async def snapshot(conn: AsyncConnection, tenant_id: uuid.UUID | str) -> dict[str, Any]:
    """Every row of the tenant in every table that has a tenant_id (for 'nothing changed').

    Leaves out api_keys.last_used_at: the server flushes it from memory every few seconds
    after any request, reads included, so it is bookkeeping, not the tenant's data."""
    tables = (await conn.execute(text(
        "SELECT table_name FROM information_schema.columns WHERE column_name = 'tenant_id' "
        "AND table_schema = 'public' ORDER BY table_name"))).scalars().all()
    result: dict[str, Any] = {}
    for table in tables:
        rows = (await conn.execute(text(
            f'SELECT to_jsonb(x) AS r FROM "{table}" x WHERE tenant_id = :t'),
            {"t": tenant_id})).scalars().all()
        for row in rows:
            row.pop(VOLATILE.get(table, ""), None)
        result[table] = sorted(rows, key=lambda r: str(sorted(r.items())))
    return result
