"""The optimisation models of seed 003 §5.3, corrected, solved with OR-Tools.

One formulation covers models 1-3; which of them a run is follows from the data (no EVSE with
discharge power: model 1; V2G EVSEs: model 2; flexibility orders or capacity limits: model 3).
Model 4 adds one binary per session and slot and is solved as a MILP.

Variables (power in kW and energy in kWh inside the model, for conditioning; W/Wh outside):

- ``c[n,t] ∈ [0, EVSEPower_n]`` charge and, for V2G sessions, ``d[n,t] ∈ [0, EVSEDischargePower_n]``
  discharge power, only for the slots of the session's window (the seed's C1.5/C1.6/C2.1, with
  the discharge bound read as ``≥ -EVSEDischargePower``);
- ``g[t]`` the EVs' net power, ``g = Σ c - Σ d``, bounded by the supply point (C1.4/C3.1):
  ``min_power - base ≤ g ≤ limit - base`` where ``base = demand - generation`` (generation
  *reduces* the flow) and ``limit = max_import + flex offset``, capped by the capacity limit;
- ``imp[t] ≥ max(0, base + g)`` the import, so that the seed's ``max(0, ·)`` objective is linear;
- the battery energy: for V2G sessions ``E[n,t]`` per slot within ``[floor, capacity]`` (C1.1/C1.2
  with the V2G floor); a session that only charges can only fill up, so one total ``q[n]`` bounded
  by the room left in the battery replaces its per-slot energy, which keeps the model small;
- ``s[n] ≥ 0`` the target shortfall (C1.3 made soft): a target that cannot be met is not
  dropped, the model reaches as close as it can and the result says so;
- model 4 only: ``y[n,t] ∈ {0,1}`` "the session still occupies its EVSE in slot t", with
  ``y[n,t] ≥ y[n,t+1]`` (occupation is one stretch from arrival) and ``c, d ≤ P·y``.

- ``peak ≥ imp[t]`` for every slot, only when the context has a peak price (a demand charge).

Objective, in currency: the supply point bill ``Σ_t Ts·(price·imp - export·export_flow)``, plus
the degradation price of each discharged kWh (SMC_011), plus the demand charge
``peak_price·peak`` (per kW), plus model 4's occupation cost
``Σ_t y[n,t]·(PreviousSlots_n + k)·OpportunityCost_n`` for the k-th occupied slot (the seed's O4
with the missing decision variable), plus the drivers' profile-type preferences, plus a penalty
far above all of these on shortfall, plus a negligible preference for earlier charging that
makes ties deterministic.

Profile types (OCPI ``ChargingPreferences.profile_type``) weigh a session's charging with one
weight ``W = 1 + spread`` per kWh, where ``spread`` bounds what moving one kWh to another slot
can save: the import price range (down to the lowest of import and export prices), the highest
degradation price, and the peak price per kWh of one slot (``peak_price / Ts``). So ``W`` beats
every money term of a kWh, and the shortfall penalty in turn beats ``W`` over the whole horizon:

- FAST: ``W·k`` per kWh charged ``k`` slots after arrival (0 in the first slot). Moving a kWh
  one slot earlier gains at least ``W`` and costs at most ``spread < W``, so in the optimum no
  FAST energy can move earlier: the session charges as early as the limits (and the other
  sessions' targets) allow, at any price. FAST sessions never discharge.
- GREEN: ``W`` per kWh a GREEN session charges beyond the site's generation surplus in that slot
  (the surplus left by the site's own demand goes to GREEN sessions first): a variable
  ``green[t] ≤ min(surplus[t], Σ_GREEN c[n,t])`` earns ``-W``, the GREEN charging costs ``W``.
  The least grey energy comes first; among schedules with as little, price decides.
- CHEAP and REGULAR: no term; the bill decides.

Where the site alone already breaks a bound (its load above a lowered limit, or a generation
surplus beyond the export limit), no schedule can satisfy it; the EVs then must not make it
worse (hard) and are asked to relieve it by a penalty above the shortfall penalty.

The MILP is solved in two stages. Whether a target can be met does not depend on the occupation
binaries (occupying every slot is always allowed), so the LP relaxation first finds the least
achievable shortfall; the MILP then keeps the shortfall at that level by a constraint and has
the constant penalty of that shortfall taken out of its objective. Its gap to the best bound is
therefore a gap on money, not diluted by a penalty, and the relaxed solution, rounded up to an
occupation, starts SCIP with a feasible incumbent. Finally the powers are re-solved as an LP with
the occupation fixed, which removes what SCIP's integrality tolerance lets through.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from ortools.linear_solver.python import model_builder_helper as mbh

from plugins.ocpi_scsp.engine.baselines import greedy, uncontrolled
from plugins.ocpi_scsp.engine.problem import EvSession, FloatArray, Problem, ProfileType
from plugins.ocpi_scsp.engine.result import Method, Result, assemble, check

ModelChoice = Literal["auto", "lp", "milp"]
LpSolver = Literal["GLOP", "PDLP"]

_SOLVER_PARAMETERS = {
    # The dual simplex with perturbed costs avoids stalling on the many equal-price slots.
    # Presolve costs more than it saves on these sparse models, and on the peak row coupling
    # every slot it made a 1,000-session solve six times slower.
    "glop": (
        "use_dual_simplex: true perturb_costs_in_dual_simplex: true use_preprocessing: false"
    ),
    "pdlp": (
        "termination_criteria { simple_optimality_criteria { "
        "eps_optimal_absolute: 1e-8 eps_optimal_relative: 1e-8 } }"
    ),
}
#: Powers closer than this to zero are solver noise (W).
_SNAP_W = 1e-4


@dataclass
class _Columns:
    """Where a block of variables sits: global index, session and slot of each."""

    index: list[np.ndarray] = field(default_factory=list)
    session: list[np.ndarray] = field(default_factory=list)
    slot: list[np.ndarray] = field(default_factory=list)

    def add(self, index: np.ndarray, session: int, slots: np.ndarray) -> None:
        self.index.append(index)
        self.session.append(np.full(index.size, session))
        self.slot.append(slots)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.index:
            empty = np.zeros(0, dtype=int)
            return empty, empty, empty
        return (
            np.concatenate(self.index),
            np.concatenate(self.session),
            np.concatenate(self.slot),
        )


class _SparseModel:
    """Collects variables, rows and coefficients as arrays, then hands them to OR-Tools at once.

    Building the model term by term through Python objects costs more than solving it at
    1,000 sessions; here each variable block is one numpy call and the only per-term work is
    one plain call per coefficient when the model is emitted.
    """

    def __init__(self) -> None:
        self._var_blocks: list[tuple[FloatArray, FloatArray, FloatArray, bool]] = []
        self.num_vars = 0
        self._row_lb: list[float] = []
        self._row_ub: list[float] = []
        self._terms: list[tuple[np.ndarray, np.ndarray, FloatArray]] = []
        self.offset = 0.0

    def variables(
        self, lower: FloatArray | float, upper: FloatArray | float, cost: FloatArray | float,
        size: int, *, integer: bool = False,
    ) -> np.ndarray:
        """A block of ``size`` variables; returns their indices."""
        block = (
            np.broadcast_to(np.asarray(lower, dtype=float), (size,)).copy(),
            np.broadcast_to(np.asarray(upper, dtype=float), (size,)).copy(),
            np.broadcast_to(np.asarray(cost, dtype=float), (size,)).copy(),
            integer,
        )
        self._var_blocks.append(block)
        index = np.arange(self.num_vars, self.num_vars + size)
        self.num_vars += size
        return index

    def rows(self, lower: FloatArray | float, upper: FloatArray | float, size: int) -> np.ndarray:
        first = len(self._row_lb)
        self._row_lb.extend(np.broadcast_to(np.asarray(lower, dtype=float), (size,)).tolist())
        self._row_ub.extend(np.broadcast_to(np.asarray(upper, dtype=float), (size,)).tolist())
        return np.arange(first, first + size)

    def terms(self, rows: np.ndarray, cols: np.ndarray, coefficients: FloatArray | float) -> None:
        rows, cols = np.asarray(rows), np.asarray(cols)
        values = np.broadcast_to(np.asarray(coefficients, dtype=float), cols.shape)
        self._terms.append((np.broadcast_to(rows, cols.shape), cols, values))

    @property
    def num_rows(self) -> int:
        return len(self._row_lb)

    def emit(self) -> mbh.ModelBuilderHelper:
        model = mbh.ModelBuilderHelper()
        if self._var_blocks:
            lower = np.concatenate([b[0] for b in self._var_blocks])
            upper = np.concatenate([b[1] for b in self._var_blocks])
            cost = np.concatenate([b[2] for b in self._var_blocks])
            integer = np.concatenate(
                [np.full(b[0].size, b[3], dtype=bool) for b in self._var_blocks]
            )
            index = model.add_var_array_with_bounds(lower, upper, integer, "")
            model.set_objective_coefficients(index.tolist(), cost.tolist())
        model.set_objective_offset(self.offset)
        add_row = model.add_linear_constraint
        set_lower = model.set_constraint_lower_bound
        set_upper = model.set_constraint_upper_bound
        for row, (lo, hi) in enumerate(zip(self._row_lb, self._row_ub, strict=True)):
            add_row()
            set_lower(row, lo)
            set_upper(row, hi)
        if self._terms:
            rows = np.concatenate([t[0] for t in self._terms]).tolist()
            cols = np.concatenate([t[1] for t in self._terms]).tolist()
            values = np.concatenate([t[2] for t in self._terms]).tolist()
            set_coefficient = model.set_constraint_coefficient
            for row, col, value in zip(rows, cols, values, strict=True):
                set_coefficient(row, col, value)
        return model


_Occupation = tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]


@dataclass
class _Built:
    """The emitted model and where to find things in it."""

    model: mbh.ModelBuilderHelper
    charge: tuple[np.ndarray, np.ndarray, np.ndarray]
    discharge: tuple[np.ndarray, np.ndarray, np.ndarray]
    #: Shortfall and relief variables, and their weight in shortfall-kWh equivalents.
    penalised: np.ndarray
    penalty_weights: FloatArray
    penalty_costs: FloatArray
    #: Row ``Σ weight·penalised ≤ budget`` (unbounded until the MILP's second stage).
    budget_row: int
    #: Per MILP session: its index, slots, occupation binaries, charge and discharge columns.
    occupation: list[_Occupation]
    build_time_s: float
    num_vars: int
    num_rows: int

    def power_w(self, problem: Problem, values: FloatArray) -> FloatArray:
        power = np.zeros((len(problem.sessions), problem.slots))
        index, session, slot = self.charge
        power[session, slot] += values[index] * 1000
        index, session, slot = self.discharge
        power[session, slot] -= values[index] * 1000
        # A binary is integral only to a tolerance, and ``c <= P·y`` lets a trickle of power
        # through a slot the solver counts as free; the binary's rounded value decides (this
        # only matters when the final LP with the occupation fixed did not run).
        for n, span, y, _c, _d in self.occupation:
            power[n, span[values[y] < 0.5]] = 0.0
        return power


def preference_weight(problem: Problem) -> float:
    """``W`` of the profile types, per kWh: one more than any kWh can save by moving slots.

    ``spread`` = highest import price - lowest of the import and (capped) export prices
    + highest degradation price + the peak price of one kWh taken in a single slot
    (``peak_price / Ts``, in kW per kWh); ``W = 1 + spread``.
    """
    prices = problem.import_price
    lowest = min(prices.min(initial=0.0), problem.convex_export_price.min(initial=0.0))
    spread = float(prices.max(initial=0.0) - lowest)
    spread += max((float(s.degradation_cost_per_kwh) for s in problem.sessions), default=0.0)
    spread += float(problem.peak_price_per_kw) / problem.slot_hours
    return 1.0 + spread


def _penalties(problem: Problem) -> tuple[float, float]:
    """Penalty per kWh of target shortfall, and per kWh of a site bound left unrelieved.

    The shortfall penalty is three orders of magnitude above anything one kWh can save or cost
    (any price, degradation, the peak price, a whole horizon of occupation cost or of FAST
    delay), so the solver only leaves a shortfall that no schedule can close; a site overload
    weighs ten times more than that.
    """
    worst = 1.0 + float(np.abs(problem.import_price).max(initial=0.0))
    worst += float(np.abs(problem.export_price).max(initial=0.0))
    worst += float(problem.peak_price_per_kw) / problem.slot_hours
    weight = preference_weight(problem)
    for s in problem.sessions:
        extra = float(s.degradation_cost_per_kwh)
        extra += float(s.opportunity_cost) * (s.previous_slots + problem.slots + 1)
        if s.profile_type is ProfileType.FAST:
            extra += weight * problem.slots
        elif s.profile_type is ProfileType.GREEN:
            extra += weight
        worst = max(worst, 1.0 + extra)
    shortfall = 1000.0 * worst
    return shortfall, 10.0 * shortfall


class _Penalties:
    """Collects the penalised variables so the MILP's second stage can turn them into a budget."""

    def __init__(self, shortfall: float) -> None:
        self.shortfall = shortfall
        self.index: list[np.ndarray] = []
        self.weight: list[FloatArray] = []

    def add(self, m: _SparseModel, upper: FloatArray | float, cost: float, size: int) -> np.ndarray:
        index = m.variables(0.0, upper, cost, size)
        self.index.append(index)
        self.weight.append(np.full(size, cost / self.shortfall))
        return index

    def arrays(self) -> tuple[np.ndarray, FloatArray]:
        if not self.index:
            return np.zeros(0, dtype=int), np.zeros(0)
        return np.concatenate(self.index), np.concatenate(self.weight)


