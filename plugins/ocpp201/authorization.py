"""Authorization (block C): Authorize with every IdToken type, the 2.x IdTokenInfo options, local
lists, the authorization cache and EV (EVCCID / MAC) to driver mapping.
"""

from __future__ import annotations

from core.rest.routes import Route
from plugins.ocpp201.base import Effect, HandlerBase


class AuthorizationHandlers(HandlerBase):
    OWN_EFFECTS: dict[str, Effect] = {}


def routes() -> list[Route]:
    """REST routes of this block (read access to what it stores)."""
    return []
