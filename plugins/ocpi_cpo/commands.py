"""Commands module, RECEIVER: eMSPs start, stop, reserve and unlock at our stations.

``POST {url}/{command}`` for START_SESSION, STOP_SESSION, RESERVE_NOW, CANCEL_RESERVATION
and UNLOCK_CONNECTOR. The answer comes at once: a CommandResponse saying whether the command
can go to the station (``ACCEPTED`` with ``timeout`` = ``command_timeout``; ``REJECTED`` when
the station is offline or the object is not the caller's; ``UNKNOWN_SESSION``). A body that
breaks the specification is 2001, an unknown location, EVSE or connector 2003 (in an HTTP 200
answer: the command URL exists, so the request reached the OCPI layer), an unknown command 404.

An accepted command is kept (``ocpi_cpo_command``) before it is answered, then sent to the
station in the OCPP version it speaks, and the station's answer is POSTed as a CommandResult to
the ``response_url``, with our token for that partner and routing headers to the requesting
party. A station that does not answer in time gives ``TIMEOUT``. After a restart, commands a
previous process left unanswered get ``TIMEOUT`` once their time is up, and results not yet
delivered are delivered: none is lost silently.

START_SESSION and RESERVE_NOW carry a Token the eMSP authorized itself: it is stored like a
Tokens PUT and accepted at the station for a grant (see :mod:`plugins.ocpi_cpo.tokens`), so
the station's Authorize and StartTransaction / TransactionEvent that follow succeed. eMSP
reservation ids never reach a station: each reservation gets our own (the core
``reservation`` row's id), so one eMSP cannot replace or cancel another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from core import appkeys
from core.db import Work
from core.db.models import (
    ChargingStation,
    Evse,
    Location,
    Reservation,
    Transaction,
)
from core.db.types import utcnow
from core.dispatch import (
    CommandError,
    CommandRejected,
    CommandTimeout,
    InvalidCommand,
    StationNotConnected,
)
from core.ocpi import (
    RECEIVER,
    OcpiModule,
    OcpiReply,
    OcpiRequest,
    OcpiRoute,
    Party,
    parse_datetime,
    status,
)
from core.ocpi.fields import Field, validate
from core.ocpi.status import OcpiError
from core.ocpp.guard import validated_request
from core.ocpp.times import iso
from plugins.ocpi_cpo.async_results import (
    DELIVERED,
    PENDING,
    RESULT,
    STATION_SHARE,
    UNDELIVERABLE,
    BackgroundTasks,
    post_result,
    registered_partner,
)
from plugins.ocpi_cpo.config import CONFIG
from plugins.ocpi_cpo.receiver_models import OcpiCommand, OcpiReservation, OcpiToken
from plugins.ocpi_cpo.tokens import (
    COMMAND_GRANT,
    OCPP16_ID_LENGTH,
    OCPP_TOKEN_TYPES,
    TOKEN_FIELDS,
    may_act_for,
    store_token,
)

log = logging.getLogger(__name__)

MODULE = "commands"
# Station answers (OCPP ``status``) as CommandResult values, by action; others are FAILED.
_START = {"Accepted": "ACCEPTED", "Rejected": "REJECTED"}
OUTCOMES: dict[str, dict[str, str]] = {
    "RemoteStartTransaction": _START, "RequestStartTransaction": _START,
    "RemoteStopTransaction": _START, "RequestStopTransaction": _START,
    "ReserveNow": {"Accepted": "ACCEPTED", "Faulted": "EVSE_INOPERATIVE",
                   "Occupied": "EVSE_OCCUPIED", "Rejected": "REJECTED",
                   "Unavailable": "EVSE_INOPERATIVE"},
    "CancelReservation": {"Accepted": "ACCEPTED", "Rejected": "UNKNOWN_RESERVATION"},
    "UnlockConnector": {"Unlocked": "ACCEPTED", "UnlockFailed": "FAILED",
                        "NotSupported": "NOT_SUPPORTED",
                        "OngoingAuthorizedTransaction": "REJECTED",
                        "UnknownConnector": "REJECTED"},
}

_URL = Field("url", required=True)
_ID = Field("cistring", 36, 1)
_REQUIRED_ID = Field("cistring", 36, 1, required=True)
_TOKEN = Field("object", required=True, nested=TOKEN_FIELDS)
BODIES: dict[str, dict[str, Field]] = {
    "START_SESSION": {"response_url": _URL, "token": _TOKEN, "location_id": _REQUIRED_ID,
                      "evse_uid": _ID, "connector_id": _ID, "authorization_reference": _ID},
    "STOP_SESSION": {"response_url": _URL, "session_id": _REQUIRED_ID},
    "RESERVE_NOW": {"response_url": _URL, "token": _TOKEN,
                    "expiry_date": Field("datetime", required=True),
                    "reservation_id": _REQUIRED_ID, "location_id": _REQUIRED_ID,
                    "evse_uid": _ID, "authorization_reference": _ID},
    "CANCEL_RESERVATION": {"response_url": _URL, "reservation_id": _REQUIRED_ID},
    "UNLOCK_CONNECTOR": {"response_url": _URL, "location_id": _REQUIRED_ID,
                         "evse_uid": _REQUIRED_ID, "connector_id": _REQUIRED_ID},
}


class Refusal(Exception):
    """The CPO will not send the command: answered with this CommandResponse result."""

    def __init__(self, result: str, message: str) -> None:
        super().__init__(message)
        self.result = result
        self.message = message


@dataclass(frozen=True)
class Target:
    """Where a command goes: a station (and the OCPP version it speaks) and an EVSE."""

    station_id: str
    version: str
    evse_number: int | None = None
    connector_number: int | None = None


# Builds the OCPP request inside the unit of work that keeps the command (its id is known).
Prepare = Callable[[Work, OcpiCommand], Awaitable[tuple[str, dict[str, Any]]]]


@dataclass(frozen=True)
class Plan:
    target: Target
    prepare: Prepare


def display(text: str) -> list[dict[str, str]]:
    """A DisplayText list (English) for CommandResponse / CommandResult messages."""
    return [{"language": "en", "text": text[:512]}]


# ---- finding what a command acts on ------------------------------------------------------


def _online(station: ChargingStation) -> Target:
    if not station.connected or not station.ocpp_version:
        raise Refusal("REJECTED", f"charging station {station.id} is offline")
    return Target(station.id, station.ocpp_version)


async def _location_evses(app: web.Application, location_id: str
                          ) -> list[tuple[Evse, ChargingStation]]:
    async with app[appkeys.DB].session() as session:
        # CiString: the id in any letter case (partners may keep it lower-cased).
        location = await session.get(Location, location_id) or (await session.execute(
            select(Location).where(func.upper(Location.id) == location_id.upper()))
        ).scalars().first()
        if location is None:
            raise OcpiError(status.UNKNOWN_LOCATION, f"unknown location {location_id}")
        location_id = location.id
        rows = (await session.execute(
            select(Evse, ChargingStation).join(ChargingStation,
                                               Evse.station_id == ChargingStation.id)
            .where(ChargingStation.location_id == location_id)
            .options(selectinload(Evse.connectors))
            .order_by(ChargingStation.id, Evse.evse_number))).all()
    return [(evse, station) for evse, station in rows]


def _free_first(evse: Evse, station: ChargingStation) -> tuple[bool, bool]:
    """Sort key: online stations first, then EVSEs with an Available connector."""
    available = any(c.status == "Available" for c in evse.connectors)
    return (not station.connected, not available)


async def resolve(app: web.Application, location_id: str, evse_uid: str | None,
                  connector_id: str | None) -> Target:
    """The station and EVSE (and connector) a command names; without an EVSE, an online one
    of the location, free if possible. Unknown ones are 2003; an offline station a refusal."""
    rows = await _location_evses(app, location_id)
    if evse_uid is None:
        if connector_id is not None:
            raise status.invalid("connector_id needs evse_uid")
        if not rows:
            raise Refusal("REJECTED", f"location {location_id} has no EVSE")
        evse, station = min(rows, key=lambda row: _free_first(*row))
    else:
        found = [row for row in rows if row[0].uid.upper() == evse_uid.upper()]
        if not found:
            raise OcpiError(status.UNKNOWN_LOCATION, f"unknown EVSE {evse_uid}")
        evse, station = found[0]
    connector_number = None
    if connector_id is not None:
        match = [c for c in evse.connectors if str(c.connector_number) == connector_id]
        if not match:
            raise OcpiError(status.UNKNOWN_LOCATION, f"unknown connector {connector_id}")
        connector_number = match[0].connector_number
    target = _online(station)
    return Target(target.station_id, target.version, evse.evse_number, connector_number)


def _id_token(token: dict[str, Any]) -> dict[str, str]:
    return {"id_token": token["uid"], "type": OCPP_TOKEN_TYPES.get(token["type"], "Central")}


def _own_token(request: OcpiRequest, token: dict[str, Any]) -> None:
    if not may_act_for(request, Party(token["country_code"], token["party_id"])):
        raise Refusal("REJECTED", "the token belongs to another party")


async def _keep_token(work: Work, request: OcpiRequest, token: dict[str, Any],
                      grant_until: dt.datetime, reference: str | None) -> None:
    """Store the command's Token with its grant; a uid of another party is refused."""
    try:
        row = await store_token(work, token, partner_id=request.partner.id, source="command",
                                grant_until=grant_until)
    except OcpiError as exc:
        raise Refusal("REJECTED", exc.message) from None
    if reference is not None:
        row.authorization_reference = reference


