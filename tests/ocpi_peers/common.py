"""OCPI 2.2.1 transport pieces shared by the test peers.

Everything here follows the "Transport and format" chapter of OCPI 2.2.1 and the shared
components of the EVRoaming Foundation OpenAPI description (``components/*.yaml``):

* the response envelope ``{data, status_code, status_message, timestamp}``;
* the ``Authorization: Token <base64(credentials token)>`` header (base64 is new in 2.2.1);
* ``X-Request-ID``/``X-Correlation-ID`` on every request, echoed on every response;
* the message routing headers ``OCPI-to-*``/``OCPI-from-*`` (functional modules only);
* pagination (``offset``/``limit``/``date_from``/``date_to`` and the ``Link``,
  ``X-Total-Count`` and ``X-Limit`` response headers);
* OCPI timestamps, which are stricter than RFC 3339: UTC only, ``Z`` or no designator,
  at most 25 characters ("+00:00 is not the same as UTC");
* validation of objects against the JSON schemas of the OpenAPI description.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, urljoin, urlsplit

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

OCPI_VERSION = "2.2.1"

#: Header names exactly as the specification spells them (HTTP header names are
#: case-insensitive, but a peer that sends the documented spelling is the common case).
X_REQUEST_ID = "X-Request-ID"
X_CORRELATION_ID = "X-Correlation-ID"
X_TOTAL_COUNT = "X-Total-Count"
X_LIMIT = "X-Limit"
TO_COUNTRY_CODE = "OCPI-to-country-code"
TO_PARTY_ID = "OCPI-to-party-id"
FROM_COUNTRY_CODE = "OCPI-from-country-code"
FROM_PARTY_ID = "OCPI-from-party-id"
ROUTING_HEADERS = (TO_COUNTRY_CODE, TO_PARTY_ID, FROM_COUNTRY_CODE, FROM_PARTY_ID)

#: Modules that are platform-to-platform configuration: routing headers SHALL NOT be used.
CONFIGURATION_MODULES = frozenset({"versions", "credentials", "hubclientinfo"})

#: OCPI status codes (OCPI 2.2.1, "Status codes").
SUCCESS = 1000
CLIENT_ERROR = 2000
INVALID_PARAMETERS = 2001
NOT_ENOUGH_INFORMATION = 2002
UNKNOWN_LOCATION = 2003
UNKNOWN_TOKEN = 2004
SERVER_ERROR = 3000
CLIENT_API_UNUSABLE = 3001
UNSUPPORTED_VERSION = 3002
NO_MATCHING_ENDPOINTS = 3003
HUB_ERROR = 4000
UNKNOWN_RECEIVER = 4001

# ---------------------------------------------------------------------------------------------
# Time


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC (OCPI timestamps are always UTC)."""
    return datetime.now(UTC)


def ocpi_timestamp(moment: datetime | None = None) -> str:
    """An OCPI DateTime with millisecond precision and a ``Z`` designator (24 characters).

    Milliseconds keep objects created in quick succession ordered by ``last_updated``.
    """
    moment = (moment or utc_now()).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


_OCPI_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z?$")


def is_ocpi_datetime(value: object) -> bool:
    """True when ``value`` is a timestamp in one of the forms OCPI 2.2.1 allows.

    The specification lists ``2015-06-29T20:39:09Z``, ``2015-06-29T20:39:09``, and the same
    with fractional seconds, and states that other patterns are not allowed: an explicit
    offset (even ``+00:00``) is therefore rejected, unlike in plain RFC 3339.
    """
    if not isinstance(value, str) or len(value) > 25 or not _OCPI_DATETIME.match(value):
        return False
    try:
        parse_ocpi_datetime(value)
    except ValueError:
        return False
    return True


