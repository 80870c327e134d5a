"""Recomputing a context: stored inputs → engine → stored result → charging profiles.

Called after every change that can move the optimum (a context PUT/PATCH, dynamic inputs, a
session starting, ending or reporting a new SoC, new charging preferences). Sessions pushed by a
CPO get their profiles over OCPI; sessions of a local context go straight to our stations
(:mod:`plugins.ocpi_scsp.local_profiles`). The solver runs in
a worker thread with the configured time limit, so the event loop keeps serving; one lock per
context keeps two recomputes of it from racing, the later one seeing every earlier change.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import delete, select

from core import appkeys
from core.db.types import utcnow
from core.ocpi import OUTBOX, Party, format_datetime
from plugins.ocpi_scsp import charging_profiles, local_profiles
from plugins.ocpi_scsp.config import CONFIG
from plugins.ocpi_scsp.driver_profiles import battery_capacities_kwh, token_uid
from plugins.ocpi_scsp.engine import Problem, Result, solve
from plugins.ocpi_scsp.optimisation_object import place
from plugins.ocpi_scsp.problem_builder import SessionInput, build
from plugins.ocpi_scsp.tables import OptimisationContext, OptimisationResult, ScspSession

log = logging.getLogger(__name__)

ContextKey = tuple[str, str, str]
LOCKS: web.AppKey[dict[ContextKey, asyncio.Lock]] = web.AppKey("ocpi_scsp_locks")


@dataclass
class OwnAddress:
    """Our address as partners last reached us (for callback URLs of unprompted recomputes)."""

    base: str = ""


ADDRESS: web.AppKey[OwnAddress] = web.AppKey("ocpi_scsp_address", OwnAddress)
#: Sessions that take part in an optimisation; the others are done or not started.
ACTIVE = "ACTIVE"


def evse_keys(context: dict[str, Any]) -> set[tuple[str, str]]:
    return {place(e["location_id"], e["evse_uid"]) for e in context["evses"]}


def session_input(row: ScspSession, capacities: dict[str, float]) -> SessionInput:
    uid = token_uid(row.data)
    return SessionInput(row.id, row.location_id, row.evse_uid,
                        str(row.data.get("connector_id", "")), row.data, row.preferences,
                        capacities.get(uid) if uid else None)


def result_json(key: ContextKey, problem: Problem, result: Result) -> dict[str, Any]:
    """What the REST API shows of a result: money as decimal strings, power W, energy Wh."""
    saving = result.saving_vs_uncontrolled
    return {
        "context": {"country_code": key[0], "party_id": key[1], "id": key[2]},
        "computed_at": format_datetime(utcnow()),
        "start": format_datetime(problem.start), "slot_minutes": problem.slot_minutes,
        "slots": problem.slots, "method": str(result.method), "status": result.status,
        "solve_time_s": round(result.solve_time_s, 4),
        "energy_cost": str(result.energy_cost),
        "degradation_cost": str(result.degradation_cost),
        "opportunity_cost": str(result.opportunity_cost),
        "peak_cost": str(result.peak_cost),
        "total_cost": str(result.total_cost),
        "saving_vs_uncontrolled": None if saving is None else str(saving),
        "peak_import_w": result.peak_import_w,
        "uncontrolled_peak_import_w": result.uncontrolled_peak_import_w,
        "self_consumed_generation_wh": result.self_consumed_generation_wh,
        "v2g_throughput_wh": result.v2g_throughput_wh,
        "targets_met": result.targets_met,
        "grid_w": list(result.grid_w),
        "sessions": [{
            "session_id": s.session_id, "evse": s.evse_id, "power_w": list(s.power_w),
            "soc_pct": None if s.soc_pct is None else list(s.soc_pct),
            "achieved_energy_wh": s.achieved_energy_wh, "achieved_soc_pct": s.achieved_soc_pct,
            "target_energy_wh": s.target_energy_wh, "target_met": s.target_met,
            "shortfall_wh": s.shortfall_wh,
            "planned_start": None if s.planned_start is None
            else format_datetime(s.planned_start),
            "charged_wh": s.charged_wh, "discharged_wh": s.discharged_wh + 0.0,
        } for s in result.sessions],
        "error": None,
    }


def error_json(key: ContextKey, message: str) -> dict[str, Any]:
    return {"context": {"country_code": key[0], "party_id": key[1], "id": key[2]},
            "computed_at": format_datetime(utcnow()), "method": None, "status": "invalid",
            "sessions": [], "error": message}


async def recompute(app: web.Application, key: ContextKey, base: str) -> dict[str, Any] | None:
    """Solve one context again, store the result and send changed profiles; None if gone."""
    app[ADDRESS].base = base
    lock = app[LOCKS].setdefault(key, asyncio.Lock())
    async with lock:
        return await _recompute(app, key, base)


async def _recompute(app: web.Application, key: ContextKey, base: str
                     ) -> dict[str, Any] | None:
    config = app[CONFIG]
    db = app[appkeys.DB]
    async with db.session() as session:
        context = await session.get(OptimisationContext, key)
        if context is None:
            async with db.transaction() as work:
                await work.session.execute(delete(OptimisationResult).where(
                    OptimisationResult.country_code == key[0],
                    OptimisationResult.party_id == key[1], OptimisationResult.context_id == key[2]))
            return None
        evses = evse_keys(context.data)
        rows = [row for row in (await session.execute(select(ScspSession).where(
            ScspSession.country_code == key[0], ScspSession.party_id == key[1],
            ScspSession.status == ACTIVE).order_by(ScspSession.last_updated.desc())))
            .scalars() if place(row.location_id, row.evse_uid) in evses]
        data = dict(context.data)
        capacities = await battery_capacities_kwh(
            session, {uid for row in rows if (uid := token_uid(row.data))})
    # One EV per EVSE: a stale session nobody closed gives way to the latest one.
    latest: dict[tuple[str, str], ScspSession] = {}
    for row in rows:
        latest.setdefault(place(row.location_id, row.evse_uid), row)
    partners = {row.id: row.partner_id for row in latest.values()}
    inputs = [session_input(r, capacities) for r in latest.values()]
    body, solved = await _solve(app, key, data, inputs)
    woken: set[int] = set()
    async with db.transaction() as work:
        stored = await work.session.get(OptimisationResult, key)
        if stored is None:
            work.session.add(OptimisationResult(country_code=key[0], party_id=key[1],
                                                context_id=key[2], data=body))
        else:
            stored.data, stored.computed_at = body, utcnow()
        if solved is not None:
            problem, result = solved
            owner = Party(key[0], key[1])
            for schedule in result.sessions:
                partner_id = partners.get(schedule.session_id)
                if partner_id is None:
                    continue
                profile = charging_profiles.build_profile(problem.start, problem.slot_minutes,
                                                          schedule.power_w)
                if await charging_profiles.send(work, base=base, partner_id=partner_id,
                                                owner=owner, us=config.party,
                                                session_id=schedule.session_id,
                                                profile=profile):
                    woken.add(partner_id)
    for partner_id in woken:
        app[OUTBOX].wake(partner_id)
    if solved is not None:
        await local_profiles.apply(app, key, *solved)
    return body


async def _solve(app: web.Application, key: ContextKey, data: dict[str, Any],
                 inputs: list[SessionInput]
                 ) -> tuple[dict[str, Any], tuple[Problem, Result] | None]:
    """(what the REST API shows, the problem and result when the inputs were solvable)."""
    config = app[CONFIG]
    try:
        problem = build(data, inputs, utcnow(), config.slot_minutes, config.slots)
    except ValueError as exc:
        log.warning("optimisation context %s cannot be solved: %s", "*".join(key), exc)
        return error_json(key, str(exc)), None
    result = await asyncio.to_thread(solve, problem, time_limit_s=config.solver_time_limit)
    return result_json(key, problem, result), (problem, result)


async def contexts_of(app: web.Application, owner: Party, location_id: str,
                      evse_uid: str) -> list[ContextKey]:
    """The contexts of ``owner`` that include one EVSE."""
    async with app[appkeys.DB].session() as session:
        rows = (await session.execute(select(OptimisationContext).where(
            OptimisationContext.country_code == owner.country_code,
            OptimisationContext.party_id == owner.party_id))).scalars().all()
    return [(r.country_code, r.party_id, r.id) for r in rows
            if place(location_id, evse_uid) in evse_keys(r.data)]


async def recompute_evse(app: web.Application, owner: Party, location_id: str, evse_uid: str,
                         base: str) -> None:
    """Recompute every context an EVSE belongs to (a session there changed)."""
    for key in await contexts_of(app, owner, location_id, evse_uid):
        await recompute(app, key, base)


async def end_session(app: web.Application, row: ScspSession, base: str) -> None:
    """Clear the profile of a session that ended, then let its context re-plan the others."""
    if row.partner_id is not None:
        async with app[appkeys.DB].transaction() as work:
            queued = await charging_profiles.clear(
                work, base=base, partner_id=row.partner_id,
                owner=Party(row.country_code, row.party_id), us=app[CONFIG].party,
                session_id=row.id)
        if queued:
            app[OUTBOX].wake(row.partner_id)
