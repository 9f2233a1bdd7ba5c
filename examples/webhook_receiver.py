"""A webhook receiver: registers itself with billgraph and prints each verified event.

    python examples/webhook_receiver.py [--port 8765] [--events DEBIT_MEMO_POSTED,...]
                                        [--count N]

It listens on 127.0.0.1 (http:// is accepted for loopback hosts), creates a webhook
endpoint for its own address with the API key, and answers every POST: 204 when the
Standard Webhooks signature verifies, 400 otherwise (billgraph retries then). Each
webhook-id is printed once, however often it arrives (deliveries are at least once).
With --count it deletes its endpoint and exits after N distinct events. The check
needs only the standard library: copy `verified()` into your own receiver.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import _common as bg

TOLERANCE = 300  # seconds: older (or future) timestamps are refused, against replays


def verified(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(stamp)) > TOLERANCE:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    return any(hmac.compare_digest(expected, s) for s in headers["webhook-signature"].split())


class Receiver(ThreadingHTTPServer):
    def __init__(self, port: int, count: int | None) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.secret = ""
        self.seen: set[str] = set()
        self.count = count
        self.done = threading.Event()
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            ok = verified(self.server.secret, headers, body)
        except (KeyError, ValueError):
            ok = False
        self.send_response(204 if ok else 400)
        self.end_headers()
        if not ok:
            print("refused a delivery: bad signature", flush=True)
            return
        event = json.loads(body)
        with self.server.lock:
            if event["id"] in self.server.seen:
                return  # a retry of an event already handled
            self.server.seen.add(event["id"])
            print(f"{event['type']} {event['id']} verified: {json.dumps(event['data'])}",
                  flush=True)
            if self.server.count is not None and len(self.server.seen) >= self.server.count:
                self.server.done.set()

    def log_message(self, format: str, *args: object) -> None:
        pass


CREATE = """mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { secret endpoint { id url eventTypes } } }"""
DELETE = "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }"


async def main(args: argparse.Namespace) -> int:
    receiver = Receiver(args.port, args.count)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/billgraph"
    async with bg.connect(args) as api:
        created = (await api(CREATE, input={"url": url, "eventTypes": args.events.split(",")}))
        endpoint = created["createWebhookEndpoint"]["endpoint"]
        receiver.secret = created["createWebhookEndpoint"]["secret"]
        print(f"listening on {url} for {', '.join(endpoint['eventTypes'])}", flush=True)
        try:
            await asyncio.to_thread(receiver.done.wait)
        finally:
            await api(DELETE, id=endpoint["id"])
            receiver.shutdown()
    return 0


if __name__ == "__main__":
    p = bg.parser(__doc__)
    p.add_argument("--port", type=int, default=8765, help="where to listen (0: any free port)")
    p.add_argument("--events", default="ORDER_CREATED,INVOICE_POSTED,PAYMENT_CREATED,"
                                        "PAYMENT_APPLIED,ACCOUNT_METRICS_UPDATED",
                   help="comma-separated event types to receive")
    p.add_argument("--count", type=int, default=None, help="exit after this many events")
    bg.run(main, p.parse_args())
