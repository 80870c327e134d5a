"""The SCSP (dis)charging engine: hand-checkable optima per model, properties, estimates."""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from plugins.ocpi_scsp.engine import (
    EvSession,
    MeterSample,
    Method,
    Problem,
    ProfileType,
    check,
    estimate_battery_capacity_wh,
    estimate_charge_duration,
    estimate_energy_needed_wh,
    greedy,
    mape,
    median_power_w,
    series_to_slots,
    solve,
    uncontrolled,
)

START = dt.datetime(2025, 3, 3, tzinfo=dt.UTC)


def prices(*values: str) -> list[Decimal]:
    return [Decimal(v) for v in values]


def ev(session_id: str = "s1", **overrides) -> EvSession:
    """A 40 kWh EV at a 10 kW EVSE, present for the whole (4-slot) horizon, 20 % -> 70 %."""
    fields = dict(
        session_id=session_id,
        evse_id=f"evse-{session_id}",
        arrival_slot=0,
        departure_slot=4,
        initial_soc_pct=20.0,
        target_soc_pct=70.0,
        max_charge_power_w=10_000.0,
        battery_capacity_wh=40_000.0,
    )
    fields.update(overrides)
    return EvSession(**fields)


def hourly(price: list[Decimal], sessions: list[EvSession], **overrides) -> Problem:
    """A horizon of one-hour slots, so that kW and kWh are the same number."""
    fields = dict(
        start=START,
        import_price_per_kwh=price,
        max_import_w=50_000.0,
        sessions=sessions,
        slot_minutes=60,
        slots=len(price),
    )
    fields.update(overrides)
    return Problem(**fields)


def valid(problem: Problem, result) -> None:
    assert check(problem, result) == []


# -- model 1: cost-optimal charging --------------------------------------------------------------


def test_lp_charges_in_the_cheap_slots_and_reports_the_saving():
    problem = hourly(prices("0.30", "0.10", "0.10", "0.30"), [ev()])
    result = solve(problem)
    valid(problem, result)
    schedule = result.session("s1")
    assert result.method == Method.LP and result.status == "optimal"
    assert schedule.power_w == (0.0, 10_000.0, 10_000.0, 0.0)
    assert schedule.achieved_soc_pct == pytest.approx(70.0)
    assert schedule.target_met
    assert result.energy_cost == Decimal("2.0000")
    # SMC_010: the planned start of a slow charge is its first slot with power.
    assert schedule.planned_start_slot == 1
    assert schedule.planned_start == START + dt.timedelta(hours=1)
    # SMC_012: uncontrolled charging would charge at once, in the expensive first slot.
    assert uncontrolled(problem).energy_cost == Decimal("4.0000")
    assert result.saving_vs_uncontrolled == Decimal("2.0000")
    assert result.uncontrolled_peak_import_w == 10_000.0


def test_generation_reduces_the_supply_point_flow():
    problem = hourly(
        prices("0.10", "0.30"),
        [ev(departure_slot=2, target_soc_pct=45.0)],
        generation_w=[0.0, 10_000.0],
    )
    result = solve(problem)
    valid(problem, result)
    # Charging from the surplus costs nothing, cheaper than the 0.10 import in slot 0.
    assert result.session("s1").power_w == (0.0, 10_000.0)
    assert result.energy_cost == Decimal("0.0000")
    assert result.self_consumed_generation_wh == pytest.approx(10_000.0)


def test_supply_point_limit_is_shared():
    sessions = [ev("a"), ev("b")]
    problem = hourly(prices("0.30", "0.10", "0.20", "0.40"), sessions, max_import_w=12_000.0)
    result = solve(problem)
    valid(problem, result)
    grid = result.grid_w
    assert max(grid) <= 12_000.0 + 1e-6
    # 40 kWh are needed; 12 kWh fit in each slot: the two cheapest full, the rest in slot 0.
    assert grid[1] == pytest.approx(12_000.0) and grid[2] == pytest.approx(12_000.0)
    assert grid[0] == pytest.approx(12_000.0) and grid[3] == pytest.approx(4_000.0)
    assert result.targets_met == 2


def test_efficiency_draws_the_losses_from_the_grid():
    problem = hourly(prices("0.10", "0.10"), [ev(departure_slot=2, charge_efficiency=0.8,
                                                  target_soc_pct=40.0)])
    result = solve(problem)
    valid(problem, result)
    # 8 kWh into the battery need 10 kWh from the grid.
    assert sum(result.session("s1").power_w) == pytest.approx(10_000.0)
    assert result.energy_cost == Decimal("1.0000")


# -- model 2: V2G ---------------------------------------------------------------------------------


def v2g_problem(**session_overrides) -> Problem:
    fields = dict(initial_soc_pct=50.0, target_soc_pct=50.0, min_soc_pct=20.0,
                  max_discharge_power_w=10_000.0)
    fields.update(session_overrides)
    price = prices("0.10", "0.50", "0.10", "0.10")
    return hourly(price, [ev(**fields)], export_price_per_kwh=price, min_power_w=-20_000.0)


