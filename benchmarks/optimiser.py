"""Smart-charging engine: solve time by size, MILP gap, and cost against the baselines.

Seeded one-day scenarios (96 slots of 15 minutes) for one supply point with N EVSEs: an hourly
day-ahead price with morning and evening peaks and a midday dip, an office-like site load, a PV
bell curve, a DSO flexibility order that lowers the limit in the evening peak and raises it at
midday, a capacity cap one evening hour, and three groups of sessions (connected overnight and
leaving in the morning, workplace arrivals, evening arrivals some of which stay beyond the
horizon); a third of the EVSEs can discharge. Prints three markdown tables:

1. LP (models 1-3 together) solve time p50/max for N = 10, 100, 1,000, model build and solver
   time apart; targets: N = 100 under 0.5 s, N = 1,000 under 10 s.
2. MILP (model 4, opportunity cost) at N = 50: time and gap to SCIP's best bound; target: within
   1 % in under 10 s.
3. Uncontrolled vs greedy vs LP on the same scenarios: energy cost, peak import, self-consumed
   PV, V2G throughput, targets met and constraint violations (must be 0); then the LP again with
   a peak price (a demand charge of ``PEAK_PRICE`` per kW of the day's highest import), its
   saving taken against uncontrolled charging under the same demand charge.

    python benchmarks/optimiser.py [--quick] [--seed 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from plugins.ocpi_scsp.engine import (
    EvSession,
    Problem,
    Result,
    check,
    greedy,
    solve_with_stats,
    uncontrolled,
)

SLOTS = 96
SLOT_MINUTES = 15
START = dt.datetime(2025, 6, 2, tzinfo=dt.UTC)
#: Demand charge of the last comparison row, currency per kW of the day's highest import.
PEAK_PRICE = Decimal("0.25")


def _price_curve(rng: np.random.Generator) -> list[Decimal]:
    """Hourly day-ahead price (currency/kWh), each hour held for its four slots."""
    hours = np.arange(24)
    price = 0.12 + 0.02 * rng.standard_normal(24) * 0.5
    price += 0.10 * np.exp(-((hours - 8) ** 2) / 2.0)
    price += 0.16 * np.exp(-((hours - 19) ** 2) / 3.0)
    price -= 0.08 * np.exp(-((hours - 13) ** 2) / 4.0)
    price = np.clip(price, 0.01, None)
    return [Decimal(f"{p:.4f}") for p in np.repeat(price, 4)]


def _sessions(n: int, rng: np.random.Generator, opportunity: Decimal) -> list[EvSession]:
    sessions = []
    for i in range(n):
        group = rng.choice(3, p=[0.35, 0.45, 0.20])
        if group == 0:
            arrival, departure = 0, int(rng.integers(24, 37))
            previous = int(rng.integers(8, 41))
        elif group == 1:
            arrival = int(rng.integers(28, 41))
            departure, previous = arrival + int(rng.integers(24, 41)), 0
        else:
            arrival = int(rng.integers(64, 81))
            departure, previous = arrival + int(rng.integers(12, 45)), 0
        power = float(rng.choice([7400.0, 11000.0, 22000.0], p=[0.4, 0.45, 0.15]))
        v2g = rng.random() < 0.33
        initial = float(rng.uniform(10, 60))
        sessions.append(
            EvSession(
                session_id=f"s{i}",
                evse_id=f"evse{i}",
                arrival_slot=arrival,
                departure_slot=departure,
                initial_soc_pct=initial,
                target_soc_pct=float(min(100.0, initial + rng.uniform(15, 50))),
                max_charge_power_w=power,
                battery_capacity_wh=float(rng.uniform(40_000, 100_000)),
                min_soc_pct=30.0,
                max_discharge_power_w=min(power, 11000.0) if v2g else 0.0,
                charge_efficiency=0.95 if rng.random() < 0.5 else None,
                degradation_cost_per_kwh=Decimal("0.03") if v2g else Decimal(0),
                opportunity_cost=opportunity,
                previous_slots=previous,
            )
        )
    return sessions


def scenario(n: int, seed: int, opportunity: Decimal = Decimal(0)) -> Problem:
    """A reproducible day for ``n`` EVSEs behind one supply point."""
    rng = np.random.default_rng(seed)
    hours = np.arange(SLOTS) * SLOT_MINUTES / 60
    office = 0.5 + 0.5 * ((hours >= 7) & (hours < 19))
    demand = 1500.0 * n * office * rng.uniform(0.9, 1.1, SLOTS)
    sun = np.clip(np.sin((hours - 6) / 14 * np.pi), 0, None) * ((hours > 6) & (hours < 20))
    generation = 2000.0 * n * sun * rng.uniform(0.6, 1.0, SLOTS)
    sessions = _sessions(n, rng, opportunity)
    max_import = 1.2 * float(demand.max()) + 0.35 * sum(s.max_charge_power_w for s in sessions)
    flex = np.zeros(SLOTS)
    flex[(hours >= 17) & (hours < 19)] = -0.25 * max_import
    flex[(hours >= 12) & (hours < 14)] = 0.10 * max_import
    caps: list[float | None] = [0.9 * max_import if 20 <= h < 21 else None for h in hours]
    prices = _price_curve(rng)
    return Problem(
        start=START,
        import_price_per_kwh=prices,
        export_price_per_kwh=[max(Decimal(0), p - Decimal("0.04")) for p in prices],
        max_import_w=max_import,
        min_power_w=-0.5 * max_import,
        demand_w=demand.tolist(),
        generation_w=generation.tolist(),
        flex_offsets_w=flex.tolist(),
        capacity_limits_w=caps,
        sessions=sessions,
        slot_minutes=SLOT_MINUTES,
        slots=SLOTS,
    )


@dataclass
class Timing:
    total: list[float]
    build: list[float]
    solver: list[float]
    size: tuple[int, int]
    violations: int
    fallbacks: int


def time_lp(n: int, runs: int, seed: int) -> Timing:
    timing = Timing([], [], [], (0, 0), 0, 0)
    for run in range(runs):
        problem = scenario(n, seed + run)
        result, stats = solve_with_stats(problem, model="lp", compare=False)
        timing.total.append(result.solve_time_s)
        timing.build.append(stats.build_time_s)
        timing.solver.append(stats.solve_time_s)
        timing.size = (stats.num_vars, stats.num_rows)
        timing.violations += len(check(problem, result))
        timing.fallbacks += result.method != "lp"
    return timing


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def lp_table(sizes: list[int], seed: int) -> None:
    print("## LP solve time (T = 96, GLOP)\n")
    print("| N EVSEs | runs | variables | rows | build p50 | solver p50 | total p50 | total max "
          "| target | fallbacks | violations |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    targets = {100: 0.5, 1000: 10.0}
    for n in sizes:
        runs = 20 if n <= 10 else 10 if n <= 100 else 3
        t = time_lp(n, runs, seed)
        target = targets.get(n)
        verdict = "" if target is None else (
            f"< {target:g} s {'ok' if max(t.total) < target else 'MISSED'}"
        )
        print(f"| {n} | {runs} | {t.size[0]} | {t.size[1]} | {_ms(statistics.median(t.build))} "
              f"| {_ms(statistics.median(t.solver))} | {_ms(statistics.median(t.total))} "
              f"| {_ms(max(t.total))} | {verdict} | {t.fallbacks} | {t.violations} |")
    print()


def milp_table(n: int, seed: int, runs: int) -> None:
    print(f"## MILP (model 4, opportunity cost), N = {n}, SCIP, time limit 10 s\n")
    print("| run | binaries | time | status | objective | best bound | gap | targets met "
          "| violations |")
    print("|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for run in range(runs):
        problem = scenario(n, seed + 100 + run, opportunity=Decimal("0.02"))
        result, _stats = solve_with_stats(problem, model="milp", time_limit_s=10.0, compare=False)
        binaries = sum(min(s.departure_slot, SLOTS) - s.arrival_slot for s in problem.sessions)
        gap = result.gap
        print(f"| {run} | {binaries} | {_ms(result.solve_time_s)} | {result.status} "
              f"| {result.objective or 0:.4f} | {result.best_bound or 0:.4f} "
              f"| {'-' if gap is None else f'{gap * 100:.3f} %'} "
              f"| {result.targets_met}/{len(problem.sessions)} | {len(check(problem, result))} |")
    print()


def _comparison_row(n: int, label: str, result: Result, base: Result, problem: Problem) -> None:
    saving = base.total_cost - result.total_cost
    print(f"| {n} | {label} | {result.energy_cost:.2f} | {result.degradation_cost:.2f} "
          f"| {result.peak_cost:.2f} | {saving:.2f} | {result.peak_import_w / 1000:.1f} kW "
          f"| {result.self_consumed_generation_wh / 1000:.1f} kWh "
          f"| {result.v2g_throughput_wh / 1000:.1f} kWh "
          f"| {result.targets_met}/{len(problem.sessions)} | {len(check(problem, result))} |")


def comparison_table(sizes: list[int], seed: int) -> None:
    print("## Uncontrolled vs greedy vs LP (same scenarios)\n")
    print("| N | method | energy cost | degradation | peak cost | saving vs uncontrolled "
          "| peak import | self-consumed PV | V2G throughput | targets met | violations |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        problem = scenario(n, seed)
        base = uncontrolled(problem)
        rows: list[Result] = [base, greedy(problem), solve_with_stats(problem, model="lp")[0]]
        for result in rows:
            _comparison_row(n, str(result.method), result, base, problem)
        priced = replace(problem, peak_price_per_kw=PEAK_PRICE)
        peaked = solve_with_stats(priced, model="lp")[0]
        _comparison_row(n, f"{peaked.method}, peak price {PEAK_PRICE}/kW", peaked,
                        uncontrolled(priced), priced)
    print(f"\nThe peak-price row's saving is against uncontrolled charging that pays the same "
          f"demand charge ({PEAK_PRICE} per kW of its peak).\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sizes = [10, 100] if args.quick else [10, 100, 1000]
    lp_table(sizes, args.seed)
    milp_table(20 if args.quick else 50, args.seed, runs=1 if args.quick else 3)
    comparison_table(sizes, args.seed)


if __name__ == "__main__":
    main()
