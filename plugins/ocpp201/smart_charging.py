"""Smart charging (block K): profiles, composite schedules, limits set by others and the EV's
charging needs.

Every profile lands in the core ``charging_profile`` table, whoever set it: the copy of each
SetChargingProfile with the station's answer, and what a station reports
(``source="station"``). OCPP 2.x gives a profile up to three schedules and fields 1.6 lacks,
so a 2.x profile's ``schedule`` is ``{"charging_schedules": [...], ...}``, snake_case as the
``ocpp`` package names the fields. A profile stored at ``/api/chargingprofile/`` in the 1.6
shape goes to a 2.x station as a one-schedule profile
(``POST /api/ocpp201/sendchargingprofile/{chargepoint_id}/``).

What an EV asks for (NotifyEVChargingNeeds) becomes a core ``ChargingNeed`` in Wh, W and A,
published as ``charging_needs.received`` for smart charging; limits set by an EMS, the grid
operator or the CSO on the station side are kept per EVSE and source until cleared.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any, ClassVar, cast

from aiohttp import web
from marshmallow import Schema, fields
from ocpp.exceptions import PropertyConstraintViolationError
from ocpp.routing import on
from sqlalchemy import ColumnElement, CursorResult, Update, delete, select, update

from core import appkeys
from core.db import Work
from core.db.models import ChargingNeed, ChargingProfile, Transaction
from core.db.types import utcnow
from core.events import Event
from core.json import dumps
from core.ocpp.guard import Effect
from core.ocpp.times import iso, parse_time
from core.rest.errors import bad_request, not_found
from core.rest.resource import ModelResource
from core.rest.routes import Route
from plugins.ocpp201.base import HandlerBase
from plugins.ocpp201.models import ChargingLimit

# Profiles that still apply on the station: accepted when we set them, or reported by it.
ACTIVE = ("Accepted", "Reported")
# The CSMS cannot set or clear these; the station's external controller does (K01, K10).
EXTERNAL = "ChargingStationExternalConstraints"
# 2.x profile fields kept beside the schedules (and sent again with a stored profile).
PROFILE_EXTRAS = ("max_offline_duration", "invalid_after_offline_duration",
                  "dyn_update_interval", "dyn_update_time", "price_schedule_signature")
PURPOSE_2X = {"ChargePointMaxProfile": "ChargingStationMaxProfile"}
BIDIRECTIONAL = ("AC_BPT", "AC_BPT_DER", "DC_BPT", "DC_ACDP_BPT")


def jsonable(value: Any) -> Any:
    """``value`` as JSON values (decimals as numbers, times as strings), as JSON columns and
    events need them whoever built the request."""
    return json.loads(dumps(value))


def _time(value: str | None) -> dt.datetime | None:
    return None if value is None else parse_time(value)


def _same(column: Any, value: Any) -> ColumnElement[bool]:
    result: ColumnElement[bool] = column.is_(None) if value is None else column == value
    return result


async def _changed(work: Work, statement: Update) -> int:
    """How many rows an UPDATE changed."""
    result = cast("CursorResult[Any]", await work.session.execute(statement))
    return result.rowcount


async def transaction_by_uid(work: Work, station_id: str, uid: str | None) -> Transaction | None:
    """The session a 2.x ``transactionId`` names on this station."""
    if uid is None:
        return None
    found = await work.session.execute(select(Transaction).where(
        Transaction.station_id == station_id, Transaction.transaction_uid == uid))
    return found.scalars().first()


async def evse_transaction(work: Work, station_id: str, evse_number: int) -> Transaction | None:
    """The open session on an EVSE, whichever connector it uses."""
    found = await work.session.execute(select(Transaction).where(
        Transaction.station_id == station_id, Transaction.evse_number == evse_number,
        Transaction.status == "Active").order_by(Transaction.started_at.desc()))
    return found.scalars().first()


def stored_schedule(profile: dict[str, Any]) -> dict[str, Any]:
    """A 2.x ChargingProfile's schedules and 2.x-only fields, as ``ChargingProfile.schedule``."""
    schedule: dict[str, Any] = {"charging_schedules": profile["charging_schedule"]}
    for key in (*PROFILE_EXTRAS, "transaction_id"):
        if key in profile:
            schedule[key] = profile[key]
    return schedule


