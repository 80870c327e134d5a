"""A charge point built on ``ocpp.v16.ChargePoint`` for tests: answers every CSMS request."""

from __future__ import annotations

import asyncio
import base64
import contextlib

import aiohttp
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result

from core.ocpp.client import AiohttpConnection, ConnectionClosed


class TestStation(ChargePoint):
    """Records what the CSMS asked and answers like a well-behaved charger."""

    __test__ = False

    def __init__(self, station_id, connection):
        super().__init__(station_id, connection, response_timeout=10)
        self.received = []
        self.configuration = {"MeterValueSampleInterval": "60", "HeartbeatInterval": "300"}

    @on("Reset")
    def on_reset(self, type):
        self.received.append(("Reset", {"type": type}))
        return call_result.Reset(status="Accepted")

    @on("ChangeAvailability")
    def on_change_availability(self, connector_id, type):
        self.received.append(("ChangeAvailability", {"connector_id": connector_id, "type": type}))
        return call_result.ChangeAvailability(status="Accepted")

    @on("GetConfiguration")
    def on_get_configuration(self, key=None):
        keys = key or list(self.configuration)
        known = [{"key": k, "readonly": False, "value": self.configuration[k]}
                 for k in keys if k in self.configuration]
        unknown = [k for k in keys if k not in self.configuration]
        return call_result.GetConfiguration(configuration_key=known,
                                            unknown_key=unknown or None)

    @on("ChangeConfiguration")
    def on_change_configuration(self, key, value):
        self.configuration[key] = value
        return call_result.ChangeConfiguration(status="Accepted")

    @on("RemoteStartTransaction")
    def on_remote_start(self, id_tag, connector_id=None, charging_profile=None):
        self.received.append(("RemoteStartTransaction", {"id_tag": id_tag}))
        return call_result.RemoteStartTransaction(status="Accepted")

    @on("ReserveNow")
    def on_reserve_now(self, connector_id, expiry_date, id_tag, reservation_id,
                       parent_id_tag=None):
        return call_result.ReserveNow(status="Accepted" if connector_id != 9 else "Occupied")

    @on("CancelReservation")
    def on_cancel_reservation(self, reservation_id):
        return call_result.CancelReservation(status="Accepted")

    @on("SetChargingProfile")
    def on_set_charging_profile(self, connector_id, cs_charging_profiles):
        self.received.append(("SetChargingProfile", cs_charging_profiles))
        return call_result.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, **criteria):
        return call_result.ClearChargingProfile(status="Accepted")

    @on("SendLocalList")
    def on_send_local_list(self, list_version, update_type, local_authorization_list=None):
        self.local_list = (list_version, update_type, local_authorization_list or [])
        return call_result.SendLocalList(status="Accepted")

    @on("GetLocalListVersion")
    def on_get_local_list_version(self):
        return call_result.GetLocalListVersion(list_version=self.local_list[0]
                                               if hasattr(self, "local_list") else 0)

    @on("UnlockConnector")
    def on_unlock(self, connector_id):
        return call_result.UnlockConnector(status="NotSupported")


async def connect(server, station_id, *, password=None, protocols=("ocpp1.6",),
                  station_cls=TestStation, boot=True, http=None):
    """Open a WebSocket to the server and start the station's receive loop."""
    headers = {}
    if password is not None:
        token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    url = server.url(f"/ocpp/{station_id}").replace("http", "ws", 1)
    ws = await (http or server.http).ws_connect(url, protocols=protocols, headers=headers)
    station = station_cls(station_id, AiohttpConnection(ws))
    station.ws = ws
    station.loop_task = asyncio.create_task(_serve(station))
    if boot:
        await station.call(call.BootNotification(charge_point_model="M1",
                                                 charge_point_vendor="OpenV2X-Test"))
    return station


async def _serve(station):
    with contextlib.suppress(ConnectionClosed, aiohttp.ClientError, asyncio.CancelledError):
        await station.start()


async def disconnect(station):
    await station.ws.close()
    station.loop_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await station.loop_task