def _build(problem: Problem, milp: bool) -> _Built:
    started = time.perf_counter()
    m = _SparseModel()
    slots, hours = problem.slots, problem.slot_hours
    shortfall_penalty, site_penalty = _penalties(problem)
    penalties = _Penalties(shortfall_penalty)
    tie_break = 1e-6 * (1.0 + float(np.abs(problem.import_price).max(initial=0.0)))
    base_kw = problem.base_flow_w / 1000
    export_price = problem.convex_export_price

    # Supply point: g[t] net EV power, imp[t] >= base + g, the balance rows sum(c) - sum(d) = g.
    net = m.variables(
        problem.ev_lower_w / 1000, problem.ev_upper_w / 1000, export_price * hours, slots
    )
    m.offset = float((export_price * hours * base_kw).sum())
    imports = m.variables(0.0, np.inf, (problem.import_price - export_price) * hours, slots)
    balance = m.rows(0.0, 0.0, slots)
    m.terms(balance, net, -1.0)
    import_rows = m.rows(-np.inf, -base_kw, slots)
    m.terms(import_rows, net, 1.0)
    m.terms(import_rows, imports, -1.0)
    _peak(m, problem, imports)
    _soft_site_bounds(m, problem, net, penalties, site_penalty * hours)

    weight = preference_weight(problem)
    charge, discharge = _Columns(), _Columns()
    occupation: list[_Occupation] = []
    for n, session in enumerate(problem.sessions):
        first, end = problem.window(session)
        span = np.arange(first, end)
        eta = session.efficiency
        earlier = tie_break * hours * (span - first + 1) / slots
        c = m.variables(
            0.0,
            session.max_charge_power_w / 1000,
            earlier + _preference_cost(session, span, weight) * hours,
            span.size,
        )
        charge.add(c, n, span)
        m.terms(balance[span], c, 1.0)
        d = None
        if session.can_discharge:
            wear = float(session.degradation_cost_per_kwh) + tie_break
            d = m.variables(0.0, session.discharge_limit_w / 1000, wear * hours, span.size)
            discharge.add(d, n, span)
            m.terms(balance[span], d, -1.0)
        stored = _battery(m, session, span, c, d, eta * hours, hours / eta)
        target = session.target_energy_wh / 1000
        floor = session.floor_energy_wh / 1000
        if target > floor + 1e-9 and (d is not None or target > session.initial_energy_wh / 1000):
            short = penalties.add(m, target - floor, shortfall_penalty, 1)
            row = m.rows(target, np.inf, 1)
            m.terms(row, np.array([stored, short[0]]), 1.0)
        if milp and session.opportunity_cost > 0:
            occupation.append((n, span, _occupation(m, session, span, c, d), c, d))
    _green_credit(m, problem, charge, weight * hours)
    penalised, weights = penalties.arrays()
    budget_row = int(m.rows(-np.inf, np.inf, 1)[0])
    m.terms(np.full(penalised.size, budget_row), penalised, weights)
    model = m.emit()
    return _Built(
        model=model,
        charge=charge.arrays(),
        discharge=discharge.arrays(),
        penalised=penalised,
        penalty_weights=weights,
        penalty_costs=weights * shortfall_penalty,
        budget_row=budget_row,
        occupation=occupation,
        build_time_s=time.perf_counter() - started,
        num_vars=m.num_vars,
        num_rows=m.num_rows,
    )