async def profile_row(work: Work, station_id: str, evse_id: int, profile: dict[str, Any], *,
                      source: str, status: str) -> ChargingProfile:
    """A core ChargingProfile for a 2.x profile (snake_case), linked to its session if any."""
    tx = await transaction_by_uid(work, station_id, profile.get("transaction_id"))
    row = ChargingProfile(
        station_id=station_id, evse_number=evse_id, transaction_id=tx.id if tx else None,
        ocpp_profile_id=profile["id"], stack_level=profile["stack_level"],
        purpose=profile["charging_profile_purpose"], kind=profile["charging_profile_kind"],
        recurrency_kind=profile.get("recurrency_kind"),
        valid_from=_time(profile.get("valid_from")), valid_to=_time(profile.get("valid_to")),
        schedule=stored_schedule(profile), source=source, status=status)
    work.session.add(row)
    return row


# ---- what the EV needs ---------------------------------------------------------------------


def _first(*values: Any) -> Decimal | None:
    for value in values:
        if value is not None:
            return Decimal(str(value))
    return None


def _whole(value: Decimal | None) -> int | None:
    return None if value is None else int(value.to_integral_value())


def need_columns(needs: dict[str, Any]) -> dict[str, Any]:
    """ChargingNeed columns from an OCPP ChargingNeedsType (snake_case); Wh, W, A, V.

    ISO 15118-2 sends AC or DC parameters; ISO 15118-20 (2.1) sends V2X parameters, whose
    target energy request stands in for the energy amount.
    """
    ac = needs.get("ac_charging_parameters") or {}
    dc = needs.get("dc_charging_parameters") or {}
    v2x = needs.get("v2x_charging_parameters") or {}
    return {
        "energy_transfer": needs["requested_energy_transfer"],
        "departure_time": _time(needs.get("departure_time")),
        "energy_amount_wh": _whole(_first(ac.get("energy_amount"), dc.get("energy_amount"),
                                          v2x.get("ev_target_energy_request"))),
        "min_current_a": _first(ac.get("ev_min_current"), v2x.get("min_charge_current")),
        "max_current_a": _first(ac.get("ev_max_current"), dc.get("ev_max_current"),
                                v2x.get("max_charge_current")),
        "max_voltage_v": _first(ac.get("ev_max_voltage"), dc.get("ev_max_voltage"),
                                v2x.get("max_voltage")),
        "max_power_w": _first(dc.get("ev_max_power"), v2x.get("max_charge_power")),
        "max_discharge_power_w": _first(v2x.get("max_discharge_power")),
        "soc": dc.get("state_of_charge"),
        "target_soc": v2x.get("target_soc"),
        "battery_capacity_wh": _whole(_first(dc.get("ev_energy_capacity"))),
    }


