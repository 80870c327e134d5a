"""What an optimisation returns, built the same way for every method, and the checker of it.

Every schedule (LP, MILP, greedy, uncontrolled) is reduced to one matrix of per-session, per-slot
power; :func:`assemble` derives everything else from it (SoC, targets, planned start, totals), so
the figures of two methods are always comparable and never computed two ways. :func:`check`
recomputes the physics from the powers alone and lists every broken constraint; tests and the
benchmark rely on it, and the solver runs it before trusting a solver's answer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

import numpy as np

from plugins.ocpi_scsp.engine.problem import (
    ENERGY_TOLERANCE_WH,
    ZERO,
    EvSession,
    FloatArray,
    Problem,
)

MONEY_QUANTUM = Decimal("0.0001")
#: Absolute slack allowed on a power bound when checking a schedule (W).
POWER_TOLERANCE_W = 0.01


class Method(StrEnum):
    LP = "lp"
    MILP = "milp"
    GREEDY = "greedy"
    GREEDY_FALLBACK = "greedy-fallback"
    UNCONTROLLED = "uncontrolled"


@dataclass(frozen=True)
class SessionSchedule:
    """The plan for one session.

    ``power_w[t]`` is the EVSE power in slot ``t`` (positive charges, negative discharges);
    ``energy_wh[k]`` the battery energy at the start of slot ``k`` (``k = slots`` is the end of the
    horizon), or the energy delivered so far when the capacity is unknown, in which case
    ``soc_pct`` is ``None``. ``planned_start`` is the start of the first slot that charges
    (SMC_010); ``occupied_slots`` counts the slots from arrival to the last one with power.
    """

    session_id: str
    evse_id: str
    power_w: tuple[float, ...]
    energy_wh: tuple[float, ...]
    soc_pct: tuple[float, ...] | None
    achieved_energy_wh: float
    achieved_soc_pct: float | None
    target_energy_wh: float
    target_met: bool
    shortfall_wh: float
    planned_start_slot: int | None
    planned_start: dt.datetime | None
    charged_wh: float
    discharged_wh: float
    occupied_slots: int


@dataclass(frozen=True)
class Result:
    """A schedule for every session and the totals the CPO and the driver are shown (SMC_012).

    ``energy_cost`` is the supply point's net energy bill over the horizon (imports at the import
    price, minus exports at the export price), ``degradation_cost`` the priced wear of V2G
    discharge, ``opportunity_cost`` the occupation cost of model 4 (each session occupies its
    EVSE from arrival to its last slot with power), ``peak_cost`` the demand charge: the peak
    price per kW times the highest import. ``saving_vs_uncontrolled`` is the uncontrolled
    schedule's total cost (energy, degradation and peak) minus this one's. ``objective`` and
    ``best_bound`` are the solver's, in currency and without the shortfall penalties (for the LP
    and MILP only): energy (export priced at most at the import price), degradation, peak and,
    for the MILP, occupation cost, plus the profile-type preference weights of FAST and GREEN
    sessions; their distance is the proven optimality gap.
    """

    method: Method
    status: str
    sessions: tuple[SessionSchedule, ...]
    grid_w: tuple[float, ...]
    energy_cost: Decimal
    degradation_cost: Decimal
    opportunity_cost: Decimal
    peak_import_w: float
    self_consumed_generation_wh: float
    v2g_throughput_wh: float
    solve_time_s: float
    saving_vs_uncontrolled: Decimal | None = None
    uncontrolled_peak_import_w: float | None = None
    objective: float | None = None
    best_bound: float | None = None
    peak_cost: Decimal = ZERO

    @property
    def total_cost(self) -> Decimal:
        """Energy, battery wear and the demand charge: what smart charging is compared on."""
        return self.energy_cost + self.degradation_cost + self.peak_cost

    @property
    def targets_met(self) -> int:
        return sum(s.target_met for s in self.sessions)

    @property
    def gap(self) -> float | None:
        """Relative distance of the solution from the solver's best bound (0 = proven optimal)."""
        if self.objective is None or self.best_bound is None:
            return None
        return abs(self.objective - self.best_bound) / max(abs(self.objective), 1e-9)

    def session(self, session_id: str) -> SessionSchedule:
        for schedule in self.sessions:
            if schedule.session_id == session_id:
                return schedule
        raise KeyError(session_id)

    def power_matrix_w(self) -> FloatArray:
        return np.asarray([s.power_w for s in self.sessions], dtype=float).reshape(
            len(self.sessions), -1
        )


def energy_trajectory(problem: Problem, session: EvSession, power_w: FloatArray) -> FloatArray:
    """Battery energy at every slot boundary: charging gains η·P·Ts, discharging loses P·Ts/η."""
    eta = session.efficiency
    gains = np.where(power_w > 0, power_w * eta, power_w / eta) * problem.slot_hours
    start = session.initial_energy_wh
    return np.concatenate(([start], start + np.cumsum(gains)))


