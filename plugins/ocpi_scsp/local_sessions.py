"""Sessions of local contexts, from our own transactions' domain events.

A transaction that starts on an EVSE of a local context becomes a session of that context: an
``ocpi_scsp_session`` row of the context's owner in the shape a CPO pushes (so the optimiser
treats both alike), whose id is the transaction's id, plus its ``ocpi_scsp_local_session``.

- ``transaction.started``: the session is created and its context re-solved;
- ``meter.sampled``: the delivered energy is kept current; a new SoC (the SoC measurand)
  re-solves the context;
- ``transaction.ended``: the session is completed, its station's profile cleared, and the
  context re-solved for the others;
- ``station.connected``: a station that comes back is sent its sessions' profiles again;
- ``session.charging_preferences`` (published by the CPO role when an eMSP sends the driver's
  preferences): departure time, energy need and whether the EV may discharge, which is offered
  to the engine only when the station speaks OCPP 2.1.

The battery size comes from the driver's vehicle or profile by the session's token, as for
pushed sessions. Recomputes run in the background, so the event bus never waits on a solver or
a station. A context that becomes local (or changes its EVSEs) takes up the transactions
already running there, and lets go of those no longer in it (their profiles are cleared).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import appkeys
from core.db import Work
from core.db.models import ChargingStation, Evse, MeterValue, Transaction
from core.db.types import utcnow
from core.events import Event
from core.ocpi import format_datetime
from core.ocpi.server import base_url
from core.ocpp import tx_profiles
from core.stations import to_wh
from plugins.ocpi_scsp import (
    background,
    estimate_accuracy,
    local_contexts,
    local_profiles,
    optimiser,
)
from plugins.ocpi_scsp.local_contexts import ContextKey, Place
from plugins.ocpi_scsp.local_tables import LocalSession
from plugins.ocpi_scsp.problem_builder import state_of_charge
from plugins.ocpi_scsp.tables import OptimisationContext, ScspSession

STARTED, SAMPLED, ENDED = "transaction.started", "meter.sampled", "transaction.ended"
PREFERENCES = "session.charging_preferences"
CONNECTED = "station.connected"
COMPLETED = "COMPLETED"
#: Our transactions that ongoing local sessions follow: meter samples, ends and preferences of
#: any other transaction cost no database work (they are most of the station traffic).
FOLLOWED: web.AppKey[set[int]] = web.AppKey("ocpi_scsp_followed", set)
SOC, ENERGY = "SoC", "Energy.Active.Import.Register"


def session_data(tx: Transaction, location_id: str, evse_uid: str,
                 status: str = optimiser.ACTIVE) -> dict[str, Any]:
    """Our transaction as the OCPI Session fields the optimiser reads."""
    now = format_datetime(utcnow())
    data: dict[str, Any] = {
        "id": str(tx.id), "start_date_time": format_datetime(tx.started_at),
        "kwh": (tx.energy_wh or 0) / 1000, "cdr_token": {"uid": tx.id_token} if tx.id_token
        else {}, "location_id": location_id, "evse_uid": evse_uid,
        "connector_id": str(tx.connector_number or tx.evse_number or 1), "status": status,
        "last_updated": now}
    if tx.soc_last is not None:
        data["charging_periods"] = [{"start_date_time": now, "dimensions": [
            {"type": "STATE_OF_CHARGE", "volume": tx.soc_last}]}]
    return data


async def meter_periods(session: AsyncSession, tx: Transaction
                        ) -> tuple[list[dict[str, Any]], dt.datetime]:
    """The transaction's meter readings as OCPI charging periods, one per SoC reading: from
    the previous reading to this one, with the energy registered meanwhile (kWh) and the SoC
    at its end; and when the last reading was taken. Pushed sessions carry the same, so the
    battery estimate (:mod:`.session_readings`) and its judging work alike for both."""
    rows = (await session.execute(select(
        MeterValue.timestamp, MeterValue.measurand, MeterValue.value, MeterValue.unit).where(
        MeterValue.transaction_id == tx.id, MeterValue.value.is_not(None),
        MeterValue.measurand.in_((SOC, ENERGY)), MeterValue.phase.is_(None))
        .order_by(MeterValue.timestamp, MeterValue.id))).all()
    periods: list[dict[str, Any]] = []
    since = tx.started_at
    counted = float(tx.meter_start_wh) if tx.meter_start_wh is not None else None
    register = counted
    for at, measurand, value, unit in rows:
        if measurand == ENERGY:
            wh = to_wh(value, unit)
            if wh is not None:
                register = float(wh)
                counted = register if counted is None else counted
            continue
        delta = 0.0 if register is None or counted is None else max(register - counted, 0.0)
        counted = register
        periods.append({"start_date_time": format_datetime(since), "dimensions": [
            {"type": "ENERGY", "volume": delta / 1000},
            {"type": "STATE_OF_CHARGE", "volume": float(value)}]})
        since = at
    return periods, since


async def _current(session: AsyncSession, tx: Transaction, location_id: str, evse_uid: str,
                   status: str = optimiser.ACTIVE) -> dict[str, Any]:
    """The session as the optimiser reads it, with its readings so far (and, once it ended,
    up to when: the history its estimates are judged on)."""
    data = session_data(tx, location_id, evse_uid, status)
    periods, last = await meter_periods(session, tx)
    if periods:
        data["charging_periods"] = periods
    if status == COMPLETED:
        data["end_date_time"] = format_datetime(last)
    return data


async def _place(session: AsyncSession, tx: Transaction) -> Place | None:
    """The local context's EVSE a transaction charges at, if any."""
    evse_number = tx.evse_number or tx.connector_number
    station = await session.get(ChargingStation, tx.station_id)
    if station is None or station.location_id is None or evse_number is None:
        return None
    uid = await session.scalar(select(Evse.uid).where(Evse.station_id == tx.station_id,
                                                      Evse.evse_number == evse_number))
    if uid is None:
        return None
    return (await local_contexts.local_places(session)).get(
        (station.location_id.upper(), uid.upper()))