def test_v2g_sells_in_the_expensive_slot_and_buys_back_cheaply():
    problem = v2g_problem()
    result = solve(problem)
    valid(problem, result)
    schedule = result.session("s1")
    assert schedule.power_w[1] == -10_000.0
    assert sum(schedule.power_w) == pytest.approx(0.0)
    assert schedule.target_met and schedule.achieved_soc_pct == pytest.approx(50.0)
    assert result.energy_cost == Decimal("-4.0000")
    assert result.v2g_throughput_wh == pytest.approx(10_000.0)


def test_degradation_cost_above_the_spread_stops_v2g():
    problem = v2g_problem(degradation_cost_per_kwh=Decimal("0.50"))
    result = solve(problem)
    valid(problem, result)
    assert min(result.session("s1").power_w) >= 0
    assert result.v2g_throughput_wh == 0
    assert result.energy_cost == Decimal("0.0000")


def test_no_discharge_where_not_allowed():
    problem = v2g_problem(max_discharge_power_w=0.0)
    for result in (solve(problem), greedy(problem), uncontrolled(problem)):
        valid(problem, result)
        assert min(result.session("s1").power_w) >= 0


def test_minimum_power_zero_discharges_only_to_cover_the_site_demand():
    price = prices("0.10", "0.50", "0.10", "0.10")
    problem = hourly(
        price,
        [ev(initial_soc_pct=50.0, target_soc_pct=50.0, min_soc_pct=20.0,
            max_discharge_power_w=10_000.0)],
        export_price_per_kwh=price,
        demand_w=[0.0, 4_000.0, 0.0, 0.0],
        min_power_w=0.0,
    )
    result = solve(problem)
    valid(problem, result)
    assert result.session("s1").power_w[1] == pytest.approx(-4_000.0)
    assert result.grid_w[1] == pytest.approx(0.0)


def test_discharge_stops_at_the_minimum_soc():
    problem = v2g_problem(min_soc_pct=45.0)
    result = solve(problem)
    valid(problem, result)
    schedule = result.session("s1")
    # Only 2 kWh above the floor at arrival: it charges in slot 0 to sell the full 10 kWh.
    assert min(schedule.soc_pct) >= 45.0 - 1e-9
    assert schedule.power_w[0] >= 8_000.0 - 1e-6
    assert schedule.power_w[1] == -10_000.0
    assert result.energy_cost == Decimal("-4.0000")


# -- model 3: support to the grid -----------------------------------------------------------------


def test_flex_order_lowers_the_limit_in_a_slot():
    problem = hourly(
        prices("0.30", "0.10", "0.20", "0.30"),
        [ev()],
        max_import_w=10_000.0,
        flex_offsets_w=[0.0, -6_000.0, 0.0, 0.0],
    )
    result = solve(problem)
    valid(problem, result)
    power = result.session("s1").power_w
    assert power[1] == pytest.approx(4_000.0)
    assert power[2] == pytest.approx(10_000.0)
    assert power[0] == pytest.approx(6_000.0)  # ties go to the earlier slot
    assert result.session("s1").target_met


def test_flex_order_raising_the_limit_and_a_capacity_limit():
    problem = hourly(
        prices("0.30", "0.10", "0.10", "0.30"),
        [ev(max_charge_power_w=22_000.0)],
        max_import_w=5_000.0,
        flex_offsets_w=[0.0, 15_000.0, 15_000.0, 0.0],
        capacity_limits_w=[None, None, 8_000.0, None],
    )
    result = solve(problem)
    valid(problem, result)
    power = result.session("s1").power_w
    assert power[1] == pytest.approx(20_000.0)  # 5 kW contracted + 15 kW flexibility
    assert power[2] == pytest.approx(0.0)
    assert result.energy_cost == Decimal("2.0000")
    capped = hourly(
        prices("0.30", "0.10", "0.10", "0.30"),
        [ev()],
        capacity_limits_w=[None, 3_000.0, None, None],
    )
    power = solve(capped).session("s1").power_w
    assert power == (7_000.0, 3_000.0, 10_000.0, 0.0)


def test_site_overload_is_relieved_by_v2g_and_never_worsened():
    overloaded = dict(demand_w=[0.0, 14_000.0, 0.0, 0.0], max_import_w=10_000.0)
    # Flat prices: discharging earns nothing, yet the EV discharges the 4 kW of overload.
    session = ev(initial_soc_pct=50.0, target_soc_pct=50.0, min_soc_pct=20.0,
                 max_discharge_power_w=10_000.0)
    relieving = hourly(prices("0.10", "0.10", "0.10", "0.10"), [session], **overloaded)
    result = solve(relieving)
    valid(relieving, result)
    assert result.session("s1").power_w[1] == pytest.approx(-4_000.0)
    assert result.grid_w[1] == pytest.approx(10_000.0)
    assert result.session("s1").target_met
    # An EV that cannot discharge leaves the overloaded slot alone, though it is the cheapest.
    charging_only = hourly(prices("0.10", "0.05", "0.10", "0.10"), [ev()], **overloaded)
    for result in (solve(charging_only), greedy(charging_only), uncontrolled(charging_only)):
        valid(charging_only, result)
        assert result.session("s1").power_w[1] == 0.0
        assert result.session("s1").target_met


