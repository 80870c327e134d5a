"""From stored wire objects to an engine :class:`Problem`: the one place units are converted.

A context (SCOptimisation) gives the supply point, the EVSEs and the per-slot series; the
sessions pushed by its CPO at its EVSEs give the EVs. The horizon starts at the current slot
boundary. Unknown inputs are filled conservatively, so a context is always solvable:

- a price slot no price element covers costs the highest known price (charging is not pushed
  into slots whose price nobody gave);
- without ``max_power`` the supply point may take every EVSE's full power plus the peak demand;
- without a known battery capacity (the session's, else the driver's vehicle or profile) it is
  estimated from the session's SoC and energy readings (seed 004 eq. 3.1,
  :mod:`.session_readings`); without a capacity or a SoC the goal is the driver's
  ``energy_need`` (less what was already delivered), or, when not given, as much as the EVSE
  can deliver before departure;
- without a departure time the EV is expected to stay to the end of the horizon;
- without charging preferences the profile type is ``REGULAR`` (no preference stated);
- without ``peak_price`` (our extension, currency per kW of the highest import) there is no
  demand charge.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.ocpi import parse_datetime
from plugins.ocpi_scsp.engine import EvSession, Problem, series_to_slots
from plugins.ocpi_scsp.optimisation_object import decimal_of, place
from plugins.ocpi_scsp.session_readings import capacity_wh, readings


@dataclass(frozen=True)
class SessionInput:
    """What the optimiser needs of one pushed Session and its charging preferences."""

    session_id: str
    location_id: str
    evse_uid: str
    connector_id: str
    data: dict[str, Any]
    preferences: dict[str, Any] | None
    # kWh from the driver's vehicle or profile, when the CPO's session carries none.
    driver_capacity_kwh: float | None = None

    @property
    def evse_key(self) -> str:
        return f"{self.location_id}/{self.evse_uid}"


def horizon_start(now: dt.datetime, slot_minutes: int) -> dt.datetime:
    """The start of the slot ``now`` is in (slots are aligned to the hour)."""
    now = now.astimezone(dt.UTC)
    minute = now.minute - now.minute % slot_minutes if 60 % slot_minutes == 0 else now.minute
    return now.replace(minute=minute, second=0, microsecond=0)


def state_of_charge(session: dict[str, Any]) -> float | None:
    """The latest STATE_OF_CHARGE dimension of the session's charging periods (%)."""
    latest: tuple[str, float] | None = None
    for period in session.get("charging_periods") or ():
        if not isinstance(period, dict):
            continue
        for dimension in period.get("dimensions") or ():
            if isinstance(dimension, dict) and dimension.get("type") == "STATE_OF_CHARGE":
                when = str(period.get("start_date_time", ""))
                if latest is None or when >= latest[0]:
                    latest = (when, float(dimension["volume"]))
    return None if latest is None else min(max(latest[1], 0.0), 100.0)


def _points(context: dict[str, Any], name: str) -> list[tuple[dt.datetime, float]]:
    return [(parse_datetime(e["time_slot"], name), float(e["value"]))
            for e in context.get(name) or ()]


def _caps(context: dict[str, Any], start: dt.datetime, minutes: int,
          slots: int) -> list[float | None]:
    """Per slot, the lowest capacity limit in force at any time of it (None: no limit)."""
    points = sorted(_points(context, "capacity_limits"))
    step = dt.timedelta(minutes=minutes)
    caps: list[float | None] = []
    for slot in range(slots):
        lo, hi = start + step * slot, start + step * (slot + 1)
        found = [value for i, (when, value) in enumerate(points)
                 if when < hi and (points[i + 1][0] if i + 1 < len(points) else when + step) > lo]
        caps.append(min(found) if found else None)
    return caps


def _prices(context: dict[str, Any], start: dt.datetime, minutes: int,
            slots: int) -> list[Decimal]:
    points = [(parse_datetime(e["time_slot"], "price"), decimal_of(e["value"], "price"))
              for e in context.get("price") or ()]
    default = max((value for _, value in points), default=Decimal(0))
    return series_to_slots(points, start, minutes, slots, default=default)


