"""Credentials exchange, both directions, and the partner registry's changes.

We register with a partner (:func:`register`) from its versions URL and the token A it gave us;
a partner registers with us (:mod:`core.ocpi.credentials`) with a token A we issued
(:func:`issue_token_a`). Either way the partner's 2.2.1 endpoints are fetched and kept; tokens we
are called with are stored only as digests, the tokens we call with encrypted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import delete, select

from core import appkeys
from core.db.models import OcpiOutbox, OcpiPartner, OcpiTokenA
from core.db.types import utcnow
from core.ocpi import status
from core.ocpi.client import OcpiClient, OcpiClientError
from core.ocpi.partners import Partner
from core.ocpi.platform import VERSION, OcpiPlatform
from core.ocpi.status import OcpiError
from core.ocpi.wire import Party, new_token, token_digest

log = logging.getLogger(__name__)

CLIENT: web.AppKey[OcpiClient] = web.AppKey("ocpi_client")
# The credentials URL's methods (its ``Allow`` on a 405): which one applies depends on the caller.
CREDENTIALS_METHODS = ("GET", "POST", "PUT", "DELETE")


class RegistrationError(Exception):
    """Registration with a partner failed; nothing was kept."""


@dataclass(frozen=True)
class Discovered:
    """A partner's 2.2.1 version URL and endpoints, as its version details list them."""

    version_url: str
    endpoints: list[dict[str, str]]

    def url(self, identifier: str) -> str | None:
        for endpoint in self.endpoints:
            if endpoint["identifier"] == identifier:
                return endpoint["url"]
        return None


def validate_credentials(body: Any) -> tuple[str, str, list[dict[str, Any]]]:
    """(token, versions url, roles) of a Credentials object, or 2001."""
    if not isinstance(body, dict):
        raise status.invalid("a Credentials object is required")
    token, url, roles = body.get("token"), body.get("url"), body.get("roles")
    if not isinstance(token, str) or not token or len(token) > 64 \
            or not token.isprintable() or " " in token:
        raise status.invalid("token must be 1-64 printable characters without spaces")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) \
            or len(url) > 255:
        raise status.invalid("url must be the partner's versions URL (http or https)")
    if not isinstance(roles, list) or not roles:
        raise status.invalid("roles must list at least one CredentialsRole")
    cleaned = []
    for role in roles:
        if not isinstance(role, dict) or not isinstance(role.get("role"), str):
            raise status.invalid("each role needs a role")
        party = Party.parse(role.get("country_code"), role.get("party_id"))
        business = role.get("business_details")
        if not isinstance(business, dict) or not isinstance(business.get("name"), str) \
                or not business["name"]:
            raise status.invalid("each role needs business_details with a name")
        cleaned.append({**role, "country_code": party.country_code,
                        "party_id": party.party_id})
    return token, url, cleaned


async def discover(client: OcpiClient, versions_url: str, token: str,
                   raw: bool = False) -> Discovered:
    """Fetch the partner's versions and its 2.2.1 details (3001/3002/3003 when unusable)."""
    try:
        versions = await client.request("GET", versions_url, token, raw=raw)
        if not versions.ok or not isinstance(versions.data, list):
            raise OcpiError(status.UNABLE_TO_USE_CLIENT_API,
                            f"versions: {versions.describe()}")
        url = next((v.get("url") for v in versions.data if isinstance(v, dict)
                    and v.get("version") == VERSION and isinstance(v.get("url"), str)), None)
        if url is None:
            raise OcpiError(status.UNSUPPORTED_VERSION, f"the partner offers no OCPI {VERSION}")
        detail = await client.request("GET", url, token, raw=raw)
    except OcpiClientError as exc:
        raise OcpiError(status.UNABLE_TO_USE_CLIENT_API, str(exc)) from None
    data = detail.data
    if not detail.ok or not isinstance(data, dict) or not isinstance(data.get("endpoints"),
                                                                        list):
        raise OcpiError(status.UNABLE_TO_USE_CLIENT_API, f"version details: {detail.describe()}")
    endpoints = [{"identifier": str(e["identifier"]), "role": str(e.get("role") or ""),
                  "url": str(e["url"])}
                 for e in data["endpoints"] if isinstance(e, dict)
                 and isinstance(e.get("identifier"), str) and isinstance(e.get("url"), str)]
    found = Discovered(url, endpoints)
    if found.url("credentials") is None:
        raise OcpiError(status.NO_MATCHING_ENDPOINTS, "the partner lists no credentials endpoint")
    return found


def our_credentials(platform: OcpiPlatform, token: str, versions: str) -> dict[str, Any]:
    return {"token": token, "url": versions, "roles": [r.to_ocpi() for r in platform.roles]}


async def issue_token_a(app: web.Application, platform: str, *,
                        allow_missing_ids: bool = False) -> str:
    """A new single-use token A for a partner's registration with ``platform``."""
    token = new_token()
    async with app[appkeys.DB].transaction() as work:
        work.session.add(OcpiTokenA(platform=platform, token_digest=token_digest(token),
                                    allow_missing_ids=allow_missing_ids))
    return token