def need_details(needs: dict[str, Any], max_schedule_tuples: int | None,
                 timestamp: str | None) -> dict[str, Any]:
    """Everything the columns do not hold, as the station sent it."""
    details = {key: value for key, value in needs.items()
               if key not in ("requested_energy_transfer", "departure_time")}
    if max_schedule_tuples is not None:
        details["max_schedule_tuples"] = max_schedule_tuples
    if timestamp is not None:
        details["timestamp"] = timestamp
    return details


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def need_event(need: ChargingNeed, tx: Transaction | None) -> dict[str, Any]:
    """What smart charging needs to plan a session, in W, Wh and A.

    ``bidirectional`` says the EV offers a bidirectional (BPT) energy transfer; whether it may
    discharge is the CSMS's decision (NotifyAllowedEnergyTransfer, a V2X profile).
    """
    details = need.details
    v2x = details.get("v2x_charging_parameters") or {}
    modes = [need.energy_transfer, *details.get("available_energy_transfer", [])]
    return {
        "id": need.id, "station_id": need.station_id, "evse_id": need.evse_number,
        "transaction_id": tx.id if tx else None,
        "transaction_uid": tx.transaction_uid if tx else None,
        "energy_transfer": need.energy_transfer,
        "available_energy_transfer": details.get("available_energy_transfer"),
        "control_mode": details.get("control_mode"),
        "departure_time": iso(need.departure_time),
        "energy_amount_wh": need.energy_amount_wh,
        "min_current_a": _number(need.min_current_a),
        "max_current_a": _number(need.max_current_a),
        "max_voltage_v": _number(need.max_voltage_v),
        "max_power_w": _number(need.max_power_w),
        "min_charge_power_w": v2x.get("min_charge_power"),
        "max_discharge_power_w": _number(need.max_discharge_power_w),
        "min_discharge_power_w": v2x.get("min_discharge_power"),
        "soc": need.soc, "target_soc": need.target_soc,
        "battery_capacity_wh": need.battery_capacity_wh,
        "bidirectional": any(mode in BIDIRECTIONAL for mode in modes),
        "v2x": v2x or None,
        "der": details.get("der_charging_parameters"),
        "ev_energy_offer": details.get("ev_energy_offer"),
    }


# ---- effects of CSMS requests --------------------------------------------------------------


async def set_charging_profile(work: Work, station_id: str, request: dict[str, Any],
                               answer: dict[str, Any]) -> None:
    """Keep the copy sent with the station's answer; one it accepts replaces the same id."""
    profile = jsonable(request["charging_profile"])
    status = answer["status"]
    if status == "Accepted":
        await work.session.execute(update(ChargingProfile).where(
            ChargingProfile.station_id == station_id,
            ChargingProfile.ocpp_profile_id == profile["id"],
            ChargingProfile.status.in_(ACTIVE)).values(status="Replaced"))
    row = await profile_row(work, station_id, request["evse_id"], profile, source="operator",
                            status=status)
    row.sent_at = utcnow()
    await work.session.flush()
    work.emit(Event("charging_profile.sent", {
        "id": row.id, "station_id": station_id, "evse_id": request["evse_id"],
        "profile_id": profile["id"], "transaction_id": row.transaction_id, "status": status,
        "status_info": answer.get("status_info")}))


async def clear_charging_profile(work: Work, station_id: str, request: dict[str, Any],
                                 answer: dict[str, Any]) -> None:
    """Mark what the station cleared; external constraints are not ours to clear."""
    if answer["status"] != "Accepted":
        return
    criteria = request.get("charging_profile_criteria") or {}
    conditions = [ChargingProfile.station_id == station_id, ChargingProfile.status.in_(ACTIVE),
                  ChargingProfile.purpose != EXTERNAL]
    for column, value in ((ChargingProfile.ocpp_profile_id, request.get("charging_profile_id")),
                          (ChargingProfile.evse_number, criteria.get("evse_id")),
                          (ChargingProfile.purpose, criteria.get("charging_profile_purpose")),
                          (ChargingProfile.stack_level, criteria.get("stack_level"))):
        if value is not None:
            conditions.append(column == value)
    cleared = await _changed(work, update(ChargingProfile).where(*conditions).values(
        status="Cleared"))
    work.emit(Event("charging_profile.cleared", {
        "station_id": station_id, "profile_id": request.get("charging_profile_id"),
        "criteria": criteria, "cleared": cleared}))


async def get_composite_schedule(work: Work, station_id: str, request: dict[str, Any],
                                 answer: dict[str, Any]) -> None:
    work.emit(Event("composite_schedule.received", {
        "station_id": station_id, "evse_id": request["evse_id"],
        "duration": request["duration"], "charging_rate_unit": request.get("charging_rate_unit"),
        "status": answer["status"], "status_info": answer.get("status_info"),
        "schedule": answer.get("schedule")}))


