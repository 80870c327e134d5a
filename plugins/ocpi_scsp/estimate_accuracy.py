"""How good our battery and charge-time estimates are: recorded per finished session, as MAPE.

Seed 004 estimates a battery's capacity from its first meter readings (eq. 3.1, moving average
of ΔE/ΔSoC over N = 5 readings, pairs n = 2 apart), the energy a SoC gap takes (eq. 3.2,
corrected) and the time it takes at the median power of those readings (eq. 3.3), and judges
the estimates by their mean absolute percentage error against what happened (§5.2, eq. 5.1).

When a session completes, :func:`record` replays that estimator on the session's own readings
(its charging periods: the STATE_OF_CHARGE, ENERGY, POWER and TIME dimensions) and stores, per
kind, the estimate and the actual:

- ``battery_capacity``: the capacity from the first N readings against the known capacity
  (the session's ``battery_capacity``, else the driver's vehicle or profile); none when unknown;
- ``charge_energy``: capacity estimate times the SoC gap from the first to the last reading, against
  the energy delivered between those readings;
- ``charge_duration``: that energy at the median power of the first N readings, against the
  time spent charging between them (TIME dimensions; a period without one counts its length if
  it delivered energy). Smart charging pauses and shifts the charge, so elapsed time would
  measure the schedule, not the estimate.

A period's SoC is read as of the period's end, with the energy of the periods up to it. The
estimate uses only the first N readings, i.e. what the estimator knew a few meter cycles into
the session; the SoC gap and the actuals are those of the whole session.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.types import utcnow
from plugins.ocpi_scsp.driver_profiles import battery_capacities_kwh, token_uid
from plugins.ocpi_scsp.engine import (
    estimate_charge_duration,
    estimate_energy_needed_wh,
    mape,
    median_power_w,
)
from plugins.ocpi_scsp.session_readings import Reading, capacity_wh, first_samples, readings
from plugins.ocpi_scsp.tables import EstimateRecord

KINDS = ("battery_capacity", "charge_energy", "charge_duration")


def estimates(found: list[Reading], known_capacity_wh: float | None) -> dict[str, float | None]:
    """Estimate and actual per kind (``<kind>_estimate``/``<kind>_actual``); None where unknown."""
    out: dict[str, float | None] = {f"{k}_{side}": None for k in KINDS
                                    for side in ("estimate", "actual")}
    out["battery_capacity_actual"] = known_capacity_wh
    capacity = capacity_wh(found)
    if capacity is None:
        return out
    start, last = found[0], found[-1]
    out["battery_capacity_estimate"] = capacity
    out["charge_energy_estimate"] = estimate_energy_needed_wh(capacity, start.soc_pct,
                                                              last.soc_pct)
    out["charge_energy_actual"] = last.energy_wh - start.energy_wh
    power = median_power_w(first_samples(found))
    if power is not None and power > 0:
        duration = estimate_charge_duration(capacity, start.soc_pct, last.soc_pct, power)
        out["charge_duration_estimate"] = duration.total_seconds()
        out["charge_duration_actual"] = last.charging_s - start.charging_s
    return out


async def record(db: AsyncSession, key: tuple[str, str, str], session: dict[str, Any]) -> None:
    """Store the estimates and actuals of a session that completed (again: replaced)."""
    capacity_kwh = session.get("battery_capacity")
    if capacity_kwh is None and (uid := token_uid(session)):
        capacity_kwh = (await battery_capacities_kwh(db, {uid})).get(uid)
    values = estimates(readings(session), None if capacity_kwh is None
                       else float(capacity_kwh) * 1000)
    row = await db.get(EstimateRecord, key)
    if row is None:
        row = EstimateRecord(country_code=key[0], party_id=key[1], session_id=key[2])
        db.add(row)
    row.ended_at = utcnow()
    for name, value in values.items():
        setattr(row, name, value)


async def accuracy(db: AsyncSession, last: int) -> dict[str, Any]:
    """Count and MAPE (%) per kind over the ``last`` sessions recorded; a pair whose actual is
    0 (nothing charged) has no percentage error and is left out."""
    rows = (await db.execute(select(EstimateRecord).order_by(
        EstimateRecord.ended_at.desc()).limit(last))).scalars().all()
    kinds: dict[str, Any] = {}
    for kind in KINDS:
        pairs = [(a, e) for row in rows
                 if (a := getattr(row, f"{kind}_actual")) is not None and a != 0
                 and (e := getattr(row, f"{kind}_estimate")) is not None]
        kinds[kind] = {"count": len(pairs), "mape_pct": mape(*zip(*pairs, strict=True))
                       if pairs else None}
    return {"sessions": len(rows), "kinds": kinds}
