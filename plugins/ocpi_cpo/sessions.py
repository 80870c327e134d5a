"""Sessions module, SENDER: our charging sessions as OCPI 2.2.1 Session objects.

A Session belongs to the eMSP that issued the token which started it, and only that eMSP sees
it: the GET list shows a partner the sessions of its own parties' tokens (a hub: of the party
it names in ``OCPI-from-*``, or of every other party's tokens when it names none), and pushes
go to that eMSP alone, directly or through a hub. Sessions of our own tokens (no party, or
ours) are not roamed. A session is published only where its location and EVSE are (see
:mod:`plugins.ocpi_cpo.locations`): ``location_id``/``evse_uid`` must name objects the eMSP
can resolve; its CDR is sent all the same.

Figures come from billing (:mod:`plugins.billing.api`): ``total_cost`` is the price the eMSP
pays, computed the way the CDR is, so the final Session and the CDR agree to the cent;
``cdr_token``, ``auth_method`` and ``authorization_reference`` are the CDR's too.

Pushes: a PUT when the session starts, a PATCH (``kwh``, ``total_cost``, ``status``,
``last_updated``) on meter samples at most once per ``session_update_interval``, and a final
PUT with ``COMPLETED`` when it ends. A session whose first PUT never went out (its token was
learned later, say) gets a full PUT instead of a PATCH.

Charging preferences (``PUT {url}/{session_id}/charging_preferences``) are accepted from the
session's eMSP only, for an ongoing session on a published EVSE, stored
(:class:`plugins.ocpi_cpo.sessions_models.ChargingPreference`) and announced as the domain event
``session.charging_preferences`` for smart charging. An EVSE whose recorded capabilities
leave out ``CHARGING_PREFERENCES_CAPABLE`` answers HTTP 404, as OCPI asks; one with no
recorded capabilities takes them (the CSMS itself does the smart charging).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import urllib.parse
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from aiohttp import web
from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core import appkeys
from core.db import Work
from core.db.models import ChargingStation, Connector, Evse, IdToken, Location, Transaction
from core.db.types import utcnow
from core.events import Event
from core.ocpi import (
    SENDER,
    OcpiError,
    OcpiModule,
    OcpiReply,
    OcpiRequest,
    OcpiRoute,
    Party,
    format_datetime,
    parse_datetime,
    status,
)
from core.ocpi.partners import HUB
from plugins.billing import api as billing
from plugins.ocpi_cpo import locations, push
from plugins.ocpi_cpo.config import CONFIG
from plugins.ocpi_cpo.sessions_models import ChargingPreference, SessionPush

log = logging.getLogger(__name__)

MODULE = "sessions"
PREFERENCES_EVENT = "session.charging_preferences"
PROFILE_TYPES = ("CHEAP", "FAST", "GREEN", "REGULAR")
CAPABLE = "CHARGING_PREFERENCES_CAPABLE"
ACCEPTED, NOT_POSSIBLE = "ACCEPTED", "NOT_POSSIBLE"
DEPARTURE_REQUIRED, PROFILE_TYPE_NOT_SUPPORTED = "DEPARTURE_REQUIRED", "PROFILE_TYPE_NOT_SUPPORTED"
# Optimising for price or green energy needs a horizon; FAST and REGULAR charge right away.
_NEEDS_DEPARTURE = frozenset({"CHEAP", "GREEN"})
_MAX_ENERGY_NEED = Decimal(1_000_000)  # kWh; beyond any vehicle, and what the column holds
_LOCATION_FIELDS = (Location.address, Location.city, Location.country, Location.latitude,
                    Location.longitude, Location.time_zone)


# ---- who may see what ---------------------------------------------------------------------


def audience(request: OcpiRequest) -> frozenset[Party] | None:
    """The eMSP parties whose tokens' sessions and CDRs the caller may see.

    None means every party but ours: a hub that names no eMSP (or itself) in ``OCPI-from-*``
    speaks for the whole roaming network behind it.
    """
    partner = request.partner
    ours = request.app[CONFIG].party
    sender = request.sender
    if partner.is_hub and (sender is None or sender in partner.parties_in_role(HUB)):
        return None
    parties = {sender} if sender is not None else set(partner.parties)
    return frozenset(p for p in parties if p != ours)


def _upper(column: Any) -> ColumnElement[Any]:
    return func.upper(column)


def _token_owned(stmt: Select[Any], owners: frozenset[Party] | None,
                 ours: Party) -> Select[Any]:
    """Only transactions whose token one of ``owners`` issued (None: any party but ours)."""
    cc, pid = _upper(IdToken.country_code), _upper(IdToken.party_id)
    stmt = stmt.join(IdToken, IdToken.id_token == Transaction.id_token)
    if owners is None:
        return stmt.where(IdToken.country_code.is_not(None), IdToken.party_id.is_not(None),
                          or_(cc != ours.country_code, pid != ours.party_id))
    wanted = [and_(cc == p.country_code, pid == p.party_id) for p in sorted(owners)]
    return stmt.where(or_(*wanted) if wanted else false())


def _present(column: Any, text: bool = True) -> ColumnElement[bool]:
    return and_(column.is_not(None), column != "") if text else column.is_not(None)


def _published(stmt: Select[Any]) -> Select[Any]:
    """Only transactions on an EVSE that :mod:`locations` publishes (same rules, in SQL, so a
    page holds exactly what the counted total promises)."""
    number = func.coalesce(Transaction.evse_number, Transaction.connector_number)
    connector_ready = exists().where(
        Connector.evse_id == Evse.id, _present(Connector.standard), _present(Connector.format),
        _present(Connector.power_type), _present(Connector.max_voltage, text=False),
        _present(Connector.max_amperage, text=False))
    return (stmt.join(ChargingStation, ChargingStation.id == Transaction.station_id)
            .join(Location, Location.id == ChargingStation.location_id)
            .join(Evse, and_(Evse.station_id == Transaction.station_id,
                             Evse.evse_number == number))
            .where(*(_present(column) for column in _LOCATION_FIELDS), connector_ready))


# ---- the Session object -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    """Where a session runs, as published: its location, EVSE and connector."""

    station: ChargingStation
    location: Location
    evse: Evse
    connector: Connector

    @property
    def connector_id(self) -> str:
        return str(self.connector.connector_number)


async def find_place(session: AsyncSession, tx: Transaction) -> Place | None:
    """The published location, EVSE and connector of ``tx``; None when any is unpublished."""
    station = await session.get(ChargingStation, tx.station_id)
    if station is None or not station.location_id:
        return None
    location = await session.get(Location, station.location_id)
    if location is None or locations.missing_fields(location):
        return None
    number = tx.evse_number if tx.evse_number is not None else tx.connector_number
    if number is None:
        return None
    evse = (await session.execute(select(Evse).where(
        Evse.station_id == tx.station_id, Evse.evse_number == number)
        .options(selectinload(Evse.connectors)))).scalars().first()
    if evse is None or locations.evse_to_ocpi(station, evse) is None:
        return None
    published = sorted((c for c in evse.connectors if locations.connector_to_ocpi(c)),
                       key=lambda c: c.connector_number)
    connector = next((c for c in published if c.connector_number == tx.connector_number),
                     published[0])
    return Place(station, location, evse, connector)


async def token_owner(session: AsyncSession, tx: Transaction, ours: Party) -> Party | None:
    """The eMSP party that issued the session's token; None for our own or unknown tokens."""
    if tx.id_token is None:
        return None
    token = (await session.execute(select(IdToken).where(IdToken.id_token == tx.id_token))
             ).scalars().first()
    if token is None or not token.country_code or not token.party_id:
        return None
    try:
        owner = Party.parse(token.country_code, token.party_id)
    except OcpiError:
        return None
    return None if owner == ours else owner