def to_money(amount: float | Decimal) -> Decimal:
    """Quantise a currency amount once, at the edge."""
    value = amount if isinstance(amount, Decimal) else Decimal(amount)
    return value.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_UP)


def energy_cost(problem: Problem, grid_w: FloatArray) -> Decimal:
    """Net bill of a supply-point flow at the real (uncapped) import and export prices."""
    total = ZERO
    hours = Decimal(problem.slot_minutes) / 60
    for t, flow in enumerate(grid_w.tolist()):
        kwh = Decimal(flow) * hours / 1000
        price = problem.import_price_per_kwh[t] if kwh > 0 else problem.export_price_per_kwh[t]
        total += kwh * price
    return to_money(total)


def occupation_cost(session: EvSession, occupied: int) -> Decimal:
    """Model 4's cost of occupying an EVSE ``occupied`` slots: Σ k·c over its occupation slots."""
    if occupied <= 0 or session.opportunity_cost == 0:
        return ZERO
    prev = session.previous_slots
    weight = occupied * prev + occupied * (occupied + 1) // 2
    return session.opportunity_cost * weight


def _schedule(problem: Problem, session: EvSession, power: FloatArray) -> SessionSchedule:
    energy = energy_trajectory(problem, session, power)
    first, end = problem.window(session)
    achieved = float(energy[end])
    target = session.target_energy_wh
    active = np.flatnonzero(power)
    charging = np.flatnonzero(power > 0)
    planned = int(charging[0]) if charging.size else None
    occupied = int(active[-1]) - first + 1 if active.size else 0
    capacity = session.battery_capacity_wh
    return SessionSchedule(
        session_id=session.session_id,
        evse_id=session.evse_id,
        power_w=tuple(power.tolist()),
        energy_wh=tuple(energy.tolist()),
        soc_pct=None if capacity is None else tuple((energy / capacity * 100).tolist()),
        achieved_energy_wh=achieved,
        achieved_soc_pct=session.soc_pct(achieved),
        target_energy_wh=target,
        target_met=achieved >= target - ENERGY_TOLERANCE_WH,
        shortfall_wh=max(0.0, target - achieved),
        planned_start_slot=planned,
        planned_start=None if planned is None else problem.slot_start(planned),
        charged_wh=float(np.clip(power, 0, None).sum() * problem.slot_hours),
        discharged_wh=float(-np.clip(power, None, 0).sum() * problem.slot_hours),
        occupied_slots=occupied,
    )


def assemble(
    problem: Problem,
    power_w: FloatArray,
    method: Method,
    *,
    status: str = "ok",
    solve_time_s: float = 0.0,
    objective: float | None = None,
    best_bound: float | None = None,
    baseline: Result | None = None,
) -> Result:
    """Turn a (sessions, slots) power matrix into a :class:`Result` with all derived figures."""
    power = np.asarray(power_w, dtype=float).reshape(len(problem.sessions), problem.slots)
    schedules = tuple(
        _schedule(problem, session, power[n]) for n, session in enumerate(problem.sessions)
    )
    grid = problem.base_flow_w + power.sum(axis=0)
    charging = np.clip(power, 0, None).sum(axis=0)
    generation = np.asarray(problem.generation_w)
    self_consumed = np.minimum(generation, np.asarray(problem.demand_w) + charging)
    degradation = sum(
        (s.degradation_cost_per_kwh * Decimal(sched.discharged_wh) / 1000
         for s, sched in zip(problem.sessions, schedules, strict=True)),
        ZERO,
    )
    opportunity = sum(
        (occupation_cost(s, sched.occupied_slots)
         for s, sched in zip(problem.sessions, schedules, strict=True)),
        ZERO,
    )
    peak_w = float(max(grid.max(initial=0.0), 0.0))
    result = Result(
        method=method,
        status=status,
        sessions=schedules,
        grid_w=tuple(grid.tolist()),
        energy_cost=energy_cost(problem, grid),
        degradation_cost=to_money(degradation),
        opportunity_cost=to_money(opportunity),
        peak_import_w=peak_w,
        peak_cost=to_money(problem.peak_price_per_kw * Decimal(peak_w) / 1000),
        self_consumed_generation_wh=float(self_consumed.sum() * problem.slot_hours),
        v2g_throughput_wh=float(sum(s.discharged_wh for s in schedules)),
        solve_time_s=solve_time_s,
        objective=objective,
        best_bound=best_bound,
    )
    return compare_with(result, baseline) if baseline is not None else result


