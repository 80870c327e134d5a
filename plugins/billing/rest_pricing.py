"""``/api/tariffassignment/`` and ``/api/priceadjustment/``: where tariffs apply, and dynamic
pricing.

An assignment names one target per scope (``connector``: ``connector_id``; ``station``:
``station_id``; ``location``: ``location_id``; ``region``: ``country`` and optionally
``city``; ``default``: the whole network) and optionally narrows it to a ``power_type``
(``AC``/``DC``) and a driver group (``group_id_token``). ``role`` ``emsp`` makes it an eMSP's
retail tariff (``emsp_country_code``, ``emsp_party_id``, ``mode`` ``add`` or ``replace``).
Fields that do not belong to the scope or role are refused when given; on a PATCH that
changes the scope or role, the old ones are cleared.

A price adjustment covers ``location_ids`` or a region, from ``start_date_time`` to
``end_date_time`` (whole minutes), with a ``factor`` and/or a ``delta`` per kWh; each change
publishes ``tariff.changed`` for every station of the area (before and after the change).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from aiohttp import web
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Work
from core.db.models import ChargingStation, Connector, Location
from core.events import Event
from core.rest.errors import ApiError, bad_request
from core.rest.resource import ModelResource
from plugins.billing import tariffs
from plugins.billing.model import format_datetime
from plugins.billing.tables import PriceAdjustment, TariffAssignment

SCOPES = ("connector", "station", "location", "region", "default")
_TARGETS = {"connector": ("connector_id",), "station": ("station_id",),
            "location": ("location_id",), "region": ("country",), "default": ()}
_TARGET_FIELDS = ("connector_id", "station_id", "location_id", "country", "city")
_RETAIL_FIELDS = ("emsp_country_code", "emsp_party_id", "mode")
_COUNTRY3 = validate.Regexp(r"^[A-Z]{3}$", error="ISO 3166 alpha-3 code")
_FOUR_DECIMALS = Decimal("0.0001")


def _four_decimals(value: Decimal) -> None:
    if value.quantize(_FOUR_DECIMALS) != value:
        raise ValidationError("at most 4 decimals")


class TariffAssignmentSchema(Schema):
    id = fields.Integer(dump_only=True)
    tariff_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    role = fields.String(load_default="cpo", validate=validate.OneOf(("cpo", "emsp")),
                         metadata={"description": "cpo: wholesale; emsp: an eMSP's retail "
                                                  "tariff for its drivers"})
    scope = fields.String(required=True, validate=validate.OneOf(SCOPES))
    connector_id = fields.String(allow_none=True, validate=validate.Length(max=36))
    station_id = fields.String(allow_none=True, validate=validate.Length(max=64))
    location_id = fields.String(allow_none=True, validate=validate.Length(max=36))
    country = fields.String(allow_none=True, validate=_COUNTRY3)
    city = fields.String(allow_none=True, validate=validate.Length(min=1, max=45))
    power_type = fields.String(allow_none=True, validate=validate.OneOf(("AC", "DC")))
    group_id_token = fields.String(allow_none=True, validate=validate.Length(min=1, max=255),
                                   metadata={"description": "only drivers of this group"})
    emsp_country_code = fields.String(
        allow_none=True, validate=validate.Regexp(r"^[A-Z]{2}$", error="two capital letters"))
    emsp_party_id = fields.String(
        allow_none=True,
        validate=validate.Regexp(r"^[A-Z0-9]{3}$", error="three capital letters or digits"))
    mode = fields.String(allow_none=True, validate=validate.OneOf(("add", "replace")),
                         metadata={"description": "emsp: add to the CPO's cost, or replace "
                                                  "it (e.g. a subscription's flat price)"})
    created_at = fields.AwareDateTime(dump_only=True)
    last_updated = fields.AwareDateTime(dump_only=True)


def _merged(data: dict[str, Any], obj: Any | None, names: tuple[str, ...]) -> dict[str, Any]:
    """Every field's value after the change: the request's, else the row's, else None."""
    return {name: data[name] if name in data else getattr(obj, name, None) for name in names}


async def _exists(session: AsyncSession, model: type[Any], key: Any) -> bool:
    found: Any = await session.get(model, key)
    return found is not None


class TariffAssignmentResource(ModelResource):
    name = "tariffassignment"
    model = TariffAssignment
    schema = TariffAssignmentSchema
    filters = ("tariff_id", "role", "scope", "connector_id", "station_id", "location_id",
               "country", "power_type", "group_id_token", "emsp_party_id")
    ordering = "id"

    async def prepare(self, request: web.Request, work: Work, data: dict[str, Any],
                      obj: Any | None) -> dict[str, Any]:
        names = ("tariff_id", "role", "scope", "power_type", "group_id_token",
                 *_TARGET_FIELDS, *_RETAIL_FIELDS)
        values = _merged(data, obj, names)
        errors: dict[str, list[str]] = {}
        scope, role = values["scope"], values.get("role") or "cpo"
        wanted = set(_TARGETS[scope]) | ({"city"} if scope == "region" else set())
        for name in _TARGET_FIELDS:
            if name not in wanted:
                if data.get(name) is not None:
                    errors[name] = [f"not used by scope {scope!r}"]
                values[name] = None
            elif name != "city" and values.get(name) is None:
                errors[name] = [f"required by scope {scope!r}"]
        for name in _RETAIL_FIELDS:
            if role == "cpo":
                if data.get(name) is not None:
                    errors[name] = ["only for role 'emsp'"]
                values[name] = None
            elif values.get(name) is None:
                errors[name] = ["required by role 'emsp'"]
        if errors:
            raise bad_request("the assignment is inconsistent", errors, "validation_error")
        session = work.session
        if await tariffs.current(session, values["tariff_id"]) is None:
            errors["tariff_id"] = ["no such tariff"]
        for name, model in (("connector_id", Connector), ("station_id", ChargingStation),
                            ("location_id", Location)):
            if values[name] is not None and not await _exists(session, model, values[name]):
                errors[name] = ["refers to nothing"]
        if errors:
            raise bad_request("the assignment refers to nothing", errors, "validation_error")
        same = [getattr(TariffAssignment, name) == values[name] if values[name] is not None
                else getattr(TariffAssignment, name).is_(None)
                for name in ("role", "scope", "power_type", "group_id_token", *_TARGET_FIELDS,
                             "emsp_country_code", "emsp_party_id")]
        clash = select(TariffAssignment.id).where(*same)
        if obj is not None:
            clash = clash.where(TariffAssignment.id != obj.id)
        if (await session.execute(clash)).first() is not None:
            raise ApiError(409, "conflict", "an assignment for the same target, power type, "
                                            "group and role exists; change that one")
        values["role"] = role
        return values


