"""Tokens module, RECEIVER: the eMSPs' tokens, and real-time authorization at their eMSP.

``{url}/{country_code}/{party_id}/{token_uid}[?type=…]`` with GET, PUT (a full Token) and
PATCH (some fields plus ``last_updated``). Tokens are Client Owned Objects: only the owning
party may touch its own (the path's party is the request's sender, or the partner is a hub
routing for it); anything else is answered 404, as for an object the caller cannot see.
Party codes are accepted in either case and stored upper case.

Every stored token is mirrored into the core ``id_token`` row with the same uid, so the OCPP
plugins authorize it like any other token: ``valid`` gives ``Accepted`` (``Blocked`` when not),
except ``whitelist = NEVER``: such a token must be authorized by its eMSP in real time, so it
is ``Invalid`` locally. A token that arrived in a START_SESSION or RESERVE_NOW was authorized
by its eMSP already; it is ``Accepted`` for :data:`COMMAND_GRANT` (the specification's 15
minutes without real-time authorization), then returns to its own status. A uid already used by
another party (or by one of our own drivers' tokens) is refused: the station only sees the uid,
so two owners would make authorization and billing ambiguous.

Real-time authorization (:func:`authorize_realtime`) asks the token's eMSP — the partner that
registered that party, else a hub addressed to it — within ``authorization_timeout``; when it
cannot be reached ``authorization_fallback`` decides (a token with ``ALLOWED_OFFLINE`` or a
valid whitelistable one is allowed offline, as its whitelist type says).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import appkeys, stations
from core.db import Work
from core.db.models import ChargingStation, Evse, IdToken, OcpiPartner
from core.db.types import utcnow
from core.events import Event
from core.ocpi import (
    CLIENT,
    RECEIVER,
    OcpiClientError,
    OcpiModule,
    OcpiReply,
    OcpiRequest,
    OcpiRoute,
    Partner,
    Party,
    parse_datetime,
    status,
)
from core.ocpi.fields import Field, check_value, validate
from core.ocpi.status import OcpiError
from plugins.ocpi_cpo.config import CONFIG
from plugins.ocpi_cpo.push import PLATFORM, broadcast_target
from plugins.ocpi_cpo.receiver_models import OcpiToken

log = logging.getLogger(__name__)

MODULE = "tokens"
TOKEN_TYPES = ("AD_HOC_USER", "APP_USER", "OTHER", "RFID")
WHITELIST_TYPES = ("ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER")
PROFILE_TYPES = ("CHEAP", "FAST", "GREEN", "REGULAR")
ALLOWED_TYPES = ("ALLOWED", "BLOCKED", "EXPIRED", "NO_CREDIT", "NOT_ALLOWED")
# OCPI TokenType → OCPP IdTokenType (2.x names; 1.6 has no types).
OCPP_TOKEN_TYPES = {"RFID": "ISO14443", "APP_USER": "Central", "AD_HOC_USER": "Central",
                    "OTHER": "Central"}
# AuthorizationInfo.allowed → OCPP authorization status, by OCPP generation.
OCPP16_STATUS = {"ALLOWED": "Accepted", "BLOCKED": "Blocked", "EXPIRED": "Expired",
                 "NO_CREDIT": "Invalid", "NOT_ALLOWED": "Invalid"}
OCPP2_STATUS = {"ALLOWED": "Accepted", "BLOCKED": "Blocked", "EXPIRED": "Expired",
                "NO_CREDIT": "NoCredit", "NOT_ALLOWED": "NotAtThisLocation"}
COMMAND_GRANT = dt.timedelta(minutes=15)
GRANT_SWEEP_SECONDS = 60.0
# OCPP 1.6 carries a parent id tag of at most 20 characters; a longer group id stays OCPI-only.
OCPP16_ID_LENGTH = 20


# ---- validation of OCPI objects ----------------------------------------------------------


ENERGY_CONTRACT = {"supplier_name": Field("string", 64, required=True),
                   "contract_id": Field("string", 64)}
TOKEN_FIELDS: dict[str, Field] = {
    "country_code": Field("cistring", 2, 2, required=True),
    "party_id": Field("cistring", 3, 3, required=True),
    "uid": Field("cistring", 36, 1, required=True),
    "type": Field("enum", choices=TOKEN_TYPES, required=True),
    "contract_id": Field("cistring", 36, 1, required=True),
    "visual_number": Field("string", 64),
    "issuer": Field("string", 64, required=True),
    "group_id": Field("cistring", 36),
    "valid": Field("bool", required=True),
    "whitelist": Field("enum", choices=WHITELIST_TYPES, required=True),
    "language": Field("string", 2, 2),
    "default_profile_type": Field("enum", choices=PROFILE_TYPES),
    "energy_contract": Field("object", nested=ENERGY_CONTRACT),
    "last_updated": Field("datetime", required=True),
}


# ---- who may act for which party --------------------------------------------------------


def may_act_for(request: OcpiRequest, owner: Party) -> bool:
    """Whether the caller may touch objects owned by ``owner``: it is the sending party, or a
    party of a partner sending without routing headers, or a hub (which routes for many)."""
    partner = request.partner
    if partner.is_hub:
        return True
    if request.sender is not None:
        return request.sender == owner
    return owner in partner.parties


def _path_party(request: OcpiRequest) -> Party:
    owner = Party.parse(request.params["country_code"], request.params["party_id"])
    if not may_act_for(request, owner):
        raise status.not_found(f"no tokens of {owner} for this caller")
    return owner


def _path_uid(request: OcpiRequest) -> str:
    return str(check_value("token_uid", TOKEN_FIELDS["uid"], request.params["token_uid"]))


def _type_param(request: OcpiRequest) -> str | None:
    value = request.query.get("type")
    if value is None or value == "":
        return None
    return str(check_value("type", TOKEN_FIELDS["type"], value))


# ---- storage and the core mirror ---------------------------------------------------------


def local_status(row: OcpiToken, now: dt.datetime) -> str:
    """What OCPP authorization answers for this token without asking its eMSP."""
    if row.command_grant_until is not None and row.command_grant_until > now:
        return "Accepted"
    if not row.valid:
        return "Blocked"
    if row.whitelist == "NEVER":
        return "Invalid"
    return "Accepted"


async def find_token(session: AsyncSession, owner: Party, uid: str,
                     token_type: str | None) -> OcpiToken | None:
    """The owner's token; without a type RFID is meant (as OCPI says), else the only one."""
    query = select(OcpiToken).where(OcpiToken.country_code == owner.country_code,
                                    OcpiToken.party_id == owner.party_id,
                                    func.upper(OcpiToken.uid) == uid.upper())
    if token_type is not None:
        query = query.where(OcpiToken.type == token_type)
    rows = list((await session.execute(query.order_by(OcpiToken.id))).scalars())
    if token_type is not None or len(rows) <= 1:
        return rows[0] if rows else None
    return next((row for row in rows if row.type == "RFID"), rows[0])


