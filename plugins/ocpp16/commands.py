"""CSMS-initiated OCPP 1.6 requests over REST: ``POST /api/ocpp16/{command}/{chargepoint_id}/``.

The shared mechanics are :mod:`core.ocpp.rest_commands`. Here: the 1.6 commands, and a
SendLocalList without ``local_authorization_list`` is built from the id tags (``Full`` or
``Differential``) with the next list version; ``sendchargingprofile`` sends a profile stored
at ``/api/chargingprofile/`` as SetChargingProfile.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core import appkeys
from core.db.models import ChargingProfile
from core.ocpp.rest_commands import CommandSet, command_route
from core.rest.errors import bad_request, not_found
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


async def prepare(app: web.Application, station_id: str, segment: str,
                  body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Load a stored profile, or build a local list from the id tags when none is given."""
    if segment == STORED_PROFILE:
        return "SetChargingProfile", await stored_profile_request(app, body)
    action = BY_PATH[segment]
    if action == "SendLocalList" and "local_authorization_list" not in body:
        async with app[appkeys.DB].transaction() as work:
            built = await local_list(work, station_id, body.get("update_type", "Full"))
        body = {**built, **body}
    return action, body


COMMAND_SET = CommandSet("ocpp16", {**BY_PATH, STORED_PROFILE: "SetChargingProfile"},
                         ("1.6",), prepare)


def command_routes() -> list[Route]:
    return [command_route(COMMAND_SET, "Send an OCPP 1.6 request to a station", ("ocpp16",))]
