"""The cost of a charging session under an OCPI 2.2.1 tariff: one exact formula, no I/O.

The live estimate, the OCPI Session's ``total_cost`` and the CDR all call :func:`compute_cost`
(:func:`estimate` is the same call with ``end = now``), so a driver is never shown one price and
billed another.

How a session is priced (OCPI 2.2.1, Tariffs and CDRs chapters):

- The session is cut into ChargingPeriods wherever the applicable price can change: local
  time-of-day, date and weekday boundaries of the location's time zone (including the jumps of
  daylight saving time), the instants the consumed energy crosses a ``min_kwh``/``max_kwh``
  bound (interpolated linearly between meter readings), ``min/max_duration`` instants, changes
  of power or current band, and charging/parking transitions. Cuts that change nothing are
  merged away again.
- In each period, each dimension is priced by the first element whose restrictions all hold and
  that has a component of that dimension. TIME counts while charging, PARKING_TIME while not,
  ENERGY always. FLAT is charged once, from the elements that apply at the session start.
  Restrictions are read at each instant on their own (a 22:00-06:00 window that also names
  FRIDAY holds on Friday evening, not on Saturday morning); power and current hold from one
  sample to the next, are zero while parked, and a current restriction never holds while the
  current is unknown. Elements with a ``reservation`` restriction price only the reservation
  (RESERVATION_EXPIRES ones first when it expired), the others only the session.
- ``step_size`` is applied once per session to the total billed volume: once for ENERGY, and
  once for TIME and PARKING_TIME together, namely to the total of whichever of the two priced
  the last time-billed period (so charging time followed by parking is not rounded, the parking
  total is). The step size used is that of the component which priced that last period, and
  the rounded-up remainder is billed at its price. Reservation time is rounded on its own.
- VAT is applied per component; a component without VAT makes the amount including VAT
  unknowable (``incl_vat`` None) unless it cost nothing.
- The total is then held within ``min_price``/``max_price``: excluding VAT against the bounds'
  ``excl_vat``, including VAT against their ``incl_vat``, each independently.
- Money is computed in ``Decimal`` and rounded to the currency's minor unit (half up) only at
  the end, each figure on its own. Every product of a price and a volume is exact and each
  figure's one division is carried to 60 digits, so the rounding sees the exact amount; the
  only approximation is the energy interpolated at a cut between two samples (28 digits).

Representation choices that keep this fast and exact: instants are integer microseconds since
the epoch, energy is Wh (``int`` or ``Decimal``), power W, current A; everything that only
depends on the tariff (masks of applicable elements per band, local-day boundary instants per
time zone) is computed once per tariff in :class:`CompiledTariff`, and which elements apply is a
bitmask, so choosing a component is a couple of integer operations.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Context, Decimal
from enum import StrEnum
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from plugins.billing.model import (
    DayOfWeek,
    Price,
    PriceComponent,
    ReservationRestrictionType,
    Tariff,
    TariffDimensionType,
    TariffRestrictions,
    format_datetime,
)

__all__ = [
    "CdrDimension",
    "CdrDimensionType",
    "ChargingPeriod",
    "CompiledTariff",
    "CostBreakdown",
    "MeterReading",
    "Observation",
    "Reservation",
    "StateChange",
    "compile_tariff",
    "compute_cost",
    "currency_exponent",
    "estimate",
]

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
_US_PER_S = 1_000_000
_US_PER_H = 3_600_000_000
_US_PER_DAY = 86_400_000_000
_D_US_PER_H = Decimal(_US_PER_H)
_D_1000 = Decimal(1000)
_ZERO = Decimal(0)
# Money is accumulated in currency units times microseconds-per-hour, so that amounts for time
# (price/h x µs), energy (price/kWh x Wh x 3.6e6) and fees (price x 3.6e9) are all exact
# products; the one division happens per cost figure at the end. The wide context keeps those
# products and their sums exact (a 28-digit context could round a long session's VAT sum).
_SCALE = _US_PER_H
_ENERGY_SCALE = _US_PER_H // 1000
_MONEY = Context(prec=60)
_FOUR_DECIMALS = Decimal("0.0001")

# Dimension slots of a compiled tariff.
_ENERGY, _TIME, _PARKING, _FLAT = range(4)
_SLOT = {TariffDimensionType.ENERGY: _ENERGY, TariffDimensionType.TIME: _TIME,
         TariffDimensionType.PARKING_TIME: _PARKING, TariffDimensionType.FLAT: _FLAT}
_WEEKDAY = {day: i for i, day in enumerate(DayOfWeek)}

# ISO 4217 minor units that are not 2; amounts are rounded to these many decimals.
_MINOR_UNITS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
}


def currency_exponent(currency: str) -> int:
    """Decimals of the currency's minor unit (ISO 4217): 2 for EUR, 0 for JPY, 3 for KWD."""
    return _MINOR_UNITS.get(currency, 2)


class CdrDimensionType(StrEnum):
    """The CdrDimensionType values a CDR may carry (the Session-only ones are never produced)."""

    ENERGY = "ENERGY"
    MAX_CURRENT = "MAX_CURRENT"
    MIN_CURRENT = "MIN_CURRENT"
    MAX_POWER = "MAX_POWER"
    MIN_POWER = "MIN_POWER"
    PARKING_TIME = "PARKING_TIME"
    RESERVATION_TIME = "RESERVATION_TIME"
    TIME = "TIME"


