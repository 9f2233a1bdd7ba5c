"""A tenant flooding a server: `python -m tests.api.flood URL KEY RATE SECONDS`.

Sends RATE requests a second (open loop: on schedule, whatever the answers) for
SECONDS over raw keep-alive HTTP/1.1 connections (no client library: the flood
should cost the server, not this machine's CPU), then prints a JSON count of the
answers' status codes. Run in a process of its own, so the flood does not share
the measuring client's event loop.
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import time
from urllib.parse import urlsplit

CONNECTIONS = 8


async def flood(url: str, key: str, rate: float, seconds: float) -> dict[int, int]:
    parts = urlsplit(url)
    body = json.dumps({"query": "{ viewer { name } }"}).encode()
    request = (f"POST /graphql HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {key}"
               f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
               ).encode() + body
    statuses: collections.Counter[int] = collections.Counter()
    queue: asyncio.Queue[None] = asyncio.Queue()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            while True:
                await queue.get()
                writer.write(request)
                status = int((await reader.readline()).split()[1])
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                statuses[status] += 1
                queue.task_done()
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(CONNECTIONS)]
    start = time.monotonic()
    for n in range(int(rate * seconds)):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(None)
    await queue.join()
    for worker in workers:
        worker.cancel()
    return dict(statuses)


if __name__ == "__main__":
    url, key, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    print(json.dumps(asyncio.run(flood(url, key, rate, seconds))))