# -- profile types (OCPI ChargingPreferences.profile_type) ---------------------------------------


def test_fast_charges_in_the_earliest_slots_despite_cheaper_later_ones():
    # 20 kWh at 10 kW: slots 0 and 1 at full power, though slots 2 and 3 cost an eighth.
    problem = hourly(prices("0.40", "0.30", "0.05", "0.05"), [ev(profile_type="FAST")])
    for result in (solve(problem), greedy(problem)):
        valid(problem, result)
        assert result.session("s1").power_w == pytest.approx((10_000.0, 10_000.0, 0.0, 0.0))
        assert result.energy_cost == Decimal("7.0000")  # 10 kWh at 0.40 + 10 kWh at 0.30
    cheap = solve(hourly(prices("0.40", "0.30", "0.05", "0.05"), [ev(profile_type="CHEAP")]))
    assert cheap.session("s1").power_w == pytest.approx((0.0, 0.0, 10_000.0, 10_000.0))


def test_fast_takes_the_shared_early_capacity_and_never_discharges():
    # A 10 kW supply point; slot 0 is the cheapest for both. FAST gets it; CHEAP (10 kWh) moves
    # to the next cheapest slot it has, slot 3 at 0.10. The FAST EV may not discharge in slot 1.
    problem = hourly(
        prices("0.05", "0.90", "0.40", "0.10"),
        [ev("fast", profile_type="FAST", target_soc_pct=45.0, max_discharge_power_w=10_000.0),
         ev("cheap", target_soc_pct=45.0, profile_type="CHEAP")],
        max_import_w=10_000.0, min_power_w=-10_000.0,
        export_price_per_kwh=prices("0.05", "0.90", "0.40", "0.10"),
    )
    result = solve(problem)
    valid(problem, result)
    assert result.session("fast").power_w == pytest.approx((10_000.0, 0.0, 0.0, 0.0))
    assert result.session("cheap").power_w == pytest.approx((0.0, 0.0, 0.0, 10_000.0))
    assert result.v2g_throughput_wh == 0.0


def test_green_follows_the_generation_surplus_and_price_breaks_the_tie():
    # Surplus (generation - 1 kW demand): 0, 0, 7 and 11 kW, and exporting it pays as much as
    # importing costs. 20 kWh: 7 kWh in slot 2 and 10 kWh (the EVSE's power) in slot 3 are
    # green; the 3 kWh left go to the cheapest slot, 0.
    price = prices("0.05", "0.10", "0.30", "0.30")
    site = dict(demand_w=[1_000.0] * 4, generation_w=[0.0, 0.0, 8_000.0, 12_000.0],
                export_price_per_kwh=price, min_power_w=-20_000.0)
    problem = hourly(price, [ev(profile_type="GREEN")], **site)
    for result in (solve(problem), greedy(problem)):
        valid(problem, result)
        assert result.session("s1").power_w == pytest.approx((3_000.0, 0.0, 7_000.0, 10_000.0))
    # CHEAP sells the surplus at 0.30 and charges in the two cheapest slots.
    cheap = solve(hourly(price, [ev(profile_type="CHEAP")], **site))
    assert cheap.session("s1").power_w == pytest.approx((10_000.0, 10_000.0, 0.0, 0.0))


def test_green_gets_the_surplus_before_a_cheap_session():
    # 5 kW of surplus in slot 1 only, import at 0.10 everywhere and no export pay: for CHEAP the
    # surplus saves 0.10 per kWh, for GREEN it is worth W; GREEN takes all of it.
    problem = hourly(
        prices("0.10", "0.10", "0.10", "0.10"),
        [ev("green", target_soc_pct=32.5, profile_type="GREEN"),
         ev("cheap", target_soc_pct=32.5, profile_type="CHEAP")],
        generation_w=[0.0, 5_000.0, 0.0, 0.0],
    )
    result = solve(problem)
    valid(problem, result)
    assert result.session("green").power_w[1] == pytest.approx(5_000.0)
    assert result.session("cheap").power_w[1] == pytest.approx(0.0)


def test_regular_is_optimised_like_cheap():
    price = prices("0.40", "0.30", "0.05", "0.05")
    regular = solve(hourly(price, [ev(profile_type="REGULAR")]))
    cheap = solve(hourly(price, [ev(profile_type="CHEAP")]))
    assert regular.session("s1").power_w == cheap.session("s1").power_w
    assert ev().profile_type is ProfileType.REGULAR


# -- peak price (demand charge) -----------------------------------------------------------------


