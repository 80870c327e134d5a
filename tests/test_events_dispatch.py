"""Event bus, command dispatcher and task registry."""

import asyncio

import pytest
from sqlalchemy import select

from core import appkeys
from core.db import Database, migrate
from core.db.models import Task
from core.dispatch import (
    CommandRejected,
    CommandTimeout,
    Dispatcher,
    StationNotConnected,
)
from core.events import Event, LocalEventBus
from core.plugins import hookimpl
from core.tasks import TaskRegistry


async def test_bus_delivers_in_order_despite_a_failing_handler(caplog):
    bus = LocalEventBus()
    got = []

    async def broken(event):
        raise ValueError("handler bug")

    async def recorder(event):
        got.append(event.name)

    bus.subscribe(broken)
    unsubscribe = bus.subscribe(recorder)
    await bus.publish([Event(f"e{i}") for i in range(5)])
    await bus.drain()
    assert got == [f"e{i}" for i in range(5)]
    assert "handler bug" in caplog.text
    unsubscribe()
    await bus.publish([Event("after")])
    await bus.close()
    assert got == [f"e{i}" for i in range(5)]


async def test_close_delivers_what_is_queued():
    bus = LocalEventBus()
    got = []

    async def slow(event):
        await asyncio.sleep(0)
        got.append(event.name)

    bus.subscribe(slow)
    await bus.publish([Event("a"), Event("b")])
    await bus.close()
    assert got == ["a", "b"]


class Recorder:
    """A plugin that records the events its hook receives."""

    def __init__(self):
        self.names = []

    @hookimpl
    async def openv2x_event(self, event, app):
        self.names.append(event.name)


async def test_plugins_receive_committed_events(openv2x_server, openv2x_db_url):
    plugin = Recorder()
    server = await openv2x_server(extra_plugins=[("recorder", plugin)])
    headers = await server.auth_headers("platform_manager")
    async with server.http.post(server.url("/api/location/"), json={"name": "A"},
                                headers=headers) as resp:
        assert resp.status == 201
    async with server.http.post(server.url("/api/location/"), json={"name": 5},
                                headers=headers) as resp:
        assert resp.status == 400
    await server.app[appkeys.EVENTS].drain()
    assert plugin.names == ["location.created"]


class FakeLink:
    """Stands in for a station's protocol connection (the OCPP plugins provide real ones)."""

    protocol = "test"

    def __init__(self, outcome):
        self.outcome = outcome
        self.calls = []

    async def call(self, action, payload, timeout):
        self.calls.append((action, payload, timeout))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


async def test_dispatcher_routes_to_the_newest_link():
    dispatcher = Dispatcher(default_timeout=7)
    with pytest.raises(StationNotConnected):
        await dispatcher.call("CP1", "Reset", {})
    old, new = FakeLink({"status": "old"}), FakeLink({"status": "new"})
    assert dispatcher.attach("CP1", old) is None
    assert dispatcher.attach("CP1", new) is old
    assert dispatcher.detach("CP1", old) is False  # a replaced link cannot unplug the new one
    assert await dispatcher.call("CP1", "Reset", {"type": "Soft"}) == {"status": "new"}
    assert new.calls == [("Reset", {"type": "Soft"}, 7)]
    assert dispatcher.connected() == ["CP1"]
    assert dispatcher.detach("CP1", new) is True
    with pytest.raises(StationNotConnected):
        await dispatcher.call("CP1", "Reset", {})


@pytest.mark.parametrize(
    ("outcome", "status", "error", "result"),
    [
        ({"status": "Accepted"}, "succeeded", None, {"status": "Accepted"}),
        (CommandTimeout("no answer"), "timeout", "no answer", None),
        (CommandRejected("NotSupported", "nope"), "failed", "NotSupported: nope",
         {"error_code": "NotSupported", "description": "nope"}),
        (None, "failed", "station 'CP1' is not connected", None),
    ],
)
async def test_tasks_record_the_outcome(openv2x_server, openv2x_db_url, outcome, status, error,
                                        result):
    server = await openv2x_server()
    app = server.app
    finished = []

    async def on_event(event):
        if event.name == "task.finished":
            finished.append(event.data)

    app[appkeys.EVENTS].subscribe(on_event)
    if outcome is not None:
        app[appkeys.DISPATCHER].attach("CP1", FakeLink(outcome))
    task_id = await app[appkeys.TASKS].submit("CP1", "Reset", {"type": "Hard"}, timeout=3)
    await app[appkeys.TASKS].wait(task_id)
    await app[appkeys.EVENTS].drain()

    headers = await server.auth_headers("cpo_manager")
    async with server.http.get(server.url(f"/api/task/{task_id}/"), headers=headers) as resp:
        task = await resp.json()
    assert task["status"] == status
    assert task["error"] == error
    assert task["result"] == result
    assert task["payload"] == {"type": "Hard"}
    assert task["created_at"] <= task["started_at"] <= task["finished_at"]
    assert finished == [{"task_id": task_id, "station_id": "CP1", "action": "Reset",
                         "status": status}]


async def test_unfinished_tasks_are_marked_interrupted_on_start(openv2x_server, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}"
    db = Database(url)
    await migrate.upgrade(db)
    async with db.transaction() as work:
        work.session.add_all([Task(id="p", station_id="CP1", action="Reset", status="pending"),
                              Task(id="r", station_id="CP1", action="Reset", status="running"),
                              Task(id="s", station_id="CP1", action="Reset", status="succeeded")])
    await db.dispose()
    server = await openv2x_server(db_url=url)
    async with server.app[appkeys.DB].session() as session:
        rows = dict((await session.execute(select(Task.id, Task.status))).all())
    assert rows == {"p": "interrupted", "r": "interrupted", "s": "succeeded"}


async def test_registry_close_interrupts_running_tasks(tmp_path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    await migrate.upgrade(db)
    dispatcher = Dispatcher()
    started = asyncio.Event()

    class Hanging:
        protocol = "test"

        async def call(self, action, payload, timeout):
            started.set()
            await asyncio.Event().wait()

    dispatcher.attach("CP1", Hanging())
    registry = TaskRegistry(db, dispatcher)
    task_id = await registry.submit("CP1", "Reset", {})
    await started.wait()
    await registry.close()
    async with db.session() as session:
        assert (await session.get(Task, task_id)).status == "interrupted"
    await db.dispose()
