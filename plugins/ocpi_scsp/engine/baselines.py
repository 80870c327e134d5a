"""The two reference schedules smart charging is measured against, and the solver's fallback.

- **Uncontrolled**: what a site does without an SCSP. Every EV charges at its EVSE's full power
  from arrival until its target is reached or it leaves; when the supply point limit binds, the
  power is shared in proportion to what each EV asks for.
- **Greedy cheapest slots** (seed 004 §3.4.2): sessions in order of departure (earliest deadline
  first, the least spare time first among equal deadlines); each takes the cheapest slots of its
  window first until its target is reached. A slot's price is its marginal one: charging from
  on-site generation that would otherwise be exported costs only the lost export price, the
  rest the import price. It never discharges. Sessions choose one after the other, so one can
  take the cheap capacity another needed more; the LP has no such blind spot. The drivers'
  profile types are honoured as in the LP: a FAST session takes its earliest slots, a GREEN
  session the generation surplus first (then the cheapest slots).

Both only charge, so the supply point's minimum power can never be broken by them; both respect
the EVSE power and the supply point limit (after flexibility orders and capacity limits).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from plugins.ocpi_scsp.engine.problem import EvSession, FloatArray, Problem, ProfileType
from plugins.ocpi_scsp.engine.result import Method, Result, assemble

#: Remaining need below this is considered delivered (Wh).
_DONE_WH = 1e-9


def _grid_side_need_wh(problem: Problem) -> FloatArray:
    """Energy each session must draw from the grid to reach its target (losses included)."""
    needs = [
        max(0.0, s.target_energy_wh - s.initial_energy_wh) / s.efficiency for s in problem.sessions
    ]
    return np.asarray(needs, dtype=float)


def uncontrolled_power(problem: Problem) -> FloatArray:
    """Full power from arrival, shared proportionally when the site limit binds."""
    sessions = problem.sessions
    power = np.zeros((len(sessions), problem.slots))
    if not sessions:
        return power
    hours = problem.slot_hours
    remaining = _grid_side_need_wh(problem)
    max_power = np.asarray([s.max_charge_power_w for s in sessions], dtype=float)
    windows = np.asarray([problem.window(s) for s in sessions])
    for t in range(problem.slots):
        active = (windows[:, 0] <= t) & (t < windows[:, 1]) & (remaining > _DONE_WH)
        request = np.where(active, np.minimum(max_power, remaining / hours), 0.0)
        asked = request.sum()
        room = problem.ev_upper_w[t]
        if asked > room:
            request *= room / asked
        power[:, t] = request
        remaining -= request * hours
    return power


#: A part of a slot a session may take: (marginal price, slot, power W, from the surplus).
_Segment = tuple[float, int, float, bool]


def greedy_power(problem: Problem) -> FloatArray:
    """Cheapest marginal slots first (or as the profile type says), earliest deadline first."""
    sessions = problem.sessions
    power = np.zeros((len(sessions), problem.slots))
    hours = problem.slot_hours
    need = _grid_side_need_wh(problem)
    load = np.zeros(problem.slots)
    base = problem.base_flow_w
    order = sorted(range(len(sessions)), key=lambda n: _urgency(problem, sessions[n], need[n], n))
    for n in order:
        if need[n] <= _DONE_WH:
            continue
        first, end = problem.window(sessions[n])
        segments: list[_Segment] = []
        for t in range(first, end):
            room = min(sessions[n].max_charge_power_w, problem.ev_upper_w[t] - load[t])
            if room <= 0:
                continue
            surplus = min(room, max(0.0, -(base[t] + load[t])))
            if surplus > 0:
                segments.append((float(problem.convex_export_price[t]), t, surplus, True))
            if room > surplus:
                segments.append((float(problem.import_price[t]), t, room - surplus, False))
        segments.sort(key=_preference(sessions[n]))
        left = need[n]
        for _price, t, size, _green in segments:
            take = min(size, left / hours)
            power[n, t] += take
            load[t] += take
            left -= take * hours
            if left <= _DONE_WH:
                break
    return power


def _preference(session: EvSession) -> Callable[[_Segment], tuple[float, ...]]:
    """The order a session takes its segments in, by its profile type.

    FAST: the earliest slot first. GREEN: segments of generation surplus first, then the
    cheapest. Others: the cheapest, the earlier first among equal prices.
    """
    if session.profile_type is ProfileType.FAST:
        return lambda segment: (segment[1], segment[0])
    if session.profile_type is ProfileType.GREEN:
        return lambda segment: (float(not segment[3]), segment[0], segment[1])
    return lambda segment: (segment[0], segment[1])


def _urgency(
    problem: Problem, session: EvSession, need_wh: float, index: int
) -> tuple[int, float, int]:
    """Earliest deadline first; at equal deadlines, the session with the fewest spare slots."""
    first, end = problem.window(session)
    slot_energy = session.max_charge_power_w * problem.slot_hours
    slots_needed = need_wh / slot_energy if slot_energy > 0 else math.inf
    return end, (end - first) - slots_needed, index


def uncontrolled(problem: Problem) -> Result:
    started = time.perf_counter()
    power = uncontrolled_power(problem)
    return assemble(
        problem, power, Method.UNCONTROLLED, solve_time_s=time.perf_counter() - started
    )


def greedy(
    problem: Problem,
    *,
    method: Method = Method.GREEDY,
    status: str = "ok",
    baseline: Result | None = None,
) -> Result:
    """The greedy schedule; the solver also returns it, labelled as a fallback, when it must."""
    started = time.perf_counter()
    power = greedy_power(problem)
    return assemble(
        problem,
        power,
        method,
        status=status,
        solve_time_s=time.perf_counter() - started,
        baseline=baseline,
    )
