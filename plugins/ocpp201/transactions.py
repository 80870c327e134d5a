"""Transactions (block E), remote control (F) and reservations (H): TransactionEvent with seqNo
ordering and offline events, meter values, remote start/stop, transaction status, running cost.
"""

from __future__ import annotations

from plugins.ocpp201.base import Effect, HandlerBase


class TransactionHandlers(HandlerBase):
    OWN_EFFECTS: dict[str, Effect] = {}