async def _refuse_foreign_uid(work: Work, owner: Party, uid: str) -> None:
    """2001 when the uid is another party's token, or a token of our own drivers."""
    others = (await work.session.execute(
        select(OcpiToken.country_code, OcpiToken.party_id).where(
            func.upper(OcpiToken.uid) == uid.upper()))).all()
    if any(Party(cc, pid) != owner for cc, pid in others):
        raise status.invalid(f"token uid {uid} is already used by another party")
    core = (await work.session.execute(
        select(IdToken.country_code, IdToken.party_id).where(
            func.upper(IdToken.id_token) == uid.upper()))).first()
    if core is not None and ((core[0] or "").upper(), (core[1] or "").upper()) != (
            owner.country_code, owner.party_id):
        raise status.invalid(f"token uid {uid} is already used by another token holder")


def _apply(row: OcpiToken, token: dict[str, Any]) -> None:
    row.contract_id, row.issuer = token["contract_id"], token["issuer"]
    row.visual_number, row.group_id = token.get("visual_number"), token.get("group_id")
    row.valid, row.whitelist = token["valid"], token["whitelist"]
    row.language = token.get("language")
    row.default_profile_type = token.get("default_profile_type")
    row.energy_contract = token.get("energy_contract")
    row.last_updated = parse_datetime(token["last_updated"], "last_updated")
    row.raw = dict(token)


