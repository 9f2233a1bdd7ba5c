"""A webhook receiver on 127.0.0.1 for tests: it checks every delivery's signature.

The check is written here from the Standard Webhooks specification, independently of
billgraph.services.webhooks.signing: the signed content is `{webhook-id}.{webhook-
timestamp}.{body}`, the key is the base64-decoded part of the `whsec_` secret, the
HMAC is SHA-256, and `webhook-signature` is a space-separated list of `v1,<base64>`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from tests.processes import free_port

TOLERANCE = 5 * 60  # seconds: the spec's suggested timestamp tolerance


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """True when one of the v1 signatures is the HMAC of this delivery under `secret`."""
    msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(stamp)) > TOLERANCE:
        return False
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret[len("whsec_"):])
    content = msg_id.encode() + b"." + stamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest())
    for part in headers["webhook-signature"].split(" "):
        version, _, signature = part.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected):
            return True
    return False


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    valid: bool

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    """Answers `status` (200 by default) after `delay` seconds; records what came."""

    secrets: list[str] = field(default_factory=list)  # a delivery must verify under one
    status: int = 200
    delay: float = 0.0
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # of every request
    in_flight: Counter[str] = field(default_factory=Counter)
    overlaps: list[str] = field(default_factory=list)  # webhook-ids received twice at once
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                # the sender died before its request was whole (a kill -9 between the
                # headers and the body): no delivery was made, and none is recorded
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.paths.append(scope["path"])
        msg_id = headers.get("webhook-id", "")
        if self.in_flight[msg_id]:
            self.overlaps.append(msg_id)
        self.in_flight[msg_id] += 1
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            valid = any(verify(s, headers, body) for s in self.secrets)
            self.received.append(Received(headers, body, valid))
            status = self.status
        finally:
            self.in_flight[msg_id] -= 1
        extra = [(b"location", b"/elsewhere")] if 300 <= status < 400 else []
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain"), *extra]})
        await send({"type": "http.response.body", "body": b"ok" * 1000})

    async def start(self) -> Receiver:
        config = uvicorn.Config(self, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="on")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None

    async def __aenter__(self) -> Receiver:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    def ids(self) -> set[str]:
        return {r.headers["webhook-id"] for r in self.received}

    def events(self) -> list[dict[str, Any]]:
        """Each event once (the first delivery of every webhook-id), in arrival order."""
        seen: dict[str, dict[str, Any]] = {}
        for r in self.received:
            seen.setdefault(r.headers["webhook-id"], r.event)
        return list(seen.values())

    async def wait_for(self, count: int, timeout: float = 30) -> None:
        """Until `count` distinct webhook-ids have arrived."""
        deadline = time.monotonic() + timeout
        while len(self.ids()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.ids())} of {count} events arrived: "
                                     f"{[e['type'] for e in self.events()]}")
            await asyncio.sleep(0.05)