def _peak(m: _SparseModel, problem: Problem, imports: np.ndarray) -> None:
    """The demand charge: one ``peak ≥ imp[t]`` for all slots, priced per kW (if priced)."""
    if problem.peak_price_per_kw <= 0:
        return
    peak = m.variables(0.0, np.inf, float(problem.peak_price_per_kw), 1)
    rows = m.rows(-np.inf, 0.0, problem.slots)
    m.terms(rows, imports, 1.0)
    m.terms(rows, np.full(problem.slots, peak[0]), -1.0)


def _preference_cost(session: EvSession, span: np.ndarray, weight: float) -> FloatArray:
    """Per kWh charged in each slot of the window: FAST ``W·k`` k slots in, GREEN ``W``."""
    if session.profile_type is ProfileType.FAST:
        return weight * (span - span[0]).astype(float)
    if session.profile_type is ProfileType.GREEN:
        return np.full(span.size, weight)
    return np.zeros(span.size)


def _green_credit(m: _SparseModel, problem: Problem, charge: _Columns, credit: float) -> None:
    """Give back GREEN sessions' ``W`` on what the site's surplus covers, slot by slot.

    ``green[t] ∈ [0, surplus[t]]`` earns ``-W`` and ``green[t] ≤ Σ_GREEN c[n,t]``: the
    penalty left is ``W·(Σ_GREEN c - green)``, the GREEN sessions' grey energy.
    """
    index, session, slot = charge.arrays()
    is_green = np.asarray(
        [s.profile_type is ProfileType.GREEN for s in problem.sessions], dtype=bool
    )
    if not index.size or not is_green.any():
        return
    chosen = is_green[session] & (problem.surplus_w[slot] > 0)
    slots = np.unique(slot[chosen])
    if not slots.size:
        return
    green = m.variables(0.0, problem.surplus_w[slots] / 1000, -credit, slots.size)
    rows = m.rows(-np.inf, 0.0, slots.size)
    m.terms(rows, green, 1.0)
    m.terms(rows[np.searchsorted(slots, slot[chosen])], index[chosen], -1.0)


