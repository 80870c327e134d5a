"""An OCPI 2.2.1 eMSP platform to test a CPO against, written from the specification.

The peer is a real aiohttp server on 127.0.0.1 (free port) plus an HTTP client. It:

* answers the versions and credentials modules, in both directions of the handshake
  (a CPO registers with it using a token A from :meth:`EmspPeer.issue_token_a`, or it
  registers with a CPO via :meth:`EmspPeer.register_with`);
* implements the Receiver interfaces of locations, sessions, cdrs and tariffs, storing what
  a CPO pushes after checking it against the OpenAPI JSON schemas (a violation answers
  OCPI status 2001 and lands in :attr:`EmspPeer.rejected`);
* implements the Sender interfaces of tokens (paginated list, real-time authorization) and
  commands (the asynchronous CommandResult arrives at a ``response_url`` the peer hosts);
* pushes tokens and sends commands to the CPO's Receiver interfaces.

It records every request it receives (:attr:`EmspPeer.received`) and every deviation from
the transport rules it notices (:attr:`EmspPeer.violations`) without refusing the request,
so tests can both exercise the happy path and assert on protocol details. Switches such as
:attr:`EmspPeer.down`, :attr:`EmspPeer.trailing_slash` and :attr:`EmspPeer.lowercase_ids`
simulate the behaviour of less well-behaved real partners.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import unquote, urlencode

import aiohttp
from aiohttp import web
from multidict import CIMultiDictProxy

from .common import (
    CLIENT_API_UNUSABLE,
    CLIENT_ERROR,
    CONFIGURATION_MODULES,
    INVALID_PARAMETERS,
    NO_MATCHING_ENDPOINTS,
    NOT_ENOUGH_INFORMATION,
    OCPI_VERSION,
    ROUTING_HEADERS,
    SERVER_ERROR,
    UNKNOWN_LOCATION,
    UNKNOWN_TOKEN,
    UNSUPPORTED_VERSION,
    X_CORRELATION_ID,
    X_LIMIT,
    X_REQUEST_ID,
    X_TOTAL_COUNT,
    OcpiClient,
    OcpiResponse,
    OcpiSchemas,
    PagedResult,
    Party,
    Routing,
    authorization_value,
    decode_authorization,
    envelope,
    join_url,
    json_reply,
    new_credentials_token,
    ocpi_timestamp,
    parse_ocpi_datetime,
    routing_from_headers,
    shared_schemas,
)

COMMAND_TYPES = ("START_SESSION", "STOP_SESSION", "RESERVE_NOW", "CANCEL_RESERVATION",
                 "UNLOCK_CONNECTOR")
ALLOWED_TYPES = ("ALLOWED", "BLOCKED", "EXPIRED", "NO_CREDIT", "NOT_ALLOWED")

ObjectKey = tuple[str, str, str]


class OcpiPeerError(Exception):
    """An outgoing OCPI exchange of the peer did not succeed.

    ``response`` is the answer that made it fail, when there was one.
    """

    def __init__(self, message: str, response: OcpiResponse | None = None,
                 status_code: int = CLIENT_API_UNUSABLE) -> None:
        super().__init__(message)
        self.response = response
        self.status_code = status_code


@dataclass
class Partner:
    """A platform the peer exchanged credentials with (normally the CPO under test).

    ``token_in`` is the credentials token the partner uses to call the peer, ``token_out``
    the one the peer uses to call the partner.
    """

    token_in: str
    token_out: str | None = None
    versions_url: str | None = None
    version: str | None = None
    version_url: str | None = None
    endpoints: list[dict[str, Any]] = field(default_factory=list)
    roles: list[dict[str, Any]] = field(default_factory=list)
    registered: bool = False
    extra_tokens_in: set[str] = field(default_factory=set)

    def endpoint(self, identifier: str, role: str | None = None) -> str | None:
        """URL of the partner's module ``identifier`` (with interface ``role``, if given)."""
        for entry in self.endpoints:
            if entry.get("identifier") != identifier:
                continue
            if role is None or entry.get("role") in (role, None):
                url = entry.get("url")
                return url if isinstance(url, str) else None
        return None

    @property
    def parties(self) -> list[Party]:
        """Every party of the partner's credentials roles."""
        out = []
        for role in self.roles:
            cc, pid = role.get("country_code"), role.get("party_id")
            if isinstance(cc, str) and isinstance(pid, str):
                out.append(Party(cc, pid))
        return out

    @property
    def party(self) -> Party | None:
        """The partner's CPO party (else its first party): the ``OCPI-to-*`` of our calls."""
        for role in self.roles:
            if role.get("role") == "CPO" and role.get("country_code") and role.get("party_id"):
                return Party(role["country_code"], role["party_id"])
        parties = self.parties
        return parties[0] if parties else None


@dataclass
class ReceivedRequest:
    """One request the peer received, with what it answered."""

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    body: Any
    module: str | None = None
    partner: Partner | None = None
    http_status: int | None = None
    response: Any = None

    @property
    def to_party(self) -> Party | None:
        """The party named by the ``OCPI-to-*`` headers, if both were present."""
        return routing_from_headers(self.headers)[0]

    @property
    def from_party(self) -> Party | None:
        """The party named by the ``OCPI-from-*`` headers, if both were present."""
        return routing_from_headers(self.headers)[1]


@dataclass
class Rejection:
    """An object the peer refused because it did not match the OCPI schema (or its URL)."""

    method: str
    path: str
    schema: str
    errors: list[str]
    body: Any


