"""The charging profiles a simulated OCPP 2.x station keeps, and the power they ask for.

A transaction follows its TxProfile where one is in force, else the EVSE's (or the station's)
TxDefaultProfile, each capped by the ChargingStationMaxProfile; among profiles of one purpose
the highest stack level with a period in force wins. A period either caps the power (its
``limit``, OCPP 2.0.1 and 2.1 ``ChargingOnly``) or, in the OCPP 2.1 setpoint operation modes,
sets it (``setpoint``, negative to discharge, within ``dischargeLimit`` and ``limit``).
Profiles are kept as the ``ocpp`` package hands them over (snake_case).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.ocpp.times import parse_time

RECURRENCE_S = {"Daily": 86400.0, "Weekly": 604800.0}
SETPOINT_MODES = frozenset({"CentralSetpoint", "ExternalSetpoint"})


@dataclass(frozen=True)
class Setting:
    """What the profiles ask now: a cap (or, when ``setpoint``, the power itself) in W."""

    power_w: float | None = None
    setpoint: bool = False
    operation_mode: str | None = None
    next_change_s: float | None = None


@dataclass
class Profile:
    evse_id: int
    data: dict[str, Any]
    received: dt.datetime
    # OCPP 2.1 UpdateDynamicSchedule: values that override the period in force.
    update: dict[str, Any] = field(default_factory=dict)

    @property
    def purpose(self) -> str:
        return str(self.data["charging_profile_purpose"])

    @property
    def stack_level(self) -> int:
        return int(self.data["stack_level"])


@dataclass(frozen=True)
class Electrical:
    """What turns amperes into watts at this station."""

    volts: float
    phases: int

    def watts(self, value: float, unit: str, period: Mapping[str, Any]) -> float:
        if unit == "W":
            return value
        return value * self.volts * int(period.get("number_phases") or self.phases)


def _earliest(*seconds: float | None) -> float | None:
    known = [s for s in seconds if s is not None]
    return min(known) if known else None


def period_in_force(profile: Profile, tx_start: dt.datetime | None,
                    now: dt.datetime) -> tuple[dict[str, Any] | None, float | None]:
    """The schedule period in force at ``now`` (None outside the schedule) and the seconds
    until that changes (None: never)."""
    data = profile.data
    valid_from = parse_time(data["valid_from"]) if data.get("valid_from") else None
    valid_to = parse_time(data["valid_to"]) if data.get("valid_to") else None
    until_end = (valid_to - now).total_seconds() if valid_to else None
    if valid_from and valid_from > now:
        return None, (valid_from - now).total_seconds()
    if until_end is not None and until_end <= 0:
        return None, None
    schedule = data["charging_schedule"][0]
    elapsed = (now - _schedule_start(profile, schedule, tx_start, now)).total_seconds()
    if elapsed < 0:
        return None, _earliest(-elapsed, until_end)
    duration = schedule.get("duration")
    if duration is not None and elapsed >= duration:
        return None, _earliest(_next_recurrence(data, elapsed), until_end)
    current = None
    next_change = duration - elapsed if duration is not None else None
    for period in sorted(schedule["charging_schedule_period"], key=lambda p: p["start_period"]):
        if period["start_period"] <= elapsed:
            current = period
        else:
            next_change = _earliest(next_change, period["start_period"] - elapsed)
            break
    if current is not None and profile.update:
        current = {**current, **profile.update}
    return current, _earliest(next_change, until_end)


def _schedule_start(profile: Profile, schedule: Mapping[str, Any],
                    tx_start: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    kind = profile.data["charging_profile_kind"]
    if kind == "Relative":
        return tx_start or now
    start = parse_time(schedule["start_schedule"]) if schedule.get("start_schedule") \
        else profile.received
    length = RECURRENCE_S.get(profile.data.get("recurrency_kind") or "")
    if kind == "Recurring" and length and now > start:
        start += dt.timedelta(seconds=((now - start).total_seconds() // length) * length)
    return start


def _next_recurrence(data: Mapping[str, Any], elapsed: float) -> float | None:
    length = RECURRENCE_S.get(data.get("recurrency_kind") or "")
    if data["charging_profile_kind"] != "Recurring" or not length:
        return None
    return length - elapsed


class Profiles:
    def __init__(self) -> None:
        self.by_id: dict[int, Profile] = {}

    def install(self, evse_id: int, data: dict[str, Any], now: dt.datetime) -> None:
        """A new profile replaces the one with its id and any of the same purpose and stack
        level on the same EVSE (OCPP 2.x K01)."""
        new = Profile(evse_id, data, now)
        for key, old in list(self.by_id.items()):
            if key == data["id"] or (old.evse_id == evse_id and old.purpose == new.purpose
                                     and old.stack_level == new.stack_level):
                del self.by_id[key]
        self.by_id[data["id"]] = new

    def matching(self, evse_id: int | None, criteria: Mapping[str, Any]) -> list[Profile]:
        """GetChargingProfiles' and ClearChargingProfile's selection (all criteria must hold)."""
        ids = criteria.get("charging_profile_id")
        return [p for p in self.by_id.values()
                if (evse_id is None or p.evse_id == evse_id)
                and (not ids or p.data["id"] in ids)
                and criteria.get("charging_profile_purpose") in (None, p.purpose)
                and criteria.get("stack_level") in (None, p.stack_level)]

    def setting(self, evse_id: int, tx_id: str | None, tx_start: dt.datetime | None,
                now: dt.datetime, electrical: Electrical, *, priority: bool = False) -> Setting:
        """What governs an EVSE (a transaction's, when ``tx_id`` is given) at ``now``."""
        changes: list[float | None] = []

        def strongest(profiles: Iterable[Profile]) -> Setting | None:
            for profile in sorted(profiles, key=lambda p: -p.stack_level):
                period, change = period_in_force(profile, tx_start, now)
                changes.append(change)
                if period is not None:
                    unit = profile.data["charging_schedule"][0]["charging_rate_unit"]
                    return _period_setting(period, unit, electrical)
            return None

        on_evse = [p for p in self.by_id.values() if p.evse_id == evse_id]
        station = [p for p in self.by_id.values() if p.evse_id == 0]
        chosen = None
        if tx_id is not None:
            if priority:
                chosen = strongest(p for p in on_evse if p.purpose == "PriorityCharging")
            chosen = chosen or strongest(
                p for p in on_evse if p.purpose == "TxProfile"
                and p.data.get("transaction_id") in (None, tx_id))
        chosen = (chosen or strongest(p for p in on_evse if p.purpose == "TxDefaultProfile")
                  or strongest(p for p in station if p.purpose == "TxDefaultProfile")
                  or Setting())
        cap = strongest(p for p in station if p.purpose == "ChargingStationMaxProfile")
        power = chosen.power_w
        if cap is not None and cap.power_w is not None:
            power = cap.power_w if power is None else min(power, cap.power_w)
        return Setting(power, chosen.setpoint, chosen.operation_mode, _earliest(*changes))


def _period_setting(period: Mapping[str, Any], unit: str, electrical: Electrical) -> Setting:
    def watts(name: str) -> float | None:
        value = period.get(name)
        return None if value is None else electrical.watts(float(value), unit, period)

    mode = period.get("operation_mode")
    limit = watts("limit")
    if mode == "Idle":
        return Setting(0.0, True, mode)
    setpoint = watts("setpoint")
    if mode in SETPOINT_MODES and setpoint is not None:
        floor = watts("discharge_limit")
        if floor is not None:
            setpoint = max(setpoint, floor)
        if limit is not None:
            setpoint = min(setpoint, limit)
        return Setting(setpoint, True, mode)
    return Setting(limit, False, mode)


def composite(profiles: Profiles, evse_id: int, now: dt.datetime, duration: int,
              electrical: Electrical, tx_id: str | None = None,
              tx_start: dt.datetime | None = None) -> list[tuple[int, Setting]]:
    """What an EVSE will follow over the next ``duration`` seconds, by offset from ``now``
    (GetCompositeSchedule); only changes start a new period. Without a session, relative
    schedules count from ``now``."""
    out: list[tuple[int, Setting]] = []
    offset = 0.0
    while offset < duration:
        setting = profiles.setting(evse_id, tx_id, tx_start or now,
                                   now + dt.timedelta(seconds=offset), electrical)
        if not out or (out[-1][1].power_w, out[-1][1].operation_mode) != (
                setting.power_w, setting.operation_mode):
            out.append((int(offset), setting))
        if setting.next_change_s is None:
            break
        offset += max(1.0, setting.next_change_s)
    return out
