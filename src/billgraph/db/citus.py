"""Distribution on Citus (a no-op on plain PostgreSQL), run after every migration.

The rule, for every table of the schema, present and future (no per-table code):

- a table with a `tenant_id` column whose unique constraints all include `tenant_id`
  is distributed by `tenant_id`, all of them in ONE colocation group, so every
  statement of one tenant runs on one node (joins, FOR UPDATE, transactions);
- every other table (no `tenant_id`, e.g. `tenants` and `alembic_version`, or a
  unique key across tenants, e.g. `api_keys.key_hash`) is a reference table,
  copied to every node.

Idempotent: tables already distributed or reference tables are skipped, so it runs
at every start-up (after `alembic upgrade`) and picks up the tables of new migrations.
"""

from __future__ import annotations

import logging

from sqlalchemy import RowMapping, text
from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

# Every table of the schema with where it stands: 'h' distributed, 'r' a reference table,
# 'n' a Citus local table (e.g. auto-converted), NULL a plain table.
TABLES = text("""
SELECT c.relname AS name,
       CASE WHEN p.partmethod = 'n' AND p.repmodel = 't' THEN 'r'
            ELSE p.partmethod::text END AS placed,
       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
               AND a.attname = 'tenant_id' AND NOT a.attisdropped) AS has_tenant,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique
               AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                               AND a.attname = 'tenant_id' AND a.attnum = ANY(i.indkey)))
         AS global_unique
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_dist_partition p ON p.logicalrelid = c.oid
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND relation_is_a_known_shard(c.oid) IS NOT TRUE
ORDER BY c.relname
""")

ANCHOR = text("""
SELECT logicalrelid::regclass::text FROM pg_dist_partition
WHERE partmethod = 'h' ORDER BY colocationid, logicalrelid::regclass::text LIMIT 1
""")


# Functions of the schema that distributed queries call on the workers (e.g.
# currency_minor_units), not yet known to Citus.
FUNCTIONS = text("""
SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
LEFT JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
WHERE n.nspname = current_schema() AND d.objid IS NULL
  AND NOT EXISTS (SELECT 1 FROM pg_dist_object o
                  WHERE o.classid = 'pg_proc'::regclass AND o.objid = p.oid)
ORDER BY 1
""")


# Foreign keys between tables of the schema: a referenced table is placed first.
PARENTS = text("""
SELECT c.conrelid::regclass::text AS child, c.confrelid::regclass::text AS parent
FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
WHERE c.contype = 'f' AND n.nspname = current_schema() AND c.conrelid <> c.confrelid
""")


def _parents_first(conn: Connection, rows: list[RowMapping]) -> list[RowMapping]:
    """Reference tables first, then distributed ones, a referenced table before the tables
    referencing it (Citus requires it of foreign keys)."""
    parents: dict[str, set[str]] = {}
    for child, parent in conn.execute(PARENTS).all():
        parents.setdefault(child, set()).add(parent)
    ordered: list[RowMapping] = []
    done: set[str] = set()

    def visit(row: RowMapping, by_name: dict[str, RowMapping]) -> None:
        if row["name"] in done:
            return
        done.add(row["name"])
        for parent in sorted(parents.get(row["name"], ())):
            if parent in by_name:
                visit(by_name[parent], by_name)
        ordered.append(row)

    by_name = {row["name"]: row for row in rows}
    for row in sorted(rows, key=lambda r: (bool(r["has_tenant"] and not r["global_unique"]),
                                           r["name"])):
        visit(row, by_name)
    return ordered


def has_citus(conn: Connection) -> bool:
    return bool(conn.execute(text(
        "SELECT 1 FROM pg_extension WHERE extname = 'citus'")).scalar())


def distribute(conn: Connection) -> list[str]:
    """Distribute or replicate every table not yet placed; the names placed (none on plain
    PostgreSQL). Run in the migration's transaction, under its advisory lock."""
    if not has_citus(conn):
        return []
    placed = []
    for row in _parents_first(conn, list(conn.execute(TABLES).mappings().all())):
        name = row["name"]
        if row["placed"] in ("h", "r"):
            continue
        if row["has_tenant"] and not row["global_unique"]:
            anchor = conn.execute(ANCHOR).scalar()
            conn.execute(text("SELECT create_distributed_table(CAST(:t AS regclass), 'tenant_id', "
                              "colocate_with => :with)"),
                         {"t": name, "with": anchor or "none"})
            placed.append(f"{name} (distributed by tenant_id)")
        else:
            conn.execute(text("SELECT create_reference_table(CAST(:t AS regclass))"),
                         {"t": name})
            placed.append(f"{name} (reference)")
    for (function,) in conn.execute(FUNCTIONS).all():
        conn.execute(text("SELECT create_distributed_function(:f)"), {"f": function})
        placed.append(f"{function} (function on every node)")
    if placed:
        log.info("Citus: placed %s", ", ".join(placed))
    return placed
