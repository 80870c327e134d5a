"""Tables of the CPO's OCPI Receiver interfaces: tokens and commands.

- :class:`OcpiToken`: eMSP tokens as their owners pushed them (Tokens module, or the Token
  object of a START_SESSION / RESERVE_NOW). Each is mirrored into the core ``id_token`` row
  with the same uid, so OCPP authorization treats it like any other token.
- :class:`OcpiCommand`: a command from its arrival until its CommandResult was delivered, so a
  restart never loses one silently.
- :class:`OcpiReservation`: which station reservation an eMSP's ``reservation_id`` became;
  eMSP ids are never sent to a station (two eMSPs may use the same one).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db.models import Base
from core.db.types import utcnow


class OcpiToken(Base):
    """An eMSP's Token; ``raw`` is the object as stored (party codes upper case).

    ``command_grant_until``: a START_SESSION or RESERVE_NOW carried this token, which the eMSP
    authorized itself; until then the station may use it without a real-time authorization.
    """

    __tablename__ = "ocpi_cpo_token"
    __table_args__ = (
        UniqueConstraint("country_code", "party_id", "uid", "type",
                         name="uq_ocpi_cpo_token_owner_uid_type"),
        Index("ix_ocpi_cpo_token_uid", "uid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("ocpi_partner.id", ondelete="SET NULL"))
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    uid: Mapped[str] = mapped_column(String(36))
    type: Mapped[str] = mapped_column(String(16))
    contract_id: Mapped[str] = mapped_column(String(36))
    visual_number: Mapped[str | None] = mapped_column(String(64))
    issuer: Mapped[str] = mapped_column(String(64))
    group_id: Mapped[str | None] = mapped_column(String(36))
    valid: Mapped[bool] = mapped_column(Boolean)
    whitelist: Mapped[str] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(2))
    default_profile_type: Mapped[str | None] = mapped_column(String(16))
    energy_contract: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_updated: Mapped[dt.datetime]
    raw: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16), default="tokens")
    command_grant_until: Mapped[dt.datetime | None]
    authorization_reference: Mapped[str | None] = mapped_column(String(36))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OcpiCommand(Base):
    """One command: ``state`` is ``pending`` (station not answered yet), ``result`` (outcome
    known, CommandResult not delivered yet), ``delivered`` or ``undeliverable``.

    ``id`` doubles as the OCPP 2.x ``remoteStartId`` of a START_SESSION.
    """

    __tablename__ = "ocpi_cpo_command"
    __table_args__ = (Index("ix_ocpi_cpo_command_state", "state", "deadline"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("ocpi_partner.id", ondelete="CASCADE"))
    command: Mapped[str] = mapped_column(String(32))
    country_code: Mapped[str | None] = mapped_column(String(2))
    party_id: Mapped[str | None] = mapped_column(String(3))
    our_country_code: Mapped[str] = mapped_column(String(2))
    our_party_id: Mapped[str] = mapped_column(String(3))
    response_url: Mapped[str] = mapped_column(String(512))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    station_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    result: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    deadline: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    delivered_at: Mapped[dt.datetime | None]


class OcpiReservation(Base):
    """An eMSP party's ``reservation_id`` and the station reservation (core ``reservation``
    row, whose id the station got) it stands for."""

    __tablename__ = "ocpi_cpo_reservation"
    __table_args__ = (
        UniqueConstraint("country_code", "party_id", "reservation_id",
                         name="uq_ocpi_cpo_reservation_owner_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("ocpi_partner.id", ondelete="SET NULL"))
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    reservation_id: Mapped[str] = mapped_column(String(36))
    location_id: Mapped[str] = mapped_column(String(36))
    station_id: Mapped[str] = mapped_column(String(64))
    station_reservation_id: Mapped[int] = mapped_column(
        ForeignKey("reservation.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

