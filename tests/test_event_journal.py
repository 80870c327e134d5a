"""The event journal: events a durable subscriber names are committed with the change that
emitted them, removed once handled, and handed over again by the next process when the one that
committed them died before delivering them."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from core import appkeys
from core.db.models import JournalEntry
from core.events import Event
from core.journal import DurableSubscriber
from core.plugins import hookimpl

NAME = "thing.happened"


class Recorder:
    """A plugin with one durable subscriber, as a third-party plugin would declare it."""

    def __init__(self, *, fail: bool = False, wanted: bool = True) -> None:
        self.seen: list[Event] = []
        self.fail = fail
        self.wanted = wanted

    @hookimpl
    def openv2x_durable_subscribers(self, app: Any) -> list[DurableSubscriber]:
        return [DurableSubscriber("recorder", frozenset({NAME}), self.handle,
                                  wanted=lambda: self.wanted)]

    async def handle(self, event: Event) -> None:
        if self.fail:
            raise RuntimeError("the partner system is unreachable")
        self.seen.append(event)


async def start(openv2x_server: Any, recorder: Recorder) -> Any:
    return await openv2x_server(plugins=[], extra_plugins=[("recorder", recorder)])


async def emit(server: Any, *events: Event) -> None:
    async with server.app[appkeys.DB].transaction() as work:
        for event in events:
            work.emit(event)


async def entries(server: Any) -> list[JournalEntry]:
    async with server.app[appkeys.DB].session() as session:
        return list((await session.execute(
            select(JournalEntry).order_by(JournalEntry.seq))).scalars())


async def settled(server: Any) -> None:
    await server.app[appkeys.EVENTS].drain()
    await server.app[appkeys.JOURNAL].flush()


async def test_a_handled_event_leaves_nothing_in_the_journal(openv2x_server: Any) -> None:
    recorder = Recorder()
    server = await start(openv2x_server, recorder)
    await emit(server, Event(NAME, {"n": 1}), Event("other.thing", {"n": 2}))
    await settled(server)
    assert [e.data for e in recorder.seen] == [{"n": 1}]
    assert await entries(server) == []


async def test_events_committed_just_before_a_crash_are_delivered_by_the_next_start(
        openv2x_server: Any) -> None:
    first = await start(openv2x_server, Recorder())
    # The process dies right after the commit: nothing is delivered in memory.
    first.app[appkeys.DB].on_commit = None
    sent = [Event(NAME, {"n": n, "at": "2026-11-25T12:00:00Z"}) for n in range(3)]
    await emit(first, *sent[:2])
    await emit(first, sent[2])
    assert [e.event_id for e in await entries(first)] == [e.id for e in sent]
    await first.server.close()

    recorder = Recorder()
    second = await start(openv2x_server, recorder)
    assert [(e.id, e.name, e.data) for e in recorder.seen] == [
        (e.id, e.name, e.data) for e in sent]
    assert recorder.seen[0].occurred_at == sent[0].occurred_at
    assert await entries(second) == []


async def test_a_failed_handler_keeps_its_event_for_the_next_start(openv2x_server: Any) -> None:
    first = await start(openv2x_server, Recorder(fail=True))
    event = Event(NAME, {"n": 1})
    await emit(first, event)
    await settled(first)
    assert [e.event_id for e in await entries(first)] == [event.id]
    await first.server.close()

    recorder = Recorder()
    second = await start(openv2x_server, recorder)
    assert [e.id for e in recorder.seen] == [event.id]
    assert await entries(second) == []


async def test_nothing_is_journaled_while_the_subscriber_has_nobody_to_tell(
        openv2x_server: Any) -> None:
    recorder = Recorder(wanted=False)
    server = await start(openv2x_server, recorder)
    server.app[appkeys.DB].on_commit = None
    await emit(server, Event(NAME, {"n": 1}))
    assert await entries(server) == []


async def test_an_unserialisable_event_does_not_fail_its_commit(openv2x_server: Any) -> None:
    recorder = Recorder()
    server = await start(openv2x_server, recorder)
    await emit(server, Event(NAME, {"bad": object()}), Event(NAME, {"n": 2}))
    await server.app[appkeys.EVENTS].drain()
    # Both are delivered in memory; only the serialisable one was journaled.
    assert len(recorder.seen) == 2
    await settled(server)
    assert await entries(server) == []


async def test_entries_of_a_disabled_subscriber_wait_for_it(openv2x_server: Any) -> None:
    first = await start(openv2x_server, Recorder())
    first.app[appkeys.DB].on_commit = None
    await emit(first, Event(NAME, {"n": 1}))
    await first.server.close()
    second = await openv2x_server(plugins=[])
    async with second.app[appkeys.DB].session() as session:
        assert await session.scalar(select(func.count()).select_from(JournalEntry)) == 1
    await second.server.close()
    recorder = Recorder()
    await start(openv2x_server, recorder)
    assert [e.data for e in recorder.seen] == [{"n": 1}]


async def test_many_handled_events_are_removed_in_batches(openv2x_server: Any) -> None:
    recorder = Recorder()
    server = await start(openv2x_server, recorder)
    await asyncio.gather(*(emit(server, Event(NAME, {"n": n})) for n in range(1200)))
    await settled(server)
    assert len(recorder.seen) == 1200
    assert await entries(server) == []
