"""OCPP 1.6J central system.

Serves the ``ocpp1.6`` subprotocol on ``/ocpp/{station_id}``: every station-initiated message of
the core profile is validated, persisted and acknowledged after commit (BootNotification,
Heartbeat, StatusNotification, Authorize, StartTransaction, StopTransaction, MeterValues,
DataTransfer, DiagnosticsStatusNotification, FirmwareStatusNotification). Every CSMS-initiated
request of ``ocpp.v16`` can be sent from Python through the dispatcher and from REST at
``POST /api/ocpp16/{command}/{chargepoint_id}/``.
"""

from __future__ import annotations

from aiohttp import web

from core.ocpp.protocol import OcppProtocol, StationContext
from core.plugins import hookimpl
from core.rest.routes import Route
from plugins.ocpp16.commands import command_routes
from plugins.ocpp16.session import SUBPROTOCOL, Ocpp16Session


def _open(ctx: StationContext) -> Ocpp16Session:
    return Ocpp16Session(ctx)


@hookimpl
def openv2x_ocpp_protocols(app: web.Application) -> list[OcppProtocol]:
    return [OcppProtocol(SUBPROTOCOL, "1.6", _open)]


@hookimpl
def openv2x_routes(app: web.Application) -> list[Route]:
    return command_routes()
