"""Smart charging (block K): profiles, composite schedules, limits set by others and the EV's
charging needs.
"""

from __future__ import annotations

from plugins.ocpp201.base import Effect, HandlerBase


class SmartChargingHandlers(HandlerBase):
    OWN_EFFECTS: dict[str, Effect] = {}
