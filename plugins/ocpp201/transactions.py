"""Transactions (block E), remote control (F) and reservations (H): TransactionEvent with seqNo
ordering and offline events, meter values, remote start/stop, transaction status, running cost.
"""

from __future__ import annotations

from core.rest.routes import Route
from plugins.ocpp201.base import Effect, HandlerBase


class TransactionHandlers(HandlerBase):
    OWN_EFFECTS: dict[str, Effect] = {}


def routes() -> list[Route]:
    """REST routes of this block (read access to what it stores)."""
    return []
