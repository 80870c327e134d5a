"""Provisioning (OCPP 2.x block B): boot, heartbeat, connector status and the device model."""

from __future__ import annotations

from typing import Any

from ocpp.routing import on

from core import appkeys, stations
from core.db import Work
from core.db.types import utcnow
from core.events import Event
from core.ocpp.times import iso, parse_time
from core.rest.routes import Route
from plugins.ocpp201.base import Effect, HandlerBase


class ProvisioningHandlers(HandlerBase):
    OWN_EFFECTS: dict[str, Effect] = {}

    @on("BootNotification")
    async def on_boot(self, charging_station: dict[str, Any], reason: str,
                      **_: Any) -> dict[str, Any]:
        modem = charging_station.get("modem") or {}

        async def store(work: Work) -> str:
            station = await stations.station(work, self.id)
            station.vendor = charging_station["vendor_name"]
            station.model = charging_station["model"]
            station.serial_number = charging_station.get("serial_number")
            station.firmware_version = charging_station.get("firmware_version")
            station.iccid, station.imsi = modem.get("iccid"), modem.get("imsi")
            station.last_boot = station.last_seen = utcnow()
            work.emit(Event("station.booted", {
                "id": self.id, "status": station.registration_status, "reason": reason,
                "vendor": station.vendor, "model": station.model}))
            return station.registration_status

        status = await self._write(store, station=True)
        interval = self.app[appkeys.CONFIG]["ocpp"]["heartbeat_interval"]
        return {"current_time": iso(utcnow()), "interval": interval, "status": status}

    @on("Heartbeat")
    async def on_heartbeat(self, **_: Any) -> dict[str, Any]:
        now = utcnow()

        async def store(work: Work) -> None:
            (await stations.station(work, self.id)).last_seen = now

        await self._write(store, station=True)
        return {"current_time": iso(now)}

    @on("StatusNotification")
    async def on_status(self, timestamp: str, connector_status: str, evse_id: int,
                        connector_id: int, **_: Any) -> dict[str, Any]:
        when = parse_time(timestamp)

        async def store(work: Work) -> None:
            await stations.record_status(
                work, self.id, evse_number=evse_id, connector_number=connector_id,
                status=connector_status, error_code=None, timestamp=when)
            await stations.close_ghosts_on_status(work, self.id, connector_id,
                                                  connector_status, when, evse_number=evse_id)

        await self._write(store)
        return {}


def routes() -> list[Route]:
    """REST routes of this block (read access to what it stores)."""
    return []
