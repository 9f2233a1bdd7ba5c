"""A small Chrome DevTools Protocol driver for Debian's headless chromium.

Speaks CDP over the `websockets` package the tests already use: no browser
download, no Node.js test runner. Enough to load a page, click, type like a
keyboard (Input.insertText), read the DOM and watch network requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import websockets

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,1000"]


class CDPError(RuntimeError):
    pass


class Page:
    def __init__(self, ws: Any, session: str) -> None:
        self.ws = ws
        self.session = session
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.requests: list[str] = []
        self.console: list[str] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if "id" in message and message["id"] in self.pending:
                future = self.pending.pop(message["id"])
                if "error" in message:
                    future.set_exception(CDPError(message["error"]))
                else:
                    future.set_result(message.get("result", {}))
            elif message.get("method") == "Network.requestWillBeSent":
                self.requests.append(message["params"]["request"]["url"])
            elif message.get("method") == "Runtime.consoleAPICalled":
                args = message["params"]["args"]
                self.console.append(" ".join(str(a.get("value", a.get("description")))
                                             for a in args))
            elif message.get("method") == "Runtime.exceptionThrown":
                details = message["params"]["exceptionDetails"]
                self.console.append(f"exception: {details.get('exception', details)}")

    async def send(self, method: str, params: dict[str, Any] | None = None,
                   session: bool = True) -> Any:
        message_id = next(self.ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[message_id] = future
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        await self.ws.send(json.dumps(message))
        return await asyncio.wait_for(future, 30)

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", {"url": url})

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", {
            "expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise CDPError(result["exceptionDetails"])
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 30) -> Any:
        """Poll a JavaScript expression until it is truthy; return its value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            with contextlib.suppress(CDPError):
                value = await self.evaluate(expression)
                if value:
                    return value
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"waited {timeout}s for {expression}; console: "
                                   f"{self.console[-10:]}")
            await asyncio.sleep(0.1)

    async def click(self, selector: str) -> None:
        """A real mouse click in the middle of the first element matching `selector`."""
        box = await self.wait_for(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect();"
            " return r.width ? [r.x + r.width / 2, r.y + Math.min(r.height / 2, 10)] : null; })()")
        x, y = box
        for kind in ("mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", {
                "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    async def select_all(self) -> None:
        for kind in ("keyDown", "keyUp"):
            await self.send("Input.dispatchKeyEvent", {
                "type": kind, "modifiers": 2, "key": "a", "code": "KeyA",
                "windowsVirtualKeyCode": 65, "commands": ["selectAll"]})

    async def type(self, text: str) -> None:
        await self.send("Input.insertText", {"text": text})

    async def screenshot(self, path: Path) -> None:
        import base64

        data = await self.send("Page.captureScreenshot", {"format": "png"})
        path.write_bytes(base64.b64decode(data["data"]))  # noqa: ASYNC240 (a small file)


@contextlib.asynccontextmanager
async def chromium(executable: str = "/usr/bin/chromium") -> AsyncIterator[Page]:
    """A headless chromium with a fresh profile, and one page in it (blocking calls here
    are quick: a process start and a small file)."""
    profile = Path(tempfile.mkdtemp(prefix="billgraph-chromium-"))
    process = subprocess.Popen(  # noqa: ASYNC220
        [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
         "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and len(port_file.read_text().splitlines()) >= 2:
                break
            if process.poll() is not None:
                raise RuntimeError(f"chromium exited with {process.returncode}")
            await asyncio.sleep(0.1)
        port, path = port_file.read_text().splitlines()[:2]
        async with websockets.connect(f"ws://127.0.0.1:{port}{path}", max_size=None) as ws:
            page = Page(ws, "")
            target = await page.send("Target.createTarget", {"url": "about:blank"},
                                     session=False)
            attached = await page.send("Target.attachToTarget", {
                "targetId": target["targetId"], "flatten": True}, session=False)
            page.session = attached["sessionId"]
            for domain in ("Page", "Runtime", "Network"):
                await page.send(f"{domain}.enable")
            try:
                yield page
            finally:
                page.reader.cancel()
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(profile, ignore_errors=True)
