"""Group commit: many small units of work from many connections, one database commit.

A CSMS acknowledges every station message only after it is stored, so with thousands of
stations the limit is commits per second, not SQL: SQLite serialises writers and each commit
costs a WAL append, PostgreSQL a WAL flush. One writer task takes every job queued while the
previous batch committed, runs them one after another in a single transaction, commits once,
publishes their events in order and only then wakes each caller. Under load a batch grows by
itself; a lone job waits for nothing.

A job that fails would poison its batch's transaction, so the batch is rolled back and its
jobs are run again one transaction each: only the faulty job fails. Jobs must therefore be
pure database work (no sends, no external calls) that is safe to run a second time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from core.db import Database, Work

log = logging.getLogger(__name__)
T = TypeVar("T")
Job = Callable[["Work"], Awaitable[Any]]


class GroupCommit:
    def __init__(self, db: Database, max_batch: int = 500) -> None:
        self._db = db
        self._max_batch = max_batch
        self._pending: list[tuple[Job, asyncio.Future[Any]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0
        self.jobs = 0

    async def run(self, job: Callable[[Work], Awaitable[T]]) -> T:
        """Queue ``job``; returns its result once the batch that ran it has committed."""
        if self._closing:
            raise RuntimeError("the database is closing")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((job, future))
        if self._task is None:
            self._task = asyncio.create_task(self._write_loop(), name="openv2x-group-commit")
        self._wakeup.set()
        return await future

    async def close(self) -> None:
        """Finish every queued job, then stop the writer."""
        self._closing = True
        if self._task is not None:
            self._wakeup.set()
            await self._task
            self._task = None

    async def _write_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                await self._commit(batch)
            if self._closing:
                return

    async def _commit(self, batch: list[tuple[Job, asyncio.Future[Any]]]) -> None:
        live = [(job, future) for job, future in batch if not future.cancelled()]
        if not live:
            return
        try:
            results = await self._together(live)
        except Exception:
            log.debug("a batch of %d failed; running its jobs one by one", len(live),
                      exc_info=True)
            for job, future in live:
                await self._alone(job, future)
            return
        self.batches += 1
        self.jobs += len(live)
        for (_, future), result in zip(live, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _together(self, batch: list[tuple[Job, asyncio.Future[Any]]]) -> list[Any]:
        async with self._db.transaction() as work:
            return [await job(work) for job, _ in batch]

    async def _alone(self, job: Job, future: asyncio.Future[Any]) -> None:
        try:
            async with self._db.transaction() as work:
                result = await job(work)
        except Exception as exc:  # noqa: BLE001  # handed to the caller, whose error it is
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(result)