# ---- the five commands -------------------------------------------------------------------


def remote_start(target: Target, token: dict[str, Any], remote_start_id: int
                 ) -> tuple[str, dict[str, Any]]:
    """RemoteStartTransaction (1.6) or RequestStartTransaction (2.x) for a token."""
    if target.version == "1.6":
        payload: dict[str, Any] = {"id_tag": token["uid"]}
        if target.evse_number is not None:
            payload["connector_id"] = target.evse_number
        return "RemoteStartTransaction", payload
    payload = {"id_token": _id_token(token), "remote_start_id": remote_start_id}
    if target.evse_number is not None:
        payload["evse_id"] = target.evse_number
    return "RequestStartTransaction", payload


async def plan_start_session(request: OcpiRequest, body: dict[str, Any]) -> Plan:
    token = body["token"]
    _own_token(request, token)
    target = await resolve(request.app, body["location_id"], body.get("evse_uid"),
                           body.get("connector_id"))
    grant = utcnow() + COMMAND_GRANT

    async def prepare(work: Work, row: OcpiCommand) -> tuple[str, dict[str, Any]]:
        await _keep_token(work, request, token, grant, body.get("authorization_reference"))
        return remote_start(target, token, row.id)

    return Plan(target, prepare)


async def _session(app: web.Application, session_id: str) -> Transaction:
    async with app[appkeys.DB].session() as session:
        rows = list((await session.execute(select(Transaction).where(
            Transaction.transaction_uid == session_id).order_by(Transaction.id.desc())
        )).scalars())
    if not rows:
        raise Refusal("UNKNOWN_SESSION", f"unknown session {session_id}")
    return next((tx for tx in rows if tx.status == "Active"), rows[0])


