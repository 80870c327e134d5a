"""Group commit: many small units of work from many connections, one database commit.

A CSMS acknowledges every station message only after it is stored, so with thousands of
stations the limit is commits per second, not SQL: SQLite serialises writers and each commit
costs a WAL append, PostgreSQL a WAL flush. One writer task takes every job queued while the
previous batch committed, runs them one after another in a single transaction, commits once,
publishes their events in order and only then wakes each caller. Under load a batch grows by
itself; a lone job waits for nothing.

Statements are round trips (for SQLite, hops to its driver thread, each waiting for a turn of
a busy event loop), so a batch should need few of them whatever its size: rows nobody reads
back are appended at commit (:meth:`core.db.Work.append_rows`), and a job names the rows it
will ``session.get`` (``preload``) so the batch loads them in one query per table.

A job that fails would poison its batch's transaction, so the batch is rolled back and its
jobs are run again one transaction each: only the faulty job fails. Jobs must therefore be
pure database work (no sends, no external calls) that is safe to run a second time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from core.db import Database, Work

log = logging.getLogger(__name__)
T = TypeVar("T")
Job = Callable[["Work"], Awaitable[Any]]
Preload = Iterable[tuple[type, Any]]


@dataclass
class _Entry:
    job: Job
    future: asyncio.Future[Any]
    preload: tuple[tuple[type, Any], ...]


class GroupCommit:
    def __init__(self, db: Database, max_batch: int = 500) -> None:
        self._db = db
        self._max_batch = max_batch
        self._pending: list[_Entry] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0
        self.jobs = 0

    async def run(self, job: Callable[[Work], Awaitable[T]], preload: Preload = ()) -> T:
        """Queue ``job``; returns its result once the batch that ran it has committed.

        ``preload`` lists ``(Model, primary key)`` pairs the job will ``session.get``.
        """
        if self._closing:
            raise RuntimeError("the database is closing")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append(_Entry(job, future, tuple(preload)))
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

    async def _commit(self, batch: list[_Entry]) -> None:
        live = [entry for entry in batch if not entry.future.cancelled()]
        if not live:
            return
        try:
            results = await self._together(live)
        except Exception:
            log.debug("a batch of %d failed; running its jobs one by one", len(live),
                      exc_info=True)
            for entry in live:
                await self._alone(entry)
            return
        self.batches += 1
        self.jobs += len(live)
        for entry, result in zip(live, results, strict=True):
            if not entry.future.done():
                entry.future.set_result(result)

    async def _together(self, batch: list[_Entry]) -> list[Any]:
        async with self._db.transaction() as work:
            loaded = await _preload(work.session, batch)  # noqa: F841  # held: the map is weak
            return [await entry.job(work) for entry in batch]

    async def _alone(self, entry: _Entry) -> None:
        try:
            async with self._db.transaction() as work:
                result = await entry.job(work)
        except Exception as exc:  # noqa: BLE001  # handed to the caller, whose error it is
            if not entry.future.done():
                entry.future.set_exception(exc)
            return
        if not entry.future.done():
            entry.future.set_result(result)


async def _preload(session: AsyncSession, batch: list[_Entry]) -> list[Any]:
    """Load every preloaded row of the batch, one query per model, into the identity map."""
    wanted: dict[type, set[Any]] = defaultdict(set)
    for entry in batch:
        for model, key in entry.preload:
            wanted[model].add(key)
    loaded: list[Any] = []
    for model, keys in wanted.items():
        column: Any = inspect(model).primary_key[0]
        rows: Sequence[Any] = (
            await session.execute(select(model).where(column.in_(keys)))).scalars().all()
        loaded.extend(rows)
    return loaded
