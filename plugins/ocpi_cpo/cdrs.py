"""CDRs module, SENDER: the CDRs billing issues, as OCPI 2.2.1 CDR objects.

Billing (:mod:`plugins.billing.api`) owns the CDRs; this module only serves and sends them.
A CDR goes to the eMSP that issued the session's token, named by its ``cdr_token``
(``country_code``/``party_id``), directly or through a hub; CDRs of our own tokens stay here.
A CDR is sent even when the session's location is not published: it carries its own
``cdr_location``. Credit CDRs (a corrected session) are sent like any other.

The GET list shows a partner only the CDRs of its own parties' tokens (see
:func:`plugins.ocpi_cpo.sessions.audience`), ordered by ``last_updated``.
"""

from __future__ import annotations

import logging

from aiohttp import web

from core import appkeys
from core.events import Event
from core.ocpi import SENDER, OcpiError, OcpiModule, OcpiReply, OcpiRequest, OcpiRoute, Party
from plugins.billing import api as billing
from plugins.ocpi_cpo import push
from plugins.ocpi_cpo.config import CONFIG
from plugins.ocpi_cpo.sessions import audience

log = logging.getLogger(__name__)

MODULE = "cdrs"


async def list_cdrs(request: OcpiRequest) -> OcpiReply:
    app = request.app
    page = request.page(app[appkeys.CONFIG]["ocpi"]["page_limit"])
    ours = app[CONFIG].party
    owners = audience(request)
    items, total = await billing.cdr_page(
        app, page.date_from, page.date_to, page.offset, page.limit,
        owners=None if owners is None else [(p.country_code, p.party_id) for p in owners],
        exclude_owner=(ours.country_code, ours.party_id) if owners is None else None)
    return request.paged(items, total, page)


def routes() -> tuple[OcpiRoute, ...]:
    return (OcpiRoute("GET", "", list_cdrs),)


def module() -> OcpiModule:
    return OcpiModule(MODULE, SENDER, routes())


def cdr_owner(cdr: dict[str, object], ours: Party) -> Party | None:
    """The eMSP a CDR is for; None for our own tokens or a token without a valid party."""
    token = cdr.get("cdr_token")
    if not isinstance(token, dict):
        return None
    try:
        owner = Party.parse(token.get("country_code"), token.get("party_id"))
    except OcpiError:
        return None
    return None if owner == ours else owner


async def push_cdr(app: web.Application, cdr_id: str) -> None:
    """POST a new CDR to its eMSP's cdrs RECEIVER."""
    cdr = await billing.cdr_by_id(app, cdr_id)
    if cdr is None:
        log.warning("CDR %s announced but not found: not sent", cdr_id)
        return
    owner = cdr_owner(cdr, app[CONFIG].party)
    if owner is not None:
        await push.to_owner(app, MODULE, owner, "POST", "", cdr, f"cdr:{cdr_id}", once=True)


async def handle_event(app: web.Application, event: Event) -> None:
    if event.name == "cdr.created" and isinstance(event.data.get("id"), str):
        await push_cdr(app, event.data["id"])


__all__ = ["MODULE", "cdr_owner", "handle_event", "module", "push_cdr"]
