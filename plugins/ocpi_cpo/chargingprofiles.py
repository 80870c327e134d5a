"""ChargingProfiles module, RECEIVER: smart charging service providers steer our sessions.

``{url}/{session_id}`` with PUT (SetChargingProfile), GET (``?duration=&response_url=``, the
ActiveChargingProfile) and DELETE (``?response_url=``, ClearProfile). The answer comes at
once, a ChargingProfileResponse: ``ACCEPTED`` with ``timeout`` = ``command_timeout`` when the
request goes to the station, ``UNKNOWN_SESSION`` for a session we do not know or that has
ended, ``REJECTED`` when the station is offline or cannot carry the request. A body or query
that breaks the specification is 2001 and changes nothing.

Who may act: the eMSP whose token started the session, and SCSPs registered with us (a party
in role ``SCSP`` or ``OTHER`` of a partner that lists a chargingprofiles SENDER endpoint; behind
a hub, a party the hub announced in such a role). Anyone else gets HTTP 404 for a session that
exists, so it cannot learn about other parties' sessions.

An accepted request is kept (``ocpi_cpo_profile_request``) before it is answered, then sent to
the station in its OCPP version and its result POSTed to the ``response_url`` with our token for
that partner and routing headers to the requesting party:

- PUT becomes a TxProfile for the session's transaction (1.6 SetChargingProfile on its
  connector; 2.x on its EVSE), built and identified by :mod:`core.ocpp.tx_profiles`: a session
  has one steering profile, whoever set it, so a new PUT replaces it on the station and never
  touches profiles the operator sent (whose ids are the core table's). The
  OCPP plugins record what the station accepted in ``charging_profile`` as for any other
  profile. Negative limits (discharging) go to OCPP 2.1 stations only, as CentralSetpoint
  periods; other stations get nothing and the result is ``REJECTED``.
- GET asks for the composite schedule (GetCompositeSchedule) and posts it as an
  ActiveChargingProfileResult.
- DELETE clears the profile the requesting party set (ClearChargingProfile by its id); a party
  whose profile is not in force gets ``UNKNOWN`` without a call to the station.

The results are ACCEPTED, REJECTED or UNKNOWN only: a station that is offline or does not
answer within ``command_timeout`` gives ``REJECTED`` (the reason is kept with the request).
After a restart, requests a previous process left unanswered get that result once their time is
up, and results not yet delivered are delivered.

ActiveChargingProfile updates: whenever the profiles of an ongoing session change (a PUT or
DELETE through this module, or a profile another path sent to its station, e.g. the REST API),
the station's composite schedule is PUT to ``{sender url}/{session_id}`` of every party that
successfully set a profile on that session, through the outbox (retried while it is down).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import logging
import math
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web
from ocpp.exceptions import FormatViolationError
from sqlalchemy import CursorResult, select, update

from core import appkeys
from core.db import Work
from core.db.models import (
    ChargingProfile,
    ChargingStation,
    OcpiClientInfo,
    OcpiPartner,
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
from core.events import Event
from core.ocpi import (
    OUTBOX,
    RECEIVER,
    SENDER,
    OcpiModule,
    OcpiReply,
    OcpiRequest,
    OcpiRoute,
    Partner,
    Party,
    enqueue,
    format_datetime,
    parse_datetime,
    status,
)
from core.ocpi.fields import Field, check_value
from core.ocpp.guard import validated_request
from core.ocpp.times import parse_time
from core.ocpp.tx_profiles import (
    PROFILE_ID_BASE,
    RATE_UNITS,
    Period,
    Profile,
    TxTarget,
    clear_request,
    composite_request,
    is_tx_profile,
    number,
    profile_id,
    set_request,
    takes_discharge,
)
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
from plugins.ocpi_cpo.chargingprofile_models import OcpiProfileRequest, OcpiSessionProfile
from plugins.ocpi_cpo.commands import Refusal
from plugins.ocpi_cpo.config import CONFIG
from plugins.ocpi_cpo.sessions import session_status, token_owner

log = logging.getLogger(__name__)

MODULE = "chargingprofiles"
SET, ACTIVE, CLEAR = "set", "active", "clear"
# ChargingProfileResponseType (immediate answer) and ChargingProfileResultType (posted).
ACCEPTED, REJECTED, UNKNOWN, UNKNOWN_SESSION = "ACCEPTED", "REJECTED", "UNKNOWN", "UNKNOWN_SESSION"
# Credentials roles of smart charging service providers (OCPI 2.2.1 lists SCSP; older
# platforms register as OTHER).
SCSP_ROLES = ("SCSP", "OTHER")
# What the updates pushed to SCSPs cover: OCPI advises 5 to 60 minutes.
PUSH_DURATION = 3600
MAX_DURATION = 7 * 86400
MAX_PERIODS = 1024
MAX_RATE = 10_000_000.0  # W or A; beyond any charger, keeps nonsense out of OCPP frames
SENT_EVENT, CLEARED_EVENT = "charging_profile.sent", "charging_profile.cleared"

_URL = Field("url", required=True)
_SET_OUTCOMES = {"Accepted": ACCEPTED, "Rejected": REJECTED}
_CLEAR_OUTCOMES = {"Accepted": ACCEPTED, "Unknown": UNKNOWN}


# ---- the OCPI ChargingProfile, checked ---------------------------------------------------


def profile_to_ocpi(profile: Profile) -> dict[str, Any]:
    """A checked profile as an OCPI ChargingProfile (what the request is kept as)."""
    out: dict[str, Any] = {}
    if profile.start is not None:
        out["start_date_time"] = format_datetime(profile.start)
    if profile.duration is not None:
        out["duration"] = profile.duration
    out["charging_rate_unit"] = profile.unit
    if profile.min_rate is not None:
        out["min_charging_rate"] = number(profile.min_rate)
    out["charging_profile_period"] = [{"start_period": p.start, "limit": number(p.limit)}
                                      for p in profile.periods]
    return out


def _integer(value: Any, name: str, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise status.invalid(f"{name} must be a whole number from {minimum} to {maximum}")
    return value


def _rate(value: Any, name: str, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or not minimum <= value <= MAX_RATE:
        raise status.invalid(f"{name} must be a number from {minimum:g} to {MAX_RATE:g}")
    return float(value)


def _periods(value: Any) -> tuple[Period, ...]:
    """The periods: at least one, the first at 0, each later than the one before (OCPP's
    rules, so a station does not have to refuse what we accepted)."""
    if not isinstance(value, list) or not value:
        raise status.invalid("charging_profile.charging_profile_period must list at least one "
                             "period")
    if len(value) > MAX_PERIODS:
        raise status.invalid(f"at most {MAX_PERIODS} charging profile periods")
    periods = []
    for index, item in enumerate(value):
        name = f"charging_profile.charging_profile_period[{index}]"
        if not isinstance(item, dict):
            raise status.invalid(f"{name} must be a ChargingProfilePeriod object")
        start = _integer(item.get("start_period"), f"{name}.start_period", 0, 2**31 - 1)
        periods.append(Period(start, _rate(item.get("limit"), f"{name}.limit", -MAX_RATE)))
    starts = [period.start for period in periods]
    if starts[0] != 0 or any(b <= a for a, b in itertools.pairwise(starts)):
        raise status.invalid("charging profile periods start at 0 and their start_period "
                             "ascends")
    return tuple(periods)


def parse_profile(obj: Any) -> Profile:
    """Check an OCPI ChargingProfile; anything off is a 2001 naming the field."""
    if not isinstance(obj, dict):
        raise status.invalid("charging_profile must be a ChargingProfile object")
    unit = obj.get("charging_rate_unit")
    if unit not in RATE_UNITS:
        raise status.invalid("charging_profile.charging_rate_unit must be W or A")
    start = obj.get("start_date_time")
    duration = obj.get("duration")
    min_rate = obj.get("min_charging_rate")
    return Profile(
        unit, _periods(obj.get("charging_profile_period")),
        parse_datetime(start, "charging_profile.start_date_time") if start is not None
        else None,
        _integer(duration, "charging_profile.duration", 0, 2**31 - 1)
        if duration is not None else None,
        _rate(min_rate, "charging_profile.min_charging_rate", 0.0)
        if min_rate is not None else None)


def parse_set(body: Any) -> tuple[Profile, str]:
    """A SetChargingProfile body: (profile, response_url), or 2001."""
    if not isinstance(body, dict):
        raise status.invalid("a SetChargingProfile object is required")
    url = check_value("response_url", _URL, body.get("response_url"))
    return parse_profile(body.get("charging_profile")), url


def _query_url(request: OcpiRequest) -> str:
    value = request.query.get("response_url")
    if not value:
        raise status.invalid("the response_url query parameter is required")
    return str(check_value("response_url", _URL, value))


def _query_duration(request: OcpiRequest) -> int:
    text = request.query.get("duration", "")
    if not text.isdigit():
        raise status.invalid("the duration query parameter must be a number of seconds")
    return _integer(int(text), "duration", 1, MAX_DURATION)


# ---- OCPI to OCPP ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target(TxTarget):
    """The session a request acts on, where it charges, and the party acting."""

    session_id: str
    party: Party


# ---- OCPP to OCPI ------------------------------------------------------------------------


def _moment(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value)
    except FormatViolationError:  # a malformed time must not lose the whole result
        return None


def _ocpi_period(period: dict[str, Any]) -> dict[str, Any] | None:
    """A composite period as OCPI has it: the limit (2.1: the setpoint when it gives none)."""
    value = next((period[k] for k in ("limit", "setpoint", "discharge_limit")
                  if isinstance(period.get(k), int | float)), None)
    start = period.get("start_period")
    if value is None or not isinstance(start, int):
        return None
    return {"start_period": start, "limit": number(value)}


def active_profile(version: str, answer: dict[str, Any]) -> dict[str, Any] | None:
    """The ActiveChargingProfile in a GetCompositeSchedule answer; None without a schedule."""
    if version == "1.6":
        schedule = answer.get("charging_schedule")
        start = answer.get("schedule_start") or (schedule or {}).get("start_schedule")
    else:
        schedule = answer.get("schedule")
        start = (schedule or {}).get("schedule_start")
    if not isinstance(schedule, dict) or schedule.get("charging_rate_unit") not in RATE_UNITS:
        return None
    periods = [p for p in (_ocpi_period(item) for item in
                           schedule.get("charging_schedule_period") or ()
                           if isinstance(item, dict)) if p is not None]
    if not periods:
        return None
    began = format_datetime(_moment(start) or utcnow())
    profile: dict[str, Any] = {"start_date_time": began}
    if isinstance(schedule.get("duration"), int):
        profile["duration"] = schedule["duration"]
    profile["charging_rate_unit"] = schedule["charging_rate_unit"]
    if isinstance(schedule.get("min_charging_rate"), int | float):
        profile["min_charging_rate"] = number(schedule["min_charging_rate"])
    profile["charging_profile_period"] = periods
    return {"start_date_time": began, "charging_profile": profile}


def _answered(answer: dict[str, Any]) -> str:
    station_status = str(answer.get("status", ""))
    info = answer.get("status_info") or {}
    reason = " ".join(str(info[k]) for k in ("reason_code", "additional_info") if info.get(k))
    return f"charging station answered {station_status}" + (f": {reason}" if reason else "")


def outcome(kind: str, version: str, answer: dict[str, Any]) -> dict[str, Any]:
    """The result body for the station's answer to a request of ``kind``."""
    station_status = str(answer.get("status", ""))
    if kind == SET:
        return {"result": _SET_OUTCOMES.get(station_status, REJECTED)}
    if kind == CLEAR:
        return {"result": _CLEAR_OUTCOMES.get(station_status, REJECTED)}
    if station_status != "Accepted":
        return {"result": REJECTED}
    profile = active_profile(version, answer)
    return {"result": ACCEPTED, "profile": profile} if profile else {"result": UNKNOWN}


