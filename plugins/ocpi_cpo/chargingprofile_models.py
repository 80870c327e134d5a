"""Tables of the CPO's ChargingProfiles Receiver (:mod:`plugins.ocpi_cpo.chargingprofiles`).

- :class:`OcpiProfileRequest`: one SetChargingProfile (PUT), GetActiveChargingProfile (GET) or
  ClearProfile (DELETE) from its arrival until its result was POSTed to the ``response_url``,
  so a restart never loses one silently.
- :class:`OcpiSessionProfile`: a party whose SetChargingProfile a station accepted for a
  session. Only such a party may receive ActiveChargingProfile updates of that session (OCPI
  forbids them to anyone else), and only the party whose profile is still in force
  (``active``) can clear it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db.models import Base
from core.db.types import utcnow


class OcpiProfileRequest(Base):
    """One request: ``kind`` is ``set``, ``active`` or ``clear``; ``state`` is ``pending``
    (station not answered yet), ``result`` (``result`` known, not delivered yet),
    ``delivered`` or ``undeliverable``. ``result`` is the body POSTed to ``response_url``."""

    __tablename__ = "ocpi_cpo_profile_request"
    __table_args__ = (Index("ix_ocpi_cpo_profile_request_state", "state", "deadline"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("ocpi_partner.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    session_id: Mapped[str] = mapped_column(String(36))
    transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("transaction.id", ondelete="SET NULL"))
    # The requesting party (the result is routed to it) and our party it addressed.
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    our_country_code: Mapped[str] = mapped_column(String(2))
    our_party_id: Mapped[str] = mapped_column(String(3))
    response_url: Mapped[str] = mapped_column(String(512))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    station_id: Mapped[str | None] = mapped_column(String(64))
    ocpp_version: Mapped[str | None] = mapped_column(String(8))
    action: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    deadline: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    delivered_at: Mapped[dt.datetime | None]


class OcpiSessionProfile(Base):
    """A party that successfully set a ChargingProfile on a session (``profile``: the OCPI
    ChargingProfile it set last). ``active`` until it was cleared or another party's profile
    replaced it."""

    __tablename__ = "ocpi_cpo_session_profile"
    __table_args__ = (
        UniqueConstraint("transaction_id", "country_code", "party_id",
                         name="uq_ocpi_cpo_session_profile_session_party"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("transaction.id", ondelete="CASCADE"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("ocpi_partner.id", ondelete="CASCADE"))
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    profile: Mapped[dict[str, Any]] = mapped_column(JSON)
    ocpp_profile_id: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    set_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    cleared_at: Mapped[dt.datetime | None]


__all__ = ["OcpiProfileRequest", "OcpiSessionProfile"]
