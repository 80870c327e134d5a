"""Local sessions' schedules go straight to our stations, as their transactions' profiles.

After every solve of a local context, each of its sessions' slot powers becomes the
transaction's steering profile (:mod:`core.ocpp.tx_profiles`: W, Absolute from the horizon's
start, one period per run of equal power) and is sent through the dispatcher, with no OCPI hop:
OCPP 1.6 and 2.0.1 TxProfiles, OCPP 2.1 with CentralSetpoint periods where the EV discharges.
Stations before 2.1 cannot discharge, so their limits are never below 0 (the engine is not
offered their discharge power either, see :mod:`plugins.ocpi_scsp.local_sessions`).

A profile is sent only when it differs from the one the station accepted last. A station that
is offline, silent or refusing leaves the outcome and the reason on the session and its
accepted profile unchanged, so the next recompute (at the latest the next slot boundary) sends
again; nothing here ever fails the solve. When a session ends its profile is cleared.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import select

from core import appkeys
from core.db.types import utcnow
from core.dispatch import CommandError
from core.ocpi import format_datetime
from core.ocpp import tx_profiles
from core.ocpp.tx_profiles import Period, Profile, TxTarget
from plugins.ocpi_scsp.engine import Problem, Result
from plugins.ocpi_scsp.local_tables import LocalContext, LocalSession

log = logging.getLogger(__name__)

#: Seconds a station may take to answer; the context's next recompute waits for the slowest.
STATION_TIMEOUT = 10.0
#: Watts are sent with one decimal, as OCPP 1.6 takes them.
_DECIMALS = 1
FAILED = "failed"


def schedule_profile(start: dt.datetime, slot_minutes: int, power_w: Sequence[float], *,
                     discharge: bool) -> Profile:
    """The profile of one session's slot powers; without ``discharge`` no limit is below 0."""
    periods: list[Period] = []
    for slot, power in enumerate(power_w):
        limit = round(float(power), _DECIMALS)
        limit = (limit if discharge else max(limit, 0.0)) + 0.0  # no -0.0
        if not periods or periods[-1].limit != limit:
            periods.append(Period(slot * slot_minutes * 60, limit))
    return Profile("W", tuple(periods), start=start, duration=len(power_w) * slot_minutes * 60)


def profile_json(profile: Profile) -> dict[str, Any]:
    """How a profile is kept, to tell whether the next one differs."""
    return {"start": None if profile.start is None else format_datetime(profile.start),
            "duration": profile.duration, "unit": profile.unit,
            "periods": [[p.start, p.limit] for p in profile.periods]}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a station made of one request: its status, or ``failed`` and why."""

    status: str
    message: str | None = None


async def _send(app: web.Application, target: TxTarget, profile: Profile | None) -> Outcome:
    """Set (or, without a profile, clear) the transaction's profile; never raises."""
    dispatcher = app[appkeys.DISPATCHER]
    try:
        if profile is None:
            status = await tx_profiles.clear(dispatcher, target, STATION_TIMEOUT)
        else:
            status = await tx_profiles.apply(dispatcher, target, profile, STATION_TIMEOUT)
    except CommandError as exc:
        log.info("charging station %s did not take the profile of transaction %s: %s",
                 target.station_id, target.transaction_id, exc)
        return Outcome(FAILED, str(exc)[:255])
    # Clearing a profile the station no longer holds (it drops them when the transaction
    # ends) is as good as clearing it.
    done = ("Accepted", "Unknown") if profile is None else ("Accepted",)
    if status in done:
        return Outcome(status)
    return Outcome(status, f"the charging station answered {status}")


def _record(row: LocalSession, outcome: Outcome, kept: dict[str, Any] | None) -> None:
    row.outcome, row.message, row.attempted_at = outcome.status, outcome.message, utcnow()
    if outcome.message is None:
        row.profile = kept


async def apply(app: web.Application, key: tuple[str, str, str], problem: Problem,
                result: Result) -> None:
    """Send each local session of a local context its schedule, where it changed."""
    db = app[appkeys.DB]
    schedules = {s.session_id: s for s in result.sessions}
    async with db.session() as session:
        if await session.get(LocalContext, key) is None:
            return
        rows = (await session.execute(select(LocalSession).where(
            LocalSession.country_code == key[0], LocalSession.party_id == key[1],
            LocalSession.context_id == key[2],
            LocalSession.session_id.in_(schedules)))).scalars().all()
        plans: list[tuple[str, TxTarget, Profile]] = []
        for row in rows:
            target = await tx_profiles.target_of(session, row.transaction_id)
            if target is None:
                continue
            profile = schedule_profile(problem.start, problem.slot_minutes,
                                       schedules[row.session_id].power_w,
                                       discharge=tx_profiles.takes_discharge(target.version))
            if row.profile != profile_json(profile):
                plans.append((row.session_id, target, profile))
    if not plans:
        return
    outcomes = await asyncio.gather(*(_send(app, target, profile)
                                      for _, target, profile in plans))
    async with db.transaction() as work:
        for (session_id, _, profile), outcome in zip(plans, outcomes, strict=True):
            stored = await work.session.get(LocalSession, (key[0], key[1], session_id))
            if stored is not None:
                _record(stored, outcome, profile_json(profile))


async def clear(app: web.Application, row: LocalSession) -> None:
    """Clear the profile of a session's transaction when anything was ever sent for it."""
    if row.attempted_at is None:
        return
    async with app[appkeys.DB].session() as session:
        target = await tx_profiles.target_of(session, row.transaction_id, ended=True)
    if target is None:
        return
    outcome = await _send(app, target, None)
    async with app[appkeys.DB].transaction() as work:
        stored = await work.session.get(
            LocalSession, (row.country_code, row.party_id, row.session_id))
        if stored is not None:
            _record(stored, outcome, None)


__all__ = ["FAILED", "Outcome", "apply", "clear", "profile_json", "schedule_profile"]