async def mirror(work: Work, row: OcpiToken) -> str:
    """Make the core ``id_token`` row agree with the OCPI token; returns its status."""
    token = await stations.find_token(work, row.uid)
    if token is None:
        token = IdToken(id_token=row.uid)
        work.session.add(token)
    token.type = OCPP_TOKEN_TYPES.get(row.type, "Central")
    token.status = local_status(row, utcnow())
    token.country_code, token.party_id = row.country_code, row.party_id
    token.visual_number, token.issuer, token.language = (row.visual_number, row.issuer,
                                                         row.language)
    group = row.group_id
    token.group_id_token = group if group and len(group) <= OCPP16_ID_LENGTH else None
    return token.status


async def store_token(work: Work, token: dict[str, Any], *, partner_id: int | None,
                      source: str = "tokens", grant_until: dt.datetime | None = None
                      ) -> OcpiToken:
    """Create or replace a validated Token, mirror it, and announce ``token.updated``.

    Raises 2001 (and the caller's unit of work rolls back) when the uid is someone else's.
    """
    owner = Party(token["country_code"], token["party_id"])
    await _refuse_foreign_uid(work, owner, token["uid"])
    row = await find_token(work.session, owner, token["uid"], token["type"])
    if row is None:
        row = OcpiToken(country_code=owner.country_code, party_id=owner.party_id,
                        uid=token["uid"], type=token["type"], source=source)
        work.session.add(row)
    elif source == "tokens":
        row.source = "tokens"
    _apply(row, token)
    if partner_id is not None:
        row.partner_id = partner_id
    if grant_until is not None:
        row.command_grant_until = max(grant_until, row.command_grant_until or grant_until)
    await work.session.flush()
    announce(work, row, await mirror(work, row))
    return row


def announce(work: Work, row: OcpiToken, local: str) -> None:
    """Publish ``token.updated`` (after the commit) with the token's local status."""
    work.emit(Event("token.updated", {
        "uid": row.uid, "type": row.type, "country_code": row.country_code,
        "party_id": row.party_id, "valid": row.valid, "whitelist": row.whitelist,
        "status": local}))


# ---- the Receiver interface --------------------------------------------------------------


async def get_token(request: OcpiRequest) -> OcpiReply:
    owner, uid = _path_party(request), _path_uid(request)
    async with request.app[appkeys.DB].session() as session:
        row = await find_token(session, owner, uid, _type_param(request))
    if row is None:
        raise status.not_found(f"unknown token {uid}", status.UNKNOWN_TOKEN)
    return OcpiReply(dict(row.raw))


def _check_identity(token: Mapping[str, Any], owner: Party, uid: str,
                    token_type: str | None) -> None:
    """The object must be the one the URL names (OCPI: the same values SHALL be used)."""
    if "country_code" in token and str(token["country_code"]).upper() != owner.country_code:
        raise status.invalid("country_code differs from the URL's")
    if "party_id" in token and str(token["party_id"]).upper() != owner.party_id:
        raise status.invalid("party_id differs from the URL's")
    # CiStrings: the same uid in any letter case.
    if "uid" in token and str(token["uid"]).upper() != uid.upper():
        raise status.invalid("uid differs from the URL's token_uid")
    if token_type is not None and "type" in token and token["type"] != token_type:
        raise status.invalid("type differs from the URL's type parameter")


