"""Version-neutral station operations the OCPP plugins map their messages onto.

Each function works inside the caller's unit of work (:class:`core.db.Work`) so the protocol
handler commits once, publishes the events, and only then answers the station.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from aiohttp import web
from sqlalchemy import Table, func, select, update

from core import appkeys
from core.db import Work
from core.db.models import (
    ChargingStation,
    Connector,
    Evse,
    IdToken,
    MeterValue,
    Reservation,
    StatusNotification,
    Transaction,
    Vehicle,
)
from core.db.types import utcnow
from core.events import Event
from core.plugins import await_me_maybe

ENERGY_REGISTER = "Energy.Active.Import.Register"
METER_VALUES = cast(Table, MeterValue.__table__)
WH_PER_UNIT = {"Wh": Decimal(1), "kWh": Decimal(1000)}


@dataclass(frozen=True)
class TokenDecision:
    """The CSMS's verdict on an id token (OCPP IdTagInfo / IdTokenInfo) and its options."""

    status: str  # Accepted, Blocked, Expired, Invalid, ConcurrentTx, …
    expiry_date: dt.datetime | None = None
    group_id_token: str | None = None
    user_id: int | None = None
    language: str | None = None
    charging_priority: int | None = None
    personal_message: dict[str, Any] | None = None
    cache_expiry_date: dt.datetime | None = None
    known: bool = True  # False: no such token at all (OCPP 2.x answers Unknown)


def _decision(token: IdToken, status: str | None = None) -> TokenDecision:
    return TokenDecision(status or token.status, token.expiry_date, token.group_id_token,
                         token.user_id, token.language, token.charging_priority,
                         token.personal_message, token.cache_expiry_date)


async def station(work: Work, station_id: str) -> ChargingStation:
    found = await work.session.get(ChargingStation, station_id)
    if found is None:  # admission created or found it; a concurrent delete is an operator action
        raise LookupError(f"station {station_id!r} no longer exists")
    return found


async def authorize_token(work: Work, id_token: str, *, starting: bool = False,
                          remote: str | None = None) -> TokenDecision:
    """Look the token up; ``starting`` also refuses a token already charging elsewhere.

    ``remote`` is a verdict obtained from the token's issuer (see :func:`remote_verdict`); it
    replaces the local one, except that a token already charging stays ``ConcurrentTx``.
    """
    token = await find_token(work, id_token)
    if token is None:
        return TokenDecision(remote) if remote else TokenDecision("Invalid", known=False)
    local = await _local_decision(work, token, starting)
    if remote is None or local.status == "ConcurrentTx":
        return local
    return replace(local, status=remote)


async def find_token(work: Work, id_token: str) -> IdToken | None:
    """The token row for an id as a station or partner spells it.

    OCPP id tags and OCPI token uids are case-insensitive; the exact spelling is tried first
    (indexed), then any spelling.
    """
    token = (await work.session.execute(
        select(IdToken).where(IdToken.id_token == id_token))).scalars().first()
    if token is not None:
        return token
    return (await work.session.execute(select(IdToken).where(
        func.upper(IdToken.id_token) == id_token.upper()).order_by(IdToken.id))
    ).scalars().first()


async def _local_decision(work: Work, token: IdToken, starting: bool) -> TokenDecision:
    if token.status == "Accepted" and token.expiry_date and token.expiry_date <= utcnow():
        return _decision(token, "Expired")
    if token.status != "Accepted" or not starting:
        return _decision(token)
    busy = await work.session.execute(
        select(Transaction.id).where(
            Transaction.id_token == token.id_token, Transaction.status == "Active"
        )
    )
    if busy.first() is not None:
        return _decision(token, "ConcurrentTx")
    return _decision(token)


async def remote_verdict(app: web.Application, station_id: str, id_token: str,
                         token_type: str, evse_number: int | None,
                         ocpp_version: str) -> str | None:
    """Ask the plugins that authorise tokens elsewhere (an eMSP, in real time) for a verdict.

    Called before the unit of work that answers the station, because the answer may take a
    network round trip; the first plugin with a verdict decides. The verdict is an OCPP status
    of ``ocpp_version`` (``1.6`` or ``2.x``).
    """
    for result in app[appkeys.PLUGINS].hook.openv2x_authorize_token(
            app=app, station_id=station_id, id_token=id_token, token_type=token_type,
            evse_number=evse_number, ocpp_version=ocpp_version):
        verdict = await await_me_maybe(result)
        if verdict is not None:
            return str(verdict)
    return None