# ---- who may act on which session --------------------------------------------------------


async def scsp_party(request: OcpiRequest) -> Party | None:
    """The caller's party when it is an SCSP registered with us (see the module's rules)."""
    partner = request.partner
    if partner.endpoint(MODULE, SENDER) is None:
        return None
    sender = request.sender
    if partner.is_hub:
        if sender is None:
            return None
        async with request.app[appkeys.DB].session() as session:
            found = await session.scalar(select(OcpiClientInfo.id).where(
                OcpiClientInfo.partner_id == partner.id,
                OcpiClientInfo.country_code == sender.country_code,
                OcpiClientInfo.party_id == sender.party_id,
                OcpiClientInfo.role.in_(SCSP_ROLES)))
        return sender if found is not None else None
    providers: set[Party] = set()
    for role in SCSP_ROLES:
        providers |= partner.parties_in_role(role)
    if sender is not None:
        return sender if sender in providers else None
    return min(providers) if providers else None


def _owns(request: OcpiRequest, owner: Party) -> bool:
    """Whether the caller speaks for the eMSP that issued the session's token; a hub naming no
    party speaks for its whole network."""
    if request.sender is not None:
        return request.sender == owner
    return request.partner.is_hub or owner in request.partner.parties


async def _session(app: web.Application, session_id: str
                   ) -> tuple[Transaction | None, Party | None, ChargingStation | None]:
    """The newest transaction with this OCPI id (an ongoing one first), its token's eMSP and
    its station."""
    async with app[appkeys.DB].session() as session:
        rows = list((await session.execute(select(Transaction).where(
            Transaction.transaction_uid == session_id).order_by(Transaction.id.desc())
        )).scalars())
        if not rows:
            return None, None, None
        tx = next((row for row in rows if session_status(row) == "ACTIVE"), rows[0])
        owner = await token_owner(session, tx, app[CONFIG].party)
        return tx, owner, await session.get(ChargingStation, tx.station_id)