async def _adopt(work: Work, tx: Transaction, place: Place) -> None:
    """Create or refresh the session of ``tx`` in its local context (preferences kept)."""
    key = (place.key[0], place.key[1], str(tx.id))
    data = await _current(work.session, tx, place.location_id, place.evse_uid)
    row = await work.session.get(ScspSession, key)
    if row is None:
        row = ScspSession(country_code=key[0], party_id=key[1], id=key[2])
        work.session.add(row)
    row.partner_id, row.status = None, optimiser.ACTIVE
    row.location_id, row.evse_uid = place.location_id, place.evse_uid
    row.data, row.last_updated = data, utcnow()
    local = await work.session.get(LocalSession, key)
    if local is None:
        local = LocalSession(country_code=key[0], party_id=key[1], session_id=key[2],
                             transaction_id=tx.id)
        work.session.add(local)
    local.context_id = place.key[2]


async def _followed(work: Work, transaction_id: Any
                    ) -> list[tuple[LocalSession, ScspSession, Transaction]]:
    """The ongoing local sessions following a transaction, with the transaction."""
    if not isinstance(transaction_id, int):
        return []
    locals_ = (await work.session.execute(select(LocalSession).where(
        LocalSession.transaction_id == transaction_id))).scalars().all()
    tx = await work.session.get(Transaction, transaction_id) if locals_ else None
    found = []
    for local in locals_:
        row = await work.session.get(ScspSession, (local.country_code, local.party_id,
                                                   local.session_id))
        if tx is not None and row is not None and row.status == optimiser.ACTIVE:
            found.append((local, row, tx))
    return found


def _context(local: LocalSession) -> ContextKey:
    return local.country_code, local.party_id, local.context_id


def recompute_later(app: web.Application, key: ContextKey) -> None:
    base = app[optimiser.ADDRESS].base or base_url(app)
    background.spawn(app, optimiser.recompute(app, key, base), f"scsp local {'*'.join(key)}")


async def load_followed(app: web.Application) -> None:
    """At start-up: the transactions local sessions follow (see :data:`FOLLOWED`)."""
    async with app[appkeys.DB].session() as session:
        app[FOLLOWED].update((await session.execute(select(LocalSession.transaction_id).join(
            ScspSession, (ScspSession.country_code == LocalSession.country_code)
            & (ScspSession.party_id == LocalSession.party_id)
            & (ScspSession.id == LocalSession.session_id)).where(
            ScspSession.status == optimiser.ACTIVE))).scalars())


async def _started(app: web.Application, transaction_id: Any) -> None:
    if not isinstance(transaction_id, int):
        return
    # Looked up with a read first: most transactions are at no local context, and a write
    # transaction per start would queue behind (and hold up) the stations' own writes.
    async with app[appkeys.DB].session() as session:
        tx = await session.get(Transaction, transaction_id)
        if tx is None or tx.status != "Active" or await _place(session, tx) is None:
            return
    async with app[appkeys.DB].transaction() as work:
        tx = await work.session.get(Transaction, transaction_id)
        place = None if tx is None else await _place(work.session, tx)
        if tx is None or place is None:
            return
        await _adopt(work, tx, place)
    app[FOLLOWED].add(transaction_id)
    recompute_later(app, place.key)


async def _sampled(app: web.Application, transaction_id: Any) -> None:
    if transaction_id not in app[FOLLOWED]:
        return
    changed: set[ContextKey] = set()
    async with app[appkeys.DB].transaction() as work:
        for local, row, tx in await _followed(work, transaction_id):
            before = state_of_charge(row.data)
            row.data = await _current(work.session, tx, row.location_id, row.evse_uid)
            if state_of_charge(row.data) != before:
                changed.add(_context(local))
    for key in changed:
        recompute_later(app, key)


async def _ended(app: web.Application, transaction_id: Any) -> None:
    if transaction_id not in app[FOLLOWED]:
        return
    app[FOLLOWED].discard(transaction_id)
    async with app[appkeys.DB].transaction() as work:
        followed = await _followed(work, transaction_id)
        for _, row, tx in followed:
            row.status = COMPLETED
            row.data = await _current(work.session, tx, row.location_id, row.evse_uid,
                                      COMPLETED)
            await estimate_accuracy.record(work.session, (row.country_code, row.party_id,
                                                          row.id), row.data)
    for local, _, _ in followed:
        background.spawn(app, _release(app, local, recompute=True),
                         f"scsp local end {local.session_id}")


