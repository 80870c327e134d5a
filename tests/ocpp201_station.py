"""Charge points built on ``ocpp.v201`` / ``ocpp.v21`` ChargePoint classes for tests.

:class:`Station201` and :class:`Station21` record every CSMS request in ``received`` and answer
like well-behaved chargers; test modules subclass them to add the handlers their block needs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib

import aiohttp
import pytest
from ocpp.exceptions import OCPPError
from ocpp.routing import on
from ocpp.v21 import ChargePoint as ChargePoint21
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from core import appkeys
from core.ocpp.client import AiohttpConnection, ConnectionClosed

BOOT = {"charging_station": {"model": "X2", "vendor_name": "OpenV2X-Test",
                             "serial_number": "SN-201", "firmware_version": "2.0.1-test",
                             "modem": {"iccid": "8931", "imsi": "2620"}},
        "reason": "PowerUp"}


class Recorder:
    """Shared answers of both versions (their call_result classes have the same fields)."""

    __test__ = False
    results = result201

    def __init__(self, station_id, connection):
        super().__init__(station_id, connection, response_timeout=10)
        self.received = []

    @on("Reset")
    def on_reset(self, type, evse_id=None, **_):
        self.received.append(("Reset", {"type": type, "evse_id": evse_id}))
        return self.results.Reset(status="Accepted")

    @on("ChangeAvailability")
    def on_change_availability(self, operational_status, evse=None, **_):
        self.received.append(("ChangeAvailability", {"operational_status": operational_status,
                                                      "evse": evse}))
        return self.results.ChangeAvailability(status="Accepted")


class Station201(Recorder, ChargePoint201):
    __test__ = False
    calls = call201


class Station21(Recorder, ChargePoint21):
    __test__ = False
    calls = call21

    @on("UsePriorityCharging")
    def on_use_priority_charging(self, transaction_id, activate, **_):
        self.received.append(("UsePriorityCharging", {"transaction_id": transaction_id,
                                                       "activate": activate}))
        return result21.UsePriorityCharging(status="Accepted")


async def connect(server, station_id, *, version="2.0.1", password=None, station_cls=None,
                  boot=True, http=None):
    """Open a WebSocket with the version's subprotocol and start the station's receive loop."""
    cls = station_cls or (Station201 if version == "2.0.1" else Station21)
    headers = {}
    if password is not None:
        token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    url = server.url(f"/ocpp/{station_id}").replace("http", "ws", 1)
    ws = await (http or server.http).ws_connect(url, protocols=(f"ocpp{version}",),
                                                headers=headers)
    station = cls(station_id, AiohttpConnection(ws))
    station.ws = ws
    station.loop_task = asyncio.create_task(_serve(station))
    if boot:
        await station.call(station.calls.BootNotification(**BOOT))
    return station


async def _serve(station):
    with contextlib.suppress(ConnectionClosed, aiohttp.ClientError, asyncio.CancelledError):
        await station.start()


async def disconnect(station):
    await station.ws.close()
    station.loop_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await station.loop_task


def recorder(server):
    """Record the app's events; returns ``published(name)``: their data, once delivered."""
    events = []

    async def record(event):
        events.append(event)

    server.app[appkeys.EVENTS].subscribe(record)

    async def published(name):
        await server.app[appkeys.EVENTS].drain()
        return [event.data for event in events if event.name == name]

    return published


async def command(server, name, body, status=200):
    headers = await server.auth_headers("cpo_manager")
    async with server.http.post(server.url(f"/api/ocpp201/{name}/CS1/"), json=body,
                                headers=headers) as resp:
        assert resp.status == status, await resp.text()
        return await resp.json()


async def refused(station, request):
    """The CALLERROR code the CSMS answers ``request`` with (sent even if schema-invalid)."""
    with pytest.raises(OCPPError) as raised:
        await station.call(request, suppress=False, skip_schema_validation=True)
    return raised.value.code