def test_peak_price_flattens_two_evs_to_the_computed_peak():
    """Two EVs of 20 kWh each, 10 kW EVSEs, prices 0.10-0.40 rising by slot.

    Without a peak price both charge in slots 0 and 1: 20 kW peak, energy 6.00. With a peak of
    P kW (10 ≤ P ≤ 13⅓) the cheapest fill is P in slots 0-2 and 40 - 3P kWh in slot 3, costing
    16 - 0.6·P + peak_price·P; at 0.50 per kW that falls with P up to 13⅓ kW, where slot 3
    empties; above 13⅓ kW it is 12 - 0.3·P + 0.5·P, rising. So the peak is 40/3 kW, the
    energy 0.1·P + 0.2·P + 0.3·P = 8.00 and the peak cost 6.6667.
    """
    sessions = [ev("a"), ev("b")]
    price = prices("0.10", "0.20", "0.30", "0.40")
    plain = solve(hourly(price, sessions))
    assert plain.peak_import_w == pytest.approx(20_000.0)
    assert plain.energy_cost == Decimal("6.0000") and plain.peak_cost == Decimal("0.0000")
    problem = hourly(price, sessions, peak_price_per_kw=Decimal("0.50"))
    for result in (solve(problem), solve(problem, model="milp")):
        valid(problem, result)
        assert result.peak_import_w == pytest.approx(40_000 / 3, abs=0.01)
        assert result.grid_w[3] == pytest.approx(0.0, abs=0.01)
        assert result.energy_cost == Decimal("8.0000")
        assert result.peak_cost == Decimal("6.6667")
        assert result.total_cost == Decimal("14.6667")
    # The uncontrolled baseline pays the same demand charge on its 20 kW peak: 10.00.
    base = uncontrolled(problem)
    assert base.peak_cost == Decimal("10.0000") and base.total_cost == Decimal("16.0000")
    assert solve(problem).saving_vs_uncontrolled == Decimal("1.3333")


# -- model 4: opportunity cost ------------------------------------------------------------------


def occupation_problem(cost: str, model_prices=("0.20", "0.20", "0.10", "0.10")) -> Problem:
    return hourly(prices(*model_prices), [ev(target_soc_pct=70.0,
                                              opportunity_cost=Decimal(cost))])


def test_milp_finishes_early_when_occupation_is_expensive():
    problem = occupation_problem("0.5")
    result = solve(problem)
    valid(problem, result)
    assert result.method == Method.MILP
    schedule = result.session("s1")
    # Occupying 2 slots costs 0.5 x (1 + 2) = 1.5 plus 4.0 of energy, 4 slots 5.0 + 2.0.
    assert schedule.power_w == (10_000.0, 10_000.0, 0.0, 0.0)
    assert schedule.occupied_slots == 2
    assert result.opportunity_cost == Decimal("1.5000")
    assert result.energy_cost == Decimal("4.0000")
    assert result.gap is not None and result.gap <= 1e-3


def test_milp_waits_for_cheap_energy_when_occupation_is_cheap():
    problem = occupation_problem("0.05")
    result = solve(problem)
    valid(problem, result)
    schedule = result.session("s1")
    assert schedule.power_w == (0.0, 0.0, 10_000.0, 10_000.0)
    assert result.opportunity_cost == Decimal("0.5000")
    # The plain LP ignores the occupation cost but still reports it.
    lp = solve(occupation_problem("0.5"), model="lp")
    assert lp.method == Method.LP
    assert lp.session("s1").power_w == (0.0, 0.0, 10_000.0, 10_000.0)
    assert lp.opportunity_cost == Decimal("5.0000")


def test_milp_counts_previous_slots_and_stays_one_stretch():
    # Already connected for 10 slots: occupation is dear from the first slot on.
    problem = hourly(
        prices("0.20", "0.05", "0.30", "0.05"),
        [ev(target_soc_pct=45.0, opportunity_cost=Decimal("0.1"), previous_slots=10)],
    )
    result = solve(problem)
    valid(problem, result)
    # Slot 0: 1.1 + 2.0; slot 1: 0.1 x (11 + 12) + 0.5 = 2.8; slot 3: 0.1 x 50 + 0.5 = 5.5.
    assert result.session("s1").power_w == (0.0, 10_000.0, 0.0, 0.0)
    assert result.opportunity_cost == Decimal("2.3000")


# -- targets that cannot be met ---------------------------------------------------------------


def test_unreachable_target_is_reported_with_the_best_achievable_soc():
    problem = hourly(
        prices("0.10", "0.20"),
        [ev(departure_slot=2, battery_capacity_wh=100_000.0, initial_soc_pct=10.0,
            target_soc_pct=90.0)],
    )
    for result in (solve(problem), greedy(problem), uncontrolled(problem)):
        valid(problem, result)
        schedule = result.session("s1")
        assert not schedule.target_met
        assert schedule.achieved_soc_pct == pytest.approx(30.0)
        assert schedule.shortfall_wh == pytest.approx(60_000.0)
    assert solve(problem).method == Method.LP


