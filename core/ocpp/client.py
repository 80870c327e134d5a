"""Client-side plumbing for the ``ocpp`` package's ChargePoint classes over aiohttp.

The simulator and the tests drive real stations built on ``ocpp.v16``/``ocpp.v201`` ChargePoint
classes; those only need ``recv``/``send``, which this adapter provides for an aiohttp socket.
"""

from __future__ import annotations

from aiohttp import ClientWebSocketResponse, WSMsgType


class ConnectionClosed(Exception):
    """The CSMS closed the socket."""


class AiohttpConnection:
    def __init__(self, ws: ClientWebSocketResponse) -> None:
        self.ws = ws

    async def recv(self) -> str:
        message = await self.ws.receive()
        if message.type == WSMsgType.TEXT:
            return str(message.data)
        raise ConnectionClosed(f"socket closed ({message.type.name}, {message.data!r})")

    async def send(self, message: str) -> None:
        await self.ws.send_str(message)