def session_status(tx: Transaction) -> str:
    return "ACTIVE" if tx.status == "Active" and tx.stopped_at is None else "COMPLETED"


def _kwh(tx: Transaction, price: billing.SessionPrice | None) -> float:
    if tx.energy_wh is not None:
        return float(Decimal(tx.energy_wh) / 1000)
    return float(price.energy_kwh) if price is not None else 0.0


async def session_to_ocpi(app: web.Application, tx: Transaction, *,
                          place: Place | None = None,
                          charging_periods: bool = True) -> dict[str, Any] | None:
    """The OCPI Session of ``tx``; None when its location or EVSE is not published.

    An ongoing session is priced up to now, a finished one up to its stop (its CDR's figure).
    """
    if place is None:
        async with app[appkeys.DB].session() as session:
            place = await find_place(session, tx)
        if place is None:
            return None
    end = tx.stopped_at or max(utcnow(), tx.started_at)
    price = await billing.session_cost(app, tx.id, end)
    auth = await billing.session_authorization(app, tx.id)
    if price is None or auth is None:  # the transaction is gone
        return None
    party = app[CONFIG].party
    out: dict[str, Any] = {
        "country_code": party.country_code, "party_id": party.party_id,
        "id": tx.transaction_uid[:36], "start_date_time": format_datetime(tx.started_at)}
    if tx.stopped_at is not None:
        out["end_date_time"] = format_datetime(tx.stopped_at)
    out["kwh"] = _kwh(tx, price)
    out["cdr_token"] = auth.cdr_token
    out["auth_method"] = auth.auth_method
    if auth.authorization_reference is not None:
        out["authorization_reference"] = auth.authorization_reference
    out["location_id"] = place.location.id
    out["evse_uid"] = place.evse.uid
    out["connector_id"] = place.connector_id
    if place.station.meter_serial_number:
        out["meter_id"] = place.station.meter_serial_number
    out["currency"] = price.currency
    if charging_periods and price.charging_periods:
        out["charging_periods"] = list(price.charging_periods)
    out["total_cost"] = price.total_cost
    out["status"] = session_status(tx)
    out["last_updated"] = format_datetime(tx.last_updated)
    return out