def _preferences(data: dict[str, Any], discharge: bool) -> dict[str, Any]:
    """The event's preferences as the OCPI ChargingPreferences the optimiser reads."""
    out: dict[str, Any] = {"profile_type": data.get("profile_type") or "REGULAR",
                           "discharge_allowed": discharge}
    departure = data.get("departure_time")
    if isinstance(departure, str):
        out["departure_time"] = format_datetime(dt.datetime.fromisoformat(departure))
    need = data.get("energy_need_wh")
    if isinstance(need, int | float) and not isinstance(need, bool):
        out["energy_need"] = need / 1000
    return out


async def _preferred(app: web.Application, data: dict[str, Any]) -> None:
    if data.get("transaction_id") not in app[FOLLOWED]:
        return
    changed: set[ContextKey] = set()
    async with app[appkeys.DB].transaction() as work:
        followed = await _followed(work, data.get("transaction_id"))
        if not followed:
            return
        target = await tx_profiles.target_of(work.session, followed[0][2].id)
        discharge = data.get("discharge_allowed") is True and target is not None \
            and tx_profiles.takes_discharge(target.version)
        for local, row, _ in followed:
            row.preferences = _preferences(data, discharge)
            changed.add(_context(local))
    for key in changed:
        recompute_later(app, key)


async def _reconnected(app: web.Application, station_id: Any) -> None:
    """A station that (re)connects may have restarted and lost its profiles: its running local
    sessions are sent theirs again by a recompute at once, not at the next slot boundary."""
    if not isinstance(station_id, str):
        return
    changed: set[ContextKey] = set()
    async with app[appkeys.DB].transaction() as work:
        rows = (await work.session.execute(select(LocalSession).join(
            Transaction, Transaction.id == LocalSession.transaction_id).where(
            Transaction.station_id == station_id, Transaction.status == "Active",
            LocalSession.attempted_at.is_not(None)))).scalars().all()
        for row in rows:
            row.profile = None
            changed.add(_context(row))
    for key in changed:
        recompute_later(app, key)


async def handle_event(app: web.Application, event: Event) -> None:
    """Follow our transactions on the EVSEs of local contexts."""
    if event.name == CONNECTED:
        await _reconnected(app, event.data.get("id"))
    elif event.name == STARTED:
        await _started(app, event.data.get("id"))
    elif event.name == SAMPLED:
        await _sampled(app, event.data.get("transaction_id"))
    elif event.name == ENDED:
        await _ended(app, event.data.get("id"))
    elif event.name == PREFERENCES:
        await _preferred(app, event.data)


async def _release(app: web.Application, local: LocalSession, *, recompute: bool) -> None:
    """Clear a session's profile on its station (after any recompute of its context under
    way, so no newer profile follows the clear), then re-plan the context if asked."""
    key = _context(local)
    async with app[optimiser.LOCKS].setdefault(key, asyncio.Lock()):
        await local_profiles.clear(app, local)
    if recompute:
        await optimiser.recompute(app, key, app[optimiser.ADDRESS].base or base_url(app))


async def sync_context(app: web.Application, key: ContextKey) -> None:
    """Take up the transactions running at a local context's EVSEs and let go of the
    sessions no longer in it (all of them when it is no longer local, or gone)."""
    wanted: set[int] = set()
    async with app[appkeys.DB].transaction() as work:
        context = await work.session.get(OptimisationContext, key)
        if context is not None and await local_contexts.is_local(work.session, key):
            listed = local_contexts.places(key, context.data)
            running = (await work.session.execute(
                select(Transaction, ChargingStation.location_id, Evse.uid)
                .join(ChargingStation, ChargingStation.id == Transaction.station_id)
                .join(Evse, (Evse.station_id == Transaction.station_id)
                      & (Evse.evse_number == Transaction.evse_number))
                .where(Transaction.status == "Active", Transaction.stopped_at.is_(None),
                       func.upper(Evse.uid).in_([uid for _, uid in listed])))).all()
            for tx, location_id, uid in running:
                place = listed.get(((location_id or "").upper(), uid.upper()))
                if place is not None:
                    await _adopt(work, tx, place)
                    wanted.add(tx.id)
        released = [row for row in (await work.session.execute(select(LocalSession).where(
            LocalSession.country_code == key[0], LocalSession.party_id == key[1],
            LocalSession.context_id == key[2]))).scalars().all()
            if row.transaction_id not in wanted]
        for row in released:
            session_row = await work.session.get(
                ScspSession, (row.country_code, row.party_id, row.session_id))
            if session_row is not None:
                await work.session.delete(session_row)
            await work.session.delete(row)
    app[FOLLOWED].update(wanted)
    app[FOLLOWED].difference_update(row.transaction_id for row in released)
    for row in released:
        await _release(app, row, recompute=False)


__all__ = ["FOLLOWED", "handle_event", "load_followed", "recompute_later", "session_data",
           "sync_context"]