async def authorize_vehicle(work: Work, identifier: str, *,
                            starting: bool = False) -> TokenDecision:
    """An EV that identified itself (EVCCID / MAC): its token's verdict, or its driver's.

    A vehicle linked to a token is treated as that token; one linked only to a driver is
    accepted for that driver; an unknown or unlinked vehicle is Invalid.
    """
    vehicle = (await work.session.execute(
        select(Vehicle).where(Vehicle.identifier == identifier))).scalars().first()
    if vehicle is None:
        return TokenDecision("Invalid", known=False)
    vehicle.last_seen = utcnow()
    if vehicle.id_token is not None:
        decision = await authorize_token(work, vehicle.id_token, starting=starting)
        return replace(decision, user_id=vehicle.user_id or decision.user_id)
    if vehicle.user_id is not None:
        return TokenDecision("Accepted", user_id=vehicle.user_id)
    return TokenDecision("Invalid")


async def ensure_connector(
    work: Work, station_id: str, evse_number: int, connector_number: int
) -> Connector:
    """The connector, created on first sight (seed 000: connectors come from the station)."""
    evse = (
        await work.session.execute(
            select(Evse).where(Evse.station_id == station_id, Evse.evse_number == evse_number)
        )
    ).scalars().first()
    if evse is None:
        evse = Evse(station_id=station_id, evse_number=evse_number)
        work.session.add(evse)
        await work.session.flush()
    connector = (
        await work.session.execute(
            select(Connector).where(
                Connector.evse_id == evse.id, Connector.connector_number == connector_number
            )
        )
    ).scalars().first()
    if connector is None:
        connector = Connector(evse_id=evse.id, station_id=station_id,
                              connector_number=connector_number, tariff_ids=[])
        work.session.add(connector)
        await work.session.flush()
        work.emit(Event("connector.created", {"station_id": station_id, "id": connector.id,
                                               "evse_number": evse_number,
                                               "connector_number": connector_number}))
    return connector


async def record_status(
    work: Work,
    station_id: str,
    *,
    evse_number: int | None,
    connector_number: int,
    status: str,
    error_code: str | None,
    timestamp: dt.datetime,
    info: str | None = None,
    vendor_id: str | None = None,
    vendor_error_code: str | None = None,
) -> None:
    """Keep the history row and, for a real connector, its live status."""
    work.session.add(
        StatusNotification(
            station_id=station_id, evse_number=evse_number, connector_number=connector_number,
            status=status, error_code=error_code, info=info, vendor_id=vendor_id,
            vendor_error_code=vendor_error_code, timestamp=timestamp,
        )
    )
    data = {"station_id": station_id, "evse_number": evse_number,
            "connector_number": connector_number, "status": status, "error_code": error_code,
            "timestamp": timestamp.isoformat()}
    if connector_number > 0 and evse_number is not None:
        connector = await ensure_connector(work, station_id, evse_number, connector_number)
        if connector.status_at is None or connector.status_at <= timestamp:
            connector.status, connector.error_code, connector.status_at = (
                status, error_code, timestamp)
        data["connector_id"] = connector.id
    work.emit(Event("connector.status_changed", data))


def to_wh(value: Decimal, unit: str | None) -> Decimal | None:
    factor = WH_PER_UNIT.get(unit or "Wh")
    return None if factor is None else value * factor


@dataclass(frozen=True)
class Sample:
    """One sampled value as a station reported it.

    ``number`` is the reading in ``unit`` (``None`` when only a signed reading came, as in
    OCPP 1.6 SignedData); ``signed_data`` keeps a meter's signature as received.
    """

    timestamp: dt.datetime
    value: str
    measurand: str = ENERGY_REGISTER
    unit: str | None = None
    phase: str | None = None
    context: str | None = None
    location: str | None = None
    number: Decimal | None = None
    signed_data: str | None = None


