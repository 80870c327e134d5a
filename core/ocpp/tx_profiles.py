"""Steering a running transaction: one power or current schedule, in the station's OCPP version.

Smart charging (an SCSP reaching us over OCPI, or our own optimiser) steers a session with a
TxProfile bound to its transaction: OCPP 1.6 SetChargingProfile on the session's connector with
``transactionId``, OCPP 2.x SetChargingProfile on its EVSE with the transaction's string id.
A session has one such profile, whoever set it: its OCPP id is :data:`PROFILE_ID_BASE` plus the
transaction's id, so a newer schedule replaces the older on the station and never touches the
profiles an operator sent (whose ids are the ``charging_profile`` table's).

A negative limit asks the EV to discharge at that rate. Only OCPP 2.1 can say so, as a
CentralSetpoint period; a discharging schedule for an older station is an
:class:`~core.dispatch.InvalidCommand` and is never sent.

Requests go through the dispatcher, so the OCPP plugin records what the station accepted in
``charging_profile`` as for any other profile.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import ChargingStation, Transaction
from core.dispatch import Dispatcher, InvalidCommand
from core.ocpp.times import iso

# OCPP ids of transaction profiles: far above the core table's ids the operator uses, below
# 2**31 (OCPP integers are 32-bit at many stations).
PROFILE_ID_BASE = 1_000_000_000
STACK_LEVEL = 1
RATE_UNITS = ("W", "A")
DISCHARGING_VERSIONS = frozenset({"2.1"})


@dataclass(frozen=True, slots=True)
class Period:
    """From ``start`` seconds into the schedule: at most ``limit`` (negative: discharge)."""

    start: int
    limit: float


@dataclass(frozen=True, slots=True)
class Profile:
    """A schedule in ``unit`` (W, or A per phase): Absolute from ``start``, else Relative to
    the transaction's start."""

    unit: str
    periods: tuple[Period, ...]
    start: dt.datetime | None = None
    duration: int | None = None
    min_rate: float | None = None

    @property
    def discharges(self) -> bool:
        return any(period.limit < 0 for period in self.periods)


@dataclass(frozen=True, slots=True)
class TxTarget:
    """The transaction a profile steers and where it charges."""

    transaction_id: int
    transaction_uid: str
    station_id: str
    version: str
    evse_number: int | None
    connector_number: int | None

    @property
    def connector(self) -> int | None:
        """OCPP 1.6 has connectors only; its EVSE number is the connector's."""
        return self.connector_number or self.evse_number


def takes_discharge(version: str) -> bool:
    return version in DISCHARGING_VERSIONS


def number(value: float) -> int | float:
    """A rate as sent: OCPI and OCPP 1.6 take one decimal; whole values as integers."""
    rounded = round(float(value), 1)
    return int(rounded) if rounded.is_integer() else rounded


def profile_id(transaction_id: int) -> int:
    """The OCPP id of a transaction's steering profile."""
    return PROFILE_ID_BASE + transaction_id


def is_tx_profile(ocpp_id: Any) -> bool:
    return isinstance(ocpp_id, int) and ocpp_id > PROFILE_ID_BASE


def _period(period: Period) -> dict[str, Any]:
    """A charging period caps the rate; a discharging one (2.1) asks the EV to feed back at
    that rate (CentralSetpoint), never beyond it."""
    limit = number(period.limit)
    if period.limit >= 0:
        return {"start_period": period.start, "limit": limit}
    return {"start_period": period.start, "operation_mode": "CentralSetpoint",
            "setpoint": limit, "discharge_limit": limit}


def _schedule(profile: Profile, schedule_id: int, version: str) -> dict[str, Any]:
    schedule: dict[str, Any] = {"charging_rate_unit": profile.unit}
    if version != "1.6":
        schedule["id"] = schedule_id
    if profile.start is not None:
        schedule["start_schedule"] = iso(profile.start)
    if profile.duration is not None:
        schedule["duration"] = profile.duration
    if profile.min_rate is not None:
        schedule["min_charging_rate"] = number(profile.min_rate)
    schedule["charging_schedule_period"] = [_period(p) for p in profile.periods]
    return schedule


