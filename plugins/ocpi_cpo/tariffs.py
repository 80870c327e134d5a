"""Tariffs module, SENDER: our tariffs as OCPI 2.2.1 Tariff objects.

Billing (:mod:`plugins.billing.api`) keeps every version of a tariff; partners see the current
one. Only tariffs of our CPO party are published: billing also holds eMSPs' retail tariffs,
which are theirs to publish, not ours. Tariffs are public to every partner (GET list) and a
change (``tariff.changed`` with a ``tariff_id``) is PUT to every tariffs RECEIVER, to a hub
addressed to the hub itself.
"""

from __future__ import annotations

import urllib.parse

from aiohttp import web

from core import appkeys
from core.events import Event
from core.ocpi import SENDER, OcpiModule, OcpiReply, OcpiRequest, OcpiRoute
from plugins.billing import api as billing
from plugins.ocpi_cpo import push
from plugins.ocpi_cpo.config import CONFIG

MODULE = "tariffs"


async def list_tariffs(request: OcpiRequest) -> OcpiReply:
    app = request.app
    page = request.page(app[appkeys.CONFIG]["ocpi"]["page_limit"])
    ours = app[CONFIG].party
    items, total = await billing.tariff_page(app, page.date_from, page.date_to, page.offset,
                                             page.limit,
                                             party=(ours.country_code, ours.party_id))
    return request.paged(items, total, page)


def routes() -> tuple[OcpiRoute, ...]:
    return (OcpiRoute("GET", "", list_tariffs),)


def module() -> OcpiModule:
    return OcpiModule(MODULE, SENDER, routes())


async def push_tariff(app: web.Application, tariff_id: str) -> None:
    """PUT the tariff's current version to every receiver, if it is ours."""
    tariff = await billing.tariff_by_id(app, tariff_id)
    ours = app[CONFIG].party
    if tariff is None or (str(tariff.get("country_code", "")).upper(),
                          str(tariff.get("party_id", "")).upper()) != (
            ours.country_code, ours.party_id):
        return
    path = (f"/{ours.country_code}/{ours.party_id}/"
            f"{urllib.parse.quote(tariff_id, safe='')}")
    await push.broadcast(app, MODULE, "PUT", path, tariff, f"tariff:{tariff_id}")


async def handle_event(app: web.Application, event: Event) -> None:
    if event.name == "tariff.changed" and isinstance(event.data.get("tariff_id"), str):
        await push_tariff(app, event.data["tariff_id"])


__all__ = ["MODULE", "handle_event", "module", "push_tariff"]