def _name(roles: list[dict[str, Any]]) -> str:
    for role in roles:
        name = (role.get("business_details") or {}).get("name")
        if isinstance(name, str) and name:
            return name[:100]
    return ""


async def register(app: web.Application, platform: OcpiPlatform, versions: str,
                   token_a: str, own_versions: str, *, raw_tokens: bool = False,
                   allow_missing_ids: bool = False) -> Partner:
    """Register with a partner: discover it, hand it token B, keep the token C it answers.

    Token B is stored before the POST, because the partner calls our versions with it while it
    handles our request. On any failure the partner row is removed again.
    """
    client = app[CLIENT]
    try:
        found = await discover(client, versions, token_a, raw_tokens)
    except OcpiError as exc:
        raise RegistrationError(exc.message) from None
    token_b = new_token()
    db = app[appkeys.DB]
    async with db.transaction() as work:
        row = OcpiPartner(platform=platform.name, versions_url=versions, version=VERSION,
                          version_url=found.version_url, endpoints=found.endpoints, roles=[],
                          token_digest=token_digest(token_b), raw_tokens=raw_tokens,
                          allow_missing_ids=allow_missing_ids, status="registering")
        work.session.add(row)
        await work.session.flush()
        partner_id = row.id
    try:
        result = await client.request("POST", found.url("credentials") or "", token_a,
                                      raw=raw_tokens,
                                      body=our_credentials(platform, token_b, own_versions))
        if not result.ok:
            raise RegistrationError(f"credentials POST refused: {result.describe()}")
        try:
            token_c, their_versions, roles = validate_credentials(result.data)
        except OcpiError as exc:
            raise RegistrationError(f"the partner's credentials are invalid: {exc.message}") \
                from None
    except (OcpiClientError, RegistrationError) as exc:
        async with db.transaction() as work:
            await work.session.execute(delete(OcpiPartner).where(OcpiPartner.id == partner_id))
        raise RegistrationError(str(exc)) from None
    cipher = app[appkeys.CIPHER]
    async with db.transaction() as work:
        kept = await work.session.get(OcpiPartner, partner_id)
        assert kept is not None
        kept.token_out = cipher.encrypt(token_c)
        kept.roles, kept.name, kept.versions_url = roles, _name(roles), their_versions
        kept.status = "registered"
        await _retire_others(work.session, platform.name, kept)
        partner = Partner.from_row(kept, cipher)
    await notify(platform, "registered", partner.id)
    return partner


async def _retire_others(session: Any, platform: str, row: OcpiPartner) -> None:
    """A party registers once per platform: an older connection for the same parties ends."""
    parties = {(r["country_code"], r["party_id"]) for r in row.roles}
    others = (await session.execute(select(OcpiPartner).where(
        OcpiPartner.platform == platform, OcpiPartner.id != row.id,
        OcpiPartner.status == "registered"))).scalars()
    for other in others:
        if parties & {(r.get("country_code"), r.get("party_id")) for r in other.roles}:
            other.status, other.token_digest, other.next_token_digest = "replaced", None, None


async def accept(app: web.Application, platform: OcpiPlatform, token_a_id: int,
                 body: Any, own_versions: str) -> dict[str, Any]:
    """A partner registers with the token A we issued: our credentials with its token C."""
    token_b, their_versions, roles = validate_credentials(body)
    db = app[appkeys.DB]
    async with db.session() as session:
        registered = (await session.execute(select(OcpiPartner).where(
            OcpiPartner.platform == platform.name,
            OcpiPartner.status == "registered"))).scalars().all()
    wanted = {(r["country_code"], r["party_id"]) for r in roles}
    for other in registered:
        if wanted & {(r.get("country_code"), r.get("party_id")) for r in other.roles}:
            raise status.method_not_allowed(
                "this party is already registered; update with PUT using token C",
                CREDENTIALS_METHODS)
    found = await discover(app[CLIENT], their_versions, token_b)
    token_c = new_token()
    cipher = app[appkeys.CIPHER]
    async with db.transaction() as work:
        token_a = await work.session.get(OcpiTokenA, token_a_id)
        if token_a is None or token_a.used_at is not None:
            raise status.unauthorized("token A was used meanwhile")
        row = OcpiPartner(platform=platform.name, name=_name(roles), status="registered",
                          versions_url=their_versions, version=VERSION,
                          version_url=found.version_url, endpoints=found.endpoints,
                          roles=roles, token_digest=token_digest(token_c),
                          token_out=cipher.encrypt(token_b), raw_tokens=False,
                          allow_missing_ids=token_a.allow_missing_ids)
        work.session.add(row)
        await work.session.flush()
        token_a.used_at, token_a.partner_id = utcnow(), row.id
        partner_id = row.id
    await notify(platform, "registered", partner_id)
    return our_credentials(platform, token_c, own_versions)