async def target(request: OcpiRequest) -> Target:
    """The ongoing session the request names and who acts on it.

    A caller that may not act on it gets HTTP 404; a session that does not exist or has ended
    is a ``UNKNOWN_SESSION`` refusal, an offline station a ``REJECTED`` one.
    """
    session_id = request.params["session_id"]
    # Session.id is a CiString(36): anything else cannot name a session (2001, not a lookup).
    if not session_id or len(session_id) > 36 or not session_id.isascii() \
            or not session_id.isprintable():
        raise status.invalid("session_id must be 1-36 printable ASCII characters")
    tx, owner, station = await _session(request.app, session_id)
    party = await scsp_party(request)
    if owner is not None and _owns(request, owner):
        party = request.sender or owner
    if tx is None:
        raise Refusal(UNKNOWN_SESSION, f"unknown session {session_id}")
    if party is None:
        raise status.not_found(f"unknown session {session_id}")
    if session_status(tx) != "ACTIVE":
        raise Refusal(UNKNOWN_SESSION, f"session {session_id} has ended")
    if station is None or not station.connected or not station.ocpp_version:
        raise Refusal(REJECTED, f"charging station {tx.station_id} is offline")
    if station.ocpp_version != "1.6" and tx.evse_number is None:
        raise Refusal(REJECTED, f"the EVSE of session {session_id} is not known")
    return Target(tx.id, tx.transaction_uid, tx.station_id, station.ocpp_version,
                  tx.evse_number, tx.connector_number, session_id, party)


