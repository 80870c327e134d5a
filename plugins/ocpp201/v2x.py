"""OCPP 2.1 only: V2X operation modes, allowed energy transfer, priority charging, DER control,
dynamic schedules, and the other messages 2.1 added for stations to send.

A V2X profile is an ordinary SetChargingProfile whose periods carry an ``operationMode`` and
the fields that mode needs; :func:`v2x_profile` builds one and checks it against the 2.1 schema
and the rules of each mode. Charging needs and profiles live in the smart-charging tables
(:mod:`plugins.ocpp201.smart_charging`); the rest of this block is published as domain events,
since the domain model has no place for DER settings or payment records.

Priority charging is stored, not only published: it changes what smart charging may do with a
session (the driver wants full power, no discharging), so it is kept in the session's newest
``ChargingNeed.details`` (``priority_charging``), where a planner reading the needs finds it
after a restart too. A session with no need yet gets one from the driver holding only the flag.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from ocpp.routing import on
from sqlalchemy import select

from core.db import Work
from core.db.models import ChargingNeed, ChargingProfile, Transaction
from core.db.types import utcnow
from core.dispatch import InvalidCommand
from core.events import Event
from core.ocpp.guard import Effect, validated_request
from core.ocpp.times import iso, parse_time
from core.rest.routes import Route
from plugins.ocpp201.base import HandlerBase
from plugins.ocpp201.smart_charging import ACTIVE, jsonable, transaction_by_uid

# ---- operation modes -----------------------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    """The period fields an operation mode takes: all of ``required``, at least one of
    ``one_of`` (when given), and any of ``optional``."""

    required: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()
    one_of: frozenset[str] = frozenset()


# Every mode: when the period starts, the phases, and asking the EV/EVSE to prepare or sleep.
ANY_MODE = frozenset({"start_period", "number_phases", "phase_to_use",
                      "preconditioning_request", "evse_sleep"})
# The bounds a mode's own power must stay within: charge up to limit (>= 0), discharge down
# to discharge_limit (<= 0).
BOUNDS = frozenset({"limit", "discharge_limit"})
CURVES = frozenset({"v2x_freq_watt_curve", "v2x_signal_watt_curve"})
MODES = {
    # Charging only, up to limit: no V2X (yet); the default when a period names no mode.
    "ChargingOnly": Mode(required=frozenset({"limit"})),
    # Follow setpoint (negative: discharge) set by the CSMS or an aggregator behind it,
    # optionally within the bounds and with a reactive setpoint.
    "CentralSetpoint": Mode(required=frozenset({"setpoint"}),
                            optional=BOUNDS | {"setpoint_reactive"}),
    # An external actor (an EMS) sets the setpoint outside OCPP; the bounds still apply.
    "ExternalSetpoint": Mode(optional=BOUNDS),
    # An external actor sets the limits outside OCPP; ours, if given, cap them.
    "ExternalLimits": Mode(optional=BOUNDS),
    # Frequency support computed by the CSMS: it keeps updating setpoint as the frequency moves.
    "CentralFrequency": Mode(required=frozenset({"setpoint"}),
                             optional=BOUNDS | {"setpoint_reactive"}),
    # Frequency support computed by the station from its own frequency reading with the
    # power/frequency curve (or from AFRRSignal values with the signal/power curve), added to
    # v2x_baseline.
    "LocalFrequency": Mode(optional=BOUNDS | CURVES | {"v2x_baseline"}, one_of=CURVES),
    # The station compensates the building's load measured at the grid connection, charging
    # and discharging within the bounds. Its thresholds and offsets (seed 001 §5.1: upper and
    # lower threshold, upper and lower offset) are station configuration, not profile fields:
    # the 2.1 schema has no period field for them.
    "LocalLoadBalancing": Mode(optional=BOUNDS),
    # Neither charging nor discharging; evse_sleep lets the EVSE power down meanwhile.
    "Idle": Mode(),
}


def _period(mode: str, period: dict[str, Any]) -> dict[str, Any]:
    """One period of ``mode``, checked; ValueError says what is wrong."""
    rules = MODES[mode]
    given = {key for key, value in period.items() if value is not None}
    if period.get("operation_mode", mode) != mode:
        raise ValueError(f"a {mode} profile has a {period['operation_mode']} period")
    unknown = given - ANY_MODE - rules.required - rules.optional - {"operation_mode"}
    missing = rules.required - given
    if unknown or missing:
        wrong = [f"{sorted(fields)} {what}" for fields, what in ((unknown, "not allowed"),
                                                                 (missing, "missing")) if fields]
        raise ValueError(f"{mode} periods take {sorted(rules.required)} and may take "
                         f"{sorted(rules.optional)}: {', '.join(wrong)}")
    if rules.one_of and not rules.one_of & given:
        raise ValueError(f"{mode} periods need one of {sorted(rules.one_of)}")
    limit, discharge, setpoint = (period.get(k) for k in ("limit", "discharge_limit", "setpoint"))
    if limit is not None and limit < 0:
        raise ValueError("limit is a charging limit: 0 or more")
    if discharge is not None and discharge > 0:
        raise ValueError("discharge_limit is negative (or 0), like a discharging setpoint")
    if setpoint is not None and not (
            (discharge is None or setpoint >= discharge) and (limit is None or setpoint <= limit)):
        raise ValueError(f"setpoint {setpoint} is outside [discharge_limit, limit]")
    return {**{k: v for k, v in period.items() if v is not None}, "operation_mode": mode}


def _check_starts(periods: list[dict[str, Any]]) -> None:
    starts: list[int] = [p["start_period"] for p in periods
                         if isinstance(p.get("start_period"), int)]
    if not starts or len(starts) != len(periods) or starts[0] != 0 or \
            starts != sorted(set(starts)):
        raise ValueError("periods start at 0 and their start_period ascends")


def _schema_checked(request: dict[str, Any]) -> dict[str, Any]:
    """``request`` if it is what the 2.1 schema allows on the wire."""
    try:
        validated_request("2.1", "SetChargingProfile", jsonable(request))
    except InvalidCommand as error:
        raise ValueError(f"not a valid OCPP 2.1 {error}") from None
    return request


def v2x_profile(mode: str, periods: list[dict[str, Any]], *, profile_id: int, stack_level: int,
                evse_id: int = 0, transaction_id: str | None = None, purpose: str | None = None,
                kind: str = "Absolute", start_schedule: dt.datetime | None = None,
                duration: int | None = None, charging_rate_unit: str = "W",
                schedule_id: int | None = None,
                dyn_update_interval: int | None = None) -> dict[str, Any]:
    """An OCPP 2.1 SetChargingProfile request (snake_case) whose periods run in ``mode``.

    ``periods`` are ChargingSchedulePeriod dicts (``start_period`` plus the mode's fields),
    values in ``charging_rate_unit``, negative for discharging:

    - ``ChargingOnly``: ``limit``.
    - ``CentralSetpoint``, ``CentralFrequency``: ``setpoint``; optionally ``limit``,
      ``discharge_limit``, ``setpoint_reactive``.
    - ``ExternalSetpoint``, ``ExternalLimits``, ``LocalLoadBalancing``: optionally ``limit``
      and ``discharge_limit``.
    - ``LocalFrequency``: ``v2x_freq_watt_curve`` and/or ``v2x_signal_watt_curve``
      (``[{"frequency"|"signal", "power"}]``, power in W); optionally ``v2x_baseline``
      (W), ``limit``, ``discharge_limit``.
    - ``Idle``: nothing.

    Any mode may add ``number_phases``, ``phase_to_use``, ``preconditioning_request`` and
    ``evse_sleep``. The purpose defaults to TxProfile for a ``transaction_id``, else
    TxDefaultProfile; an Absolute profile starts now unless ``start_schedule`` says otherwise.
    A Dynamic profile (``kind="Dynamic"``) with ``dyn_update_interval`` makes the station pull
    updates (PullDynamicScheduleUpdate) that often.
    Per-phase fields (``setpoint_L2``, …) are left out: the ``ocpp`` package cannot send them.
    Raises ValueError for a profile a station would have to refuse.
    """
    if mode not in MODES:
        raise ValueError(f"unknown operation mode {mode!r}; one of {sorted(MODES)}")
    _check_starts(periods)
    purpose = purpose or ("TxProfile" if transaction_id else "TxDefaultProfile")
    if purpose == "TxProfile" and (evse_id == 0 or transaction_id is None):
        raise ValueError("a TxProfile is for one transaction on one EVSE (evse_id > 0)")
    schedule: dict[str, Any] = {
        "id": profile_id if schedule_id is None else schedule_id,
        "charging_rate_unit": charging_rate_unit,
        "charging_schedule_period": [_period(mode, period) for period in periods],
    }
    if kind in ("Absolute", "Recurring"):
        start = start_schedule or utcnow().replace(microsecond=0)
        schedule["start_schedule"] = iso(start)
    if duration is not None:
        schedule["duration"] = duration
    profile: dict[str, Any] = {
        "id": profile_id, "stack_level": stack_level, "charging_profile_purpose": purpose,
        "charging_profile_kind": kind, "charging_schedule": [schedule],
    }
    for key, value in (("transaction_id", transaction_id),
                       ("dyn_update_interval", dyn_update_interval)):
        if value is not None:
            profile[key] = value
    return _schema_checked({"evse_id": evse_id, "charging_profile": profile})


# ---- priority charging and dynamic schedules -----------------------------------------------


async def mark_priority(work: Work, tx: Transaction, activated: bool, at: dt.datetime) -> None:
    """Note in the session's newest need whether priority charging is on."""
    found = await work.session.execute(select(ChargingNeed).where(
        ChargingNeed.transaction_id == tx.id).order_by(ChargingNeed.received_at.desc(),
                                                       ChargingNeed.id.desc()))
    need = found.scalars().first()
    if need is None:
        need = ChargingNeed(station_id=tx.station_id, evse_number=tx.evse_number,
                            transaction_id=tx.id, source="driver", details={})
        work.session.add(need)
    need.details = {**(need.details or {}), "priority_charging": activated,
                    "priority_charging_at": iso(at)}


async def active_profile(work: Work, station_id: str, profile_id: int) -> ChargingProfile | None:
    """The newest copy of a profile the station holds, by its OCPP id."""
    found = await work.session.execute(select(ChargingProfile).where(
        ChargingProfile.station_id == station_id, ChargingProfile.ocpp_profile_id == profile_id,
        ChargingProfile.status.in_(ACTIVE)).order_by(ChargingProfile.id.desc()))
    return found.scalars().first()


UPDATABLE = ("limit", "discharge_limit", "setpoint", "setpoint_reactive")


def current_update(profile: ChargingProfile) -> dict[str, Any]:
    """The values a dynamic profile should have now: the last update the station accepted,
    else those of its first period."""
    schedule = profile.schedule
    if "dynamic_update" in schedule:
        update: dict[str, Any] = schedule["dynamic_update"]
        return update
    periods = (schedule.get("charging_schedules") or [schedule])[0].get(
        "charging_schedule_period") or [{}]
    return {key: periods[0][key] for key in UPDATABLE if periods[0].get(key) is not None}


# ---- effects of CSMS requests --------------------------------------------------------------


def published(name: str) -> Effect:
    """An effect that publishes the request with the station's answer as event ``name``."""

    async def effect(work: Work, station_id: str, request: dict[str, Any],
                     answer: dict[str, Any]) -> None:
        work.emit(Event(name, {**jsonable(request), **answer, "station_id": station_id}))

    return effect


async def update_dynamic_schedule(work: Work, station_id: str, request: dict[str, Any],
                                  answer: dict[str, Any]) -> None:
    """Keep an accepted update with the profile, for a station that pulls it again later."""
    if answer["status"] == "Accepted":
        profile = await active_profile(work, station_id, request["charging_profile_id"])
        if profile is not None:
            profile.schedule = {**profile.schedule,
                                "dynamic_update": jsonable(request["schedule_update"]),
                                "dyn_update_time": iso(utcnow())}
    await published("dynamic_schedule.updated")(work, station_id, request, answer)


VAT_NUMBER = re.compile(r"^[A-Z]{2}[0-9A-Z+*.]{2,12}$")


class V2xHandlers(HandlerBase):
    OWN_EFFECTS: ClassVar[dict[str, Effect]] = {
        "UsePriorityCharging": published("priority_charging.requested"),
        "NotifyAllowedEnergyTransfer": published("allowed_energy_transfer.sent"),
        "SetDERControl": published("der.control_set"),
        "ClearDERControl": published("der.control_cleared"),
        "GetDERControl": published("der.control_requested"),
        "UpdateDynamicSchedule": update_dynamic_schedule,
        "AFRRSignal": published("afrr.signal_sent"),
        "NotifyWebPaymentStarted": published("web_payment.started"),
    }

    async def _publish(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        """Publish ``data`` and answer with nothing; the event goes through the group commit
        so it keeps its order among the events of the station's other messages."""

        async def publish(work: Work) -> None:
            work.emit(Event(name, {**data, "station_id": self.id}))

        await self._write(publish)
        return {}

    @on("NotifyPriorityCharging")
    async def on_notify_priority_charging(self, transaction_id: str, activated: bool,
                                          **_: Any) -> dict[str, Any]:
        now = utcnow()

        async def store(work: Work) -> None:
            tx = await transaction_by_uid(work, self.id, transaction_id)
            if tx is not None:
                await mark_priority(work, tx, activated, now)
            work.emit(Event("priority_charging.notified", {
                "station_id": self.id, "transaction_uid": transaction_id,
                "transaction_id": tx.id if tx else None, "activated": activated}))

        await self._write(store)
        return {}

    @on("PullDynamicScheduleUpdate")
    async def on_pull_dynamic_schedule_update(self, charging_profile_id: int,
                                              **_: Any) -> dict[str, Any]:
        async def read(work: Work) -> dict[str, Any] | None:
            profile = await active_profile(work, self.id, charging_profile_id)
            update = None if profile is None else current_update(profile)
            work.emit(Event("dynamic_schedule.pulled", {
                "station_id": self.id, "profile_id": charging_profile_id,
                "schedule_update": update}))
            return update

        update = await self._write(read)
        if update is None:
            return {"status": "Rejected", "status_info": {
                "reason_code": "UnknownProfile",
                "additional_info": f"no charging profile {charging_profile_id} on record"}}
        return {"status": "Accepted", "schedule_update": update}

    # ---- DER control ----------------------------------------------------------------------

    @on("NotifyDERAlarm")
    async def on_notify_der_alarm(self, control_type: str, timestamp: str,
                                  **extra: Any) -> dict[str, Any]:
        return await self._publish("der.alarm", {
            "control_type": control_type, "timestamp": iso(parse_time(timestamp)),
            "grid_event_fault": extra.get("grid_event_fault"),
            "alarm_ended": extra.get("alarm_ended", False),
            "extra_info": extra.get("extra_info")})

    @on("NotifyDERStartStop")
    async def on_notify_der_start_stop(self, control_id: str, started: bool, timestamp: str,
                                       superseded_ids: list[str] | None = None,
                                       **_: Any) -> dict[str, Any]:
        return await self._publish("der.start_stop", {
            "control_id": control_id, "started": started,
            "timestamp": iso(parse_time(timestamp)), "superseded_ids": superseded_ids or []})

    @on("ReportDERControl")
    async def on_report_der_control(self, request_id: int, tbc: bool = False,
                                    custom_data: Any = None, **controls: Any) -> dict[str, Any]:
        return await self._publish("der.control_reported", {
            "request_id": request_id, "tbc": tbc, "controls": controls})

    # ---- payment, battery swap, event streams ---------------------------------------------

    @on("NotifySettlement")
    async def on_notify_settlement(self, psp_ref: str, status: str, settlement_amount: float,
                                   settlement_time: str, transaction_id: str | None = None,
                                   **extra: Any) -> dict[str, Any]:
        """No receipt is made here: the answer names none, so the station keeps its own."""
        settled_at = parse_time(settlement_time)

        async def publish(work: Work) -> None:
            tx = await transaction_by_uid(work, self.id, transaction_id)
            work.emit(Event("payment.settled", {
                "station_id": self.id, "transaction_uid": transaction_id,
                "transaction_id": tx.id if tx else None, "psp_ref": psp_ref, "status": status,
                "status_info": extra.get("status_info"),
                "amount": str(Decimal(str(settlement_amount))), "settled_at": iso(settled_at),
                "receipt_id": extra.get("receipt_id"), "receipt_url": extra.get("receipt_url"),
                "vat_number": extra.get("vat_number"), "vat_company": extra.get("vat_company")}))

        await self._write(publish)
        return {}

    @on("VatNumberValidation")
    async def on_vat_number_validation(self, vat_number: str, evse_id: int | None = None,
                                       **_: Any) -> dict[str, Any]:
        """Only a VAT registry can say a number is valid, and none is configured: a number is
        refused, telling a malformed one from one that could not be checked."""
        reason = "NotVerifiable" if VAT_NUMBER.match(vat_number) else "InvalidFormat"
        await self._publish("vat_number.validation_requested", {
            "vat_number": vat_number, "evse_id": evse_id, "status": "Rejected",
            "reason": reason})
        answer: dict[str, Any] = {"status": "Rejected", "vat_number": vat_number,
                                  "status_info": {"reason_code": reason}}
        if evse_id is not None:
            answer["evse_id"] = evse_id
        return answer

    @on("BatterySwap")
    async def on_battery_swap(self, event_type: str, request_id: int, id_token: dict[str, Any],
                              battery_data: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
        return await self._publish("battery_swap.reported", {
            "event_type": event_type, "request_id": request_id,
            "id_token": id_token["id_token"], "id_token_type": id_token["type"],
            "batteries": battery_data})

    @on("OpenPeriodicEventStream")
    async def on_open_periodic_event_stream(self, constant_stream_data: dict[str, Any],
                                            **_: Any) -> dict[str, Any]:
        """Accepted: the stream's data comes as NotifyPeriodicEventStream SEND frames."""
        params = constant_stream_data.get("params") or {}
        await self._publish("periodic_event_stream.opened", {
            "stream_id": constant_stream_data["id"],
            "variable_monitoring_id": constant_stream_data["variable_monitoring_id"],
            "interval": params.get("interval"), "values": params.get("values")})
        return {"status": "Accepted"}

    @on("NotifyPeriodicEventStream")
    async def on_periodic_event_stream(self, id: int, pending: int, basetime: str,
                                       data: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
        """One batch of a stream (a SEND: never answered); each value at basetime + t s."""
        base = parse_time(basetime)
        await self._publish("periodic_event_stream.data", {
            "stream_id": id, "pending": pending,
            "values": [{"at": iso(base + dt.timedelta(seconds=float(item["t"]))),
                        "value": item["v"]} for item in data]})
        return {}

    @on("ClosePeriodicEventStream")
    async def on_close_periodic_event_stream(self, id: int, **_: Any) -> dict[str, Any]:
        return await self._publish("periodic_event_stream.closed", {"stream_id": id})


def routes() -> list[Route]:
    """Nothing of this block is stored in its own tables, so there is nothing to list."""
    return []