def _connector(context: dict[str, Any], session: SessionInput) -> dict[str, Any] | None:
    evse: dict[str, Any]
    wanted = place(session.location_id, session.evse_uid)
    for evse in context["evses"]:
        if place(evse["location_id"], evse["evse_uid"]) == wanted:
            connectors = evse["connectors"]
            for connector in connectors:
                if str(connector["connector_id"]).upper() == session.connector_id.upper():
                    return dict(connector)
            return dict(max(connectors, key=lambda c: c["power"]))
    return None


def _departure_slot(preferences: dict[str, Any] | None, start: dt.datetime, minutes: int,
                    slots: int) -> int:
    departure = (preferences or {}).get("departure_time")
    if not departure:
        return slots
    seconds = (parse_datetime(departure, "departure_time") - start).total_seconds()
    return max(1, math.floor(seconds / (minutes * 60)))


def ev_session(context: dict[str, Any], session: SessionInput, start: dt.datetime,
               minutes: int, slots: int) -> EvSession | None:
    """The engine's view of one session, or None when its EVSE is not in the context."""
    connector = _connector(context, session)
    if connector is None:
        return None
    preferences = session.preferences or {}
    power = float(connector["power"])
    discharge = float(connector.get("discharge_power") or 0) \
        if preferences.get("discharge_allowed") else 0.0
    departure = _departure_slot(preferences, start, minutes, slots)
    capacity_kwh = session.data.get("battery_capacity") or session.driver_capacity_kwh
    if not capacity_kwh and (estimated := capacity_wh(readings(session.data))):
        capacity_kwh = estimated / 1000
    soc = state_of_charge(session.data)
    common: dict[str, Any] = {
        "session_id": session.session_id, "evse_id": session.evse_key, "arrival_slot": 0,
        "departure_slot": departure, "max_charge_power_w": power,
        "opportunity_cost": decimal_of(context.get("opportunity_cost", 0), "opportunity_cost"),
        "profile_type": preferences.get("profile_type", "REGULAR"),
    }
    if isinstance(capacity_kwh, int | float) and capacity_kwh > 0 and soc is not None:
        target = float(preferences.get("target_soc", 100))
        return EvSession(**common, battery_capacity_wh=float(capacity_kwh) * 1000,
                         initial_soc_pct=soc, target_soc_pct=max(target, soc),
                         max_discharge_power_w=discharge)
    need_kwh = preferences.get("energy_need")
    if isinstance(need_kwh, int | float):
        delivered = float(session.data.get("kwh") or 0)
        need_wh = max(float(need_kwh) - delivered, 0.0) * 1000
    else:
        need_wh = power * min(departure, slots) * minutes / 60
    return EvSession(**common, energy_need_wh=need_wh, initial_soc_pct=0.0, target_soc_pct=0.0)


def build(context: dict[str, Any], sessions: Sequence[SessionInput], now: dt.datetime,
          minutes: int, slots: int) -> Problem:
    """The Problem of one context; ``ValueError`` when its inputs contradict each other."""
    start = horizon_start(now, minutes)
    evs = [ev for s in sessions
           if (ev := ev_session(context, s, start, minutes, slots)) is not None]
    demand = series_to_slots(_points(context, "demand"), start, minutes, slots, default=0.0)
    max_power = context.get("max_power")
    if max_power is None:
        max_power = sum(max(c["power"] for c in e["connectors"]) for e in context["evses"]) \
            + max(demand, default=0.0)
    return Problem(
        start=start,
        import_price_per_kwh=_prices(context, start, minutes, slots),
        max_import_w=float(max_power),
        min_power_w=float(context.get("min_power", 0.0)),
        sessions=evs,
        demand_w=demand,
        generation_w=series_to_slots(_points(context, "generation"), start, minutes, slots,
                                     default=0.0),
        flex_offsets_w=series_to_slots(_points(context, "flex_orders"), start, minutes, slots,
                                       default=0.0),
        capacity_limits_w=_caps(context, start, minutes, slots),
        peak_price_per_kw=decimal_of(context.get("peak_price", 0), "peak_price"),
        slot_minutes=minutes,
        slots=slots,
    )