async def put_token(request: OcpiRequest) -> OcpiReply:
    owner, uid = _path_party(request), _path_uid(request)
    token = validate(await request.json(), TOKEN_FIELDS, "Token")
    _check_identity(token, owner, uid, _type_param(request))
    async with request.app[appkeys.DB].transaction() as work:
        await store_token(work, token, partner_id=request.partner.id)
    return OcpiReply()


async def patch_token(request: OcpiRequest) -> OcpiReply:
    owner, uid = _path_party(request), _path_uid(request)
    body = await request.json()
    if not isinstance(body, dict) or body.get("last_updated") is None:
        raise status.invalid("a PATCH of a Token must carry last_updated")
    patch = validate(body, TOKEN_FIELDS, "Token", partial=True)
    token_type = _type_param(request)
    _check_identity(patch, owner, uid, token_type)
    async with request.app[appkeys.DB].transaction() as work:
        row = await find_token(work.session, owner, uid, token_type)
        if row is None:
            raise status.not_found(f"unknown token {uid}", status.UNKNOWN_TOKEN)
        if patch.get("type") not in (None, row.type):
            raise status.invalid("the type of a token cannot change")
        merged = {k: v for k, v in {**row.raw, **patch}.items() if v is not None}
        await store_token(work, validate(merged, TOKEN_FIELDS, "Token"),
                          partner_id=request.partner.id)
    return OcpiReply()


def routes() -> tuple[OcpiRoute, ...]:
    pattern = "/{country_code}/{party_id}/{token_uid}"
    return (OcpiRoute("GET", pattern, get_token), OcpiRoute("PUT", pattern, put_token),
            OcpiRoute("PATCH", pattern, patch_token))


def module() -> OcpiModule:
    return OcpiModule(MODULE, RECEIVER, routes())


# ---- real-time authorization -------------------------------------------------------------


class RealtimeError(Exception):
    """The eMSP answered, but not with a usable AuthorizationInfo."""


@dataclass(frozen=True)
class Authorization:
    allowed: str
    info: dict[str, Any]
    partner: Partner
    asked: Party | None


async def _token_senders(app: web.Application) -> list[Partner]:
    """Registered partners of the CPO platform that offer a tokens SENDER interface."""
    cipher = app[appkeys.CIPHER]
    async with app[appkeys.DB].session() as session:
        rows = (await session.execute(select(OcpiPartner).where(
            OcpiPartner.platform == PLATFORM, OcpiPartner.status == "registered")
            .order_by(OcpiPartner.id))).scalars().all()
        partners = [Partner.from_row(row, cipher) for row in rows]
    return [p for p in partners
            if p.token is not None and p.endpoint(MODULE, "SENDER") is not None]


def _routes_to(partners: list[Partner], known: OcpiToken | None
               ) -> list[tuple[Partner, Party | None]]:
    """Whom to ask: the owner's own partner (the one that pushed the token first), else a hub
    addressed to the owner; for an unknown token every eMSP party, and hubs openly."""
    if known is not None:
        owner = Party(known.country_code, known.party_id)
        ordered = sorted(partners, key=lambda p: p.id != known.partner_id)
        direct = [p for p in ordered if not p.is_hub and owner in p.parties]
        return [(p, owner) for p in direct or [p for p in ordered if p.is_hub]]
    out: list[tuple[Partner, Party | None]] = []
    for partner in partners:
        if partner.is_hub:
            out.append((partner, broadcast_target(partner)))
            continue
        parties = sorted(partner.parties_in_role("EMSP")) or sorted(partner.parties)
        out.extend((partner, party) for party in parties)
    return out


def _location_references(location_id: str | None, evse_uids: Iterable[str]
                         ) -> dict[str, Any] | None:
    if not location_id:
        return None
    body: dict[str, Any] = {"location_id": location_id}
    uids = [uid for uid in evse_uids if uid]
    if uids:
        body["evse_uids"] = uids
    return body


