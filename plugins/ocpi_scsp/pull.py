"""The pull model of SmartChargingOptimisation (seed 003 §5.1.1.2 and §5.1.2.1): reading the
contexts a CPO serves on its own SENDER interface, for CPOs that offer them rather than push.

A partner of our SCSP platform (a CPO, directly or through a hub) that lists a
``smartChargingOptimisation`` SENDER is pulled in full as soon as it registers or updates its
credentials, then every ``pull_interval`` seconds: the objects changed since the start of the
previous successful pull (``date_from``), and all of them once ``pull_full_interval`` seconds
passed since the last full pull. A full answer is the whole truth ("any older information that
is not specified in the response is considered no longer valid"), so the partner's contexts it
no longer lists are deleted.

Each object is validated as a PUT to our RECEIVER is, stored when it is newer than the copy we
hold, and its context re-solved. An invalid object, or one of a party the partner cannot speak
for, is skipped and logged; a partner that is down is tried again at the next interval. When
each partner was last pulled is kept in memory, so the first pull after a restart is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy import delete, select

from core import appkeys
from core.db.models import OcpiPartner
from core.db.types import utcnow
from core.ocpi import (
    CLIENT,
    SENDER,
    OcpiClientError,
    OcpiError,
    Partner,
    Party,
    format_datetime,
)
from core.ocpi.partners import HUB
from core.ocpi.server import base_url
from plugins.ocpi_scsp import (
    background,
    local_contexts,
    optimisation_module,
    optimisation_object,
    optimiser,
)
from plugins.ocpi_scsp.config import CONFIG
from plugins.ocpi_scsp.optimisation_module import IDENTIFIER
from plugins.ocpi_scsp.optimiser import ContextKey
from plugins.ocpi_scsp.tables import OptimisationContext

log = logging.getLogger(__name__)

PLATFORM = "scsp"


@dataclass
class PartnerPulls:
    """What we know of pulling one partner; the lock keeps two pulls of it from interleaving."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Start of the last successful pull (the next incremental pull's ``date_from``).
    since: dt.datetime | None = None
    last_full: dt.datetime | None = None
    #: Parties a hub answered for: whose contexts its full answers cover.
    parties: set[Party] = field(default_factory=set)


class Pulls(dict[int, PartnerPulls]):
    """Pull state per partner id (a named type, so the app key is precise)."""


PULLS: web.AppKey[Pulls] = web.AppKey("ocpi_scsp_pulls", Pulls)
LOOP: web.AppKey[asyncio.Task[None]] = web.AppKey("ocpi_scsp_pull_loop")


@dataclass(frozen=True)
class PullReport:
    """What one pull changed: contexts stored (newer than ours), left as they were, skipped
    (invalid, or of a party the partner cannot speak for) and deleted (full pulls only)."""

    partner_id: int
    full: bool
    stored: tuple[ContextKey, ...]
    unchanged: int
    skipped: int
    deleted: tuple[ContextKey, ...]


def _serves_sender(partner: Partner) -> bool:
    return partner.token is not None and partner.endpoint(IDENTIFIER, SENDER) is not None


async def senders(app: web.Application) -> list[Partner]:
    """Registered partners of our SCSP platform that serve a SmartChargingOptimisation SENDER."""
    cipher = app[appkeys.CIPHER]
    async with app[appkeys.DB].session() as session:
        rows = (await session.execute(select(OcpiPartner).where(
            OcpiPartner.platform == PLATFORM, OcpiPartner.status == "registered"))).scalars()
        partners = [Partner.from_row(row, cipher) for row in rows]
    return [partner for partner in partners if _serves_sender(partner)]


async def _sender(app: web.Application, partner_id: int) -> Partner | None:
    return next((p for p in await senders(app) if p.id == partner_id), None)


def _addressees(partner: Partner) -> list[Party]:
    """Whom a GET is addressed to: a hub itself (a GET All through the hub), else each CPO
    party the partner registered (every party when it registered none as CPO)."""
    if partner.is_hub:
        return sorted(partner.parties_in_role(HUB))
    return sorted(partner.parties_in_role("CPO") or partner.parties)


async def _fetch(app: web.Application, partner: Partner, params: dict[str, str]) -> list[Any]:
    """Every page of the partner's answer (the client follows ``Link`` with a page cap)."""
    url, token = partner.endpoint(IDENTIFIER, SENDER), partner.token
    assert url is not None and token is not None
    items: list[Any] = []
    for party in _addressees(partner):
        items += await app[CLIENT].get_all(url, token, raw=partner.raw_tokens, params=params,
                                           to_party=party, from_party=app[CONFIG].party)
    return items


def _describe(raw: object) -> str:
    if isinstance(raw, dict):
        return "*".join(str(raw.get(name)) for name in ("country_code", "party_id", "id"))
    return type(raw).__name__


def _listed_key(raw: object) -> ContextKey | None:
    """The context an object names, valid or not: a context still listed is not deleted even
    when its new version cannot be taken (the copy we hold stays)."""
    if not isinstance(raw, dict):
        return None
    country_code, party_id, object_id = raw.get("country_code"), raw.get("party_id"), raw.get("id")
    if not isinstance(country_code, str) or not isinstance(party_id, str) or object_id is None:
        return None
    return country_code.upper(), party_id.upper(), str(object_id)


def _accepted(partner: Partner, raw: object) -> dict[str, Any] | None:
    """The object validated as a PUT to our RECEIVER is, or None (logged) when it is invalid
    or owned by a party the partner cannot speak for (a hub speaks for the parties behind it)."""
    try:
        data = optimisation_object.validate(raw)
    except OcpiError as exc:
        log.warning("partner %s: SmartChargingOptimisation %s skipped: %s", partner.id,
                    _describe(raw), exc.message)
        return None
    owner = Party(data["country_code"], data["party_id"])
    if not partner.is_hub and owner not in partner.parties:
        log.warning("partner %s: SmartChargingOptimisation %s skipped: %s is not its party",
                    partner.id, _describe(raw), owner)
        return None
    return data


