"""Inputs of one optimisation: a supply point (site), its forecasts and prices, and EV sessions.

Everything is per time slot: slot ``t`` covers ``[start + t·Ts, start + (t+1)·Ts)``. Power is in W
(average over the slot), energy in Wh, prices in currency per kWh (``Decimal``), opportunity cost
in currency per slot. Wire series whose elements apply "from their ``time_slot`` until the next
element's" are turned into per-slot values by :func:`series_to_slots`.

The classes validate on construction, so an impossible input fails here with a message naming
the field, never later inside a solver.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cached_property
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Number = TypeVar("Number", float, Decimal)

ZERO = Decimal(0)

#: Energy below this is rounding noise; a target missed by less counts as met (Wh).
ENERGY_TOLERANCE_WH = 0.01


def _finite(name: str, value: float) -> float:
    """Reject NaN and infinities early: they would silently poison every solver."""
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number, got {value!r}") from exc
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


def _non_negative(name: str, value: float) -> float:
    number = _finite(name, value)
    if number < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return number


def _percent(name: str, value: float) -> float:
    number = _finite(name, value)
    if not 0 <= number <= 100:
        raise ValueError(f"{name} must be between 0 and 100 %, got {value!r}")
    return number


def _money(name: str, value: Decimal | float | int | str) -> Decimal:
    """Money enters as ``Decimal``; a float is read by its shortest repr, not its binary value."""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"{name} is not a number: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"{name} must be a finite amount, got {value!r}")
    return amount


class ProfileType(StrEnum):
    """The driver's OCPI 2.2.1 ChargingPreferences ``profile_type`` (Sessions module).

    How each shapes the objective (the weights are in :mod:`.solver`):

    - ``CHEAP``: the lowest cost (seed 003 model 1, the supply point's bill);
    - ``FAST``: as early as the limits allow, whatever the price; such a session never
      discharges, since V2G would only delay the energy the driver is waiting for;
    - ``GREEN``: as much of the site's own generation surplus as possible, price deciding
      among equally green schedules;
    - ``REGULAR``: no preference stated, so the SCSP's own objective, the site's cost, decides:
      optimised exactly like ``CHEAP``.
    """

    CHEAP = "CHEAP"
    FAST = "FAST"
    GREEN = "GREEN"
    REGULAR = "REGULAR"


@dataclass(frozen=True)
class EvSession:
    """One EV plugged (or expected) at one EVSE, with the driver's goal and the EVSE's limits.

    ``arrival_slot`` is the first slot the EV can take power in (0 for an EV already connected);
    ``departure_slot`` is the target slot: the target must be reached by the start of that slot.
    A departure beyond the horizon is allowed; the target is then required by the end of the
    horizon, the conservative reading when nothing is known about the slots after it.

    With an unknown ``battery_capacity_wh`` the SoC fields mean nothing: the goal is
    ``energy_need_wh`` (OCPI ``energy_need``), no more than that is delivered, and the session never
    discharges because no SoC floor can be enforced. With a known capacity, ``energy_need_wh`` is
    ignored and ``target_soc_pct`` is the goal.

    ``max_discharge_power_w`` of 0 means the EVSE cannot, or the driver does not allow it to,
    discharge. ``charge_efficiency`` is applied both ways: a W from the grid adds η W to the
    battery, a W to the grid takes 1/η W from it. ``degradation_cost_per_kwh`` prices the wear of
    each kWh discharged (SMC_011); ``opportunity_cost`` is the seed's linearly increasing
    cost of occupying the EVSE: its k-th slot of occupation costs k times ``opportunity_cost``,
    counting the ``previous_slots`` it was already occupied before the horizon.
    ``profile_type`` is the driver's :class:`ProfileType`.
    """

    session_id: str
    evse_id: str
    arrival_slot: int
    departure_slot: int
    initial_soc_pct: float
    target_soc_pct: float
    max_charge_power_w: float
    battery_capacity_wh: float | None = None
    min_soc_pct: float = 0.0
    max_discharge_power_w: float = 0.0
    charge_efficiency: float | None = None
    opportunity_cost: Decimal = ZERO
    degradation_cost_per_kwh: Decimal = ZERO
    energy_need_wh: float | None = None
    previous_slots: int = 0
    profile_type: ProfileType = ProfileType.REGULAR

    def __post_init__(self) -> None:
        if not self.session_id:
            raise ValueError("session_id must not be empty")
        try:
            object.__setattr__(self, "profile_type", ProfileType(self.profile_type))
        except ValueError:
            raise ValueError(
                f"session {self.session_id}: profile_type must be one of "
                f"{', '.join(ProfileType)}, got {self.profile_type!r}"
            ) from None
        if not isinstance(self.arrival_slot, int) or not isinstance(self.departure_slot, int):
            raise ValueError(f"session {self.session_id}: slots must be integers")
        if self.arrival_slot < 0:
            raise ValueError(f"session {self.session_id}: arrival_slot must not be negative")
        if self.departure_slot <= self.arrival_slot:
            raise ValueError(
                f"session {self.session_id}: departure_slot {self.departure_slot} must be after "
                f"arrival_slot {self.arrival_slot}"
            )
        if self.previous_slots < 0:
            raise ValueError(f"session {self.session_id}: previous_slots must not be negative")
        sid = f"session {self.session_id}"
        _percent(f"{sid}: initial_soc_pct", self.initial_soc_pct)
        _percent(f"{sid}: target_soc_pct", self.target_soc_pct)
        _percent(f"{sid}: min_soc_pct", self.min_soc_pct)
        _non_negative(f"{sid}: max_charge_power_w", self.max_charge_power_w)
        _non_negative(f"{sid}: max_discharge_power_w", self.max_discharge_power_w)
        if self.battery_capacity_wh is not None:
            capacity = _finite(f"{sid}: battery_capacity_wh", self.battery_capacity_wh)
            if capacity <= 0:
                raise ValueError(f"{sid}: battery_capacity_wh must be positive, got {capacity}")
        elif self.energy_need_wh is None:
            raise ValueError(f"{sid}: battery_capacity_wh or energy_need_wh is required")
        if self.energy_need_wh is not None:
            _non_negative(f"{sid}: energy_need_wh", self.energy_need_wh)
        if self.charge_efficiency is not None:
            eta = _finite(f"{sid}: charge_efficiency", self.charge_efficiency)
            if not 0 < eta <= 1:
                raise ValueError(f"{sid}: charge_efficiency must be in (0, 1], got {eta}")
        for name in ("opportunity_cost", "degradation_cost_per_kwh"):
            amount = _money(f"{sid}: {name}", getattr(self, name))
            if amount < 0:
                raise ValueError(f"{sid}: {name} must not be negative, got {amount}")
            object.__setattr__(self, name, amount)

    @property
    def efficiency(self) -> float:
        return 1.0 if self.charge_efficiency is None else float(self.charge_efficiency)

    @property
    def capacity_known(self) -> bool:
        return self.battery_capacity_wh is not None

    @property
    def can_discharge(self) -> bool:
        """V2G needs a discharging EVSE, a known capacity (for the SoC floor), and no FAST."""
        return (
            self.max_discharge_power_w > 0
            and self.capacity_known
            and self.profile_type is not ProfileType.FAST
        )

    @property
    def discharge_limit_w(self) -> float:
        return float(self.max_discharge_power_w) if self.can_discharge else 0.0

    @property
    def initial_energy_wh(self) -> float:
        """Energy in the battery at arrival; 0 when only the energy need is known."""
        if self.battery_capacity_wh is None:
            return 0.0
        return self.battery_capacity_wh * self.initial_soc_pct / 100

    @property
    def target_energy_wh(self) -> float:
        if self.battery_capacity_wh is None:
            return float(self.energy_need_wh or 0.0)
        return self.battery_capacity_wh * self.target_soc_pct / 100

    @property
    def ceiling_energy_wh(self) -> float:
        """Most the battery may hold: full, or exactly the stated need when capacity is unknown."""
        if self.battery_capacity_wh is None:
            return float(self.energy_need_wh or 0.0)
        return float(self.battery_capacity_wh)

    @property
    def floor_energy_wh(self) -> float:
        """Least the battery may hold: the V2G floor, or the arrival energy if already below it."""
        if self.battery_capacity_wh is None:
            return 0.0
        return min(self.battery_capacity_wh * self.min_soc_pct / 100, self.initial_energy_wh)

    def soc_pct(self, energy_wh: float) -> float | None:
        if self.battery_capacity_wh is None:
            return None
        return energy_wh / self.battery_capacity_wh * 100


@dataclass(frozen=True)
class Problem:
    """One optimisation context: a supply point, its per-slot series and the sessions behind it.

    ``max_import_w`` is the supply point limit (seed 003 ``SupplyPointPMax``); ``flex_offsets_w``
    are the DSO's flexibility orders, offsets on that limit per slot (model 3, SMC_020), and
    ``capacity_limits_w`` absolute per-slot caps (``None`` = no cap); the effective limit is
    ``min(max_import_w + flex, cap)``. ``min_power_w`` bounds the flow the other way (negative =
    the most that may be exported). Empty series mean zeros; an empty export price means
    exported energy earns nothing. ``peak_price_per_kw`` is a demand charge: currency per kW of
    the highest import over the horizon (0: none).
    """

    start: dt.datetime
    import_price_per_kwh: Sequence[Decimal]
    max_import_w: float
    sessions: Sequence[EvSession] = ()
    min_power_w: float = 0.0
    demand_w: Sequence[float] = ()
    generation_w: Sequence[float] = ()
    export_price_per_kwh: Sequence[Decimal] = ()
    flex_offsets_w: Sequence[float] = ()
    capacity_limits_w: Sequence[float | None] = ()
    slot_minutes: int = 15
    slots: int = 96
    peak_price_per_kw: Decimal = ZERO

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        object.__setattr__(self, "start", self.start.astimezone(dt.UTC))
        if not isinstance(self.slot_minutes, int) or self.slot_minutes <= 0:
            raise ValueError(f"slot_minutes must be a positive integer, got {self.slot_minutes!r}")
        if not isinstance(self.slots, int) or self.slots <= 0:
            raise ValueError(f"slots must be a positive integer, got {self.slots!r}")
        _finite("max_import_w", self.max_import_w)
        _finite("min_power_w", self.min_power_w)
        peak_price = _money("peak_price_per_kw", self.peak_price_per_kw)
        if peak_price < 0:
            raise ValueError(f"peak_price_per_kw must not be negative, got {peak_price}")
        object.__setattr__(self, "peak_price_per_kw", peak_price)
        if self.min_power_w > self.max_import_w:
            raise ValueError(
                f"min_power_w {self.min_power_w} is above max_import_w {self.max_import_w}"
            )
        self._set_series("import_price_per_kwh", self.import_price_per_kwh, None, _money)
        self._set_series("export_price_per_kwh", self.export_price_per_kwh, Decimal(0), _money)
        self._set_series("demand_w", self.demand_w, 0.0, _non_negative)
        self._set_series("generation_w", self.generation_w, 0.0, _non_negative)
        self._set_series("flex_offsets_w", self.flex_offsets_w, 0.0, _finite)
        caps = tuple(self.capacity_limits_w) or (None,) * self.slots
        if len(caps) != self.slots:
            raise ValueError(f"capacity_limits_w has {len(caps)} values, expected {self.slots}")
        object.__setattr__(
            self,
            "capacity_limits_w",
            tuple(None if c is None else _finite(f"capacity_limits_w[{t}]", c)
                  for t, c in enumerate(caps)),
        )
        object.__setattr__(self, "sessions", tuple(self.sessions))
        self._check_sessions()
        for t, limit in enumerate(self.limit_w):
            if limit < self.min_power_w:
                raise ValueError(
                    f"slot {t}: the flexibility order / capacity limit lowers the supply point "
                    f"limit to {limit} W, below min_power_w {self.min_power_w} W"
                )

    def _set_series(
        self,
        name: str,
        values: Sequence[Any],
        default: object,
        convert: Callable[[str, Any], object],
    ) -> None:
        """Store a per-slot series as a validated tuple; empty means ``default`` everywhere."""
        items = tuple(values)
        if not items:
            if default is None:
                raise ValueError(f"{name} needs one value per slot ({self.slots})")
            items = (default,) * self.slots
        if len(items) != self.slots:
            raise ValueError(f"{name} has {len(items)} values, expected {self.slots}")
        object.__setattr__(
            self, name, tuple(convert(f"{name}[{t}]", v) for t, v in enumerate(items))
        )

    def _check_sessions(self) -> None:
        """Ids unique, every session starting inside the horizon, one EV per EVSE at a time."""
        seen: set[str] = set()
        by_evse: dict[str, list[EvSession]] = {}
        for session in self.sessions:
            if not isinstance(session, EvSession):
                raise ValueError(f"sessions must be EvSession objects, got {type(session)}")
            if session.session_id in seen:
                raise ValueError(f"session id {session.session_id} appears twice")
            seen.add(session.session_id)
            if session.arrival_slot >= self.slots:
                raise ValueError(
                    f"session {session.session_id}: arrival_slot {session.arrival_slot} is "
                    f"outside the horizon of {self.slots} slots"
                )
            by_evse.setdefault(session.evse_id, []).append(session)
        for evse_id, group in by_evse.items():
            group.sort(key=lambda s: s.arrival_slot)
            for before, after in itertools.pairwise(group):
                if after.arrival_slot < before.departure_slot:
                    raise ValueError(
                        f"EVSE {evse_id}: sessions {before.session_id} and {after.session_id} "
                        "overlap"
                    )

    # -- derived values shared by the solver, the baselines and the checker -------------------

    @property
    def slot_hours(self) -> float:
        return self.slot_minutes / 60

    def slot_start(self, slot: int) -> dt.datetime:
        return self.start + dt.timedelta(minutes=self.slot_minutes * slot)

    def window(self, session: EvSession) -> tuple[int, int]:
        """Slots ``[first, end)`` the session can take power in, clipped to the horizon."""
        return session.arrival_slot, min(session.departure_slot, self.slots)

    @cached_property
    def limit_w(self) -> tuple[float, ...]:
        """Effective import limit per slot: the contracted limit moved by flex orders, capped."""
        limits = []
        for flex, cap in zip(self.flex_offsets_w, self.capacity_limits_w, strict=True):
            limit = self.max_import_w + flex
            limits.append(limit if cap is None else min(limit, cap))
        return tuple(limits)

    @cached_property
    def base_flow_w(self) -> FloatArray:
        """Supply point flow without EVs: demand minus generation (generation reduces it)."""
        return _frozen(np.asarray(self.demand_w, dtype=float) - np.asarray(self.generation_w))

    @cached_property
    def ev_upper_w(self) -> FloatArray:
        """Most net power the EVs together may draw per slot, never below zero.

        When the site alone already exceeds the limit the EVs may not add to it (0 W net); the
        solver additionally tries to relieve such an overload by discharging.
        """
        return _frozen(np.maximum(np.asarray(self.limit_w) - self.base_flow_w, 0.0))

    @cached_property
    def ev_lower_w(self) -> FloatArray:
        """Least net power the EVs together may draw per slot (negative = export), never above 0."""
        return _frozen(np.minimum(self.min_power_w - self.base_flow_w, 0.0))

    @cached_property
    def surplus_w(self) -> FloatArray:
        """Generation the site itself does not use per slot: what GREEN sessions should take."""
        return _frozen(np.maximum(-self.base_flow_w, 0.0))

    @cached_property
    def import_price(self) -> FloatArray:
        return _frozen(np.asarray([float(p) for p in self.import_price_per_kwh]))

    @cached_property
    def export_price(self) -> FloatArray:
        return _frozen(np.asarray([float(p) for p in self.export_price_per_kwh]))

    @cached_property
    def convex_export_price(self) -> FloatArray:
        """Export price capped at the import price.

        Paying ``import·max(x,0) - export·max(-x,0)`` is convex in the flow ``x`` only when
        export never pays more than import; above that, a linear model would import and export
        at once. Capping keeps the models linear; the reported cost uses the real prices.
        """
        return _frozen(np.minimum(self.export_price, self.import_price))


def _frozen(array: FloatArray) -> FloatArray:
    """Cached arrays are shared by every caller; make accidental writes fail loudly."""
    array.setflags(write=False)
    return array


def series_to_slots(
    points: Sequence[tuple[dt.datetime, Number]],
    start: dt.datetime,
    slot_minutes: int,
    slots: int,
    default: Number | None = None,
) -> list[Number]:
    """Per-slot values of a wire series whose elements apply until the next element's time.

    The last element applies for one slot length. A slot partly covered gets the time-weighted
    average (right for average power and for prices alike); parts not covered take ``default``,
    and with no default an uncovered part is an error rather than a guessed value.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if any(when.tzinfo is None for when, _ in points):
        raise ValueError("series times must be timezone-aware")
    step = dt.timedelta(minutes=slot_minutes)
    ordered = sorted(points, key=lambda p: p[0])
    spans = [
        (when, ordered[i + 1][0] if i + 1 < len(ordered) else when + step, value)
        for i, (when, value) in enumerate(ordered)
    ]
    result: list[Number] = []
    for slot in range(slots):
        lo = start + step * slot
        hi = lo + step
        total: Number | None = None
        covered = 0
        for begin, end, value in spans:
            seconds = int((min(hi, end) - max(lo, begin)).total_seconds())
            if seconds > 0:
                part = value * seconds
                total = part if total is None else total + part
                covered += seconds
        gap = int(step.total_seconds()) - covered
        if gap > 0:
            if default is None:
                raise ValueError(f"the series does not cover slot {slot} ({lo.isoformat()})")
            part = default * gap
            total = part if total is None else total + part
        assert total is not None
        result.append(total / int(step.total_seconds()))
    return result