def _soft_site_bounds(
    m: _SparseModel, problem: Problem, net: np.ndarray, penalties: _Penalties, cost: float
) -> None:
    """Ask the EVs to relieve slots where the site alone is beyond the limit or the minimum."""
    base = problem.base_flow_w
    limit = np.asarray(problem.limit_w)
    over = np.flatnonzero(limit - base < 0)
    if over.size:
        headroom = (limit[over] - base[over]) / 1000
        relief = penalties.add(m, -headroom, cost, over.size)
        rows = m.rows(-np.inf, headroom, over.size)
        m.terms(rows, net[over], 1.0)
        m.terms(rows, relief, -1.0)
    under = np.flatnonzero(problem.min_power_w - base > 0)
    if under.size:
        missing = (problem.min_power_w - base[under]) / 1000
        relief = penalties.add(m, missing, cost, under.size)
        rows = m.rows(missing, np.inf, under.size)
        m.terms(rows, net[under], 1.0)
        m.terms(rows, relief, 1.0)


def _battery(
    m: _SparseModel,
    session: EvSession,
    span: np.ndarray,
    c: np.ndarray,
    d: np.ndarray | None,
    gain: float,
    loss: float,
) -> int:
    """Battery energy rows; returns the variable holding the energy at the target slot (kWh).

    A session that only charges gets one total ``q = E0 + Σ η·Ts·c`` bounded by the battery;
    a V2G session gets ``E[t] = E[t-1] + η·Ts·c[t] - Ts/η·d[t]`` within ``[floor, capacity]``.
    """
    initial = session.initial_energy_wh / 1000
    ceiling = session.ceiling_energy_wh / 1000
    if d is None:
        total = m.variables(initial, max(ceiling, initial), 0.0, 1)
        row = m.rows(initial, initial, 1)
        m.terms(row, total, 1.0)
        m.terms(row, c, -gain)
        return int(total[0])
    energy = m.variables(session.floor_energy_wh / 1000, ceiling, 0.0, span.size)
    rhs = np.zeros(span.size)
    rhs[0] = initial
    rows = m.rows(rhs, rhs, span.size)
    m.terms(rows, energy, 1.0)
    m.terms(rows[1:], energy[:-1], -1.0)
    m.terms(rows, c, -gain)
    m.terms(rows, d, loss)
    return int(energy[-1])