async def _delete_unlisted(app: web.Application, scope: set[Party], listed: set[ContextKey],
                           started: dt.datetime) -> tuple[ContextKey, ...]:
    """Delete the contexts of ``scope`` a full answer did not list. One updated after the pull
    started may have been pushed meanwhile, after the partner wrote its answer: it stays."""
    async with app[appkeys.DB].transaction() as work:
        rows = (await work.session.execute(select(
            OptimisationContext.country_code, OptimisationContext.party_id,
            OptimisationContext.id).where(OptimisationContext.last_updated < started))).all()
        gone = tuple((cc, pid, oid) for cc, pid, oid in rows
                     if Party(cc, pid) in scope and (cc, pid, oid) not in listed)
        for cc, pid, oid in gone:
            await work.session.execute(delete(OptimisationContext).where(
                OptimisationContext.country_code == cc, OptimisationContext.party_id == pid,
                OptimisationContext.id == oid))
    return gone


async def _apply(app: web.Application, partner: Partner, state: PartnerPulls, items: list[Any],
                 *, full: bool, started: dt.datetime) -> PullReport:
    """Store what is new, delete what a full answer dropped, re-solve every context touched."""
    stored: list[ContextKey] = []
    unchanged = skipped = 0
    listed = {key for raw in items if (key := _listed_key(raw)) is not None}
    # Local contexts are the operator's: a partner's object never replaces nor removes one.
    local = await local_contexts.local_keys(app[appkeys.DB])
    for raw in items:
        data = _accepted(partner, raw)
        if data is None or optimisation_module.key_of(data) in local:
            skipped += 1
            continue
        state.parties.add(Party(data["country_code"], data["party_id"]))
        if await optimisation_module.store_newer(app, data):
            stored.append(optimisation_module.key_of(data))
        else:
            unchanged += 1
    deleted: tuple[ContextKey, ...] = ()
    if full:
        scope = state.parties if partner.is_hub else set(partner.parties)
        deleted = await _delete_unlisted(app, scope, listed | local, started)
    base = app[optimiser.ADDRESS].base or base_url(app)
    for key in (*stored, *deleted):
        optimisation_module.recompute_later(app, key, base)
    return PullReport(partner.id, full, tuple(stored), unchanged, skipped, deleted)


def _full_due(app: web.Application, state: PartnerPulls, now: dt.datetime) -> bool:
    every = dt.timedelta(seconds=app[CONFIG].pull_full_interval)
    return state.since is None or state.last_full is None or now - state.last_full >= every


async def pull_partner(app: web.Application, partner: Partner, *, full: bool | None = None
                       ) -> PullReport | None:
    """Pull one partner now: in full when ``full`` says so or one is due, else what changed
    since the previous successful pull. None when the partner could not be read (logged; the
    next interval tries again, from the same ``date_from``)."""
    state = app[PULLS].setdefault(partner.id, PartnerPulls())
    async with state.lock:
        started = utcnow()
        full = _full_due(app, state, started) if full is None else full
        params = {"date_from": format_datetime(state.since)} if state.since and not full else {}
        try:
            items = await _fetch(app, partner, params)
        except OcpiClientError as exc:
            log.warning("partner %s: pulling SmartChargingOptimisation failed, next try in %s s:"
                        " %s", partner.id, app[CONFIG].pull_interval, exc)
            return None
        report = await _apply(app, partner, state, items, full=full, started=started)
        state.since = started
        if full:
            state.last_full = started
    log.info("partner %s: %s pull of SmartChargingOptimisation: %d stored, %d unchanged, "
             "%d skipped, %d deleted", partner.id, "full" if full else "incremental",
             len(report.stored), report.unchanged, report.skipped, len(report.deleted))
    return report


async def _pull_logged(app: web.Application, partner: Partner) -> PullReport | None:
    """A pull that fails for a reason of ours is logged: the other partners' pulls go on."""
    try:
        return await pull_partner(app, partner)
    except Exception:
        log.exception("partner %s: pulling SmartChargingOptimisation failed", partner.id)
        return None


async def pull_all(app: web.Application) -> list[PullReport | None]:
    """One round: every partner serving a SENDER, side by side, so a slow one delays no one."""
    partners = await senders(app)
    return list(await asyncio.gather(*(_pull_logged(app, p) for p in partners)))


def on_partner(app: web.Application) -> Callable[[str, int], Awaitable[None]]:
    """The platform's partner callback: a partner that registers or updates its credentials
    is pulled in full at once, in the background so its handshake is not held up; one that
    leaves is forgotten."""

    async def changed(change: str, partner_id: int) -> None:
        if change == "unregistered":
            app[PULLS].pop(partner_id, None)
            return
        partner = await _sender(app, partner_id)
        if partner is not None:
            background.spawn(app, pull_partner(app, partner, full=True),
                             f"scsp pull partner {partner_id}")

    return changed


async def _run(app: web.Application) -> None:
    """Pull at once (after a restart the first pull is a full one), then every interval."""
    while True:
        try:
            await pull_all(app)
        except Exception:
            log.exception("pulling SmartChargingOptimisation senders failed")
        await asyncio.sleep(app[CONFIG].pull_interval)


def start(app: web.Application) -> None:
    app[LOOP] = asyncio.create_task(_run(app), name="ocpi-scsp-pull")


async def stop(app: web.Application) -> None:
    task = app.get(LOOP)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
