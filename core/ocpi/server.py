"""Serving OCPI platforms: authentication, the envelope, headers and module dispatch.

For each platform a plugin declares (:mod:`core.ocpi.platform`) the core serves
``/ocpi/{platform}/versions``, the 2.2.1 version details (also at ``…/versions/2.2.1``),
``…/2.2.1/credentials`` and every module route, each with or without a trailing slash.

Rules applied to every request, before any handler runs:
- ``Authorization: Token <Base64 token>`` must name a registered partner of this platform
  (HTTP 401 otherwise); a token A only opens versions, version details and the credentials
  registration. A partner flagged ``raw_tokens`` may send its token unencoded.
- ``X-Request-ID`` and ``X-Correlation-ID`` are required and echoed (HTTP 400, 2001 without);
  every answer carries both, a fresh UUID standing in for one the request lacked.
- ``OCPI-from-*`` must name one of the partner's parties (any party for a hub); ``OCPI-to-*``
  must name one of ours. Responses of modules carry them swapped.
- A body that is not JSON gets HTTP 400; a request that reached the OCPI layer gets HTTP 200
  with the OCPI status code, except unknown objects (404) as the specification allows.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from sqlalchemy import select

from core import appkeys
from core.db.models import OcpiPartner, OcpiTokenA
from core.db.types import utcnow
from core.ocpi import status
from core.ocpi.partners import Partner
from core.ocpi.platform import VERSION, OcpiModule, OcpiPlatform, OcpiRoute
from core.ocpi.status import OcpiError
from core.ocpi.wire import Party, format_datetime, header_tokens, parse_datetime, token_digest

log = logging.getLogger(__name__)

PLATFORMS: web.AppKey[dict[str, OcpiPlatform]] = web.AppKey("ocpi_platforms")
_PARAM = re.compile(r"\{(\w+)\}")
_ID_HEADERS = ("X-Request-ID", "X-Correlation-ID")
DEFAULT_PAGE_LIMIT = 100
LARGEST_PAGE_NUMBER = 2**31 - 1


@dataclass(frozen=True)
class Caller:
    """Who sent the request: a registered partner, or the holder of a token A."""

    token: str
    partner: Partner | None = None
    token_a_id: int | None = None
    # Its requests may lack X-Request-ID / X-Correlation-ID (a flag of its partner or token A).
    allow_missing_ids: bool = False


@dataclass
class OcpiReply:
    data: Any = None
    status_code: int = status.SUCCESS
    message: str | None = None
    http_status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int
    date_from: dt.datetime | None
    date_to: dt.datetime | None


class OcpiRequest:
    """A module request that passed the transport checks."""

    def __init__(self, http: web.Request, platform: OcpiPlatform, caller: Caller,
                 params: dict[str, str], sender: Party | None, receiver: Party) -> None:
        self.http = http
        self.platform = platform
        self.caller = caller
        self.params = params
        self.sender = sender
        self.receiver = receiver

    @property
    def app(self) -> web.Application:
        return self.http.app

    @property
    def partner(self) -> Partner:
        assert self.caller.partner is not None  # module requests need a registered partner
        return self.caller.partner

    @property
    def query(self) -> Any:
        return self.http.query

    async def json(self) -> Any:
        """The body; invalid JSON is a transport error (HTTP 400)."""
        return await read_json(self.http)

    def page(self, max_limit: int = DEFAULT_PAGE_LIMIT) -> Page:
        """offset/limit/date_from/date_to of a list request; a limit above ours is lowered."""
        query = self.http.query
        offset = _non_negative(query.get("offset"), "offset", 0)
        limit = _non_negative(query.get("limit"), "limit", max_limit)
        if "limit" in query and limit < 1:
            raise status.invalid("limit must be at least 1")
        # A parameter given empty is no DateTime: refused like any other malformed value.
        date_from = parse_datetime(query["date_from"], "date_from") \
            if "date_from" in query else None
        date_to = parse_datetime(query["date_to"], "date_to") if "date_to" in query else None
        return Page(offset, min(limit, max_limit), date_from, date_to)

    def paged(self, items: list[Any], total: int, page: Page) -> OcpiReply:
        """A list answer with ``X-Total-Count``, ``X-Limit`` and a ``Link`` to the next page."""
        headers = {"X-Total-Count": str(total), "X-Limit": str(page.limit)}
        if page.offset + len(items) < total and items:
            query = dict(self.http.query)
            query["offset"] = str(page.offset + len(items))
            query["limit"] = str(page.limit)
            url = own_url(self.http, self.http.path) + "?" + urllib.parse.urlencode(query)
            headers["Link"] = f'<{url}>; rel="next"'
        return OcpiReply(items, headers=headers)


def _non_negative(value: str | None, name: str, default: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise status.invalid(f"{name} must be an integer") from None
    if number < 0:
        raise status.invalid(f"{name} must not be negative")
    # Past this nothing can be listed anyway; the databases' integers stop a little later.
    return min(number, LARGEST_PAGE_NUMBER)


async def read_json(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        raise OcpiError(status.INVALID_PARAMETERS, "request body required", http_status=400)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise OcpiError(status.INVALID_PARAMETERS, "request body is not valid JSON",
                        http_status=400) from None


def base_url(app: web.Application, request: web.Request | None = None) -> str:
    """Where partners reach us: ``[server] public_url``, else the request's own origin."""
    public = str(app[appkeys.CONFIG]["server"]["public_url"]).rstrip("/")
    if public:
        return public
    if request is not None:
        return f"{request.scheme}://{request.host}"
    server = app[appkeys.CONFIG]["server"]
    return f"http://{server['host']}:{server['port']}"


