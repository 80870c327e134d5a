"""OCPI 2.2.1 CPO role: roaming with eMSPs, directly or through a roaming hub.

Served under ``/ocpi/cpo/`` by the core's OCPI transport (:mod:`core.ocpi`): the plugin
declares our CPO party (``[ocpi_cpo]``) and the modules it implements, and turns domain events
(station status, sessions, CDRs, tariffs) into pushes to the partners that receive them.
"""

from __future__ import annotations

import logging
from functools import partial

from aiohttp import web
from marshmallow import Schema

from core.events import Event
from core.journal import DurableSubscriber
from core.ocpi import SENDER, BusinessDetails, OcpiModule, OcpiPlatform, OwnRole, hubclientinfo
from core.plugins import hookimpl
from plugins.ocpi_cpo import (
    cdrs,
    chargingprofiles,
    commands,
    locations,
    push,
    sessions,
    tariffs,
    tokens,
)
from plugins.ocpi_cpo.config import CONFIG, CpoSettings, load

log = logging.getLogger(__name__)


@hookimpl
def openv2x_config_schema() -> type[Schema]:
    return CpoSettings


@hookimpl
def openv2x_ocpi_platforms(app: web.Application) -> list[OcpiPlatform]:
    config = app[CONFIG] = load(app)
    app[push.PARTNERS] = push.PartnerCache()
    role = OwnRole("CPO", config.party, BusinessDetails(config.name, config.website))
    modules = (OcpiModule("locations", SENDER, locations.routes()),
               sessions.module(), cdrs.module(), tariffs.module(), tokens.module(),
               commands.module(), hubclientinfo.module(), chargingprofiles.module())

    async def on_partner(change: str, partner_id: int) -> None:
        push.forget_partners(app)
        if change in ("registered", "updated"):
            await locations.sync_partner(app, partner_id)

    return [OcpiPlatform("cpo", (role,), modules, on_partner=on_partner)]


_LOCATION_CHANGES = frozenset({"location.created", "location.updated", "chargepoint.updated",
                               "chargepoint.created", "connector.updated", "evse.updated"})
# What partners must hear even across a crash. Meter samples are not journaled: the next sample
# or the session's end pushes the whole session again.
_DURABLE = frozenset({"connector.status_changed", *_LOCATION_CHANGES, "transaction.started",
                      "transaction.ended", "cdr.created", "tariff.changed",
                      chargingprofiles.SENT_EVENT, chargingprofiles.CLEARED_EVENT})


@hookimpl
def openv2x_durable_subscribers(app: web.Application) -> list[DurableSubscriber]:
    return [DurableSubscriber("ocpi_cpo", _DURABLE, partial(_tell_partners, app),
                              wanted=partial(push.may_have_partners, app))]


@hookimpl
async def openv2x_event(event: Event, app: web.Application) -> None:
    if event.name == "meter.sampled":
        await _tell_partners(app, event)


async def _tell_partners(app: web.Application, event: Event) -> None:
    """Everything done here is telling partners: with none registered, nothing to do."""
    if not await push.registered_partners(app):
        return
    data = event.data
    if event.name == "connector.status_changed":
        await locations.push_evse_status(app, data)
    elif event.name in _LOCATION_CHANGES:
        await _location_changed(app, event)
    for part in (sessions, cdrs, tariffs, chargingprofiles):
        await part.handle_event(app, event)


async def _location_changed(app: web.Application, event: Event) -> None:
    """An operator changed a location or something in it: PUT the whole location."""
    location_id = await locations.location_of(app, event.name.split(".")[0],
                                              event.data.get("id"))
    if location_id is not None:
        await locations.push_location(app, location_id)


@hookimpl
async def openv2x_startup(app: web.Application) -> None:
    await tokens.startup(app)
    await commands.startup(app)
    await chargingprofiles.startup(app)


@hookimpl
async def openv2x_shutdown(app: web.Application) -> None:
    await chargingprofiles.shutdown(app)
    await commands.shutdown(app)
    await tokens.shutdown(app)


@hookimpl
async def openv2x_authorize_token(app: web.Application, station_id: str, id_token: str,
                                  evse_number: int | None, ocpp_version: str) -> str | None:
    """Real-time authorization with the token's eMSP, for the tokens that need it."""
    return await tokens.realtime_decision(app, id_token, station_id, evse_number, ocpp_version)
