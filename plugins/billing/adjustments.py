"""Dynamic pricing: a tariff as it stands while operator or DSO price adjustments run.

An adjustment changes the ENERGY price (``price * factor + delta`` per kWh, never below zero,
rounded to OCPI's 4 decimals) during a window. Rather than patching costs afterwards, the
adjusted prices are written into the tariff itself, as OCPI elements restricted to the window
(local date and time of day), placed before the original elements: at any instant inside the
window the first adjusted element that holds is the copy of the first original element that
holds, so every OCPI rule (first match per dimension, step sizes, FLAT once, min/max price)
keeps working unchanged, and the tariff listed in the CDR reproduces the cost.

Windows are in whole minutes (what OCPI restrictions can express) and are read in the
location's time zone; in the hour a daylight-saving change repeats, the repeated wall-clock
minutes cannot be told apart by a restriction, so a window ending inside it is not applied
to the repetition. Overlapping adjustments combine: factors multiply, deltas add.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from plugins.billing.model import (
    DayOfWeek,
    Tariff,
    TariffDimensionType,
    TariffElement,
    TariffRestrictions,
)

_FOUR_DECIMALS = Decimal("0.0001")
_DAY_MINUTES = 1440
_WEEK = tuple(DayOfWeek)  # in ISO order: _WEEK[date.weekday()]


@dataclass(frozen=True, slots=True)
class Adjustment:
    """``factor`` and ``delta`` (per kWh) from ``start`` until ``end`` (aware datetimes)."""

    start: dt.datetime
    end: dt.datetime
    factor: Decimal | None = None
    delta: Decimal | None = None


def adjusted_price(price: Decimal, factor: Decimal, delta: Decimal) -> Decimal:
    value = price * factor + delta
    return max(value, Decimal(0)).quantize(_FOUR_DECIMALS, ROUND_HALF_UP) + 0


def apply(tariff: Tariff, adjustments: Sequence[Adjustment], zone: ZoneInfo,
          start: dt.datetime, end: dt.datetime) -> Tariff:
    """``tariff`` with the adjustments that overlap ``[start, end]`` written into it.

    Returns ``tariff`` itself when none does, so its compiled form is reused.
    """
    spans = _spans(adjustments, start, end)
    if not spans:
        return tariff
    added: list[TariffElement] = []
    for lo, hi, factor, delta in spans:
        for day, first, last in _local_pieces(lo, hi, zone):
            for element in tariff.elements:
                added.extend(_copies(element, day, first, last, factor, delta))
    if not added:
        return tariff
    return replace(tariff, elements=(*added, *tariff.elements))


def _spans(adjustments: Sequence[Adjustment], start: dt.datetime, end: dt.datetime
           ) -> list[tuple[dt.datetime, dt.datetime, Decimal, Decimal]]:
    """Consecutive intervals with one combined (factor, delta), clipped to [start, end]."""
    relevant = [a for a in adjustments if a.start <= end and a.end > start and a.end > a.start]
    if not relevant:
        return []
    bounds = sorted({max(a.start, start) for a in relevant}
                    | {min(a.end, end) for a in relevant} | {start, end})
    spans: list[tuple[dt.datetime, dt.datetime, Decimal, Decimal]] = []
    for lo, hi in itertools.pairwise(bounds):
        active = [a for a in relevant if a.start <= lo < a.end]
        if not active or hi <= lo:
            continue
        factor, delta = Decimal(1), Decimal(0)
        for item in active:
            factor *= item.factor if item.factor is not None else 1
            delta += item.delta if item.delta is not None else 0
        if spans and spans[-1][1] == lo and spans[-1][2:] == (factor, delta):
            spans[-1] = (spans[-1][0], hi, factor, delta)
        else:
            spans.append((lo, hi, factor, delta))
    # A session shorter than a minute inside a window still needs the minute it falls in.
    return [(lo.replace(second=0, microsecond=0), _ceil_minute(hi), f, d)
            for lo, hi, f, d in spans]


def _ceil_minute(value: dt.datetime) -> dt.datetime:
    floor = value.replace(second=0, microsecond=0)
    return floor if floor == value else floor + dt.timedelta(minutes=1)


def _local_pieces(lo: dt.datetime, hi: dt.datetime, zone: ZoneInfo
                  ) -> list[tuple[dt.date, int, int]]:
    """``[lo, hi)`` as local (date, first minute, end minute) pieces, one per local day."""
    a, b = lo.astimezone(zone), hi.astimezone(zone)
    pieces = []
    day = a.date()
    while day <= b.date():
        first = a.hour * 60 + a.minute if day == a.date() else 0
        last = b.hour * 60 + b.minute if day == b.date() else _DAY_MINUTES
        if last > first:
            pieces.append((day, first, last))
        day += dt.timedelta(days=1)
    return pieces


def _minutes(text: str | None) -> int | None:
    return None if text is None else int(text[:2]) * 60 + int(text[3:])


def _clock(minute: int) -> str:
    minute %= _DAY_MINUTES
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _day_ranges(r: TariffRestrictions) -> list[tuple[int, int]]:
    """The minutes of a day an element's time-of-day restriction holds, as [a, b) ranges."""
    start, end = _minutes(r.start_time), _minutes(r.end_time)
    if end == 0:
        end = _DAY_MINUTES  # "To stop at end of the day use 00:00"
    if start is None:
        return [(0, _DAY_MINUTES if end is None else end)]
    if end is None:
        return [(start, _DAY_MINUTES)]
    if start < end:
        return [(start, end)]
    if start > end:
        return [(start, _DAY_MINUTES), (0, end)]
    return [(0, _DAY_MINUTES)]


def _copies(element: TariffElement, day: dt.date, first: int, last: int, factor: Decimal,
            delta: Decimal) -> list[TariffElement]:
    """The element restricted to minutes [first, last) of ``day``, energy priced anew."""
    r = element.restrictions or TariffRestrictions()
    if r.day_of_week and _WEEK[day.weekday()] not in r.day_of_week:
        return []
    iso = day.isoformat()
    if (r.start_date is not None and iso < r.start_date) or \
            (r.end_date is not None and iso >= r.end_date):
        return []
    components = tuple(
        replace(c, price=adjusted_price(c.price, factor, delta))
        if c.type is TariffDimensionType.ENERGY else c
        for c in element.price_components)
    out = []
    for a, b in _day_ranges(r):
        lo, hi = max(a, first), min(b, last)
        if hi <= lo:
            continue
        restricted = replace(r, start_date=iso, end_date=(day + dt.timedelta(days=1)).isoformat(),
                             day_of_week=(), start_time=_clock(lo), end_time=_clock(hi))
        out.append(TariffElement(components, restricted))
    return out
