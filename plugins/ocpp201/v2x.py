"""OCPP 2.1 only: V2X operation modes, allowed energy transfer, priority charging, DER control."""

from __future__ import annotations

from plugins.ocpp201.base import Effect, HandlerBase


class V2xHandlers(HandlerBase):
    OWN_EFFECTS: dict[str, Effect] = {}
