"""Domain events and the event bus.

Events are published after the commit that produced them (see :meth:`core.db.Database.transaction`)
and delivered in publication order to local subscribers and to every plugin's ``openv2x_event``
hook. :class:`EventBus` is the interface; :class:`LocalEventBus` delivers in-process, and a broker
backed bus (Redis/NATS, for scale-out) implements the same three methods.

Event names used by the core: ``station.registered``, ``user.created``, ``task.finished``,
``station.protocol_deviation`` (a lenient station's message was repaired, see
:mod:`core.ocpp.leniency`); the OCPP plugins add ``station.connected``,
``station.disconnected``, ``transaction.started``, ``meter.sampled``, ``transaction.ended`` and
more.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

Handler = Callable[["Event"], Awaitable[None]]


@dataclass(frozen=True)
class Event:
    """Something that happened, with JSON-serialisable ``data``."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    occurred_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


class EventBus(Protocol):
    def subscribe(self, handler: Handler) -> Callable[[], None]:
        """Register a handler for every event; returns a function that unsubscribes it."""

    async def publish(self, events: Sequence[Event]) -> None:
        """Hand committed events over for delivery; returns without waiting for handlers."""

    async def drain(self) -> None:
        """Wait until every event published so far has been delivered."""

    async def close(self) -> None:
        """Deliver what is queued, then stop."""


class LocalEventBus:
    """In-process delivery by one worker task, so handlers see events in publication order."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        self._handlers.append(handler)
        return lambda: self._handlers.remove(handler)

    async def publish(self, events: Sequence[Event]) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="openv2x-event-bus")
        for item in events:
            self._queue.put_nowait(item)

    async def drain(self) -> None:
        await self._queue.join()

    async def close(self) -> None:
        if self._worker is None:
            return
        self._queue.put_nowait(None)
        await self._worker
        self._worker = None

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if item is None:
                    return
                for handler in list(self._handlers):
                    await self._deliver(handler, item)
            finally:
                self._queue.task_done()

    @staticmethod
    async def _deliver(handler: Handler, item: Event) -> None:
        try:
            await handler(item)
        except Exception:
            log.exception("event handler %r failed on %s", handler, item.name)
