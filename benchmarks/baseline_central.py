"""Baseline for benchmarks/ocpp_load.py: a bare OCPP 1.6 and 2.0.1 central system, no
persistence.

It is the ``ocpp`` package's own central-system examples (``ocpp.v16`` and ``ocpp.v201``:
``on`` handlers returning fixed answers) served by aiohttp, the subprotocol a station offers
choosing which, so the comparison isolates what OpenV2X adds: admission, validation,
persistence before acknowledgement, events.

    python benchmarks/baseline_central.py PORT
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys

from aiohttp import WSMsgType, web
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class Central(ChargePoint):
    @on("BootNotification")
    def boot(self, charge_point_vendor, charge_point_model, **_):
        return call_result.BootNotification(current_time=now(), interval=300, status="Accepted")

    @on("Heartbeat")
    def heartbeat(self):
        return call_result.Heartbeat(current_time=now())

    @on("StatusNotification")
    def status(self, **_):
        return call_result.StatusNotification()

    @on("Authorize")
    def authorize(self, id_tag):
        return call_result.Authorize(id_tag_info={"status": "Accepted"})

    @on("StartTransaction")
    def start(self, **_):
        return call_result.StartTransaction(transaction_id=1, id_tag_info={"status": "Accepted"})

    @on("StopTransaction")
    def stop(self, **_):
        return call_result.StopTransaction()

    @on("MeterValues")
    def meter_values(self, **_):
        return call_result.MeterValues()


class Central201(ChargePoint201):
    @on("BootNotification")
    def boot(self, charging_station, reason, **_):
        return result201.BootNotification(current_time=now(), interval=300, status="Accepted")

    @on("Heartbeat")
    def heartbeat(self):
        return result201.Heartbeat(current_time=now())

    @on("StatusNotification")
    def status(self, **_):
        return result201.StatusNotification()

    @on("Authorize")
    def authorize(self, id_token, **_):
        return result201.Authorize(id_token_info={"status": "Accepted"})

    @on("TransactionEvent")
    def transaction_event(self, id_token=None, **_):
        if id_token is None:
            return result201.TransactionEvent()
        return result201.TransactionEvent(id_token_info={"status": "Accepted"})

    @on("MeterValues")
    def meter_values(self, **_):
        return result201.MeterValues()


CENTRALS = {"ocpp1.6": Central, "ocpp2.0.1": Central201}


class Sender:
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    async def send(self, message: str) -> None:
        await self.ws.send_str(message)


async def endpoint(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=list(CENTRALS))
    await ws.prepare(request)
    central = CENTRALS[ws.ws_protocol or "ocpp1.6"](request.match_info["station_id"], Sender(ws))
    async for message in ws:
        if message.type == WSMsgType.TEXT:
            await central.route_message(message.data)
    return ws


def main() -> None:
    app = web.Application()
    app.router.add_get("/ocpp/{station_id}", endpoint)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    asyncio.set_event_loop(asyncio.new_event_loop())
    main()
