"""A session's meter readings from its OCPI charging periods, for the seed 004 estimators.

Each period with a STATE_OF_CHARGE dimension is one reading: the SoC as of the period's end,
with the energy (ENERGY, kWh) and the charging time (TIME, hours; else the period's length when
it delivered energy) of the periods up to it. Used live, to estimate an unknown battery, and at
the session's end, to judge the estimates (:mod:`.estimate_accuracy`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from core.ocpi import parse_datetime
from plugins.ocpi_scsp.engine import MeterSample, estimate_battery_capacity_wh

#: Seed 004's N (readings the capacity is estimated from) and n (distance of the pairs).
SAMPLES = 5
LAG = 2


@dataclass(frozen=True)
class Reading:
    """One period with a SoC: the meter as of its end (Wh and charging seconds so far)."""

    soc_pct: float
    energy_wh: float
    charging_s: float
    power_w: float | None


def _volumes(period: dict[str, Any]) -> dict[str, float]:
    return {d["type"]: float(d["volume"]) for d in period.get("dimensions") or ()
            if isinstance(d, dict) and isinstance(d.get("volume"), int | float)}


def readings(session: dict[str, Any]) -> list[Reading]:
    """The session's SoC readings in time order, with the energy and charging time up to each."""
    periods = sorted((p for p in session.get("charging_periods") or () if isinstance(p, dict)),
                     key=lambda p: parse_datetime(p["start_date_time"], "start_date_time"))
    if not periods:
        return []
    ends = [parse_datetime(p["start_date_time"], "start_date_time") for p in periods[1:]]
    end = session.get("end_date_time")
    ends.append(parse_datetime(end, "end_date_time") if end else None)
    energy_wh = charging_s = 0.0
    found: list[Reading] = []
    for period, until in zip(periods, ends, strict=True):
        volumes = _volumes(period)
        energy = volumes.get("ENERGY", 0.0) * 1000
        seconds = _charging_seconds(period, until, volumes, energy)
        energy_wh += energy
        charging_s += seconds
        if "STATE_OF_CHARGE" not in volumes:
            continue
        power = volumes["POWER"] * 1000 if "POWER" in volumes else (
            energy / seconds * 3600 if seconds > 0 and energy > 0 else None)
        found.append(Reading(volumes["STATE_OF_CHARGE"], energy_wh, charging_s, power))
    return found


def _charging_seconds(period: dict[str, Any], until: dt.datetime | None,
                      volumes: dict[str, float], energy_wh: float) -> float:
    """The period's TIME (hours), else its length when it delivered energy."""
    if "TIME" in volumes:
        return volumes["TIME"] * 3600
    if energy_wh <= 0 or until is None:
        return 0.0
    start = parse_datetime(period["start_date_time"], "start_date_time")
    return max((until - start).total_seconds(), 0.0)


def first_samples(found: list[Reading]) -> list[MeterSample]:
    """The first ``SAMPLES`` readings: what the estimator knows a few meter cycles in."""
    return [MeterSample(r.soc_pct, r.energy_wh, r.power_w) for r in found[:SAMPLES]]


def capacity_wh(found: list[Reading]) -> float | None:
    """Seed 004 eq. 3.1 on the first readings; None when they cannot tell (too few, no SoC
    step large enough, or an implausible SoC)."""
    try:
        return estimate_battery_capacity_wh(first_samples(found), lag=LAG)
    except ValueError:
        return None
