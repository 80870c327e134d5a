"""The core's REST resources: sites, stations, tokens, users, tasks and what stations report."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from aiohttp import web
from sqlalchemy import Select, select

from core import appkeys
from core.auth import principal_of
from core.db import Work
from core.db.models import (
    ChargingProfile,
    ChargingStation,
    Connector,
    Evse,
    IdToken,
    Location,
    MeterValue,
    ProtocolDeviation,
    Reservation,
    StatusNotification,
    Task,
    Transaction,
    User,
)
from core.json import dumps
from core.passwords import hash_password
from core.rbac import ADMIN_ROLE
from core.rest import schemas
from core.rest.errors import ApiError, bad_request
from core.rest.resource import ModelResource
from core.rest.routes import SCOPE, Route
from core.rest.vehicles import VehicleResource
from core.users import public_view, set_password


async def _require_row(work: Work, model: Any, key: Any, field: str) -> None:
    if key is not None and await work.session.get(model, key) is None:
        raise bad_request(f"{field} refers to nothing", {field: [f"no such {model.__tablename__}"]})


class LocationResource(ModelResource):
    name = "location"
    model = Location
    schema = schemas.LocationSchema
    filters = ("country_code", "party_id", "name", "city", "postal_code", "country",
               "parking_type", "access", "publish", "last_updated")
    ordering = "created_at"


class ChargePointResource(ModelResource):
    name = "chargepoint"
    model = ChargingStation
    schema = schemas.ChargePointSchema
    filters = ("location_id", "ocpp_version", "vendor", "model", "registration_status",
               "connected", "last_seen", "firmware_version")

    async def prepare(
        self, request: web.Request, work: Work, data: dict[str, Any], obj: Any | None
    ) -> dict[str, Any]:
        if obj is not None and "id" in data and data["id"] != obj.id:
            raise bad_request("a station's id cannot change", {"id": ["read-only after create"]})
        if obj is None and await work.session.get(ChargingStation, data["id"]) is not None:
            raise ApiError(409, "conflict", f"chargepoint {data['id']!r} already exists")
        await _require_row(work, Location, data.get("location_id"), "location_id")
        values = dict(data)
        if "password" in values:
            password = values.pop("password")
            values["password_hash"] = hash_password(password) if password else None
        return values


class ConnectorResource(ModelResource):
    name = "connector"
    model = Connector
    schema = schemas.ConnectorSchema
    operations = ("list", "retrieve", "update")
    filters = ("station_id", "evse_id", "connector_number", "standard", "format", "power_type",
               "status")
    ordering = "station_id"


class EvseResource(ModelResource):
    """An EVSE's OCPI description (evse_id, capabilities, parking …); EVSEs themselves appear
    when stations report them."""

    name = "evse"
    model = Evse
    schema = schemas.EvseSchema
    operations = ("list", "retrieve", "update")
    filters = ("station_id", "evse_number", "uid", "evse_id", "status")
    ordering = "station_id"


class IdTagResource(ModelResource):
    name = "idtag"
    model = IdToken
    schema = schemas.IdTagSchema
    lookup = "id_token"
    filters = ("type", "status", "group_id_token", "user_id", "expiry_date", "issuer")
    ordering = "id_token"
    owner_column = "user_id"

    async def prepare(
        self, request: web.Request, work: Work, data: dict[str, Any], obj: Any | None
    ) -> dict[str, Any]:
        if obj is not None and "id_token" in data and data["id_token"] != obj.id_token:
            raise bad_request("id_token cannot change", {"id_token": ["read-only after create"]})
        if obj is None:
            clash = await work.session.execute(
                select(IdToken.id).where(IdToken.id_token == data["id_token"])
            )
            if clash.first() is not None:
                raise ApiError(409, "conflict", f"idtag {data['id_token']!r} already exists")
        await _require_row(work, User, data.get("user_id"), "user_id")
        return data


class UserResource(ModelResource):
    """Users are addressed by username; personal fields are decrypted only for the response."""

    name = "user"
    model = User
    schema = schemas.UserSchema
    lookup = "username"
    operations = ("list", "retrieve", "update", "delete")
    filters = ("role", "is_active", "socket_type", "created_at", "last_login")
    ordering = "username"
    owner_column = "id"

    def dump(self, request: web.Request, obj: Any) -> dict[str, Any]:
        body: dict[str, Any] = self.schema_obj.dump(public_view(obj, request.app[appkeys.CIPHER]))
        return body

    async def prepare(
        self, request: web.Request, work: Work, data: dict[str, Any], obj: Any | None
    ) -> dict[str, Any]:
        principal = principal_of(request)
        privileged = {"role", "is_active"} & set(data)
        if privileged and (principal is None or principal.role != ADMIN_ROLE):
            raise ApiError(
                403, "permission_denied", f"only {ADMIN_ROLE} may change {sorted(privileged)}"
            )
        if principal is not None and obj is not None and obj.id == principal.user_id and (
            data.get("role", obj.role) != obj.role or data.get("is_active") is False
        ):
            raise ApiError(403, "permission_denied", "you cannot demote or deactivate yourself")
        return data

    async def apply(self, request: web.Request, work: Work, obj: Any, data: dict[str, Any]) -> None:
        cipher = request.app[appkeys.CIPHER]
        for key, value in data.items():
            if key == "password":
                set_password(obj, value)
            elif key in ("first_name", "last_name"):
                setattr(obj, f"{key}_enc", cipher.encrypt(value))
            else:
                setattr(obj, key, value)
        if data.get("is_active") is False or "role" in data:
            obj.token_epoch += 1

    async def before_delete(self, request: web.Request, work: Work, obj: Any) -> None:
        principal = principal_of(request)
        if principal is not None and obj.id == principal.user_id:
            raise ApiError(403, "permission_denied", "you cannot delete your own account")


class TaskResource(ModelResource):
    name = "task"
    model = Task
    schema = schemas.TaskSchema
    operations = ("list", "retrieve", "delete")
    filters = ("station_id", "action", "status", "created_at")
    ordering = "created_at"
    owner_column = "user_id"


class TransactionResource(ModelResource):
    """Charging sessions; created by the stations, so read and delete only (seed 000 Fig. 16)."""

    name = "transaction"
    model = Transaction
    schema = schemas.TransactionSchema
    operations = ("list", "retrieve", "delete")
    filters = ("station_id", "status", "id_token", "connector_number", "evse_number", "user_id",
               "started_at", "stopped_at", "flagged", "energy_wh")
    ordering = "started_at"
    owner_column = "user_id"


class ReservationResource(ModelResource):
    """Reservations are made through the stations' ReserveNow; read-only here."""

    name = "reservation"
    model = Reservation
    schema = schemas.ReservationSchema
    operations = ("list", "retrieve")
    filters = ("station_id", "status", "id_token", "user_id", "expiry_date", "connector_number")
    ordering = "created_at"
    owner_column = "user_id"