async def _ask(app: web.Application, uid: str, token_type: str, body: dict[str, Any] | None,
               targets: list[tuple[Partner, Party | None]]) -> Authorization | None:
    """The first AuthorizationInfo of an eMSP that knows the token; None if none does."""
    ours = app[CONFIG].party
    for partner, to_party in targets:
        base = partner.endpoint(MODULE, "SENDER") or ""
        url = f"{base.rstrip('/')}/{urllib.parse.quote(uid, safe='')}/authorize"
        assert partner.token is not None
        result = await app[CLIENT].request(
            "POST", url, partner.token, raw=partner.raw_tokens, body=body,
            params={"type": token_type}, to_party=to_party, from_party=ours)
        if result.http_status == 404 or result.status_code == status.UNKNOWN_TOKEN:
            continue
        data = result.data
        if not result.ok or not isinstance(data, dict) or data.get("allowed") not in \
                ALLOWED_TYPES:
            raise RealtimeError(f"{url}: {result.describe()}")
        return Authorization(data["allowed"], data, partner, to_party)
    return None


def _fallback(app: web.Application, known: OcpiToken | None) -> str | None:
    """The verdict when the eMSP cannot be asked: ``authorization_fallback``, or what the
    token's whitelist type allows while its eMSP is unreachable."""
    if app[CONFIG].authorization_fallback == "accept":
        return "ALLOWED"
    if known is not None and known.valid and known.whitelist != "NEVER":
        return "ALLOWED"
    return None


async def _remember(app: web.Application, answer: Authorization,
                    known: OcpiToken | None) -> None:
    """Keep the authorization reference (for the session and CDR) and, for a token we did
    not know, the Token the eMSP returned, so the session can name its owner."""
    reference = answer.info.get("authorization_reference")
    reference = reference if isinstance(reference, str) and len(reference) <= 36 else None
    try:
        async with app[appkeys.DB].transaction() as work:
            if known is not None:
                await work.session.execute(update(OcpiToken).where(
                    OcpiToken.id == known.id).values(authorization_reference=reference))
                return
            token = validate(answer.info.get("token"), TOKEN_FIELDS, "Token")
            owner = Party(token["country_code"], token["party_id"])
            if answer.asked is not None and not answer.partner.is_hub and owner != answer.asked:
                raise status.invalid("the returned token belongs to another party")
            row = await store_token(work, token, partner_id=answer.partner.id,
                                    source="authorization")
            row.authorization_reference = reference
    except OcpiError as exc:
        log.warning("real-time authorization answer not kept: %s", exc.message)


async def _stored_token(app: web.Application, uid: str, token_type: str | None
                        ) -> OcpiToken | None:
    query = select(OcpiToken).where(func.upper(OcpiToken.uid) == uid.upper())
    if token_type is not None:
        query = query.where(OcpiToken.type == token_type)
    async with app[appkeys.DB].session() as session:
        rows = list((await session.execute(query.order_by(OcpiToken.id))).scalars())
    return next((r for r in rows if r.type == "RFID"), rows[0] if rows else None)


async def authorize_realtime(app: web.Application, uid: str, token_type: str = "RFID",
                             location_id: str | None = None, evse_uids: Iterable[str] = ()
                             ) -> str | None:
    """Ask the token's eMSP whether it may charge here: its ``allowed`` value (ALLOWED,
    BLOCKED, EXPIRED, NO_CREDIT, NOT_ALLOWED), or None when no eMSP knows the token.

    A POST ``{tokens SENDER url}/{uid}/authorize?type=…`` with LocationReferences. When the
    eMSP does not answer within ``authorization_timeout`` or answers unusably, the fallback
    decides (``ALLOWED`` or None, see :func:`_fallback`).
    """
    known = await _stored_token(app, uid, token_type)
    targets = _routes_to(await _token_senders(app), known)
    if not targets:
        return _fallback(app, known) if known is not None else None
    body = _location_references(location_id, evse_uids)
    try:
        async with asyncio.timeout(app[CONFIG].authorization_timeout):
            answer = await _ask(app, uid, token_type, body, targets)
    except (TimeoutError, OcpiClientError, RealtimeError) as exc:
        log.warning("real-time authorization of %s failed (%s): fallback applies", uid,
                    exc or "timeout")
        return _fallback(app, known)
    if answer is None:
        return None
    await _remember(app, answer, known)
    return answer.allowed


