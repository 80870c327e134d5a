"""Provisioning (OCPP 2.x block B): boot, heartbeat, connector status and the device model.

The device model is one :class:`DeviceVariable` row per attribute of a variable of a component,
whoever told us last: a NotifyReport part as it arrives, the values GetVariables read and
SetVariables wrote, and the actual values NotifyEvent carries (:mod:`.maintenance`). A report
requested by GetBaseReport/GetReport arrives in parts (``seqNo``, ``tbc``); each part is stored
as it comes, so nothing waits on a part that never arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, ClassVar, NamedTuple, TypeVar

from marshmallow import Schema, fields
from ocpp.exceptions import OccurrenceConstraintViolationError, PropertyConstraintViolationError
from ocpp.routing import on
from sqlalchemy import select

from core import appkeys, stations
from core.db import Work
from core.db.types import utcnow
from core.events import Event
from core.ocpp.times import iso, parse_time
from core.rest.resource import ModelResource
from core.rest.routes import Route
from plugins.ocpp201.base import Effect, HandlerBase
from plugins.ocpp201.models import DeviceVariable

log = logging.getLogger(__name__)
K = TypeVar("K")
READ = "ocpp201:read"
# A value set on these is never kept, even when the station accepted it (write-only secrets).
SECRET_VARIABLES = frozenset({"BasicAuthPassword"})
# SetVariables results whose value is the station's from now on (or from its next reboot).
WRITTEN = ("Accepted", "RebootRequired")
# Decimal columns are NUMERIC(18, 6): twelve integer digits, six decimals.
DECIMAL_BOUND = Decimal(10) ** 12
MICRO = Decimal("0.000001")


class VariableKey(NamedTuple):
    """The natural key of a :class:`DeviceVariable` row within its station."""

    component_name: str
    component_instance: str
    evse_id: int
    connector_id: int
    variable_name: str
    variable_instance: str
    attribute_type: str


def located(component: Mapping[str, Any], variable: Mapping[str, Any]) -> dict[str, Any]:
    """Which variable of which component, as columns (absent parts as ``""`` / ``0``)."""
    evse = component.get("evse") or {}
    return {"component_name": component["name"],
            "component_instance": component.get("instance") or "",
            "evse_id": evse.get("id", 0), "connector_id": evse.get("connector_id", 0),
            "variable_name": variable["name"],
            "variable_instance": variable.get("instance") or ""}


def variable_key(component: Mapping[str, Any], variable: Mapping[str, Any],
                 attribute_type: str | None = None) -> VariableKey:
    """OCPP's default attribute type is ``Actual``."""
    return VariableKey(**located(component, variable), attribute_type=attribute_type or "Actual")


def key_of(row: DeviceVariable) -> VariableKey:
    return VariableKey(*(getattr(row, name) for name in VariableKey._fields))


def non_negative(name: str, value: int) -> int:
    """OCPP 2.1's schemas say ``minimum: 0`` where 2.0.1's only say so in prose."""
    if value < 0:
        raise PropertyConstraintViolationError(details={"cause": f"{name} {value} is negative"})
    return value


def checked(component: Mapping[str, Any]) -> Mapping[str, Any]:
    """A component from a station, refused if it names a negative EVSE or connector."""
    evse = component.get("evse") or {}
    non_negative(f"{component['name']}: evse id", evse.get("id", 0))
    non_negative(f"{component['name']}: connector id", evse.get("connector_id", 0))
    return component


def add_once(rows: dict[K, dict[str, Any]], key: K, values: dict[str, Any], what: str) -> None:
    """Collect one entry per key; a repeat is harmless only when it says the same thing."""
    if rows.setdefault(key, values) != values:
        raise OccurrenceConstraintViolationError(
            details={"cause": f"{what} appears twice with different contents"})


def storable_decimal(number: float | None) -> Decimal | None:
    """A JSON number as a decimal column keeps it; ``None`` when it has no room for it."""
    if number is None:
        return None
    value = Decimal(str(number))
    if not value.is_finite() or abs(value) >= DECIMAL_BOUND:
        return None
    return value.quantize(MICRO)


def _limit(station_id: str, key: VariableKey, number: float | None) -> Decimal | None:
    value = storable_decimal(number)
    if value is None and number is not None:
        log.warning("%s: %s.%s limit %s is beyond what is stored; kept empty", station_id,
                    key.component_name, key.variable_name, number)
    return value