class ChargingProfileResource(ModelResource):
    """Operator-defined charging profiles (templates) and the copies sent to stations."""

    name = "chargingprofile"
    model = ChargingProfile
    schema = schemas.ChargingProfileSchema
    filters = ("station_id", "purpose", "kind", "status", "stack_level", "source",
               "transaction_id", "created_at")
    ordering = "created_at"

    def load(self, data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
        loaded = super().load(data, partial=partial)
        if "schedule" in loaded:  # stored as JSON: decimals and times as JSON values
            loaded["schedule"] = json.loads(dumps(loaded["schedule"]))
        return loaded


class ScopedListResource(ModelResource):
    """A read-only list addressed by a parent in the path (``/api/{name}/{parent}/``)."""

    operations = ("list",)
    parent: ClassVar[str]
    permission: ClassVar[str]

    def base_query(self, request: web.Request) -> Select[Any]:
        return select(self.model).where(
            self.column(self.parent) == self.path_value(request, self.parent)
        )

    def routes(self) -> list[Route]:
        return [Route("GET", f"/api/{self.name}/{{{self.parent}}}/", self.list_view,
                      self.permission, f"{self.name}-list", f"List {self.name} records",
                      (self.name,), response_schema=self.schema,
                      query_params=self._query_docs())]


class SampledValueResource(ScopedListResource):
    """Meter values of one transaction, oldest first."""

    name = "sampledvalue"
    model = MeterValue
    schema = schemas.SampledValueSchema
    parent = "transaction_id"
    permission = "transaction:read"
    filters = ("measurand", "phase", "unit", "context", "location", "timestamp")
    ordering = "timestamp"

    def base_query(self, request: web.Request) -> Select[Any]:
        stmt = super().base_query(request)
        principal = principal_of(request)
        if request.get(SCOPE) == "own":
            owner = principal.user_id if principal else None
            stmt = stmt.join(Transaction, Transaction.id == MeterValue.transaction_id).where(
                Transaction.user_id == owner)
        return stmt


class StatusNotificationResource(ScopedListResource):
    """The status history a station reported, oldest first."""

    name = "statusnotification"
    model = StatusNotification
    schema = schemas.StatusNotificationSchema
    parent = "station_id"
    permission = "chargepoint:read"
    filters = ("connector_number", "evse_number", "status", "error_code", "timestamp")
    ordering = "timestamp"


class ProtocolDeviationResource(ModelResource):
    """The audit log of messages lenient stations sent against the schema; read-only.

    Its own permission, not ``chargepoint:read``: the validation errors quote payload values
    (id tags among them), which drivers and vendors must not read.
    """

    name = "protocoldeviation"
    model = ProtocolDeviation
    schema = schemas.ProtocolDeviationSchema
    operations = ("list", "retrieve")
    filters = ("station_id", "action", "received_at")
    ordering = "received_at"


RESOURCES: tuple[type[ModelResource], ...] = (
    VehicleResource,
    LocationResource,
    ChargePointResource,
    ConnectorResource,
    EvseResource,
    IdTagResource,
    UserResource,
    TaskResource,
    TransactionResource,
    ReservationResource,
    ChargingProfileResource,
    SampledValueResource,
    StatusNotificationResource,
    ProtocolDeviationResource,
)