class MeterReading(NamedTuple):
    """A sample: energy register (Wh) and, when measured, power (W) and current (A, all phases).

    Power and current describe the interval that starts at the sample, until the next one; a
    sample without power is given the average power of that interval, computed from energy.
    """

    timestamp: dt.datetime
    energy_wh: Decimal | int | float
    power_w: Decimal | int | float | None = None
    current_a: Decimal | int | float | None = None


class StateChange(NamedTuple):
    """From ``timestamp`` on, the EV is charging (TIME) or not (PARKING_TIME).

    A session is charging from its start unless a change at or before the start says otherwise.
    """

    timestamp: dt.datetime
    charging: bool


Observation = MeterReading | StateChange


@dataclass(frozen=True, slots=True)
class Reservation:
    """A reservation that ran from ``start`` until the session ``start``.

    ``expired``: the driver never came; the reservation ran until ``start`` (its expiry) and
    there is no charging session, so ``end`` must equal ``start``.
    """

    start: dt.datetime
    expired: bool = False


@dataclass(frozen=True, slots=True)
class CdrDimension:
    """``volume`` is exact: kWh for ENERGY, hours for times, kW for power, A for current."""

    type: CdrDimensionType
    volume: Decimal


@dataclass(frozen=True, slots=True)
class ChargingPeriod:
    start_date_time: dt.datetime
    dimensions: tuple[CdrDimension, ...]
    tariff_id: str | None = None

    def to_ocpi(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start_date_time": format_datetime(self.start_date_time),
            "dimensions": [{"type": d.type.value, "volume": _number(d.volume)}
                           for d in self.dimensions],
        }
        if self.tariff_id is not None:
            out["tariff_id"] = self.tariff_id
        return out


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """Everything an OCPI 2.2.1 CDR or Session needs about what the session cost.

    Money figures are rounded to the currency's minor unit unless computed with
    ``exact=True``. ``period_costs`` (one per charging period, same order) are never rounded
    to the cent and are before min/max price: they include the FLAT fee (first period of the
    session or of the reservation) and the step-size remainder (in the period it was billed
    at), so they add up to ``uncapped_total_cost``. Energy is in kWh and times in hours, as OCPI
    has them.
    """

    currency: str
    tariff_id: str
    start_date_time: dt.datetime
    end_date_time: dt.datetime
    charging_periods: tuple[ChargingPeriod, ...]
    period_costs: tuple[Price, ...]
    total_energy: Decimal
    total_time: Decimal
    total_charging_time: Decimal
    total_parking_time: Decimal
    total_reservation_time: Decimal
    total_fixed_cost: Price
    total_energy_cost: Price
    total_time_cost: Price
    total_parking_cost: Price
    total_reservation_cost: Price
    uncapped_total_cost: Price
    total_cost: Price

    def to_ocpi(self) -> dict[str, Any]:
        """The cost fields of an OCPI 2.2.1 CDR, as plain JSON values."""
        return {
            "start_date_time": format_datetime(self.start_date_time),
            "end_date_time": format_datetime(self.end_date_time),
            "currency": self.currency,
            "charging_periods": [p.to_ocpi() for p in self.charging_periods],
            "total_cost": _price_to_ocpi(self.total_cost),
            "total_fixed_cost": _price_to_ocpi(self.total_fixed_cost),
            "total_energy": _number(self.total_energy),
            "total_energy_cost": _price_to_ocpi(self.total_energy_cost),
            "total_time": _number(self.total_time),
            "total_time_cost": _price_to_ocpi(self.total_time_cost),
            "total_parking_time": _number(self.total_parking_time),
            "total_parking_cost": _price_to_ocpi(self.total_parking_cost),
            "total_reservation_cost": _price_to_ocpi(self.total_reservation_cost),
        }


def _number(value: Decimal) -> float:
    return float(value.quantize(_FOUR_DECIMALS, ROUND_HALF_UP))


def _price_to_ocpi(price: Price) -> dict[str, float]:
    out = {"excl_vat": _number(price.excl_vat)}
    if price.incl_vat is not None:
        out["incl_vat"] = _number(price.incl_vat)
    return out


# --------------------------------------------------------------------------------------------
# Tariff compilation


class _Component:
    """A price component reduced to what the arithmetic needs."""

    __slots__ = ("factor", "price", "step")

    def __init__(self, component: PriceComponent) -> None:
        self.price = component.price
        self.step = component.step_size
        # Multiplier from excl. to incl. VAT; None when the component states no VAT.
        self.factor = None if component.vat is None else 1 + component.vat / 100


class _Bands:
    """Masks of elements whose [min, max) restriction on one quantity holds, per band.

    Band k holds values v with thresholds[k-1] <= v < thresholds[k]; every restriction bound is
    a threshold, so which restrictions hold is constant within a band.
    """

    __slots__ = ("masks", "thresholds")

    def __init__(self, bounds: Sequence[tuple[int, Any, Any]],
                 free: int) -> None:
        self.thresholds = sorted({b for _, low, high in bounds for b in (low, high)
                                  if b is not None})
        self.masks = []
        for k in range(len(self.thresholds) + 1):
            mask = free
            for bit, low, high in bounds:
                if k == 0:  # below every threshold: no minimum holds, every maximum does
                    ok = low is None
                else:
                    value = self.thresholds[k - 1]
                    ok = (low is None or low <= value) and (high is None or value < high)
                if ok:
                    mask |= bit
            self.masks.append(mask)

    def mask(self, value: Any) -> int:
        return self.masks[bisect_right(self.thresholds, value)]


