"""Billing: OCPI 2.2.1 tariffs, exact session costs, CDRs and their exports.

Tariffs are kept as versioned OCPI Tariff objects (``/api/tariff/``, ``/api/tariffelement/``)
and assigned to connectors, stations, locations, regions or the whole network, per power type
and driver group, wholesale or as an eMSP's retail price (``/api/tariffassignment/``);
operators and DSOs adjust prices for an area and a time window (``/api/priceadjustment/``).
The engine (:mod:`plugins.billing.engine`) prices sessions from their meter values and
charging states; the same computation gives the live estimate, OCPP 2.x CostUpdated and the
CDR issued when a session ends (``/api/cdr/``, exports as CSV, XLSX and JSON).

Everything here reacts to the domain events the OCPP plugins publish, so OCPP 1.6, 2.0.1
and 2.1 sessions are billed alike. Other plugins price a session through
:func:`plugins.billing.pricing.price`.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from marshmallow import Schema

from core.events import Event
from core.plugins import hookimpl
from core.rbac import Grant
from core.rest.routes import Route
from plugins.billing import rest_estimates, rest_tariffs
from plugins.billing.config import BillingSettings
from plugins.billing.cost_updates import CostUpdates
from plugins.billing.handlers import CDR_CONCURRENCY, CDR_TURNS, COST_UPDATES, handle
from plugins.billing.rest_cdrs import CdrResource
from plugins.billing.rest_pricing import PriceAdjustmentResource, TariffAssignmentResource

_READERS = ("billing_manager", "cdr_manager", "cpo_manager", "emsp_manager", "support_l1",
            "support_l2")


@hookimpl
def openv2x_config_schema() -> type[Schema]:
    return BillingSettings


@hookimpl
def openv2x_routes(app: web.Application) -> list[Route]:
    return [*rest_estimates.routes(), *rest_tariffs.routes(),
            *TariffAssignmentResource().routes(), *PriceAdjustmentResource().routes(),
            *CdrResource().routes()]


@hookimpl
def openv2x_permissions() -> list[Grant]:
    grants = [Grant(role, "tariff:read") for role in (*_READERS, "driver")]
    grants += [Grant("billing_manager", perm) for perm in (
        "tariff:write", "tariff:delete", "tariffassignment:write", "tariffassignment:delete",
        "priceadjustment:write", "priceadjustment:delete")]
    grants += [Grant(role, "tariffassignment:read") for role in _READERS]
    grants += [Grant(role, "priceadjustment:read") for role in _READERS]
    grants += [Grant("cpo_manager", perm) for perm in ("priceadjustment:write",
                                                       "priceadjustment:delete")]
    grants += [Grant(role, "cdr:read") for role in ("billing_manager", "cdr_manager",
                                                    "emsp_manager", "support_l1",
                                                    "support_l2")]
    grants += [Grant("cdr_manager", "cdr:delete"), Grant("driver", "cdr:read", "own")]
    return grants


@hookimpl
def openv2x_startup(app: web.Application) -> None:
    app[COST_UPDATES] = CostUpdates(app)
    app[CDR_TURNS] = asyncio.Semaphore(CDR_CONCURRENCY)


@hookimpl
async def openv2x_shutdown(app: web.Application) -> None:
    await app[COST_UPDATES].close()


@hookimpl
async def openv2x_event(event: Event, app: web.Application) -> None:
    await handle(event, app)
