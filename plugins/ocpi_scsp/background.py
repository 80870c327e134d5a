"""Recomputes started by OCPI requests run after the answer, so a partner never waits on a
solver; the tasks are kept (a task nobody references may be collected) and cancelled at
shutdown. :func:`idle` lets tests and the REST API wait until every queued recompute ran."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

class Tasks(set[asyncio.Task[Any]]):
    """The recomputes in flight (a named type, so the app key is precise)."""


TASKS: web.AppKey[Tasks] = web.AppKey("ocpi_scsp_tasks", Tasks)


def spawn(app: web.Application, job: Coroutine[Any, Any, Any], name: str) -> None:
    tasks = app[TASKS]
    task = asyncio.create_task(job, name=name)
    tasks.add(task)

    def done(finished: asyncio.Task[Any]) -> None:
        tasks.discard(finished)
        if not finished.cancelled() and finished.exception() is not None:
            log.error("%s failed", name, exc_info=finished.exception())

    task.add_done_callback(done)


async def idle(app: web.Application) -> None:
    """Wait until no recompute is pending (those started meanwhile included)."""
    pending: Tasks = app[TASKS]
    while pending:
        await asyncio.gather(*list(pending), return_exceptions=True)


async def cancel_all(app: web.Application) -> None:
    running: Tasks = app[TASKS]
    tasks = list(running)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
