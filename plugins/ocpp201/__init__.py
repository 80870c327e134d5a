"""OCPP 2.0.1 and 2.1 central system (V2X, Plug & Charge).

Serves the ``ocpp2.0.1`` and ``ocpp2.1`` subprotocols on ``/ocpp/{station_id}`` (the core's
endpoint: admission, Security Profiles 1-3, frame guards). Station messages are handled by one
mixin per functional block (:mod:`plugins.ocpp201.session`) and land in the version-neutral
domain model, plus the 2.x-only tables of :mod:`plugins.ocpp201.models`. CSMS requests go out
through the dispatcher and ``POST /api/ocpp201/{command}/{chargepoint_id}/``.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from marshmallow import Schema

from core.ocpp.protocol import OcppProtocol, StationContext
from core.plugins import hookimpl
from core.rbac import Grant
from core.rest.routes import Route
from plugins.ocpp201 import (
    authorization,
    certificates,
    maintenance,
    models,  # noqa: F401  # declares the plugin's tables
    provisioning,
    smart_charging,
    transactions,
    v2x,
)
from plugins.ocpp201.commands import command_routes
from plugins.ocpp201.config import Ocpp201Settings
from plugins.ocpp201.session import Ocpp21Session, Ocpp201Session

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _open_201(ctx: StationContext) -> Ocpp201Session:
    return Ocpp201Session(ctx)


def _open_21(ctx: StationContext) -> Ocpp21Session:
    return Ocpp21Session(ctx)


@hookimpl
def openv2x_ocpp_protocols(app: web.Application) -> list[OcppProtocol]:
    return [OcppProtocol("ocpp2.0.1", "2.0.1", _open_201), OcppProtocol("ocpp2.1", "2.1", _open_21)]


@hookimpl
def openv2x_routes(app: web.Application) -> list[Route]:
    blocks = (provisioning, authorization, transactions, maintenance, smart_charging,
              certificates, v2x)
    return [*command_routes(), *(route for block in blocks for route in block.routes())]


@hookimpl
def openv2x_config_schema() -> type[Schema]:
    return Ocpp201Settings


@hookimpl
def openv2x_permissions() -> list[Grant]:
    readers = ("cpo_manager", "support_l1", "support_l2", "vendor")
    return [*(Grant(role, "ocpp201:read") for role in readers),
            *(Grant(role, "ocpp201:customer_read") for role in ("cpo_manager", "support_l2"))]


@hookimpl
def openv2x_migrations() -> str:
    return str(MIGRATIONS)
