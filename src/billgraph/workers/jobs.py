"""The job runner: claims jobs of the kinds it was given and runs each kind's handler.

The kinds are a mapping `{kind: JobKind(handler, give_up=...)}` built in
`billgraph.bootstrap.job_kinds()`. A handler is `async def handler(state, job)`. It
should finish its job in the same transaction as its work with
`services.jobs.finish(conn, job, "SUCCEEDED", ...)`, which is guarded by the job's
attempt (a lost claim rolls the work back). Whatever the handler leaves RUNNING is
marked SUCCEEDED when it returns; a `BillgraphError` marks the job FAILED with its code
and message, any other error FAILED as INTERNAL.

A job claimed more than `job_max_attempts` times (its worker died each time: killed,
out of memory) is not run again: it is FAILED as INTERNAL, after the `give_up` hook of
its kind (if any) has failed what it was working on (a bill run).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import RowMapping

from billgraph.services import jobs
from billgraph.services.errors import BillgraphError, ErrorCode
from billgraph.state import AppState

from . import Daemon

log = logging.getLogger(__name__)

Handler = Callable[[AppState, RowMapping], Awaitable[None]]
GiveUp = Callable[[AppState, RowMapping, list[dict[str, Any]]], Awaitable[None]]

LEASE_SECONDS = 60.0  # a RUNNING job without a heartbeat for this long is claimed again
HEARTBEAT_SECONDS = 10.0
SLOTS = 4  # jobs one process runs at the same time


@dataclass(frozen=True)
class JobKind:
    """How jobs of one kind run: `handler(state, job)`; `give_up(state, job, errors)` is
    awaited instead once the job has been claimed too often."""

    handler: Handler
    give_up: GiveUp | None = None


JobKinds = Mapping[str, JobKind]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def job_runner(kinds: JobKinds) -> Daemon:
    """The daemon running jobs of `kinds`: SLOTS loops, each claiming and running one job
    at a time."""
    async def job_runner(state: AppState, stopping: asyncio.Event) -> None:
        me = worker_name()
        async with asyncio.TaskGroup() as group:
            for _ in range(SLOTS):
                group.create_task(_slot(state, kinds, stopping, me))

    return job_runner


async def _slot(state: AppState, kinds: JobKinds, stopping: asyncio.Event, me: str) -> None:
    while not stopping.is_set():
        state.events.jobs.clear()  # a job queued from now on wakes the wait below
        async with state.engine.begin() as conn:
            job = await jobs.claim(conn, me, LEASE_SECONDS)
        if job is None:
            await _idle(state, stopping)
            continue
        await run_job(state, job, kinds)


async def _idle(state: AppState, stopping: asyncio.Event) -> None:
    """Until the next tick, a job is queued, or the workers stop."""
    waits = [asyncio.ensure_future(stopping.wait()),
             asyncio.ensure_future(state.events.jobs.wait())]
    try:
        await asyncio.wait(waits, timeout=state.settings.worker_tick_seconds,
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


def coded(error: BillgraphError) -> dict[str, Any]:
    """A JobError of the API: code, message (and the field, when the error names one)."""
    entry: dict[str, Any] = {"code": error.code.value, "message": error.message}
    if error.field:
        entry["field"] = error.field
    return entry


async def run_job(state: AppState, job: RowMapping, kinds: JobKinds) -> None:
    """Run one claimed job to SUCCEEDED or FAILED (unless its claim is lost meanwhile)."""
    kind = kinds.get(job["kind"])
    if job["attempt"] > state.settings.job_max_attempts:
        await _give_up(state, job, kind)
        return
    beat = asyncio.create_task(_heartbeat(state, job))
    errors: list[dict[str, Any]] = []
    try:
        if kind is None:
            raise BillgraphError(f"no handler for jobs of kind {job['kind']!r}")
        await kind.handler(state, job)
    except jobs.LostClaim as lost:
        log.info("%s", lost)
        return
    except BillgraphError as error:
        errors.append(coded(error))
    except Exception:
        log.exception("job %s (%s) failed", job["id"], job["kind"])
        errors.append({"code": ErrorCode.INTERNAL.value,
                       "message": f"internal error; job id {job['id']}"})
    finally:
        beat.cancel()
    async with state.engine.begin() as conn:
        await jobs.finish(conn, job, "FAILED" if errors else "SUCCEEDED", errors=errors,
                          strict=False)


async def _give_up(state: AppState, job: RowMapping, kind: JobKind | None) -> None:
    tries = job["attempt"] - 1
    log.error("job %s (%s) given up: its worker stopped during each of %d attempts",
              job["id"], job["kind"], tries)
    errors = [{"code": ErrorCode.INTERNAL.value,
               "message": f"given up after {tries} attempts, each ended by its worker "
                          f"stopping; job id {job['id']}"}]
    if kind is not None and kind.give_up is not None:
        await kind.give_up(state, job, errors)
    async with state.engine.begin() as conn:
        await jobs.finish(conn, job, "FAILED", errors=errors, strict=False)


async def _heartbeat(state: AppState, job: RowMapping) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        try:
            async with state.engine.begin() as conn:
                if not await jobs.heartbeat(conn, job):
                    return
        except Exception:
            log.warning("heartbeat of job %s failed", job["id"], exc_info=True)
