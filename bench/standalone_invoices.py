"""The migration hot path: 200,000 standalone invoices into ONE partner account.

    .venv/bin/python bench/standalone_invoices.py [--invoices 200000] [--clients 4]
        [--batch 1000] [--lines 2]

Starts an embedded PostgreSQL (or uses DATABASE_URL's server), a migrated
database and a server process (as `billgraph serve` runs it: one process,
workers off), then sends batches of createStandaloneInvoices from concurrent
clients over HTTP, like a migration script on another machine would. Prints
the total time, invoices per second, batch latencies and the CPU time of the
server and of PostgreSQL; the target (SPEC §1, §6) is 200,000 invoices from 4
clients in at most 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench._database import fresh_database, new_tenant

SERVER = """
import sys, uvicorn
from billgraph.app import create_app
from billgraph.config import Settings
app = create_app(Settings(database_url=sys.argv[1], run_workers=False))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""

MUTATION = """mutation($inputs: [StandaloneInvoiceInput!]!, $key: String) {
  createStandaloneInvoices(inputs: $inputs, idempotencyKey: $key) {
    invoice { id invoiceNumber } errors { code message } } }"""


async def run(args: argparse.Namespace, url: str) -> None:
    _, key = await new_tenant(url, "bench")
    port = 8765
    server = await asyncio.create_subprocess_exec(sys.executable, "-c", SERVER, url, str(port))
    try:
        await serve_and_send(args, f"http://127.0.0.1:{port}", key, server.pid)
    finally:
        server.terminate()
        await server.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "postgres":
                total += cpu_seconds(int(entry.name))
        except OSError:
            continue
    return total


async def gql(http: httpx.AsyncClient, query: str, variables: dict[str, object]) -> dict[str, Any]:
    body = (await http.post("/graphql", json={"query": query, "variables": variables})).json()
    assert not body.get("errors"), body["errors"][:3]
    return dict(body["data"])


async def serve_and_send(args: argparse.Namespace, url: str, key: str, pid: int) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as http:
        for _ in range(200):
            try:
                await http.get("/healthz")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.1)
        account = (await gql(http, 'mutation { createAccount(input: {name: "Reseller", '
                                   "partnerAccount: true}) { id } }", {}))["createAccount"]["id"]
        batches = args.invoices // args.batch
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(batches):
            queue.put_nowait(n)
        durations: list[float] = []

        def inputs(n: int) -> list[dict[str, object]]:
            return [{"accountId": account, "invoiceDate": f"2025-{1 + i % 12:02d}-15",
                     "invoiceNumber": f"LEGACY-{n}-{i}",
                     "lines": [{"description": f"line {k}", "quantity": "2",
                                "unitPrice": "10.125"} for k in range(args.lines)]}
                    for i in range(args.batch)]

        async def client() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                started = time.perf_counter()
                data = await gql(http, MUTATION, {"inputs": inputs(n), "key": f"batch-{n}"})
                durations.append(time.perf_counter() - started)
                failed = [r for r in data["createStandaloneInvoices"] if r["errors"]]
                assert not failed, failed[:3]

        started = time.perf_counter()
        cpu = (cpu_seconds(pid), postgres_cpu_seconds(), resource.getrusage(resource.RUSAGE_SELF))
        await asyncio.gather(*(client() for _ in range(args.clients)))
        total = time.perf_counter() - started
        server_cpu = cpu_seconds(pid) - cpu[0]
        postgres_cpu = postgres_cpu_seconds() - cpu[1]
        usage = resource.getrusage(resource.RUSAGE_SELF)
        client_cpu = usage.ru_utime + usage.ru_stime - cpu[2].ru_utime - cpu[2].ru_stime
        refreshed = await gql(http, 'mutation($id: ID!) { refreshMetrics(accountId: $id) '
                                    "{ totalInvoiceBalance } }", {"id": account})
    print(f"{batches * args.batch} invoices ({args.lines} lines each) in {total:.1f} s "
          f"from {args.clients} clients: {batches * args.batch / total:.0f} invoices/s; "
          f"batch p50 {sorted(durations)[len(durations) // 2]:.2f} s, "
          f"max {max(durations):.2f} s; target 60 s ({60 / total:.2f}x headroom)")
    print(f"CPU: server {server_cpu:.1f} s ({server_cpu / batches * 1000:.0f} ms a batch), "
          f"postgres {postgres_cpu:.1f} s, clients {client_cpu:.1f} s; {os.cpu_count()} CPUs")
    print("totalInvoiceBalance after refresh:", refreshed["refreshMetrics"]["totalInvoiceBalance"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=2)
    args = parser.parse_args()
    with fresh_database("bench") as url:
        asyncio.run(run(args, url))


if __name__ == "__main__":
    main()