# ---- the Receiver interface --------------------------------------------------------------


def profile_response(app: web.Application, result: str) -> dict[str, Any]:
    """A ChargingProfileResponse; ``timeout`` is how long the result may take."""
    return {"result": result, "timeout": app[CONFIG].command_timeout}


@dataclass(frozen=True, slots=True)
class Step:
    """What a request does: an OCPP call, or a result known without asking the station."""

    action: str | None = None
    payload: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    message: str | None = None


Prepare = Callable[[Work], Awaitable[Step]]


async def keep(request: OcpiRequest, kind: str, where: Target, response_url: str,
               asked: dict[str, Any], prepare: Prepare) -> int:
    """Store the request with its OCPP call (checked against the station's schema) before it
    is acknowledged; a call the station's version cannot carry is refused."""
    app = request.app
    now = utcnow()
    async with app[appkeys.DB].transaction() as work:
        step = await prepare(work)
        if step.action is not None:
            try:
                validated_request(where.version, step.action, step.payload or {})
            except InvalidCommand as exc:
                raise Refusal(REJECTED, f"the charging station cannot take it: {exc}") from None
        row = OcpiProfileRequest(
            partner_id=request.partner.id, kind=kind, session_id=where.session_id,
            transaction_id=where.transaction_id, country_code=where.party.country_code,
            party_id=where.party.party_id, our_country_code=request.receiver.country_code,
            our_party_id=request.receiver.party_id, response_url=response_url, request=asked,
            station_id=where.station_id, ocpp_version=where.version, action=step.action,
            payload=step.payload, state=PENDING if step.action else RESULT,
            result=step.result, message=step.message, attempts=0,
            deadline=now + dt.timedelta(seconds=app[CONFIG].command_timeout),
            finished_at=None if step.action else now)
        work.session.add(row)
        await work.session.flush()
        return row.id


