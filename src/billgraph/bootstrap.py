"""`billgraph worker`: the background daemons without the HTTP server."""

from __future__ import annotations

import asyncio
import signal

from billgraph.config import Settings
from billgraph.db.engine import asyncpg_dsn, make_engine
from billgraph.events import EventHub
from billgraph.state import AppState
from billgraph.workers import Workers


async def run_workers(settings: Settings) -> None:
    assert settings.database_url
    engine = make_engine(settings.database_url, pool_size=5, max_overflow=5)
    state = AppState(settings=settings, engine=engine,
                     events=EventHub(asyncpg_dsn(settings.database_url)))
    workers = Workers(state)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await state.events.start()
    await workers.start()
    try:
        await stop.wait()
    finally:
        await workers.stop()
        await state.events.stop()
        await engine.dispose()
