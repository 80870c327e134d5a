"""Prices as they stand: a station's hourly tariff schedule for a day, and the cost so far of a
session (``GET /api/transaction/{id}/cost/``), both from the same selection and engine the
CDR uses.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from aiohttp import web
from sqlalchemy import select

from core import appkeys
from core.db.models import ChargingStation, Connector, Evse, Location, Transaction
from core.db.types import utcnow
from core.rest.body import reject_nul
from core.rest.errors import bad_request, not_found
from core.rest.resource import json_response
from core.rest.routes import SCOPE, Route
from plugins.billing import adjustments, schedule, tariffs
from plugins.billing.config import billing_config
from plugins.billing.inputs import time_zone
from plugins.billing.model import Price
from plugins.billing.pricing import active_adjustments, amount, load_context, price
from plugins.billing.rest_common import only_params, user_id
from plugins.billing.selection import Site, select_tariffs

_PRICE_SCHEMA = {"type": "object", "nullable": True,
                 "properties": {"excl_vat": {"type": "number"},
                                "incl_vat": {"type": "number", "nullable": True}}}
SCHEDULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "station_id": {"type": "string"}, "connector_id": {"type": "string"},
        "date": {"type": "string", "format": "date"}, "time_zone": {"type": "string"},
        "tariff_id": {"type": "string", "nullable": True},
        "tariff_version": {"type": "integer", "nullable": True},
        "currency": {"type": "string", "nullable": True},
        "hours": {"type": "array", "items": {"type": "object", "properties": {
            "start": {"type": "string", "format": "date-time"},
            "local_time": {"type": "string"},
            "energy": _PRICE_SCHEMA, "time": _PRICE_SCHEMA, "parking": _PRICE_SCHEMA,
            "flat": _PRICE_SCHEMA}}}},
}
COST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "OCPI Price totals and charging periods so far, plus the driver's price",
    "properties": {"transaction_id": {"type": "integer"}, "status": {"type": "string"},
                   "currency": {"type": "string"}, "total_cost": _PRICE_SCHEMA,
                   "charging_periods": {"type": "array", "items": {"type": "object"}},
                   "driver_cost": {"type": "object"}},
}


def _price(value: Price) -> dict[str, Any]:
    return {"excl_vat": value.excl_vat, "incl_vat": value.incl_vat}


async def tariff_schedule(request: web.Request) -> web.Response:
    """``?station_id=&date=YYYY-MM-DD[&connector_id=]``: the day's hourly prices."""
    reject_nul(request.query.values())
    only_params(request, ("station_id", "date", "connector_id"))
    station_id = request.query.get("station_id")
    raw_day = request.query.get("date")
    if not station_id or not raw_day:
        raise bad_request("give station_id and date", {"station_id": ["required"],
                                                       "date": ["required"]}, "invalid_query")
    try:
        day = dt.date.fromisoformat(raw_day)
    except ValueError:
        raise bad_request("date must be YYYY-MM-DD", {"date": [raw_day]},
                          "invalid_query") from None
    async with request.app[appkeys.DB].session() as session:
        station = await session.get(ChargingStation, station_id)
        if station is None:
            raise not_found("chargepoint")
        stmt = select(Connector).join(Evse, Connector.evse_id == Evse.id).where(
            Connector.station_id == station_id)
        if "connector_id" in request.query:
            stmt = stmt.where(Connector.id == request.query["connector_id"])
        connector = (await session.execute(
            stmt.order_by(Evse.evse_number, Connector.connector_number))).scalars().first()
        if connector is None and "connector_id" in request.query:
            raise not_found("connector")
        location = await session.get(Location, station.location_id) \
            if station.location_id else None
        zone = time_zone(location)
        start, end = schedule.day_bounds(day, zone)
        # The tariff in force on that day, or now for today and days to come.
        at = min(max(utcnow(), start), end - dt.timedelta(microseconds=1))
        chosen = await select_tariffs(session, Site(station_id, connector, location), None, at)
        row = await tariffs.version(session, chosen.tariff.tariff_id, chosen.tariff.version) \
            if chosen.tariff else None
        found = await active_adjustments(session, location, start, end)
    body: dict[str, Any] = {"station_id": station_id,
                            "connector_id": connector.id if connector else None,
                            "date": day.isoformat(), "time_zone": zone.key,
                            "tariff_id": None, "tariff_version": None, "currency": None,
                            "hours": []}
    if row is not None:
        tariff = adjustments.apply(tariffs.parsed(row), found, zone, start, end)
        power = current = None
        if connector is not None and connector.max_electric_power:
            power = Decimal(connector.max_electric_power) / 1000
        if connector is not None and connector.max_amperage:
            current = Decimal(connector.max_amperage)
        body.update(tariff_id=row.tariff_id, tariff_version=row.version,
                    currency=tariff.currency,
                    hours=schedule.hourly(tariff, day, zone, power_kw=power, current_a=current))
    return json_response(body)


async def transaction_cost(request: web.Request) -> web.Response:
    """What the session has cost so far (or cost, once finished): the CDR's formula."""
    only_params(request, ())
    try:
        tx_id = int(request.match_info["id"])
    except ValueError:
        raise not_found("transaction") from None
    async with request.app[appkeys.DB].session() as session:
        tx = await session.get(Transaction, tx_id)
        if tx is None or (request.get(SCOPE) == "own" and tx.user_id != user_id(request)):
            raise not_found("transaction")
        end = tx.stopped_at or utcnow()
        cost = await price(session, await load_context(session, tx), end,
                           billing_config(request.app))
    body: dict[str, Any] = {"transaction_id": tx.id, "status": tx.status, "at": end}
    body.update(cost.breakdown.to_ocpi())
    if cost.tariff is None:
        for period in body["charging_periods"]:
            period.pop("tariff_id", None)
    body.update(tariff_id=cost.ref.tariff_id if cost.ref else None,
                tariff_version=cost.ref.version if cost.ref else None,
                tariff_source=cost.source,
                driver_cost={"currency": cost.driver_currency,
                             "amount": amount(cost.driver_total),
                             **_price(cost.driver_total),
                             "retail_tariff_id": cost.retail.tariff.tariff_id
                             if cost.retail else None,
                             "retail_mode": cost.retail.mode if cost.retail else None},
                notes=list(cost.notes))
    return json_response(body)


def routes() -> list[Route]:
    return [
        Route("GET", "/api/tariff/schedule/", tariff_schedule, "tariff:read",
              "tariff-schedule", "A station's hourly prices on one day", ("tariff",),
              response_schema=SCHEDULE_SCHEMA,
              query_params=tuple({"name": n, "in": "query", "required": n != "connector_id",
                                  "schema": {"type": "string"}}
                                 for n in ("station_id", "date", "connector_id"))),
        Route("GET", "/api/transaction/{id}/cost/", transaction_cost, "transaction:read",
              "transaction-cost", "The cost of a session so far (live estimate)",
              ("transaction",), response_schema=COST_SCHEMA),
    ]
