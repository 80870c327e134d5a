"""HubClientInfo module, RECEIVER: which parties behind a hub are reachable.

Every role we play can be connected to a hub, and a hub tells each platform it is registered
with about the parties behind it, so the receiver lives here and any platform lists
:func:`module` among its modules.

``{url}/{country_code}/{party_id}`` with GET and PUT of a ClientInfo (the hub owns the
objects; it never deletes one, it sends ``SUSPENDED``). Only a hub partner has ClientInfo to
give: another partner's PUT is refused (2001) and its GET finds nothing (404). The URL's party
must be the object's. It is a configuration module: requests carry no routing headers.

:func:`client_status` tells a platform whether a party is worth a push: a hub reports OFFLINE,
PLANNED or SUSPENDED parties, to whom requests cannot be delivered.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import appkeys
from core.db.models import OcpiClientInfo, OcpiPartner
from core.events import Event
from core.ocpi import status
from core.ocpi.fields import Field, validate
from core.ocpi.platform import RECEIVER, OcpiModule, OcpiRoute
from core.ocpi.server import OcpiReply, OcpiRequest
from core.ocpi.wire import Party, format_datetime, parse_datetime

MODULE = "hubclientinfo"
EVENT = "ocpi.client_info"
ROLES = ("CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP")
CONNECTION_STATUSES = ("CONNECTED", "OFFLINE", "PLANNED", "SUSPENDED")
CLIENT_INFO_FIELDS = {
    "party_id": Field("cistring", 3, 3, required=True),
    "country_code": Field("cistring", 2, 2, required=True),
    "role": Field("enum", choices=ROLES, required=True),
    "status": Field("enum", choices=CONNECTION_STATUSES, required=True),
    "last_updated": Field("datetime", required=True),
}


def to_ocpi(row: OcpiClientInfo) -> dict[str, str]:
    return {"party_id": row.party_id, "country_code": row.country_code, "role": row.role,
            "status": row.status, "last_updated": format_datetime(row.last_updated)}


def _path_party(request: OcpiRequest) -> Party:
    return Party.parse(request.params["country_code"], request.params["party_id"])


async def _find(session: AsyncSession, partner_id: int, party: Party
                ) -> OcpiClientInfo | None:
    query = select(OcpiClientInfo).where(OcpiClientInfo.partner_id == partner_id,
                                         OcpiClientInfo.country_code == party.country_code,
                                         OcpiClientInfo.party_id == party.party_id)
    return (await session.execute(query)).scalars().first()


async def get_client_info(request: OcpiRequest) -> OcpiReply:
    party = _path_party(request)
    if not request.partner.is_hub:
        raise status.not_found("ClientInfo objects come from hubs only")
    async with request.app[appkeys.DB].session() as session:
        row = await _find(session, request.partner.id, party)
    if row is None:
        raise status.not_found(f"no ClientInfo for {party}")
    return OcpiReply(to_ocpi(row))


async def put_client_info(request: OcpiRequest) -> OcpiReply:
    party = _path_party(request)
    partner = request.partner
    if not partner.is_hub:
        raise status.invalid("ClientInfo is accepted from a hub only")
    info = validate(await request.json(), CLIENT_INFO_FIELDS, "ClientInfo")
    if Party(info["country_code"], info["party_id"]) != party:
        raise status.invalid("the ClientInfo's party differs from the URL's")
    async with request.app[appkeys.DB].transaction() as work:
        row = await _find(work.session, partner.id, party)
        if row is None:
            row = OcpiClientInfo(partner_id=partner.id, country_code=party.country_code,
                                 party_id=party.party_id)
            work.session.add(row)
        row.role, row.status = info["role"], info["status"]
        row.last_updated = parse_datetime(info["last_updated"], "last_updated")
        work.emit(Event(EVENT, {
            "platform": partner.platform, "partner_id": partner.id,
            "country_code": party.country_code, "party_id": party.party_id,
            "role": row.role, "status": row.status}))
    return OcpiReply()


def module() -> OcpiModule:
    """The RECEIVER interface, for a platform's modules."""
    pattern = "/{country_code}/{party_id}"
    return OcpiModule(MODULE, RECEIVER, (OcpiRoute("GET", pattern, get_client_info),
                                         OcpiRoute("PUT", pattern, put_client_info)),
                      routed=False)


async def client_status(app: web.Application, platform: str, party: Party) -> str | None:
    """The connection status the hubs registered on ``platform`` last reported for ``party``
    (the most recent report wins), or None when no hub told us about it."""
    query = (select(OcpiClientInfo.status)
             .join(OcpiPartner, OcpiPartner.id == OcpiClientInfo.partner_id)
             .where(OcpiPartner.platform == platform, OcpiPartner.status == "registered",
                    OcpiClientInfo.country_code == party.country_code,
                    OcpiClientInfo.party_id == party.party_id)
             .order_by(OcpiClientInfo.last_updated.desc(), OcpiClientInfo.id.desc()))
    async with app[appkeys.DB].session() as session:
        found = await session.scalar(query.limit(1))
    return str(found) if found is not None else None


__all__ = ["CLIENT_INFO_FIELDS", "EVENT", "MODULE", "client_status", "module", "to_ocpi"]
