"""Availability, firmware, diagnostics logs, security events, NotifyEvent, monitoring, customer
information, display messages and DataTransfer (blocks G, J, L, N, O, P).
"""

from __future__ import annotations

from plugins.ocpp201.base import Effect, HandlerBase


class MaintenanceHandlers(HandlerBase):
    OWN_EFFECTS: dict[str, Effect] = {}
