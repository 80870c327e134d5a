"""CSMS-initiated OCPP 2.x requests over REST: ``POST /api/ocpp201/{command}/{chargepoint_id}/``.

One endpoint serves OCPP 2.0.1 and 2.1 stations; the body is validated against the schema of
the version the station speaks, so a 2.1-only command sent to a 2.0.1 station is refused (400)
before anything is sent. Mechanics: :mod:`core.ocpp.rest_commands`.
"""

from __future__ import annotations

from ocpp.v21 import call as call21
from ocpp.v201 import call as call201

from core.ocpp.rest_commands import CommandSet, command_route
from core.rest.routes import Route

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
    "UpdateDynamicSchedule", "UsePriorityCharging",
)
COMMAND_SET = CommandSet(
    "ocpp201", {name.lower(): name for name in (*COMMANDS_201, *COMMANDS_21)},
    {"2.0.1": call201, "2.1": call21})


def command_routes() -> list[Route]:
    return [command_route(COMMAND_SET, "Send an OCPP 2.0.1 or 2.1 request to a station",
                          ("ocpp201",))]