async def _accept(request: OcpiRequest, kind: str, response_url: str, asked: dict[str, Any],
                  plan: Callable[[Target], Prepare]) -> OcpiReply:
    """Find the session, keep the request and start it; refusals are the answer."""
    try:
        where = await target(request)
        request_id = await keep(request, kind, where, response_url, asked, plan(where))
    except Refusal as refusal:
        return OcpiReply(profile_response(request.app, refusal.result))
    request.app[RUNNER].start(request_id)
    return OcpiReply(profile_response(request.app, ACCEPTED))


async def put_profile(request: OcpiRequest) -> OcpiReply:
    profile, response_url = parse_set(await request.json())

    def plan(where: Target) -> Prepare:
        async def prepare(work: Work) -> Step:
            if profile.discharges and not takes_discharge(where.version):
                return Step(result={"result": REJECTED},
                            message="only OCPP 2.1 charging stations take discharging limits")
            action, payload = set_request(where, profile)
            return Step(action, payload)

        return prepare

    asked = {"charging_profile": profile_to_ocpi(profile), "response_url": response_url}
    return await _accept(request, SET, response_url, asked, plan)


async def get_active_profile(request: OcpiRequest) -> OcpiReply:
    duration, response_url = _query_duration(request), _query_url(request)

    def plan(where: Target) -> Prepare:
        async def prepare(work: Work) -> Step:
            return Step(*composite_request(where.version, where.evse_number, where.connector,
                                           duration))

        return prepare

    asked = {"duration": duration, "response_url": response_url}
    return await _accept(request, ACTIVE, response_url, asked, plan)


async def delete_profile(request: OcpiRequest) -> OcpiReply:
    response_url = _query_url(request)

    def plan(where: Target) -> Prepare:
        async def prepare(work: Work) -> Step:
            own = await work.session.scalar(select(OcpiSessionProfile.id).where(
                OcpiSessionProfile.transaction_id == where.transaction_id,
                OcpiSessionProfile.country_code == where.party.country_code,
                OcpiSessionProfile.party_id == where.party.party_id,
                OcpiSessionProfile.active.is_(True)))
            if own is None:
                return Step(result={"result": UNKNOWN},
                            message="no profile of this party is in force on the session")
            return Step(*clear_request(where))

        return prepare

    return await _accept(request, CLEAR, response_url, {"response_url": response_url}, plan)


def routes() -> tuple[OcpiRoute, ...]:
    return (OcpiRoute("PUT", "/{session_id}", put_profile),
            OcpiRoute("GET", "/{session_id}", get_active_profile),
            OcpiRoute("DELETE", "/{session_id}", delete_profile))


def module() -> OcpiModule:
    return OcpiModule(MODULE, RECEIVER, routes())


# ---- what an outcome changes -------------------------------------------------------------


async def _changed(work: Work, statement: Any) -> int:
    result = cast("CursorResult[Any]", await work.session.execute(statement))
    return result.rowcount