def parse_ocpi_datetime(value: str) -> datetime:
    """Parse an OCPI timestamp into an aware UTC datetime.

    Lenient on purpose (offsets are converted) because it is also used for query
    parameters, where rejecting a slightly off format would hide the interesting behaviour.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    match = re.match(r"^(.*T\d{2}:\d{2}:\d{2})\.(\d+)(.*)$", text)
    if match:  # Python before 3.11 rules: at most 6 fractional digits
        text = f"{match.group(1)}.{match.group(2)[:6].ljust(6, '0')}{match.group(3)}"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# ---------------------------------------------------------------------------------------------
# Envelope, identifiers, tokens


def envelope(data: Any = None, status_code: int = SUCCESS,
             status_message: str | None = None) -> dict[str, Any]:
    """An OCPI response object; ``data`` is omitted when None (allowed for errors)."""
    body: dict[str, Any] = {"status_code": status_code, "timestamp": ocpi_timestamp()}
    if data is not None:
        body["data"] = data
    if status_message is not None:
        body["status_message"] = status_message
    return body


def new_id() -> str:
    """A UUID string, as the specification advises for request and correlation IDs."""
    return str(uuid.uuid4())


def new_credentials_token() -> str:
    """A fresh credentials token: printable non-whitespace ASCII, at most 64 characters."""
    return uuid.uuid4().hex + uuid.uuid4().hex[:16]


def encode_token(token: str) -> str:
    """The Authorization header value for a credentials token (OCPI 2.2.1: base64)."""
    return "Token " + base64.b64encode(token.encode("utf-8")).decode("ascii")


def decode_authorization(header: str | None) -> str | None:
    """The credentials token carried by an ``Authorization: Token <base64>`` header.

    None when the header is missing, uses another scheme, or is not valid base64/UTF-8.
    """
    raw = authorization_value(header)
    if raw is None:
        return None
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def authorization_value(header: str | None) -> str | None:
    """The text after ``Token `` in an Authorization header, undecoded (or None)."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "token" or not value.strip():
        return None
    return value.strip()


class Party(NamedTuple):
    """A party on an OCPI platform: ``country_code`` plus ``party_id``.

    Both are CiStrings (case-insensitive), so :meth:`key` is what identities compare on.
    """

    country_code: str
    party_id: str

    def key(self) -> tuple[str, str]:
        """The case-insensitive identity of the party."""
        return (self.country_code.upper(), self.party_id.upper())

    def same_as(self, other: Party | tuple[str, str] | None) -> bool:
        """Case-insensitive equality, as CiString requires."""
        return other is not None and self.key() == Party(*other).key()

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_id}"


@dataclass(frozen=True)
class Routing:
    """The four message routing headers; None values are left out of the request."""

    to_country_code: str | None = None
    to_party_id: str | None = None
    from_country_code: str | None = None
    from_party_id: str | None = None

    @classmethod
    def between(cls, sender: Party | tuple[str, str],
                receiver: Party | tuple[str, str] | None) -> Routing:
        """Routing for a message from ``sender`` to ``receiver``."""
        to = Party(*receiver) if receiver is not None else None
        frm = Party(*sender)
        return cls(to.country_code if to else None, to.party_id if to else None,
                   frm.country_code, frm.party_id)

    def headers(self) -> dict[str, str]:
        """The HTTP headers for this routing."""
        values = (self.to_country_code, self.to_party_id, self.from_country_code,
                  self.from_party_id)
        return {name: value for name, value in zip(ROUTING_HEADERS, values, strict=True)
                if value is not None}


def routing_from_headers(headers: Mapping[str, str]) -> tuple[Party | None, Party | None]:
    """(to, from) parties named by a message's routing headers, None when incomplete."""
    def pick(cc_name: str, pid_name: str) -> Party | None:
        cc, pid = headers.get(cc_name), headers.get(pid_name)
        return Party(cc, pid) if cc and pid else None

    return (pick(TO_COUNTRY_CODE, TO_PARTY_ID), pick(FROM_COUNTRY_CODE, FROM_PARTY_ID))