class SmartChargingHandlers(HandlerBase):
    # GetChargingProfiles changes nothing itself: the ReportChargingProfiles that follow do.
    OWN_EFFECTS: ClassVar[dict[str, Effect]] = {
        "SetChargingProfile": set_charging_profile,
        "ClearChargingProfile": clear_charging_profile,
        "GetCompositeSchedule": get_composite_schedule,
    }

    @on("NotifyChargingLimit")
    async def on_notify_charging_limit(self, charging_limit: dict[str, Any],
                                       charging_schedule: list[dict[str, Any]] | None = None,
                                       evse_id: int | None = None, **_: Any) -> dict[str, Any]:
        """One limit per EVSE and source: a new notification replaces the one in force."""
        source = charging_limit["charging_limit_source"]
        schedules = charging_schedule or None

        async def store(work: Work) -> None:
            found = await work.session.execute(select(ChargingLimit).where(
                ChargingLimit.station_id == self.id, _same(ChargingLimit.evse_number, evse_id),
                ChargingLimit.source == source, ChargingLimit.cleared_at.is_(None)))
            limit = found.scalars().first()
            if limit is None:
                limit = ChargingLimit(station_id=self.id, evse_number=evse_id, source=source)
                work.session.add(limit)
            limit.grid_critical = charging_limit.get("is_grid_critical")
            limit.schedules, limit.received_at = schedules, utcnow()
            await work.session.flush()
            work.emit(Event("charging_limit.set", {
                "id": limit.id, "station_id": self.id, "evse_id": evse_id, "source": source,
                "grid_critical": limit.grid_critical,
                "local_generation": charging_limit.get("is_local_generation"),
                "schedules": schedules}))

        await self._write(store)
        return {}

    @on("ClearedChargingLimit")
    async def on_cleared_charging_limit(self, charging_limit_source: str,
                                        evse_id: int | None = None, **_: Any) -> dict[str, Any]:
        """Without an EVSE the source's limits on the whole station end."""
        now = utcnow()

        async def store(work: Work) -> None:
            conditions = [ChargingLimit.station_id == self.id,
                          ChargingLimit.source == charging_limit_source,
                          ChargingLimit.cleared_at.is_(None)]
            if evse_id is not None:
                conditions.append(ChargingLimit.evse_number == evse_id)
            cleared = await _changed(work, update(ChargingLimit).where(*conditions).values(
                cleared_at=now))
            work.emit(Event("charging_limit.cleared", {
                "station_id": self.id, "evse_id": evse_id, "source": charging_limit_source,
                "cleared": cleared}))

        await self._write(store)
        return {}

    @on("NotifyEVChargingNeeds")
    async def on_ev_charging_needs(self, charging_needs: dict[str, Any], evse_id: int,
                                   max_schedule_tuples: int | None = None,
                                   timestamp: str | None = None, **_: Any) -> dict[str, Any]:
        if evse_id == 0:
            raise PropertyConstraintViolationError(
                details={"cause": "an EV is connected to an EVSE: evseId 0 names none"})
        columns = need_columns(charging_needs)
        details = need_details(charging_needs, max_schedule_tuples, timestamp)

        async def store(work: Work) -> None:
            tx = await evse_transaction(work, self.id, evse_id)
            need = ChargingNeed(station_id=self.id, evse_number=evse_id, source="ev",
                                transaction_id=tx.id if tx else None, details=details,
                                **columns)
            work.session.add(need)
            await work.session.flush()
            work.emit(Event("charging_needs.received", need_event(need, tx)))

        await self._write(store)
        return {"status": "Accepted"}

    @on("NotifyEVChargingSchedule")
    async def on_ev_charging_schedule(self, time_base: str, charging_schedule: dict[str, Any],
                                      evse_id: int, **extra: Any) -> dict[str, Any]:
        base = parse_time(time_base)

        async def publish(work: Work) -> None:
            tx = await evse_transaction(work, self.id, evse_id)
            work.emit(Event("ev_charging_schedule.received", {
                "station_id": self.id, "evse_id": evse_id, "time_base": iso(base),
                "transaction_id": tx.id if tx else None, "schedule": charging_schedule,
                "selected_charging_schedule_id": extra.get("selected_charging_schedule_id"),
                "power_tolerance_acceptance": extra.get("power_tolerance_acceptance")}))

        await self._write(publish)
        return {"status": "Accepted"}

    @on("ReportChargingProfiles")
    async def on_report_charging_profiles(self, request_id: int, charging_limit_source: str,
                                          charging_profile: list[dict[str, Any]], evse_id: int,
                                          tbc: bool = False, **_: Any) -> dict[str, Any]:
        """A report replaces what earlier reports said for this EVSE and source.

        Parts of one report (``tbc``) add up; a repeated part replaces itself.
        """
        for profile in charging_profile:  # a bad time is the station's error, before storing
            for key in ("valid_from", "valid_to"):
                _time(profile.get(key))
        reported = {profile["id"] for profile in charging_profile}

        async def store(work: Work) -> None:
            found = await work.session.execute(select(ChargingProfile).where(
                ChargingProfile.station_id == self.id, ChargingProfile.evse_number == evse_id,
                ChargingProfile.source == "station"))
            stale = [row.id for row in found.scalars()
                     if row.schedule.get("charging_limit_source") == charging_limit_source
                     and (row.schedule.get("request_id") != request_id
                          or row.ocpp_profile_id in reported)]
            if stale:
                await work.session.execute(delete(ChargingProfile).where(
                    ChargingProfile.id.in_(stale)))
            for profile in charging_profile:
                row = await profile_row(work, self.id, evse_id, profile, source="station",
                                        status="Reported")
                row.schedule = {**row.schedule, "charging_limit_source": charging_limit_source,
                                "request_id": request_id}
            work.emit(Event("charging_profiles.reported", {
                "station_id": self.id, "evse_id": evse_id, "request_id": request_id,
                "charging_limit_source": charging_limit_source,
                "profile_ids": sorted(reported), "tbc": tbc}))

        await self._write(store)
        return {}