async def record_outcome(work: Work, row: OcpiProfileRequest) -> bool:
    """Note who set the session's profile (a PUT the station accepted replaces any other
    party's) or that it was cleared; True when the session's profiles changed."""
    if row.transaction_id is None or (row.result or {}).get("result") != ACCEPTED:
        return False
    mine = (OcpiSessionProfile.transaction_id == row.transaction_id,
            OcpiSessionProfile.country_code == row.country_code,
            OcpiSessionProfile.party_id == row.party_id)
    now = utcnow()
    if row.kind == CLEAR:
        await _changed(work, update(OcpiSessionProfile).where(*mine).values(
            active=False, cleared_at=now))
        return True
    if row.kind != SET:
        return False
    await _changed(work, update(OcpiSessionProfile).where(
        OcpiSessionProfile.transaction_id == row.transaction_id,
        OcpiSessionProfile.active.is_(True)).values(active=False))
    entry = (await work.session.execute(select(OcpiSessionProfile).where(*mine))
             ).scalars().first()
    if entry is None:
        entry = OcpiSessionProfile(transaction_id=row.transaction_id,
                                   country_code=row.country_code, party_id=row.party_id)
        work.session.add(entry)
    entry.partner_id, entry.profile = row.partner_id, row.request["charging_profile"]
    entry.ocpp_profile_id = profile_id(row.transaction_id)
    entry.active, entry.set_at, entry.cleared_at = True, now, None
    return True


# ---- running requests, delivering results, pushing updates ------------------------------