def _occupation(
    m: _SparseModel, session: EvSession, span: np.ndarray, c: np.ndarray, d: np.ndarray | None
) -> np.ndarray:
    """Model 4: binaries "still occupying the EVSE", one stretch from arrival, priced k·cost."""
    weight = float(session.opportunity_cost) * (session.previous_slots + span - span[0] + 1)
    y = m.variables(0.0, 1.0, weight, span.size, integer=True)
    rows = m.rows(-np.inf, 0.0, span.size)
    m.terms(rows, c, 1.0)
    m.terms(rows, y, -session.max_charge_power_w / 1000)
    if d is not None:
        rows = m.rows(-np.inf, 0.0, span.size)
        m.terms(rows, d, 1.0)
        m.terms(rows, y, -session.discharge_limit_w / 1000)
    if span.size > 1:
        rows = m.rows(-np.inf, 0.0, span.size - 1)
        m.terms(rows, y[1:], 1.0)
        m.terms(rows, y[:-1], -1.0)
    return y


@dataclass(frozen=True)
class SolveStats:
    """Size and timing of the model, for the benchmark and for logs."""

    num_vars: int
    num_rows: int
    build_time_s: float
    solve_time_s: float


def solve(
    problem: Problem,
    *,
    model: ModelChoice = "auto",
    lp_solver: LpSolver = "GLOP",
    time_limit_s: float = 10.0,
    mip_gap: float = 0.001,
    compare: bool = True,
) -> Result:
    """The optimal schedule for ``problem``, or the greedy one when no trustworthy optimum came.

    ``model="auto"`` solves the MILP of model 4 when a session carries an opportunity cost and
    the LP otherwise; ``"lp"`` ignores opportunity costs (they are still reported), ``"milp"``
    forces the MILP. The MILP runs on SCIP: powers stay continuous W (CP-SAT would need them and
    the prices scaled to integers, turning an exact LP part into an approximate one), and the
    binaries are few and ordered, which LP-based branch and bound handles well.

    ``time_limit_s`` bounds the whole call. A MILP stopped by it returns its best solution and
    the gap (``Result.gap``); anything else without a solution, or with a solution that fails
    :func:`check`, returns the greedy schedule marked ``greedy-fallback``. ``compare`` adds the
    saving against uncontrolled charging (SMC_012).
    """
    result, _stats = solve_with_stats(
        problem,
        model=model,
        lp_solver=lp_solver,
        time_limit_s=time_limit_s,
        mip_gap=mip_gap,
        compare=compare,
    )
    return result