class _TimeRule:
    __slots__ = ("bit", "days", "end_day", "end_minute", "start_day", "start_minute")

    def __init__(self, bit: int, r: TariffRestrictions) -> None:
        self.bit = bit
        self.start_minute = _minutes(r.start_time)
        end = _minutes(r.end_time)
        # "To stop at end of the day use 00:00".
        self.end_minute = 1440 if end == 0 else end
        self.start_day = None if r.start_date is None else \
            dt.date.fromisoformat(r.start_date).toordinal()
        self.end_day = None if r.end_date is None else \
            dt.date.fromisoformat(r.end_date).toordinal()
        self.days = frozenset(_WEEKDAY[d] for d in r.day_of_week) if r.day_of_week else None

    def holds(self, ordinal: int, weekday: int, minute: int) -> bool:
        if self.days is not None and weekday not in self.days:
            return False
        if self.start_day is not None and ordinal < self.start_day:
            return False
        if self.end_day is not None and ordinal >= self.end_day:
            return False
        start, end = self.start_minute, self.end_minute
        if start is None:
            return end is None or minute < end
        if end is None:
            return minute >= start
        if start < end:
            return start <= minute < end
        if start > end:  # wraps around midnight
            return minute >= start or minute < end
        return True  # same start and end: the whole day


def _minutes(text: str | None) -> int | None:
    return None if text is None else int(text[:2]) * 60 + int(text[3:])


def _local_us(local: dt.datetime) -> int:
    return (local - EPOCH) // _MICROSECOND


def _instant(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=us)


