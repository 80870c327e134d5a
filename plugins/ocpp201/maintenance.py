"""Availability, firmware, diagnostics logs, security events, NotifyEvent, monitoring, customer
information, display messages and DataTransfer (blocks G, J, L, N, O, P).

Firmware and log upload statuses are kept on the station as for OCPP 1.6 stations; security
events go to the core's security log. Monitors and display messages are kept per station by
the id the station gave them, from its reports and from its answers to our requests. Events a
station notifies are published one by one (``station.event``) and keep the device model's
actual values current.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from marshmallow import Schema, fields
from ocpp.exceptions import FormatViolationError, PropertyConstraintViolationError
from ocpp.routing import on
from sqlalchemy import delete, select

from core import stations
from core.db import Work
from core.db.models import SecurityEvent
from core.db.types import utcnow
from core.events import Event
from core.ocpp.times import iso, parse_time
from core.rest.routes import Route
from plugins.ocpp201.base import Effect, HandlerBase
from plugins.ocpp201.models import CustomerReport, DisplayMessage, VariableMonitor
from plugins.ocpp201.provisioning import (
    StationRecords,
    VariableKey,
    add_once,
    checked,
    located,
    non_negative,
    put_variables,
    storable_decimal,
    variable_key,
)

log = logging.getLogger(__name__)
MAX_SEVERITY = 9  # OCPP 2.x severities run from 0 (danger) to 9 (debug)
# Answers after which a monitor or message is no longer on the station (NotFound / Unknown:
# it was not there to begin with, so our record of it is stale).
MONITOR_GONE = ("Accepted", "NotFound")
MESSAGE_GONE = ("Accepted", "Unknown")


# ---- station to CSMS: what the payloads become -------------------------------------------


def severity(value: int) -> int:
    if not 0 <= value <= MAX_SEVERITY:
        raise PropertyConstraintViolationError(
            details={"cause": f"severity {value} is outside 0-{MAX_SEVERITY}"})
    return value


def reported_monitors(monitor: Iterable[Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
    """The monitors of one NotifyMonitoringReport part, by the id the station gave them."""
    monitors: dict[int, dict[str, Any]] = {}
    for data in monitor:
        where = located(checked(data["component"]), data["variable"])
        for item in data["variable_monitoring"]:
            value = storable_decimal(item["value"])
            if value is None:
                raise PropertyConstraintViolationError(
                    details={"cause": f"monitor {item['id']}: value {item['value']} is out of "
                                      "range"})
            add_once(monitors, non_negative("monitor id", item["id"]), {
                **where, "type": item["type"], "value": value,
                "severity": severity(item["severity"]), "transaction": item["transaction"]},
                f"monitor {item['id']}")
    return monitors


def notified(station_id: str, item: Mapping[str, Any]) -> dict[str, Any]:
    """One eventData as the data of a ``station.event``."""
    return {"id": station_id, "event_id": non_negative("eventId", item["event_id"]),
            "timestamp": iso(parse_time(item["timestamp"])), "trigger": item["trigger"],
            "cause": item.get("cause"),
            "event_notification_type": item["event_notification_type"],
            **located(checked(item["component"]), item["variable"]),
            "actual_value": item["actual_value"], "cleared": item.get("cleared", False),
            "tech_code": item.get("tech_code"), "tech_info": item.get("tech_info"),
            "transaction_id": item.get("transaction_id"),
            "variable_monitoring_id": item.get("variable_monitoring_id"),
            "severity": item.get("severity")}


def newest_actuals(items: Iterable[Mapping[str, Any]]) -> dict[VariableKey, dict[str, Any]]:
    """The latest actual value each event reports, by variable (events can come out of order)."""
    newest: dict[VariableKey, tuple[dt.datetime, str]] = {}
    for item in items:
        key = variable_key(item["component"], item["variable"])
        when = parse_time(item["timestamp"])
        if key not in newest or newest[key][0] <= when:
            newest[key] = (when, item["actual_value"])
    return {key: {"value": value} for key, (_, value) in newest.items()}


def _time(value: str | None) -> dt.datetime | None:
    """A time from a CSMS request: REST bodies are schema-checked without date-time formats."""
    if value is None:
        return None
    try:
        return parse_time(value)
    except FormatViolationError:
        return None


def display_columns(info: Mapping[str, Any]) -> dict[str, Any]:
    """A MessageInfo as :class:`DisplayMessage` columns (OCPP 2.1's messageExtra is not kept)."""
    display = info.get("display")
    return {"priority": info["priority"], "state": info.get("state"),
            "start_at": _time(info.get("start_date_time")),
            "end_at": _time(info.get("end_date_time")),
            "transaction_uid": info.get("transaction_id"), "message": dict(info["message"]),
            "display": None if display is None else dict(display)}


def reported_messages(message_info: Iterable[Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
    messages: dict[int, dict[str, Any]] = {}
    for info in message_info:
        if info.get("display") is not None:
            checked(info["display"])
        add_once(messages, non_negative("message id", info["id"]), display_columns(info),
                 f"display message {info['id']}")
    return messages


def transfer_text(data: Any) -> str | None:
    """OCPP 2.x DataTransfer data is any JSON value; plugins get it as text, as from 1.6."""
    if data is None or isinstance(data, str):
        return data
    return json.dumps(data, separators=(",", ":"))


# ---- storing by the station's ids ----------------------------------------------------------


async def put_monitors(work: Work, station_id: str,
                       monitors: Mapping[int, Mapping[str, Any]]) -> None:
    """Insert or update monitors by the id the station gave them."""
    if not monitors:
        return
    stored = {row.monitor_id: row for row in (await work.session.execute(
        select(VariableMonitor).where(VariableMonitor.station_id == station_id,
                                      VariableMonitor.monitor_id.in_(monitors)))).scalars()}
    for monitor_id, columns in monitors.items():
        row = stored.get(monitor_id)
        if row is None:
            row = VariableMonitor(station_id=station_id, monitor_id=monitor_id)
            work.session.add(row)
        for name, value in columns.items():
            setattr(row, name, value)


async def stored_messages(work: Work, station_id: str,
                          ids: Iterable[int]) -> dict[int, DisplayMessage]:
    query = select(DisplayMessage).where(DisplayMessage.station_id == station_id,
                                         DisplayMessage.message_id.in_(list(ids)))
    return {row.message_id: row for row in (await work.session.execute(query)).scalars()}


async def put_messages(work: Work, station_id: str,
                       messages: Mapping[int, Mapping[str, Any]]) -> None:
    """Insert or update display messages by the id the station knows them by."""
    if not messages:
        return
    stored = await stored_messages(work, station_id, messages)
    for message_id, columns in messages.items():
        row = stored.get(message_id)
        if row is None:
            row = DisplayMessage(station_id=station_id, message_id=message_id)
            work.session.add(row)
        for name, value in columns.items():
            setattr(row, name, value)


# ---- CSMS to station: what the answers change ---------------------------------------------


def _monitor_request_key(where: Mapping[str, Any], item: Mapping[str, Any]) -> tuple[Any, ...]:
    return (*where.values(), item["type"], item["severity"])


async def set_variable_monitoring(work: Work, station_id: str, request: dict[str, Any],
                                  answer: dict[str, Any]) -> None:
    """Keep each accepted monitor under the id the station assigned.

    A result repeats the component, variable, type and severity but not the value, so results
    are paired with the requested monitors on those, in order.
    """
    asked: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for item in request["set_monitoring_data"]:
        where = located(item["component"], item["variable"])
        asked.setdefault(_monitor_request_key(where, item), []).append(item)
    results = answer["set_monitoring_result"]
    monitors: dict[int, dict[str, Any]] = {}
    for result in results:
        where = located(result["component"], result["variable"])
        pending = asked.get(_monitor_request_key(where, result)) or []
        if result["status"] != "Accepted" or not pending:
            continue
        item = pending.pop(0)
        value = storable_decimal(item["value"])
        if result.get("id") is None or value is None:
            log.warning("%s: accepted monitor %s on %s.%s not kept (no id or value out of "
                        "range)", station_id, result.get("id"), where["component_name"],
                        where["variable_name"])
            continue
        monitors[result["id"]] = {**where, "type": result["type"], "value": value,
                                  "severity": result["severity"],
                                  "transaction": item.get("transaction", False),
                                  "status": result["status"]}
    await put_monitors(work, station_id, monitors)
    work.emit(Event("station.monitors_set", {"id": station_id, "results": [
        {"monitor_id": r.get("id"), "status": r["status"], "type": r["type"],
         **located(r["component"], r["variable"])} for r in results]}))


async def clear_variable_monitoring(work: Work, station_id: str, request: dict[str, Any],
                                    answer: dict[str, Any]) -> None:
    results = answer["clear_monitoring_result"]
    gone = [result["id"] for result in results if result["status"] in MONITOR_GONE]
    if gone:
        await work.session.execute(delete(VariableMonitor).where(
            VariableMonitor.station_id == station_id, VariableMonitor.monitor_id.in_(gone)))
    work.emit(Event("station.monitors_cleared", {"id": station_id, "results": [
        {"monitor_id": r["id"], "status": r["status"]} for r in results]}))


async def set_monitoring_base(work: Work, station_id: str, request: dict[str, Any],
                              answer: dict[str, Any]) -> None:
    """Which preconfigured monitors are active is the station's; GetMonitoringReport tells."""
    work.emit(Event("station.monitoring_base_set", {
        "id": station_id, "monitoring_base": request["monitoring_base"],
        "status": answer["status"]}))


async def set_monitoring_level(work: Work, station_id: str, request: dict[str, Any],
                               answer: dict[str, Any]) -> None:
    work.emit(Event("station.monitoring_level_set", {
        "id": station_id, "severity": request["severity"], "status": answer["status"]}))


async def get_monitoring_report(work: Work, station_id: str, request: dict[str, Any],
                                answer: dict[str, Any]) -> None:
    """The request id is what the NotifyMonitoringReport parts will carry."""
    work.emit(Event("station.monitoring_report_requested", {
        "id": station_id, "request_id": request["request_id"], "status": answer["status"]}))


async def set_display_message(work: Work, station_id: str, request: dict[str, Any],
                              answer: dict[str, Any]) -> None:
    """An accepted message is kept with its status; a refused one only if it replaces nothing.

    A refused replacement leaves the message the station still shows on record.
    """
    info = request["message"]
    status = answer["status"]
    if status == "Accepted" or not await stored_messages(work, station_id, [info["id"]]):
        await put_messages(work, station_id,
                           {info["id"]: {**display_columns(info), "status": status}})
    work.emit(Event("station.display_message_set", {
        "id": station_id, "message_id": info["id"], "status": status}))


async def clear_display_message(work: Work, station_id: str, request: dict[str, Any],
                                answer: dict[str, Any]) -> None:
    if answer["status"] in MESSAGE_GONE:
        await work.session.execute(delete(DisplayMessage).where(
            DisplayMessage.station_id == station_id, DisplayMessage.message_id == request["id"]))
    work.emit(Event("station.display_message_cleared", {
        "id": station_id, "message_id": request["id"], "status": answer["status"]}))


async def change_availability(work: Work, station_id: str, request: dict[str, Any],
                              answer: dict[str, Any]) -> None:
    """Accepted now or scheduled for after the running transactions; a refusal changes nothing.

    The connectors' own status follows in StatusNotification.
    """
    if answer["status"] not in ("Accepted", "Scheduled"):
        return
    evse = request.get("evse") or {}
    work.emit(Event("station.availability_changed", {
        "id": station_id, "operational_status": request["operational_status"],
        "evse_id": evse.get("id"), "connector_id": evse.get("connector_id"),
        "status": answer["status"]}))


async def unlock_connector(work: Work, station_id: str, request: dict[str, Any],
                           answer: dict[str, Any]) -> None:
    """A failed unlock is what support needs to hear about, so every outcome is published."""
    work.emit(Event("station.connector_unlock", {
        "id": station_id, "evse_id": request["evse_id"], "connector_id": request["connector_id"],
        "status": answer["status"]}))


async def update_firmware(work: Work, station_id: str, request: dict[str, Any],
                          answer: dict[str, Any]) -> None:
    """Progress follows in FirmwareStatusNotification under the same request id."""
    work.emit(Event("station.firmware_update_requested", {
        "id": station_id, "request_id": request["request_id"], "status": answer["status"]}))


async def get_log(work: Work, station_id: str, request: dict[str, Any],
                  answer: dict[str, Any]) -> None:
    """Progress follows in LogStatusNotification under the same request id."""
    work.emit(Event("station.log_requested", {
        "id": station_id, "request_id": request["request_id"], "log_type": request["log_type"],
        "status": answer["status"], "filename": answer.get("filename")}))


async def customer_information(work: Work, station_id: str, request: dict[str, Any],
                               answer: dict[str, Any]) -> None:
    """The report follows in NotifyCustomerInformation parts under the same request id."""
    work.emit(Event("station.customer_information_requested", {
        "id": station_id, "request_id": request["request_id"], "report": request["report"],
        "clear": request["clear"], "status": answer["status"]}))


class MaintenanceHandlers(HandlerBase):
    OWN_EFFECTS: ClassVar[dict[str, Effect]] = {
        "SetVariableMonitoring": set_variable_monitoring,
        "ClearVariableMonitoring": clear_variable_monitoring,
        "SetMonitoringBase": set_monitoring_base,
        "SetMonitoringLevel": set_monitoring_level,
        "GetMonitoringReport": get_monitoring_report,
        "SetDisplayMessage": set_display_message,
        "ClearDisplayMessage": clear_display_message,
        "ChangeAvailability": change_availability,
        "UnlockConnector": unlock_connector,
        "UpdateFirmware": update_firmware,
        "GetLog": get_log,
        "CustomerInformation": customer_information,
    }

    async def _keep_status(self, kind: str, event: str, status: str, **data: Any) -> None:
        """The latest firmware or log upload status on the station, as for OCPP 1.6."""
        now = utcnow()

        async def store(work: Work) -> None:
            station = await stations.station(work, self.id)
            setattr(station, f"{kind}_status", status)
            setattr(station, f"{kind}_status_at", now)
            work.emit(Event(event, {"id": self.id, "status": status, **data}))

        await self._write(store, station=True)

    @on("FirmwareStatusNotification")
    async def on_firmware_status(self, status: str, request_id: int | None = None,
                                 **_: Any) -> dict[str, Any]:
        await self._keep_status("firmware", "station.firmware_status", status,
                                request_id=request_id)
        return {}

    @on("PublishFirmwareStatusNotification")
    async def on_publish_firmware_status(self, status: str, request_id: int | None = None,
                                         location: list[str] | None = None,
                                         **_: Any) -> dict[str, Any]:
        await self._keep_status("firmware", "station.publish_firmware_status", status,
                                request_id=request_id, location=location or [])
        return {}

    @on("LogStatusNotification")
    async def on_log_status(self, status: str, request_id: int | None = None,
                            **_: Any) -> dict[str, Any]:
        await self._keep_status("log", "station.log_status", status, request_id=request_id)
        return {}

    @on("SecurityEventNotification")
    async def on_security_event(self, type: str, timestamp: str, tech_info: str | None = None,
                                **_: Any) -> dict[str, Any]:
        when = parse_time(timestamp)

        async def store(work: Work) -> None:
            repeated = (await work.session.execute(select(SecurityEvent.id).where(
                SecurityEvent.station_id == self.id, SecurityEvent.timestamp == when,
                SecurityEvent.type == type, SecurityEvent.tech_info == tech_info))).first()
            if repeated is not None:  # the station resent it: one entry in the log
                return
            work.session.add(SecurityEvent(station_id=self.id, type=type, timestamp=when,
                                           tech_info=tech_info))
            work.emit(Event("station.security_event", {
                "id": self.id, "type": type, "timestamp": iso(when), "tech_info": tech_info}))

        await self._write(store)
        return {}

    @on("NotifyEvent")
    async def on_notify_event(self, generated_at: str, seq_no: int,
                              event_data: list[dict[str, Any]], tbc: bool = False,
                              **_: Any) -> dict[str, Any]:
        non_negative("seqNo", seq_no)
        parse_time(generated_at)
        published = [notified(self.id, item) for item in event_data]
        actuals = newest_actuals(event_data)

        async def store(work: Work) -> None:
            await put_variables(work, self.id, actuals)
            for data in published:
                work.emit(Event("station.event", data))

        await self._write(store)
        return {}

    @on("NotifyMonitoringReport")
    async def on_monitoring_report(self, request_id: int, seq_no: int, generated_at: str,
                                   monitor: list[dict[str, Any]] | None = None,
                                   tbc: bool = False, **_: Any) -> dict[str, Any]:
        non_negative("seqNo", seq_no)
        generated = parse_time(generated_at)
        monitors = reported_monitors(monitor or [])

        async def store(work: Work) -> None:
            await put_monitors(work, self.id, monitors)
            if not tbc:
                work.emit(Event("station.monitoring_report_received", {
                    "id": self.id, "request_id": request_id, "seq_no": seq_no,
                    "generated_at": iso(generated)}))

        await self._write(store)
        return {}

    @on("NotifyCustomerInformation")
    async def on_customer_information(self, data: str, seq_no: int, generated_at: str,
                                      request_id: int, tbc: bool = False,
                                      **_: Any) -> dict[str, Any]:
        non_negative("seqNo", seq_no)
        generated = parse_time(generated_at)

        async def store(work: Work) -> None:
            part = (await work.session.execute(select(CustomerReport).where(
                CustomerReport.station_id == self.id, CustomerReport.request_id == request_id,
                CustomerReport.seq_no == seq_no))).scalars().first()
            if part is None:
                part = CustomerReport(station_id=self.id, request_id=request_id, seq_no=seq_no)
                work.session.add(part)
            part.tbc, part.generated_at, part.data = tbc, generated, data
            if not tbc:
                work.emit(Event("station.customer_information", {
                    "id": self.id, "request_id": request_id, "seq_no": seq_no}))

        await self._write(store)
        return {}

    @on("NotifyDisplayMessages")
    async def on_display_messages(self, request_id: int,
                                  message_info: list[dict[str, Any]] | None = None,
                                  tbc: bool = False, **_: Any) -> dict[str, Any]:
        messages = reported_messages(message_info or [])

        async def store(work: Work) -> None:
            await put_messages(work, self.id, messages)
            if not tbc:
                work.emit(Event("station.display_messages_received", {
                    "id": self.id, "request_id": request_id}))

        await self._write(store)
        return {}

    @on("DataTransfer")
    async def on_data_transfer(self, vendor_id: str, message_id: str | None = None,
                               data: Any = None, **_: Any) -> dict[str, Any]:
        reply = await stations.data_transfer(self.app, self.id, vendor_id, message_id,
                                             transfer_text(data))
        return {"status": reply.status, "data": reply.data}


# ---- REST: read access to what this block stores -------------------------------------------


class VariableMonitorSchema(Schema):
    id = fields.Integer(dump_only=True)
    station_id = fields.String(dump_only=True)
    monitor_id = fields.Integer(dump_only=True, metadata={
        "description": "The id the station gave the monitor."})
    component_name = fields.String(dump_only=True)
    component_instance = fields.String(dump_only=True)
    evse_id = fields.Integer(dump_only=True)
    connector_id = fields.Integer(dump_only=True)
    variable_name = fields.String(dump_only=True)
    variable_instance = fields.String(dump_only=True)
    type = fields.String(dump_only=True)
    value = fields.Decimal(dump_only=True)
    severity = fields.Integer(dump_only=True)
    transaction = fields.Boolean(dump_only=True)
    status = fields.String(dump_only=True, allow_none=True, metadata={
        "description": "The station's answer when we set it; empty for reported monitors."})
    updated_at = fields.AwareDateTime(dump_only=True)


class DisplayMessageSchema(Schema):
    id = fields.Integer(dump_only=True)
    station_id = fields.String(dump_only=True)
    message_id = fields.Integer(dump_only=True)
    priority = fields.String(dump_only=True)
    state = fields.String(dump_only=True, allow_none=True)
    start_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    end_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    transaction_uid = fields.String(dump_only=True, allow_none=True)
    message = fields.Dict(dump_only=True, metadata={
        "description": "OCPP MessageContent: format, language, content."})
    display = fields.Dict(dump_only=True, allow_none=True)
    status = fields.String(dump_only=True, allow_none=True, metadata={
        "description": "The station's answer to SetDisplayMessage; empty for reported ones."})
    updated_at = fields.AwareDateTime(dump_only=True)


class CustomerReportSchema(Schema):
    id = fields.Integer(dump_only=True)
    station_id = fields.String(dump_only=True)
    request_id = fields.Integer(dump_only=True)
    seq_no = fields.Integer(dump_only=True)
    tbc = fields.Boolean(dump_only=True, metadata={"description": "More parts follow."})
    generated_at = fields.AwareDateTime(dump_only=True)
    data = fields.String(dump_only=True)
    received_at = fields.AwareDateTime(dump_only=True)


class VariableMonitorResource(StationRecords):
    """The monitors set on each station's variables."""

    name = "variablemonitor"
    model = VariableMonitor
    schema = VariableMonitorSchema
    filters = ("station_id", "monitor_id", "component_name", "evse_id", "variable_name", "type",
               "severity", "status", "updated_at")
    ordering = "monitor_id"


class DisplayMessageResource(StationRecords):
    """The messages each station shows (or was asked to)."""

    name = "displaymessage"
    model = DisplayMessage
    schema = DisplayMessageSchema
    filters = ("station_id", "message_id", "priority", "state", "status", "transaction_uid",
               "updated_at")
    ordering = "message_id"


class CustomerReportResource(StationRecords):
    """The parts of customer-information reports; a report is its parts by ``seq_no``.

    Personal data: readable only with ``ocpp201:customer_read`` (not support level 1 or vendors).
    """

    name = "customerreport"
    permission = "ocpp201:customer_read"
    model = CustomerReport
    schema = CustomerReportSchema
    filters = ("station_id", "request_id", "seq_no", "tbc", "generated_at", "received_at")
    ordering = "received_at"


def routes() -> list[Route]:
    """REST routes of this block (read access to what it stores)."""
    return [route for resource in (VariableMonitorResource, DisplayMessageResource,
                                   CustomerReportResource) for route in resource().routes()]
