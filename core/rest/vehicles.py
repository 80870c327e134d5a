"""EVs known by their ISO 15118 EVCCID or MAC address: ``/api/vehicle/``.

Linking a vehicle to a driver (and optionally one of the driver's tokens) lets a station that
identifies the EV itself (Autocharge / ISO 15118) start a session that is attributed and billed
without a card (seed 001 §4.1 item 4).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from core.auth import principal_of
from core.db import Work
from core.db.models import IdToken, User, Vehicle
from core.rest.errors import ApiError, bad_request
from core.rest.resource import ModelResource
from core.rest.routes import SCOPE


class VehicleSchema(Schema):
    id = fields.Integer(dump_only=True)
    identifier = fields.String(required=True, validate=validate.Length(min=1, max=64),
                               metadata={"description": "EVCCID or MAC address"})
    kind = fields.String(load_default="EVCCID", validate=validate.OneOf(("EVCCID", "MacAddress")))
    user_id = fields.Integer(allow_none=True, strict=True)
    id_token = fields.String(allow_none=True, validate=validate.Length(max=255),
                             metadata={"description": "token the vehicle's sessions run under"})
    label = fields.String(allow_none=True, validate=validate.Length(max=64))
    battery_capacity_wh = fields.Integer(allow_none=True, strict=True,
                                         validate=validate.Range(min=1000, max=2_000_000))
    last_seen = fields.AwareDateTime(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    last_updated = fields.AwareDateTime(dump_only=True)


class VehicleResource(ModelResource):
    name = "vehicle"
    model = Vehicle
    schema = VehicleSchema
    filters = ("identifier", "kind", "user_id", "id_token", "last_seen")
    ordering = "created_at"
    owner_column = "user_id"

    async def prepare(
        self, request: web.Request, work: Work, data: dict[str, Any], obj: Any | None
    ) -> dict[str, Any]:
        identifier = data.get("identifier")
        if identifier is not None and (obj is None or identifier != obj.identifier):
            clash = await work.session.execute(
                select(Vehicle.id).where(Vehicle.identifier == identifier))
            if clash.first() is not None:
                raise ApiError(409, "conflict", f"vehicle {identifier!r} already exists")
        own = request.get(SCOPE) == "own"
        if own:  # a driver registers vehicles for themself, with their own tokens
            principal = principal_of(request)
            data["user_id"] = principal.user_id if principal else None
        if data.get("user_id") is not None and await work.session.get(
                User, data["user_id"]) is None:
            raise bad_request("user_id refers to nothing", {"user_id": ["no such user"]})
        token = data.get("id_token")
        if token is not None:
            found = (await work.session.execute(
                select(IdToken).where(IdToken.id_token == token))).scalars().first()
            if found is None or (own and found.user_id != data["user_id"]):
                raise bad_request("id_token refers to nothing", {"id_token": ["no such idtag"]})
        return data
