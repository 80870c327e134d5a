"""CSMS-initiated OCPP requests over REST: ``POST /api/{prefix}/{command}/{chargepoint_id}/``.

Shared by the version plugins. The body carries the request's fields in snake_case (as the
``ocpp`` package names them) plus ``"sync"``: ``true`` (default) waits for the station's answer,
``false`` returns a task id to poll at ``/api/task/{id}/``. The request is validated against
the schema of the OCPP version the station speaks before anything is sent or any task is
created; a plugin may rewrite the body first (``prepare``: build a local list, load a stored
profile, …).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from core import appkeys
from core.auth import principal_of
from core.db.models import ChargingStation
from core.dispatch import (
    CommandError,
    CommandRejected,
    CommandTimeout,
    InvalidCommand,
    StationNotConnected,
)
from core.ocpp.guard import validated_request
from core.rest.body import json_object
from core.rest.errors import ApiError, bad_request, not_found
from core.rest.resource import json_response
from core.rest.routes import Route

HTTP_STATUS = {StationNotConnected: 409, CommandTimeout: 504, CommandRejected: 502,
               InvalidCommand: 400}
Prepare = Callable[[web.Application, str, str, dict[str, Any]],
                   Awaitable[tuple[str, dict[str, Any]]]]


@dataclass(frozen=True)
class CommandSet:
    """The commands one plugin serves under ``/api/{prefix}/``.

    ``actions`` maps the lower-case path segment to the OCPP action; ``versions`` are the OCPP
    versions whose stations are served here.
    ``prepare`` may turn a path segment and body into the action and request to send.
    """

    prefix: str
    actions: Mapping[str, str]
    versions: tuple[str, ...]
    prepare: Prepare | None = None


def error_for(exc: CommandError) -> ApiError:
    details = None
    if isinstance(exc, CommandRejected):
        details = {"error_code": exc.error_code, "description": exc.description}
    return ApiError(HTTP_STATUS.get(type(exc), 502), exc.code, str(exc), details)


def command_view(commands: CommandSet) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def send_command(request: web.Request) -> web.Response:
        """Send one OCPP request to a station, waiting for its answer or as a task."""
        segment = request.match_info["command"].lower()
        if segment not in commands.actions:
            raise not_found("command")
        station_id = request.match_info["chargepoint_id"]
        body = await json_object(request)
        sync = body.pop("sync", True)
        if not isinstance(sync, bool):
            raise bad_request("sync must be true or false", {"sync": ["not a boolean"]})
        app = request.app
        async with app[appkeys.DB].session() as session:
            station = await session.get(ChargingStation, station_id)
        if station is None:
            raise not_found("chargepoint")
        version = station.ocpp_version or commands.versions[0]
        if version not in commands.versions:
            raise ApiError(409, "wrong_protocol",
                           f"station {station_id} speaks OCPP {version}, not "
                           f"{' or '.join(commands.versions)}")
        action = commands.actions[segment]
        if commands.prepare is not None:
            action, body = await commands.prepare(app, station_id, segment, body)
        try:
            validated_request(version, action, body)
        except InvalidCommand as exc:
            raise bad_request(str(exc), {"fields": sorted(body)}, "invalid_command") from None
        timeout = app[appkeys.CONFIG]["ocpp"]["call_timeout"]
        if not sync:
            principal = principal_of(request)
            task_id = await app[appkeys.TASKS].submit(
                station_id, action, body, user_id=principal.user_id if principal else None,
                timeout=timeout)
            return json_response({"task_id": task_id}, status=202)
        try:
            answer: dict[str, Any] = await app[appkeys.DISPATCHER].call(
                station_id, action, body, timeout)
        except CommandError as exc:
            raise error_for(exc) from None
        return json_response(answer)

    return send_command


def command_route(commands: CommandSet, title: str, tags: Iterable[str]) -> Route:
    return Route("POST", f"/api/{commands.prefix}/{{command}}/{{chargepoint_id}}/",
                 command_view(commands), "command:send", f"{commands.prefix}-command", title,
                 tuple(tags),
                 query_params=({"name": "command", "in": "path", "required": True,
                                "schema": {"type": "string",
                                           "enum": sorted(commands.actions)}},))
