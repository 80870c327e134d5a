"""Smart charging (block K): profiles, composite schedules, limits set by others and the EV's
charging needs.
"""

from __future__ import annotations

from core.rest.routes import Route
from plugins.ocpp201.base import Effect, HandlerBase


class SmartChargingHandlers(HandlerBase):
    OWN_EFFECTS: dict[str, Effect] = {}


def routes() -> list[Route]:
    """REST routes of this block (read access to what it stores)."""
    return []