def set_request(target: TxTarget, profile: Profile) -> tuple[str, dict[str, Any]]:
    """SetChargingProfile with the transaction's TxProfile (snake_case, as the dispatcher
    takes it); :class:`InvalidCommand` for a discharging schedule the version cannot carry."""
    if profile.discharges and not takes_discharge(target.version):
        raise InvalidCommand(f"OCPP {target.version} charging stations cannot discharge")
    ident = profile_id(target.transaction_id)
    kind = "Absolute" if profile.start is not None else "Relative"
    schedule = _schedule(profile, ident, target.version)
    if target.version == "1.6":
        return "SetChargingProfile", {"connector_id": target.connector, "cs_charging_profiles": {
            "charging_profile_id": ident, "transaction_id": target.transaction_id,
            "stack_level": STACK_LEVEL, "charging_profile_purpose": "TxProfile",
            "charging_profile_kind": kind, "charging_schedule": schedule}}
    return "SetChargingProfile", {"evse_id": target.evse_number, "charging_profile": {
        "id": ident, "stack_level": STACK_LEVEL, "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": kind, "transaction_id": target.transaction_uid,
        "charging_schedule": [schedule]}}


def clear_request(target: TxTarget) -> tuple[str, dict[str, Any]]:
    """ClearChargingProfile of the transaction's profile, by its id."""
    ident = profile_id(target.transaction_id)
    if target.version == "1.6":
        return "ClearChargingProfile", {"id": ident}
    return "ClearChargingProfile", {"charging_profile_id": ident}


def composite_request(version: str, evse_number: int | None, connector: int | None,
                      duration: int) -> tuple[str, dict[str, Any]]:
    """GetCompositeSchedule of where a transaction charges, for ``duration`` seconds."""
    if version == "1.6":
        return "GetCompositeSchedule", {"connector_id": connector, "duration": duration}
    return "GetCompositeSchedule", {"evse_id": evse_number, "duration": duration}


async def target_of(session: AsyncSession, transaction_id: int, *,
                    ended: bool = False) -> TxTarget | None:
    """Where a transaction charges; None when it ended (unless ``ended``: clearing its profile
    is still worth a call), or when its station's OCPP version or (2.x) EVSE is not known."""
    tx = await session.get(Transaction, transaction_id)
    if tx is None or (not ended and (tx.status != "Active" or tx.stopped_at is not None)):
        return None
    station = await session.get(ChargingStation, tx.station_id)
    if station is None or not station.ocpp_version:
        return None
    if station.ocpp_version != "1.6" and tx.evse_number is None:
        return None
    return TxTarget(tx.id, tx.transaction_uid, tx.station_id, station.ocpp_version,
                    tx.evse_number, tx.connector_number)


async def apply(dispatcher: Dispatcher, target: TxTarget, profile: Profile,
                timeout: float) -> str:
    """Send the transaction's profile; the station's status (``Accepted``, ``Rejected``).

    Raises :class:`~core.dispatch.CommandError` when the station gave no answer: offline,
    silent, a CALLERROR, or a request its version cannot carry.
    """
    action, payload = set_request(target, profile)
    answer = await dispatcher.call(target.station_id, action, payload, timeout)
    return str(answer.get("status", ""))


async def clear(dispatcher: Dispatcher, target: TxTarget, timeout: float) -> str:
    """Clear the transaction's profile; the station's status (``Accepted``, ``Unknown``).

    Raises :class:`~core.dispatch.CommandError` as :func:`apply` does.
    """
    action, payload = clear_request(target)
    answer = await dispatcher.call(target.station_id, action, payload, timeout)
    return str(answer.get("status", ""))


__all__ = ["PROFILE_ID_BASE", "STACK_LEVEL", "Period", "Profile", "TxTarget", "apply",
           "clear", "clear_request", "composite_request", "is_tx_profile", "number",
           "profile_id", "set_request", "takes_discharge", "target_of"]
