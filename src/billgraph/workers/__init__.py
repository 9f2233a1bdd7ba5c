"""Background work run inside `billgraph serve` or alone as `billgraph worker`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from billgraph.state import AppState

log = logging.getLogger(__name__)

Daemon = Callable[[AppState, asyncio.Event], Awaitable[None]]
DAEMONS: list[Daemon] = []  # the job runner and the metrics refresher register here


class Workers:
    """Small start/stop tasks entered from the app's lifespan."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.stopping = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        from . import (  # noqa: F401  (each registers its daemon or job handler)
            bill_runs,
            jobs,
            orders,
            refresher,
        )

        for daemon in DAEMONS:
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
