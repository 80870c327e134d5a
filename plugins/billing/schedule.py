"""A station's prices hour by hour on one day: what the portal's daily tariff chart shows.

Each local hour of the day (23 or 25 on daylight-saving days) gets the prices a default driver
(no token, no group, no eMSP) starting to charge at that hour would pay: the ENERGY price per
kWh, TIME and PARKING_TIME prices per hour and the FLAT fee, each excluding and, when the
component states its VAT, including VAT, with price adjustments applied. Restrictions are read
at the start of the hour and the start of a session (0 kWh, 0 s); power and current
restrictions at the connector's rated maximum when it is known, and are ignored otherwise.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from plugins.billing.engine import compile_tariff
from plugins.billing.model import PriceComponent, Tariff, TariffDimensionType, TariffRestrictions

_FOUR_DECIMALS = Decimal("0.0001")
_COLUMNS = {"energy": TariffDimensionType.ENERGY, "time": TariffDimensionType.TIME,
            "parking": TariffDimensionType.PARKING_TIME, "flat": TariffDimensionType.FLAT}


def day_bounds(day: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants a local day starts and ends at."""
    start = dt.datetime(day.year, day.month, day.day, tzinfo=zone)
    end = start + dt.timedelta(days=1)
    return start.astimezone(dt.UTC), dt.datetime(end.year, end.month, end.day,
                                                 tzinfo=zone).astimezone(dt.UTC)


def _holds_at_start(r: TariffRestrictions | None, power_kw: Decimal | None,
                    current_a: Decimal | None) -> bool:
    if r is None:
        return True
    if r.reservation is not None:
        return False
    if r.min_kwh is not None and r.min_kwh > 0:
        return False
    if r.max_kwh is not None and r.max_kwh <= 0:
        return False
    if r.min_duration is not None and r.min_duration > 0:
        return False
    if r.max_duration is not None and r.max_duration <= 0:
        return False
    for value, low, high in ((power_kw, r.min_power, r.max_power),
                             (current_a, r.min_current, r.max_current)):
        if value is not None and ((low is not None and value < low)
                                  or (high is not None and value >= high)):
            return False
    return True


def _price(component: PriceComponent | None) -> dict[str, float | None] | None:
    if component is None:
        return None
    incl = None
    if component.vat is not None:
        incl = float((component.price * (1 + component.vat / 100))
                     .quantize(_FOUR_DECIMALS, ROUND_HALF_UP))
    return {"excl_vat": float(component.price), "incl_vat": incl}


def hourly(tariff: Tariff, day: dt.date, zone: ZoneInfo, *, power_kw: Decimal | None = None,
           current_a: Decimal | None = None) -> list[dict[str, Any]]:
    """One entry per local hour of ``day``: its start and the applicable prices."""
    compiled = compile_tariff(tariff)
    candidates = [_holds_at_start(e.restrictions, power_kw, current_a) for e in tariff.elements]
    start, end = day_bounds(day, zone)
    hours = []
    at = start
    while at < end:
        local = at.astimezone(zone)
        mask = compiled.time_mask(local)
        entry: dict[str, Any] = {"start": at, "local_time": local.strftime("%H:%M")}
        for column, kind in _COLUMNS.items():
            found = None
            for i, element in enumerate(tariff.elements):
                if not candidates[i] or not mask >> i & 1:
                    continue
                found = next((c for c in element.price_components if c.type is kind), None)
                if found is not None:
                    break
            entry[column] = _price(found)
        hours.append(entry)
        at += dt.timedelta(hours=1)
    return hours
