"""The command line: serve on an embedded PostgreSQL, tenant and key creation."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support import LiveServer

BILLGRAPH = [sys.executable, "-m", "billgraph.cli"]


def run_cli(*args: str, database_url: str | None = None, data_dir: Path | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if database_url:
        env["DATABASE_URL"] = database_url
    if data_dir:
        env["BILLGRAPH_DATA_DIR"] = str(data_dir)
    return subprocess.run([*BILLGRAPH, *args], env=env, capture_output=True, text=True,
                          timeout=120, check=check, stdin=subprocess.DEVNULL)


async def viewer(server: LiveServer, key: str) -> httpx.Response:
    return await server.http.post("/graphql", json={"query": "{ viewer { name } }"},
                                  headers={"Authorization": f"Bearer {key}"})


async def test_tenant_create_prints_only_the_key(server: LiveServer) -> None:
    name = f"acme-{uuid.uuid4().hex[:8]}"  # on Citus the database is shared across tests
    result = run_cli("tenant", "create", name, database_url=server.database_url)
    key = result.stdout.strip()
    assert key.startswith("bgk_") and "\n" not in key
    assert (await viewer(server, key)).json()["data"]["viewer"]["name"] == name
    stored = await server.sql("SELECT key_hash FROM api_keys")
    assert all(key not in row["key_hash"] for row in stored)


async def test_key_create_with_scope(server: LiveServer) -> None:
    name = f"acme-{uuid.uuid4().hex[:8]}"
    run_cli("tenant", "create", name, database_url=server.database_url)
    read_key = run_cli("key", "create", "--tenant", name, "--scope", "read",
                       database_url=server.database_url).stdout.strip()
    response = await server.http.post(
        "/graphql", json={"query": 'mutation { createAccount(input: {name: "x"}) { id } }'},
        headers={"Authorization": f"Bearer {read_key}"})
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await viewer(server, read_key)).json()["data"]["viewer"]["name"] == name


async def test_cli_errors_are_plain(server: LiveServer) -> None:
    result = run_cli("key", "create", "--tenant", "nope", "--scope", "read",
                     database_url=server.database_url, check=False)
    assert result.returncode == 2
    assert "tenant 'nope' not found" in result.stderr
    duplicate = run_cli("tenant", "create", "twice", database_url=server.database_url)
    assert duplicate.returncode == 0
    again = run_cli("tenant", "create", "twice", database_url=server.database_url, check=False)
    assert again.returncode == 2 and "already exists" in again.stderr


async def test_key_list_and_revoke(server: LiveServer) -> None:
    admin = run_cli("tenant", "create", "keyed", database_url=server.database_url).stdout.strip()
    read = run_cli("key", "create", "--tenant", "keyed", "--scope", "read",
                   database_url=server.database_url).stdout.strip()
    listed = run_cli("key", "list", "--tenant", "keyed", database_url=server.database_url)
    lines = [line.split("\t") for line in listed.stdout.strip().splitlines()]
    # id, prefix, scope, state, created, expires, last used, description; no secret
    assert [(f[1], f[2], f[3]) for f in lines] == [(admin[:12], "admin", "active"),
                                                  (read[:12], "read", "active")]
    assert admin not in listed.stdout and read not in listed.stdout
    assert (await viewer(server, read)).status_code == 200
    revoked = run_cli("key", "revoke", "--tenant", "keyed", read[:12],
                      database_url=server.database_url)
    assert revoked.stdout.split("\t")[3] == "revoked"
    for _ in range(60):  # the server's key cache lets go within 2 s
        if (await viewer(server, read)).status_code == 401:
            break
        await asyncio.sleep(0.1)
    assert (await viewer(server, read)).status_code == 401
    assert (await viewer(server, admin)).status_code == 200
    unknown = run_cli("key", "revoke", "--tenant", "keyed", "bgk_nothing",
                      database_url=server.database_url, check=False)
    assert unknown.returncode == 2 and "not found" in unknown.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_serve_on_embedded_postgres_end_to_end(tmp_path: Path) -> None:
    """A fresh data dir: serve prints a key, GraphiQL and queries work, the CLI works
    on the same data dir while the server runs, Ctrl-C stops PostgreSQL too."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["BILLGRAPH_DATA_DIR"] = str(tmp_path / "data")
    proc = subprocess.Popen([*BILLGRAPH, "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)
    output = ""
    try:
        key = None
        deadline = time.monotonic() + 90
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            output += line
            if "Bearer bgk_" in line and key is None:
                key = line.split("Bearer ")[1].split('"')[0]
            if "Uvicorn running" in line or "Application startup complete" in line:
                break
        assert key, output
        base = f"http://127.0.0.1:{port}"
        page = httpx.get(f"{base}/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text.lower()
        answer = httpx.post(f"{base}/graphql", json={"query": "{ viewer { name } }"},
                            headers={"Authorization": f"Bearer {key}"})
        assert answer.json() == {"data": {"viewer": {"name": "default"}}}
        second = run_cli("tenant", "create", "second", data_dir=tmp_path / "data")
        assert second.stdout.strip().startswith("bgk_")
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
        output += rest
        assert proc.returncode == 0, output
        assert "stopped embedded PostgreSQL" in output
        assert not (tmp_path / "data" / "pgdata" / "postmaster.pid").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