async def _token_owners(app: web.Application, uid: str | None) -> list[Party]:
    if uid is None:
        return []
    async with app[appkeys.DB].session() as session:
        rows = (await session.execute(select(OcpiToken.country_code, OcpiToken.party_id)
                                      .where(OcpiToken.uid == uid))).all()
    return [Party(cc, pid) for cc, pid in rows]


async def _station(app: web.Application, station_id: str) -> ChargingStation:
    async with app[appkeys.DB].session() as session:
        station = await session.get(ChargingStation, station_id)
    if station is None:
        raise Refusal("REJECTED", f"charging station {station_id} no longer exists")
    return station


async def plan_stop_session(request: OcpiRequest, body: dict[str, Any]) -> Plan:
    tx = await _session(request.app, body["session_id"])
    owners = await _token_owners(request.app, tx.id_token)
    if not any(may_act_for(request, owner) for owner in owners):
        raise Refusal("REJECTED", "the session was not started with a token of yours")
    if tx.status != "Active":
        raise Refusal("REJECTED", "the session has already ended")
    target = _online(await _station(request.app, tx.station_id))

    async def prepare(work: Work, row: OcpiCommand) -> tuple[str, dict[str, Any]]:
        if target.version == "1.6":
            return "RemoteStopTransaction", {"transaction_id": tx.id}
        return "RequestStopTransaction", {"transaction_id": tx.transaction_uid}

    return Plan(target, prepare)