def compare_with(result: Result, baseline: Result) -> Result:
    """Attach the saving and the peak of an uncontrolled baseline to ``result`` (SMC_012)."""
    return replace(
        result,
        saving_vs_uncontrolled=baseline.total_cost - result.total_cost,
        uncontrolled_peak_import_w=baseline.peak_import_w,
    )


def check(problem: Problem, result: Result) -> list[str]:
    """Every constraint the schedule breaks, as readable sentences; empty when it is valid.

    Recomputed from the powers alone: EVSE power and discharge permission, the session window,
    the SoC band ``[min SoC (or arrival SoC if lower), 100 %]``, the supply point bounds, and the
    consistency of the reported SoC, target flag, planned start and flows. The supply point rule:
    the EVs never push the flow above the effective limit nor below the minimum power, and where
    the rest of the site alone is already beyond a bound, they do not push it further.
    """
    problems: list[str] = []
    if len(result.sessions) != len(problem.sessions):
        return [f"{len(result.sessions)} schedules for {len(problem.sessions)} sessions"]
    slots = problem.slots
    if len(result.grid_w) != slots:
        return [f"{len(result.grid_w)} supply point flows for {slots} slots"]
    total = np.zeros(slots)
    for session, schedule in zip(problem.sessions, result.sessions, strict=True):
        sid = session.session_id
        if schedule.session_id != sid:
            problems.append(f"schedule {schedule.session_id} in the place of session {sid}")
            continue
        if len(schedule.power_w) != slots or len(schedule.energy_wh) != slots + 1:
            problems.append(f"{sid}: schedule length does not match {slots} slots")
            continue
        power = np.asarray(schedule.power_w, dtype=float)
        total += power
        problems.extend(_check_session(problem, session, schedule, power))
    grid = problem.base_flow_w + total
    scale = POWER_TOLERANCE_W + 1e-9 * sum(
        s.max_charge_power_w + s.max_discharge_power_w for s in problem.sessions
    )
    limits = np.maximum(np.asarray(problem.limit_w), problem.base_flow_w)
    floors = np.minimum(problem.min_power_w, problem.base_flow_w)
    for t in range(slots):
        if grid[t] > limits[t] + scale:
            problems.append(
                f"slot {t}: supply point flow {grid[t]:.3f} W above the limit {limits[t]:.3f} W"
            )
        if grid[t] < floors[t] - scale:
            problems.append(
                f"slot {t}: supply point flow {grid[t]:.3f} W below the minimum {floors[t]:.3f} W"
            )
        if abs(grid[t] - result.grid_w[t]) > scale:
            problems.append(f"slot {t}: reported flow {result.grid_w[t]} W, actual {grid[t]} W")
    return problems


def _check_session(
    problem: Problem, session: EvSession, schedule: SessionSchedule, power: FloatArray
) -> list[str]:
    """The per-session half of :func:`check`."""
    sid = session.session_id
    found: list[str] = []
    first, end = problem.window(session)
    tol_w = POWER_TOLERANCE_W + 1e-9 * session.max_charge_power_w
    outside = np.concatenate((power[:first], power[end:]))
    if outside.size and np.abs(outside).max() > tol_w:
        found.append(f"{sid}: power outside its window [{first}, {end})")
    if power.max(initial=0.0) > session.max_charge_power_w + tol_w:
        found.append(f"{sid}: charges {power.max():.3f} W above {session.max_charge_power_w} W")
    if power.min(initial=0.0) < -session.discharge_limit_w - tol_w:
        allowed = "not allowed" if session.discharge_limit_w == 0 else (
            f"limit {session.discharge_limit_w} W"
        )
        found.append(f"{sid}: discharges {-power.min():.3f} W ({allowed})")
    energy = energy_trajectory(problem, session, power)
    tol_wh = ENERGY_TOLERANCE_WH + 1e-9 * session.ceiling_energy_wh
    if np.abs(energy - np.asarray(schedule.energy_wh)).max() > tol_wh:
        found.append(f"{sid}: reported energy trajectory does not follow from the powers")
    if energy.max() > session.ceiling_energy_wh + tol_wh:
        found.append(f"{sid}: energy {energy.max():.3f} Wh above {session.ceiling_energy_wh} Wh")
    if energy.min() < session.floor_energy_wh - tol_wh:
        found.append(f"{sid}: energy {energy.min():.3f} Wh below the floor")
    met = energy[end] >= session.target_energy_wh - ENERGY_TOLERANCE_WH
    if met != schedule.target_met:
        found.append(f"{sid}: target_met is {schedule.target_met} but the energy says {met}")
    charging = np.flatnonzero(power > 0)
    planned = int(charging[0]) if charging.size else None
    if planned != schedule.planned_start_slot:
        found.append(f"{sid}: planned start {schedule.planned_start_slot}, first charge {planned}")
    return found
