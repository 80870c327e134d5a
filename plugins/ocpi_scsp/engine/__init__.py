"""The SCSP's optimal (dis)charging engine: pure computation, no HTTP, no database.

Given one optimisation context (a supply point with its limit, forecasts, prices and grid
operator orders, and the EV sessions behind it) over ``T`` slots of ``Ts`` minutes, it computes a
power per session and slot (positive charges, negative discharges) and what follows from it.

The models are those of seed 003 §5.3, with its errata corrected:

1. **Cost-optimal charging** — minimise the cost of the energy imported at the supply point,
   given non-controllable demand and on-site generation forecasts (generation reduces the
   flow), the supply point limit, each EV's capacity, initial SoC, EVSE power, target slot and
   target SoC.
2. **V2G** — EVSEs with a discharge power may also discharge (bounded by ``-EVSEDischargePower``
   and the driver's minimum SoC); the supply point has a minimum power (the most it may
   export), exported energy earns the export price, and each discharged kWh can be charged a
   battery-degradation price (SMC_011).
3. **Support to the grid** — the grid operator's flexibility orders move the supply point limit
   per slot (up or down, SMC_020); per-slot capacity limits cap it.
4. **Opportunity cost** — each slot an EVSE stays occupied costs more than the previous one, so
   charging is not spread over the whole stay just to save on price. "Still occupied in slot t"
   is a binary per session and slot, so this model is a MILP.

Each session's charging is shaped by its driver's OCPI profile type (CHEAP and REGULAR: cost;
FAST: as early as possible; GREEN: the site's generation surplus first), and an optional peak
price (a demand charge per kW of the highest import) flattens the supply point's peak.

Models 1-3 are one LP (which applies follows from the data) solved with GLOP (or PDLP); model 4
runs on SCIP. Targets are soft: a target that cannot be met is approached as closely as possible
and reported with ``target_met = False``. A time-out or a failed solve returns the greedy
schedule, marked as a fallback. Two baselines give the reference for savings (SMC_012):
uncontrolled charging and the cheapest-slots greedy of seed 004, whose battery capacity and
charge time estimates are in :mod:`.estimates`.

Units: power W, energy Wh, SoC %, prices currency per kWh and opportunity cost currency per slot
as ``Decimal``; all times are UTC. Money leaves the engine as ``Decimal`` quantised to 0.0001.
"""

from plugins.ocpi_scsp.engine.baselines import (
    greedy,
    greedy_power,
    uncontrolled,
    uncontrolled_power,
)
from plugins.ocpi_scsp.engine.estimates import (
    MeterSample,
    estimate_battery_capacity_wh,
    estimate_charge_duration,
    estimate_energy_needed_wh,
    mape,
    median_power_w,
)
from plugins.ocpi_scsp.engine.problem import EvSession, Problem, ProfileType, series_to_slots
from plugins.ocpi_scsp.engine.result import Method, Result, SessionSchedule, check
from plugins.ocpi_scsp.engine.solver import SolveStats, solve, solve_with_stats

__all__ = [
    "EvSession",
    "MeterSample",
    "Method",
    "Problem",
    "ProfileType",
    "Result",
    "SessionSchedule",
    "SolveStats",
    "check",
    "estimate_battery_capacity_wh",
    "estimate_charge_duration",
    "estimate_energy_needed_wh",
    "greedy",
    "greedy_power",
    "mape",
    "median_power_w",
    "series_to_slots",
    "solve",
    "solve_with_stats",
    "uncontrolled",
    "uncontrolled_power",
]
