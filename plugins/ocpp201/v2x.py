"""OCPP 2.1 only: V2X operation modes, allowed energy transfer, priority charging, DER control."""

from __future__ import annotations

from core.rest.routes import Route
from plugins.ocpp201.base import Effect, HandlerBase


class V2xHandlers(HandlerBase):
    OWN_EFFECTS: dict[str, Effect] = {}


def routes() -> list[Route]:
    """REST routes of this block (read access to what it stores)."""
    return []