def own_url(request: web.Request, path: str) -> str:
    return base_url(request.app, request) + path


def versions_url(base: str, platform: str) -> str:
    return f"{base}/ocpi/{platform}/versions"


def version_url(base: str, platform: str) -> str:
    return f"{base}/ocpi/{platform}/{VERSION}"


def envelope(reply: OcpiReply) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if reply.data is not None or reply.status_code == status.SUCCESS:
        body["data"] = reply.data
    body["status_code"] = reply.status_code
    body["status_message"] = reply.message or status.MESSAGES.get(reply.status_code, "")
    body["timestamp"] = format_datetime(utcnow())
    return body


def respond(request: web.Request, reply: OcpiReply,
            routing: dict[str, str] | None = None) -> web.Response:
    response = web.Response(body=orjson.dumps(envelope(reply)), status=reply.http_status,
                            content_type="application/json")
    for name in _ID_HEADERS:
        # The specification wants both IDs on every response, the 400 for a missing one too.
        value = request.headers.get(name, "")
        response.headers[name] = value if value.strip() else str(uuid.uuid4())
    response.headers.update(routing or {})
    response.headers.update(reply.headers)
    return response


def error_reply(exc: OcpiError) -> OcpiReply:
    return OcpiReply(exc.data, exc.status_code, exc.message, exc.http_status, dict(exc.headers))


async def authenticate(request: web.Request, platform: str) -> Caller:
    """The partner (or token A) behind the request's ``Authorization`` header."""
    decoded, raw = header_tokens(request.headers.get("Authorization"))
    if decoded is None and raw is None:
        raise status.unauthorized()
    cipher = request.app[appkeys.CIPHER]
    async with request.app[appkeys.DB].session() as session:
        for token, as_sent in ((decoded, False), (raw, True)):
            if token is None:
                continue
            digest = token_digest(token)
            row = (await session.execute(select(OcpiPartner).where(
                OcpiPartner.platform == platform,
                (OcpiPartner.token_digest == digest)
                | (OcpiPartner.next_token_digest == digest)))).scalars().first()
            if row is not None and (not as_sent or row.raw_tokens):
                return Caller(token, partner=Partner.from_row(row, cipher),
                              allow_missing_ids=row.allow_missing_ids)
            token_a = (await session.execute(select(OcpiTokenA).where(
                OcpiTokenA.platform == platform, OcpiTokenA.token_digest == digest,
                OcpiTokenA.used_at.is_(None)))).scalars().first()
            if token_a is not None:
                return Caller(token, token_a_id=token_a.id,
                              allow_missing_ids=token_a.allow_missing_ids)
    raise status.unauthorized()