def solve_with_stats(
    problem: Problem,
    *,
    model: ModelChoice = "auto",
    lp_solver: LpSolver = "GLOP",
    time_limit_s: float = 10.0,
    mip_gap: float = 0.001,
    compare: bool = True,
) -> tuple[Result, SolveStats]:
    """:func:`solve`, also returning the model size and the build and solver times."""
    if lp_solver not in ("GLOP", "PDLP"):
        raise ValueError(f"lp_solver must be GLOP or PDLP, got {lp_solver!r}")
    if model not in ("auto", "lp", "milp"):
        raise ValueError(f"model must be auto, lp or milp, got {model!r}")
    if not time_limit_s > 0:
        raise ValueError("time_limit_s must be positive")
    if not 0 <= mip_gap < 1:
        raise ValueError("mip_gap must be in [0, 1)")
    started = time.perf_counter()
    deadline = started + time_limit_s
    baseline = uncontrolled(problem) if compare else None
    milp = model == "milp" or (
        model == "auto" and any(s.opportunity_cost > 0 for s in problem.sessions)
    )
    built = _build(problem, milp)
    solve_started = time.perf_counter()
    lp_name = lp_solver.lower()
    if milp:
        outcome = _solve_milp(built, deadline, mip_gap, lp_name)
    else:
        outcome = _solve_lp(built, lp_name, deadline)
    stats = SolveStats(
        built.num_vars, built.num_rows, built.build_time_s, time.perf_counter() - solve_started
    )
    name = "scip" if milp else lp_name
    if outcome is None:
        reason = f"fallback: {name} found no solution in time"
        return _fallback(problem, reason, baseline, started), stats
    status, values, objective, bound = outcome

    def result_for(power: FloatArray) -> Result:
        return assemble(
            problem,
            power,
            Method.MILP if milp else Method.LP,
            status=status,
            solve_time_s=time.perf_counter() - started,
            objective=objective,
            best_bound=bound if math.isfinite(bound) and abs(bound) < 1e15 else None,
            baseline=baseline,
        )

    power = _clean(problem, built.power_w(problem, values))
    result = result_for(power)
    violations = check(problem, result)
    if violations:
        # First-order solvers (PDLP) stop near, not on, the feasible set.
        result = result_for(_repair(problem, power))
        violations = check(problem, result)
    if violations:
        reason = f"fallback: the {name} solution broke {len(violations)} constraint(s), e.g. "
        return _fallback(problem, reason + violations[0], baseline, started), stats
    return result, stats