def request_headers(token: str | None, routing: Routing | None = None, *,
                    request_id: str | None = None,
                    correlation_id: str | None = None) -> dict[str, str]:
    """Headers every OCPI request carries: Authorization, unique IDs and routing."""
    headers = {X_REQUEST_ID: request_id or new_id(),
               X_CORRELATION_ID: correlation_id or new_id()}
    if token is not None:
        headers["Authorization"] = encode_token(token)
    if routing is not None:
        headers.update(routing.headers())
    return headers


def json_reply(request: web.Request, body: Any, status: int = 200,
               headers: Mapping[str, str] | None = None) -> web.Response:
    """A JSON response echoing the request's X-Request-ID and X-Correlation-ID.

    When the request lacked one of them, a fresh value is sent so the response still
    carries both, as "every request/response SHALL contain" them.
    """
    out = CIMultiDict(headers or {})
    out[X_REQUEST_ID] = request.headers.get(X_REQUEST_ID) or new_id()
    out[X_CORRELATION_ID] = request.headers.get(X_CORRELATION_ID) or new_id()
    if body is None:
        return web.Response(status=status, headers=out)
    return web.json_response(body, status=status, headers=out)


# ---------------------------------------------------------------------------------------------
# HTTP client


class OcpiResponse(NamedTuple):
    """What an OCPI call returned: HTTP status, decoded envelope (None if not JSON), headers."""

    http_status: int
    envelope: Any
    headers: CIMultiDictProxy[str]

    @property
    def status_code(self) -> int | None:
        """The OCPI ``status_code`` of the envelope, if there was one."""
        if isinstance(self.envelope, dict):
            code = self.envelope.get("status_code")
            return code if isinstance(code, int) else None
        return None

    @property
    def data(self) -> Any:
        """The envelope's ``data`` (None when absent)."""
        return self.envelope.get("data") if isinstance(self.envelope, dict) else None

    @property
    def ok(self) -> bool:
        """HTTP 2xx with OCPI status 1xxx."""
        code = self.status_code
        return 200 <= self.http_status < 300 and code is not None and 1000 <= code < 2000


@dataclass
class Exchange:
    """One request this side sent and what came back (for assertions on the other side)."""

    method: str
    url: str
    request_headers: dict[str, str]
    body: Any
    http_status: int | None = None
    response_headers: CIMultiDictProxy[str] | None = None
    envelope: Any = None
    error: str | None = None


@dataclass
class PageInfo:
    """One page of a paginated GET."""

    url: str
    http_status: int
    status_code: int | None
    count: int
    total_count: int | None
    limit: int | None
    next_url: str | None


@dataclass
class PagedResult:
    """Every object collected by following ``Link: <...>; rel="next"``, plus page details."""

    items: list[Any] = field(default_factory=list)
    pages: list[PageInfo] = field(default_factory=list)
    responses: list[OcpiResponse] = field(default_factory=list)

    @property
    def total_count(self) -> int | None:
        """``X-Total-Count`` of the first page (the count the crawl started from)."""
        return self.pages[0].total_count if self.pages else None

    @property
    def limit(self) -> int | None:
        """``X-Limit`` of the first page."""
        return self.pages[0].limit if self.pages else None

    @property
    def ok(self) -> bool:
        """Every page answered HTTP 2xx with OCPI status 1xxx."""
        return bool(self.responses) and all(r.ok for r in self.responses)


_LINK_NEXT = re.compile(r'<([^>]*)>\s*;[^,]*?rel\s*=\s*"?next"?', re.IGNORECASE)


