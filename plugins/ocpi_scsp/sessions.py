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
from plugins.ocpi_scsp import background, checks, estimate_accuracy, optimiser
from plugins.ocpi_scsp.ownership import owner
from plugins.ocpi_scsp.problem_builder import state_of_charge
from plugins.ocpi_scsp.tables import ScspSession

STATUSES = {"ACTIVE", "COMPLETED", "INVALID", "PENDING", "RESERVATION"}
ENDED = {"COMPLETED", "INVALID"}
PROFILE_TYPES = {"CHEAP", "FAST", "GREEN", "REGULAR"}
TOKEN_TYPES = {"AD_HOC_USER", "APP_USER", "OTHER", "RFID"}
AUTH_METHODS = {"AUTH_REQUEST", "COMMAND", "WHITELIST"}
DIMENSION_TYPES = {"CURRENT", "ENERGY", "ENERGY_EXPORT", "ENERGY_IMPORT", "MAX_CURRENT",
                   "MIN_CURRENT", "MAX_POWER", "MIN_POWER", "PARKING_TIME", "POWER",
                   "RESERVATION_TIME", "STATE_OF_CHARGE", "TIME"}


def _battery_capacity(value: object, name: str) -> None:
    checks.number(value, name)
    assert isinstance(value, int | float)
    if value <= 0:
        raise invalid(f"{name} must be a positive number (kWh)")


_CDR_TOKEN = checks.obj({
    "country_code": checks.cistring(2, exact=True), "party_id": checks.cistring(3, exact=True),
    "uid": checks.cistring(36), "type": checks.one_of(TOKEN_TYPES),
    "contract_id": checks.cistring(36)},
    required=("country_code", "party_id", "uid", "type", "contract_id"))
_CHARGING_PERIOD = checks.obj({
    "start_date_time": checks.datetime,
    "dimensions": checks.array(checks.obj(
        {"type": checks.one_of(DIMENSION_TYPES), "volume": checks.number},
        required=("type", "volume")), min_items=1),
    "tariff_id": checks.cistring(36)}, required=("start_date_time", "dimensions"))
_PRICE = checks.obj({"excl_vat": checks.number, "incl_vat": checks.number},
                    required=("excl_vat",))
#: The OCPI 2.2.1 Session (mod_sessions.asciidoc), plus our ``battery_capacity`` (kWh).
SESSION_FIELDS: dict[str, checks.Check] = {
    "country_code": checks.cistring(2, exact=True), "party_id": checks.cistring(3, exact=True),
    "id": checks.cistring(36), "start_date_time": checks.datetime,
    "end_date_time": checks.datetime, "kwh": checks.number, "cdr_token": _CDR_TOKEN,
    "auth_method": checks.one_of(AUTH_METHODS), "authorization_reference": checks.cistring(36),
    "location_id": checks.cistring(36), "evse_uid": checks.cistring(36),
    "connector_id": checks.cistring(36), "meter_id": checks.string(255),
    "currency": checks.string(3, exact=True), "charging_periods": checks.array(_CHARGING_PERIOD),
    "total_cost": _PRICE, "status": checks.one_of(STATUSES), "last_updated": checks.datetime,
    "battery_capacity": _battery_capacity,
}
SESSION_REQUIRED = ("country_code", "party_id", "id", "start_date_time", "kwh", "cdr_token",
                    "auth_method", "location_id", "evse_uid", "connector_id", "currency",
                    "status", "last_updated")


def validate_session(body: object) -> dict[str, Any]:
    """A complete OCPI 2.2.1 Session, its party codes upper case; 2001 otherwise."""
    session = checks.fields_of(body, SESSION_FIELDS, SESSION_REQUIRED)
    party = Party.parse(session["country_code"], session["party_id"])
    updated = parse_datetime(session["last_updated"], "last_updated")
    return {**session, "country_code": party.country_code, "party_id": party.party_id,
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


def _names(data: dict[str, Any], key: tuple[str, str, str]) -> bool:
    """The Session is the one its URL names. Ids are CiStrings: some partners' libraries
    lower-case the body's while their URL keeps the id as the caller wrote it."""
    return (data["country_code"], data["party_id"], str(data["id"]).upper()) == (
        key[0], key[1], key[2].upper())


async def _put(request: OcpiRequest) -> OcpiReply:
    party = owner(request)
    data = validate_session(await request.json())
    if not _names(data, (party.country_code, party.party_id, request.params["session_id"])):
        raise invalid("country_code, party_id and id must match the URL")
    await _save(request, party, data)
    return OcpiReply()


async def _patch(request: OcpiRequest) -> OcpiReply:
    party = owner(request)
    body = checks.fields_of(await request.json(), SESSION_FIELDS, partial=True)
    if body.get("last_updated") is None:
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
    if not _names(data, key):
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
    checks.one_of(PROFILE_TYPES)(body.get("profile_type"), "profile_type")
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