def test_shared_limit_shortfall_goes_where_it_cannot_be_avoided():
    # "early" can only charge in slot 0; "late" can use either slot. The optimum meets both.
    sessions = [
        ev("early", departure_slot=1, target_soc_pct=45.0),
        ev("late", departure_slot=2, target_soc_pct=45.0),
    ]
    problem = hourly(prices("0.10", "0.50"), sessions, max_import_w=10_000.0)
    result = solve(problem)
    valid(problem, result)
    assert result.targets_met == 2
    assert result.session("late").power_w == (0.0, 10_000.0)


def test_unknown_capacity_uses_the_energy_need_and_never_discharges():
    session = ev(battery_capacity_wh=None, energy_need_wh=5_000.0, max_discharge_power_w=10_000.0)
    price = prices("0.30", "0.10", "0.90", "0.10")
    problem = hourly(price, [session], export_price_per_kwh=price, min_power_w=-20_000.0)
    result = solve(problem)
    valid(problem, result)
    schedule = result.session("s1")
    assert schedule.soc_pct is None and schedule.achieved_soc_pct is None
    assert schedule.achieved_energy_wh == pytest.approx(5_000.0)
    assert min(schedule.power_w) >= 0
    assert schedule.target_met


def test_departure_beyond_the_horizon_needs_the_target_by_its_end():
    problem = hourly(prices("0.30", "0.10"), [ev(departure_slot=9, target_soc_pct=70.0)])
    result = solve(problem)
    valid(problem, result)
    assert result.session("s1").power_w == (10_000.0, 10_000.0)
    assert result.session("s1").target_met


# -- solver options and fallbacks ---------------------------------------------------------------


def test_pdlp_is_selectable_and_agrees_with_glop():
    problem = hourly(prices("0.30", "0.10", "0.20", "0.40"), [ev("a"), ev("b")],
                     max_import_w=12_000.0)
    glop = solve(problem)
    pdlp = solve(problem, lp_solver="PDLP")
    valid(problem, pdlp)
    assert pdlp.method == Method.LP
    assert abs(pdlp.energy_cost - glop.energy_cost) <= Decimal("0.001")


def test_time_out_returns_the_greedy_fallback():
    sessions = [ev(f"s{i}", arrival_slot=i % 40, departure_slot=i % 40 + 50,
                   max_discharge_power_w=5_000.0 * (i % 2)) for i in range(150)]
    price = [Decimal(f"0.{10 + (t * 7) % 30:02d}") for t in range(96)]
    problem = Problem(start=START, import_price_per_kwh=price, max_import_w=400_000.0,
                      sessions=sessions)
    result = solve(problem, time_limit_s=1e-6)
    assert result.method == Method.GREEDY_FALLBACK
    assert result.status.startswith("fallback")
    valid(problem, result)
    assert result.saving_vs_uncontrolled is not None


def test_solver_options_are_validated():
    problem = hourly(prices("0.1"), [])
    with pytest.raises(ValueError, match="lp_solver"):
        solve(problem, lp_solver="CLP")
    with pytest.raises(ValueError, match="time_limit_s"):
        solve(problem, time_limit_s=0)
    empty = solve(problem)
    assert empty.sessions == () and empty.energy_cost == Decimal("0.0000")


# -- input validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(battery_capacity_wh=-1.0), "battery_capacity_wh must be positive"),
        (dict(arrival_slot=3, departure_slot=2), "must be after arrival_slot"),
        (dict(initial_soc_pct=120.0), "initial_soc_pct must be between 0 and 100"),
        (dict(target_soc_pct=-5.0), "target_soc_pct must be between 0 and 100"),
        (dict(max_charge_power_w=-1.0), "max_charge_power_w must not be negative"),
        (dict(max_discharge_power_w=float("nan")), "must be a finite number"),
        (dict(battery_capacity_wh=None), "battery_capacity_wh or energy_need_wh"),
        (dict(charge_efficiency=0.0), "charge_efficiency must be in"),
        (dict(opportunity_cost=Decimal("-1")), "opportunity_cost must not be negative"),
        (dict(arrival_slot=-1), "arrival_slot must not be negative"),
        (dict(profile_type="SLOW"), "profile_type must be one of CHEAP, FAST, GREEN, REGULAR"),
    ],
)
def test_impossible_sessions_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        ev(**overrides)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(start=dt.datetime(2025, 1, 1)), "timezone-aware"),
        (dict(demand_w=[1.0]), "demand_w has 1 values, expected 4"),
        (dict(generation_w=[-1.0] * 4), "generation_w\\[0\\] must not be negative"),
        (dict(import_price_per_kwh=[]), "import_price_per_kwh needs one value per slot"),
        (dict(min_power_w=60_000.0), "min_power_w 60000.0 is above max_import_w"),
        (dict(flex_offsets_w=[0.0, -60_000.0, 0.0, 0.0], min_power_w=-5_000.0),
         "slot 1: the flexibility order"),
        (dict(sessions=[ev(), ev()]), "session id s1 appears twice"),
        (dict(sessions=[ev("a", evse_id="e"), ev("b", evse_id="e", arrival_slot=2)]),
         "EVSE e: sessions a and b overlap"),
        (dict(sessions=[ev(arrival_slot=4, departure_slot=6)]), "outside the horizon"),
        (dict(slots=0), "slots must be a positive integer"),
        (dict(peak_price_per_kw=Decimal("-0.1")), "peak_price_per_kw must not be negative"),
    ],
)
def test_impossible_problems_are_refused(overrides, message):
    fields = dict(start=START, import_price_per_kwh=prices("0.1", "0.1", "0.1", "0.1"),
                  max_import_w=50_000.0, slot_minutes=60, slots=4)
    fields.update(overrides)
    with pytest.raises(ValueError, match=message):
        Problem(**fields)