def _progress(session: dict[str, Any]) -> dict[str, Any]:
    """The PATCH of a running session: what changes while it charges."""
    return {name: session[name] for name in ("kwh", "total_cost", "status", "last_updated")
            if name in session}


# ---- GET list -----------------------------------------------------------------------------


async def list_sessions(request: OcpiRequest) -> OcpiReply:
    app = request.app
    page = request.page(app[appkeys.CONFIG]["ocpi"]["page_limit"])
    if page.date_from is None:  # OCPI 2.2.1 makes it required for this list (only)
        raise status.invalid("date_from is required")
    stmt = _token_owned(_published(select(Transaction)), audience(request), app[CONFIG].party)
    stmt = stmt.where(Transaction.last_updated >= page.date_from)
    if page.date_to is not None:
        stmt = stmt.where(Transaction.last_updated < page.date_to)
    async with app[appkeys.DB].session() as session:
        total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = (await session.execute(stmt.order_by(Transaction.last_updated, Transaction.id)
                                      .offset(page.offset).limit(page.limit))).scalars().all()
        places = [await find_place(session, tx) for tx in rows]
    items = []
    for tx, place in zip(rows, places, strict=True):
        item = await session_to_ocpi(app, tx, place=place) if place is not None else None
        if item is not None:
            items.append(item)
    return request.paged(items, int(total or 0), page)


# ---- charging preferences -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Preferences:
    """An OCPI ChargingPreferences object, checked (``energy_need`` in kWh)."""

    profile_type: str
    departure_time: dt.datetime | None
    energy_need: Decimal | None
    discharge_allowed: bool

    @property
    def energy_need_wh(self) -> int | None:
        if self.energy_need is None:
            return None
        return int((self.energy_need * 1000).to_integral_value(ROUND_HALF_UP))


def parse_preferences(body: Any) -> Preferences:
    """Check a ChargingPreferences body; anything off is a 2001 naming the field."""
    if not isinstance(body, dict):
        raise status.invalid("the body must be a ChargingPreferences object")
    profile = body.get("profile_type")
    if not isinstance(profile, str) or profile not in PROFILE_TYPES:
        raise status.invalid(f"profile_type must be one of {', '.join(PROFILE_TYPES)}")
    departure = body.get("departure_time")
    departure_time = parse_datetime(departure, "departure_time") \
        if departure is not None else None
    need = body.get("energy_need")
    energy_need = None
    if need is not None:
        if isinstance(need, bool) or not isinstance(need, int | float) \
                or not math.isfinite(need) or need < 0:
            raise status.invalid("energy_need must be a number of kWh, zero or more")
        energy_need = Decimal(str(need))
        if energy_need > _MAX_ENERGY_NEED:
            raise status.invalid("energy_need is beyond any vehicle's battery")
    discharge = body.get("discharge_allowed")
    if discharge is not None and not isinstance(discharge, bool):
        raise status.invalid("discharge_allowed must be true or false")
    return Preferences(profile, departure_time, energy_need, bool(discharge))


@dataclass(frozen=True, slots=True)
class OwnedSession:
    tx: Transaction
    place: Place
    owner: Party


async def _owned_session(request: OcpiRequest) -> OwnedSession:
    """The session ``session_id`` names, if the caller's eMSP owns it; HTTP 404 otherwise, so
    another party cannot even learn that it exists."""
    app = request.app
    ours = app[CONFIG].party
    allowed = audience(request)
    session_id = request.params["session_id"]
    async with app[appkeys.DB].session() as session:
        # Session ids are unique per station; the newest the caller may see wins.
        candidates = (await session.execute(select(Transaction).where(
            Transaction.transaction_uid == session_id)
            .order_by(Transaction.started_at.desc(), Transaction.id.desc()))).scalars().all()
        for tx in candidates:
            owner = await token_owner(session, tx, ours)
            if owner is None or (allowed is not None and owner not in allowed):
                continue
            place = await find_place(session, tx)
            if place is not None:
                return OwnedSession(tx, place, owner)
    raise status.not_found(f"unknown session {session_id}", status.INVALID_PARAMETERS)


