"""Task registry: asynchronous station commands persisted with their status and result.

A task is committed as ``pending`` before the command is sent, so an API client always finds the
id it was given. At start-up, tasks a previous process left ``pending``/``running`` are marked
``interrupted`` rather than silently forgotten.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import update

from core.db import Database
from core.db.models import Task
from core.db.types import utcnow
from core.dispatch import CommandError, CommandRejected, CommandTimeout, Dispatcher
from core.events import Event

log = logging.getLogger(__name__)

PENDING, RUNNING, SUCCEEDED, FAILED, TIMEOUT, INTERRUPTED = (
    "pending",
    "running",
    "succeeded",
    "failed",
    "timeout",
    "interrupted",
)


class TaskRegistry:
    def __init__(self, db: Database, dispatcher: Dispatcher) -> None:
        self.db = db
        self.dispatcher = dispatcher
        self._running: dict[str, asyncio.Task[None]] = {}

    async def recover(self) -> int:
        """Mark tasks orphaned by a previous process as interrupted; returns how many."""
        async with self.db.transaction() as work:
            result = await work.session.execute(
                update(Task)
                .where(Task.status.in_((PENDING, RUNNING)))
                .values(status=INTERRUPTED, finished_at=utcnow(), error="server restarted")
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def submit(
        self,
        station_id: str,
        action: str,
        payload: dict[str, Any],
        *,
        user_id: int | None = None,
        timeout: float | None = None,
    ) -> str:
        """Persist a task and start the command in the background; returns the task id."""
        async with self.db.transaction() as work:
            task = Task(
                station_id=station_id,
                action=action,
                payload=payload,
                status=PENDING,
                user_id=user_id,
            )
            work.session.add(task)
            await work.session.flush()
            task_id = task.id
        runner = asyncio.create_task(
            self._run(task_id, station_id, action, payload, timeout), name=f"task-{task_id}"
        )
        self._running[task_id] = runner
        runner.add_done_callback(lambda _t: self._running.pop(task_id, None))
        return task_id

    async def wait(self, task_id: str) -> None:
        """Wait for a task started by this process to finish (no-op if it already has)."""
        runner = self._running.get(task_id)
        if runner is not None:
            await asyncio.shield(runner)

    async def close(self) -> None:
        for runner in list(self._running.values()):
            runner.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def _run(
        self,
        task_id: str,
        station_id: str,
        action: str,
        payload: dict[str, Any],
        timeout: float | None,
    ) -> None:
        await self._set(task_id, status=RUNNING, started_at=utcnow())
        status, result, error = SUCCEEDED, None, None
        try:
            result = await self.dispatcher.call(station_id, action, payload, timeout)
        except CommandTimeout as exc:
            status, error = TIMEOUT, str(exc) or "the station did not answer in time"
        except CommandRejected as exc:
            status, error = FAILED, str(exc)
            result = {"error_code": exc.error_code, "description": exc.description}
        except CommandError as exc:
            status, error = FAILED, str(exc)
        except asyncio.CancelledError:
            await asyncio.shield(
                self._set(task_id, status=INTERRUPTED, finished_at=utcnow(), error="shutdown")
            )
            raise
        await self._set(
            task_id,
            status=status,
            result=result,
            error=error,
            finished_at=utcnow(),
            event=Event(
                "task.finished",
                {"task_id": task_id, "station_id": station_id, "action": action, "status": status},
            ),
        )

    async def _set(self, task_id: str, event: Event | None = None, **values: Any) -> None:
        async with self.db.transaction() as work:
            await work.session.execute(update(Task).where(Task.id == task_id).values(**values))
            if event is not None:
                work.emit(event)