def require_ids(request: web.Request, caller: Caller) -> None:
    """OCPI 2.2.1 requires both ids on every request; a partner (or token A) flagged
    ``allow_missing_ids`` (software that never sends them) is answered with new ones."""
    if caller.allow_missing_ids:
        return
    for name in _ID_HEADERS:
        if not request.headers.get(name, "").strip():
            raise OcpiError(status.INVALID_PARAMETERS, f"{name} header required",
                            http_status=400)


def _header_party(request: web.Request, side: str) -> Party | None:
    cc = request.headers.get(f"OCPI-{side}-country-code")
    pid = request.headers.get(f"OCPI-{side}-party-id")
    if not cc and not pid:
        return None
    try:
        return Party.parse(cc, pid)
    except OcpiError:
        raise status.invalid(f"OCPI-{side}-country-code / OCPI-{side}-party-id are not a "
                             "valid party") from None


def routing(request: web.Request, platform: OcpiPlatform,
            partner: Partner) -> tuple[Party | None, Party]:
    """(sending party, our addressed party) of a module request."""
    sender = _header_party(request, "from")
    receiver = _header_party(request, "to")
    if sender is None:
        own = sorted(partner.parties)
        sender = own[0] if len(own) == 1 else None
    elif not partner.is_hub and sender not in partner.parties:
        raise status.invalid(f"OCPI-from party {sender} is not registered by this partner")
    if receiver is None:
        receiver = platform.parties[0]
    elif receiver not in platform.parties:
        raise status.invalid(f"OCPI-to party {receiver} is not a party of this platform")
    return sender, receiver


def _compile(route: OcpiRoute) -> re.Pattern[str]:
    parts, position = [], 0
    for match in _PARAM.finditer(route.pattern):
        parts.append(re.escape(route.pattern[position:match.start()]))
        parts.append(f"(?P<{match.group(1)}>[^/]+)")
        position = match.end()
    parts.append(re.escape(route.pattern[position:]))
    return re.compile("^" + "".join(parts).rstrip("/") + "/?$")


@dataclass(frozen=True)
class _Compiled:
    module: OcpiModule
    route: OcpiRoute
    regex: re.Pattern[str]


class ModuleRouter:
    """Matches ``/ocpi/{platform}/2.2.1/{mount}{rest}`` to a declared route."""

    def __init__(self, platform: OcpiPlatform) -> None:
        self.platform = platform
        self.mounts: dict[str, list[_Compiled]] = {}
        for module in platform.modules:
            for route in module.routes:
                self.mounts.setdefault(module.mount, []).append(
                    _Compiled(module, route, _compile(route)))

    def match(self, mount: str, rest: str, method: str
              ) -> tuple[_Compiled, dict[str, str]] | None:
        candidates = self.mounts.get(mount)
        if candidates is None:
            return None
        allowed = []
        for compiled in candidates:
            found = compiled.regex.match(rest)
            if found is None:
                continue
            if compiled.route.method == method:
                return compiled, {k: urllib.parse.unquote(v)
                                  for k, v in found.groupdict().items()}
            allowed.append(compiled.route.method)
        if allowed:
            raise status.method_not_allowed(f"{method} not allowed here; use "
                                            f"{', '.join(sorted(set(allowed)))}", allowed)
        return None


