"""The OCPI CPO plugin's tables (its own Alembic branch, ``plugins/ocpi_cpo/migrations``).

- ``ocpi_cpo_charging_preferences``: the driver's OCPI ChargingPreferences of a session, as
  its eMSP last set them and we accepted them; smart charging reads them (and gets them as the
  ``session.charging_preferences`` event).
- ``ocpi_cpo_session_push``: which eMSP a session was pushed to and when last, so PATCHes are
  paced (``session_update_interval``) on every node alike and a session whose first PUT never
  went out gets a full PUT rather than a PATCH of an object the eMSP does not have.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db.models import Base
from core.db.types import utcnow


class ChargingPreference(Base):
    """Accepted charging preferences of one session (``energy_need`` in kWh, exact)."""

    __tablename__ = "ocpi_cpo_charging_preferences"

    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("transaction.id", ondelete="CASCADE"), primary_key=True)
    profile_type: Mapped[str] = mapped_column(String(8))
    departure_time: Mapped[dt.datetime | None]
    energy_need: Mapped[Decimal | None]
    discharge_allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    # The party that set them (the token's eMSP, possibly through a hub).
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SessionPush(Base):
    """The last push of a session to its eMSP (``country_code``/``party_id``)."""

    __tablename__ = "ocpi_cpo_session_push"

    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("transaction.id", ondelete="CASCADE"), primary_key=True)
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    pushed_at: Mapped[dt.datetime]
    completed: Mapped[bool] = mapped_column(Boolean, default=False)


__all__ = ["ChargingPreference", "SessionPush"]
