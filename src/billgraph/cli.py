"""billgraph serve | migrate | tenant | key | user | worker | import | backup | restore | bench."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from billgraph import importer
from billgraph.config import Settings, get_settings
from billgraph.db.bootstrap import open_database, run_with_connection
from billgraph.observability import configure_logging
from billgraph.services import api_keys, tenants
from billgraph.services.errors import BillgraphError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="billgraph", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve GraphQL (and run the background workers)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--no-workers", action="store_true",
                       help="serve only; run `billgraph worker` elsewhere")
    serve.add_argument("--workers", type=int, default=None, metavar="N",
                       help="server processes on the one port (default BILLGRAPH_WORKERS, 1); "
                            "the background workers run in each, dividing the work")
    parser.add_argument("--log-format", choices=("text", "json"), default=None,
                        help="log lines as text (default) or JSON with request id, tenant, "
                             "operation")

    commands.add_parser("migrate", help="apply the database migrations")
    commands.add_parser("worker", help="run only the job runner and the metrics refresher")

    tenant = commands.add_parser("tenant", help="manage tenants").add_subparsers(
        dest="action", required=True)
    tenant_create = tenant.add_parser("create", help="create a tenant; prints its first key")
    tenant_create.add_argument("name")
    tenant_create.add_argument("--scope", choices=tenants.SCOPES, default=tenants.FIRST_KEY_SCOPE,
                               help="of the first key (default admin)")

    key = commands.add_parser("key", help="manage API keys").add_subparsers(
        dest="action", required=True)
    key_create = key.add_parser("create", help="create an API key; prints it")
    key_create.add_argument("--tenant", required=True)
    key_create.add_argument("--scope", choices=tenants.SCOPES, required=True)
    key_list = key.add_parser("list", help="list a tenant's keys (never their secrets)")
    key_list.add_argument("--tenant", required=True)
    key_revoke = key.add_parser("revoke", help="revoke a key (refused by every server within "
                                               "5 s)")
    key_revoke.add_argument("--tenant", required=True)
    key_revoke.add_argument("key", help="the key's id or prefix, as `key list` shows them")

    user = commands.add_parser("user", help="manage tenant users").add_subparsers(
        dest="action", required=True)
    user_create = user.add_parser("create", help="create a user (for performedBy); prints its id")
    user_create.add_argument("--tenant", required=True)
    user_create.add_argument("username")

    importer.add_parser(commands)

    backup = commands.add_parser("backup", help="back up the database into FILE (pg_dump, "
                                                "custom format)")
    backup.add_argument("file", metavar="FILE")
    restore = commands.add_parser("restore", help="replace the database with the backup in "
                                                  "FILE (stop serve and worker first)")
    restore.add_argument("file", metavar="FILE")
    restore.add_argument("--in-place", action="store_true",
                         help="restore into the database itself (pg_restore --clean, one "
                              "transaction) instead of a fresh database swapped in")
    restore.add_argument("--force", action="store_true",
                         help="disconnect the sessions using the database")

    bench = commands.add_parser("bench", help="run the benchmarks (bench/ of a source checkout) "
                                              "and append the table to bench/RESULTS.md")
    bench.add_argument("--quick", action="store_true",
                       help="small sizes: check errors and SQL counts, not timings")
    bench.add_argument("--only", help="comma-separated benchmarks "
                                      "(orders,invoices,refresh,bill_runs,reads,usage,audit,webhooks,"
                                      "hierarchy)")
    bench.add_argument("--no-record", action="store_true", help="do not write bench/RESULTS.md")
    bench.add_argument("--baseline", metavar="REV", nargs="?", const="d0fe6db", default=None,
                       help="also run every scenario against REV (a commit) in its own venv, "
                            "alternating, and print new/old ratios")
    bench.add_argument("--workers", type=int, default=None, metavar="N",
                       help="run the scenarios again against `serve --workers N`")
    bench.add_argument("--load", choices=("auto", "wrk", "httpx"), default=None,
                       help="what sends the fixed-duration HTTP loads (auto: wrk when on PATH)")

    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, args.log_format or settings.log_format)
    try:
        return COMMANDS[args.command](settings, args)
    except BillgraphError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from billgraph.app import create_app

    host = args.host or settings.host
    port = args.port or settings.port
    processes = args.workers or settings.workers
    if processes < 1:
        print("error: --workers must be 1 or more", file=sys.stderr)
        return 2
    database = open_database(settings)
    try:
        key = run_with_connection(database.url, bootstrap_default_tenant)
        if key:
            print(f"\nCreated tenant 'default'. Its admin API key (shown once):\n\n    {key}\n\n"
                  f"In GraphiQL (http://{host}:{port}/graphql) open the Headers tab and paste:\n"
                  f'    {{"Authorization": "Bearer {key}"}}\n', flush=True)
        overrides: dict[str, Any] = {"database_url": database.url}
        if args.no_workers:
            overrides["run_workers"] = False
        if processes > 1:
            from billgraph import serving

            overrides["log_format"] = args.log_format or settings.log_format
            try:
                sized = serving.sized_for(settings.model_copy(update=overrides), processes)
            except serving.PoolSizeError as error:
                print(f"error: {error}", file=sys.stderr)
                return 2
            print(f"Serving with {processes} processes on port {port}, a pool of "
                  f"{sized.pool_size} connections each.", flush=True)
            serving.serve_processes(sized, host=host, port=port, processes=processes)
            return 0
        app = create_app(settings.model_copy(update=overrides))
        uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower(),
                    ws="websockets-sansio", lifespan="on", log_config=None)
    finally:
        database.stop()
    return 0


async def bootstrap_default_tenant(conn: Any) -> str | None:
    """On a database without tenants: tenant `default` with a write key."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(7400202)"))
    if await tenants.any_tenant(conn):
        return None
    tenant_id = await tenants.create_tenant(conn, "default")
    return await tenants.create_key(conn, tenant_id, tenants.FIRST_KEY_SCOPE)


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    open_database(settings).stop()
    print("database is at the latest migration", file=sys.stderr)
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from billgraph.bootstrap import run_workers

    database = open_database(settings)
    try:
        asyncio.run(run_workers(settings.model_copy(update={"database_url": database.url})))
    except KeyboardInterrupt:
        pass
    finally:
        database.stop()
    return 0


