"""Locations module, SENDER: our locations, EVSEs and connectors as OCPI 2.2.1 objects.

What is published: every location with the fields OCPI requires (address, city, country,
coordinates, time zone); a location missing one of them is not published (and logged), rather
than sent with invented values. An EVSE is published with the connectors whose standard,
format, power type, voltage and amperage are recorded; an EVSE without any is left out.
Private locations (``access = private`` or ``publish = false``) are sent with ``publish: false``.

EVSE status comes from the connectors' OCPP status (1.6 and 2.x vocabularies) and the
station's connection: a station that is offline shows ``UNKNOWN``.

Pushes: an EVSE PATCH (status) on every connector status change, a full Location PUT when an
operator changes a location, station or connector.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from core import appkeys
from core.db.models import ChargingStation, Connector, Evse, Location
from core.ocpi import OcpiReply, OcpiRequest, OcpiRoute, format_datetime, status
from core.ocpi.status import not_found
from plugins.ocpi_cpo import push
from plugins.ocpi_cpo.config import CONFIG

log = logging.getLogger(__name__)

MODULE = "locations"
_OCPP_TO_OCPI = {
    "Available": "AVAILABLE", "Preparing": "CHARGING", "Charging": "CHARGING",
    "SuspendedEV": "CHARGING", "SuspendedEVSE": "CHARGING", "Finishing": "CHARGING",
    "Occupied": "CHARGING", "Reserved": "RESERVED", "Unavailable": "INOPERATIVE",
    "Faulted": "OUTOFORDER",
}
# When an EVSE's connectors disagree, the status that tells a driver most wins.
_PRECEDENCE = ("CHARGING", "RESERVED", "BLOCKED", "AVAILABLE", "INOPERATIVE", "OUTOFORDER",
               "UNKNOWN")
_REQUIRED_CONNECTOR = ("standard", "format", "power_type", "max_voltage", "max_amperage")


def evse_status(station: ChargingStation, connectors: list[Connector]) -> str:
    if not station.connected:
        return "UNKNOWN"
    return _combined([c.status for c in connectors])


def _combined(statuses: list[str | None]) -> str:
    found = {_OCPP_TO_OCPI.get(s or "", "UNKNOWN") for s in statuses} or {"UNKNOWN"}
    return next(s for s in _PRECEDENCE if s in found)


def connector_to_ocpi(connector: Connector) -> dict[str, Any] | None:
    if any(getattr(connector, name) in (None, "") for name in _REQUIRED_CONNECTOR):
        return None
    out: dict[str, Any] = {
        "id": str(connector.connector_number), "standard": connector.standard,
        "format": connector.format, "power_type": connector.power_type,
        "max_voltage": connector.max_voltage, "max_amperage": connector.max_amperage}
    if connector.max_electric_power:
        out["max_electric_power"] = connector.max_electric_power
    tariffs = [str(t) for t in connector.tariff_ids or () if str(t)]
    if tariffs:
        out["tariff_ids"] = tariffs
    out["last_updated"] = format_datetime(connector.last_updated)
    return out


def evse_to_ocpi(station: ChargingStation, evse: Evse) -> dict[str, Any] | None:
    connectors = sorted(evse.connectors, key=lambda c: c.connector_number)
    published = [c for c in map(connector_to_ocpi, connectors) if c is not None]
    if not published:
        return None
    out: dict[str, Any] = {"uid": evse.uid}
    if evse.evse_id:
        out["evse_id"] = evse.evse_id
    out["status"] = evse_status(station, connectors)
    if evse.capabilities:
        out["capabilities"] = list(evse.capabilities)
    if evse.physical_reference:
        out["physical_reference"] = evse.physical_reference
    if evse.floor_level:
        out["floor_level"] = evse.floor_level
    if evse.parking_restrictions:
        out["parking_restrictions"] = list(evse.parking_restrictions)
    out["connectors"] = published
    changed = max([evse.last_updated, station.last_updated,
                   *(c.last_updated for c in connectors)])
    out["last_updated"] = format_datetime(changed)
    return out


def missing_fields(location: Location) -> list[str]:
    wanted = {"address": location.address, "city": location.city, "country": location.country,
              "latitude": location.latitude, "longitude": location.longitude,
              "time_zone": location.time_zone}
    return [name for name, value in wanted.items() if not value]


def location_to_ocpi(app: web.Application, location: Location) -> dict[str, Any] | None:
    """The OCPI Location, or None when a required field is not recorded."""
    if missing_fields(location):
        return None
    party = app[CONFIG].party
    out: dict[str, Any] = {
        "country_code": party.country_code, "party_id": party.party_id, "id": location.id,
        "publish": bool(location.publish) and location.access != "private"}
    if location.name:
        out["name"] = location.name
    out["address"], out["city"] = location.address, location.city
    if location.postal_code:
        out["postal_code"] = location.postal_code
    if location.state:
        out["state"] = location.state
    out["country"] = location.country
    out["coordinates"] = {"latitude": location.latitude, "longitude": location.longitude}
    if location.parking_type:
        out["parking_type"] = location.parking_type
    evses = []
    changed = [location.last_updated]
    for station in sorted(location.stations, key=lambda s: s.id):
        for evse in sorted(station.evses, key=lambda e: e.evse_number):
            item = evse_to_ocpi(station, evse)
            if item is not None:
                evses.append(item)
                changed.append(dt.datetime.strptime(item["last_updated"], "%Y-%m-%dT%H:%M:%SZ")
                               .replace(tzinfo=dt.UTC))
    if evses:
        out["evses"] = evses
    if location.operator_name:
        out["operator"] = {"name": location.operator_name}
    if location.facilities:
        out["facilities"] = list(location.facilities)
    out["time_zone"] = location.time_zone
    if location.opening_times:
        out["opening_times"] = location.opening_times
    out["last_updated"] = format_datetime(max(changed))
    return out


def _loaded() -> Any:
    return (selectinload(Location.stations).selectinload(ChargingStation.evses)
            .selectinload(Evse.connectors))


async def load_location(app: web.Application, location_id: str) -> Location | None:
    async with app[appkeys.DB].session() as session:
        return (await session.execute(select(Location).where(Location.id == location_id)
                                      .options(_loaded()))).scalars().first()


async def list_locations(request: OcpiRequest) -> OcpiReply:
    page = request.page(request.app[appkeys.CONFIG]["ocpi"]["page_limit"])
    app = request.app
    async with app[appkeys.DB].session() as session:
        query = select(Location).options(_loaded()).order_by(Location.last_updated, Location.id)
        rows = (await session.execute(query)).scalars().all()
    # Publication depends on rows below the location (EVSE, connector times): filter here.
    items = []
    for row in rows:
        item = location_to_ocpi(app, row)
        if item is None:
            continue
        changed = dt.datetime.strptime(item["last_updated"], "%Y-%m-%dT%H:%M:%SZ") \
            .replace(tzinfo=dt.UTC)
        if page.date_from and changed < page.date_from:
            continue
        if page.date_to and changed >= page.date_to:
            continue
        items.append(item)
    items.sort(key=lambda i: (i["last_updated"], i["id"]))
    return request.paged(items[page.offset:page.offset + page.limit], len(items), page)


async def _location_or_404(request: OcpiRequest) -> dict[str, Any]:
    location = await load_location(request.app, request.params["location_id"])
    item = location_to_ocpi(request.app, location) if location is not None else None
    if item is None:
        raise not_found("unknown location", status.UNKNOWN_LOCATION)
    return item


async def get_location(request: OcpiRequest) -> OcpiReply:
    return OcpiReply(await _location_or_404(request))


async def get_evse(request: OcpiRequest) -> OcpiReply:
    item = await _location_or_404(request)
    for evse in item.get("evses", ()):
        if evse["uid"] == request.params["evse_uid"]:
            return OcpiReply(evse)
    raise not_found("unknown EVSE", status.UNKNOWN_LOCATION)


async def get_connector(request: OcpiRequest) -> OcpiReply:
    evse = (await get_evse(request)).data
    for connector in evse["connectors"]:
        if connector["id"] == request.params["connector_id"]:
            return OcpiReply(connector)
    raise not_found("unknown connector", status.UNKNOWN_LOCATION)


def routes() -> tuple[OcpiRoute, ...]:
    return (OcpiRoute("GET", "", list_locations),
            OcpiRoute("GET", "/{location_id}", get_location),
            OcpiRoute("GET", "/{location_id}/{evse_uid}", get_evse),
            OcpiRoute("GET", "/{location_id}/{evse_uid}/{connector_id}", get_connector))


async def location_of(app: web.Application, kind: str, ident: object) -> str | None:
    """The location a changed row belongs to (``kind``: the REST resource's name)."""
    if kind == "location":
        return ident if isinstance(ident, str) else None
    async with app[appkeys.DB].session() as session:
        station_id: object = ident
        if kind == "connector":
            station_id = await session.scalar(select(Connector.station_id)
                                              .where(Connector.id == str(ident)))
        elif kind == "evse":
            if not isinstance(ident, int):
                return None
            station_id = await session.scalar(select(Evse.station_id).where(Evse.id == ident))
        elif kind != "chargepoint":
            return None
        if not isinstance(station_id, str):
            return None
        return await session.scalar(select(ChargingStation.location_id)
                                    .where(ChargingStation.id == station_id))


async def _location_of_station(app: web.Application, station_id: str) -> str | None:
    async with app[appkeys.DB].session() as session:
        return await session.scalar(select(ChargingStation.location_id)
                                    .where(ChargingStation.id == station_id))


async def push_location(app: web.Application, location_id: str) -> None:
    """PUT the whole location to every receiver (after an operator's change)."""
    location = await load_location(app, location_id)
    item = location_to_ocpi(app, location) if location is not None else None
    if item is None:
        if location is not None:
            log.info("location %s not published: missing %s", location_id,
                     ", ".join(missing_fields(location)))
        return
    party = app[CONFIG].party
    path = f"/{party.country_code}/{party.party_id}/{location_id}"
    await push.broadcast(app, MODULE, "PUT", path, item, f"location:{location_id}")


async def sync_partner(app: web.Application, partner_id: int) -> None:
    """PUT every published location to a partner that just registered: later EVSE PATCHes
    then apply to objects it holds."""
    partner = next((p for p in await push.receivers(app, MODULE) if p.id == partner_id), None)
    if partner is None:
        return
    async with app[appkeys.DB].session() as session:
        rows = (await session.execute(select(Location).options(_loaded())
                                      .order_by(Location.id))).scalars().all()
    party = app[CONFIG].party
    for row in rows:
        item = location_to_ocpi(app, row)
        if item is not None:
            await push.send(app, [(partner, push.broadcast_target(partner))], MODULE, "PUT",
                            f"/{party.country_code}/{party.party_id}/{row.id}", item,
                            f"location:{row.id}")


async def push_evse_status(app: web.Application, data: dict[str, Any]) -> None:
    """PATCH the EVSE's status to every receiver after an OCPP status notification.

    The status is the one this notification reported (with the EVSE's other connectors as
    stored), not whatever the EVSE shows when the push is prepared: each change is sent, in
    order, even when the next one is already committed.
    """
    station_id, evse_number = data["station_id"], data.get("evse_number")
    location_id = await _location_of_station(app, station_id)
    if location_id is None or evse_number is None:
        return
    location = await load_location(app, location_id)
    if location is None or location_to_ocpi(app, location) is None:
        return
    found = next(((station, e) for station in location.stations if station.id == station_id
                  for e in station.evses if e.evse_number == evse_number), None)
    if found is None or evse_to_ocpi(*found) is None:
        return
    evse = found[1]
    statuses = [data["status"] if c.connector_number == data.get("connector_number")
                else c.status for c in evse.connectors]
    at = dt.datetime.fromisoformat(data["timestamp"]) if isinstance(
        data.get("timestamp"), str) else evse.last_updated
    party = app[CONFIG].party
    path = f"/{party.country_code}/{party.party_id}/{location_id}/{evse.uid}"
    body = {"status": _combined(statuses), "last_updated": format_datetime(at)}
    await push.broadcast(app, MODULE, "PATCH", path, body, f"location:{location_id}")


__all__ = ["MODULE", "evse_status", "location_to_ocpi", "push_evse_status", "push_location",
           "routes"]