def details(base: str, platform: OcpiPlatform) -> dict[str, Any]:
    root = version_url(base, platform.name)
    endpoints = [{"identifier": "credentials", "role": "SENDER",
                  "url": f"{root}/credentials"},
                 {"identifier": "credentials", "role": "RECEIVER",
                  "url": f"{root}/credentials"}]
    endpoints += [{"identifier": m.identifier, "role": m.role, "url": f"{root}/{m.mount}"}
                  for m in platform.modules]
    return {"version": VERSION, "endpoints": endpoints}


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _guarded(platform: OcpiPlatform,
             body: Callable[[web.Request, OcpiPlatform], Awaitable[web.Response]]) -> Handler:
    """Turn OcpiErrors and crashes into envelopes; never an HTML error page."""

    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            return await body(request, platform)
        except OcpiError as exc:
            return respond(request, error_reply(exc))
        except web.HTTPException:
            raise
        except Exception:
            log.exception("OCPI %s %s failed", request.method, request.path)
            return respond(request, OcpiReply(None, status.SERVER_ERROR,
                                              "internal server error"))

    return handler


async def _versions(request: web.Request, platform: OcpiPlatform) -> web.Response:
    require_ids(request, await authenticate(request, platform.name))
    base = base_url(request.app, request)
    return respond(request, OcpiReply([{"version": VERSION,
                                        "url": version_url(base, platform.name)}]))


async def _details(request: web.Request, platform: OcpiPlatform) -> web.Response:
    require_ids(request, await authenticate(request, platform.name))
    return respond(request, OcpiReply(details(base_url(request.app, request), platform)))


async def _module(request: web.Request, platform: OcpiPlatform) -> web.Response:
    router: ModuleRouter = request.app[ROUTERS][platform.name]
    mount, rest = request.match_info["mount"], request.match_info.get("rest", "")
    caller = await authenticate(request, platform.name)
    if caller.partner is None:
        raise status.unauthorized("a token A only opens versions and credentials")
    require_ids(request, caller)
    found = router.match(mount, rest, request.method)
    if found is None:
        raise status.not_found(f"no such OCPI endpoint: {request.path}")
    compiled, params = found
    sender, receiver = routing(request, platform, caller.partner)
    ocpi_request = OcpiRequest(request, platform, caller, params, sender, receiver)
    reply = await compiled.route.handler(ocpi_request)
    if not compiled.module.routed:
        return respond(request, reply)
    swapped = {"OCPI-from-country-code": receiver.country_code,
               "OCPI-from-party-id": receiver.party_id}
    if sender is not None:
        swapped |= {"OCPI-to-country-code": sender.country_code,
                    "OCPI-to-party-id": sender.party_id}
    return respond(request, reply, swapped)


ROUTERS: web.AppKey[dict[str, ModuleRouter]] = web.AppKey("ocpi_routers")


def install(app: web.Application, platforms: list[OcpiPlatform]) -> None:
    """Add the routes of every declared platform."""
    from core.ocpi import credentials  # the credentials module uses this one's helpers

    known: dict[str, OcpiPlatform] = {}
    for platform in platforms:
        if platform.name in known:
            raise ValueError(f"OCPI platform {platform.name!r} declared twice")
        known[platform.name] = platform
    app[PLATFORMS] = known
    app[ROUTERS] = {name: ModuleRouter(platform) for name, platform in known.items()}
    for name, platform in known.items():
        root = f"/ocpi/{name}"
        add = app.router.add_route
        add("GET", root + "/versions{slash:/?}", _guarded(platform, _versions))
        add("GET", root + "/" + VERSION + "{slash:/?}", _guarded(platform, _details))
        add("GET", root + "/versions/" + VERSION + "{slash:/?}", _guarded(platform, _details))
        add("*", root + "/" + VERSION + "/credentials{slash:/?}",
            _guarded(platform, credentials.handle))
        # [\s\S], not ".": a path with an encoded line break is still an OCPI request.
        add("*", root + "/" + VERSION + r"/{mount}{rest:(/[\s\S]*)?}",
            _guarded(platform, _module))