def cmd_tenant(settings: Settings, args: argparse.Namespace) -> int:
    async def create(conn: Any) -> str:
        tenant_id = await tenants.create_tenant(conn, args.name)
        return await tenants.create_key(conn, tenant_id, args.scope)

    return _print_result(settings, create)


def cmd_key(settings: Settings, args: argparse.Namespace) -> int:
    async def create(conn: Any) -> str:
        tenant_id = await tenants.tenant_by_name(conn, args.tenant)
        return await tenants.create_key(conn, tenant_id, args.scope)

    async def listing(conn: Any) -> str:
        rows = await api_keys.list_keys(conn, await tenants.tenant_by_name(conn, args.tenant))
        return "\n".join(key_line(row) for row in rows)

    async def revoke(conn: Any) -> str:
        tenant_id = await tenants.tenant_by_name(conn, args.tenant)
        key_id = await api_keys.find_key(conn, tenant_id, args.key)
        return key_line(await api_keys.revoke(conn, tenant_id, key_id, now=datetime.now(UTC)))

    actions = {"create": create, "list": listing, "revoke": revoke}
    return _print_result(settings, actions[args.action])


def key_line(row: Any) -> str:
    """id, prefix, scope, state, created, last used, description: tab-separated."""
    state = ("revoked" if row["revoked_at"] else
             "expired" if row["expires_at"] and row["expires_at"] <= datetime.now(UTC) else
             "active")
    when = [row[c].isoformat(timespec="seconds") if row[c] else "-"
            for c in ("created_at", "expires_at", "last_used_at")]
    return "\t".join([str(row["id"]), row["prefix"], row["scope"], state, *when,
                      row["description"] or ""])


def cmd_user(settings: Settings, args: argparse.Namespace) -> int:
    async def create(conn: Any) -> str:
        tenant_id = await tenants.tenant_by_name(conn, args.tenant)
        return str(await tenants.create_user(conn, tenant_id, args.username))

    return _print_result(settings, create)


def _print_result(settings: Settings, work: Any) -> int:
    """Run `work` on the database and print only its result on stdout (scripts capture it)."""
    database = open_database(settings)
    try:
        print(run_with_connection(database.url, work))
    finally:
        database.stop()
    return 0


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    return _with_pg_tools(settings, lambda pg, target, tools: pg.backup(
        target, Path(args.file), tools, pg.stderr_progress))


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    return _with_pg_tools(settings, lambda pg, target, tools: pg.restore(
        target, Path(args.file), tools, pg.stderr_progress, in_place=args.in_place,
        force=args.force))


def _with_pg_tools(settings: Settings, work: Any) -> int:
    """`work(backup module, target, tools)` on the configured database; its summary on
    stdout, its progress on stderr."""
    from billgraph.db import backup as pg

    database = open_database(settings, migrate=False)
    try:
        target = pg.Target.from_url(database.url)
        tools = pg.find_tools(target, pg_bin_dir=settings.pg_bin_dir,
                              embedded=database.embedded is not None)
        print(work(pg, target, tools))
    except pg.BackupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        database.stop()
    return 0


def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    """`python -m bench` in the source tree this billgraph runs from."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    if not (root / "bench" / "__main__.py").exists():
        print("error: the benchmarks live in bench/ of a source checkout, which is not here "
              f"(billgraph runs from {root}, an installed wheel?): clone the repository, "
              "`pip install -e '.[test]'` and run `billgraph bench` there", file=sys.stderr)
        return 2
    argv = [sys.executable, "-m", "bench"] + (["--quick"] if args.quick else []) + (
        ["--only", args.only] if args.only else []) + (
        ["--no-record"] if args.no_record else []) + (
        ["--baseline", args.baseline] if args.baseline else []) + (
        ["--workers", str(args.workers)] if args.workers else []) + (
        ["--load", args.load] if args.load else [])
    return subprocess.run(argv, cwd=root).returncode


COMMANDS = {"serve": cmd_serve, "migrate": cmd_migrate, "worker": cmd_worker,
            "tenant": cmd_tenant, "key": cmd_key, "user": cmd_user,
            "import": importer.cmd_import, "backup": cmd_backup, "restore": cmd_restore,
            "bench": cmd_bench}

if __name__ == "__main__":
    sys.exit(main())
