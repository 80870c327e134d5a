"""Tables of local contexts: optimisation contexts whose EVSEs are our own, steered directly.

- ``ocpi_scsp_local_context``: which contexts are local (set through the REST API only, so no
  OCPI partner can turn a context into one that drives our stations).
- ``ocpi_scsp_local_session``: per session of a local context (an ``ocpi_scsp_session`` row
  with the same key, built from our own transaction), its context, the transaction it follows
  and what its station last made of the schedule: the profile in force there and the last
  outcome. An EVSE is in one local context at most, so a transaction is steered by one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db.models import Base


class LocalContext(Base):
    """A context whose EVSEs are ours: its sessions come from our transactions."""

    __tablename__ = "ocpi_scsp_local_context"

    country_code: Mapped[str] = mapped_column(String(2), primary_key=True)
    party_id: Mapped[str] = mapped_column(String(3), primary_key=True)
    context_id: Mapped[str] = mapped_column(String(36), primary_key=True)


class LocalSession(Base):
    """One of our transactions in a local context, and its station's answers.

    ``profile`` is the schedule the station accepted last (None: none of ours in force), so a
    recompute that changes nothing sends nothing, and one after a failure sends again.
    """

    __tablename__ = "ocpi_scsp_local_session"

    country_code: Mapped[str] = mapped_column(String(2), primary_key=True)
    party_id: Mapped[str] = mapped_column(String(3), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    context_id: Mapped[str] = mapped_column(String(36))
    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("transaction.id", ondelete="CASCADE"), index=True)
    profile: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Accepted, Rejected, Unknown (the station's answer) or failed (no answer: offline, …)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    message: Mapped[str | None] = mapped_column(String(255), nullable=True)
    attempted_at: Mapped[dt.datetime | None]


__all__ = ["LocalContext", "LocalSession"]
