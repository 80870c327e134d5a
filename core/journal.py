"""Durable delivery of domain events to the subscribers that must not miss one.

The event bus delivers in memory after the commit, so a crash between a commit and its delivery
loses the delivery. That is fine for a live view, not for a promise made to someone else (a
roaming partner expecting every status change and every CDR). A plugin whose reaction must
survive such a crash declares a :class:`DurableSubscriber` through the
``openv2x_durable_subscribers`` hook:

- every event it names is written to ``event_journal`` in the same transaction as the change
  that emitted it (:meth:`EventJournal.record`, called by :meth:`core.db.Database.transaction`);
- the bus delivers it as usual, and once the subscriber's handler returned the entry is removed
  (in batches, sharing the commit of other writes);
- at start-up, entries a previous process left behind are handed to their subscriber again,
  oldest first (:meth:`EventJournal.replay`), before any station or partner is served.

Delivery is therefore at least once: a handler must tolerate seeing an event twice (a crash
after its effect was committed and before the entry was removed). A handler that fails leaves
its entry for the next start.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, delete, select

from core.db.models import JournalEntry
from core.events import Event
from core.json import dumps

if TYPE_CHECKING:
    from core.db import Database, Work

log = logging.getLogger(__name__)

# Handled entries are removed in one statement per this many, or after SETTLE_DELAY seconds.
SETTLE_BATCH = 500
SETTLE_DELAY = 0.2
REPLAY_PAGE = 500
ENTRIES = cast(Table, JournalEntry.__table__)


def _always() -> bool:
    return True


@dataclass(frozen=True)
class DurableSubscriber:
    """A handler whose events are journaled until it has handled them.

    ``wanted`` is asked at every commit that emits one of ``events``: answering False (nobody
    to tell right now) skips the journal write; the handler is still called.
    """

    name: str
    events: frozenset[str]
    handle: Callable[[Event], Awaitable[None]]
    wanted: Callable[[], bool] = _always


class EventJournal:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._by_event: dict[str, list[DurableSubscriber]] = defaultdict(list)
        self._by_name: dict[str, DurableSubscriber] = {}
        self._handled: list[tuple[str, str]] = []
        self._settler: asyncio.Task[None] | None = None

    def add(self, subscriber: DurableSubscriber) -> None:
        if subscriber.name in self._by_name:
            raise ValueError(f"durable subscriber {subscriber.name!r} is declared twice")
        self._by_name[subscriber.name] = subscriber
        for name in subscriber.events:
            self._by_event[name].append(subscriber)

    def record(self, work: Work) -> None:
        """Queue a journal entry for every event of ``work`` a subscriber wants, committed with
        ``work``. An event whose data cannot be serialised is logged, never fails the commit."""
        rows: list[dict[str, Any]] = []
        for event in work.events:
            wanting = [s for s in self._by_event.get(event.name, ()) if s.wanted()]
            if not wanting:
                continue
            try:
                data = dumps(event.data)
            except (TypeError, ValueError):
                log.exception("event %s cannot be journaled; it is delivered once, in memory",
                              event.name)
                continue
            rows.extend({"subscriber": s.name, "event_id": event.id, "name": event.name,
                         "data": data, "occurred_at": event.occurred_at} for s in wanting)
        if rows:
            work.append_rows(ENTRIES, rows)

    async def deliver(self, event: Event) -> None:
        """Hand a committed event to its durable subscribers (an event bus handler)."""
        for subscriber in self._by_event.get(event.name, ()):
            if await self._handle(subscriber, event):
                self._settle_later(subscriber.name, event.id)

    async def replay(self) -> int:
        """Deliver every entry a previous process left, oldest first; returns how many."""
        replayed = 0
        after = 0
        while True:
            async with self._db.session() as session:
                entries = (await session.execute(
                    select(JournalEntry).where(JournalEntry.seq > after)
                    .order_by(JournalEntry.seq).limit(REPLAY_PAGE))).scalars().all()
            if not entries:
                break
            after = entries[-1].seq
            for entry in entries:
                subscriber = self._by_name.get(entry.subscriber)
                if subscriber is None:
                    continue  # its plugin is disabled now: kept for when it comes back
                if await self._handle(subscriber, _event_of(entry)):
                    self._settle_later(entry.subscriber, entry.event_id)
                replayed += 1
        await self.flush()
        return replayed

    async def flush(self) -> None:
        """Remove the entries of every event handled so far."""
        while self._handled:
            batch = self._handled[:SETTLE_BATCH]
            del self._handled[:SETTLE_BATCH]
            await self._db.write(_remover(batch))

    async def close(self) -> None:
        if self._settler is not None:
            self._settler.cancel()
            self._settler = None
        await self.flush()

    @staticmethod
    async def _handle(subscriber: DurableSubscriber, event: Event) -> bool:
        try:
            await subscriber.handle(event)
        except Exception:
            log.exception("durable subscriber %s failed on %s %s; kept for the next start",
                          subscriber.name, event.name, event.id)
            return False
        return True

    def _settle_later(self, subscriber: str, event_id: str) -> None:
        self._handled.append((subscriber, event_id))
        if self._settler is None or self._settler.done():
            self._settler = asyncio.create_task(self._settle_soon(), name="openv2x-journal")

    async def _settle_soon(self) -> None:
        if len(self._handled) < SETTLE_BATCH:
            await asyncio.sleep(SETTLE_DELAY)
        try:
            await self.flush()
        except Exception:
            # The entries stay; the next start replays them, which handlers tolerate.
            log.exception("handled journal entries could not be removed")


def _remover(batch: Iterable[tuple[str, str]]) -> Callable[[Work], Awaitable[None]]:
    by_subscriber: dict[str, list[str]] = defaultdict(list)
    for subscriber, event_id in batch:
        by_subscriber[subscriber].append(event_id)

    async def job(work: Work) -> None:
        for subscriber, ids in by_subscriber.items():
            await work.session.execute(delete(JournalEntry).where(
                JournalEntry.subscriber == subscriber, JournalEntry.event_id.in_(ids)))

    return job


def _event_of(entry: JournalEntry) -> Event:
    return Event(entry.name, json.loads(entry.data), id=entry.event_id,
                 occurred_at=entry.occurred_at)