def _characteristics(station_id: str, key: VariableKey,
                     traits: Mapping[str, Any] | None) -> dict[str, Any]:
    """Columns from variableCharacteristics; a report without them leaves the stored ones."""
    if traits is None:
        return {}
    return {"data_type": traits["data_type"], "unit": traits.get("unit"),
            "min_limit": _limit(station_id, key, traits.get("min_limit")),
            "max_limit": _limit(station_id, key, traits.get("max_limit")),
            "values_list": traits.get("values_list"),
            "supports_monitoring": traits["supports_monitoring"]}


def report_rows(station_id: str, report_data: Iterable[Mapping[str, Any]]
                ) -> dict[VariableKey, dict[str, Any]]:
    """What one NotifyReport part says, one entry per attribute, with the spec's defaults."""
    rows: dict[VariableKey, dict[str, Any]] = {}
    for entry in report_data:
        component = checked(entry["component"])
        for attribute in entry["variable_attribute"]:
            key = variable_key(component, entry["variable"], attribute.get("type"))
            values = {"value": attribute.get("value"),
                      "mutability": attribute.get("mutability", "ReadWrite"),
                      "persistent": attribute.get("persistent", False),
                      "constant": attribute.get("constant", False),
                      **_characteristics(station_id, key,
                                         entry.get("variable_characteristics"))}
            add_once(rows, key, values,
                     f"{key.component_name}.{key.variable_name} ({key.attribute_type})")
    return rows


async def stored_variables(work: Work, station_id: str,
                           keys: Iterable[VariableKey]) -> dict[VariableKey, DeviceVariable]:
    """The rows already kept for ``keys``, found with one query."""
    wanted = list(keys)
    if not wanted:
        return {}
    query = select(DeviceVariable).where(
        DeviceVariable.station_id == station_id,
        DeviceVariable.component_name.in_({key.component_name for key in wanted}),
        DeviceVariable.variable_name.in_({key.variable_name for key in wanted}))
    return {key_of(row): row for row in (await work.session.execute(query)).scalars()}


def apply_variables(work: Work, station_id: str, stored: dict[VariableKey, DeviceVariable],
                    values: Mapping[VariableKey, Mapping[str, Any]]) -> None:
    """Insert or update by natural key; the value of a write-only variable is never kept."""
    for key, columns in values.items():
        row = stored.get(key)
        if row is None:
            row = stored[key] = DeviceVariable(station_id=station_id, **key._asdict())
            work.session.add(row)
        for name, value in columns.items():
            setattr(row, name, value)
        if row.mutability == "WriteOnly" or key.variable_name in SECRET_VARIABLES:
            row.value = None


async def put_variables(work: Work, station_id: str,
                        values: Mapping[VariableKey, Mapping[str, Any]]) -> None:
    apply_variables(work, station_id, await stored_variables(work, station_id, values), values)


async def get_variables(work: Work, station_id: str, request: dict[str, Any],
                        answer: dict[str, Any]) -> None:
    """What the station read out is its value of that attribute now."""
    await put_variables(work, station_id, {
        variable_key(result["component"], result["variable"], result.get("attribute_type")):
            {"value": result["attribute_value"]}
        for result in answer["get_variable_result"]
        if result["attribute_status"] == "Accepted" and "attribute_value" in result})


async def set_variables(work: Work, station_id: str, request: dict[str, Any],
                        answer: dict[str, Any]) -> None:
    """Keep what the station took; the event tells who waits on it whether a reboot is due."""
    asked = {variable_key(item["component"], item["variable"], item.get("attribute_type")):
             item["attribute_value"] for item in request["set_variable_data"]}
    results = answer["set_variable_result"]
    written: dict[VariableKey, dict[str, Any]] = {}
    for result in results:
        key = variable_key(result["component"], result["variable"], result.get("attribute_type"))
        if result["attribute_status"] in WRITTEN and key in asked:
            written[key] = {"value": asked[key]}
    await put_variables(work, station_id, written)
    work.emit(Event("station.variables_set", {
        "id": station_id,
        "results": [{**located(r["component"], r["variable"]),
                     "attribute_type": r.get("attribute_type", "Actual"),
                     "status": r["attribute_status"]} for r in results],
        "reboot_required": any(r["attribute_status"] == "RebootRequired" for r in results)}))