def test_start_is_normalised_to_utc():
    tz = dt.timezone(dt.timedelta(hours=2))
    problem = hourly(prices("0.1"), [], start=dt.datetime(2025, 3, 3, 2, tzinfo=tz))
    assert problem.start == START and problem.start.tzinfo is dt.UTC


def test_series_elements_apply_until_the_next_one():
    points = [(START, 4000.0), (START + dt.timedelta(hours=1), 1000.0)]
    values = series_to_slots(points, START, slot_minutes=15, slots=6, default=0.0)
    # The first element covers four slots, the last one only its own slot.
    assert values == [4000.0, 4000.0, 4000.0, 4000.0, 1000.0, 0.0]
    half = [(START + dt.timedelta(minutes=30), Decimal("0.20"))]
    price = series_to_slots(half, START, slot_minutes=60, slots=1, default=Decimal("0.10"))
    assert price == [Decimal("0.15")]
    with pytest.raises(ValueError, match="does not cover slot 1"):
        series_to_slots([(START, 1.0)], START, slot_minutes=15, slots=2)


# -- properties ---------------------------------------------------------------------------------

CENTS = st.integers(min_value=-5, max_value=60).map(lambda c: Decimal(c) / 100)


PREFERENCES = st.sampled_from(list(ProfileType))
COST_ONLY = st.sampled_from([ProfileType.CHEAP, ProfileType.REGULAR])


@st.composite
def sessions(draw, slots: int, profiles=PREFERENCES) -> list[EvSession]:
    count = draw(st.integers(min_value=1, max_value=4))
    drawn = []
    for i in range(count):
        arrival = draw(st.integers(min_value=0, max_value=slots - 1))
        charge = float(draw(st.sampled_from([0, 3_700, 7_400, 11_000, 22_000])))
        known = draw(st.booleans())
        drawn.append(EvSession(
            session_id=f"s{i}",
            evse_id=f"e{i}",
            arrival_slot=arrival,
            departure_slot=draw(st.integers(min_value=arrival + 1, max_value=slots + 2)),
            initial_soc_pct=float(draw(st.integers(min_value=0, max_value=100))),
            target_soc_pct=float(draw(st.integers(min_value=0, max_value=100))),
            min_soc_pct=float(draw(st.integers(min_value=0, max_value=60))),
            max_charge_power_w=charge,
            max_discharge_power_w=draw(st.sampled_from([0.0, charge / 2, charge])),
            battery_capacity_wh=float(draw(st.integers(min_value=5, max_value=80)) * 1000)
            if known else None,
            energy_need_wh=float(draw(st.integers(min_value=0, max_value=30_000))),
            charge_efficiency=draw(st.sampled_from([None, 0.9])),
            opportunity_cost=draw(st.sampled_from([Decimal(0), Decimal("0.01"),
                                                   Decimal("0.2")])),
            degradation_cost_per_kwh=draw(st.sampled_from([Decimal(0), Decimal("0.05")])),
            previous_slots=draw(st.integers(min_value=0, max_value=5)),
            profile_type=draw(profiles),
        ))
    return drawn


