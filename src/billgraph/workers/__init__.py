"""Background work run inside `billgraph serve` or alone as `billgraph worker`.

Nothing registers itself: `billgraph.bootstrap` lists the daemons and job kinds and
hands them to `Workers`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from billgraph.state import AppState

log = logging.getLogger(__name__)

Daemon = Callable[[AppState, asyncio.Event], Awaitable[None]]
"""A long-running task: `await daemon(state, stopping)` until `stopping` is set."""


class Workers:
    """Small start/stop tasks entered from the app's lifespan."""

    def __init__(self, state: AppState, daemons: Sequence[Daemon]) -> None:
        self.state = state
        self.daemons = list(daemons)
        self.stopping = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for daemon in self.daemons:
            self.tasks.append(asyncio.create_task(self._run(daemon)))

    async def _run(self, daemon: Daemon) -> None:
        while not self.stopping.is_set():
            try:
                await daemon(self.state, self.stopping)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s crashed; restarting in 1 s", getattr(daemon, "__name__", daemon))
                await asyncio.sleep(1)

    async def stop(self) -> None:
        self.stopping.set()
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks.clear()