class ProfileRunner:
    """Runs accepted requests and ActiveChargingProfile updates in the background."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.background = BackgroundTasks()

    def start(self, request_id: int) -> None:
        self.background.spawn(self._execute(request_id), f"ocpi-chargingprofile-{request_id}")

    def push(self, transaction_id: int) -> None:
        self.background.spawn(self._push(transaction_id),
                              f"ocpi-activeprofile-{transaction_id}")

    async def close(self) -> None:
        await self.background.close()

    async def wait(self) -> None:
        """Until every request and update started so far is done."""
        await self.background.wait()

    async def _load(self, request_id: int) -> OcpiProfileRequest | None:
        async with self.app[appkeys.DB].session() as session:
            return await session.get(OcpiProfileRequest, request_id)

    async def _execute(self, request_id: int) -> None:
        row = await self._load(request_id)
        if row is None:
            return
        if row.state == RESULT:
            await self.deliver(request_id)
            return
        if row.state != PENDING or row.action is None:
            return
        body, message = await self._send(row)
        await self.finish(request_id, body, message)

    async def _send(self, row: OcpiProfileRequest) -> tuple[dict[str, Any], str | None]:
        timeout = max(1.0, self.app[CONFIG].command_timeout * STATION_SHARE)
        assert row.station_id is not None and row.action is not None
        try:
            answer = await self.app[appkeys.DISPATCHER].call(
                row.station_id, row.action, row.payload or {}, timeout)
        except StationNotConnected:
            return {"result": REJECTED}, "the charging station went offline"
        except CommandTimeout:
            return {"result": REJECTED}, "the charging station did not answer in time"
        except CommandRejected as exc:
            return {"result": REJECTED}, f"the charging station refused: {exc.error_code}"
        except CommandError as exc:
            return {"result": REJECTED}, str(exc)
        return outcome(row.kind, row.ocpp_version or "", answer), _answered(answer)

    async def finish(self, request_id: int, body: dict[str, Any], message: str | None) -> None:
        """Record the outcome (once: whoever claims a pending request), then deliver it and
        tell the session's SCSPs when its profiles changed."""
        async with self.app[appkeys.DB].transaction() as work:
            claimed = await _changed(work, update(OcpiProfileRequest).where(
                OcpiProfileRequest.id == request_id, OcpiProfileRequest.state == PENDING
            ).values(state=RESULT, result=body, message=message, finished_at=utcnow()))
            row = await work.session.get(OcpiProfileRequest, request_id)
            changed = claimed == 1 and row is not None and await record_outcome(work, row)
            transaction_id = row.transaction_id if row is not None else None
        if claimed != 1:
            return
        if changed and transaction_id is not None:
            self.push(transaction_id)
        await self.deliver(request_id)

    async def _mark(self, request_id: int, **values: Any) -> None:
        async with self.app[appkeys.DB].transaction() as work:
            await work.session.execute(update(OcpiProfileRequest).where(
                OcpiProfileRequest.id == request_id).values(**values))

    async def deliver(self, request_id: int) -> None:
        """POST the result to the ``response_url``."""
        row = await self._load(request_id)
        if row is None or row.state != RESULT or row.result is None:
            return
        partner = await registered_partner(self.app, row.partner_id)
        if partner is None or partner.token is None:
            await self._mark(request_id, state=UNDELIVERABLE, last_error="partner gone")
            return
        sent = await post_result(self.app, partner, row.response_url, row.result,
                                 Party(row.country_code, row.party_id),
                                 Party(row.our_country_code, row.our_party_id))
        if sent.delivered:
            await self._mark(request_id, state=DELIVERED, attempts=sent.attempts,
                             delivered_at=utcnow(), last_error=None)
            return
        log.warning("charging profile result %s not delivered: %s", request_id, sent.error)
        await self._mark(request_id, state=UNDELIVERABLE, attempts=sent.attempts,
                         last_error=sent.error)

    async def _expire_at(self, request_id: int, deadline: dt.datetime) -> None:
        await asyncio.sleep(max(0.0, (deadline - utcnow()).total_seconds()))
        await self.finish(request_id, {"result": REJECTED},
                          "no answer from the charging station in time")

    async def recover(self) -> None:
        """Requests a previous process left open: REJECTED once their time is up (now, or at
        their deadline), and results it could not deliver are delivered."""
        async with self.app[appkeys.DB].session() as session:
            rows = (await session.execute(select(
                OcpiProfileRequest.id, OcpiProfileRequest.state, OcpiProfileRequest.deadline
            ).where(OcpiProfileRequest.state.in_((PENDING, RESULT))))).all()
        for request_id, state, deadline in rows:
            job = self.deliver(request_id) if state == RESULT \
                else self._expire_at(request_id, deadline)
            self.background.spawn(job, f"ocpi-chargingprofile-{request_id}")
        if rows:
            log.info("%d OCPI charging profile request(s) of a previous run taken up",
                     len(rows))

    async def _push(self, transaction_id: int) -> None:
        """PUT the session's ActiveChargingProfile, as its station computes it now, to every
        party that set a profile on it."""
        async with self.app[appkeys.DB].session() as session:
            tx = await session.get(Transaction, transaction_id)
            if tx is None or session_status(tx) != "ACTIVE":
                return
            listeners = list((await session.execute(select(OcpiSessionProfile).where(
                OcpiSessionProfile.transaction_id == transaction_id)
                .order_by(OcpiSessionProfile.id))).scalars())
            station = await session.get(ChargingStation, tx.station_id)
        if not listeners or station is None or not station.connected \
                or not station.ocpp_version:
            return
        version = station.ocpp_version
        action, payload = composite_request(version, tx.evse_number,
                                            tx.connector_number or tx.evse_number,
                                            PUSH_DURATION)
        try:
            answer = await self.app[appkeys.DISPATCHER].call(
                tx.station_id, action, payload, float(self.app[CONFIG].command_timeout))
        except CommandError as exc:
            log.info("no ActiveChargingProfile for session %s: %s", tx.transaction_uid, exc)
            return
        profile = active_profile(version, answer) if answer.get("status") == "Accepted" \
            else None
        if profile is None:
            log.info("no ActiveChargingProfile for session %s: %s", tx.transaction_uid,
                     _answered(answer))
            return
        await send_update(self.app, tx.transaction_uid[:36], profile, listeners)