@st.composite
def problems(draw, *, within_bounds: bool = False, independent: bool = False,
             profiles=PREFERENCES):
    """Small random problems covering every feature.

    ``within_bounds`` keeps the site alone inside the supply point bounds; ``independent`` also
    removes every interaction between sessions (no generation surplus to share, a limit that
    never binds, no peak price), the case where the greedy schedule is provably optimal.
    ``profiles`` draws the sessions' profile types: the cost comparisons need ``COST_ONLY``,
    because FAST and GREEN sessions rightly pay more to charge earlier or greener.
    """
    slots = draw(st.integers(min_value=2, max_value=8))
    price = draw(st.lists(CENTS, min_size=slots, max_size=slots))
    export_share = draw(st.sampled_from([None, Decimal("0"), Decimal("0.5"), Decimal("1")]))
    # Export never pays more than import, so that the real cost is the convex one.
    export = [] if export_share is None else [min(p * export_share, p) for p in price]
    power_list = st.lists(st.integers(min_value=0, max_value=15_000).map(float),
                          min_size=slots, max_size=slots)
    demand = draw(power_list)
    generation = draw(power_list)
    drawn = draw(sessions(slots, profiles))
    peak_price = draw(st.sampled_from([Decimal(0), Decimal("0.05"), Decimal("2")]))
    flex = draw(st.one_of(st.just([]), st.lists(
        st.integers(min_value=-2_000, max_value=5_000).map(float), min_size=slots,
        max_size=slots)))
    caps = draw(st.one_of(st.just([]), st.lists(
        st.one_of(st.none(), st.integers(min_value=1_000, max_value=30_000).map(float)),
        min_size=slots, max_size=slots)))
    max_import = float(draw(st.integers(min_value=2, max_value=40)) * 1000)
    if independent:
        generation = [min(g, d) for g, d in zip(generation, demand, strict=True)]
        flex, caps, peak_price = [], [], Decimal(0)
        max_import = max(demand) + sum(s.max_charge_power_w for s in drawn)
    try:
        problem = Problem(
            start=START, import_price_per_kwh=price, export_price_per_kwh=export,
            max_import_w=max_import,
            min_power_w=-float(draw(st.integers(min_value=0, max_value=30)) * 1000),
            demand_w=demand, generation_w=generation, flex_offsets_w=flex,
            capacity_limits_w=caps, sessions=drawn,
            slot_minutes=draw(st.sampled_from([15, 30, 60])), slots=slots,
            peak_price_per_kw=peak_price,
        )
    except ValueError:
        assume(False)
    if within_bounds:
        base = problem.base_flow_w
        assume(all(problem.min_power_w <= b <= limit
                   for b, limit in zip(base, problem.limit_w, strict=True)))
    return problem


def shortfall(result) -> float:
    return sum(s.shortfall_wh for s in result.sessions)


PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much,
                                                           HealthCheck.too_slow],
)
TOLERANCE = Decimal("0.001")


@PROPERTY_SETTINGS
@given(problems())
def test_every_schedule_satisfies_every_constraint(problem):
    results = [
        solve(problem, model="lp"),
        solve(problem),
        greedy(problem),
        uncontrolled(problem),
    ]
    for result in results:
        assert check(problem, result) == [], result.method
    assert results[0].method == Method.LP
    assert results[1].method in (Method.LP, Method.MILP)


@PROPERTY_SETTINGS
@given(problems(within_bounds=True))
def test_lp_leaves_the_least_shortfall_whatever_the_profile_types(problem):
    """The shortfall penalty outweighs every preference and the peak price."""
    lp = solve(problem, model="lp")
    for other in (greedy(problem), uncontrolled(problem)):
        assert shortfall(lp) <= shortfall(other) + 0.01 * len(problem.sessions)
    assert all(s.discharged_wh == 0 for s, ev in zip(lp.sessions, problem.sessions, strict=True)
               if ev.profile_type is ProfileType.FAST)


@PROPERTY_SETTINGS
@given(problems(within_bounds=True, profiles=COST_ONLY))
def test_lp_leaves_the_least_shortfall_and_costs_no_more_than_greedy(problem):
    """CHEAP and REGULAR only: FAST and GREEN trade money for time or green energy.

    A peak price may be drawn: the total cost includes the demand charge the LP minimises.
    """
    lp = solve(problem, model="lp")
    cheapest = greedy(problem)
    # The LP leaves the least total shortfall (it may spread it differently).
    for other in (cheapest, uncontrolled(problem)):
        assert shortfall(lp) <= shortfall(other) + 0.01 * len(problem.sessions)
    assume(all(s.target_met for s in cheapest.sessions))
    assert lp.total_cost <= cheapest.total_cost + TOLERANCE


@PROPERTY_SETTINGS
@given(problems(within_bounds=True, independent=True, profiles=COST_ONLY))
def test_lp_then_greedy_then_uncontrolled_when_sessions_do_not_compete(problem):
    """CHEAP and REGULAR only and no peak price: the greedy's cheapest slots beat charging at
    once only on energy; a peak price couples the sessions (and the greedy may raise the peak)."""
    lp, cheapest, base = solve(problem, model="lp"), greedy(problem), uncontrolled(problem)
    assume(all(s.target_met for s in base.sessions))
    assert all(s.target_met for s in cheapest.sessions)
    assert lp.total_cost <= cheapest.total_cost + TOLERANCE
    assert cheapest.total_cost <= base.total_cost + TOLERANCE


def test_greedy_can_lose_to_uncontrolled_when_sessions_compete_but_the_lp_does_not():
    # "small" leaves first, so it chooses first: the free PV surplus of slot 1. "big" does not
    # fit in cheap slot 0 and must import its rest in slot 1 at 0.48. Uncontrolled charging
    # puts both in slot 0 and leaves the surplus to the rest of "big".
    problem = Problem(
        start=START,
        import_price_per_kwh=prices("0.01", "0.48", "0.60"),
        max_import_w=4_000.0,
        generation_w=[0.0, 400.0, 0.0],
        sessions=[
            ev("small", departure_slot=2, battery_capacity_wh=None, energy_need_wh=100.0),
            ev("big", departure_slot=3, target_soc_pct=29.5, max_charge_power_w=3_700.0,
               battery_capacity_wh=10_000.0),
        ],
        slot_minutes=15,
        slots=3,
    )
    lp, cheapest, base = solve(problem), greedy(problem), uncontrolled(problem)
    for result in (lp, cheapest, base):
        valid(problem, result)
        assert result.targets_met == 2
    assert cheapest.total_cost > base.total_cost
    assert lp.total_cost <= base.total_cost


