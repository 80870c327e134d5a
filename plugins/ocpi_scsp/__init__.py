"""OCPI 2.2.1 Smart Charging Service Provider (SCSP) role and its optimal (dis)charging engine.

Served under ``/ocpi/scsp/`` by the core's OCPI transport (:mod:`core.ocpi`), as our SCSP
party of ``[ocpi_scsp]``. CPOs (directly or through a hub) push optimisation contexts with the
custom module ``smartChargingOptimisation`` (seed 003 §5.1) and their Sessions, and drivers'
charging preferences arrive on our Sessions SENDER. Hubs report the parties behind them to the
core's HubClientInfo RECEIVER (:mod:`core.ocpi.hubclientinfo`). On every change the context is
solved again by :mod:`plugins.ocpi_scsp.engine` over ``slots`` slots of ``slot_minutes``
minutes (and again at every slot boundary); the latest result is kept, and every session's
schedule goes to its CPO as an OCPI SetChargingProfile (cleared when the session ends).
Operators manage contexts, post dynamic inputs (forecasts, prices, DSO flexibility orders,
capacity limits) and read results through ``/api/scsp/``.
CPOs that serve their contexts on a SENDER interface instead are pulled (:mod:`.pull`).
"""

from __future__ import annotations

from aiohttp import web
from marshmallow import Schema

from core.events import Event
from core.ocpi import BusinessDetails, OcpiPlatform, OwnRole, hubclientinfo
from core.plugins import hookimpl
from core.rbac import Grant
from core.rest.routes import Route
from plugins.ocpi_scsp import (
    background,
    charging_profiles,
    local_sessions,
    optimisation_module,
    pull,
    rest,
    rest_profiles,
    sessions,
    slot_ticker,
)
from plugins.ocpi_scsp.config import CONFIG, ScspSettings, load
from plugins.ocpi_scsp.optimiser import ADDRESS, LOCKS, OwnAddress


@hookimpl
def openv2x_config_schema() -> type[Schema]:
    return ScspSettings


@hookimpl
def openv2x_ocpi_platforms(app: web.Application) -> list[OcpiPlatform]:
    config = app[CONFIG] = load(app)
    app[LOCKS] = {}
    app[ADDRESS] = OwnAddress()
    app[background.TASKS] = background.Tasks()
    app[pull.PULLS] = pull.Pulls()
    app[local_sessions.FOLLOWED] = set()
    role = OwnRole("SCSP", config.party, BusinessDetails(config.name, config.website))
    modules = (optimisation_module.module(), *sessions.modules(), charging_profiles.module(),
               hubclientinfo.module())
    return [OcpiPlatform(pull.PLATFORM, (role,), modules, on_partner=pull.on_partner(app))]


@hookimpl
def openv2x_routes(app: web.Application) -> list[Route]:
    return [*rest.routes(), *rest_profiles.routes()]


@hookimpl
def openv2x_permissions() -> list[Grant]:
    grants = [Grant(role, rest.READ) for role in ("cpo_manager", "support_l1", "support_l2")]
    return [*grants, Grant("cpo_manager", rest.WRITE)]


@hookimpl
async def openv2x_event(event: Event, app: web.Application) -> None:
    """Local contexts follow our own transactions (:mod:`.local_sessions`)."""
    await local_sessions.handle_event(app, event)


@hookimpl
async def openv2x_startup(app: web.Application) -> None:
    await local_sessions.load_followed(app)
    slot_ticker.start(app)
    pull.start(app)


@hookimpl
async def openv2x_shutdown(app: web.Application) -> None:
    await pull.stop(app)
    await slot_ticker.stop(app)
    if background.TASKS in app:
        await background.cancel_all(app)