async def send_update(app: web.Application, session_id: str, profile: dict[str, Any],
                      listeners: Iterable[OcpiSessionProfile]) -> None:
    """Queue the ActiveChargingProfile PUT to each listener's chargingprofiles SENDER
    interface (the outbox retries while a partner is down), addressed to its party; a
    partner without that interface (an eMSP that set a profile) is not sent anything."""
    rows = list(listeners)
    async with app[appkeys.DB].session() as session:
        partners = (await session.execute(select(OcpiPartner).where(
            OcpiPartner.id.in_({row.partner_id for row in rows}),
            OcpiPartner.status == "registered"))).scalars().all()
        reachable = {p.id for p in partners
                     if Partner.from_row(p, app[appkeys.CIPHER]).endpoint(MODULE, SENDER)}
    targets = [(row.partner_id, Party(row.country_code, row.party_id)) for row in rows
               if row.partner_id in reachable]
    if not targets:
        return
    ours = app[CONFIG].party
    path = "/" + urllib.parse.quote(session_id, safe="")

    async def job(work: Work) -> None:
        for partner_id, party in targets:
            enqueue(work, partner_id, MODULE, "PUT", path, profile, to_party=party,
                    from_party=ours, object_key=f"chargingprofile:{session_id}",
                    interface_role=SENDER)

    await app[appkeys.DB].write(job)
    for partner_id in {partner_id for partner_id, _ in targets}:
        app[OUTBOX].wake(partner_id)


# ---- profiles sent by others -------------------------------------------------------------


async def listened_sessions(app: web.Application, station_id: str, *,
                            transaction_id: int | None = None,
                            evse_number: int | None = None) -> list[int]:
    """Ongoing sessions on the station (one transaction, or one EVSE when > 0) that a party
    set a profile on."""
    query = (select(Transaction.id).join(
        OcpiSessionProfile, OcpiSessionProfile.transaction_id == Transaction.id)
        .where(Transaction.station_id == station_id, Transaction.status == "Active",
               Transaction.stopped_at.is_(None)).distinct())
    if transaction_id is not None:
        query = query.where(Transaction.id == transaction_id)
    elif evse_number:
        query = query.where(Transaction.evse_number == evse_number)
    async with app[appkeys.DB].session() as session:
        return list((await session.execute(query)).scalars())


async def _sent_scope(app: web.Application, data: dict[str, Any]
                      ) -> tuple[int | None, int | None]:
    """(transaction, EVSE) a sent profile applies to, from its ``charging_profile`` row (the
    1.6 event names only the profile id)."""
    async with app[appkeys.DB].session() as session:
        if isinstance(data.get("id"), int):
            row = await session.get(ChargingProfile, data["id"])
        else:
            row = (await session.execute(select(ChargingProfile).where(
                ChargingProfile.station_id == data.get("station_id"),
                ChargingProfile.ocpp_profile_id == data.get("profile_id"))
                .order_by(ChargingProfile.id.desc()))).scalars().first()
    if row is None:
        return data.get("transaction_id"), data.get("evse_id")
    return row.transaction_id, row.evse_number


async def handle_event(app: web.Application, event: Event) -> None:
    """A profile another path set or cleared changes the sessions it applies to; profiles set
    through this module are pushed when their result is known."""
    runner = app.get(RUNNER)
    data = event.data
    station_id = data.get("station_id")
    if runner is None or not isinstance(station_id, str) or is_tx_profile(
            data.get("profile_id")):
        return
    if event.name == SENT_EVENT and data.get("status") == "Accepted":
        transaction_id, evse_number = await _sent_scope(app, data)
        found = await listened_sessions(app, station_id, transaction_id=transaction_id,
                                        evse_number=evse_number)
    elif event.name == CLEARED_EVENT and data.get("cleared"):
        criteria = data.get("criteria") or {}
        found = await listened_sessions(app, station_id, evse_number=criteria.get("evse_id"))
    else:
        return
    for transaction_id in found:
        runner.push(transaction_id)


RUNNER: web.AppKey[ProfileRunner] = web.AppKey("ocpi_cpo_chargingprofiles")


async def startup(app: web.Application) -> None:
    """Take up what a previous run left open (once per app, whoever calls it)."""
    if RUNNER in app:
        return
    runner = app[RUNNER] = ProfileRunner(app)
    await runner.recover()


async def shutdown(app: web.Application) -> None:
    runner = app.get(RUNNER)
    if runner is not None:
        with contextlib.suppress(asyncio.CancelledError):
            await runner.close()


__all__ = ["MODULE", "PROFILE_ID_BASE", "RUNNER", "Profile", "ProfileRunner", "active_profile",
           "handle_event", "module", "outcome", "parse_profile", "parse_set", "set_request",
           "shutdown", "startup"]
