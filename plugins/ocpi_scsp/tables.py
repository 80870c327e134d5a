"""The SCSP plugin's tables (its own Alembic branch, ``plugins/ocpi_scsp/migrations``).

Wire objects are kept as the validated JSON they arrived as, so a GET answers exactly what the
owner stored; the columns beside them are what lookups need.

- ``ocpi_scsp_context``: SmartChargingOptimisation objects (optimisation contexts), owned by a
  CPO party, pushed over OCPI or created through the REST API.
- ``ocpi_scsp_result``: the latest optimisation result of each context.
- ``ocpi_scsp_session``: OCPI Sessions pushed by CPOs, with the driver's charging preferences
  and the partner that pushed them (who receives the session's charging profiles).
- ``ocpi_scsp_profile``: per session, the last ChargingProfile sent and what the CPO answered.
- ``ocpi_scsp_estimate``: per completed session, our battery and charge-time estimates and what
  actually happened (:mod:`plugins.ocpi_scsp.estimate_accuracy`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db.models import Base
from core.db.types import utcnow


class OptimisationContext(Base):
    """One SCOptimisation object (seed 003 Table 17) in its normalised wire form."""

    __tablename__ = "ocpi_scsp_context"

    country_code: Mapped[str] = mapped_column(String(2), primary_key=True)
    party_id: Mapped[str] = mapped_column(String(3), primary_key=True)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    last_updated: Mapped[dt.datetime]


class OptimisationResult(Base):
    """The latest result of one context, as the REST API shows it."""

    __tablename__ = "ocpi_scsp_result"

    country_code: Mapped[str] = mapped_column(String(2), primary_key=True)
    party_id: Mapped[str] = mapped_column(String(3), primary_key=True)
    context_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ScspSession(Base):
    """An OCPI Session pushed to our Sessions RECEIVER, plus the driver's preferences."""

    __tablename__ = "ocpi_scsp_session"

    country_code: Mapped[str] = mapped_column(String(2), primary_key=True)
    party_id: Mapped[str] = mapped_column(String(3), primary_key=True)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    partner_id: Mapped[int | None] = mapped_column(Integer)
    location_id: Mapped[str] = mapped_column(String(36))
    evse_uid: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    preferences: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    last_updated: Mapped[dt.datetime]


class SentProfile(Base):
    """The charging profile last sent for a session and the CPO's answers to it."""

    __tablename__ = "ocpi_scsp_profile"

    country_code: Mapped[str] = mapped_column(String(2), primary_key=True)
    party_id: Mapped[str] = mapped_column(String(3), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    profile: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    reference: Mapped[str] = mapped_column(String(36))
    result: Mapped[str | None] = mapped_column(String(32), nullable=True)
    active_profile: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Our last GetActiveChargingProfile: its response_url reference, the CPO's result, and
    # when the active profile (by that result or by the CPO's own PUT) arrived.
    active_reference: Mapped[str | None] = mapped_column(String(36), nullable=True)
    active_result: Mapped[str | None] = mapped_column(String(32), nullable=True)
    active_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class EstimateRecord(Base):
    """Estimates made for a completed session and the actual values (Wh, s; None: unknown)."""

    __tablename__ = "ocpi_scsp_estimate"

    country_code: Mapped[str] = mapped_column(String(2), primary_key=True)
    party_id: Mapped[str] = mapped_column(String(3), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ended_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    battery_capacity_estimate: Mapped[float | None] = mapped_column(Float, nullable=True)
    battery_capacity_actual: Mapped[float | None] = mapped_column(Float, nullable=True)
    charge_energy_estimate: Mapped[float | None] = mapped_column(Float, nullable=True)
    charge_energy_actual: Mapped[float | None] = mapped_column(Float, nullable=True)
    charge_duration_estimate: Mapped[float | None] = mapped_column(Float, nullable=True)
    charge_duration_actual: Mapped[float | None] = mapped_column(Float, nullable=True)


__all__ = ["EstimateRecord", "OptimisationContext", "OptimisationResult", "ScspSession",
           "SentProfile"]