_Outcome = tuple[str, FloatArray, float, float]


def _run(
    model: mbh.ModelBuilderHelper, name: str, deadline: float, parameters: str | None = None
) -> _Outcome | None:
    """Solve ``model`` until ``deadline``; ``(status, values, objective, bound)`` or ``None``."""
    solver = mbh.ModelSolverHelper(name)
    solver.set_time_limit_in_seconds(max(deadline - time.perf_counter(), 0.001))
    solver.set_solver_specific_parameters(parameters or _SOLVER_PARAMETERS.get(name, ""))
    solver.solve(model)
    status = solver.status()
    if status not in (mbh.SolveStatus.OPTIMAL, mbh.SolveStatus.FEASIBLE) or not (
        solver.has_solution()
    ):
        return None
    objective = solver.objective_value()
    bound = solver.best_objective_bound() if name == "scip" else objective
    if status != mbh.SolveStatus.OPTIMAL:
        label = "feasible (time limit)"
    elif abs(objective - bound) > 1e-9 * max(1.0, abs(objective)):
        label = "optimal within the gap limit"
    else:
        label = "optimal"
    return label, np.asarray(solver.variable_values()), objective, bound


def _solve_lp(built: _Built, name: str, deadline: float) -> _Outcome | None:
    """Models 1-3 in one LP solve; the objective is reported without the shortfall penalty."""
    outcome = _run(built.model, name, deadline)
    if outcome is None:
        return None
    status, values, objective, _bound = outcome
    money = objective - float(built.penalty_costs @ values[built.penalised])
    return status, values, money, money


def _solve_milp(built: _Built, deadline: float, gap: float, lp_name: str) -> _Outcome | None:
    """Least shortfall (relaxation), cheapest occupation reaching it (SCIP), exact powers (LP)."""
    model = built.model
    binaries = [int(i) for _n, _span, y, _c, _d in built.occupation for i in y]
    for i in binaries:
        model.set_var_integrality(i, False)
    relaxed = _run(model, lp_name, deadline)
    for i in binaries:
        model.set_var_integrality(i, True)
    if relaxed is not None:
        values = relaxed[1]
        budget = float(built.penalty_weights @ values[built.penalised])
        model.set_constraint_upper_bound(built.budget_row, budget * (1 + 1e-7) + 1e-6)
        # The penalties stay (so no shortfall is traded for money within the budget's rounding
        # slack) but their least value is taken out, leaving an objective of money alone.
        penalty = float(built.penalty_costs @ values[built.penalised])
        model.set_objective_offset(model.objective_offset() - penalty)
        for i, value in enumerate(_occupation_hint(built, values).tolist()):
            model.add_hint(i, value)
    # Keep a tenth of the remaining time for the final LP.
    scip_deadline = deadline - 0.1 * max(deadline - time.perf_counter(), 0.0)
    outcome = _run(model, "scip", scip_deadline, f"limits/gap = {gap}\n")
    if outcome is None:
        return None
    status, values, objective, bound = outcome
    if relaxed is None:
        penalty = float(built.penalty_costs @ values[built.penalised])
        objective, bound = objective - penalty, bound - penalty
    polished = _polish(built, values, binaries, lp_name, deadline)
    return status, values if polished is None else polished, objective, bound


