"""How the SCSP turns wire objects into engine inputs and schedules into charging profiles:
units, series spans, SoC from charging periods, conservative defaults."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from core.ocpi import OcpiError
from plugins.ocpi_scsp import optimisation_object
from plugins.ocpi_scsp.charging_profiles import build_profile
from plugins.ocpi_scsp.problem_builder import (
    SessionInput,
    build,
    horizon_start,
    state_of_charge,
)
from plugins.ocpi_scsp.slot_ticker import seconds_to_next_slot

NOW = dt.datetime(2026, 11, 25, 10, 7, 30, tzinfo=dt.UTC)


def context(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "country_code": "nl", "party_id": "cpo", "id": "A",
        "evses": [{"location_id": "L", "evse_uid": "E1",
                   "connectors": [{"connector_id": 1, "power": 7400, "discharge_power": 3000},
                                  {"connector_id": "2", "power": 22000}]}],
        "max_power": 20000,
        "price": [{"time_slot": "2026-11-25T10:00:00Z", "value": 0.2},
                  {"time_slot": "2026-11-25T10:30:00Z", "value": 0.3}],
        "flex_orders": [{"time_slot": "2026-11-25T10:15:00Z", "value": -5000}],
        "capacity_limits": [{"time_slot": "2026-11-25T10:00:00Z", "value": 18000}],
        "last_updated": "2026-11-25T10:00:00+01:00",
    }
    return {**body, **changes}


def test_validation_normalises_and_names_the_bad_field() -> None:
    data = optimisation_object.validate(context())
    assert (data["country_code"], data["party_id"]) == ("NL", "CPO")
    assert data["last_updated"] == "2026-11-25T09:00:00Z"
    assert data["evses"][0]["connectors"][0]["connector_id"] == "1"
    for bad, field in ((context(max_power=-1), "max_power"), (context(evses=[]), "evses"),
                       (context(price=[{"time_slot": "soon", "value": 1}]), "price[0]"),
                       (context(demand=[{"time_slot": "2026-11-25T10:00:00Z", "value": -1}]),
                        "demand[0]"), (context(colour="red"), "unknown")):
        with pytest.raises(OcpiError) as caught:
            optimisation_object.validate(bad)
        assert caught.value.status_code == 2001 and field in caught.value.message


def test_patch_needs_last_updated_and_keeps_the_rest() -> None:
    stored = optimisation_object.validate(context())
    with pytest.raises(OcpiError):
        optimisation_object.merge_patch(stored, {"max_power": 1000})
    merged = optimisation_object.merge_patch(
        stored, {"max_power": 1000, "last_updated": "2026-11-25T11:00:00Z"})
    assert merged["max_power"] == 1000 and merged["price"] == stored["price"]


def test_problem_units_and_spans() -> None:
    session = SessionInput("S", "L", "E1", "1", {
        "kwh": 2, "battery_capacity": 60,
        "charging_periods": [
            {"start_date_time": "2026-11-25T10:00:00Z",
             "dimensions": [{"type": "STATE_OF_CHARGE", "volume": 30}]},
            {"start_date_time": "2026-11-25T10:05:00Z",
             "dimensions": [{"type": "STATE_OF_CHARGE", "volume": 35}]}]},
        {"departure_time": "2026-11-25T11:00:00Z", "discharge_allowed": True,
         "target_soc": 80})
    problem = build(optimisation_object.validate(context()), [session], NOW, 15, 4)
    assert problem.start == dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
    # 10:00 0.2 for two slots, 10:30 0.3 for one slot, then the highest known price.
    assert list(problem.import_price_per_kwh) == [Decimal("0.2"), Decimal("0.2"),
                                                  Decimal("0.3"), Decimal("0.3")]
    assert list(problem.flex_offsets_w) == [0.0, -5000.0, 0.0, 0.0]
    assert list(problem.capacity_limits_w) == [18000.0, None, None, None]
    [ev] = problem.sessions
    assert ev.battery_capacity_wh == 60000 and ev.initial_soc_pct == 35
    assert ev.target_soc_pct == 80 and ev.max_charge_power_w == 7400
    assert ev.max_discharge_power_w == 3000 and ev.departure_slot == 4


def test_without_capacity_the_energy_need_less_what_was_delivered_is_the_goal() -> None:
    session = SessionInput("S", "L", "E1", "9", {"kwh": 2}, {"energy_need": 10})
    [ev] = build(optimisation_object.validate(context()), [session], NOW, 15, 4).sessions
    assert ev.energy_need_wh == 8000 and ev.max_charge_power_w == 22000
    assert ev.max_discharge_power_w == 0


def test_profile_type_and_peak_price_reach_the_engine() -> None:
    fast = SessionInput("S", "L", "E1", "1", {"kwh": 0},
                        {"profile_type": "FAST", "energy_need": 5})
    bare = SessionInput("T", "L2", "E2", "1", {"kwh": 0}, None)
    two = context(evses=[*context()["evses"], {"location_id": "L2", "evse_uid": "E2",
                                               "connectors": [{"connector_id": "1",
                                                               "power": 3700}]}],
                  peak_price=12.5)
    problem = build(optimisation_object.validate(two), [fast, bare], NOW, 15, 4)
    assert [str(ev.profile_type) for ev in problem.sessions] == ["FAST", "REGULAR"]
    assert problem.peak_price_per_kw == Decimal("12.5")
    plain = build(optimisation_object.validate(context()), [bare], NOW, 15, 4)
    assert plain.peak_price_per_kw == 0 and plain.sessions == ()
    with pytest.raises(OcpiError) as caught:
        optimisation_object.validate(context(peak_price=-1))
    assert caught.value.status_code == 2001 and "peak_price" in caught.value.message


def test_soc_is_the_latest_state_of_charge() -> None:
    assert state_of_charge({"charging_periods": []}) is None
    assert state_of_charge({"charging_periods": [
        {"start_date_time": "2026-11-25T10:05:00Z",
         "dimensions": [{"type": "STATE_OF_CHARGE", "volume": 50}]},
        {"start_date_time": "2026-11-25T10:00:00Z",
         "dimensions": [{"type": "ENERGY", "volume": 1},
                        {"type": "STATE_OF_CHARGE", "volume": 45}]}]}) == 50


def test_profile_periods_merge_equal_slots_and_round() -> None:
    start = dt.datetime(2026, 11, 25, 10, tzinfo=dt.UTC)
    profile = build_profile(start, 15, [0.0, 7000.04, 7000.0, -3000.0, -0.01])
    assert profile == {"start_date_time": "2026-11-25T10:00:00Z", "charging_rate_unit": "W",
                       "duration": 4500, "charging_profile_period": [
                           {"start_period": 0, "limit": 0.0},
                           {"start_period": 900, "limit": 7000.0},
                           {"start_period": 2700, "limit": -3000.0},
                           {"start_period": 3600, "limit": 0.0}]}


def test_slots_are_aligned_to_the_hour() -> None:
    assert horizon_start(NOW, 15) == dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
    assert seconds_to_next_slot(NOW, 15) == 450