@PROPERTY_SETTINGS
@given(problems(within_bounds=True, independent=True, profiles=st.just(ProfileType.FAST)))
def test_fast_sessions_that_do_not_compete_charge_like_uncontrolled(problem):
    """FAST is "as soon as the limits allow": full power from arrival, as uncontrolled.

    Only where importing costs something: a negative price pays for energy beyond the target,
    which the LP rightly takes (FAST or not) while uncontrolled charging stops at the target.
    """
    assume(all(price >= 0 for price in problem.import_price_per_kwh))
    lp, base = solve(problem, model="lp"), uncontrolled(problem)
    assert lp.power_matrix_w() == pytest.approx(base.power_matrix_w(), abs=0.01)


@PROPERTY_SETTINGS
@given(problems(within_bounds=True, profiles=COST_ONLY))
def test_milp_total_cost_is_never_above_the_lp_schedule_priced_the_same_way(problem):
    """CHEAP and REGULAR only: the preference weights are not part of the reported costs."""
    assume(any(s.opportunity_cost > 0 for s in problem.sessions))
    milp = solve(problem, model="milp")
    lp = solve(problem, model="lp")
    assert milp.method == Method.MILP
    assert shortfall(milp) <= shortfall(lp) + 0.01 * len(problem.sessions)
    assume(milp.targets_met == len(problem.sessions))
    slack = Decimal(str(1e-3 + 2e-3 * abs(float(lp.total_cost + lp.opportunity_cost))))
    assert (milp.total_cost + milp.opportunity_cost
            <= lp.total_cost + lp.opportunity_cost + slack)


# -- estimates (seed 004) -------------------------------------------------------------------------


def test_capacity_estimate_is_a_moving_average_of_energy_per_soc():
    samples = [MeterSample(20 + i, 800.0 * i) for i in range(5)]
    assert estimate_battery_capacity_wh(samples, lag=2) == pytest.approx(80_000.0)
    noisy = [MeterSample(20, 0), MeterSample(21, 900), MeterSample(22, 1500),
             MeterSample(23, 2500), MeterSample(24, 3200)]
    # Pairs two apart: 1500/2, 1600/2 and 1700/2 Wh per % -> 80 kWh on average.
    assert estimate_battery_capacity_wh(noisy) == pytest.approx(80_000.0)


def test_capacity_estimate_skips_equal_soc_instead_of_dividing_by_zero():
    samples = [MeterSample(20, 0), MeterSample(20, 300), MeterSample(20, 600),
               MeterSample(21, 800), MeterSample(22, 1600)]
    assert estimate_battery_capacity_wh(samples, lag=2) == pytest.approx(50_000.0)
    flat = [MeterSample(50, 100.0 * i) for i in range(5)]
    assert estimate_battery_capacity_wh(flat) is None
    assert estimate_battery_capacity_wh(samples[:2], lag=2) is None
    with pytest.raises(ValueError, match="lag"):
        estimate_battery_capacity_wh(samples, lag=0)
    with pytest.raises(ValueError, match="implausible"):
        estimate_battery_capacity_wh([MeterSample(120, 0)])


def test_charge_time_uses_capacity_times_soc_gap():
    assert estimate_energy_needed_wh(100_000, 20, 80) == pytest.approx(60_000.0)
    assert estimate_energy_needed_wh(100_000, 80, 20) == 0.0
    duration = estimate_charge_duration(100_000, 20, 80, power_w=50_000)
    assert duration == dt.timedelta(hours=1.2)
    samples = [MeterSample(20, 0, 10_000), MeterSample(21, 800, 50_000),
               MeterSample(22, 1600, 48_000)]
    assert median_power_w(samples) == 48_000
    assert median_power_w([MeterSample(20, 0)]) is None
    with pytest.raises(ValueError, match="power must be positive"):
        estimate_charge_duration(100_000, 20, 80, power_w=0)


def test_mape_matches_the_seed_table():
    actual = [1.351, 0.233, 0.543, 0.182, 0.525, 0.226, 1.323]
    estimated = [1.633, 0.250, 0.480, 0.183, 0.400, 0.250, 1.150]
    assert mape(actual, estimated) == pytest.approx(12.547, abs=0.01)
    with pytest.raises(ValueError, match="actual value is 0"):
        mape([0.0], [1.0])
    with pytest.raises(ValueError, match="2 actual values for 1"):
        mape([1.0, 2.0], [1.0])