def reserve_now(target: Target, token: dict[str, Any], reservation_id: int,
                expiry: dt.datetime) -> tuple[str, dict[str, Any]]:
    """ReserveNow in the station's version; without an EVSE 1.6 reserves connector 0."""
    if target.version == "1.6":
        payload: dict[str, Any] = {"connector_id": target.evse_number or 0,
                                   "expiry_date": iso(expiry), "id_tag": token["uid"],
                                   "reservation_id": reservation_id}
        group = token.get("group_id")
        if group and len(group) <= OCPP16_ID_LENGTH:
            payload["parent_id_tag"] = group
        return "ReserveNow", payload
    payload = {"id": reservation_id, "expiry_date_time": iso(expiry),
               "id_token": _id_token(token)}
    if target.evse_number is not None:
        payload["evse_id"] = target.evse_number
    return "ReserveNow", payload


async def _station_reservation(work: Work, request: OcpiRequest, owner: Party,
                               body: dict[str, Any], target: Target,
                               expiry: dt.datetime) -> int:
    """Our reservation id for the eMSP's: the same one again when it replaces a reservation
    at the same station (the station then replaces it too), else a new one."""
    mapping = (await work.session.execute(select(OcpiReservation).where(
        OcpiReservation.country_code == owner.country_code,
        OcpiReservation.party_id == owner.party_id,
        OcpiReservation.reservation_id == body["reservation_id"]))).scalars().first()
    if mapping is not None and mapping.station_id == target.station_id:
        return mapping.station_reservation_id
    reservation = Reservation(station_id=target.station_id, evse_number=target.evse_number,
                              connector_number=target.evse_number,
                              id_token=body["token"]["uid"], expiry_date=expiry,
                              status="Requested")
    work.session.add(reservation)
    await work.session.flush()
    if mapping is None:
        mapping = OcpiReservation(country_code=owner.country_code, party_id=owner.party_id,
                                  reservation_id=body["reservation_id"])
        work.session.add(mapping)
    mapping.partner_id, mapping.location_id = request.partner.id, body["location_id"]
    mapping.station_id, mapping.station_reservation_id = target.station_id, reservation.id
    return reservation.id


async def plan_reserve_now(request: OcpiRequest, body: dict[str, Any]) -> Plan:
    token = body["token"]
    _own_token(request, token)
    expiry = parse_datetime(body["expiry_date"], "expiry_date")
    if expiry <= utcnow():
        raise Refusal("REJECTED", "expiry_date has passed")
    target = await resolve(request.app, body["location_id"], body.get("evse_uid"), None)
    if body.get("evse_uid") is None:
        # Any EVSE of the station: it keeps one free for the driver (1.6: connector 0).
        target = dataclasses.replace(target, evse_number=None)
    owner = Party(token["country_code"], token["party_id"])
    # The driver may arrive any time before the reservation ends.
    grant = max(utcnow() + COMMAND_GRANT, expiry)

    async def prepare(work: Work, row: OcpiCommand) -> tuple[str, dict[str, Any]]:
        await _keep_token(work, request, token, grant, body.get("authorization_reference"))
        reservation_id = await _station_reservation(work, request, owner, body, target, expiry)
        return reserve_now(target, token, reservation_id, expiry)

    return Plan(target, prepare)


async def plan_cancel_reservation(request: OcpiRequest, body: dict[str, Any]) -> Plan:
    query = select(OcpiReservation).where(
        OcpiReservation.reservation_id == body["reservation_id"])
    async with request.app[appkeys.DB].session() as session:
        rows = list((await session.execute(query)).scalars())
    mine = [r for r in rows if may_act_for(request, Party(r.country_code, r.party_id))
            and (not request.partner.is_hub or request.sender is not None
                 or r.partner_id == request.partner.id)]
    if not mine:
        raise Refusal("REJECTED", f"unknown reservation {body['reservation_id']}")
    mapping = mine[0]
    target = _online(await _station(request.app, mapping.station_id))

    async def prepare(work: Work, row: OcpiCommand) -> tuple[str, dict[str, Any]]:
        return "CancelReservation", {"reservation_id": mapping.station_reservation_id}

    return Plan(target, prepare)


async def plan_unlock_connector(request: OcpiRequest, body: dict[str, Any]) -> Plan:
    target = await resolve(request.app, body["location_id"], body["evse_uid"],
                           body["connector_id"])

    async def prepare(work: Work, row: OcpiCommand) -> tuple[str, dict[str, Any]]:
        if target.version == "1.6":
            return "UnlockConnector", {"connector_id": target.evse_number}
        return "UnlockConnector", {"evse_id": target.evse_number,
                                   "connector_id": target.connector_number}

    return Plan(target, prepare)


