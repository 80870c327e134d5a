"""The billing plugin's tables (its own Alembic branch, ``plugins/billing/migrations``).

- ``billing_tariff``: every version of every tariff, as the OCPI JSON it was saved with; a
  change never rewrites a row, so a CDR's ``(tariff_id, tariff_version)`` stays resolvable.
- ``billing_tariff_assignment``: which tariff applies where, to whom, wholesale or retail.
- ``billing_price_adjustment``: operator and DSO price signals for an area and a time window.
- ``billing_session``: the tariffs a session was pinned to when it started.
- ``billing_charging_state``: OCPP 2.x charging-state changes of sessions, as published.
- ``billing_cdr``: CDRs as OCPI JSON, with the columns lists and exports filter on.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db.models import Base, Timestamped
from core.db.types import utcnow


class TariffVersion(Base):
    """One version of a tariff; ``is_current`` marks the newest of each ``tariff_id``."""

    __tablename__ = "billing_tariff"
    __table_args__ = (UniqueConstraint("tariff_id", "version"),
                      Index("ix_billing_tariff_current", "is_current", "tariff_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tariff_id: Mapped[str] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    currency: Mapped[str] = mapped_column(String(3))
    type: Mapped[str | None] = mapped_column(String(20))
    start_date_time: Mapped[dt.datetime | None]
    end_date_time: Mapped[dt.datetime | None]
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"))


class TariffAssignment(Timestamped, Base):
    """A tariff for a connector, station, location, region or the whole network.

    ``role`` ``cpo`` is the wholesale price of the charge; ``emsp`` is the retail price an
    eMSP (``emsp_country_code``/``emsp_party_id``) charges its drivers, either on top of the
    CPO's cost (``mode`` ``add``) or instead of it (``replace``).
    """

    __tablename__ = "billing_tariff_assignment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tariff_id: Mapped[str] = mapped_column(String(36), index=True)
    role: Mapped[str] = mapped_column(String(8), default="cpo")
    scope: Mapped[str] = mapped_column(String(16))
    connector_id: Mapped[str | None] = mapped_column(
        ForeignKey("connector.id", ondelete="CASCADE"), index=True)
    station_id: Mapped[str | None] = mapped_column(
        ForeignKey("charging_station.id", ondelete="CASCADE"), index=True)
    location_id: Mapped[str | None] = mapped_column(
        ForeignKey("location.id", ondelete="CASCADE"), index=True)
    country: Mapped[str | None] = mapped_column(String(3))
    city: Mapped[str | None] = mapped_column(String(45))
    power_type: Mapped[str | None] = mapped_column(String(2))
    group_id_token: Mapped[str | None] = mapped_column(String(255))
    emsp_country_code: Mapped[str | None] = mapped_column(String(2))
    emsp_party_id: Mapped[str | None] = mapped_column(String(3))
    mode: Mapped[str | None] = mapped_column(String(8))


class PriceAdjustment(Timestamped, Base):
    """A price change for the stations of an area during a window (operator or DSO signal).

    The area is a list of location ids or a region (``country``, optionally ``city``). The
    energy price per kWh becomes ``price * factor + delta`` (never below zero) while it lasts.
    """

    __tablename__ = "billing_price_adjustment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    location_ids: Mapped[list[Any] | None] = mapped_column(JSON)
    country: Mapped[str | None] = mapped_column(String(3))
    city: Mapped[str | None] = mapped_column(String(45))
    start_date_time: Mapped[dt.datetime] = mapped_column(index=True)
    end_date_time: Mapped[dt.datetime] = mapped_column(index=True)
    factor: Mapped[Decimal | None]
    delta: Mapped[Decimal | None]
    source: Mapped[str] = mapped_column(String(8), default="operator")
    reason: Mapped[str | None] = mapped_column(String(255))


class SessionTariff(Base):
    """The tariffs chosen for a session when it started, so later changes do not touch it."""

    __tablename__ = "billing_session"

    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("transaction.id", ondelete="CASCADE"), primary_key=True)
    id_token: Mapped[str | None] = mapped_column(String(255))
    tariff_id: Mapped[str | None] = mapped_column(String(36))
    tariff_version: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(24))
    retail_tariff_id: Mapped[str | None] = mapped_column(String(36))
    retail_tariff_version: Mapped[int | None] = mapped_column(Integer)
    retail_mode: Mapped[str | None] = mapped_column(String(8))
    selected_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ChargingState(Base):
    """From ``at`` on the EV charges (``charging``) or only occupies the EVSE (OCPP 2.x)."""

    __tablename__ = "billing_charging_state"
    __table_args__ = (Index("ix_billing_charging_state_tx", "transaction_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("transaction.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime]
    charging: Mapped[bool] = mapped_column(Boolean)


class Cdr(Base):
    """A CDR: the OCPI 2.2.1 object in ``data`` and the columns to find it by.

    ``revision`` counts the CDRs of one session: a corrected session's CDR is credited
    (``credit``, same revision) and replaced by the next revision; the unique constraint keeps
    a repeated event from issuing a second CDR. ``basis`` says which state of the session it
    was priced from. ``driver_cost_*`` is what the driver pays when an eMSP retail tariff
    applies; otherwise it equals ``total_cost_*``.
    """

    __tablename__ = "billing_cdr"
    __table_args__ = (UniqueConstraint("transaction_id", "revision", "credit"),
                      Index("ix_billing_cdr_station_start", "station_id", "start_date_time"))

    id: Mapped[str] = mapped_column(String(39), primary_key=True)
    transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("transaction.id", ondelete="SET NULL"))
    revision: Mapped[int] = mapped_column(Integer, default=0)
    basis: Mapped[str] = mapped_column(String(100))
    station_id: Mapped[str] = mapped_column(String(64))
    location_id: Mapped[str | None] = mapped_column(String(36))
    id_token: Mapped[str | None] = mapped_column(String(255), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True)
    start_date_time: Mapped[dt.datetime]
    end_date_time: Mapped[dt.datetime]
    currency: Mapped[str] = mapped_column(String(3))
    total_cost_excl_vat: Mapped[Decimal]
    total_cost_incl_vat: Mapped[Decimal | None]
    energy_wh: Mapped[Decimal]
    tariff_id: Mapped[str | None] = mapped_column(String(36))
    tariff_version: Mapped[int | None] = mapped_column(Integer)
    retail_tariff_id: Mapped[str | None] = mapped_column(String(36))
    retail_tariff_version: Mapped[int | None] = mapped_column(Integer)
    driver_currency: Mapped[str] = mapped_column(String(3))
    driver_cost_excl_vat: Mapped[Decimal]
    driver_cost_incl_vat: Mapped[Decimal | None]
    credit: Mapped[bool] = mapped_column(Boolean, default=False)
    credit_reference_id: Mapped[str | None] = mapped_column(String(39))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    last_updated: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
