"""Local contexts: optimisation contexts over our own EVSEs, which the engine steers directly.

An operator marks a context local through the REST API (``"local": true``). Its EVSEs must be
ours: each ``location_id``/``evse_uid`` names one of our locations and an EVSE of a station there
(the ids the CPO role publishes them under: the location's id and the EVSE's uid; compared
without regard to case, as OCPI compares them). An EVSE is in one local context at most, so one
schedule steers a transaction.

Partners never see the flag: an SCOptimisation object carrying ``local`` is refused over OCPI
(2001, an unknown field), and a local context is not theirs to read, replace or delete, so OCPI
requests naming one are answered as for an unknown object (HTTP 404); pulling a partner's
contexts never replaces nor deletes one either.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import appkeys
from core.db import Database
from core.db.models import ChargingStation, Evse
from core.ocpi import OcpiError, OcpiReply, OcpiRequest, Party
from core.ocpi.status import not_found
from plugins.ocpi_scsp.local_tables import LocalContext
from plugins.ocpi_scsp.optimisation_object import place
from plugins.ocpi_scsp.tables import OptimisationContext

ContextKey = tuple[str, str, str]
EvseKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Place:
    """An EVSE of a local context, spelt as the context lists it."""

    key: ContextKey
    location_id: str
    evse_uid: str


def places(key: ContextKey, data: dict[str, Any]) -> dict[EvseKey, Place]:
    """The EVSEs a context lists, by their case-folded ids."""
    return {place(e["location_id"], e["evse_uid"]): Place(key, e["location_id"], e["evse_uid"])
            for e in data["evses"]}


async def is_local(session: AsyncSession, key: ContextKey) -> bool:
    return await session.get(LocalContext, key) is not None


async def local_keys(db: Database) -> set[ContextKey]:
    async with db.session() as session:
        return {(cc, party, ident) for cc, party, ident in await session.execute(select(
            LocalContext.country_code, LocalContext.party_id, LocalContext.context_id))}


async def local_places(session: AsyncSession) -> dict[EvseKey, Place]:
    """Every EVSE of every local context."""
    rows = (await session.execute(select(OptimisationContext).join(
        LocalContext, (LocalContext.country_code == OptimisationContext.country_code)
        & (LocalContext.party_id == OptimisationContext.party_id)
        & (LocalContext.context_id == OptimisationContext.id)))).scalars().all()
    found: dict[EvseKey, Place] = {}
    for row in rows:
        found.update(places((row.country_code, row.party_id, row.id), row.data))
    return found


async def mark(db: Database, key: ContextKey, local: bool) -> None:
    """Make a context local, or not."""
    async with db.transaction() as work:
        row = await work.session.get(LocalContext, key)
        if local and row is None:
            work.session.add(LocalContext(country_code=key[0], party_id=key[1],
                                          context_id=key[2]))
        elif not local and row is not None:
            await work.session.execute(delete(LocalContext).where(
                LocalContext.country_code == key[0], LocalContext.party_id == key[1],
                LocalContext.context_id == key[2]))


async def refusal(db: Database, key: ContextKey, data: dict[str, Any]) -> str | None:
    """Why ``data`` cannot be the local context ``key`` (None when it can)."""
    wanted = places(key, data)
    async with db.session() as session:
        ours = {(location_id, uid) for location_id, uid in await session.execute(
            select(func.upper(ChargingStation.location_id), func.upper(Evse.uid))
            .join(ChargingStation, ChargingStation.id == Evse.station_id)
            .where(func.upper(Evse.uid).in_([uid for _, uid in wanted])))}
        taken = await local_places(session)
    unknown = [f"{p.location_id}/{p.evse_uid}" for folded, p in wanted.items()
               if folded not in ours]
    if unknown:
        return f"not our EVSEs: {', '.join(sorted(unknown))}"
    shared = [f"{p.location_id}/{p.evse_uid} ({'*'.join(taken[folded].key)})"
              for folded, p in wanted.items() if folded in taken and taken[folded].key != key]
    if shared:
        return f"EVSEs already in another local context: {', '.join(sorted(shared))}"
    return None


OcpiHandler = Callable[[OcpiRequest], Awaitable[OcpiReply]]


def remote_only(handler: OcpiHandler) -> OcpiHandler:
    """An OCPI handler on ``/{country_code}/{party_id}/{id}`` that local contexts stay out of."""
    async def guarded(request: OcpiRequest) -> OcpiReply:
        try:
            party = Party.parse(request.params.get("country_code"),
                                request.params.get("party_id"))
        except OcpiError:
            return await handler(request)  # the handler answers a malformed owner itself
        async with request.app[appkeys.DB].session() as session:
            local = await is_local(session, (party.country_code, party.party_id,
                                             request.params["id"]))
        if local:
            raise not_found("unknown optimisation context")
        return await handler(request)

    return guarded


__all__ = ["Place", "is_local", "local_keys", "local_places", "mark", "places", "refusal",
           "remote_only"]