class PriceAdjustmentSchema(Schema):
    id = fields.Integer(dump_only=True)
    location_ids = fields.List(fields.String(validate=validate.Length(min=1, max=36)),
                               allow_none=True, validate=validate.Length(min=1, max=1000))
    country = fields.String(allow_none=True, validate=_COUNTRY3)
    city = fields.String(allow_none=True, validate=validate.Length(min=1, max=45))
    start_date_time = fields.AwareDateTime(required=True)
    end_date_time = fields.AwareDateTime(required=True)
    factor = fields.Decimal(allow_none=True, validate=[validate.Range(min=0, max=10),
                                                      _four_decimals],
                            metadata={"description": "multiplies the energy price"})
    delta = fields.Decimal(allow_none=True, validate=[validate.Range(min=-1000, max=1000),
                                                     _four_decimals],
                           metadata={"description": "added to the energy price per kWh"})
    source = fields.String(load_default="operator",
                           validate=validate.OneOf(("operator", "dso")))
    reason = fields.String(allow_none=True, validate=validate.Length(max=255))
    created_at = fields.AwareDateTime(dump_only=True)
    last_updated = fields.AwareDateTime(dump_only=True)


async def _stations(session: AsyncSession, row: PriceAdjustment) -> set[str]:
    """The stations in an adjustment's area."""
    stmt = select(ChargingStation.id).join(Location,
                                           ChargingStation.location_id == Location.id)
    if row.location_ids:
        stmt = stmt.where(Location.id.in_(row.location_ids))
    elif row.country is not None:
        stmt = stmt.where(func.upper(Location.country) == row.country.upper())
        if row.city is not None:
            stmt = stmt.where(func.lower(Location.city) == row.city.lower())
    else:
        return set()
    return set((await session.execute(stmt)).scalars())


def _announce(work: Work, row: PriceAdjustment, stations: set[str], change: str) -> None:
    for station_id in sorted(stations):
        work.emit(Event("tariff.changed", {
            "station_id": station_id, "change": change, "price_adjustment_id": row.id,
            "source": row.source, "start_date_time": format_datetime(row.start_date_time),
            "end_date_time": format_datetime(row.end_date_time)}))


class PriceAdjustmentResource(ModelResource):
    name = "priceadjustment"
    model = PriceAdjustment
    schema = PriceAdjustmentSchema
    filters = ("source", "country", "start_date_time", "end_date_time")
    ordering = "start_date_time"

    async def prepare(self, request: web.Request, work: Work, data: dict[str, Any],
                      obj: Any | None) -> dict[str, Any]:
        names = ("location_ids", "country", "city", "start_date_time", "end_date_time",
                 "factor", "delta", "source", "reason")
        values = _merged(data, obj, names)
        errors: dict[str, list[str]] = {}
        if bool(values.get("location_ids")) == (values.get("country") is not None):
            errors["location_ids"] = ["give location_ids or a region (country), not both"]
        if values.get("city") is not None and values.get("country") is None:
            errors["city"] = ["needs a country"]
        start, end = values["start_date_time"], values["end_date_time"]
        for name, when in (("start_date_time", start), ("end_date_time", end)):
            if when.second or when.microsecond:
                errors[name] = ["must be a whole minute"]
        if end <= start:
            errors["end_date_time"] = ["must be after start_date_time"]
        if values.get("factor") is None and values.get("delta") is None:
            errors["factor"] = ["give a factor, a delta or both"]
        if not errors and values.get("location_ids"):
            found = set((await work.session.execute(select(Location.id).where(
                Location.id.in_(values["location_ids"])))).scalars())
            unknown = [i for i in values["location_ids"] if i not in found]
            if unknown:
                errors["location_ids"] = [f"no such location: {', '.join(unknown[:5])}"]
        if errors:
            raise bad_request("the price adjustment is invalid", errors, "validation_error")
        values["location_ids"] = list(dict.fromkeys(values["location_ids"])) \
            if values.get("location_ids") else None
        values["start_date_time"], values["end_date_time"] = (
            start.astimezone(dt.UTC), end.astimezone(dt.UTC))
        return values

    async def apply(self, request: web.Request, work: Work, obj: Any,
                    data: dict[str, Any]) -> None:
        before = await _stations(work.session, obj) if obj.id is not None else set()
        await super().apply(request, work, obj, data)
        work.session.add(obj)
        await work.session.flush()
        _announce(work, obj, before | await _stations(work.session, obj),
                  "price_adjustment")

    async def before_delete(self, request: web.Request, work: Work, obj: Any) -> None:
        _announce(work, obj, await _stations(work.session, obj), "price_adjustment_removed")
