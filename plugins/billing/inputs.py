"""What the engine needs about a session, read from the domain model.

- Meter readings: the energy register (Wh) of every sample, with the power (W) and current
  (A, summed over phases) sampled at the same instant; the transaction's own meter start and
  stop readings take precedence at their instants.
- Charging or not: OCPP 2.x charging-state changes (``transaction.charging_state``, kept in
  ``billing_charging_state``) when the session has any; otherwise the connector's status
  history (OCPP 1.6): ``Charging`` charges; ``SuspendedEV``, ``SuspendedEVSE``, ``Finishing``
  and any status that ends a session (``Available``, ``Unavailable``, ``Faulted``) do not.
  TIME is thus billed from charging periods and PARKING_TIME from the others, never from
  wall-clock guesses.
- The reservation the session used (from when it was made), and the location's time zone
  (UTC when unknown or invalid).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Row, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Location, MeterValue, Reservation, StatusNotification, Transaction
from core.stations import ENERGY_REGISTER
from plugins.billing import engine
from plugins.billing.tables import ChargingState

POWER = "Power.Active.Import"
CURRENT = "Current.Import"
CHARGING_STATES = {"Charging": True, "EVConnected": False, "SuspendedEV": False,
                   "SuspendedEVSE": False, "Idle": False}
# OCPP 1.6 connector statuses while (or right after) a session runs.
_STATUS_CHARGING = {"Charging": True, "SuspendedEV": False, "SuspendedEVSE": False,
                    "Finishing": False, "Available": False, "Unavailable": False,
                    "Faulted": False}
_SESSION_STATUSES = {"Charging", "SuspendedEV", "SuspendedEVSE"}
_PHASES = {"L1", "L2", "L3", "L1-N", "L2-N", "L3-N"}
_POWER_UNITS = {"W": Decimal(1), "kW": Decimal(1000)}
_ENERGY_UNITS = {"Wh": Decimal(1), "kWh": Decimal(1000)}
_PRICED_MEASURANDS = (ENERGY_REGISTER, POWER, CURRENT)
# Samples are read in chunks so a long session's thousands of rows never hold the event loop
# (and with it every station's answer) for long.
_CHUNK = 500
_SAMPLE_COLUMNS = (MeterValue.timestamp, MeterValue.measurand, MeterValue.phase, MeterValue.unit,
                   MeterValue.context, MeterValue.location, MeterValue.value,
                   MeterValue.signed_data)


@dataclass(frozen=True, slots=True)
class SessionInputs:
    start: dt.datetime
    end: dt.datetime
    observations: tuple[engine.Observation, ...]
    reservation: engine.Reservation | None
    zone: ZoneInfo
    signed: tuple[Row[Any], ...]


def time_zone(location: Location | None) -> ZoneInfo:
    name = location.time_zone if location is not None else None
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo("UTC")


async def session_inputs(session: AsyncSession, tx: Transaction, location: Location | None,
                         end: dt.datetime) -> SessionInputs:
    """The engine's inputs for ``tx`` from its start until ``end`` (at least its start)."""
    end = max(end, tx.started_at)
    rows = await samples(session, tx.id)
    observations: list[engine.Observation] = list(readings(tx, rows))
    observations += await _state_changes(session, tx, end)
    reservation = None
    if tx.reservation_id is not None:
        made = await session.get(Reservation, tx.reservation_id)
        if made is not None and made.created_at < tx.started_at:
            reservation = engine.Reservation(made.created_at)
    return SessionInputs(tx.started_at, end, tuple(observations), reservation,
                         time_zone(location), tuple(r for r in rows if r.signed_data))


async def samples(session: AsyncSession, transaction_id: int) -> list[Row[Any]]:
    """The session's samples pricing uses (energy, power, current and any signed reading),
    as plain rows: no ORM objects to build for what is only read once."""
    stmt = (select(*_SAMPLE_COLUMNS)
            .where(MeterValue.transaction_id == transaction_id,
                   or_(MeterValue.measurand.in_(_PRICED_MEASURANDS),
                       MeterValue.signed_data.is_not(None)))
            .order_by(MeterValue.timestamp, MeterValue.id)
            .execution_options(yield_per=_CHUNK))
    rows: list[Row[Any]] = []
    result = await session.stream(stmt)
    async for part in result.partitions():
        rows.extend(part)
    return rows


def readings(tx: Transaction, rows: Sequence[Row[Any]]) -> list[engine.MeterReading]:
    """One reading per instant with an energy register value (plus the meter start/stop)."""
    energy: dict[dt.datetime, Decimal] = {}
    power: dict[dt.datetime, Decimal] = {}
    total_current: dict[dt.datetime, Decimal] = {}
    phase_current: defaultdict[dt.datetime, Decimal] = defaultdict(Decimal)
    for row in rows:
        if row.value is None:
            continue
        if row.measurand == ENERGY_REGISTER and row.phase is None \
                and row.location in (None, "Outlet"):
            factor = _ENERGY_UNITS.get(row.unit or "Wh")
            if factor is not None:
                energy[row.timestamp] = row.value * factor
        elif row.measurand == POWER and row.phase is None:
            factor = _POWER_UNITS.get(row.unit or "W")
            if factor is not None:
                power[row.timestamp] = row.value * factor
        elif row.measurand == CURRENT and row.unit in (None, "A"):
            if row.phase is None:
                total_current[row.timestamp] = row.value
            elif row.phase in _PHASES:
                phase_current[row.timestamp] += row.value
    if tx.meter_start_wh is not None:
        energy[tx.started_at] = Decimal(tx.meter_start_wh)
    if tx.meter_stop_wh is not None and tx.stopped_at is not None:
        energy[tx.stopped_at] = Decimal(tx.meter_stop_wh)
    return [engine.MeterReading(at, wh, power.get(at),
                                total_current.get(at, phase_current.get(at)))
            for at, wh in sorted(energy.items())]


async def _state_changes(session: AsyncSession, tx: Transaction,
                         end: dt.datetime) -> list[engine.StateChange]:
    states = (await session.execute(
        select(ChargingState).where(ChargingState.transaction_id == tx.id)
        .order_by(ChargingState.at, ChargingState.id))).scalars().all()
    if states:
        return [engine.StateChange(s.at, s.charging) for s in states]
    if tx.connector_number is None:
        return []
    stmt = select(StatusNotification).where(
        StatusNotification.station_id == tx.station_id,
        StatusNotification.connector_number == tx.connector_number,
        StatusNotification.timestamp <= end)
    if tx.evse_number is not None:
        stmt = stmt.where(StatusNotification.evse_number == tx.evse_number)
    before = (await session.execute(
        stmt.where(StatusNotification.timestamp <= tx.started_at)
        .order_by(StatusNotification.timestamp.desc(), StatusNotification.id.desc()).limit(1)
    )).scalars().first()
    changes = []
    if before is not None and before.status in _SESSION_STATUSES:
        changes.append(engine.StateChange(tx.started_at, before.status == "Charging"))
    during = (await session.execute(
        stmt.where(StatusNotification.timestamp > tx.started_at)
        .order_by(StatusNotification.timestamp, StatusNotification.id))).scalars()
    for status in during:
        charging = _STATUS_CHARGING.get(status.status)
        if charging is not None:
            changes.append(engine.StateChange(status.timestamp, charging))
    return changes
