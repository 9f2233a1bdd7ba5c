"""Test support: a live server and a GraphQL client speaking HTTP like a real one."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import EllipsisType
from typing import Any

import httpx
import uvicorn
from sqlalchemy import text

from billgraph.app import create_app
from billgraph.config import Settings
from billgraph.db.engine import make_engine
from billgraph.services import tenants


async def lock_waiters(conn: Any, like: str) -> list[int]:
    """The pids of the server's backends waiting for a row lock in a statement like `like`.
    On Citus the wait is on a worker: the coordinator's backend is found in citus_lock_waits."""
    citus = (await conn.execute(text(
        "SELECT 1 FROM pg_extension WHERE extname = 'citus'"))).scalar()
    query = ("SELECT citus_pid_for_gpid(waiting_gpid) FROM citus_lock_waits "
             "WHERE blocked_statement ILIKE :like") if citus else (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name = 'billgraph' AND wait_event_type = 'Lock' AND query ILIKE :like")
    return [int(pid) for pid in (await conn.execute(text(query), {"like": f"%{like}%"})).scalars()]


class GraphQLErrors(AssertionError):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors

    @property
    def codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code") for e in self.errors]


def without_reason(error: dict[str, Any]) -> dict[str, Any]:
    """An error's extensions but its `reason` (asserted where the reason is the point)."""
    return {k: v for k, v in error["extensions"].items() if k != "reason"}


@dataclass
class Client:
    http: httpx.AsyncClient
    key: str | None
    tenant_id: str = ""

    async def post(self, query: str, variables: dict[str, Any] | None = None,
                   key: str | EllipsisType | None = ...) -> httpx.Response:
        token = self.key if key is ... else key
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.http.post("/graphql", json={"query": query, "variables": variables or {}},
                                    headers=headers)

    async def gql(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
        """The data of a request that must succeed."""
        response = await self.post(query, variables, **kw)
        body = response.json()
        if body.get("errors"):
            raise GraphQLErrors(body["errors"])
        assert response.status_code == 200, body
        return body["data"]

    async def error(self, query: str, variables: dict[str, Any] | None = None,
                    **kw: Any) -> dict[str, Any]:
        """The first error of a request that must fail."""
        response = await self.post(query, variables, **kw)
        body = response.json()
        assert body.get("errors"), f"expected an error, got {body}"
        return dict(body["errors"][0])


@dataclass
class LiveServer:
    url: str
    database_url: str
    http: httpx.AsyncClient
    clients: list[Client] = field(default_factory=list)
    app: Any = None  # the Starlette app, served in this process and event loop

    async def create_tenant(self, name: str, scope: str = "admin") -> tuple[str, str]:
        """A tenant named `name` (with a suffix when the name is taken: on Citus, every test
        of the run shares one database) and its first key (ADMIN, as `billgraph tenant
        create` makes it, unless `scope` says otherwise)."""
        engine = make_engine(self.database_url, pool_size=1, max_overflow=0)
        try:
            async with engine.begin() as conn:
                if await conn.scalar(text("SELECT 1 FROM tenants WHERE name = :n"), {"n": name}):
                    name = f"{name}-{uuid.uuid4().hex[:8]}"
                tenant_id = await tenants.create_tenant(conn, name)
                key = await tenants.create_key(conn, tenant_id, scope)
        finally:
            await engine.dispose()
        return str(tenant_id), key

    async def create_key(self, tenant_id: str, scope: str) -> str:
        engine = make_engine(self.database_url, pool_size=1, max_overflow=0)
        try:
            async with engine.begin() as conn:
                return await tenants.create_key(conn, tenant_id, scope)  # type: ignore[arg-type]
        finally:
            await engine.dispose()

    @contextlib.asynccontextmanager
    async def new_tenant(self, name: str) -> AsyncIterator[Client]:
        tenant_id, key = await self.create_tenant(name)
        yield Client(self.http, key, tenant_id)

    async def sql(self, query: str, **params: Any) -> list[Any]:
        """Read the database directly (for checks a client cannot make)."""
        engine = make_engine(self.database_url, pool_size=1, max_overflow=0)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(text(query), params)
                return list(result.mappings()) if result.returns_rows else []
        finally:
            await engine.dispose()


@contextlib.asynccontextmanager
async def start_server(database_url: str, **settings: Any) -> AsyncIterator[LiveServer]:
    app = create_app(Settings(database_url=database_url, **settings))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on",
                            ws="websockets-sansio")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        try:
            yield LiveServer(url, database_url, http, app=app)
        finally:
            server.should_exit = True
            await task


class Subscriber:
    """A graphql-transport-ws client: connection_init with the key, then one subscription."""

    def __init__(self, url: str, key: str | None, *, header_key: str | None = None) -> None:
        self.url = url.replace("http://", "ws://") + "/graphql"
        self.key = key
        self.header_key = header_key
        self.ws: Any = None

    async def __aenter__(self) -> Subscriber:
        import websockets
        from websockets.typing import Subprotocol

        headers = {"Authorization": f"Bearer {self.header_key}"} if self.header_key else None
        self.ws = await websockets.connect(
            self.url, subprotocols=[Subprotocol("graphql-transport-ws")],
            additional_headers=headers)
        payload = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        await self.send({"type": "connection_init", "payload": payload})
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.ws.close()

    async def send(self, message: dict[str, Any]) -> None:
        import json

        await self.ws.send(json.dumps(message))

    async def receive(self, timeout: float = 10) -> dict[str, Any]:
        import json

        return dict(json.loads(await asyncio.wait_for(self.ws.recv(), timeout)))

    async def ack(self) -> None:
        message = await self.receive()
        assert message["type"] == "connection_ack", message

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None,
                        op_id: str = "1") -> None:
        await self.send({"id": op_id, "type": "subscribe",
                         "payload": {"query": query, "variables": variables or {}}})

    async def next(self, timeout: float = 10) -> dict[str, Any]:
        """The data of the next `next` message (skipping pings)."""
        while True:
            message = await self.receive(timeout)
            if message["type"] == "ping":
                await self.send({"type": "pong"})
                continue
            assert message["type"] == "next", message
            payload = message["payload"]
            if payload.get("errors"):
                raise GraphQLErrors(payload["errors"])
            return dict(payload["data"])

    async def nothing_for(self, seconds: float) -> None:
        try:
            message = await self.receive(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"expected no message, got {message}")
