"""Fan-out of our changes to the partners that receive them, through the core's outbox.

A direct partner gets what concerns it; a hub gets it addressed (``OCPI-to-*``) to the party
it concerns, or to the hub itself for a broadcast (locations, tariffs). Sessions and CDRs go
only to the eMSP that owns the session's token (directly or behind a hub).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy import select

from core import appkeys
from core.db import Work
from core.db.models import OcpiOutbox, OcpiPartner
from core.ocpi import OUTBOX, Partner, Party, enqueue
from core.ocpi.partners import HUB
from plugins.ocpi_cpo.config import CONFIG

PLATFORM = "cpo"
# Partners change rarely, domain events arrive by the thousand per second: the registry is
# read at most this often (seconds), and at once after a registration this process handled.
PARTNERS_TTL = 2.0


@dataclass
class PartnerCache:
    partners: list[Partner] = field(default_factory=list)
    read_at: float = -math.inf


PARTNERS: web.AppKey[PartnerCache] = web.AppKey("ocpi_cpo_partners", PartnerCache)


def forget_partners(app: web.Application) -> None:
    """A partner registered, updated or unregistered here: read the registry again."""
    app[PARTNERS].read_at = -math.inf


def may_have_partners(app: web.Application) -> bool:
    """Without a database read: False only when the registry, read less than
    ``PARTNERS_TTL`` ago, was empty (then no event needs journaling)."""
    cache = app[PARTNERS]
    return bool(cache.partners) or time.monotonic() - cache.read_at >= PARTNERS_TTL


async def registered_partners(app: web.Application) -> list[Partner]:
    cache = app[PARTNERS]
    if time.monotonic() - cache.read_at < PARTNERS_TTL:
        return cache.partners
    cipher = app[appkeys.CIPHER]
    async with app[appkeys.DB].session() as session:
        rows = (await session.execute(select(OcpiPartner).where(
            OcpiPartner.platform == PLATFORM, OcpiPartner.status == "registered")
            .order_by(OcpiPartner.id))).scalars().all()
        cache.partners = [Partner.from_row(row, cipher) for row in rows]
    cache.read_at = time.monotonic()
    return cache.partners


async def receivers(app: web.Application, module: str) -> list[Partner]:
    """Registered partners of our CPO platform that list a RECEIVER for ``module``."""
    return [p for p in await registered_partners(app)
            if p.endpoint(module, "RECEIVER") is not None]


def broadcast_target(partner: Partner) -> Party | None:
    """Who a broadcast is addressed to: the hub itself, or the partner's single party."""
    hub = sorted(partner.parties_in_role(HUB))
    if hub:
        return hub[0]
    parties = sorted(partner.parties)
    return parties[0] if parties else None


def owner_route(partner: Partner, owner: Party) -> Party | None:
    """The ``OCPI-to`` party for an object owned by ``owner``'s eMSP, or None when this
    partner does not lead to that eMSP."""
    if owner in partner.parties:
        return owner
    if partner.is_hub:
        return owner
    return None


async def send(app: web.Application, targets: list[tuple[Partner, Party | None]], module: str,
               method: str, path: str, body: Any, object_key: str, *, once: bool = False) -> None:
    """Queue one push per target and wake the delivery loops.

    ``once``: skip a partner that already has a push of ``object_key`` queued or sent, for a
    POST that must not be repeated when a journaled event is handed over again after a crash.
    """
    if not targets:
        return
    ours = app[CONFIG].party

    async def job(work: Work) -> None:
        for partner, to_party in targets:
            if once and await _already_queued(work, partner.id, module, object_key):
                continue
            enqueue(work, partner.id, module, method, path, body, to_party=to_party,
                    from_party=ours, object_key=object_key)

    await app[appkeys.DB].write(job)
    for partner, _ in targets:
        app[OUTBOX].wake(partner.id)


async def _already_queued(work: Work, partner_id: int, module: str, object_key: str) -> bool:
    found = await work.session.scalar(select(OcpiOutbox.id).where(
        OcpiOutbox.partner_id == partner_id, OcpiOutbox.module == module,
        OcpiOutbox.object_key == object_key).limit(1))
    return found is not None


async def broadcast(app: web.Application, module: str, method: str, path: str, body: Any,
                    object_key: str) -> None:
    partners = await receivers(app, module)
    await send(app, [(p, broadcast_target(p)) for p in partners], module, method, path, body,
               object_key)


async def to_owner(app: web.Application, module: str, owner: Party, method: str, path: str,
                   body: Any, object_key: str, *, once: bool = False) -> None:
    partners = await receivers(app, module)
    direct = [(p, owner) for p in partners if owner in p.parties]
    targets = direct or [(p, owner) for p in partners if p.is_hub]
    await send(app, targets, module, method, path, body, object_key, once=once)