@dataclass
class PartyStore:
    """What one eMSP party holds: objects pushed to it by CPOs and its own tokens.

    Objects from CPOs are keyed ``(COUNTRY_CODE, PARTY_ID, id)`` with the CiStrings upper-cased,
    so a CPO that changes the case of its identifiers still addresses the same object.
    """

    party: Party
    locations: dict[ObjectKey, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[ObjectKey, dict[str, Any]] = field(default_factory=dict)
    cdrs: dict[ObjectKey, dict[str, Any]] = field(default_factory=dict)
    tariffs: dict[ObjectKey, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    token_answers: dict[tuple[str, str], str] = field(default_factory=dict)

    @staticmethod
    def _find(objects: Mapping[ObjectKey, dict[str, Any]], object_id: str,
              cpo: tuple[str, str] | None) -> dict[str, Any] | None:
        if cpo is not None:
            return objects.get((cpo[0].upper(), cpo[1].upper(), object_id))
        return next((obj for key, obj in objects.items() if key[2] == object_id), None)

    def location(self, location_id: str, cpo: tuple[str, str] | None = None
                 ) -> dict[str, Any] | None:
        """A stored Location by id (of CPO party ``cpo`` when given)."""
        return self._find(self.locations, location_id, cpo)

    def session(self, session_id: str, cpo: tuple[str, str] | None = None
                ) -> dict[str, Any] | None:
        """A stored Session by id."""
        return self._find(self.sessions, session_id, cpo)

    def cdr(self, cdr_id: str, cpo: tuple[str, str] | None = None) -> dict[str, Any] | None:
        """A stored CDR by id."""
        return self._find(self.cdrs, cdr_id, cpo)

    def tariff(self, tariff_id: str, cpo: tuple[str, str] | None = None
               ) -> dict[str, Any] | None:
        """A stored Tariff by id."""
        return self._find(self.tariffs, tariff_id, cpo)

    def evse(self, location_id: str, evse_uid: str) -> dict[str, Any] | None:
        """A stored EVSE by location id and EVSE uid."""
        location = self.location(location_id)
        return _by_field(location.get("evses") if location else None, "uid", evse_uid)

    def token(self, uid: str, token_type: str = "RFID") -> dict[str, Any] | None:
        """One of this party's tokens."""
        return self.tokens.get((uid, token_type))


@dataclass
class CommandCall:
    """A command the peer sent: the immediate CommandResponse and the later CommandResult."""

    command: str
    uid: str
    response_url: str
    body: dict[str, Any]
    response: OcpiResponse | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    result_received: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def command_response(self) -> Any:
        """The CommandResponse object (``data`` of the immediate answer)."""
        return self.response.data if self.response is not None else None

    @property
    def result(self) -> dict[str, Any] | None:
        """The first CommandResult posted to ``response_url``, if any yet."""
        return self.results[0] if self.results else None


@dataclass
class Reply:
    """What a handler answers, before the transport headers are added."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class _Refuse(Exception):
    """Raised inside a handler to answer ``reply`` immediately."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


@dataclass
class _Context:
    request: web.Request
    record: ReceivedRequest
    token: str
    partner: Partner | None
    args: list[str]
    body: Any


def _by_field(items: Any, name: str, value: str) -> dict[str, Any] | None:
    if not isinstance(items, list):
        return None
    return next((item for item in items if isinstance(item, dict) and item.get(name) == value),
                None)


def _replace_or_append(items: list[dict[str, Any]], name: str, obj: dict[str, Any]) -> None:
    for index, item in enumerate(items):
        if item.get(name) == obj.get(name):
            items[index] = obj
            return
    items.append(obj)


def _ok(data: Any = None, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, envelope(data), headers or {})


class EmspPeer:
    """An eMSP platform with one party, reachable over HTTP on 127.0.0.1.

    Use ``await peer.start()`` / ``await peer.stop()`` or ``async with EmspPeer() as peer``.
    Test-facing switches (plain attributes, change them at any time):

    * ``down``: every request is answered HTTP 503 (a partner that is unavailable);
    * ``trailing_slash``: advertised URLs end with ``/``;
    * ``lowercase_ids``: our country_code/party_id are sent lower-case everywhere;
    * ``authorize_delay``: seconds to wait before answering a real-time authorization;
    * ``page_limit``: the server-side maximum page size (``X-Limit``) of GET lists;
    * ``accept_unencoded_tokens``: also accept ``Authorization: Token <raw token>``
      (pre-2.2.1 style), noting it in ``violations``;
    * ``require_location_references``: answer 2002 to authorizations without a location;
    * ``required_endpoints``: (module, role) pairs a partner must offer, else 3003;
    * ``error_http_status``: HTTP status used with OCPI client errors such as 2001.
    """

    ROLE: ClassVar[str] = "EMSP"
    ENDPOINTS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("credentials", "RECEIVER"),
        ("locations", "RECEIVER"),
        ("sessions", "RECEIVER"),
        ("cdrs", "RECEIVER"),
        ("tariffs", "RECEIVER"),
        ("tokens", "SENDER"),
        ("commands", "SENDER"),
    )

    def __init__(self, country_code: str = "NL", party_id: str = "EMS", *,
                 name: str | None = None, schemas: OcpiSchemas | None = None,
                 client_timeout: float = 10.0) -> None:
        self.party = Party(country_code, party_id)
        self.business_name = name or f"{country_code}*{party_id} test {self.ROLE.lower()}"
        self.schemas = schemas or shared_schemas()
        self.client_timeout = client_timeout

        self.down = False
        self.trailing_slash = False
        self.lowercase_ids = False
        self.authorize_delay = 0.0
        self.page_limit = 50
        self.accept_unencoded_tokens = False
        self.require_location_references = False
        self.required_endpoints: set[tuple[str, str]] = set()
        self.error_http_status = 400

        self.received: list[ReceivedRequest] = []
        self.rejected: list[Rejection] = []
        self.violations: list[str] = []
        self.authorizations: list[dict[str, Any]] = []
        self.commands: dict[str, CommandCall] = {}
        self.partners: list[Partner] = []
        self.stores: dict[tuple[str, str], PartyStore] = {
            self.party.key(): PartyStore(self.party)}

        self._tokens_a: set[str] = set()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._client: OcpiClient | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> EmspPeer:
        """Serve on a free port of 127.0.0.1 and open the HTTP client."""
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(runner, sock)
        await site.start()
        self._runner = runner
        self._port = sock.getsockname()[1]
        self._client = OcpiClient(timeout=self.client_timeout)
        return self

    async def stop(self) -> None:
        """Close the client and the server."""
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> EmspPeer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def client(self) -> OcpiClient:
        """The peer's HTTP client (its :attr:`OcpiClient.log` lists every call made)."""
        if self._client is None:
            raise RuntimeError("the peer is not started")
        return self._client

    # -- addresses --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        if self._port is None:
            raise RuntimeError("the peer is not started")
        return f"http://127.0.0.1:{self._port}"

    def _advertised(self, path: str) -> str:
        return f"{self.base_url}{path}" + ("/" if self.trailing_slash else "")

    @property
    def versions_url(self) -> str:
        """The versions endpoint the peer advertises (its credentials ``url``)."""
        return self._advertised("/ocpi/versions")

    @property
    def version_details_url(self) -> str:
        """The 2.2.1 version details endpoint."""
        return self._advertised(f"/ocpi/{OCPI_VERSION}")

    def endpoint_url(self, module: str) -> str:
        """The URL the peer advertises for one of its modules."""
        return self._advertised(f"/ocpi/{OCPI_VERSION}/{module}")

    def _ids(self, party: Party) -> Party:
        """A party as the peer sends it (lower-cased when ``lowercase_ids`` is set)."""
        if self.lowercase_ids:
            return Party(party.country_code.lower(), party.party_id.lower())
        return party

    def _default_from(self) -> Party:
        """The party our functional requests are sent from."""
        return self.party

    # -- state shortcuts --------------------------------------------------------------------

    @property
    def store(self) -> PartyStore:
        """The store of the peer's own party."""
        return self.stores[self.party.key()]

    def store_for(self, country_code: str, party_id: str) -> PartyStore:
        """The store of one party hosted on this platform."""
        return self.stores[Party(country_code, party_id).key()]

    @property
    def locations(self) -> dict[ObjectKey, dict[str, Any]]:
        """Locations pushed to the peer's party, keyed (CC, PID, location id)."""
        return self.store.locations

    @property
    def sessions(self) -> dict[ObjectKey, dict[str, Any]]:
        """Sessions pushed to the peer's party."""
        return self.store.sessions

    @property
    def cdrs(self) -> dict[ObjectKey, dict[str, Any]]:
        """CDRs posted to the peer's party."""
        return self.store.cdrs

    @property
    def tariffs(self) -> dict[ObjectKey, dict[str, Any]]:
        """Tariffs pushed to the peer's party."""
        return self.store.tariffs

    @property
    def tokens(self) -> dict[tuple[str, str], dict[str, Any]]:
        """The peer's own tokens, keyed (uid, type)."""
        return self.store.tokens

    @property
    def partner(self) -> Partner:
        """The most recently registered partner (the CPO under test, usually)."""
        for partner in reversed(self.partners):
            if partner.registered:
                return partner
        if self.partners:
            return self.partners[-1]
        raise RuntimeError("no partner has registered with this peer, nor it with one")

    def issue_token_a(self) -> str:
        """A fresh CREDENTIALS_TOKEN_A the peer accepts for one registration."""
        token = new_credentials_token()
        self._tokens_a.add(token)
        return token

    def requests(self, module: str | None = None, method: str | None = None
                 ) -> list[ReceivedRequest]:
        """Received requests, optionally only of one module and/or HTTP method."""
        return [r for r in self.received
                if (module is None or r.module == module)
                and (method is None or r.method == method.upper())]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0,
                       interval: float = 0.02) -> Any:
        """Poll ``predicate`` until it returns something truthy, and return that.

        ``predicate`` may be a plain function or return an awaitable (e.g. an async check
        against the CPO's API).

        Raises TimeoutError with the predicate's name when it does not happen in time.
        """
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            if time.monotonic() >= deadline:
                name = getattr(predicate, "__name__", repr(predicate))
                raise TimeoutError(f"{name} did not become true within {timeout}s")
            await asyncio.sleep(interval)

    # -- tokens (Sender interface data) -----------------------------------------------------

    def _token_party(self, party: Party | tuple[str, str] | None) -> Party:
        return Party(*party) if party is not None else self._default_from()

    def add_token(self, uid: str, type: str = "RFID", *, whitelist: str = "ALLOWED",
                  valid: bool = True, allowed: str = "ALLOWED",
                  contract_id: str | None = None, issuer: str | None = None,
                  party: Party | tuple[str, str] | None = None,
                  **extra: Any) -> dict[str, Any]:
        """Create (or replace) an OCPI Token of one of our parties.

        ``allowed`` is the AuthorizationInfo.allowed answered for it in real-time
        authorization. Extra keyword arguments become Token fields (e.g. ``group_id``).
        """
        if allowed not in ALLOWED_TYPES:
            raise ValueError(f"allowed must be one of {ALLOWED_TYPES}")
        owner = self._token_party(party)
        store = self.stores[owner.key()]
        token: dict[str, Any] = {
            "country_code": owner.country_code,
            "party_id": owner.party_id,
            "uid": uid,
            "type": type,
            "contract_id": contract_id or f"{owner.country_code}-{owner.party_id}-C{uid}"[:36],
            "issuer": issuer or self.business_name[:64],
            "valid": valid,
            "whitelist": whitelist,
            "last_updated": ocpi_timestamp(),
            **extra,
        }
        store.tokens[(uid, type)] = token
        store.token_answers[(uid, type)] = allowed
        return token

    def set_token_allowed(self, uid: str, allowed: str, type: str = "RFID") -> None:
        """Change what real-time authorization answers for a token."""
        if allowed not in ALLOWED_TYPES:
            raise ValueError(f"allowed must be one of {ALLOWED_TYPES}")
        store = self._store_with_token(uid, type)
        store.token_answers[(uid, type)] = allowed

    def _store_with_token(self, uid: str, token_type: str) -> PartyStore:
        for store in self.stores.values():
            if (uid, token_type) in store.tokens:
                return store
        raise KeyError(f"no token {uid!r} of type {token_type}")

    def _outgoing_token(self, token: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(token)
        if self.lowercase_ids:
            for name in ("country_code", "party_id"):
                if isinstance(out.get(name), str):
                    out[name] = out[name].lower()
        return out

    # -- outgoing calls ---------------------------------------------------------------------

    def _require_url(self, partner: Partner, module: str, role: str | None) -> str:
        url = partner.endpoint(module, role)
        if url is None:
            raise OcpiPeerError(f"the partner offers no {module} {role or ''} endpoint",
                                status_code=NO_MATCHING_ENDPOINTS)
        return url

    def _routing(self, partner: Partner, from_party: Party | tuple[str, str] | None
                 ) -> Routing:
        sender = self._ids(Party(*from_party) if from_party else self._default_from())
        return Routing.between(sender, partner.party)

    async def call(self, method: str, module: str, *segments: str, json: Any = None,
                   params: Mapping[str, Any] | None = None, role: str | None = None,
                   partner: Partner | None = None,
                   from_party: Party | tuple[str, str] | None = None,
                   routing: Routing | None = None, token: str | None = None,
                   url: str | None = None) -> OcpiResponse:
        """Send any request to a partner module: ``{module url}/{segments...}``.

        Routing headers are added for functional modules only (from ``from_party`` or our
        party, to the partner's CPO party) unless ``routing`` is given. ``url`` overrides the
        endpoint lookup; ``token`` the credentials token.
        """
        partner = partner or self.partner
        target = url or join_url(self._require_url(partner, module, role), *segments)
        if routing is None and module not in CONFIGURATION_MODULES:
            routing = self._routing(partner, from_party)
        return await self.client.request(method, target, token=token or partner.token_out,
                                         json=json, params=params, routing=routing)

    async def get_all(self, module: str, params: Mapping[str, Any] | None = None, *,
                      partner: Partner | None = None,
                      from_party: Party | tuple[str, str] | None = None) -> PagedResult:
        """Pull a partner Sender module's whole list, following the pagination links."""
        partner = partner or self.partner
        url = self._require_url(partner, module, "SENDER")
        return await self.client.get_paginated(url, token=partner.token_out, params=params,
                                               routing=self._routing(partner, from_party))

    async def push_token(self, token: Mapping[str, Any] | str, type: str = "RFID", *,
                         partner: Partner | None = None) -> OcpiResponse:
        """PUT a Token to the partner's tokens Receiver ``{url}/{cc}/{pid}/{uid}?type=``.

        ``token`` is a Token object or the uid of one added with :meth:`add_token`.
        """
        if isinstance(token, str):
            token = self._store_with_token(token, type).tokens[(token, type)]
        body = self._outgoing_token(token)
        owner = Party(body["country_code"], body["party_id"])
        return await self.call("PUT", "tokens", body["country_code"], body["party_id"],
                               body["uid"], json=body, params={"type": body["type"]},
                               role="RECEIVER", partner=partner, from_party=owner)

    async def patch_token(self, uid: str, fields: Mapping[str, Any], type: str = "RFID", *,
                          partner: Partner | None = None) -> OcpiResponse:
        """PATCH some fields of one of our tokens at the partner (adds ``last_updated``).

        The local copy is updated first so a later GET of our token list agrees.
        """
        store = self._store_with_token(uid, type)
        patch = dict(fields)
        patch.setdefault("last_updated", ocpi_timestamp())
        store.tokens[(uid, type)].update(patch)
        token = self._outgoing_token(store.tokens[(uid, type)])
        owner = Party(token["country_code"], token["party_id"])
        return await self.call("PATCH", "tokens", token["country_code"], token["party_id"],
                               uid, json=patch, params={"type": type}, role="RECEIVER",
                               partner=partner, from_party=owner)

    async def command(self, command: str, body: Mapping[str, Any] | None = None, *,
                      partner: Partner | None = None,
                      from_party: Party | tuple[str, str] | None = None) -> CommandCall:
        """POST a command to the partner's commands Receiver ``{url}/{command}``.

        A unique ``response_url`` hosted by the peer is added (unless ``body`` has one). A
        ``token`` given as a uid string is replaced by that stored Token object. Returns a
        :class:`CommandCall`; its ``command_response`` is the immediate CommandResponse and
        :meth:`wait_command_result` waits for the CommandResult.
        """
        if command not in COMMAND_TYPES:
            raise ValueError(f"command must be one of {COMMAND_TYPES}")
        partner = partner or self.partner
        uid = uuid.uuid4().hex
        response_url = join_url(self.endpoint_url("commands"), command, uid)
        payload = dict(body or {})
        payload.setdefault("response_url", response_url)
        if isinstance(payload.get("token"), str):
            stored = self._store_with_token(payload["token"], "RFID").tokens
            payload["token"] = self._outgoing_token(stored[(payload["token"], "RFID")])
        call = CommandCall(command, uid, payload["response_url"], payload)
        self.commands[uid] = call
        call.response = await self.call("POST", "commands", command, json=payload,
                                        role="RECEIVER", partner=partner,
                                        from_party=from_party)
        return call

    async def wait_command_result(self, call: CommandCall | str, timeout: float = 10.0
                                  ) -> dict[str, Any]:
        """Wait until the CommandResult of a command arrives; returns it.

        ``call`` is the :class:`CommandCall`, its ``response_url`` or its uid.
        """
        if isinstance(call, str):
            uid = call.rstrip("/").rsplit("/", 1)[-1]
            found = self.commands.get(uid)
            if found is None:
                raise KeyError(f"no command with uid or response_url {call!r}")
            call = found
        async with asyncio.timeout(timeout):
            await call.result_received.wait()
        assert call.result is not None
        return call.result

    # -- credentials (client side) ----------------------------------------------------------

    def credentials_object(self, token: str) -> dict[str, Any]:
        """Our Credentials object carrying ``token`` for the other side to use."""
        party = self._ids(self.party)
        return {
            "token": token,
            "url": self.versions_url,
            "roles": [{
                "role": self.ROLE,
                "business_details": {"name": self.business_name[:100]},
                "party_id": party.party_id,
                "country_code": party.country_code,
            }],
        }

    async def _fetch_endpoints(self, versions_url: str, token: str
                               ) -> tuple[str, str, list[dict[str, Any]]]:
        """GET a platform's versions, pick 2.2.1 and GET its details (the handshake reads).

        Raises OcpiPeerError with 3001 (unusable API) or 3002 (no 2.2.1).
        """
        try:
            listed = await self.client.request("GET", versions_url, token=token)
            if not listed.ok or not isinstance(listed.data, list):
                raise OcpiPeerError(f"GET {versions_url} failed", listed)
            self._note_schema_errors("versions", "Version", listed.data, versions_url)
            chosen = next((v for v in listed.data
                           if isinstance(v, dict) and v.get("version") == OCPI_VERSION), None)
            if chosen is None or not isinstance(chosen.get("url"), str):
                raise OcpiPeerError(f"{versions_url} does not offer OCPI {OCPI_VERSION}",
                                    listed, UNSUPPORTED_VERSION)
            details = await self.client.request("GET", chosen["url"], token=token)
            if not details.ok or not isinstance(details.data, dict):
                raise OcpiPeerError(f"GET {chosen['url']} failed", details)
            self._note_schema_errors("versions", "VersionDetails", [details.data],
                                     chosen["url"])
            endpoints = details.data.get("endpoints")
            if not isinstance(endpoints, list):
                raise OcpiPeerError(f"{chosen['url']} lists no endpoints", details)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise OcpiPeerError(f"cannot reach {versions_url}: {exc!r}") from exc
        return OCPI_VERSION, chosen["url"], [e for e in endpoints if isinstance(e, dict)]

    def _note_schema_errors(self, module: str, name: str, objects: Iterable[Any],
                            where: str) -> None:
        for obj in objects:
            for error in self.schemas.errors(module, name, obj):
                self.violations.append(f"{where}: {module}/{name} {error}")

    def _missing_endpoints(self, endpoints: list[dict[str, Any]]) -> list[tuple[str, str]]:
        offered = {(e.get("identifier"), e.get("role")) for e in endpoints}
        return sorted(need for need in self.required_endpoints if need not in offered)

    async def register_with(self, versions_url: str, token_a: str) -> Partner:
        """Register with a platform (normally the CPO) given its versions URL and token A.

        GET versions and 2.2.1 details with token A, generate our token B, POST our
        credentials to its credentials endpoint with token A, keep the returned token C for
        every later request. Raises OcpiPeerError when any step fails.
        """
        version, version_url, endpoints = await self._fetch_endpoints(versions_url, token_a)
        missing = self._missing_endpoints(endpoints)
        if missing:
            raise OcpiPeerError(f"missing endpoints {missing}", status_code=NO_MATCHING_ENDPOINTS)
        partner = Partner(token_in=new_credentials_token(), versions_url=versions_url,
                          version=version, version_url=version_url, endpoints=endpoints)
        self.partners.append(partner)
        credentials_url = self._require_url(partner, "credentials", None)
        try:
            answer = await self.client.request("POST", credentials_url, token=token_a,
                                               json=self.credentials_object(partner.token_in))
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.partners.remove(partner)
            raise OcpiPeerError(f"POST {credentials_url} failed: {exc!r}") from exc
        if not answer.ok or not isinstance(answer.data, dict):
            self.partners.remove(partner)
            raise OcpiPeerError(f"POST {credentials_url} was refused", answer)
        self._note_schema_errors("credentials", "Credentials", [answer.data], credentials_url)
        partner.token_out = answer.data.get("token")
        partner.roles = list(answer.data.get("roles") or [])
        partner.registered = True
        return partner

    async def update_credentials(self, partner: Partner | None = None) -> OcpiResponse:
        """Rotate tokens with PUT: new token for the partner, new token for us.

        Our endpoints are re-read by the partner with the new token, and theirs by us first
        (as the update sequence of the specification does).
        """
        partner = partner or self.partner
        if partner.token_out is None or partner.versions_url is None:
            raise OcpiPeerError("the partner is not registered")
        _, version_url, endpoints = await self._fetch_endpoints(partner.versions_url,
                                                                partner.token_out)
        partner.version_url, partner.endpoints = version_url, endpoints
        new_in = new_credentials_token()
        partner.extra_tokens_in.add(new_in)
        url = self._require_url(partner, "credentials", None)
        try:
            answer = await self.client.request("PUT", url, token=partner.token_out,
                                               json=self.credentials_object(new_in))
        finally:
            partner.extra_tokens_in.discard(new_in)
        if answer.ok and isinstance(answer.data, dict):
            self._note_schema_errors("credentials", "Credentials", [answer.data], url)
            partner.token_in = new_in
            partner.token_out = answer.data.get("token")
            partner.roles = list(answer.data.get("roles") or partner.roles)
        return answer

    async def unregister(self, partner: Partner | None = None) -> OcpiResponse:
        """DELETE our credentials at the partner; on success forget the partner."""
        partner = partner or self.partner
        url = self._require_url(partner, "credentials", None)
        answer = await self.client.request("DELETE", url, token=partner.token_out)
        if answer.ok:
            partner.registered = False
            if partner in self.partners:
                self.partners.remove(partner)
        return answer

    # -- server: transport ------------------------------------------------------------------

    def _partner_by_token(self, token: str | None) -> Partner | None:
        if token is None:
            return None
        for partner in self.partners:
            if token == partner.token_in or token in partner.extra_tokens_in:
                return partner
        return None

    def _authenticate(self, request: web.Request, record: ReceivedRequest
                      ) -> tuple[str | None, Partner | None]:
        header = request.headers.get("Authorization")
        token = decode_authorization(header)
        partner = self._partner_by_token(token)
        if partner is None and token not in self._tokens_a and self.accept_unencoded_tokens:
            raw = authorization_value(header)
            if raw is not None and (self._partner_by_token(raw) or raw in self._tokens_a):
                self._violation(record, "credentials token not base64-encoded")
                token, partner = raw, self._partner_by_token(raw)
        return token, partner

    def _violation(self, record: ReceivedRequest, message: str) -> None:
        self.violations.append(f"{record.method} {record.path}: {message}")

    def _check_transport(self, request: web.Request, record: ReceivedRequest) -> None:
        for name in (X_REQUEST_ID, X_CORRELATION_ID):
            if not request.headers.get(name):
                self._violation(record, f"missing {name}")
        if record.module in CONFIGURATION_MODULES:
            present = [h for h in ROUTING_HEADERS if h in request.headers]
            if present:
                self._violation(record, f"routing headers on a configuration module: {present}")
        if (request.method in ("POST", "PUT", "PATCH") and record.body is not None
                and request.content_type != "application/json"):
            self._violation(record, f"Content-Type {request.content_type!r}")

    @staticmethod
    def _segments(request: web.Request) -> list[str] | None:
        """Decoded path segments; one trailing slash is tolerated, empty segments are not."""
        raw = request.rel_url.raw_path
        if len(raw) > 1 and raw.endswith("/"):
            raw = raw[:-1]
        parts = raw.split("/")[1:]
        if any(part == "" for part in parts):
            return None
        return [unquote(part) for part in parts]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body: Any = None
        bad_json = False
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body, bad_json = raw.decode("utf-8", "replace"), True
        record = ReceivedRequest(request.method, request.path, dict(request.query),
                                 request.headers, body)
        self.received.append(record)
        segments = self._segments(request)
        module, args = self._module_of(segments)
        record.module = module
        if self.down:
            reply = Reply(503, envelope(status_code=SERVER_ERROR,
                                        status_message="service unavailable (peer is down)"))
        elif bad_json:
            reply = self._error(INVALID_PARAMETERS, "the body is not valid JSON")
        else:
            try:
                reply = await self._route(request, record, module, args, body)
            except _Refuse as refused:
                reply = refused.reply
            except Exception as exc:  # noqa: BLE001 - a peer must answer, not crash the test
                reply = Reply(500, envelope(status_code=SERVER_ERROR,
                                            status_message=f"peer error: {exc!r}"))
        record.http_status, record.response = reply.status, reply.body
        return json_reply(request, reply.body, reply.status, reply.headers)

    @staticmethod
    def _module_of(segments: list[str] | None) -> tuple[str | None, list[str]]:
        if not segments or segments[0] != "ocpi":
            return None, []
        rest = segments[1:]
        if rest == ["versions"] or rest == [OCPI_VERSION]:
            return "versions", []
        if len(rest) >= 2 and rest[0] == OCPI_VERSION:
            return rest[1], rest[2:]
        return None, []

    def _error(self, code: int, message: str, http_status: int | None = None,
               data: Any = None) -> Reply:
        return Reply(http_status or self.error_http_status,
                     envelope(data, status_code=code, status_message=message))

    def _not_found(self, message: str = "not found", code: int = CLIENT_ERROR) -> Reply:
        return self._error(code, message, 404)

    def _method_not_allowed(self, message: str = "method not allowed") -> Reply:
        return self._error(CLIENT_ERROR, message, 405)

    async def _route(self, request: web.Request, record: ReceivedRequest, module: str | None,
                     args: list[str], body: Any) -> Reply:
        handlers = {
            "versions": self._versions,
            "credentials": self._credentials,
            "locations": self._locations,
            "sessions": self._sessions,
            "cdrs": self._cdrs,
            "tariffs": self._tariffs,
            "tokens": self._tokens,
            "commands": self._commands,
        }
        served = {"versions"} | {identifier for identifier, _ in self.ENDPOINTS}
        if module is None or module not in served or module not in handlers:
            return self._not_found(f"no such endpoint: {request.path}")
        token, partner = self._authenticate(request, record)
        record.partner = partner
        token_a = token is not None and token in self._tokens_a
        if partner is None and not (token_a and module in ("versions", "credentials")):
            return Reply(401, envelope(status_code=CLIENT_ERROR,
                                       status_message="unknown or missing credentials token"))
        self._check_transport(request, record)
        assert token is not None
        context = _Context(request, record, token, partner, args, body)
        return await handlers[module](context)

    def _reject(self, ctx: _Context, schema: str, errors: list[str]) -> Reply:
        self.rejected.append(Rejection(ctx.request.method, ctx.request.path, schema, errors,
                                       ctx.body))
        return self._error(INVALID_PARAMETERS, "; ".join(errors)[:2000], data=errors)

    def _validate(self, ctx: _Context, module: str, name: str, obj: Any,
                  extra: Iterable[str] = ()) -> None:
        """Refuse with 2001 (and record the rejection) unless ``obj`` is a valid ``name``."""
        errors = [*self.schemas.errors(module, name, obj), *extra]
        if errors:
            raise _Refuse(self._reject(ctx, f"{module}/{name}", errors))

    def _target_stores(self, ctx: _Context) -> list[PartyStore]:
        """The stores a functional request is addressed to (our party on an eMSP)."""
        to_party = ctx.record.to_party
        if to_party is not None and not to_party.same_as(self.party):
            raise _Refuse(self._error(INVALID_PARAMETERS,
                                      f"OCPI-to-* {to_party} is not a party of this platform"))
        return [self.store]

    # -- server: versions and credentials ---------------------------------------------------

    async def _versions(self, ctx: _Context) -> Reply:
        if ctx.request.method != "GET":
            return self._method_not_allowed()
        if ctx.request.path.rstrip("/").endswith("/versions"):
            return _ok([{"version": OCPI_VERSION, "url": self.version_details_url}])
        endpoints = [{"identifier": identifier, "role": role,
                      "url": self.endpoint_url(identifier)}
                     for identifier, role in self.ENDPOINTS]
        return _ok({"version": OCPI_VERSION, "endpoints": endpoints})

    def _party_registered(self, roles: Any) -> bool:
        wanted = {(r.get("role"), Party(r["country_code"], r["party_id"]).key())
                  for r in roles if isinstance(r, dict)
                  and isinstance(r.get("country_code"), str)
                  and isinstance(r.get("party_id"), str)}
        for partner in self.partners:
            if not partner.registered:
                continue
            have = {(r.get("role"), Party(r["country_code"], r["party_id"]).key())
                    for r in partner.roles if isinstance(r, dict)
                    and r.get("country_code") and r.get("party_id")}
            if wanted & have:
                return True
        return False

    async def _read_partner_api(self, ctx: _Context) -> tuple[str, str, list[dict[str, Any]]]:
        """Fetch the caller's endpoints with the token it gave us (credentials POST/PUT)."""
        try:
            found = await self._fetch_endpoints(ctx.body["url"], ctx.body["token"])
        except OcpiPeerError as exc:
            raise _Refuse(self._error(exc.status_code, str(exc))) from exc
        missing = self._missing_endpoints(found[2])
        if missing:
            raise _Refuse(self._error(NO_MATCHING_ENDPOINTS, f"missing endpoints {missing}"))
        return found

    async def _credentials(self, ctx: _Context) -> Reply:
        method = ctx.request.method
        if method == "GET":
            return _ok(self.credentials_object(ctx.token))
        if method == "POST":
            if ctx.partner is not None:
                return self._method_not_allowed("already registered: use PUT to update")
            self._validate(ctx, "credentials", "Credentials", ctx.body)
            if self._party_registered(ctx.body["roles"]):
                return self._method_not_allowed("this party is already registered")
            version, version_url, endpoints = await self._read_partner_api(ctx)
            partner = Partner(token_in=new_credentials_token(), token_out=ctx.body["token"],
                              versions_url=ctx.body["url"], version=version,
                              version_url=version_url, endpoints=endpoints,
                              roles=list(ctx.body["roles"]), registered=True)
            self._tokens_a.discard(ctx.token)
            self.partners.append(partner)
            return _ok(self.credentials_object(partner.token_in))
        if method == "PUT":
            if ctx.partner is None or not ctx.partner.registered:
                return self._method_not_allowed("not registered: use POST to register")
            self._validate(ctx, "credentials", "Credentials", ctx.body)
            partner = ctx.partner
            version, version_url, endpoints = await self._read_partner_api(ctx)
            partner.token_out = ctx.body["token"]
            partner.versions_url, partner.version = ctx.body["url"], version
            partner.version_url, partner.endpoints = version_url, endpoints
            partner.roles = list(ctx.body["roles"])
            partner.token_in = new_credentials_token()
            return _ok(self.credentials_object(partner.token_in))
        if method == "DELETE":
            if ctx.partner is None or not ctx.partner.registered:
                return self._method_not_allowed("not registered")
            ctx.partner.registered = False
            self.partners.remove(ctx.partner)
            return _ok()
        return self._method_not_allowed()

    # -- server: locations ------------------------------------------------------------------

    async def _locations(self, ctx: _Context) -> Reply:
        if not 3 <= len(ctx.args) <= 5:
            return self._not_found("expected {country_code}/{party_id}/{location_id}[/...]")
        method = ctx.request.method
        stores = self._target_stores(ctx)
        cc, pid, location_id = ctx.args[:3]
        self._check_owner(ctx, cc, pid)
        key = (cc.upper(), pid.upper(), location_id)
        level = len(ctx.args)
        name = ("Location", "EVSE", "Connector")[level - 3]
        if method == "GET":
            obj = self._location_part(stores[0], key, ctx.args[3:])
            return _ok(obj) if obj is not None else self._not_found(
                f"unknown {name}", UNKNOWN_LOCATION)
        if method == "PUT":
            self._validate(ctx, "locations", name, ctx.body, self._put_identity_errors(ctx))
            return self._each(stores, lambda store: self._put_location(store, key, ctx))
        if method == "PATCH":
            self._validate(ctx, "locations", f"{name}Patch", ctx.body)
            return self._each(stores, lambda store: self._patch_location(store, key, ctx))
        return self._method_not_allowed()

    @staticmethod
    def _each(stores: list[PartyStore], apply: Callable[[PartyStore], Reply]) -> Reply:
        """Apply a change to every addressed store; the first failure (else last) answers."""
        replies = [apply(store) for store in stores]
        return next((r for r in replies if r.status >= 300), replies[-1])

    def _put_identity_errors(self, ctx: _Context) -> list[str]:
        """URL/body consistency of a Client Owned Object PUT (advised to be 2001)."""
        body, args = ctx.body, ctx.args
        if not isinstance(body, dict):
            return []
        errors = []
        if len(args) == 3:
            if body.get("id") != args[2]:
                errors.append(f"id {body.get('id')!r} differs from the URL's {args[2]!r}")
            for field_name, value in (("country_code", args[0]), ("party_id", args[1])):
                if str(body.get(field_name, "")).upper() != value.upper():
                    errors.append(f"{field_name} {body.get(field_name)!r} differs from the "
                                  f"URL's {value!r}")
        elif len(args) == 4 and body.get("uid") != args[3]:
            errors.append(f"uid {body.get('uid')!r} differs from the URL's {args[3]!r}")
        elif len(args) == 5 and body.get("id") != args[4]:
            errors.append(f"id {body.get('id')!r} differs from the URL's {args[4]!r}")
        return errors

    @staticmethod
    def _location_part(store: PartyStore, key: ObjectKey, rest: list[str]
                       ) -> dict[str, Any] | None:
        obj = store.locations.get(key)
        if obj is not None and rest:
            obj = _by_field(obj.get("evses"), "uid", rest[0])
        if obj is not None and len(rest) > 1:
            obj = _by_field(obj.get("connectors"), "id", rest[1])
        return obj

    def _put_location(self, store: PartyStore, key: ObjectKey, ctx: _Context) -> Reply:
        obj = copy.deepcopy(ctx.body)
        rest = ctx.args[3:]
        if not rest:
            created = key not in store.locations
            store.locations[key] = obj
            return _ok(status=201 if created else 200)
        location = store.locations.get(key)
        if location is None:
            return self._not_found("unknown Location", UNKNOWN_LOCATION)
        if len(rest) == 1:
            evses = location.setdefault("evses", [])
            created = _by_field(evses, "uid", rest[0]) is None
            _replace_or_append(evses, "uid", obj)
            location["last_updated"] = obj["last_updated"]
            return _ok(status=201 if created else 200)
        evse = _by_field(location.get("evses"), "uid", rest[0])
        if evse is None:
            return self._not_found("unknown EVSE", UNKNOWN_LOCATION)
        connectors = evse.setdefault("connectors", [])
        created = _by_field(connectors, "id", rest[1]) is None
        _replace_or_append(connectors, "id", obj)
        evse["last_updated"] = location["last_updated"] = obj["last_updated"]
        return _ok(status=201 if created else 200)

    def _patch_location(self, store: PartyStore, key: ObjectKey, ctx: _Context) -> Reply:
        rest = ctx.args[3:]
        location = store.locations.get(key)
        target = self._location_part(store, key, rest)
        if location is None or target is None:
            return self._not_found("unknown Location/EVSE/Connector", UNKNOWN_LOCATION)
        name = ("Location", "EVSE", "Connector")[len(rest)]
        merged = {**target, **copy.deepcopy(ctx.body)}
        errors = self.schemas.errors("locations", name, merged)
        if errors:
            return self._reject(ctx, f"locations/{name} (after PATCH)", errors)
        target.clear()
        target.update(merged)
        stamp = ctx.body["last_updated"]
        location["last_updated"] = stamp
        if len(rest) == 2:
            evse = _by_field(location.get("evses"), "uid", rest[0])
            if evse is not None:
                evse["last_updated"] = stamp
        return _ok()

    # -- server: sessions, CDRs, tariffs ----------------------------------------------------

    def _object_key(self, ctx: _Context) -> ObjectKey:
        if len(ctx.args) != 3:
            raise _Refuse(self._not_found("expected {country_code}/{party_id}/{id}"))
        cc, pid, object_id = ctx.args
        self._check_owner(ctx, cc, pid)
        return (cc.upper(), pid.upper(), object_id)

    def _check_owner(self, ctx: _Context, country_code: str, party_id: str) -> None:
        """Note a Client Owned Object URL whose owner is not one of the caller's parties.

        The specification allows answering 404 there; the peer accepts the object but
        records the deviation, which usually means the CPO put the wrong party in the URL.
        """
        owner = Party(country_code, party_id)
        if ctx.partner is not None and ctx.partner.roles and not any(
                owner.same_as(p) for p in ctx.partner.parties):
            self._violation(ctx.record, f"object owner {owner} is not a party of the caller's "
                                        "credentials roles")

    async def _sessions(self, ctx: _Context) -> Reply:
        key = self._object_key(ctx)
        stores = self._target_stores(ctx)
        method = ctx.request.method
        if method == "GET":
            found = stores[0].sessions.get(key)
            return _ok(found) if found is not None else self._not_found("unknown Session")
        if method == "PUT":
            self._validate(ctx, "sessions", "Session", ctx.body, self._put_identity_errors(ctx))

            def put(store: PartyStore) -> Reply:
                created = key not in store.sessions
                store.sessions[key] = copy.deepcopy(ctx.body)
                return _ok(status=201 if created else 200)

            return self._each(stores, put)
        if method == "PATCH":
            self._validate(ctx, "sessions", "SessionPatch", ctx.body)
            return self._each(stores, lambda store: self._patch_session(store, key, ctx))
        return self._method_not_allowed()

    def _patch_session(self, store: PartyStore, key: ObjectKey, ctx: _Context) -> Reply:
        current = store.sessions.get(key)
        if current is None:
            return self._not_found("unknown Session")
        patch = copy.deepcopy(ctx.body)
        periods = patch.pop("charging_periods", None)
        merged = {**current, **patch}
        if periods:  # PATCHed charging periods are added to the existing list
            merged["charging_periods"] = [*current.get("charging_periods", []), *periods]
        errors = self.schemas.errors("sessions", "Session", merged)
        if errors:
            return self._reject(ctx, "sessions/Session (after PATCH)", errors)
        store.sessions[key] = merged
        return _ok()

    async def _cdrs(self, ctx: _Context) -> Reply:
        method = ctx.request.method
        stores = self._target_stores(ctx)
        if method == "GET" and len(ctx.args) == 1:
            found = stores[0].cdr(ctx.args[0])
            return _ok(found) if found is not None else self._not_found("unknown CDR")
        if method == "POST" and not ctx.args:
            self._validate(ctx, "cdrs", "CDR", ctx.body)
            key = (ctx.body["country_code"].upper(), ctx.body["party_id"].upper(),
                   ctx.body["id"])
            location = join_url(self.endpoint_url("cdrs"), ctx.body["id"])

            def post(store: PartyStore) -> Reply:
                if key in store.cdrs:
                    return self._error(CLIENT_ERROR, "CDR already exists", 409)
                store.cdrs[key] = copy.deepcopy(ctx.body)
                return _ok(status=201, headers={"Location": location})

            return self._each(stores, post)
        if method in ("GET", "POST"):
            return self._not_found()
        return self._method_not_allowed()

    async def _tariffs(self, ctx: _Context) -> Reply:
        key = self._object_key(ctx)
        stores = self._target_stores(ctx)
        method = ctx.request.method
        if method == "GET":
            found = stores[0].tariffs.get(key)
            return _ok(found) if found is not None else self._not_found("unknown Tariff")
        if method == "PUT":
            self._validate(ctx, "tariffs", "Tariff", ctx.body, self._put_identity_errors(ctx))

            def put(store: PartyStore) -> Reply:
                created = key not in store.tariffs
                store.tariffs[key] = copy.deepcopy(ctx.body)
                return _ok(status=201 if created else 200)

            return self._each(stores, put)
        if method == "DELETE":
            def delete(store: PartyStore) -> Reply:
                if store.tariffs.pop(key, None) is None:
                    return self._not_found("unknown Tariff")
                return _ok()

            return self._each(stores, delete)
        return self._method_not_allowed()

    # -- server: tokens Sender --------------------------------------------------------------

    def _token_stores(self, ctx: _Context) -> list[PartyStore]:
        """Stores whose tokens a tokens request concerns."""
        return self._target_stores(ctx)

    async def _tokens(self, ctx: _Context) -> Reply:
        method = ctx.request.method
        if method == "GET" and not ctx.args:
            return self._token_list(ctx)
        if method == "POST" and len(ctx.args) == 2 and ctx.args[1] == "authorize":
            return await self._authorize(ctx, ctx.args[0])
        if len(ctx.args) in (0, 2):
            return self._method_not_allowed()
        return self._not_found()

    def _token_list(self, ctx: _Context) -> Reply:
        query = ctx.request.query
        try:
            offset = int(query.get("offset", "0"))
            limit = min(int(query.get("limit", str(self.page_limit))), self.page_limit)
            date_from = parse_ocpi_datetime(query["date_from"]) if "date_from" in query else None
            date_to = parse_ocpi_datetime(query["date_to"]) if "date_to" in query else None
        except ValueError as exc:
            return self._error(INVALID_PARAMETERS, f"bad pagination parameter: {exc}")
        if offset < 0 or limit < 1:
            return self._error(INVALID_PARAMETERS, "offset must be >= 0 and limit >= 1")
        tokens = [t for store in self._token_stores(ctx) for t in store.tokens.values()]
        selected = []
        for token in tokens:
            updated = parse_ocpi_datetime(token["last_updated"])
            if date_from is not None and updated < date_from:
                continue
            if date_to is not None and updated >= date_to:
                continue
            selected.append(token)
        page = [self._outgoing_token(t) for t in selected[offset:offset + limit]]
        headers = {X_TOTAL_COUNT: str(len(selected)), X_LIMIT: str(limit)}
        if offset + limit < len(selected):
            params: dict[str, str | int] = {"offset": offset + limit, "limit": limit}
            params.update({k: query[k] for k in ("date_from", "date_to") if k in query})
            headers["Link"] = f'<{self.endpoint_url("tokens")}?{urlencode(params)}>; rel="next"'
        return _ok(page, headers=headers)

    async def _authorize(self, ctx: _Context, uid: str) -> Reply:
        token_type = ctx.request.query.get("type", "RFID")
        if ctx.body is not None:
            self._validate(ctx, "tokens", "LocationReferences", ctx.body)
        store = next((s for s in self._token_stores(ctx) if (uid, token_type) in s.tokens),
                     None)
        if store is None:
            return self._error(UNKNOWN_TOKEN, f"unknown token {uid!r} ({token_type})", 404)
        if self.require_location_references and ctx.body is None:
            return self._error(NOT_ENOUGH_INFORMATION, "LocationReferences required")
        if self.authorize_delay:
            await asyncio.sleep(self.authorize_delay)
        info: dict[str, Any] = {
            "allowed": store.token_answers.get((uid, token_type), "ALLOWED"),
            "token": self._outgoing_token(store.tokens[(uid, token_type)]),
            "authorization_reference": uuid.uuid4().hex[:32],
        }
        if isinstance(ctx.body, dict):
            info["location"] = ctx.body
        self.authorizations.append({"uid": uid, "type": token_type, "party": store.party,
                                    "location": ctx.body, "answer": info})
        return _ok(info)

    # -- server: commands Sender (CommandResult callbacks) ----------------------------------

    async def _commands(self, ctx: _Context) -> Reply:
        if ctx.request.method != "POST":
            return self._method_not_allowed()
        if len(ctx.args) != 2:
            return self._not_found("expected {command}/{uid}")
        command, uid = ctx.args
        call = self.commands.get(uid)
        if call is None or call.command != command:
            return self._not_found(f"no {command} command with uid {uid!r}")
        self._validate(ctx, "commands", "CommandResult", ctx.body)
        call.results.append(copy.deepcopy(ctx.body))
        call.result_received.set()
        return _ok()