PLANNERS: dict[str, Callable[[OcpiRequest, dict[str, Any]], Awaitable[Plan]]] = {
    "START_SESSION": plan_start_session, "STOP_SESSION": plan_stop_session,
    "RESERVE_NOW": plan_reserve_now, "CANCEL_RESERVATION": plan_cancel_reservation,
    "UNLOCK_CONNECTOR": plan_unlock_connector,
}


# ---- the Receiver interface --------------------------------------------------------------


def command_response(app: web.Application, result: str, message: str | None = None
                     ) -> dict[str, Any]:
    out: dict[str, Any] = {"result": result, "timeout": app[CONFIG].command_timeout}
    if message:
        out["message"] = display(message)
    return out


async def keep(request: OcpiRequest, name: str, body: dict[str, Any], plan: Plan) -> int:
    """Store the command with its OCPP request (checked against the station's schema) before
    it is acknowledged; a request the station's version cannot carry is refused."""
    app = request.app
    sender = request.sender
    async with app[appkeys.DB].transaction() as work:
        row = OcpiCommand(
            partner_id=request.partner.id, command=name,
            country_code=sender.country_code if sender else None,
            party_id=sender.party_id if sender else None,
            our_country_code=request.receiver.country_code,
            our_party_id=request.receiver.party_id, response_url=body["response_url"],
            request=body, station_id=plan.target.station_id, state=PENDING,
            deadline=utcnow() + dt.timedelta(seconds=app[CONFIG].command_timeout))
        work.session.add(row)
        await work.session.flush()
        action, payload = await plan.prepare(work, row)
        try:
            validated_request(plan.target.version, action, payload)
        except InvalidCommand as exc:
            raise Refusal("REJECTED", f"the charging station cannot take it: {exc}") from None
        row.action, row.payload = action, payload
        return row.id


async def post_command(request: OcpiRequest) -> OcpiReply:
    name = request.params["command"]
    fields = BODIES.get(name)
    if fields is None:
        raise status.not_found(f"unknown command {name}", status.INVALID_PARAMETERS)
    body = validate(await request.json(), fields, name)
    try:
        plan = await PLANNERS[name](request, body)
        command_id = await keep(request, name, body, plan)
    except Refusal as refusal:
        return OcpiReply(command_response(request.app, refusal.result, refusal.message))
    request.app[RUNNER].start(command_id)
    return OcpiReply(command_response(request.app, "ACCEPTED"))


def routes() -> tuple[OcpiRoute, ...]:
    return (OcpiRoute("POST", "/{command}", post_command),)


def module() -> OcpiModule:
    return OcpiModule(MODULE, RECEIVER, routes())


# ---- sending to the station and the result to the eMSP -----------------------------------


def outcome(action: str, answer: dict[str, Any]) -> tuple[str, str | None]:
    """The CommandResult (and a message) for the station's answer."""
    station_status = str(answer.get("status", ""))
    result = OUTCOMES.get(action, {}).get(station_status, "FAILED")
    info = answer.get("status_info") or {}
    reason = " ".join(str(info[k]) for k in ("reason_code", "additional_info") if info.get(k))
    message = f"charging station answered {station_status}" + (f": {reason}" if reason else "")
    return result, message


