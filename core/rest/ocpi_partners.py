"""Operating OCPI connections over REST.

- ``GET /api/ocpipartner/`` and ``/api/ocpipartner/{id}/``: partners with their parties,
  endpoints, status and pending pushes.
- ``POST /api/ocpi/{platform}/token-a/ [{"allow_missing_request_ids"}]``: a token A to give a
  partner for its registration.
- ``POST /api/ocpi/{platform}/register/ {"url", "token", "raw_tokens",
  "allow_missing_request_ids"}``: register with a partner or hub from its versions URL and the
  token A it gave us.
- ``POST /api/ocpipartner/{id}/rotate/``: new tokens both ways (credentials PUT).
- ``DELETE /api/ocpipartner/{id}/``: unregister (the partner is told with a DELETE).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from core import appkeys
from core.db.models import OcpiOutbox, OcpiPartner
from core.ocpi import registration
from core.ocpi.platform import OcpiPlatform
from core.ocpi.server import PLATFORMS, base_url, versions_url
from core.ocpi.wire import format_datetime
from core.rest.body import json_object
from core.rest.errors import ApiError, bad_request, not_found
from core.rest.resource import json_response
from core.rest.routes import Route

READ, WRITE = "ocpipartner:read", "ocpipartner:write"


def _platform(request: web.Request) -> OcpiPlatform:
    name = request.match_info["platform"]
    platform = request.app[PLATFORMS].get(name)
    if platform is None:
        raise not_found(f"OCPI platform {name!r} (is its plugin enabled?)")
    return platform


def _partner_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise not_found("OCPI partner") from None


def _dump(row: OcpiPartner, pending: int) -> dict[str, Any]:
    return {"id": row.id, "platform": row.platform, "name": row.name, "status": row.status,
            "versions_url": row.versions_url, "version": row.version,
            "roles": row.roles, "endpoints": row.endpoints, "raw_tokens": row.raw_tokens,
            "allow_missing_request_ids": row.allow_missing_ids,
            "pending_pushes": pending, "created_at": format_datetime(row.created_at),
            "last_updated": format_datetime(row.last_updated)}


async def _pending(session: Any, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = await session.execute(select(OcpiOutbox.partner_id, func.count()).where(
        OcpiOutbox.partner_id.in_(ids), OcpiOutbox.state == "pending")
        .group_by(OcpiOutbox.partner_id))
    return {partner_id: count for partner_id, count in rows.all()}


async def list_partners(request: web.Request) -> web.Response:
    async with request.app[appkeys.DB].session() as session:
        query = select(OcpiPartner).order_by(OcpiPartner.id)
        if request.query.get("platform"):
            query = query.where(OcpiPartner.platform == request.query["platform"])
        if request.query.get("status"):
            query = query.where(OcpiPartner.status == request.query["status"])
        rows = (await session.execute(query)).scalars().all()
        pending = await _pending(session, [row.id for row in rows])
    return json_response([_dump(row, pending.get(row.id, 0)) for row in rows])


async def get_partner(request: web.Request) -> web.Response:
    partner_id = _partner_id(request)
    async with request.app[appkeys.DB].session() as session:
        row = await session.get(OcpiPartner, partner_id)
        if row is None:
            raise not_found("OCPI partner")
        pending = await _pending(session, [row.id])
    return json_response(_dump(row, pending.get(row.id, 0)))


async def token_a(request: web.Request) -> web.Response:
    """The body is optional: ``{"allow_missing_request_ids": true}`` for a partner whose
    software never sends the request ids."""
    platform = _platform(request)
    body = await json_object(request) if request.body_exists else {}
    lenient = body.get("allow_missing_request_ids", False)
    if set(body) - {"allow_missing_request_ids"} or not isinstance(lenient, bool):
        raise bad_request("the body may only hold allow_missing_request_ids (true/false)")
    token = await registration.issue_token_a(request.app, platform.name,
                                             allow_missing_ids=lenient)
    own = versions_url(base_url(request.app, request), platform.name)
    return json_response({"token": token, "versions_url": own}, status=201)


async def register(request: web.Request) -> web.Response:
    platform = _platform(request)
    body = await json_object(request)
    url, token, raw = body.get("url"), body.get("token"), body.get("raw_tokens", False)
    lenient = body.get("allow_missing_request_ids", False)
    unknown = set(body) - {"url", "token", "raw_tokens", "allow_missing_request_ids"}
    if unknown or not isinstance(url, str) or not url.startswith(("http://", "https://")) \
            or not isinstance(token, str) or not token or not isinstance(raw, bool) \
            or not isinstance(lenient, bool):
        raise bad_request("give url (the partner's versions URL), token (its token A) and "
                          "optionally raw_tokens and allow_missing_request_ids (true/false)",
                          {"unknown": sorted(unknown)} if unknown else None)
    own = versions_url(base_url(request.app, request), platform.name)
    try:
        partner = await registration.register(request.app, platform, url, token, own,
                                              raw_tokens=raw, allow_missing_ids=lenient)
    except registration.RegistrationError as exc:
        raise ApiError(502, "registration_failed", str(exc)) from None
    return await _answer(request, partner.id, 201)


async def rotate(request: web.Request) -> web.Response:
    partner_id = _partner_id(request)
    platform = await _platform_of(request, partner_id)
    own = versions_url(base_url(request.app, request), platform.name)
    try:
        await registration.rotate(request.app, platform, partner_id, own)
    except registration.RegistrationError as exc:
        raise ApiError(502, "rotation_failed", str(exc)) from None
    return await _answer(request, partner_id, 200)


async def unregister(request: web.Request) -> web.Response:
    partner_id = _partner_id(request)
    platform = await _platform_of(request, partner_id)
    try:
        await registration.unregister(request.app, platform, partner_id, tell_partner=True)
    except registration.RegistrationError as exc:
        raise ApiError(409, "not_registered", str(exc)) from None
    return web.Response(status=204)


async def _platform_of(request: web.Request, partner_id: int) -> OcpiPlatform:
    async with request.app[appkeys.DB].session() as session:
        row = await session.get(OcpiPartner, partner_id)
    if row is None:
        raise not_found("OCPI partner")
    platform = request.app[PLATFORMS].get(row.platform)
    if platform is None:
        raise ApiError(409, "platform_disabled", f"OCPI platform {row.platform!r} is not served")
    return platform


async def _answer(request: web.Request, partner_id: int, status: int) -> web.Response:
    async with request.app[appkeys.DB].session() as session:
        row = await session.get(OcpiPartner, partner_id)
        assert row is not None
        pending = await _pending(session, [partner_id])
    return json_response(_dump(row, pending.get(partner_id, 0)), status=status)


def routes() -> list[Route]:
    tags = ("ocpi",)
    return [
        Route("GET", "/api/ocpipartner/", list_partners, READ, "ocpipartner-list",
              summary="OCPI partners", tags=tags),
        Route("GET", "/api/ocpipartner/{id}/", get_partner, READ, "ocpipartner-detail",
              summary="One OCPI partner", tags=tags),
        Route("DELETE", "/api/ocpipartner/{id}/", unregister, WRITE, "ocpipartner-delete",
              summary="Unregister an OCPI partner", tags=tags),
        Route("POST", "/api/ocpipartner/{id}/rotate/", rotate, WRITE, "ocpipartner-rotate",
              summary="Exchange new credentials tokens with a partner", tags=tags),
        Route("POST", "/api/ocpi/{platform}/token-a/", token_a, WRITE, "ocpi-token-a",
              summary="Issue a token A for a partner's registration", tags=tags),
        Route("POST", "/api/ocpi/{platform}/register/", register, WRITE, "ocpi-register",
              summary="Register with a partner or hub", tags=tags),
    ]
