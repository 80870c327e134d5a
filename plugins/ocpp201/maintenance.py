"""Availability, firmware, diagnostics logs, security events, NotifyEvent, monitoring, customer
information, display messages and DataTransfer (blocks G, J, L, N, O, P).
"""

from __future__ import annotations

from core.rest.routes import Route
from plugins.ocpp201.base import Effect, HandlerBase


class MaintenanceHandlers(HandlerBase):
    OWN_EFFECTS: dict[str, Effect] = {}


def routes() -> list[Route]:
    """REST routes of this block (read access to what it stores)."""
    return []