class CommandRunner:
    """Runs accepted commands in the background."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.background = BackgroundTasks()

    def start(self, command_id: int) -> None:
        self.background.spawn(self._execute(command_id), f"ocpi-command-{command_id}")

    async def close(self) -> None:
        await self.background.close()

    async def wait(self) -> None:
        """Until every command started so far has been answered and delivered."""
        await self.background.wait()

    async def _load(self, command_id: int) -> OcpiCommand | None:
        async with self.app[appkeys.DB].session() as session:
            return await session.get(OcpiCommand, command_id)

    async def _execute(self, command_id: int) -> None:
        row = await self._load(command_id)
        if row is None or row.state != PENDING or row.action is None:
            return
        result, message = await self._send(row)
        if result != "ACCEPTED" and row.action == "ReserveNow":
            await self._reservation_failed(row)
        await self.finish(command_id, result, message)

    async def _send(self, row: OcpiCommand) -> tuple[str, str | None]:
        timeout = max(1.0, self.app[CONFIG].command_timeout * STATION_SHARE)
        assert row.station_id is not None and row.action is not None
        try:
            answer = await self.app[appkeys.DISPATCHER].call(
                row.station_id, row.action, row.payload or {}, timeout)
        except StationNotConnected:
            return "FAILED", "the charging station went offline"
        except CommandTimeout:
            return "TIMEOUT", "the charging station did not answer in time"
        except CommandRejected as exc:
            unsupported = exc.error_code in ("NotImplemented", "NotSupported")
            return ("NOT_SUPPORTED" if unsupported else "FAILED",
                    f"the charging station refused: {exc.error_code}")
        except CommandError as exc:
            return "FAILED", str(exc)
        return outcome(row.action, answer)

    async def _reservation_failed(self, row: OcpiCommand) -> None:
        """A reservation the station never answered is not left ``Requested``."""
        number = (row.payload or {}).get("reservation_id", (row.payload or {}).get("id"))
        async with self.app[appkeys.DB].transaction() as work:
            await work.session.execute(update(Reservation).where(
                Reservation.id == number, Reservation.status == "Requested").values(
                status="Failed"))

    async def finish(self, command_id: int, result: str, message: str | None) -> None:
        """Record the outcome (once: whoever claims a pending command) and deliver it."""
        async with self.app[appkeys.DB].transaction() as work:
            claimed = await work.session.execute(update(OcpiCommand).where(
                OcpiCommand.id == command_id, OcpiCommand.state == PENDING).values(
                state=RESULT, result=result, message=message, finished_at=utcnow()))
        if getattr(claimed, "rowcount", 0) == 1:
            await self.deliver(command_id)

    async def _mark(self, command_id: int, **values: Any) -> None:
        async with self.app[appkeys.DB].transaction() as work:
            await work.session.execute(update(OcpiCommand).where(
                OcpiCommand.id == command_id).values(**values))

    async def deliver(self, command_id: int) -> None:
        """POST the CommandResult to the ``response_url``."""
        row = await self._load(command_id)
        if row is None or row.state != RESULT:
            return
        partner = await registered_partner(self.app, row.partner_id)
        if partner is None or partner.token is None:
            await self._mark(command_id, state=UNDELIVERABLE, last_error="partner gone")
            return
        body: dict[str, Any] = {"result": row.result}
        if row.message:
            body["message"] = display(row.message)
        to_party = Party(row.country_code, row.party_id) \
            if row.country_code and row.party_id else None
        sent = await post_result(self.app, partner, row.response_url, body, to_party,
                                 Party(row.our_country_code, row.our_party_id))
        if sent.delivered:
            await self._mark(command_id, state=DELIVERED, attempts=sent.attempts,
                             delivered_at=utcnow(), last_error=None)
            return
        log.warning("CommandResult of command %s not delivered: %s", command_id, sent.error)
        await self._mark(command_id, state=UNDELIVERABLE, attempts=sent.attempts,
                         last_error=sent.error)

    async def _expire_at(self, command_id: int, deadline: dt.datetime) -> None:
        await asyncio.sleep(max(0.0, (deadline - utcnow()).total_seconds()))
        await self.finish(command_id, "TIMEOUT", "no answer from the charging station in time")

    async def recover(self) -> None:
        """Commands a previous process left open: TIMEOUT once their time is up (now, or at
        their deadline), and results it could not deliver are delivered."""
        async with self.app[appkeys.DB].session() as session:
            rows = (await session.execute(select(OcpiCommand.id, OcpiCommand.state,
                                                 OcpiCommand.deadline).where(
                OcpiCommand.state.in_((PENDING, RESULT))))).all()
        for command_id, state, deadline in rows:
            job = self.deliver(command_id) if state == RESULT \
                else self._expire_at(command_id, deadline)
            self.background.spawn(job, f"ocpi-command-{command_id}")
        if rows:
            log.info("%d OCPI command(s) of a previous run taken up", len(rows))


RUNNER: web.AppKey[CommandRunner] = web.AppKey("ocpi_cpo_commands")


async def startup(app: web.Application) -> None:
    """Take up what a previous run left open (once per app, whoever calls it)."""
    if RUNNER in app:
        return
    runner = app[RUNNER] = CommandRunner(app)
    await runner.recover()


async def shutdown(app: web.Application) -> None:
    runner = app.get(RUNNER)
    if runner is not None:
        with contextlib.suppress(asyncio.CancelledError):
            await runner.close()


__all__ = ["BODIES", "OUTCOMES", "RUNNER", "CommandRunner", "Refusal", "command_response",
           "module", "outcome", "remote_start", "reserve_now", "resolve", "shutdown",
           "startup"]