def parse_link_next(header: str | None, base_url: str = "") -> str | None:
    """The ``rel="next"`` URL of a Link header, resolved against ``base_url``."""
    if not header:
        return None
    match = _LINK_NEXT.search(header)
    return urljoin(base_url, match.group(1).strip()) if match else None


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class OcpiClient:
    """A small aiohttp client that sends OCPI requests with all mandatory headers.

    Every exchange is appended to :attr:`log`, so a test can check what the other side
    answered (for instance that it echoed X-Request-ID) without re-sending anything.
    """

    def __init__(self, session: aiohttp.ClientSession | None = None,
                 timeout: float = 10.0) -> None:
        self._session = session
        self._own_session = session is None
        self.timeout = timeout
        self.log: list[Exchange] = []

    @property
    def session(self) -> aiohttp.ClientSession:
        """The underlying session, created on first use inside the running loop."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        """Close the session if this client created it."""
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def request(self, method: str, url: str, *, token: str | None,
                      json: Any = None, params: Mapping[str, Any] | None = None,
                      routing: Routing | None = None, correlation_id: str | None = None,
                      headers: Mapping[str, str] | None = None,
                      raw_authorization: str | None = None) -> OcpiResponse:
        """Send one OCPI request; returns (http_status, envelope, response headers).

        ``raw_authorization`` replaces the Authorization header verbatim (to send a
        malformed one on purpose). Transport failures propagate as aiohttp exceptions.
        """
        sent = request_headers(token, routing, correlation_id=correlation_id)
        if raw_authorization is not None:
            sent["Authorization"] = raw_authorization
        if headers:
            sent.update(headers)
        exchange = Exchange(method.upper(), url, dict(sent), json)
        self.log.append(exchange)
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        try:
            async with self.session.request(
                method.upper(), url, json=json, params=query or None, headers=sent,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as resp:
                text = await resp.text()
                body: Any
                try:
                    body = await resp.json(content_type=None) if text else None
                except ValueError:
                    body = text
                exchange.http_status = resp.status
                received = CIMultiDictProxy(CIMultiDict(resp.headers))
                exchange.response_headers = received
                exchange.envelope = body
                return OcpiResponse(resp.status, body, received)
        except (aiohttp.ClientError, TimeoutError) as exc:
            exchange.error = repr(exc)
            raise

    async def get_paginated(self, url: str, *, token: str | None,
                            params: Mapping[str, Any] | None = None,
                            routing: Routing | None = None,
                            max_pages: int = 1000) -> PagedResult:
        """GET a list and follow ``Link: <url>; rel="next"`` until the last page.

        The filters of the first request are carried by the server into its Link URLs, so
        only the first request gets ``params``. Crawling stops at a page that is not a
        success (it is still recorded) so a broken server cannot loop forever.
        """
        result = PagedResult()
        next_url: str | None = url
        first = True
        while next_url is not None and len(result.pages) < max_pages:
            response = await self.request("GET", next_url, token=token,
                                          params=params if first else None, routing=routing)
            first = False
            result.responses.append(response)
            data = response.data
            items = data if isinstance(data, list) else []
            following = parse_link_next(response.headers.get("Link"), next_url)
            result.pages.append(PageInfo(
                url=next_url, http_status=response.http_status,
                status_code=response.status_code, count=len(items),
                total_count=_int_header(response.headers, X_TOTAL_COUNT),
                limit=_int_header(response.headers, X_LIMIT), next_url=following))
            if not response.ok:
                break
            result.items.extend(items)
            next_url = following
        return result


def join_url(base: str, *segments: str) -> str:
    """``base`` followed by ``/segment``s, tolerating a trailing slash on ``base``.

    Segments are percent-encoded so identifiers with reserved characters stay one segment.
    """
    out = base.rstrip("/")
    for segment in segments:
        out += "/" + quote(str(segment), safe="")
    return out


# ---------------------------------------------------------------------------------------------
# Schemas


def default_schema_dir() -> Path:
    """Where the OCPI 2.2.1 OpenAPI description lives.

    ``OCPI_OPENAPI_DIR`` overrides; otherwise ``shared/ocpi-openapi/2.2.1`` beside the
    repository, which is where the other OCPI contract tests look as well.
    """
    configured = os.environ.get("OCPI_OPENAPI_DIR")
    if configured:
        return Path(configured)
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "ocpi-openapi" / OCPI_VERSION


class OcpiSchemas:
    """Validates objects against ``modules/<module>/schema.yaml#/components/schemas/<Name>``.

    The YAML files are JSON Schema 2020-12 (OpenAPI 3.1); ``$ref``s between module files and
    to ``components/schema.yaml`` are resolved by loading the referenced file on demand.
    ``date-time`` is checked with the OCPI rules (see :func:`is_ocpi_datetime`) and ``uri``
    as an absolute URL. Enumerations marked ``format: open-enum`` are checked strictly unless
    ``open_enums`` is set, because a CPO sending an unlisted value is almost always a typo.
    ``strict_datetimes=False`` accepts any RFC 3339 timestamp (e.g. with ``+00:00``).
    """

    def __init__(self, directory: Path | None = None, *, open_enums: bool = False,
                 strict_datetimes: bool = True) -> None:
        self.directory = (directory or default_schema_dir()).resolve()
        self.open_enums = open_enums
        self.strict_datetimes = strict_datetimes
        self._validators: dict[tuple[str, str], Any] = {}
        self._documents: dict[str, Any] = {}

    def available(self) -> bool:
        """Whether the OpenAPI description is present."""
        return (self.directory / "components" / "schema.yaml").is_file()

    def _load(self, uri: str) -> Any:
        import yaml

        if uri not in self._documents:
            path = Path(uri.removeprefix("file://"))
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
            if self.open_enums:
                document = _open_enums(document)
            self._documents[uri] = document
        return self._documents[uri]

    def _validator(self, module: str, name: str) -> Any:
        key = (module, name)
        if key not in self._validators:
            from jsonschema import Draft202012Validator, FormatChecker
            from referencing import Registry, Resource
            from referencing.jsonschema import DRAFT202012

            if not self.available():
                raise FileNotFoundError(
                    f"the OCPI {OCPI_VERSION} OpenAPI description is not at {self.directory}")

            def retrieve(uri: str) -> Resource:
                return Resource.from_contents(self._load(uri),
                                              default_specification=DRAFT202012)

            checker = FormatChecker(formats=())
            checker.checks("date-time")(self._datetime_ok)
            checker.checks("uri")(_is_absolute_url)
            uri = (self.directory / "modules" / module / "schema.yaml").as_uri()
            self._validators[key] = Draft202012Validator(
                {"$ref": f"{uri}#/components/schemas/{name}"},
                registry=Registry(retrieve=retrieve),  # type: ignore[call-arg]
                format_checker=checker)
        return self._validators[key]

    def _datetime_ok(self, value: object) -> bool:
        if not isinstance(value, str):
            return True  # type errors are reported by "type", not by the format check
        if self.strict_datetimes:
            return is_ocpi_datetime(value)
        try:
            parse_ocpi_datetime(value)
        except ValueError:
            return False
        return "T" in value

    def errors(self, module: str, name: str, obj: Any) -> list[str]:
        """Human-readable validation errors (empty when ``obj`` is valid)."""
        found = self._validator(module, name).iter_errors(obj)
        return [f"{error.json_path}: {error.message}"
                for error in sorted(found, key=lambda e: e.json_path)]


def _open_enums(node: Any) -> Any:
    """A copy of a schema document where ``format: open-enum`` schemas accept any string."""
    if isinstance(node, dict):
        out = {k: _open_enums(v) for k, v in node.items()}
        if out.get("format") == "open-enum":
            out.pop("enum", None)
        return out
    if isinstance(node, list):
        return [_open_enums(v) for v in node]
    return node


def _is_absolute_url(value: object) -> bool:
    if not isinstance(value, str):
        return True  # type errors are reported by "type", not by the format check
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc)


@functools.cache
def shared_schemas() -> OcpiSchemas:
    """One strict :class:`OcpiSchemas` for the default directory, shared by all peers."""
    return OcpiSchemas()
