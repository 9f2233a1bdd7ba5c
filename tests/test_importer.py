"""`billgraph import invoices`: 50,000 rows with a progress bar, interrupted twice
(SIGINT, then SIGKILL) and resumed: exactly 50,000 invoices in the end, and each bad
row reported once in the errors file."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import sys
from pathlib import Path

from tests.api.partner_support import account
from tests.support import Client, LiveServer

COUNT = """query($id: ID!, $status: DocumentStatus) {
  invoices(first: 1, filter: {accountId: $id, status: $status}) { totalCount } }"""
INVOICE = """query($n: String!) { invoice(invoiceNumber: $n) { amount lines { description
  quantity unitPrice servicePeriodStart servicePeriodEnd product { code } } } }"""
HEADER = ["invoice_number", "invoice_date", "due_date", "description", "quantity",
          "unit_price", "service_period_start", "service_period_end", "product_code"]


def write_csv(path: Path, invoices: int) -> dict[int, str]:
    """`invoices` good invoices (one row each, every 500th a two-row invoice with a
    number) and bad rows in between; returns {line: what is wrong} of the bad rows."""
    bad = {
        120: ["", "2025-13-40", "", "bad date", "1", "10.00", "", "", ""],
        7_000: ["", "2025-03-01", "", "no price", "1", "", "", "", ""],
        21_000: ["", "2025-03-01", "", "negative quantity", "-2", "10.00", "", "", ""],
        33_000: ["", "2025-03-01", "", "unknown product", "1", "10.00", "", "", "NOPE"],
        44_000: ["", "2025-03-01", "", "not a number", "1", "ten", "", "", ""],
        49_000: ["MIG-1000", "2025-03-01", "", "number taken earlier", "1", "1.00", "", "", ""],
    }
    problems = {}
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        line = 1
        for i in range(invoices):
            if i in bad:
                out.writerow(bad[i])
                line += 1
                problems[line] = bad[i][3]
            month = i % 12 + 1
            if i % 500 == 0:
                number = f"MIG-{i}"
                out.writerow([number, f"2025-{month:02d}-01", f"2025-{month:02d}-28",
                              "licences", "3", "2.50", f"2025-{month:02d}-01",
                              f"2025-{month:02d}-28", "LIC"])
                out.writerow([number, "", "", "support", "", "5.00", "", "", ""])
                line += 2
            else:
                out.writerow(["", f"2025-{month:02d}-15", "", f"migrated {i}", "1",
                              f"{i % 97}.{i % 100:02d}", "", "", ""])
                line += 1
    return problems


async def run_importer(server: LiveServer, client: Client, csv_path: Path, account_id: str,
                       *extra: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "BILLGRAPH_URL": server.url, "BILLGRAPH_API_KEY": str(client.key),
           "COLUMNS": "100"}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "billgraph.cli", "import", "invoices", str(csv_path),
        "--account", account_id, "--errors", str(csv_path.with_name("errors.csv")), *extra,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


def batches_done(progress: Path) -> int:
    if not progress.exists():
        return 0
    return sum(1 for line in progress.read_text().splitlines()[1:] if '"batch"' in line)


async def interrupt_after(process: asyncio.subprocess.Process, progress: Path, batches: int,
                          sig: int) -> tuple[int, str]:
    for _ in range(1200):
        if batches_done(progress) >= batches or process.returncode is not None:
            break
        await asyncio.sleep(0.05)
    assert process.returncode is None, "the importer finished before it could be interrupted"
    process.send_signal(sig)
    _, stderr = await process.communicate()
    return process.returncode or 0, stderr.decode()


async def test_import_50000_rows_interrupted_and_resumed(
    server: LiveServer, client: Client, tmp_path: Path
) -> None:
    await client.gql('mutation { createProduct(input: {code: "LIC", name: "Licence"}) { id } }')
    distributor = await account(client, "Migrated Distributor", partner=True)
    number = (await client.gql("query($id: ID!) { account(id: $id) { accountNumber } }",
                               {"id": distributor}))["account"]["accountNumber"]
    csv_path = tmp_path / "invoices.csv"
    problems = write_csv(csv_path, 50_000)
    progress = tmp_path / "invoices.csv.progress"

    # 1. Ctrl-C after a few batches
    first = await run_importer(server, client, csv_path, number)
    code, stderr = await interrupt_after(first, progress, 8, signal.SIGINT)
    assert code == 130, stderr
    assert "importing" in stderr and "row" in stderr  # the progress bar
    assert "run the same command again to resume" in stderr
    after_first = batches_done(progress)

    # 2. killed outright, requests in flight
    second = await run_importer(server, client, csv_path, number)
    code, _ = await interrupt_after(second, progress, after_first + 12, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert batches_done(progress) < 50  # really partway

    # 3. resumed to the end
    third = await run_importer(server, client, csv_path, number)
    stdout, stderr_bytes = await asyncio.wait_for(third.communicate(), 300)
    stderr = stderr_bytes.decode()
    assert third.returncode == 1, stderr  # finished, some rows failed
    assert "100%" in stderr
    assert "imported 50000 invoices from 50106 rows" in stdout.decode()

    count = await client.gql(COUNT, {"id": distributor})
    assert count["invoices"]["totalCount"] == 50_000
    two_lines = (await client.gql(INVOICE, {"n": "MIG-500"}))["invoice"]
    assert two_lines["amount"] == "12.50"
    assert [ln["description"] for ln in two_lines["lines"]] == ["licences", "support"]
    assert two_lines["lines"][0]["product"] == {"code": "LIC"}
    assert two_lines["lines"][0]["servicePeriodEnd"] == "2025-09-28"

    with (tmp_path / "errors.csv").open(newline="") as f:
        errors = list(csv.DictReader(f))
    assert {int(e["line"]): e["description"] for e in errors} == problems
    messages = {e["description"]: e["error"] for e in errors}
    assert "invoice_date: '2025-13-40' is not a date" in messages["bad date"]
    assert messages["no price"] == "unit_price: required"
    assert messages["negative quantity"].startswith("BAD_USER_INPUT")
    assert "product 'NOPE' not found" in messages["unknown product"]
    assert "'ten' is not a decimal number" in messages["not a number"]
    assert "'MIG-1000' is already taken" in messages["number taken earlier"]

    # 4. a fourth run has nothing left to do
    fourth = await run_importer(server, client, csv_path, number, "--quiet")
    stdout, _ = await fourth.communicate()
    assert "imported 50000 invoices" in stdout.decode()
    assert (await client.gql(COUNT, {"id": distributor}))["invoices"]["totalCount"] == 50_000
    assert json.loads(progress.read_text().splitlines()[-1]) == {"finished": True}


async def test_import_refuses_a_progress_file_of_another_import(
    server: LiveServer, client: Client, tmp_path: Path
) -> None:
    await client.gql('mutation { createProduct(input: {code: "LIC", name: "Licence"}) { id } }')
    distributor = await account(client, "Distributor", partner=True)
    csv_path = tmp_path / "small.csv"
    write_csv(csv_path, 3)
    process = await run_importer(server, client, csv_path, distributor)
    stdout, _ = await process.communicate()
    assert process.returncode == 0 and "imported 3 invoices from 4 rows" in stdout.decode()
    assert not (tmp_path / "errors.csv").exists()  # nothing failed
    other = await account(client, "Other", partner=True)
    process = await run_importer(server, client, csv_path, other)
    _, stderr = await process.communicate()
    assert process.returncode == 2
    assert "progress of another import" in stderr.decode()
    process = await run_importer(server, client, csv_path, "A99999999")
    _, stderr = await process.communicate()
    assert process.returncode == 2 and "account A99999999 not found" in stderr.decode()
