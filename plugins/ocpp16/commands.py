"""CSMS-initiated OCPP 1.6 requests over REST: ``POST /api/ocpp16/{command}/{chargepoint_id}/``.

The body carries the request's fields in snake_case (as ``ocpp.v16.call`` names them) plus
``"sync"``: ``true`` (default) waits for the station's answer, ``false`` returns a task id to
poll at ``/api/task/{id}/``. The request is validated against the OCPP schema before anything
is sent or any task is created. A SendLocalList without ``local_authorization_list`` is built
from the id tags (``Full`` or ``Differential``) with the next list version;
``sendchargingprofile`` sends a profile stored at ``/api/chargingprofile/`` as SetChargingProfile.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from ocpp.v16 import call

from core import appkeys
from core.auth import principal_of
from core.db.models import ChargingProfile, ChargingStation
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
from plugins.ocpp16.effects import local_list

COMMANDS = (
    "CancelReservation", "ChangeAvailability", "ChangeConfiguration", "ClearCache",
    "ClearChargingProfile", "DataTransfer", "GetCompositeSchedule", "GetConfiguration",
    "GetDiagnostics", "GetLocalListVersion", "RemoteStartTransaction", "RemoteStopTransaction",
    "ReserveNow", "Reset", "SendLocalList", "SetChargingProfile", "TriggerMessage",
    "UnlockConnector", "UpdateFirmware",
    # OCPP 1.6 security extension, CSMS to station
    "CertificateSigned", "DeleteCertificate", "ExtendedTriggerMessage",
    "GetInstalledCertificateIds", "GetLog", "InstallCertificate", "SignedUpdateFirmware",
)
BY_PATH = {name.lower(): name for name in COMMANDS}
# Sends a profile stored at /api/chargingprofile/ as SetChargingProfile.
STORED_PROFILE = "sendchargingprofile"
HTTP_STATUS = {StationNotConnected: 409, CommandTimeout: 504, CommandRejected: 502,
               InvalidCommand: 400}


def _error(exc: CommandError) -> ApiError:
    details = None
    if isinstance(exc, CommandRejected):
        details = {"error_code": exc.error_code, "description": exc.description}
    return ApiError(HTTP_STATUS.get(type(exc), 502), exc.code, str(exc), details)


async def stored_profile_request(app: web.Application, body: dict[str, Any]) -> dict[str, Any]:
    """``{"profile_id", "connector_id", "transaction_id"?}`` as a SetChargingProfile request."""
    unknown = set(body) - {"profile_id", "connector_id", "transaction_id"}
    if unknown or not isinstance(body.get("profile_id"), int) or not isinstance(
            body.get("connector_id"), int):
        raise bad_request("give profile_id and connector_id (integers), optionally "
                          "transaction_id", {"unknown": sorted(unknown)}, "invalid_command")
    async with app[appkeys.DB].session() as session:
        profile = await session.get(ChargingProfile, body["profile_id"])
    if profile is None:
        raise not_found("chargingprofile")
    schedule = {k: v for k, v in profile.schedule.items() if v is not None}
    cs_profile: dict[str, Any] = {
        "charging_profile_id": profile.id, "stack_level": profile.stack_level,
        "charging_profile_purpose": profile.purpose, "charging_profile_kind": profile.kind,
        "charging_schedule": schedule,
    }
    for key, value in (("recurrency_kind", profile.recurrency_kind),
                       ("valid_from", profile.valid_from), ("valid_to", profile.valid_to),
                       ("transaction_id", body.get("transaction_id"))):
        if value is not None:
            cs_profile[key] = value.isoformat() if hasattr(value, "isoformat") else value
    return {"connector_id": body["connector_id"], "cs_charging_profiles": cs_profile}


async def send_command(request: web.Request) -> web.Response:
    """Send one OCPP 1.6 request to a station, waiting for its answer or as a task."""
    command = request.match_info["command"].lower()
    action = "SetChargingProfile" if command == STORED_PROFILE else BY_PATH.get(command)
    if action is None:
        raise not_found("command")
    station_id = request.match_info["chargepoint_id"]
    body = await json_object(request)
    sync = body.pop("sync", True)
    if not isinstance(sync, bool):
        raise bad_request("sync must be true or false", {"sync": ["not a boolean"]})
    app = request.app
    async with app[appkeys.DB].session() as session:
        if await session.get(ChargingStation, station_id) is None:
            raise not_found("chargepoint")
    if command == STORED_PROFILE:
        body = await stored_profile_request(app, body)
    if action == "SendLocalList" and "local_authorization_list" not in body:
        async with app[appkeys.DB].transaction() as work:
            built = await local_list(work, station_id, body.get("update_type", "Full"))
        body = {**built, **body}
    try:
        await validated_request(call, "1.6", action, body)
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
        raise _error(exc) from None
    return json_response(answer)


def command_routes() -> list[Route]:
    return [
        Route("POST", "/api/ocpp16/{command}/{chargepoint_id}/", send_command, "command:send",
              "ocpp16-command", "Send an OCPP 1.6 request to a station", ("ocpp16",),
              query_params=({"name": "command", "in": "path", "required": True,
                             "schema": {"type": "string",
                                        "enum": sorted([*BY_PATH, STORED_PROFILE])}},)),
    ]
