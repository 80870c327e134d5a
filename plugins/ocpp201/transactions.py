"""Transactions (block E), remote control (F) and reservations (H).

TransactionEvent is the whole session lifecycle in OCPP 2.x. Real stations repeat and reorder
it (offline queues, a second Started, two Ended on shutdown, seqNo stuck at 0), so each event
is kept as received (``ocpp201_transaction_event``) and applied idempotently:

- an event already stored (same transaction, seqNo, type and timestamp) changes nothing;
- the first event of any type creates the session, so nothing is lost when Started is late;
  a late Started only moves the start earlier and fills in what was missing;
- the energy at start is the ``Transaction.Begin`` register reading (else the earliest one),
  the energy at stop the ``Transaction.End`` reading (else the newest);
- Ended closes the session with the station's stoppedReason; a repeated Ended changes
  nothing, and one for a session the CSMS had closed as a ghost corrects it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, cast

from ocpp.exceptions import PropertyConstraintViolationError
from ocpp.routing import on
from sqlalchemy import Table, func, select

from core import stations
from core.db import Work
from core.db.models import Reservation, Transaction
from core.db.types import utcnow
from core.events import Event
from core.ocpp.guard import camel_keys
from core.ocpp.times import iso, parse_time
from core.rest.routes import Route
from plugins.ocpp201.authorization import decide, id_token_info, remote_verdict
from plugins.ocpp201.base import Effect, HandlerBase
from plugins.ocpp201.models import TransactionEvent

log = logging.getLogger(__name__)
EVENT_LOG = cast(Table, TransactionEvent.__table__)


def samples_from(meter_values: list[dict[str, Any]]) -> list[stations.Sample]:
    """OCPP 2.x MeterValue objects (snake_case) as version-neutral samples.

    A reading is kept in the base unit: ``value * 10**multiplier`` of ``unitOfMeasure.unit``.
    """
    out = []
    for entry in meter_values:
        when = parse_time(entry["timestamp"])
        for sv in entry["sampled_value"]:
            measurand = sv.get("measurand", stations.ENERGY_REGISTER)
            unit_of = sv.get("unit_of_measure") or {}
            unit = unit_of.get("unit", "Wh" if measurand.startswith("Energy") else None)
            try:
                number = Decimal(str(sv["value"])).scaleb(unit_of.get("multiplier", 0))
            except InvalidOperation:
                raise PropertyConstraintViolationError(
                    details={"cause": f"sampled value {sv['value']!r} is not a number"}
                ) from None
            signed = sv.get("signed_meter_value")
            out.append(stations.Sample(
                timestamp=when, value=str(sv["value"]), measurand=measurand, unit=unit,
                phase=sv.get("phase"), context=sv.get("context", "Sample.Periodic"),
                location=sv.get("location"), number=number,
                signed_data=json.dumps(camel_keys(signed)) if signed else None))
    return out


def _register_wh(samples: list[stations.Sample], context: str, *,
                 newest: bool) -> int | None:
    """The energy register in Wh: the reading with ``context``, else the oldest/newest one."""
    readings = [s for s in samples if s.measurand == stations.ENERGY_REGISTER
                and s.phase is None and s.location in (None, "Outlet") and s.number is not None]
    if not readings:
        return None
    tagged = [s for s in readings if s.context == context]
    pool = tagged or readings
    pick = max if newest else min
    chosen = pick(pool, key=lambda s: s.timestamp)
    wh = stations.to_wh(chosen.number, chosen.unit) if chosen.number is not None else None
    return None if wh is None else int(wh)


@dataclass(frozen=True)
class EventIn:
    """A TransactionEvent, parsed before it is queued for the database."""

    station_id: str
    event_type: str
    at: dt.datetime
    trigger_reason: str
    seq_no: int
    uid: str
    info: dict[str, Any]
    evse_id: int | None
    connector_id: int | None
    id_token: dict[str, Any] | None
    reservation_id: int | None
    offline: bool
    samples: list[stations.Sample]
    remote: str | None = None  # the token issuer's verdict on id_token, when it gave one


@dataclass(frozen=True)
class KnownTransaction:
    """What a connection remembers of a session, to skip per-event queries.

    Only committed facts: the session's primary key (immutable), the newest event time stored
    and the events stored at that time (this connection's). An event newer than that cannot
    be a repeat; only older ones are looked up.
    """

    pk: int
    newest: dt.datetime
    at_newest: frozenset[tuple[int, str]] = frozenset()
    complete: bool = True  # whether at_newest holds every event stored at that time
    charging_state: str | None = None  # the last one announced

    def after(self, event: EventIn, state: str | None) -> KnownTransaction:
        """This memory once ``event`` (with its charging ``state``, if any) is stored."""
        state = state or self.charging_state
        if event.at > self.newest:
            return replace(self, newest=event.at, at_newest=frozenset({_key(event)}),
                           complete=True, charging_state=state)
        if event.at == self.newest:
            return replace(self, at_newest=self.at_newest | {_key(event)},
                           charging_state=state)
        return replace(self, charging_state=state)


def _key(event: EventIn) -> tuple[int, str]:
    return event.seq_no, event.event_type


async def _is_repeat(work: Work, event: EventIn, known: KnownTransaction | None) -> bool:
    if known is not None and event.at > known.newest:
        return False
    if known is not None and event.at == known.newest and known.complete:
        return _key(event) in known.at_newest
    found = await work.session.execute(select(TransactionEvent.id).where(
        TransactionEvent.station_id == event.station_id,
        TransactionEvent.transaction_uid == event.uid, TransactionEvent.seq_no == event.seq_no,
        TransactionEvent.event_type == event.event_type,
        TransactionEvent.timestamp == event.at))
    return found.first() is not None


async def _newest_stored(work: Work, event: EventIn) -> dt.datetime | None:
    """The latest event time stored for the session (read once per connection)."""
    newest: dt.datetime | None = await work.session.scalar(
        select(func.max(TransactionEvent.timestamp)).where(
            TransactionEvent.station_id == event.station_id,
            TransactionEvent.transaction_uid == event.uid))
    return newest.replace(tzinfo=dt.UTC) if newest and newest.tzinfo is None else newest


def _log_event(work: Work, event: EventIn) -> None:
    work.append_rows(EVENT_LOG, [{
        "station_id": event.station_id, "transaction_uid": event.uid, "seq_no": event.seq_no,
        "event_type": event.event_type, "trigger_reason": event.trigger_reason,
        "timestamp": event.at, "offline": event.offline,
        "charging_state": event.info.get("charging_state"),
        "stopped_reason": event.info.get("stopped_reason"), "evse_number": event.evse_id,
        "connector_number": event.connector_id,
        "id_token": event.id_token["id_token"] if event.id_token else None,
        "remote_start_id": event.info.get("remote_start_id"), "received_at": utcnow()}])


async def _find(work: Work, event: EventIn,
                known: KnownTransaction | None) -> Transaction | None:
    found = await work.session.get(Transaction, known.pk) if known is not None else None
    if found is None:
        found = (await work.session.execute(select(Transaction).where(
            Transaction.station_id == event.station_id,
            Transaction.transaction_uid == event.uid))).scalars().first()
    if found is not None and event.at < found.started_at:
        found.started_at = event.at
    return found


async def _create(work: Work, event: EventIn,
                  decision: stations.TokenDecision | None) -> Transaction:
    """The session, created by whichever of its events comes first."""
    if event.evse_id is not None and event.connector_id is not None:
        await stations.ensure_connector(work, event.station_id, event.evse_id,
                                        event.connector_id)
        ghost = await stations.active_transaction(work, event.station_id, event.connector_id,
                                                  event.evse_id)
        if ghost is not None:
            stations.close_unconfirmed(
                work, ghost, at=event.at, closed_by="csms",
                reason="closed by the CSMS: a new transaction started on its connector "
                       "without ending it")
    tx = Transaction(
        station_id=event.station_id, transaction_uid=event.uid, evse_number=event.evse_id,
        connector_number=event.connector_id, started_at=event.at, energy_wh=0,
        status="Active", remote_start_id=event.info.get("remote_start_id"),
        id_token=event.id_token["id_token"] if event.id_token else None,
        user_id=decision.user_id if decision else None,
        reservation_id=await stations.link_reservation(
            work, event.station_id, event.reservation_id,
            event.id_token["id_token"] if event.id_token else ""),
    )
    if event.event_type != "Started":
        tx.flagged, tx.flag_reason = True, f"first seen in a {event.event_type} event"
    work.session.add(tx)
    await work.session.flush()
    work.emit(Event("transaction.started", {
        "id": tx.id, "transaction_uid": tx.transaction_uid, "station_id": event.station_id,
        "evse_number": event.evse_id, "connector_number": event.connector_id,
        "id_token": tx.id_token, "started_at": iso(tx.started_at),
        "remote_start_id": tx.remote_start_id,
        "authorized": decision is None or decision.status == "Accepted"}))
    return tx


def _fill_in(tx: Transaction, event: EventIn, decision: stations.TokenDecision | None) -> None:
    """What later events add: the EVSE, the token once the driver authorized, …"""
    if tx.evse_number is None and event.evse_id is not None:
        tx.evse_number = event.evse_id
    if tx.connector_number is None and event.connector_id is not None:
        tx.connector_number = event.connector_id
    if tx.remote_start_id is None and event.info.get("remote_start_id") is not None:
        tx.remote_start_id = event.info["remote_start_id"]
    if event.id_token and tx.id_token is None:
        tx.id_token = event.id_token["id_token"]
        tx.user_id = decision.user_id if decision else None
    if decision is not None and decision.status != "Accepted" and event.event_type != "Ended":
        tx.flagged = True
        tx.flag_reason = f"id token {decision.status}"[:255]


@dataclass(frozen=True)
class Applied:
    """What storing one event gave: the IdTokenInfo to answer with and the session's state."""

    id_token_info: dict[str, Any] | None
    known: KnownTransaction | None


async def apply_event(work: Work, event: EventIn, known: KnownTransaction | None) -> Applied:
    """Store one TransactionEvent.

    ``known`` is what the connection remembers of the session: with it, a batch of Updated
    events needs no query of its own. The result carries the session's state to remember.
    """
    if await _is_repeat(work, event, known):
        decision = await decide(work, event.id_token, remote=event.remote) \
            if event.id_token else None
        return Applied(await id_token_info(work, decision) if decision else None, known)
    _log_event(work, event)
    tx = await _find(work, event, known)
    decision = None
    if event.id_token:
        decision = await decide(work, event.id_token,
                                starting=tx is None and event.event_type == "Started",
                                remote=event.remote)
    if tx is None:
        tx = await _create(work, event, decision)
    _fill_in(tx, event, decision)
    if tx.meter_start_wh is None:
        tx.meter_start_wh = _register_wh(event.samples, "Transaction.Begin", newest=False)
    if event.samples:
        stored = await stations.record_samples(
            work, event.station_id, event.samples, transaction=tx,
            evse_number=tx.evse_number, connector_number=tx.connector_number)
        work.emit(Event("meter.sampled", {
            "station_id": event.station_id, "connector_number": tx.connector_number,
            "evse_number": tx.evse_number, "transaction_id": tx.id, "samples": stored,
            "energy_wh": tx.energy_wh, "soc": tx.soc_last}))
    state = event.info.get("charging_state")
    if state and (known is None or state != known.charging_state):
        # Announced when it changes (or this connection does not know the last one).
        work.emit(Event("transaction.charging_state", {
            "id": tx.id, "station_id": event.station_id, "at": iso(event.at),
            "charging_state": event.info["charging_state"],
            "trigger_reason": event.trigger_reason}))
    if event.event_type == "Ended" and stations.takes_stop(tx):
        end = _register_wh(event.samples, "Transaction.End", newest=True)
        if end is None:
            end = (tx.meter_start_wh or 0) + (tx.energy_wh or 0)
        stations.finish_transaction(work, tx, at=event.at, meter_stop_wh=end,
                                    reason=event.info.get("stopped_reason", "Local"))
    if known is None:
        newest = await _newest_stored(work, event)
        # Events at that time came from another connection: not all of them are known here.
        known = (KnownTransaction(tx.id, newest, complete=False) if newest and newest >= event.at
                 else KnownTransaction(tx.id, event.at))
    remembered = known.after(event, state)
    return Applied(await id_token_info(work, decision) if decision else None, remembered)


async def reserve_now(work: Work, station_id: str, request: dict[str, Any],
                      answer: dict[str, Any]) -> None:
    await stations.record_reservation(
        work, station_id, request["id"], evse_number=request.get("evse_id"),
        connector_number=None, id_token=request["id_token"]["id_token"],
        expiry=parse_time(request["expiry_date_time"]), station_answer=answer["status"])


async def cancel_reservation(work: Work, station_id: str, request: dict[str, Any],
                             answer: dict[str, Any]) -> None:
    if answer["status"] == "Accepted":
        await stations.cancel_reservation(work, station_id, request["reservation_id"])


def _announce(name: str) -> Effect:
    """An effect that only publishes the request and the station's answer."""
    async def effect(work: Work, station_id: str, request: dict[str, Any],
                     answer: dict[str, Any]) -> None:
        work.emit(Event(name, {"station_id": station_id, "request": request,
                               "answer": answer}))
    return effect


class TransactionHandlers(HandlerBase):
    # transaction id → what this connection knows of the session (see KnownTransaction)
    known_transactions: dict[str, KnownTransaction]

    OWN_EFFECTS: ClassVar[dict[str, Effect]] = {
        "ReserveNow": reserve_now, "CancelReservation": cancel_reservation,
        "RequestStartTransaction": _announce("transaction.remote_start"),
        "RequestStopTransaction": _announce("transaction.remote_stop"),
        "GetTransactionStatus": _announce("transaction.status_reported"),
        "CostUpdated": _announce("transaction.cost_sent"),
    }

    @on("TransactionEvent")
    async def on_transaction_event(self, event_type: str, timestamp: str, trigger_reason: str,
                                   seq_no: int, transaction_info: dict[str, Any],
                                   **fields: Any) -> dict[str, Any]:
        evse = fields.get("evse") or {}
        event = EventIn(
            station_id=self.id, event_type=event_type, at=parse_time(timestamp),
            trigger_reason=trigger_reason, seq_no=seq_no,
            uid=transaction_info["transaction_id"], info=transaction_info,
            evse_id=evse.get("id"), connector_id=evse.get("connector_id"),
            id_token=fields.get("id_token"), reservation_id=fields.get("reservation_id"),
            offline=bool(fields.get("offline")),
            samples=samples_from(fields.get("meter_value") or []),
            remote=await remote_verdict(self.app, self.id, fields.get("id_token"),
                                        evse.get("id")))

        known = self.known_transactions.get(event.uid)

        async def store(work: Work) -> Applied:
            return await apply_event(work, event, known)

        applied = await self._write(store, transaction_id=known.pk if known else None)
        # Only committed facts are remembered; a session that ended is forgotten.
        if event.event_type == "Ended" or applied.known is None:
            self.known_transactions.pop(event.uid, None)
        else:
            self.known_transactions[event.uid] = applied.known
        return {"id_token_info": applied.id_token_info} if applied.id_token_info else {}

    @on("MeterValues")
    async def on_meter_values(self, evse_id: int, meter_value: list[dict[str, Any]],
                              **_: Any) -> dict[str, Any]:
        samples = samples_from(meter_value)

        async def store(work: Work) -> None:
            # Not part of a transaction in 2.x; linked to the EVSE's open session if there is one.
            tx = (await work.session.execute(select(Transaction).where(
                Transaction.station_id == self.id, Transaction.evse_number == evse_id,
                Transaction.status == "Active"))).scalars().first() if evse_id else None
            stored = await stations.record_samples(work, self.id, samples, transaction=tx,
                                                   evse_number=evse_id, connector_number=None)
            work.emit(Event("meter.sampled", {
                "station_id": self.id, "evse_number": evse_id,
                "transaction_id": tx.id if tx else None, "samples": stored,
                "energy_wh": tx.energy_wh if tx else None,
                "soc": tx.soc_last if tx else None}))

        await self._write(store)
        return {}

    @on("ReservationStatusUpdate")
    async def on_reservation_status(self, reservation_id: int, reservation_update_status: str,
                                    **_: Any) -> dict[str, Any]:
        async def store(work: Work) -> None:
            reservation = await work.session.get(Reservation, reservation_id)
            if reservation is None or reservation.station_id != self.id:
                log.warning("%s: status for unknown reservation %s", self.id, reservation_id)
                return
            reservation.status = reservation_update_status
            work.emit(Event("reservation.updated", {
                "id": reservation_id, "station_id": self.id,
                "status": reservation_update_status}))

        await self._write(store)
        return {}


def routes() -> list[Route]:
    """REST routes of this block: none (sessions are the core's ``/api/transaction/``)."""
    return []
