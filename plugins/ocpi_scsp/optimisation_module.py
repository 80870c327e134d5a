"""The SmartChargingOptimisation custom module (identifier ``smartChargingOptimisation``),
RECEIVER interface, as seed 003 §5.1.2.2 specifies it.

``GET/PUT/PATCH/DELETE {url}/{country_code}/{party_id}/{id}`` on client-owned SCOptimisation
objects: GET answers the object as stored, PUT creates or replaces it, PATCH replaces the
top-level fields it carries (it must carry ``last_updated``), DELETE removes it. Bad input is
answered 2001 and nothing is stored; an object of another party is HTTP 404. Every change is
followed by a recompute of that context (after the answer). Local contexts, over our own
EVSEs, are the operator's: requests naming one are HTTP 404 (:mod:`.local_contexts`).
"""

from __future__ import annotations

import datetime as dt

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from core import appkeys
from core.ocpi import (
    RECEIVER,
    OcpiModule,
    OcpiReply,
    OcpiRequest,
    OcpiRoute,
    Party,
    parse_datetime,
)
from core.ocpi.server import base_url
from core.ocpi.status import not_found
from plugins.ocpi_scsp import background, local_contexts, optimisation_object, optimiser
from plugins.ocpi_scsp.ownership import owner
from plugins.ocpi_scsp.tables import OptimisationContext

IDENTIFIER = "smartChargingOptimisation"


def _key(request: OcpiRequest) -> optimiser.ContextKey:
    party = owner(request)
    return party.country_code, party.party_id, request.params["id"]


def recompute_later(app: web.Application, key: optimiser.ContextKey, base: str) -> None:
    """Re-solve a changed context in the background (shared with the pull model)."""
    background.spawn(app, optimiser.recompute(app, key, base), f"scsp recompute {'*'.join(key)}")


def _recompute_later(request: OcpiRequest, key: optimiser.ContextKey) -> None:
    recompute_later(request.app, key, base_url(request.app, request.http))


async def _get(request: OcpiRequest) -> OcpiReply:
    key = _key(request)
    async with request.app[appkeys.DB].session() as session:
        row = await session.get(OptimisationContext, key)
    if row is None:
        raise not_found("unknown optimisation context")
    return OcpiReply(row.data)


def key_of(data: dict[str, object]) -> optimiser.ContextKey:
    return str(data["country_code"]), str(data["party_id"]), str(data["id"])


def _write(session: AsyncSession, row: OptimisationContext | None, data: dict[str, object],
           updated: dt.datetime) -> None:
    if row is None:
        key = key_of(data)
        session.add(OptimisationContext(country_code=key[0], party_id=key[1], id=key[2],
                                        data=data, last_updated=updated))
    else:
        row.data, row.last_updated = data, updated


async def store(app: web.Application, data: dict[str, object]) -> optimiser.ContextKey:
    """Create or replace a validated context (shared with the REST API)."""
    key = key_of(data)
    async with app[appkeys.DB].transaction() as work:
        row = await work.session.get(OptimisationContext, key)
        _write(work.session, row, data, parse_datetime(data["last_updated"], "last_updated"))
    return key


async def store_newer(app: web.Application, data: dict[str, object]) -> bool:
    """Store a validated context unless the one held is as recent; True when stored.

    A pulled list repeats objects we already hold; rewriting them (and re-solving) would be
    work for nothing, and an older copy must never replace a newer push.
    """
    updated = parse_datetime(data["last_updated"], "last_updated")
    async with app[appkeys.DB].transaction() as work:
        row = await work.session.get(OptimisationContext, key_of(data))
        if row is not None and row.last_updated >= updated:
            return False
        _write(work.session, row, data, updated)
    return True


async def _put(request: OcpiRequest) -> OcpiReply:
    key = _key(request)
    data = optimisation_object.validate_put(await request.json(), Party(key[0], key[1]), key[2])
    await store(request.app, data)
    _recompute_later(request, key)
    return OcpiReply()


async def _patch(request: OcpiRequest) -> OcpiReply:
    key = _key(request)
    body = await request.json()
    async with request.app[appkeys.DB].session() as session:
        row = await session.get(OptimisationContext, key)
        if row is None:
            raise not_found("unknown optimisation context")
        stored = dict(row.data)
    await store(request.app, optimisation_object.merge_patch(stored, body))
    _recompute_later(request, key)
    return OcpiReply()


async def _delete(request: OcpiRequest) -> OcpiReply:
    key = _key(request)
    async with request.app[appkeys.DB].transaction() as work:
        row = await work.session.get(OptimisationContext, key)
        if row is None:
            raise not_found("unknown optimisation context")
        await work.session.delete(row)
    _recompute_later(request, key)
    return OcpiReply()


def module() -> OcpiModule:
    pattern = "/{country_code}/{party_id}/{id}"
    mine = local_contexts.remote_only
    return OcpiModule(IDENTIFIER, RECEIVER, (
        OcpiRoute("GET", pattern, mine(_get)), OcpiRoute("PUT", pattern, mine(_put)),
        OcpiRoute("PATCH", pattern, mine(_patch)), OcpiRoute("DELETE", pattern, mine(_delete))))