def _polish(
    built: _Built, values: FloatArray, binaries: list[int], lp_name: str, deadline: float
) -> FloatArray | None:
    """Re-solve the powers as an LP with each binary fixed to its rounded value.

    SCIP accepts a binary within 1e-6 of 0 or 1, and ``c <= P·y`` then lets a trickle of power
    through slots it counts as free (or energy be missing where it counts them as used). With
    the occupation fixed the LP is exact again; the shortfall budget is lifted (the penalties
    still hold the shortfall down) so that rounding can never make it infeasible.
    """
    model = built.model
    model.clear_hints()
    model.set_constraint_upper_bound(built.budget_row, np.inf)
    for i in binaries:
        fixed = 1.0 if values[i] >= 0.5 else 0.0
        model.set_var_integrality(i, False)
        model.set_var_lower_bound(i, fixed)
        model.set_var_upper_bound(i, fixed)
    polished = _run(model, lp_name, deadline)
    return None if polished is None else polished[1]


def _occupation_hint(built: _Built, values: FloatArray) -> FloatArray:
    """The relaxed solution made integral: occupied from arrival to the last slot with power."""
    hint = values.copy()
    for _n, _span, y, c, d in built.occupation:
        used = values[c] > 1e-9
        if d is not None:
            used |= values[d] > 1e-9
        last = int(np.flatnonzero(used)[-1]) if used.any() else -1
        hint[y] = (np.arange(y.size) <= last).astype(float)
    return hint


def _fallback(problem: Problem, reason: str, baseline: Result | None, started: float) -> Result:
    result = greedy(problem, method=Method.GREEDY_FALLBACK, status=reason, baseline=baseline)
    return replace(result, solve_time_s=time.perf_counter() - started)


def _clean(problem: Problem, power: FloatArray) -> FloatArray:
    """Remove solver noise: round to the µW, clip to the EVSE bounds, zero what is ~zero."""
    upper = np.asarray([s.max_charge_power_w for s in problem.sessions], dtype=float)[:, None]
    lower = -np.asarray([s.discharge_limit_w for s in problem.sessions], dtype=float)[:, None]
    power = np.clip(np.round(power, 6), lower, upper)
    power[np.abs(power) < _SNAP_W] = 0.0
    return power


def _repair(problem: Problem, power: FloatArray) -> FloatArray:
    """Move an almost feasible schedule into the feasible set, only ever towards zero power.

    Zero power is always feasible for a battery and never pushes the supply point beyond a
    bound, so shrinking powers is a safe direction: first the supply point (per slot, the side
    that is exceeded is scaled down), then each battery (a forward pass that caps every slot by
    the room left above the floor and below the ceiling). A few rounds settle the interplay.
    """
    power = power.copy()
    for _ in range(3):
        _fit_supply_point(problem, power)
        _fit_batteries(problem, power)
    power[np.abs(power) < _SNAP_W] = 0.0
    return power


def _fit_supply_point(problem: Problem, power: FloatArray) -> None:
    charging = np.clip(power, 0, None)
    discharging = np.clip(power, None, 0)
    total = power.sum(axis=0)
    over = np.maximum(total - problem.ev_upper_w, 0.0)
    under = np.maximum(problem.ev_lower_w - total, 0.0)
    charge_sum = charging.sum(axis=0)
    discharge_sum = -discharging.sum(axis=0)
    keep_charge = np.where(
        over > 0, np.clip(1 - over / np.maximum(charge_sum, 1e-300), 0, 1), 1.0
    )
    keep_discharge = np.where(
        under > 0, np.clip(1 - under / np.maximum(discharge_sum, 1e-300), 0, 1), 1.0
    )
    power[:] = charging * keep_charge + discharging * keep_discharge


def _fit_batteries(problem: Problem, power: FloatArray) -> None:
    hours = problem.slot_hours
    for n, session in enumerate(problem.sessions):
        eta = session.efficiency
        energy = session.initial_energy_wh
        ceiling, floor = session.ceiling_energy_wh, session.floor_energy_wh
        first, end = problem.window(session)
        for t in range(first, end):
            value = float(power[n, t])
            if value > 0:
                value = min(value, max(ceiling - energy, 0.0) / (eta * hours))
                energy += value * eta * hours
            elif value < 0:
                value = max(value, -max(energy - floor, 0.0) * eta / hours)
                energy += value * hours / eta
            power[n, t] = value