# ---- REST ----------------------------------------------------------------------------------


def schedules_of(schedule: dict[str, Any], default_id: int) -> list[dict[str, Any]]:
    """A stored profile's 2.x schedules; a 1.6 schedule becomes one with ``default_id``."""
    if "charging_schedules" in schedule:
        schedules: list[dict[str, Any]] = schedule["charging_schedules"]
        return schedules
    return [{"id": default_id, **{k: v for k, v in schedule.items() if v is not None}}]


def profile_2x(profile: ChargingProfile, transaction_id: str | None) -> dict[str, Any]:
    """A stored profile as an OCPP 2.x ChargingProfileType (snake_case)."""
    out: dict[str, Any] = {
        "id": profile.id, "stack_level": profile.stack_level,
        "charging_profile_purpose": PURPOSE_2X.get(profile.purpose, profile.purpose),
        "charging_profile_kind": profile.kind,
        "charging_schedule": schedules_of(profile.schedule, profile.id),
    }
    out.update({key: profile.schedule[key] for key in PROFILE_EXTRAS if key in profile.schedule})
    for key, value in (("recurrency_kind", profile.recurrency_kind),
                       ("valid_from", iso(profile.valid_from)), ("valid_to", iso(profile.valid_to)),
                       ("transaction_id", transaction_id)):
        if value is not None:
            out[key] = value
    return out


