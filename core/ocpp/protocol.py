"""The contract between the core's OCPP endpoint and a version plugin."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web


class Sender(Protocol):
    async def send(self, message: str) -> None: ...


class OcppSession(Protocol):
    """One live station connection as a version plugin handles it."""

    protocol: str

    async def route_message(self, raw: str) -> None:
        """Handle one text frame received from the station."""

    async def call_action(
        self, action: str, payload: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """Send a CSMS-initiated call; see :class:`core.dispatch.StationLink`."""

    def framing_error(self, description: str) -> str:
        """The CALLERROR frame to answer a frame that is not OCPP-J at all."""


@dataclass(frozen=True)
class StationContext:
    """What a session knows about where it runs."""

    app: web.Application
    station_id: str
    sender: Sender
    max_message_bytes: int


@dataclass(frozen=True)
class OcppProtocol:
    """A WebSocket subprotocol (``ocpp1.6``) and how to open a session for it."""

    subprotocol: str
    version: str
    open_session: Callable[[StationContext], OcppSession]