class CompiledTariff:
    """A tariff prepared for pricing many sessions; build with :func:`compile_tariff`."""

    _DAY_CACHE_LIMIT = 8192

    def __init__(self, tariff: Tariff) -> None:
        self.tariff = tariff
        self.tariff_id = tariff.id
        self.currency = tariff.currency
        self.exponent = Decimal(1).scaleb(-currency_exponent(tariff.currency))
        elements = tariff.elements
        n = len(elements)
        self.all_bits = (1 << n) - 1
        self.components: list[list[_Component | None]] = [[None] * n for _ in range(4)]
        self.dimension_bits = [0, 0, 0, 0]
        self.session_bits = 0
        self.reservation_bits = 0
        self.expires_bits = 0
        time_rules: list[_TimeRule] = []
        minutes: set[int] = set()
        kwh: list[tuple[int, Any, Any]] = []
        duration: list[tuple[int, Any, Any]] = []
        power: list[tuple[int, Any, Any]] = []
        current: list[tuple[int, Any, Any]] = []
        for i, element in enumerate(elements):
            bit = 1 << i
            for component in element.price_components:
                slot = _SLOT[component.type]
                self.components[slot][i] = _Component(component)
                self.dimension_bits[slot] |= bit
            r = element.restrictions
            if r is None:
                self.session_bits |= bit
                continue
            if r.reservation is None:
                self.session_bits |= bit
            elif r.reservation is ReservationRestrictionType.RESERVATION:
                self.reservation_bits |= bit
            else:
                self.expires_bits |= bit
            if r.start_time or r.end_time or r.start_date or r.end_date or r.day_of_week:
                time_rules.append(_TimeRule(bit, r))
                minutes.update(m for m in (_minutes(r.start_time), _minutes(r.end_time))
                               if m is not None)
            if r.min_kwh is not None or r.max_kwh is not None:
                kwh.append((bit, _scaled(r.min_kwh, 1000), _scaled(r.max_kwh, 1000)))
            if r.min_duration is not None or r.max_duration is not None:
                duration.append((bit, _micro(r.min_duration), _micro(r.max_duration)))
            if r.min_power is not None or r.max_power is not None:
                power.append((bit, _scaled(r.min_power, 1000), _scaled(r.max_power, 1000)))
            if r.min_current is not None or r.max_current is not None:
                current.append((bit, _scaled(r.min_current, 1), _scaled(r.max_current, 1)))

        self.time_rules = tuple(time_rules)
        self.time_free_bits = self.all_bits
        for rule in time_rules:
            self.time_free_bits &= ~rule.bit
        minutes.add(0)  # dates and weekdays change at local midnight
        self.boundary_minutes = tuple(sorted(minutes))
        self.kwh = self._bands(kwh)
        self.duration = self._bands(duration)
        self.power = self._bands(power)
        self.current = self._bands(current)
        self.current_unknown_mask = self.all_bits
        for bit, _, _ in current:
            self.current_unknown_mask &= ~bit
        # Not charging: no power, no current.
        self.power_zero_mask = self.power.mask(0) if self.power else self.all_bits
        self.current_zero_mask = self.current.mask(0) if self.current else self.all_bits
        self.kwh_zero_mask = self.kwh.mask(0) if self.kwh else self.all_bits
        self._days: dict[tuple[ZoneInfo, int], tuple[tuple[int, ...], tuple[int, ...]]] = {}

    def _bands(self, bounds: list[tuple[int, Any, Any]]) -> _Bands | None:
        if not bounds:
            return None
        free = self.all_bits
        for bit, _, _ in bounds:
            free &= ~bit
        return _Bands(bounds, free)

    # -- local time ---------------------------------------------------------------------------

    def time_mask(self, local: dt.datetime) -> int:
        """Elements whose time-of-day, date and weekday restrictions hold at a local time."""
        mask = self.time_free_bits
        ordinal, weekday = local.toordinal(), local.weekday()
        minute = local.hour * 60 + local.minute
        for rule in self.time_rules:
            if rule.holds(ordinal, weekday, minute):
                mask |= rule.bit
        return mask

    def _day(self, zone: ZoneInfo, ordinal: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Instants (µs) on a local day where a time restriction may change, and the mask after.

        Each boundary is taken in both folds so that ambiguous and skipped wall times are
        covered; when the two differ, the daylight-saving jump between them is a boundary too.
        """
        key = (zone, ordinal)
        found = self._days.get(key)
        if found is not None:
            return found
        day = dt.date.fromordinal(ordinal)
        instants: set[int] = set()
        for minute in self.boundary_minutes:
            local = dt.datetime(day.year, day.month, day.day, minute // 60, minute % 60,
                                tzinfo=zone)
            first, second = _local_us(local), _local_us(local.replace(fold=1))
            instants.add(first)
            if second != first:
                instants.add(second)
                jump = _offset_change(zone, min(first, second), max(first, second))
                if jump is not None:
                    instants.add(jump)
        cuts = tuple(sorted(instants))
        masks = tuple(self.time_mask(_instant(us).astimezone(zone)) for us in cuts)
        if len(self._days) >= self._DAY_CACHE_LIMIT:
            self._days.clear()
        self._days[key] = (cuts, masks)
        return cuts, masks

    def time_cuts(self, zone: ZoneInfo, lo: int, hi: int, lo_local: dt.datetime
                  ) -> tuple[list[int], list[int]]:
        """Boundary instants strictly inside (lo, hi) and the time mask from each on."""
        first = lo_local.toordinal() - 1
        last = first + (hi - lo) // _US_PER_DAY + 3
        found: dict[int, int] = {}
        for ordinal in range(first, last + 1):
            cuts, masks = self._day(zone, ordinal)
            for i in range(bisect_right(cuts, lo), bisect_left(cuts, hi)):
                found[cuts[i]] = masks[i]
        instants = sorted(found)
        return instants, [found[c] for c in instants]


def _scaled(value: Decimal | int | None, factor: int) -> Decimal | None:
    return None if value is None else Decimal(value) * factor


def _micro(seconds: int | None) -> int | None:
    return None if seconds is None else seconds * _US_PER_S


def _offset_change(zone: ZoneInfo, lo: int, hi: int) -> int | None:
    """The first whole second in (lo, hi] whose UTC offset is that of ``hi``."""
    def offset(us: int) -> dt.timedelta | None:
        return _instant(us).astimezone(zone).utcoffset()

    target = offset(hi)
    if offset(lo) == target:
        return None
    low, high = lo // _US_PER_S, -(-hi // _US_PER_S)
    while high - low > 1:
        middle = (low + high) // 2
        if offset(middle * _US_PER_S) == target:
            high = middle
        else:
            low = middle
    return high * _US_PER_S


_COMPILED: dict[int, tuple[Tariff, CompiledTariff]] = {}
_COMPILED_LIMIT = 256


def compile_tariff(tariff: Tariff) -> CompiledTariff:
    """The compiled form of ``tariff``, reused while the same object is priced again."""
    cached = _COMPILED.get(id(tariff))
    if cached is not None and cached[0] is tariff:
        return cached[1]
    compiled = CompiledTariff(tariff)
    if len(_COMPILED) >= _COMPILED_LIMIT:
        _COMPILED.pop(next(iter(_COMPILED)))
    _COMPILED[id(tariff)] = (tariff, compiled)
    return compiled


# --------------------------------------------------------------------------------------------
# Pricing


def _us(value: dt.datetime, what: str) -> int:
    if value.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware")
    return (value - EPOCH) // _MICROSECOND


def _first_bit(bits: int) -> int:
    return (bits & -bits).bit_length() - 1


class _Meter:
    """The session's samples as parallel columns, with energy interpolated between them."""

    __slots__ = ("current", "energy", "exact", "n", "power", "times")

    def __init__(self, readings: list[MeterReading]) -> None:
        # One pass per column, in C where possible: this is the only per-sample work of a
        # session whose tariff restricts nothing but time.
        columns: list[Sequence[Any]] = list(zip(*readings, strict=True)) or [(), (), (), ()]
        stamps, energy, power, current = columns
        try:
            times: list[int] = [(stamp - EPOCH) // _MICROSECOND for stamp in stamps]
        except TypeError:
            raise ValueError("a meter reading's timestamp must be timezone-aware") from None
        if times != sorted(times):
            order = sorted(range(len(times)), key=times.__getitem__)
            times = [times[i] for i in order]
            energy, power, current = ([column[i] for i in order]
                                      for column in (energy, power, current))
        self.times = times
        self.energy: list[Decimal | int] = list(energy)
        if float in map(type, self.energy):
            self.energy = [Decimal(repr(e)) if isinstance(e, float) else e for e in energy]
        self.power: list[Any] = list(power)
        self.current: list[Any] = list(current)
        self.n = len(times)
        self.exact: dict[int, Decimal] = {}  # energy at kWh-threshold crossings

    def at(self, us: int) -> Decimal | int:
        """Energy register (Wh) at an instant, linear between samples, flat outside them."""
        if self.exact:
            known = self.exact.get(us)
            if known is not None:
                return known
        times = self.times
        i = bisect_right(times, us) - 1
        if i < 0:
            return self.energy[0] if self.n else 0
        if i >= self.n - 1 or times[i] == us:
            return self.energy[i]
        e0 = self.energy[i]
        return e0 + Decimal(self.energy[i + 1] - e0) * (us - times[i]) / (times[i + 1] - times[i])

    def power_in_force(self) -> list[Any]:
        """Power (W) from each sample until the next: measured, else the interval's average."""
        out: list[Any] = []
        previous: Any = 0
        times, energy = self.times, self.energy
        for i, measured in enumerate(self.power):
            if measured is None:
                if i + 1 < self.n and times[i + 1] > times[i]:
                    previous = Decimal(energy[i + 1] - energy[i]) * _US_PER_H \
                        / (times[i + 1] - times[i])
                measured = previous
            else:
                previous = measured
            out.append(measured)
        return out

    def crossings(self, lo: int, hi: int, levels: Sequence[Decimal]) -> list[int]:
        """Instants in (lo, hi) where the register crosses a level (rounded up to the µs)."""
        times, energy = self.times, self.energy
        out: list[int] = []
        start = max(bisect_right(times, lo) - 1, 0)
        stop = min(bisect_left(times, hi), self.n - 1)
        for i in range(start, stop):
            e0, e1 = energy[i], energy[i + 1]
            if e0 == e1:
                continue
            t0, span = times[i], times[i + 1] - times[i]
            for level in levels:
                if (e0 < level <= e1) or (e1 < level <= e0):
                    offset = Decimal(level - e0) * span / (e1 - e0)
                    at = t0 + int(offset.to_integral_value(ROUND_CEILING))
                    if lo < at < hi:
                        out.append(at)
                        self.exact[at] = level
        return out


def _decimal(value: Any) -> Decimal:
    return Decimal(repr(value)) if value.__class__ is float else Decimal(value)


class _Period:
    __slots__ = ("charging", "end", "energy", "start", "time")

    def __init__(self, start: int, end: int, charging: bool | None,
                 energy: _Component | None, time: _Component | None) -> None:
        self.start = start
        self.end = end
        self.charging = charging  # None: reservation
        self.energy = energy
        self.time = time  # TIME, PARKING_TIME or reservation TIME, after ``charging``


class _Sum:
    """Running amount (scaled by ``_SCALE``) excluding and including VAT.

    Including VAT becomes None, for good, once a component without VAT adds a non-zero
    amount: OCPI distinguishes "no VAT given" from 0 %, so that amount is unknowable.
    """

    __slots__ = ("excl", "incl")

    def __init__(self) -> None:
        self.excl: Decimal = _ZERO
        self.incl: Decimal | None = _ZERO

    def add(self, scaled: Decimal, component: _Component, also: _Sum) -> None:
        """Add a (scaled) amount priced by ``component`` here and to ``also``."""
        if component.factor is not None:
            with_vat: Decimal | None = _MONEY.multiply(scaled, component.factor)
        else:
            with_vat = _ZERO if scaled == 0 else None
        for into in (self, also):
            into.excl = _MONEY.add(into.excl, scaled)
            if into.incl is not None:
                into.incl = None if with_vat is None else _MONEY.add(into.incl, with_vat)

    def add_sum(self, other: _Sum) -> None:
        self.excl = _MONEY.add(self.excl, other.excl)
        if self.incl is not None:
            self.incl = None if other.incl is None else _MONEY.add(self.incl, other.incl)

    def price(self) -> Price:
        incl = None if self.incl is None else _MONEY.divide(self.incl, _SCALE)
        return Price(_MONEY.divide(self.excl, _SCALE), incl)


def compute_cost(
    tariff: Tariff | CompiledTariff,
    *,
    start: dt.datetime,
    end: dt.datetime,
    observations: Iterable[Observation] = (),
    reservation: Reservation | None = None,
    time_zone: str | ZoneInfo = "UTC",
    exact: bool = False,
) -> CostBreakdown:
    """Price a session from ``start`` to ``end`` under ``tariff``.

    ``observations``: meter readings and charging/parking changes, in any order; readings
    before ``start`` only anchor the interpolation. ``time_zone`` is the location's (IANA
    name), in which OCPI restrictions on time of day, date and weekday are read. ``exact``
    leaves money unrounded (for audits and tests).

    Choosing the tariff is the caller's business (the one valid when the session started, per
    OCPI), so the tariff's own ``start/end_date_time`` and ``type`` are not looked at here.
    """
    compiled = tariff if isinstance(tariff, CompiledTariff) else compile_tariff(tariff)
    zone = time_zone if isinstance(time_zone, ZoneInfo) else ZoneInfo(time_zone)
    lo, hi = _us(start, "start"), _us(end, "end")
    if hi < lo:
        raise ValueError("end must not be before start")
    readings: list[MeterReading] = []
    changes: list[tuple[int, bool]] = []
    for item in observations:
        if item.__class__ is MeterReading:
            readings.append(item)
        elif isinstance(item, StateChange):
            changes.append((_us(item.timestamp, "a state change's timestamp"),
                            bool(item.charging)))
        elif isinstance(item, MeterReading):
            readings.append(item)
        else:
            raise TypeError(f"not an observation: {item!r}")
    meter = _Meter(readings)

    periods: list[_Period] = []
    flat: _Component | None = None
    reservation_flat: _Component | None = None
    first = lo
    if reservation is not None:
        res_lo = _us(reservation.start, "reservation start")
        if res_lo > lo:
            raise ValueError("a reservation must start before the session")
        if reservation.expired and hi != lo:
            raise ValueError("an expired reservation has no session: end must equal start")
        reservation_flat = _reservation_periods(
            compiled, zone, res_lo, lo, reservation.start.astimezone(zone), reservation.expired,
            periods)
        first = res_lo
    if reservation is None or not reservation.expired:
        changes.sort(key=lambda change: change[0])  # stable: the later of two at once wins
        flat = _session_periods(compiled, zone, lo, hi, start.astimezone(zone), meter, changes,
                                periods)
    return _price(compiled, periods, meter, flat, reservation_flat, first, lo, hi, exact)


def estimate(
    tariff: Tariff | CompiledTariff,
    *,
    start: dt.datetime,
    now: dt.datetime,
    observations: Iterable[Observation] = (),
    reservation: Reservation | None = None,
    time_zone: str | ZoneInfo = "UTC",
) -> CostBreakdown:
    """The cost so far of an ongoing session: :func:`compute_cost` ending ``now``.

    Deliberately the very same computation (step sizes, FLAT, min/max price included), so the
    figure shown while charging is what the CDR will say if the session stopped now.
    """
    return compute_cost(tariff, start=start, end=now, observations=observations,
                        reservation=reservation, time_zone=time_zone)


def _reservation_periods(compiled: CompiledTariff, zone: ZoneInfo, lo: int, hi: int,
                         lo_local: dt.datetime, expired: bool, periods: list[_Period]
                         ) -> _Component | None:
    """Append the reservation's periods; return its FLAT component (fee), if any."""
    mode = compiled.reservation_bits | (compiled.expires_bits if expired else 0)
    base = mode & compiled.kwh_zero_mask & compiled.power_zero_mask \
        & compiled.current_zero_mask
    time_components = compiled.components[_TIME]
    time_bits = compiled.dimension_bits[_TIME]
    preferred = compiled.expires_bits if expired else 0

    def select(bits: int) -> _Component | None:
        bits &= time_bits
        if not bits:
            return None
        # An expired reservation's time is priced by RESERVATION_EXPIRES before RESERVATION.
        return time_components[_first_bit(bits & preferred or bits)]

    tmask = compiled.time_mask(lo_local) if compiled.time_rules else compiled.all_bits
    duration = compiled.duration
    dmask = duration.masks[0] if duration else compiled.all_bits
    fee = None
    flat_bits = base & tmask & dmask & compiled.dimension_bits[_FLAT]
    if flat_bits:
        fee = compiled.components[_FLAT][_first_bit(flat_bits & preferred or flat_bits)]
    if hi == lo:
        periods.append(_Period(lo, lo, None, None, select(base & tmask & dmask)))
        return fee
    cuts: dict[int, None] = {}
    tcuts: list[int] = []
    tmasks: list[int] = []
    if compiled.time_rules:
        tcuts, tmasks = compiled.time_cuts(zone, lo, hi, lo_local)
        cuts.update(dict.fromkeys(tcuts))
    if duration:
        cuts.update(dict.fromkeys(lo + int(t) for t in duration.thresholds if 0 < t < hi - lo))
    bounds = sorted(cuts)
    bounds.append(hi)
    ti = 0
    a = lo
    current: _Period | None = None
    for b in bounds:
        while ti < len(tcuts) and tcuts[ti] <= a:
            tmask = tmasks[ti]
            ti += 1
        if duration:
            dmask = duration.mask(a - lo)
        component = select(base & tmask & dmask)
        if current is not None and current.time is component:
            current.end = b
        else:
            current = _Period(a, b, None, None, component)
            periods.append(current)
        a = b
    return fee


def _session_periods(compiled: CompiledTariff, zone: ZoneInfo, lo: int, hi: int,
                     lo_local: dt.datetime, meter: _Meter, changes: list[tuple[int, bool]],
                     periods: list[_Period]) -> _Component | None:
    """Append the session's periods (cut, priced, merged); return the FLAT component."""
    components = compiled.components
    energy_components, flat_components = components[_ENERGY], components[_FLAT]
    time_components, parking_components = components[_TIME], components[_PARKING]
    energy_bits, time_bits, parking_bits, flat_bits = compiled.dimension_bits
    times = meter.times
    cuts: dict[int, None] = {}

    tcuts: list[int] = []
    tmasks: list[int] = []
    tmask = compiled.all_bits
    if compiled.time_rules:
        tmask = compiled.time_mask(lo_local)
        tcuts, tmasks = compiled.time_cuts(zone, lo, hi, lo_local)
        cuts.update(dict.fromkeys(tcuts))

    duration = compiled.duration
    if duration:
        cuts.update(dict.fromkeys(lo + int(t) for t in duration.thresholds if 0 < t < hi - lo))

    kwh = compiled.kwh
    base_energy: Decimal | int = 0
    levels: list[Decimal] = []
    if kwh:
        base_energy = meter.at(lo)
        levels = [base_energy + t for t in kwh.thresholds]
        cuts.update(dict.fromkeys(meter.crossings(lo, hi, levels)))

    power_masks: list[int] | None = None
    if compiled.power:
        power_masks = [compiled.power.mask(p) for p in meter.power_in_force()]
    current_masks: list[int] | None = None
    if compiled.current:
        current_masks = [compiled.current_unknown_mask if c is None else compiled.current.mask(c)
                         for c in meter.current]
    if power_masks is not None or current_masks is not None:
        # Power and current change only at samples: cut where their band does.
        for i in range(bisect_right(times, lo), bisect_left(times, hi)):
            if i == 0 or (power_masks is not None and power_masks[i] != power_masks[i - 1]) \
                    or (current_masks is not None and current_masks[i] != current_masks[i - 1]):
                cuts[times[i]] = None

    charging = True
    si = 0
    while si < len(changes) and changes[si][0] <= lo:
        charging = changes[si][1]
        si += 1
    for at, _ in changes[si:]:
        if at < hi:
            cuts[at] = None

    bounds = sorted(cuts)
    bounds.append(hi)
    session_bits = compiled.session_bits
    ti = 0
    a = lo
    current: _Period | None = None
    flat: _Component | None = None
    for b in bounds:
        while ti < len(tcuts) and tcuts[ti] <= a:
            tmask = tmasks[ti]
            ti += 1
        while si < len(changes) and changes[si][0] <= a:
            charging = changes[si][1]
            si += 1
        mask = session_bits & tmask
        if duration:
            mask &= duration.mask(a - lo)
        if kwh:
            mask &= kwh.mask(meter.at((a + b) // 2) - base_energy) if b > a else \
                compiled.kwh_zero_mask
        if power_masks is not None or current_masks is not None:
            r = bisect_right(times, a) - 1
            if not charging:
                mask &= compiled.power_zero_mask & compiled.current_zero_mask
            elif r < 0:
                mask &= compiled.power_zero_mask & compiled.current_unknown_mask
            else:
                if power_masks is not None:
                    mask &= power_masks[r]
                if current_masks is not None:
                    mask &= current_masks[r]
        if a == lo:
            bits = mask & flat_bits
            flat = flat_components[_first_bit(bits)] if bits else None
        bits = mask & energy_bits
        energy = energy_components[_first_bit(bits)] if bits else None
        if charging:
            bits = mask & time_bits
            time = time_components[_first_bit(bits)] if bits else None
        else:
            bits = mask & parking_bits
            time = parking_components[_first_bit(bits)] if bits else None
        if current is not None and current.charging is charging and current.energy is energy \
                and current.time is time:
            current.end = b
        else:
            current = _Period(a, b, charging, energy, time)
            periods.append(current)
        a = b
    return flat


class _Remainders(NamedTuple):
    """Step-size remainders and the period (index) each is billed at; -1 when none."""

    energy_at: int
    energy: Decimal | int
    time_at: int
    time: int
    reservation_at: int
    reservation: int


def _energies(periods: list[_Period], meter: _Meter) -> list[Decimal | int]:
    """Wh per period: the register's rise across it (session periods are contiguous)."""
    out: list[Decimal | int] = []
    previous: Decimal | int | None = None
    for period in periods:
        if period.charging is None or not meter.n:
            out.append(0)
            continue
        if previous is None:
            previous = meter.at(period.start)
        after = meter.at(period.end)
        out.append(after - previous)
        previous = after
    return out


def _remainders(periods: list[_Period], energies: list[Decimal | int]) -> _Remainders:
    """Apply ``step_size`` once per rounding group, as OCPI 2.2.1 (CDRs, step_size) says.

    ENERGY: the total billed energy, by the step of the last period that billed energy.
    TIME and PARKING_TIME together: the total of whichever of the two billed the last
    time-priced period, by that period's step (charging time followed by parking is not
    rounded; the parking total is). Reservation time: its own total, by its last step.
    Volumes no component priced (free periods) are not billed, so not rounded either.
    """
    energy_total: Decimal | int = 0
    energy_at = time_at = reservation_at = -1
    totals = {True: 0, False: 0, None: 0}  # charging, parking, reservation (µs)
    for j, period in enumerate(periods):
        if period.energy is not None:
            energy_total += energies[j]
            if energies[j]:
                energy_at = j
        if period.time is not None and period.end > period.start:
            totals[period.charging] += period.end - period.start
            if period.charging is None:
                reservation_at = j
            else:
                time_at = j
    energy: Decimal | int = 0
    component = periods[energy_at].energy if energy_at >= 0 else None
    if component is not None:
        energy = _round_up(energy_total, component.step) - energy_total
    time = 0
    component = periods[time_at].time if time_at >= 0 else None
    if component is not None:
        total = totals[periods[time_at].charging]
        time = _ceil_to(total, component.step * _US_PER_S) - total
    reservation = 0
    component = periods[reservation_at].time if reservation_at >= 0 else None
    if component is not None:
        reservation = _ceil_to(totals[None], component.step * _US_PER_S) - totals[None]
    return _Remainders(energy_at, energy, time_at, time, reservation_at, reservation)


def _electric_dimensions(meter: _Meter, period: _Period) -> list[CdrDimension]:
    """MIN/MAX power and current measured while the period lasted (samples in force)."""
    out: list[CdrDimension] = []
    first = max(bisect_right(meter.times, period.start) - 1, 0)
    last = bisect_left(meter.times, period.end) if period.end > period.start else first + 1
    for values, low, high, scale in (
        (meter.power, CdrDimensionType.MIN_POWER, CdrDimensionType.MAX_POWER, _D_1000),
        (meter.current, CdrDimensionType.MIN_CURRENT, CdrDimensionType.MAX_CURRENT, None),
    ):
        window: list[Any] = values[first:last]
        if None in window:
            window = [v for v in window if v is not None]
        if window:
            smallest, largest = _decimal(min(window)), _decimal(max(window))
            if scale is not None:
                smallest, largest = smallest / scale, largest / scale
            out.append(CdrDimension(low, smallest))
            out.append(CdrDimension(high, largest))
    return out


def _price(compiled: CompiledTariff, periods: list[_Period], meter: _Meter,
           flat: _Component | None, reservation_flat: _Component | None, first: int, lo: int,
           hi: int, exact: bool) -> CostBreakdown:
    energies = _energies(periods, meter)
    extra = _remainders(periods, energies)
    fixed, energy_cost, time_cost, parking_cost, reservation_cost = (
        _Sum(), _Sum(), _Sum(), _Sum(), _Sum())
    charging_us = parking_us = reservation_us = 0
    charging_periods: list[ChargingPeriod] = []
    period_costs: list[Price] = []
    tariff_id = compiled.tariff_id
    electric = meter.n > 0 and (meter.power.count(None) != meter.n
                                or meter.current.count(None) != meter.n)
    session_started = reservation_started = False
    total = _Sum()
    for j, period in enumerate(periods):
        cost = _Sum()
        span = period.end - period.start
        hours = Decimal(span) / _D_US_PER_H
        dimensions: list[CdrDimension] = []
        if period.charging is None:
            reservation_us += span
            if not reservation_started:
                reservation_started = True
                if reservation_flat is not None:
                    cost.add(_MONEY.multiply(reservation_flat.price, _SCALE),
                             reservation_flat, reservation_cost)
            if period.time is not None:
                billed = span + (extra.reservation if j == extra.reservation_at else 0)
                cost.add(_MONEY.multiply(period.time.price, billed), period.time,
                         reservation_cost)
            dimensions.append(CdrDimension(CdrDimensionType.RESERVATION_TIME, hours))
        else:
            if not session_started:
                session_started = True
                if flat is not None:
                    cost.add(_MONEY.multiply(flat.price, _SCALE), flat, fixed)
            energy = energies[j]
            if period.energy is not None:
                billed_energy = energy + (extra.energy if j == extra.energy_at else 0)
                cost.add(_MONEY.multiply(_MONEY.multiply(period.energy.price, billed_energy),
                                         _ENERGY_SCALE), period.energy, energy_cost)
            if period.charging:
                charging_us += span
                dimensions.append(CdrDimension(CdrDimensionType.ENERGY, Decimal(energy) / 1000))
                dimensions.append(CdrDimension(CdrDimensionType.TIME, hours))
                target = time_cost
            else:
                parking_us += span
                if energy:
                    dimensions.append(CdrDimension(CdrDimensionType.ENERGY,
                                                   Decimal(energy) / 1000))
                dimensions.append(CdrDimension(CdrDimensionType.PARKING_TIME, hours))
                target = parking_cost
            if period.time is not None:
                billed = span + (extra.time if j == extra.time_at else 0)
                cost.add(_MONEY.multiply(period.time.price, billed), period.time, target)
            if electric:
                dimensions += _electric_dimensions(meter, period)
        charging_periods.append(ChargingPeriod(_instant(period.start), tuple(dimensions),
                                               tariff_id))
        period_costs.append(cost.price())
        total.add_sum(cost)

    uncapped = total.price()

    def money(price: Price) -> Price:
        return price if exact else _round(price, compiled.exponent)

    energy_wh = (meter.at(hi) - meter.at(lo)) if meter.n and hi > lo else 0
    return CostBreakdown(
        currency=compiled.currency,
        tariff_id=tariff_id,
        start_date_time=_instant(first),
        end_date_time=_instant(hi),
        charging_periods=tuple(charging_periods),
        period_costs=tuple(period_costs),
        total_energy=Decimal(energy_wh) / 1000,
        total_time=Decimal(hi - lo) / _D_US_PER_H,
        total_charging_time=Decimal(charging_us) / _D_US_PER_H,
        total_parking_time=Decimal(parking_us) / _D_US_PER_H,
        total_reservation_time=Decimal(reservation_us) / _D_US_PER_H,
        total_fixed_cost=money(fixed.price()),
        total_energy_cost=money(energy_cost.price()),
        total_time_cost=money(time_cost.price()),
        total_parking_cost=money(parking_cost.price()),
        total_reservation_cost=money(reservation_cost.price()),
        uncapped_total_cost=money(uncapped),
        total_cost=money(_cap(compiled.tariff, uncapped)),
    )


def _round_up(volume: Decimal | int, step: int) -> Decimal | int:
    """``volume`` rounded up to a whole number of ``step``."""
    if isinstance(volume, int):
        return _ceil_to(volume, step)
    return (volume / step).to_integral_value(ROUND_CEILING) * step


def _ceil_to(volume: int, step: int) -> int:
    return -(-volume // step) * step


def _cap(tariff: Tariff, total: Price) -> Price:
    excl, incl = total.excl_vat, total.incl_vat
    low, high = tariff.min_price, tariff.max_price
    if low is not None:
        excl = max(excl, low.excl_vat)
        if incl is not None and low.incl_vat is not None:
            incl = max(incl, low.incl_vat)
    if high is not None:
        excl = min(excl, high.excl_vat)
        if incl is not None and high.incl_vat is not None:
            incl = min(incl, high.incl_vat)
    return Price(excl, incl)


def _round(price: Price, exponent: Decimal) -> Price:
    incl = None if price.incl_vat is None else price.incl_vat.quantize(exponent, ROUND_HALF_UP)
    return Price(price.excl_vat.quantize(exponent, ROUND_HALF_UP), incl)