async def _where(app: web.Application, station_id: str, evse_number: int | None
                 ) -> tuple[str | None, list[str]]:
    """The OCPI location id and EVSE uid of a station's EVSE (LocationReferences)."""
    async with app[appkeys.DB].session() as session:
        location_id = await session.scalar(select(ChargingStation.location_id).where(
            ChargingStation.id == station_id))
        uid = None
        if evse_number is not None:
            uid = await session.scalar(select(Evse.uid).where(
                Evse.station_id == station_id, Evse.evse_number == evse_number))
    return location_id, [uid] if uid else []


async def realtime_decision(app: web.Application, id_token: str, station_id: str,
                            evse_number: int | None, ocpp_version: str) -> str | None:
    """The OCPP authorization status real-time authorization gives a token at a station, or
    None when the token is not for real-time authorization (keep the local verdict).

    Asked for tokens pushed with ``whitelist`` NEVER or ALLOWED_OFFLINE (outside a command's
    grant) and for tokens nobody registered here (an eMSP may not push its tokens at all).
    """
    known = await _stored_token(app, id_token, None)
    if known is not None:
        granted = known.command_grant_until is not None and known.command_grant_until > utcnow()
        if granted or known.whitelist not in ("NEVER", "ALLOWED_OFFLINE"):
            return None
    else:
        async with app[appkeys.DB].session() as session:
            if await session.scalar(select(IdToken.id).where(
                    func.upper(IdToken.id_token) == id_token.upper())):
                return None  # one of our own tokens
    location_id, evse_uids = await _where(app, station_id, evse_number)
    allowed = await authorize_realtime(app, id_token, known.type if known else "RFID",
                                       location_id, evse_uids)
    if allowed is None:
        return None if known is None else "Invalid"
    table = OCPP16_STATUS if ocpp_version == "1.6" else OCPP2_STATUS
    return table[allowed]


# ---- command grants ----------------------------------------------------------------------


async def end_grants(app: web.Application) -> int:
    """Return tokens whose command grant ran out to their own status; returns how many."""
    now = utcnow()
    async with app[appkeys.DB].transaction() as work:
        rows = list((await work.session.execute(select(OcpiToken).where(
            OcpiToken.command_grant_until.is_not(None),
            OcpiToken.command_grant_until <= now))).scalars())
        for row in rows:
            row.command_grant_until = None
            announce(work, row, await mirror(work, row))
    return len(rows)


async def _sweep_grants(app: web.Application) -> None:
    while True:
        try:
            await end_grants(app)
        except Exception:
            log.exception("ending command grants failed; retrying")
        await asyncio.sleep(GRANT_SWEEP_SECONDS)


SWEEPER: web.AppKey[asyncio.Task[None]] = web.AppKey("ocpi_cpo_token_grants")


async def startup(app: web.Application) -> None:
    """Start ending command grants (once per app, whoever calls it)."""
    if SWEEPER not in app:
        app[SWEEPER] = asyncio.create_task(_sweep_grants(app), name="ocpi-cpo-token-grants")


async def shutdown(app: web.Application) -> None:
    task = app.get(SWEEPER)
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


__all__ = ["COMMAND_GRANT", "MODULE", "OCPP16_ID_LENGTH", "OCPP_TOKEN_TYPES", "TOKEN_FIELDS",
           "announce", "authorize_realtime", "end_grants", "find_token", "local_status",
           "may_act_for", "mirror", "module", "realtime_decision", "shutdown", "startup",
           "store_token"]