async def _profile_supported(app: web.Application, connector: Connector, profile: str) -> bool:
    """REGULAR always; another profile when the connector lists a tariff of that profile (OCPI:
    every supported ProfileType has a Tariff, so the driver knows its price)."""
    if profile == "REGULAR":
        return True
    for tariff_id in connector.tariff_ids or ():
        tariff = await billing.tariff_by_id(app, str(tariff_id))
        if tariff is not None and tariff.get("type") == f"PROFILE_{profile}":
            return True
    return False


def _reachable(tx: Transaction, connector: Connector, prefs: Preferences,
               now: dt.datetime) -> bool:
    """Whether the connector's power can deliver what is still needed before departure."""
    if prefs.departure_time is None or prefs.energy_need is None \
            or not connector.max_electric_power:
        return True
    charged = Decimal(tx.energy_wh or 0) / 1000
    remaining = max(Decimal(0), prefs.energy_need - charged)
    hours = Decimal(str((prefs.departure_time - now).total_seconds())) / 3600
    return remaining <= Decimal(connector.max_electric_power) / 1000 * hours


async def decide(app: web.Application, owned: OwnedSession, prefs: Preferences) -> str:
    """The ChargingPreferencesResponse for preferences that passed the checks."""
    tx, connector = owned.tx, owned.place.connector
    if session_status(tx) != "ACTIVE":
        return NOT_POSSIBLE
    if not await _profile_supported(app, connector, prefs.profile_type):
        return PROFILE_TYPE_NOT_SUPPORTED
    if prefs.profile_type in _NEEDS_DEPARTURE and prefs.departure_time is None:
        return DEPARTURE_REQUIRED
    now = utcnow()
    if prefs.departure_time is not None and prefs.departure_time <= now:
        return NOT_POSSIBLE
    if not _reachable(tx, connector, prefs, now):
        return NOT_POSSIBLE
    return ACCEPTED


def preferences_event(owned: OwnedSession, prefs: Preferences) -> Event:
    """What smart charging learns: the session, where it charges, and the driver's wishes."""
    tx = owned.tx
    departure = prefs.departure_time.isoformat() if prefs.departure_time else None
    return Event(PREFERENCES_EVENT, {
        "transaction_id": tx.id, "session_id": tx.transaction_uid,
        "station_id": tx.station_id, "evse_number": owned.place.evse.evse_number,
        "connector_number": owned.place.connector.connector_number,
        "profile_type": prefs.profile_type, "departure_time": departure,
        "energy_need_wh": prefs.energy_need_wh, "discharge_allowed": prefs.discharge_allowed,
        "country_code": owned.owner.country_code, "party_id": owned.owner.party_id})


async def store_preferences(app: web.Application, owned: OwnedSession,
                            prefs: Preferences) -> None:
    """Keep the accepted preferences and publish them, in one unit of work."""
    async with app[appkeys.DB].transaction() as work:
        row = await work.session.get(ChargingPreference, owned.tx.id)
        if row is None:
            row = ChargingPreference(transaction_id=owned.tx.id)
            work.session.add(row)
        row.profile_type = prefs.profile_type
        row.departure_time = prefs.departure_time
        row.energy_need = prefs.energy_need
        row.discharge_allowed = prefs.discharge_allowed
        row.country_code, row.party_id = owned.owner.country_code, owned.owner.party_id
        row.updated_at = utcnow()
        work.emit(preferences_event(owned, prefs))


async def put_charging_preferences(request: OcpiRequest) -> OcpiReply:
    prefs = parse_preferences(await request.json())
    owned = await _owned_session(request)
    capabilities = owned.place.evse.capabilities
    if capabilities and CAPABLE not in capabilities:
        raise status.not_found("this EVSE does not take charging preferences")
    answer = await decide(request.app, owned, prefs)
    if answer == ACCEPTED:
        await store_preferences(request.app, owned, prefs)
    return OcpiReply(answer)


def routes() -> tuple[OcpiRoute, ...]:
    return (OcpiRoute("GET", "", list_sessions),
            OcpiRoute("PUT", "/{session_id}/charging_preferences", put_charging_preferences))


