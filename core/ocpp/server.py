"""The ``/ocpp/{station_id}`` WebSocket endpoint: subprotocol choice, admission, connection state.

Admission follows ``[ocpp] unknown_stations``; a station with a password must present it with
HTTP Basic auth (Security Profile 1, or 2 over TLS) unless it authenticated with a client
certificate naming it (Security Profile 3). A station that reconnects replaces its
previous socket, which is closed. The connected flag and last-seen time are kept in the database
and ``station.connected`` / ``station.disconnected`` events are published.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import re
from typing import Any

from aiohttp import WSMsgType, web
from sqlalchemy import update

from core import appkeys
from core.db import Work
from core.db.models import ChargingStation
from core.db.types import utcnow
from core.events import Event
from core.ocpp.protocol import OcppProtocol, OcppSession, StationContext
from core.passwords import verify_password
from core.plugins import flatten
from core.rbac import PUBLIC
from core.rest.routes import Route
from core.tls import common_name

log = logging.getLogger(__name__)
STATION_ID_RE = re.compile(r"^[A-Za-z0-9*\-_=:+|@.]{1,64}$")


class OcppServer:
    """Per-app state of the endpoint: protocols, open sockets and verified station passwords."""

    def __init__(self, protocols: list[OcppProtocol]) -> None:
        self.protocols = {p.subprotocol: p for p in protocols}
        self.sockets: set[web.WebSocketResponse] = set()
        # One future per open connection, done once its disconnect is recorded; shutdown waits
        # for them so no write is cut off by the database closing.
        self.active: set[asyncio.Future[None]] = set()
        # Argon2 costs tens of ms; remember a verified password's SHA-256 per stored hash so a
        # reconnect storm does not burn the CPU. Invalidated when the stored hash changes.
        self._verified: dict[str, tuple[str, bytes]] = {}

    def password_ok(self, station_id: str, stored_hash: str, password: str) -> bool:
        digest = hashlib.sha256(password.encode()).digest()
        cached = self._verified.get(station_id)
        if cached is not None and cached[0] == stored_hash:
            return hmac.compare_digest(cached[1], digest)
        if verify_password(stored_hash, password):
            self._verified[station_id] = (stored_hash, digest)
            return True
        return False


OCPP_SERVER: web.AppKey[OcppServer] = web.AppKey("ocpp_server")


class SessionLink:
    """The dispatcher's handle on one connection."""

    def __init__(self, session: OcppSession, ws: web.WebSocketResponse) -> None:
        self.session = session
        self.ws = ws
        self.protocol = session.protocol

    async def call(self, action: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        return await self.session.call_action(action, payload, timeout)


class WsSender:
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    async def send(self, message: str) -> None:
        await self.ws.send_str(message)


def _basic_password(request: web.Request, station_id: str) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return password if user == station_id else None


def _choose_protocol(request: web.Request, server: OcppServer) -> OcppProtocol:
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    for name in offered:
        if name in server.protocols:
            return server.protocols[name]
    supported = ", ".join(sorted(server.protocols)) or "none (no OCPP plugin is enabled)"
    raise web.HTTPBadRequest(text=f"offer one of the OCPP subprotocols: {supported}")


def _check_certificate(request: web.Request, station_id: str) -> bool:
    """Security Profile 3: a presented client certificate must name this station (its CN).

    Returns whether the station authenticated with a certificate.
    """
    transport = request.transport
    peercert = transport.get_extra_info("peercert") if transport is not None else None
    name = common_name(peercert)
    if name is None:
        if request.app[appkeys.CONFIG]["ocpp"]["require_client_certificate"]:
            raise web.HTTPUnauthorized(text="a client certificate is required")
        return False
    if name != station_id:
        log.warning("station %s presented a certificate for %r", station_id, name)
        raise web.HTTPForbidden(text="the client certificate does not name this station")
    return True


async def _admit(request: web.Request, station_id: str, protocol: OcppProtocol) -> None:
    """Refuse (404/401/403) or accept the station; registers unknown ones when policy allows.

    The lookup rides the group commit, so a reconnect storm of thousands of stations costs a
    few commits rather than one transaction each.
    """
    app = request.app
    by_certificate = _check_certificate(request, station_id)
    policy = app[appkeys.CONFIG]["ocpp"]["unknown_stations"]

    async def admit(work: Work) -> tuple[bool, str | None]:
        station = await work.session.get(ChargingStation, station_id)
        if station is None:
            if policy == "reject":
                return False, None
            station = ChargingStation(
                id=station_id,
                ocpp_version=protocol.version,
                registration_status="Accepted" if policy == "accept" else "Pending",
            )
            work.session.add(station)
            work.emit(Event("station.registered", {"id": station_id, "policy": policy}))
        return True, station.password_hash

    known, password_hash = await app[appkeys.DB].write(
        admit, preload=[(ChargingStation, station_id)])
    if not known:
        raise web.HTTPNotFound(text=f"unknown station {station_id!r}")
    if password_hash is not None and not by_certificate:
        password = _basic_password(request, station_id)
        if password is None or not app[OCPP_SERVER].password_ok(station_id, password_hash,
                                                                 password):
            log.warning("station %s: wrong or missing Basic-auth credentials", station_id)
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Basic realm="OpenV2X"'})


async def _set_connected(app: web.Application, station_id: str, connected: bool,
                         version: str) -> None:
    values: dict[str, Any] = {"connected": connected, "last_seen": utcnow()}
    if connected:
        values["ocpp_version"] = version

    async def record(work: Work) -> None:
        await work.session.execute(
            update(ChargingStation).where(ChargingStation.id == station_id).values(**values)
        )
        name = "station.connected" if connected else "station.disconnected"
        work.emit(Event(name, {"id": station_id, "ocpp_version": version}))

    await app[appkeys.DB].write(record)


async def ocpp_endpoint(request: web.Request) -> web.StreamResponse:
    """Accept a station's WebSocket and feed its frames to the version plugin's session."""
    app = request.app
    station_id = request.match_info["station_id"]
    if not STATION_ID_RE.match(station_id):
        raise web.HTTPNotFound(text="not a valid station identity")
    server = app[OCPP_SERVER]
    protocol = _choose_protocol(request, server)
    await _admit(request, station_id, protocol)

    ocpp = app[appkeys.CONFIG]["ocpp"]
    limit = ocpp["max_message_bytes"]
    ws = web.WebSocketResponse(
        protocols=[protocol.subprotocol],
        heartbeat=ocpp["ping_interval"] or None,
        max_msg_size=max(4 * limit, 1 << 20),
    )
    await ws.prepare(request)
    session = protocol.open_session(StationContext(app, station_id, WsSender(ws), limit))
    link = SessionLink(session, ws)
    dispatcher = app[appkeys.DISPATCHER]
    previous = dispatcher.attach(station_id, link)
    if isinstance(previous, SessionLink):
        log.info("station %s reconnected; closing its previous socket", station_id)
        await previous.ws.close(code=4000, message=b"replaced by a newer connection")
    server.sockets.add(ws)
    finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    server.active.add(finished)
    try:
        await _set_connected(app, station_id, True, protocol.version)
        log.info("station %s connected (%s)", station_id, protocol.subprotocol)
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await session.route_message(message.data)
            elif message.type == WSMsgType.BINARY:
                await ws.send_str(session.framing_error("binary frames are not OCPP-J"))
    finally:
        server.sockets.discard(ws)
        try:
            if dispatcher.detach(station_id, link):
                await asyncio.shield(_set_connected(app, station_id, False, protocol.version))
                log.info("station %s disconnected", station_id)
        finally:
            finished.set_result(None)
            server.active.discard(finished)
    return ws


async def _close_sockets(app: web.Application) -> None:
    server = app[OCPP_SERVER]
    for ws in list(server.sockets):
        await ws.close(code=1001, message=b"server shutting down")
    if server.active:
        await asyncio.wait(list(server.active), timeout=10)


def setup(app: web.Application) -> list[Route]:
    """Install the endpoint with the protocols the enabled plugins provide."""
    pm = app[appkeys.PLUGINS]
    app[OCPP_SERVER] = OcppServer(flatten(pm.hook.openv2x_ocpp_protocols(app=app)))
    app.on_shutdown.append(_close_sockets)
    return [Route("GET", "/ocpp/{station_id}", ocpp_endpoint, PUBLIC, "ocpp", in_openapi=False)]
