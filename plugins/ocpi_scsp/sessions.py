"""Sessions, SCSP side (seed 003 Table 24: the SCSP implements both interfaces).

RECEIVER (``/sessions``): the CPO pushes its Sessions (``PUT``/``PATCH
{url}/{country_code}/{party_id}/{session_id}``; a PATCH must carry ``last_updated``; charging
periods in a PATCH are merged with the stored ones by their start time). A session is linked to
the contexts of its CPO that list its EVSE (``location_id``/``evse_uid``); its SoC is the latest
STATE_OF_CHARGE dimension of its charging periods. Our extension: an optional
``battery_capacity`` (kWh) in the Session, the driver's battery from their profile (seed 003
§4.1.2.1).

SENDER (mounted at ``/sessions-preferences``): the driver's OCPI ChargingPreferences, ``PUT
{url}/{session_id}/charging_preferences``, answered with a ChargingPreferencesResponse. Our
extension: an optional ``target_soc`` (%).

A session starting, ending, moving EVSE or reporting a new SoC, and new preferences, trigger a
recompute of its contexts; a session that ends also gets its charging profile cleared, and one
that completes gets our estimates for it recorded against what happened
(:mod:`plugins.ocpi_scsp.estimate_accuracy`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core import appkeys
from core.ocpi import (
    RECEIVER,
    SENDER,
    OcpiModule,
    OcpiReply,
    OcpiRequest,
    OcpiRoute,
    Party,
    format_datetime,
    parse_datetime,
)
from core.ocpi.server import base_url
from core.ocpi.status import invalid, not_found
from plugins.ocpi_scsp import background, estimate_accuracy, optimiser
from plugins.ocpi_scsp.ownership import owner
from plugins.ocpi_scsp.problem_builder import state_of_charge
from plugins.ocpi_scsp.tables import ScspSession

STATUSES = {"ACTIVE", "COMPLETED", "INVALID", "PENDING", "RESERVATION"}
ENDED = {"COMPLETED", "INVALID"}
PROFILE_TYPES = {"CHEAP", "FAST", "GREEN", "REGULAR"}
_REQUIRED = ("country_code", "party_id", "id", "start_date_time", "kwh", "cdr_token",
             "auth_method", "location_id", "evse_uid", "connector_id", "currency", "status",
             "last_updated")


def _text(body: dict[str, Any], name: str, limit: int = 36) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise invalid(f"{name} must be a string of 1-{limit} characters")
    return value


def validate_session(body: object) -> dict[str, Any]:
    """A complete OCPI 2.2.1 Session, as far as the optimiser relies on it; 2001 otherwise."""
    if not isinstance(body, dict):
        raise invalid("a Session object is required")
    missing = [name for name in _REQUIRED if body.get(name) is None]
    if missing:
        raise invalid(f"missing fields: {', '.join(missing)}")
    party = Party.parse(body["country_code"], body["party_id"])
    for name in ("id", "location_id", "evse_uid", "connector_id"):
        _text(body, name)
    if body["status"] not in STATUSES:
        raise invalid(f"status must be one of {', '.join(sorted(STATUSES))}")
    if isinstance(body["kwh"], bool) or not isinstance(body["kwh"], int | float) \
            or body["kwh"] < 0:
        raise invalid("kwh must be a non-negative number")
    if not isinstance(body["cdr_token"], dict):
        raise invalid("cdr_token must be a CdrToken object")
    capacity = body.get("battery_capacity")
    if capacity is not None and (isinstance(capacity, bool)
                                 or not isinstance(capacity, int | float) or capacity <= 0):
        raise invalid("battery_capacity must be a positive number (kWh)")
    periods = body.get("charging_periods")
    if periods is not None and not isinstance(periods, list):
        raise invalid("charging_periods must be a list")
    for i, period in enumerate(periods or ()):
        if not isinstance(period, dict) or not isinstance(period.get("dimensions"), list):
            raise invalid(f"charging_periods[{i}] needs dimensions")
        parse_datetime(period.get("start_date_time"), f"charging_periods[{i}].start_date_time")
        for dimension in period["dimensions"]:
            if not isinstance(dimension, dict) or not isinstance(dimension.get("type"), str) \
                    or isinstance(dimension.get("volume"), bool) \
                    or not isinstance(dimension.get("volume"), int | float):
                raise invalid(f"charging_periods[{i}] has a dimension without type/volume")
    parse_datetime(body["start_date_time"], "start_date_time")
    updated = parse_datetime(body["last_updated"], "last_updated")
    return {**body, "country_code": party.country_code, "party_id": party.party_id,
            "last_updated": format_datetime(updated)}


def _merge_periods(stored: list[Any], new: list[Any]) -> list[Any]:
    by_start = {str(p.get("start_date_time")): p for p in stored if isinstance(p, dict)}
    by_start.update({str(p.get("start_date_time")): p for p in new if isinstance(p, dict)})
    return [by_start[k] for k in sorted(by_start)]


def _fingerprint(data: dict[str, Any]) -> tuple[Any, ...]:
    """What, when changed, moves the optimum of a session."""
    return (data.get("status"), data.get("location_id"), data.get("evse_uid"),
            data.get("connector_id"), state_of_charge(data), data.get("battery_capacity"))


async def _save(request: OcpiRequest, party: Party, data: dict[str, Any]) -> None:
    """Store a session and start the recomputes its change calls for."""
    key = (party.country_code, party.party_id, request.params["session_id"])
    async with request.app[appkeys.DB].transaction() as work:
        row = await work.session.get(ScspSession, key)
        before = None if row is None else _fingerprint(row.data)
        old_evse = None if row is None else (row.location_id, row.evse_uid)
        completes = data["status"] == "COMPLETED" and (row is None or row.status != "COMPLETED")
        if row is None:
            row = ScspSession(country_code=key[0], party_id=key[1], id=key[2])
            work.session.add(row)
        row.partner_id = request.partner.id
        row.location_id, row.evse_uid = data["location_id"], data["evse_uid"]
        row.status, row.data = data["status"], data
        row.last_updated = parse_datetime(data["last_updated"], "last_updated")
        if completes:
            await estimate_accuracy.record(work.session, key, data)
    if before == _fingerprint(data):
        return
    app: web.Application = request.app
    base = base_url(app, request.http)
    evses = {(data["location_id"], data["evse_uid"])} | ({old_evse} if old_evse else set())

    async def job() -> None:
        async with app[appkeys.DB].session() as session:
            current = await session.get(ScspSession, key)
        if current is not None and current.status in ENDED:
            await optimiser.end_session(app, current, base)
        for location_id, evse_uid in evses:
            await optimiser.recompute_evse(app, party, location_id, evse_uid, base)

    background.spawn(app, job(), f"scsp session {'*'.join(key)}")


async def _put(request: OcpiRequest) -> OcpiReply:
    party = owner(request)
    data = validate_session(await request.json())
    if (data["country_code"], data["party_id"], data["id"]) != (
            party.country_code, party.party_id, request.params["session_id"]):
        raise invalid("country_code, party_id and id must match the URL")
    await _save(request, party, data)
    return OcpiReply()


async def _patch(request: OcpiRequest) -> OcpiReply:
    party = owner(request)
    body = await request.json()
    if not isinstance(body, dict):
        raise invalid("a PATCH body must be an object")
    if "last_updated" not in body:
        raise invalid("a PATCH must carry last_updated")
    key = (party.country_code, party.party_id, request.params["session_id"])
    async with request.app[appkeys.DB].session() as session:
        row = await session.get(ScspSession, key)
        if row is None:
            raise not_found("unknown session")
        stored = dict(row.data)
    merged = {**stored, **body}
    if isinstance(body.get("charging_periods"), list):
        merged["charging_periods"] = _merge_periods(stored.get("charging_periods") or [],
                                                    body["charging_periods"])
    data = validate_session(merged)
    if (data["country_code"], data["party_id"], data["id"]) != key:
        raise invalid("country_code, party_id and id cannot be changed")
    await _save(request, party, data)
    return OcpiReply()


async def _get(request: OcpiRequest) -> OcpiReply:
    party = owner(request)
    async with request.app[appkeys.DB].session() as session:
        row = await session.get(ScspSession, (party.country_code, party.party_id,
                                              request.params["session_id"]))
    if row is None:
        raise not_found("unknown session")
    return OcpiReply(row.data)


def validate_preferences(body: object) -> dict[str, Any]:
    """An OCPI ChargingPreferences object (plus our optional ``target_soc``), normalised."""
    if not isinstance(body, dict):
        raise invalid("a ChargingPreferences object is required")
    if body.get("profile_type") not in PROFILE_TYPES:
        raise invalid(f"profile_type must be one of {', '.join(sorted(PROFILE_TYPES))}")
    out: dict[str, Any] = {"profile_type": body["profile_type"]}
    if body.get("departure_time") is not None:
        out["departure_time"] = format_datetime(parse_datetime(body["departure_time"],
                                                               "departure_time"))
    for name, top in (("energy_need", None), ("target_soc", 100)):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 \
                or (top is not None and value > top):
            raise invalid(f"{name} must be a number from 0" + (f" to {top}" if top else ""))
        out[name] = value
    if body.get("discharge_allowed") is not None:
        if not isinstance(body["discharge_allowed"], bool):
            raise invalid("discharge_allowed must be true or false")
        out["discharge_allowed"] = body["discharge_allowed"]
    return out


async def _put_preferences(request: OcpiRequest) -> OcpiReply:
    """Store the driver's preferences; answer ACCEPTED, or NOT_POSSIBLE for an ended session."""
    preferences = validate_preferences(await request.json())
    parties = [request.sender] if request.sender is not None else sorted(
        request.partner.parties)
    app: web.Application = request.app
    async with app[appkeys.DB].transaction() as work:
        row = None
        for party in parties:
            row = await work.session.get(ScspSession, (party.country_code, party.party_id,
                                                       request.params["session_id"]))
            if row is not None:
                break
        if row is None:
            raise not_found("unknown session")
        if row.status in ENDED:
            return OcpiReply("NOT_POSSIBLE")
        row.preferences = preferences
        owner_party = Party(row.country_code, row.party_id)
        evse = (row.location_id, row.evse_uid)
    base = base_url(app, request.http)
    background.spawn(app, optimiser.recompute_evse(app, owner_party, *evse, base),
                     f"scsp preferences {request.params['session_id']}")
    return OcpiReply("ACCEPTED")


def modules() -> tuple[OcpiModule, OcpiModule]:
    pattern = "/{country_code}/{party_id}/{session_id}"
    receiver = OcpiModule("sessions", RECEIVER, (
        OcpiRoute("GET", pattern, _get), OcpiRoute("PUT", pattern, _put),
        OcpiRoute("PATCH", pattern, _patch)))
    sender = OcpiModule("sessions", SENDER, (
        OcpiRoute("PUT", "/{session_id}/charging_preferences", _put_preferences),),
        path="sessions-preferences")
    return receiver, sender