async def report_requested(work: Work, station_id: str, request: dict[str, Any],
                           answer: dict[str, Any]) -> None:
    """The request id is what the NotifyReport parts (``station.report_received``) will carry."""
    work.emit(Event("station.report_requested", {
        "id": station_id, "request_id": request["request_id"],
        "report_base": request.get("report_base"), "status": answer["status"]}))


async def set_network_profile(work: Work, station_id: str, request: dict[str, Any],
                              answer: dict[str, Any]) -> None:
    """Only the slot and the outcome: the profile itself carries passwords."""
    work.emit(Event("station.network_profile_set", {
        "id": station_id, "configuration_slot": request["configuration_slot"],
        "status": answer["status"]}))


async def reset(work: Work, station_id: str, request: dict[str, Any],
                answer: dict[str, Any]) -> None:
    work.emit(Event("station.reset_requested", {
        "id": station_id, "type": request["type"], "evse_id": request.get("evse_id"),
        "status": answer["status"]}))


class ProvisioningHandlers(HandlerBase):
    OWN_EFFECTS: ClassVar[dict[str, Effect]] = {
        "GetVariables": get_variables,
        "SetVariables": set_variables,
        "GetBaseReport": report_requested,
        "GetReport": report_requested,
        "SetNetworkProfile": set_network_profile,
        "Reset": reset,
    }

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

    @on("NotifyReport")
    async def on_notify_report(self, request_id: int, generated_at: str, seq_no: int,
                               report_data: list[dict[str, Any]] | None = None,
                               tbc: bool = False, **_: Any) -> dict[str, Any]:
        non_negative("seqNo", seq_no)
        generated = parse_time(generated_at)
        rows = report_rows(self.id, report_data or [])

        async def store(work: Work) -> None:
            await put_variables(work, self.id, rows)
            if not tbc:
                work.emit(Event("station.report_received", {
                    "id": self.id, "request_id": request_id, "seq_no": seq_no,
                    "generated_at": iso(generated)}))

        await self._write(store)
        return {}


class DeviceVariableSchema(Schema):
    id = fields.Integer(dump_only=True)
    station_id = fields.String(dump_only=True)
    component_name = fields.String(dump_only=True)
    component_instance = fields.String(dump_only=True, metadata={
        "description": "Empty when the component has no instance."})
    evse_id = fields.Integer(dump_only=True, metadata={"description": "0: the whole station."})
    connector_id = fields.Integer(dump_only=True, metadata={"description": "0: no connector."})
    variable_name = fields.String(dump_only=True)
    variable_instance = fields.String(dump_only=True)
    attribute_type = fields.String(dump_only=True, metadata={
        "description": "Actual, Target, MinSet or MaxSet."})
    value = fields.String(dump_only=True, allow_none=True, metadata={
        "description": "Never kept for write-only variables."})
    mutability = fields.String(dump_only=True, allow_none=True)
    persistent = fields.Boolean(dump_only=True, allow_none=True)
    constant = fields.Boolean(dump_only=True, allow_none=True)
    data_type = fields.String(dump_only=True, allow_none=True)
    unit = fields.String(dump_only=True, allow_none=True)
    min_limit = fields.Decimal(dump_only=True, allow_none=True)
    max_limit = fields.Decimal(dump_only=True, allow_none=True)
    values_list = fields.String(dump_only=True, allow_none=True)
    supports_monitoring = fields.Boolean(dump_only=True, allow_none=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class StationRecords(ModelResource):
    """A read-only list of what OCPP 2.x stations report, at ``/api/ocpp201/{name}/``."""

    operations = ("list",)
    permission: ClassVar[str] = READ

    def routes(self) -> list[Route]:
        return [Route("GET", f"/api/ocpp201/{self.name}/", self.list_view, self.permission,
                      f"ocpp201-{self.name}-list", f"List {self.name} records", ("ocpp201",),
                      response_schema=self.schema, query_params=self._query_docs())]


class DeviceModelResource(StationRecords):
    """The device model of each station, one row per attribute."""

    name = "devicemodel"
    model = DeviceVariable
    schema = DeviceVariableSchema
    filters = ("station_id", "component_name", "component_instance", "evse_id", "connector_id",
               "variable_name", "variable_instance", "attribute_type", "mutability",
               "data_type", "supports_monitoring", "updated_at")
    ordering = "component_name"


def routes() -> list[Route]:
    """REST routes of this block (read access to what it stores)."""
    return DeviceModelResource().routes()
