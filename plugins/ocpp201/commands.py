"""CSMS-initiated OCPP 2.x requests over REST: ``POST /api/ocpp201/{command}/{chargepoint_id}/``.

One endpoint serves OCPP 2.0.1 and 2.1 stations; the body is validated against the schema of
the version the station speaks, so a 2.1-only command sent to a 2.0.1 station is refused (400)
before anything is sent. A SendLocalList without ``local_authorization_list`` is built from the
id tags with the next list version; ``sendchargingprofile`` sends a profile stored at
``/api/chargingprofile/`` (``{"profile_id", "evse_id", "transaction_id"?}``).
Mechanics: :mod:`core.ocpp.rest_commands`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core import appkeys
from core.ocpp.rest_commands import CommandSet, command_route
from core.rest.routes import Route
from plugins.ocpp201.authorization import local_list
from plugins.ocpp201.smart_charging import stored_profile_request

COMMANDS_201 = (
    "CancelReservation", "CertificateSigned", "ChangeAvailability", "ClearCache",
    "ClearChargingProfile", "ClearDisplayMessage", "ClearVariableMonitoring", "CostUpdated",
    "CustomerInformation", "DataTransfer", "DeleteCertificate", "GetBaseReport",
    "GetChargingProfiles", "GetCompositeSchedule", "GetDisplayMessages",
    "GetInstalledCertificateIds", "GetLocalListVersion", "GetLog", "GetMonitoringReport",
    "GetReport", "GetTransactionStatus", "GetVariables", "InstallCertificate", "PublishFirmware",
    "RequestStartTransaction", "RequestStopTransaction", "ReserveNow", "Reset", "SendLocalList",
    "SetChargingProfile", "SetDisplayMessage", "SetMonitoringBase", "SetMonitoringLevel",
    "SetNetworkProfile", "SetVariableMonitoring", "SetVariables", "TriggerMessage",
    "UnlockConnector", "UnpublishFirmware", "UpdateFirmware",
)
# Added by OCPP 2.1 (CSMS to station).
COMMANDS_21 = (
    "AFRRSignal", "AdjustPeriodicEventStream", "ChangeTransactionTariff", "ClearDERControl",
    "ClearTariffs", "GetDERControl", "GetPeriodicEventStream", "GetTariffs",
    "NotifyAllowedEnergyTransfer", "RequestBatterySwap", "SetDERControl", "SetDefaultTariff",
    "UpdateDynamicSchedule", "UsePriorityCharging", "NotifyWebPaymentStarted",
)
# Sends a profile stored at /api/chargingprofile/ as SetChargingProfile.
STORED_PROFILE = "sendchargingprofile"
ACTIONS = {**{name.lower(): name for name in (*COMMANDS_201, *COMMANDS_21)},
           STORED_PROFILE: "SetChargingProfile"}


async def prepare(app: web.Application, station_id: str, segment: str,
                  body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Load a stored profile, or build a local list from the id tags when none is given."""
    if segment == STORED_PROFILE:
        return "SetChargingProfile", await stored_profile_request(app, body)
    action = ACTIONS[segment]
    if action == "SendLocalList" and "local_authorization_list" not in body:
        async with app[appkeys.DB].transaction() as work:
            built = await local_list(work, station_id, body.get("update_type", "Full"))
        body = {**built, **body}
    return action, body


COMMAND_SET = CommandSet("ocpp201", ACTIONS, ("2.0.1", "2.1"), prepare)


def command_routes() -> list[Route]:
    return [command_route(COMMAND_SET, "Send an OCPP 2.0.1 or 2.1 request to a station",
                          ("ocpp201",))]