def parse_decimal(value: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"sampled value {value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"sampled value {value!r} is not a finite number")
    return number


async def record_samples(
    work: Work,
    station_id: str,
    samples: list[Sample],
    *,
    transaction: Transaction | None,
    evse_number: int | None,
    connector_number: int | None,
) -> int:
    """Store samples; keep the session's SoC and energy current. Returns how many were stored.

    The energy register only grows, so a late (offline-queued) older reading never lowers the
    session's energy.
    """
    tx_id = transaction.id if transaction else None
    work.append_rows(METER_VALUES, [
        {"transaction_id": tx_id, "station_id": station_id, "evse_number": evse_number,
         "connector_number": connector_number, "timestamp": s.timestamp,
         "measurand": s.measurand, "phase": s.phase, "unit": s.unit, "context": s.context,
         "location": s.location, "value": s.number,
         "signed_data": s.signed_data}
        for s in samples])
    if transaction is None:
        return len(samples)
    newest_energy: tuple[dt.datetime, Decimal] | None = None
    for sample in samples:
        if sample.number is None:
            continue
        if sample.measurand == "SoC":
            transaction.soc_last = int(sample.number)
            if transaction.soc_start is None:
                transaction.soc_start = int(sample.number)
        elif sample.measurand == ENERGY_REGISTER and sample.phase is None and (
            sample.location in (None, "Outlet")
        ):
            wh = to_wh(sample.number, sample.unit)
            if wh is not None and (newest_energy is None or sample.timestamp >= newest_energy[0]):
                newest_energy = (sample.timestamp, wh)
    if (newest_energy is not None and transaction.status == "Active"
            and transaction.meter_start_wh is not None):
        energy = max(0, int(newest_energy[1]) - transaction.meter_start_wh)
        transaction.energy_wh = max(transaction.energy_wh or 0, energy)
    return len(samples)


async def station_transaction(work: Work, station_id: str,
                              transaction_id: int) -> Transaction | None:
    """A transaction by id, only if it belongs to this station."""
    tx = await work.session.get(Transaction, transaction_id)
    return tx if tx is not None and tx.station_id == station_id else None


async def active_transaction(
    work: Work, station_id: str, connector_number: int, evse_number: int | None = None
) -> Transaction | None:
    """The open session on a connector; ``evse_number`` defaults to the connector's (OCPP 1.6)."""
    return (
        await work.session.execute(
            select(Transaction).where(
                Transaction.station_id == station_id,
                Transaction.evse_number == (connector_number if evse_number is None
                                            else evse_number),
                Transaction.connector_number == connector_number,
                Transaction.status == "Active",
            )
        )
    ).scalars().first()


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def close_unconfirmed(work: Work, tx: Transaction, *, at: dt.datetime, closed_by: str,
                      reason: str) -> None:
    """Close a session its station has not stopped (a ghost, or an operator's force-stop).

    It is flagged for review, and the stop reason is ``Other``. If the station's own stop
    arrives later, :func:`finish_transaction` applies it: the station knows the real meter.
    """
    tx.status, tx.stopped_at, tx.closed_by = "Completed", max(at, tx.started_at), closed_by
    tx.stop_reason, tx.flagged = "Other", True
    tx.flag_reason = _joined(tx.flag_reason, reason)
    work.emit(Event("transaction.ended", {
        "id": tx.id, "station_id": tx.station_id, "energy_wh": tx.energy_wh,
        "stopped_at": _iso(tx.stopped_at), "reason": tx.stop_reason, "flagged": True,
        "closed_by": closed_by}))


def takes_stop(tx: Transaction) -> bool:
    """Whether a station's stop still changes ``tx``: not if its station already stopped it.

    A session the CSMS or an operator closed takes the station's figures when they come.
    """
    return tx.status == "Active" or tx.closed_by in ("csms", "operator")


def finish_transaction(work: Work, tx: Transaction, *, at: dt.datetime, meter_stop_wh: int,
                       reason: str) -> None:
    """Apply the station's stop (check :func:`takes_stop` first).

    A session closed without its station stays flagged and is announced again with
    ``corrected`` so billing can re-rate it.
    """
    corrected = tx.status != "Active"
    tx.status, tx.stopped_at, tx.meter_stop_wh = "Completed", at, meter_stop_wh
    tx.stop_reason, tx.closed_by = reason, "station"
    if tx.meter_start_wh is not None:
        tx.energy_wh = max(0, meter_stop_wh - tx.meter_start_wh)
    if corrected:
        tx.flag_reason = _joined(tx.flag_reason, "the station's own stop arrived later and "
                                                 "was applied")
    work.emit(Event("transaction.ended", {
        "id": tx.id, "station_id": tx.station_id, "meter_stop_wh": meter_stop_wh,
        "energy_wh": tx.energy_wh, "stopped_at": _iso(at), "reason": reason,
        "flagged": tx.flagged, "closed_by": "station", "corrected": corrected}))


def _joined(existing: str | None, addition: str) -> str:
    return addition if not existing else f"{existing}; {addition}"[:255]


async def close_ghosts_on_status(work: Work, station_id: str, connector_number: int,
                                 status: str, at: dt.datetime,
                                 evse_number: int | None = None) -> None:
    """A connector reported free while a session is open on it: the station forgot the stop."""
    if status != "Available" or connector_number < 1:
        return
    tx = await active_transaction(work, station_id, connector_number, evse_number)
    if tx is not None and tx.started_at < at:
        close_unconfirmed(work, tx, at=at, closed_by="csms",
                          reason="closed by the CSMS: the connector reported Available "
                                 "without a StopTransaction")


async def link_reservation(work: Work, station_id: str, reservation_id: int | None,
                           id_token: str) -> int | None:
    """Mark the reservation used by this session; returns its id when it matched."""
    if reservation_id is None:
        return None
    reservation = await work.session.get(Reservation, reservation_id)
    if reservation is None or reservation.station_id != station_id:
        return None
    reservation.status = "Used"
    work.emit(Event("reservation.used", {"id": reservation.id, "station_id": station_id,
                                         "id_token": id_token}))
    return reservation.id


async def record_reservation(work: Work, station_id: str, reservation_id: int, *,
                             evse_number: int | None, connector_number: int | None,
                             id_token: str, expiry: dt.datetime, station_answer: str) -> None:
    """A reservation as the station answered it (Accepted → Active, else its refusal)."""
    reservation = await work.session.get(Reservation, reservation_id)
    if reservation is None:
        reservation = Reservation(id=reservation_id, station_id=station_id)
        work.session.add(reservation)
    reservation.station_id = station_id
    reservation.evse_number, reservation.connector_number = evse_number, connector_number
    reservation.id_token, reservation.expiry_date = id_token, expiry
    reservation.status = "Active" if station_answer == "Accepted" else station_answer
    await work.session.flush()
    work.emit(Event("reservation.updated", {"id": reservation.id, "station_id": station_id,
                                            "status": reservation.status}))


async def cancel_reservation(work: Work, station_id: str, reservation_id: int) -> None:
    await work.session.execute(update(Reservation).where(
        Reservation.id == reservation_id, Reservation.station_id == station_id
    ).values(status="Cancelled"))
    work.emit(Event("reservation.updated", {"id": reservation_id, "station_id": station_id,
                                            "status": "Cancelled"}))


async def set_local_list_version(work: Work, station_id: str, version: int, *,
                                 sent: bool) -> None:
    """The station's local list version: one we ``sent`` (and it accepted), or one it reported."""
    values: dict[str, Any] = {"local_list_version": version}
    if sent:
        values["local_list_sent_at"] = utcnow()
    await work.session.execute(
        update(ChargingStation).where(ChargingStation.id == station_id).values(**values))


@dataclass(frozen=True)
class DataTransferReply:
    """A plugin's answer to a station's DataTransfer (status: Accepted, Rejected, …)."""

    status: str
    data: str | None = None


async def data_transfer(
    app: web.Application, station_id: str, vendor_id: str, message_id: str | None,
    data: str | None,
) -> DataTransferReply:
    """Ask the plugins (``openv2x_data_transfer``); nobody answering means UnknownVendorId."""
    results = app[appkeys.PLUGINS].hook.openv2x_data_transfer(
        app=app, station_id=station_id, vendor_id=vendor_id, message_id=message_id, data=data)
    replies = [await await_me_maybe(result) for result in results]
    return next((r for r in replies if isinstance(r, DataTransferReply)),
                DataTransferReply("UnknownVendorId"))