async def stored_profile_request(app: web.Application, body: dict[str, Any]) -> dict[str, Any]:
    """``{"profile_id", "evse_id", "transaction_id"?}`` as a 2.x SetChargingProfile request."""
    unknown = set(body) - {"profile_id", "evse_id", "transaction_id"}
    if unknown or type(body.get("profile_id")) is not int or type(body.get("evse_id")) is not int \
            or not isinstance(body.get("transaction_id", ""), str):
        raise bad_request("give profile_id and evse_id (integers), optionally transaction_id "
                          "(the station's id of the transaction)", {"unknown": sorted(unknown)},
                          "invalid_command")
    async with app[appkeys.DB].session() as session:
        profile = await session.get(ChargingProfile, body["profile_id"])
    if profile is None:
        raise not_found("chargingprofile")
    return {"evse_id": body["evse_id"],
            "charging_profile": profile_2x(profile, body.get("transaction_id"))}


class ChargingLimitSchema(Schema):
    id = fields.Integer(dump_only=True)
    station_id = fields.String(dump_only=True)
    evse_number = fields.Integer(dump_only=True)
    source = fields.String(dump_only=True, metadata={"description": "EMS, SO, CSO, Other, …"})
    grid_critical = fields.Boolean(dump_only=True)
    schedules = fields.Raw(dump_only=True, metadata={
        "description": "OCPP ChargingScheduleType objects, snake_case"})
    received_at = fields.AwareDateTime(dump_only=True)
    cleared_at = fields.AwareDateTime(dump_only=True)


class ChargingNeedSchema(Schema):
    id = fields.Integer(dump_only=True)
    station_id = fields.String(dump_only=True)
    evse_number = fields.Integer(dump_only=True)
    transaction_id = fields.Integer(dump_only=True)
    source = fields.String(dump_only=True)
    energy_transfer = fields.String(dump_only=True)
    departure_time = fields.AwareDateTime(dump_only=True)
    energy_amount_wh = fields.Integer(dump_only=True)
    min_current_a = fields.Decimal(dump_only=True)
    max_current_a = fields.Decimal(dump_only=True)
    max_voltage_v = fields.Decimal(dump_only=True)
    max_power_w = fields.Decimal(dump_only=True)
    max_discharge_power_w = fields.Decimal(dump_only=True)
    soc = fields.Integer(dump_only=True)
    target_soc = fields.Integer(dump_only=True)
    battery_capacity_wh = fields.Integer(dump_only=True)
    details = fields.Dict(dump_only=True, metadata={
        "description": "the rest of what the EV sent (V2X and DER parameters, energy offer)"})
    received_at = fields.AwareDateTime(dump_only=True)


class ReadOnly201(ModelResource):
    """A read-only list and detail under ``/api/ocpp201/{name}/``."""

    operations = ("list", "retrieve")

    def routes(self) -> list[Route]:
        base = f"/api/ocpp201/{self.name}/"
        common: dict[str, Any] = {"tags": ("ocpp201",), "response_schema": self.schema}
        return [
            Route("GET", base, self.list_view, "ocpp201:read", f"ocpp201-{self.name}-list",
                  f"List {self.name} records", **common, query_params=self._query_docs()),
            Route("GET", base + "{id:[0-9]+}/", self.retrieve_view, "ocpp201:read",
                  f"ocpp201-{self.name}-detail", f"Read one {self.name}", **common),
        ]


class ChargingLimitResource(ReadOnly201):
    """Limits set on the station side (EMS, grid operator, CSO), current and cleared."""

    name = "charginglimit"
    model = ChargingLimit
    schema = ChargingLimitSchema
    filters = ("station_id", "evse_number", "source", "grid_critical", "received_at",
               "cleared_at")
    ordering = "received_at"


class ChargingNeedResource(ReadOnly201):
    """What EVs asked for (NotifyEVChargingNeeds), newest last."""

    name = "chargingneed"
    model = ChargingNeed
    schema = ChargingNeedSchema
    filters = ("station_id", "evse_number", "transaction_id", "source", "energy_transfer",
               "departure_time", "received_at")
    ordering = "received_at"


def routes() -> list[Route]:
    """Read access to limits and needs (stored profiles are sent by ``sendchargingprofile``)."""
    return [*ChargingLimitResource().routes(), *ChargingNeedResource().routes()]