async def update(app: web.Application, platform: OcpiPlatform, partner: Partner, body: Any,
                 own_versions: str) -> dict[str, Any]:
    """The partner sent new credentials (PUT): rediscover it, issue a new token C."""
    token_b, their_versions, roles = validate_credentials(body)
    found = await discover(app[CLIENT], their_versions, token_b, partner.raw_tokens)
    token_c = new_token()
    cipher = app[appkeys.CIPHER]
    async with app[appkeys.DB].transaction() as work:
        row = await work.session.get(OcpiPartner, partner.id)
        if row is None or row.status != "registered":
            raise status.method_not_allowed("not registered", CREDENTIALS_METHODS)
        row.versions_url, row.version_url, row.endpoints = (their_versions, found.version_url,
                                                            found.endpoints)
        row.roles, row.name = roles, _name(roles)
        row.token_out = cipher.encrypt(token_b)
        row.token_digest, row.next_token_digest = token_digest(token_c), None
    await notify(platform, "updated", partner.id)
    return our_credentials(platform, token_c, own_versions)


async def rotate(app: web.Application, platform: OcpiPlatform, partner_id: int,
                 own_versions: str) -> Partner:
    """Our side of a credentials update: hand the partner a new token, take its new one.

    The new token is accepted from the moment it is sent (the partner may call our versions
    with it before answering); the old one until the partner confirmed.
    """
    cipher = app[appkeys.CIPHER]
    db = app[appkeys.DB]
    async with db.session() as session:
        row = await session.get(OcpiPartner, partner_id)
        if row is None or row.status != "registered" or row.platform != platform.name:
            raise RegistrationError("no such registered partner")
        partner = Partner.from_row(row, cipher)
    url = partner.endpoint("credentials", "RECEIVER") or partner.endpoint("credentials",
                                                                          "SENDER")
    if url is None or partner.token is None:
        raise RegistrationError("the partner lists no credentials endpoint")
    new = new_token()
    async with db.transaction() as work:
        current = await work.session.get(OcpiPartner, partner_id)
        assert current is not None
        current.next_token_digest = token_digest(new)
    try:
        result = await app[CLIENT].request("PUT", url, partner.token, raw=partner.raw_tokens,
                                           body=our_credentials(platform, new, own_versions))
        if not result.ok:
            raise RegistrationError(f"credentials PUT refused: {result.describe()}")
        token, their_versions, roles = validate_credentials(result.data)
    except (OcpiClientError, RegistrationError, OcpiError) as exc:
        async with db.transaction() as work:
            current = await work.session.get(OcpiPartner, partner_id)
            if current is not None:
                current.next_token_digest = None
        raise RegistrationError(str(getattr(exc, "message", exc))) from None
    async with db.transaction() as work:
        current = await work.session.get(OcpiPartner, partner_id)
        assert current is not None
        current.token_digest, current.next_token_digest = token_digest(new), None
        current.token_out = cipher.encrypt(token)
        current.roles, current.name, current.versions_url = roles, _name(roles), their_versions
        partner = Partner.from_row(current, cipher)
    await notify(platform, "updated", partner_id)
    return partner


async def unregister(app: web.Application, platform: OcpiPlatform, partner_id: int, *,
                     tell_partner: bool) -> None:
    """End a registration: its tokens stop working and nothing more is pushed to it."""
    cipher = app[appkeys.CIPHER]
    db = app[appkeys.DB]
    async with db.session() as session:
        row = await session.get(OcpiPartner, partner_id)
        if row is None or row.platform != platform.name or row.status != "registered":
            raise RegistrationError("no such registered partner")
        partner = Partner.from_row(row, cipher)
    if tell_partner:
        url = partner.endpoint("credentials", "RECEIVER") or partner.endpoint("credentials",
                                                                              "SENDER")
        if url is not None and partner.token is not None:
            try:
                result = await app[CLIENT].request("DELETE", url, partner.token,
                                                   raw=partner.raw_tokens)
                if not result.ok:
                    log.warning("partner %s refused our DELETE: %s", partner_id,
                                result.describe())
            except OcpiClientError as exc:
                log.warning("partner %s not told of the unregistration: %s", partner_id, exc)
    async with db.transaction() as work:
        current = await work.session.get(OcpiPartner, partner_id)
        if current is not None:
            current.status = "unregistered"
            current.token_digest = current.next_token_digest = None
            current.token_out = None
            await work.session.execute(delete(OcpiOutbox).where(
                OcpiOutbox.partner_id == partner_id, OcpiOutbox.state == "pending"))
    await notify(platform, "unregistered", partner_id)


async def notify(platform: OcpiPlatform, event: str, partner_id: int) -> None:
    if platform.on_partner is None:
        return
    try:
        await platform.on_partner(event, partner_id)
    except Exception:
        log.exception("OCPI platform %s: handling partner %s %s failed", platform.name,
                      partner_id, event)