def module() -> OcpiModule:
    return OcpiModule(MODULE, SENDER, routes())


# ---- pushes -------------------------------------------------------------------------------


async def _load(app: web.Application, transaction_id: int
                ) -> tuple[Transaction, Party, SessionPush | None] | None:
    """The transaction, its eMSP and its push record; None when it is not roamed."""
    async with app[appkeys.DB].session() as session:
        tx = await session.get(Transaction, transaction_id)
        if tx is None:
            return None
        owner = await token_owner(session, tx, app[CONFIG].party)
        if owner is None:
            return None
        return tx, owner, await session.get(SessionPush, transaction_id)


async def _claim(app: web.Application, tx_id: int, owner: Party, *,
                 previous: dt.datetime | None, completed: bool = False,
                 force: bool = False) -> bool:
    """Record a push about to be sent; False when another one got there first (a repeated
    event, another node), judged by the push time read before (``previous``)."""
    now = utcnow()

    async def job(work: Work) -> bool:
        row = await work.session.get(SessionPush, tx_id)
        if row is None:
            work.session.add(SessionPush(transaction_id=tx_id, country_code=owner.country_code,
                                         party_id=owner.party_id, pushed_at=now,
                                         completed=completed))
            return True
        if not force and (previous is None or row.pushed_at != previous):
            return False
        row.country_code, row.party_id = owner.country_code, owner.party_id
        row.pushed_at, row.completed = now, completed or row.completed
        return True

    try:
        return await app[appkeys.DB].write(job, preload=[(SessionPush, tx_id)])
    except IntegrityError:
        return False


def _path(app: web.Application, session_id: str) -> str:
    party = app[CONFIG].party
    return (f"/{party.country_code}/{party.party_id}/"
            f"{urllib.parse.quote(session_id, safe='')}")


async def _send(app: web.Application, owner: Party, method: str,
                session: dict[str, Any]) -> None:
    body = session if method == "PUT" else _progress(session)
    await push.to_owner(app, MODULE, owner, method, _path(app, session["id"]), body,
                        f"session:{session['id']}")


async def push_started(app: web.Application, transaction_id: int) -> None:
    """PUT a new session to its eMSP."""
    found = await _load(app, transaction_id)
    if found is None:
        return
    tx, owner, record = found
    if record is not None:
        return
    session = await session_to_ocpi(app, tx)
    if session is not None and await _claim(app, tx.id, owner, previous=None):
        await _send(app, owner, "PUT", session)


def _due(record: SessionPush, interval: int, now: dt.datetime) -> bool:
    return interval == 0 or now - record.pushed_at >= dt.timedelta(seconds=interval)


async def push_progress(app: web.Application, transaction_id: int) -> None:
    """PATCH a charging session's kWh and cost, paced by ``session_update_interval``."""
    found = await _load(app, transaction_id)
    if found is None:
        return
    tx, owner, record = found
    if session_status(tx) != "ACTIVE" or (record is not None and record.completed):
        return
    fresh = record is None or (record.country_code, record.party_id) != (
        owner.country_code, owner.party_id)
    if not fresh and not _due(record, app[CONFIG].session_update_interval, utcnow()):
        return
    session = await session_to_ocpi(app, tx, charging_periods=fresh)
    if session is None:
        return
    previous = record.pushed_at if record is not None else None
    if await _claim(app, tx.id, owner, previous=previous):
        await _send(app, owner, "PUT" if fresh else "PATCH", session)


async def push_ended(app: web.Application, transaction_id: int) -> None:
    """PUT the finished session, COMPLETED, with the cost its CDR has."""
    found = await _load(app, transaction_id)
    if found is None:
        return
    tx, owner, _ = found
    session = await session_to_ocpi(app, tx)
    if session is None:
        return
    await _claim(app, tx.id, owner, previous=None, completed=True, force=True)
    await _send(app, owner, "PUT", session)


async def handle_event(app: web.Application, event: Event) -> None:
    data = event.data
    if event.name == "transaction.started" and isinstance(data.get("id"), int):
        await push_started(app, data["id"])
    elif event.name == "meter.sampled" and isinstance(data.get("transaction_id"), int):
        await push_progress(app, data["transaction_id"])
    elif event.name == "transaction.ended" and isinstance(data.get("id"), int):
        await push_ended(app, data["id"])


__all__ = ["MODULE", "PREFERENCES_EVENT", "Place", "Preferences", "audience", "find_place",
           "handle_event", "module", "parse_preferences", "session_to_ocpi", "token_owner"]
