"""A live OCPI 2.2.1 eMSP built on the third-party PyPI package ``extrawest-ocpi`` (``py_ocpi``).

OpenV2X's own OCPI test peers were written by us from the specification; this one is somebody
else's implementation, so a misreading shared by our server and our peers shows up here. The
package pins pydantic 1 and cannot share OpenV2X's virtualenv: run this script with the
interpreter of a virtualenv holding ``extrawest-ocpi==2025.7.16`` and ``uvicorn``. The library
reads its settings from the environment once, when ``py_ocpi`` is imported, so the address it
advertises and the party it pushes as are given there::

    OCPI_HOST=127.0.0.1:8123 COUNTRY_CODE=DE PARTY_ID=EXW python extrawest_emsp.py --token-a A

What is the library's and what the harness adds:

- The OCPI application is the library's ``get_application`` with its eMSP routers (credentials,
  locations, sessions, cdrs, tariffs as receivers; tokens and commands as senders). FastAPI
  validates every body with the library's pydantic models before the CRUD sees it, so whatever
  is stored passed the library's validation; a body that does not is answered with the
  library's HTTP 422 and recorded in ``validation_errors``.
- The CRUD and the authenticator are the interfaces the library asks an application for,
  implemented in memory (:class:`MemoryCrud`, :func:`make_authenticator`).
- A CPO registering with this eMSP (POST credentials with the ``--token-a``) runs the library's
  own handshake. The library has no client side: registering with a CPO
  (``POST /_harness/register``), pulling a CPO's lists and sending commands are done here with
  httpx, and every answer is checked with the library's models (errors are recorded too).
- Tokens are pushed with the library's ``send_push_request``.

Quirks of the library that the harness works around, each visible to the test:

- It sends no ``X-Request-ID`` / ``X-Correlation-ID`` (OCPI 2.2.1 asks for both on every
  request): left as it is; the CPO registers it with ``allow_missing_request_ids``.
- Its pushes build ``{endpoint url}{COUNTRY_CODE}/{PARTY_ID}/{id}``, i.e. it assumes endpoint
  URLs end with ``/``; the endpoints handed to it get one.
- CiStrings are lower-cased (``CI_STRING_LOWERCASE_PREFERENCE``): ids, party codes and token
  uids are stored and sent in lower case.
- Left as they are: ``POST …/cdrs`` is served at ``…/cdrs/`` only (FastAPI answers the former
  with a 307 redirect); real-time authorization reads the token type from ``?token_type=``
  (OCPI: ``?type=``) and answers ``data`` as a one-element list instead of an
  AuthorizationInfo object; error answers carry ``{"detail": …}`` rather than an OCPI envelope.

Control endpoints, without authentication (test use only): ``GET /_harness/state``,
``POST /_harness/register``, ``POST /_harness/unregister``,
``POST /_harness/tokens``, ``GET /_harness/pull/{module}``, ``POST /_harness/command/{name}``.
"""

from __future__ import annotations

import argparse
import base64
import copy
import datetime as dt
import os
import re
import secrets
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

# Before py_ocpi is imported: its settings, and the URLs built from them, are fixed then.
os.environ.setdefault("PROTOCOL", "http")
os.environ.setdefault("ENVIRONMENT", "production")

import httpx
import uvicorn
from fastapi import Body, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from py_ocpi import get_application
from py_ocpi.core.adapter import BaseAdapter
from py_ocpi.core.authentication.authenticator import Authenticator
from py_ocpi.core.config import settings
from py_ocpi.core.enums import Action, ModuleID, RoleEnum
from py_ocpi.core.push import send_push_request
from py_ocpi.core.schemas import OCPIResponse
from py_ocpi.modules.cdrs.v_2_2_1.schemas import Cdr
from py_ocpi.modules.commands.v_2_2_1.schemas import (
    CancelReservation,
    CommandResponse,
    ReserveNow,
    StartSession,
    StopSession,
    UnlockConnector,
)
from py_ocpi.modules.credentials.v_2_2_1.schemas import Credentials
from py_ocpi.modules.locations.v_2_2_1.schemas import Location
from py_ocpi.modules.sessions.v_2_2_1.schemas import Session
from py_ocpi.modules.tariffs.v_2_2_1.schemas import Tariff
from py_ocpi.modules.tokens.v_2_2_1.schemas import Token
from py_ocpi.modules.versions.enums import VersionNumber
from py_ocpi.modules.versions.schemas import Version
from py_ocpi.modules.versions.v_2_2_1.schemas import VersionDetail
from pydantic import BaseModel, ValidationError

VERSION = VersionNumber.v_2_2_1
MODULES = [ModuleID.credentials_and_registration, ModuleID.locations, ModuleID.sessions,
           ModuleID.cdrs, ModuleID.tariffs, ModuleID.tokens, ModuleID.commands]
# What the CPO's list endpoints return, checked item by item (GET /_harness/pull/{module}).
PULLED: dict[str, type[BaseModel]] = {"locations": Location, "sessions": Session,
                                      "cdrs": Cdr, "tariffs": Tariff}
COMMANDS: dict[str, type[BaseModel]] = {
    "START_SESSION": StartSession, "STOP_SESSION": StopSession, "RESERVE_NOW": ReserveNow,
    "CANCEL_RESERVATION": CancelReservation, "UNLOCK_CONNECTOR": UnlockConnector}
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?', re.IGNORECASE)
BUSINESS_NAME = "Extrawest OCPI test eMSP"


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encoded(token: str) -> str:
    """The ``Authorization`` value for OCPI 2.2.1: the token in Base64."""
    return "Token " + base64.b64encode(token.encode()).decode()


def errors_of(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(map(str, e["loc"])), "msg": e["msg"]} for e in exc.errors()]


@dataclass
class Partner:
    """A CPO this eMSP is connected to. ``token_in`` is what the CPO calls us with,
    ``token_out`` what we call it with; ``initiator`` says who started the registration."""

    token_in: str
    token_out: str
    versions_url: str
    endpoints: list[dict[str, str]]
    roles: list[dict[str, Any]]
    initiator: str

    def endpoint(self, identifier: str, role: str) -> str | None:
        for item in self.endpoints:
            if item.get("identifier") == identifier and item.get("role") == role:
                return item.get("url")
        return None


@dataclass
class Store:
    """Everything the eMSP holds and saw, in memory; ``GET /_harness/state`` returns it."""

    country_code: str
    party_id: str
    base_url: str
    token_a: set[str] = field(default_factory=set)
    accepted: set[str] = field(default_factory=set)
    partners: list[Partner] = field(default_factory=list)
    # module -> "cc/party/id" (lower case) -> object as the library's model dumped it
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    writes: list[dict[str, Any]] = field(default_factory=list)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    allowed: dict[str, str] = field(default_factory=dict)
    authorizations: list[dict[str, Any]] = field(default_factory=list)
    command_results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    validation_errors: list[dict[str, Any]] = field(default_factory=list)
    incoming: list[dict[str, Any]] = field(default_factory=list)
    outgoing: list[dict[str, Any]] = field(default_factory=list)

    @property
    def versions_url(self) -> str:
        return f"{self.base_url}/{settings.OCPI_PREFIX}/versions"

    def commands_url(self, uid: str) -> str:
        return f"{self.base_url}/{settings.OCPI_PREFIX}/emsp/{VERSION.value}/commands/{uid}"

    def credentials(self, token: str) -> dict[str, Any]:
        """Our Credentials object, handing the CPO ``token``."""
        return {"token": token, "url": self.versions_url, "roles": [{
            "role": RoleEnum.emsp.value, "business_details": {"name": BUSINESS_NAME},
            "party_id": self.party_id, "country_code": self.country_code}]}

    def partner_by_token(self, token: str | None) -> Partner | None:
        return next((p for p in self.partners if p.token_in == token), None)

    def current(self) -> Partner:
        if not self.partners:
            raise LookupError("not connected to any CPO")
        return self.partners[-1]

    def invalid(self, where: str, errors: list[dict[str, Any]], body: Any = None) -> None:
        self.validation_errors.append({"where": where, "errors": errors, "body": body})

    def check(self, where: str, model: type[BaseModel], value: Any) -> dict[str, Any] | None:
        """``value`` parsed with the library's ``model`` (as dumped), or None when invalid."""
        try:
            return model.parse_obj(value).dict()
        except ValidationError as exc:
            self.invalid(where, errors_of(exc), value)
            return None

    def endpoints(self, where: str, details: Any) -> list[dict[str, Any]]:
        """The endpoints of version details, checked with the library's models. OCPI's ModuleID
        is an OpenEnum (custom modules are allowed), the library's a closed enum: endpoints of
        modules it does not know are kept as they are instead of failing the whole list."""
        known = {module.value for module in ModuleID}
        listed = details.get("endpoints") if isinstance(details, dict) else None
        custom = [e for e in listed or () if isinstance(e, dict)
                  and e.get("identifier") not in known]
        if isinstance(details, dict) and isinstance(listed, list):
            details = {**details, "endpoints": [e for e in listed if e not in custom]}
        checked = self.check(where, VersionDetail, details)
        return [*jsonable_encoder(checked["endpoints"]), *custom] if checked else []

    def dump(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in (
            "country_code", "party_id", "objects", "writes", "tokens", "authorizations",
            "command_results", "validation_errors", "incoming", "outgoing")}
        out["partners"] = [asdict(p) for p in self.partners]
        return jsonable_encoder(out)


def key(country_code: Any, party_id: Any, ident: Any) -> str:
    return f"{country_code}/{party_id}/{ident}".lower()


class MemoryCrud:
    """The library's ``Crud`` interface (``py_ocpi.core.crud.Crud``) over a :class:`Store`.

    The library calls it with the module, our role (always eMSP here) and, as keywords, the
    caller's ``auth_token`` plus the path's ``country_code``/``party_id``; every body it hands
    over is its model's ``.dict()``, validated already.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def _bucket(self, module: ModuleID) -> dict[str, dict[str, Any]]:
        return self.store.objects.setdefault(module.value, {})

    def _key(self, module: ModuleID, ident: Any, kwargs: dict[str, Any]) -> str:
        if module == ModuleID.cdrs:
            return str(ident).lower()
        return key(kwargs.get("country_code"), kwargs.get("party_id"), ident)

    def _write(self, module: ModuleID, action: str, ident: str, data: dict[str, Any],
               kwargs: dict[str, Any]) -> dict[str, Any]:
        stored = copy.deepcopy(data)
        self._bucket(module)[ident] = stored
        partner = self.store.partner_by_token(kwargs.get("auth_token"))
        self.store.writes.append({"module": module.value, "action": action, "key": ident,
                                  "partner": partner.initiator if partner else None,
                                  "data": copy.deepcopy(data)})
        return stored

    async def get(self, module: ModuleID, role: RoleEnum, id: Any, *args: Any,
                  **kwargs: Any) -> Any:
        if module == ModuleID.credentials_and_registration:
            partner = self.store.partner_by_token(id)
            return self.store.credentials(partner.token_in) if partner else None
        if module == ModuleID.tokens:
            return self.store.tokens.get(str(id).lower())
        return self._bucket(module).get(self._key(module, id, kwargs))

    async def list(self, module: ModuleID, role: RoleEnum, filters: dict[str, Any],
                   *args: Any, **kwargs: Any) -> tuple[list[Any], int, bool]:
        items = list(self.store.tokens.values()) if module == ModuleID.tokens \
            else list(self._bucket(module).values())
        offset, limit = filters.get("offset") or 0, filters.get("limit") or 50
        page = items[offset:offset + limit]
        return page, len(items), offset + len(page) >= len(items)

    async def create(self, module: ModuleID, role: RoleEnum, data: dict[str, Any],
                     *args: Any, **kwargs: Any) -> Any:
        if module == ModuleID.credentials_and_registration:
            return self._registered(data, kwargs.get("auth_token"))
        return self._write(module, "create", self._key(module, data.get("id"), kwargs), data,
                           kwargs)

    async def update(self, module: ModuleID, role: RoleEnum, data: dict[str, Any], id: Any,
                     *args: Any, **kwargs: Any) -> Any:
        if module == ModuleID.credentials_and_registration:
            return self._updated(data, kwargs.get("auth_token"))
        if module == ModuleID.commands:
            self.store.command_results.setdefault(str(id), []).append(copy.deepcopy(data))
            return data
        return self._write(module, "update", self._key(module, id, kwargs), data, kwargs)

    async def delete(self, module: ModuleID, role: RoleEnum, id: Any, *args: Any,
                     **kwargs: Any) -> None:
        if module == ModuleID.credentials_and_registration:
            partner = self.store.partner_by_token(id)
            if partner is not None:
                self.store.partners.remove(partner)
                self.store.accepted.discard(partner.token_in)
            return
        self._bucket(module).pop(self._key(module, id, kwargs), None)

    async def do(self, module: ModuleID, role: RoleEnum | None, action: Action, *args: Any,
                 data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if module == ModuleID.tokens and action == Action.authorize_token and data:
            uid = str(data["token_uid"]).lower()
            self.store.authorizations.append(copy.deepcopy(data))
            answer: dict[str, Any] = {
                "allowed": self.store.allowed.get(uid, "ALLOWED"),
                "token": self.store.tokens[uid],
                "authorization_reference": f"auth-{len(self.store.authorizations)}"}
            if data.get("location_reference"):
                answer["location"] = data["location_reference"]
            return answer
        return None

    def _registered(self, data: dict[str, Any], token_a: str | None) -> dict[str, Any]:
        """A CPO registered (the library fetched its versions and details already)."""
        theirs = data["credentials"]
        endpoints = self.store.endpoints("partner version details", data["endpoints"])
        token_in = secrets.token_urlsafe(32)
        self.store.token_a.discard(token_a or "")
        self.store.accepted.add(token_in)
        self.store.partners.append(Partner(
            token_in, theirs["token"], theirs["url"], endpoints,
            jsonable_encoder(theirs["roles"]), "cpo"))
        return self.store.credentials(token_in)

    def _updated(self, data: dict[str, Any], token: str | None) -> dict[str, Any]:
        partner = self.store.partner_by_token(token)
        if partner is None:
            raise LookupError("credentials update from an unknown CPO")
        theirs = data["credentials"]
        endpoints = self.store.endpoints("partner version details", data["endpoints"])
        self.store.accepted.discard(partner.token_in)
        partner.token_in = secrets.token_urlsafe(32)
        self.store.accepted.add(partner.token_in)
        partner.token_out, partner.versions_url = theirs["token"], theirs["url"]
        partner.roles = jsonable_encoder(theirs["roles"])
        if endpoints:
            partner.endpoints = endpoints
        return self.store.credentials(partner.token_in)


def make_authenticator(store: Store) -> type[Authenticator]:
    """The library's ``Authenticator`` over the store's token lists (A: registration only)."""

    class MemoryAuthenticator(Authenticator):
        @classmethod
        async def get_valid_token_c(cls) -> list[str]:
            return sorted(store.accepted)

        @classmethod
        async def get_valid_token_a(cls) -> list[str]:
            return sorted(store.token_a)

    return MemoryAuthenticator


def hook_outgoing(store: Store) -> None:
    """Log every request made through httpx (the library's and ours)."""
    original = httpx.AsyncClient.send

    async def send(self: httpx.AsyncClient, request: httpx.Request,
                   *args: Any, **kwargs: Any) -> httpx.Response:
        entry: dict[str, Any] = {
            "method": request.method, "url": str(request.url),
            "request_ids": "X-Request-ID" in request.headers,
            "body": request.content.decode(errors="replace")[:4000]}
        store.outgoing.append(entry)
        try:
            response = await original(self, request, *args, **kwargs)
        except httpx.HTTPError as exc:
            entry["error"] = f"{exc.__class__.__name__}: {exc}"
            raise
        await response.aread()
        entry["status"] = response.status_code
        entry["response"] = response.text[:4000]
        return response

    httpx.AsyncClient.send = send  # type: ignore[method-assign]


class RequestLog:
    """ASGI wrapper recording each OCPI request that reached the eMSP and its HTTP status."""

    def __init__(self, app: Any, store: Store) -> None:
        self.app, self.store = app, store

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_harness"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        entry = {"method": scope["method"], "path": scope["path"],
                 "query": scope["query_string"].decode(),
                 "request_ids": "x-request-id" in headers,
                 "to": [headers.get("ocpi-to-country-code"), headers.get("ocpi-to-party-id")],
                 "from": [headers.get("ocpi-from-country-code"),
                          headers.get("ocpi-from-party-id")]}

        async def logged(message: Any) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        self.store.incoming.append(entry)
        await self.app(scope, receive, logged)


class Client:
    """The eMSP's calls to a CPO, made here because the library has no client side."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def headers(token: str) -> dict[str, str]:
        return {"Authorization": encoded(token), "X-Request-ID": str(uuid.uuid4()),
                "X-Correlation-ID": str(uuid.uuid4())}

    async def call(self, method: str, url: str, token: str, where: str,
                   body: Any = None, params: dict[str, str] | None = None
                   ) -> tuple[httpx.Response, dict[str, Any] | None]:
        """One request; the answer's envelope checked with the library's ``OCPIResponse``."""
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.request(method, url, headers=self.headers(token), json=body,
                                          params=params)
        try:
            payload = response.json()
        except ValueError:
            self.store.invalid(where, [{"loc": [], "msg": "not JSON"}], response.text)
            return response, None
        if isinstance(payload, dict) and payload.get("data") is None:
            # OCPI lets an answer without content leave ``data`` out (or null); the library's
            # envelope model insists on it.
            payload = {**payload, "data": []}
        return response, self.store.check(where, OCPIResponse, payload)

    async def register(self, versions_url: str, token_a: str) -> dict[str, Any]:
        """Register with a CPO: versions, 2.2.1 details, then POST our credentials."""
        response, envelope = await self.call("GET", versions_url, token_a, "GET versions")
        versions = [self.store.check("Version", Version, v)
                    for v in (envelope or {}).get("data") or []]
        url = next((v["url"] for v in versions if v and v["version"] == VERSION), None)
        if url is None:
            return {"ok": False, "step": "versions", "status": response.status_code}
        response, envelope = await self.call("GET", url, token_a, "GET version details")
        endpoints = self.store.endpoints("VersionDetail", (envelope or {}).get("data"))
        credentials_url = next((e["url"] for e in endpoints
                                if e["identifier"] == ModuleID.credentials_and_registration),
                               None)
        if credentials_url is None:
            return {"ok": False, "step": "details", "status": response.status_code}
        token_in = secrets.token_urlsafe(32)
        self.store.accepted.add(token_in)  # the CPO calls our versions with it meanwhile
        response, envelope = await self.call("POST", credentials_url, token_a,
                                             "POST credentials",
                                             body=self.store.credentials(token_in))
        theirs = self.store.check("Credentials", Credentials, (envelope or {}).get("data"))
        if theirs is None or envelope is None or envelope["status_code"] != 1000:
            self.store.accepted.discard(token_in)
            return {"ok": False, "step": "credentials", "status": response.status_code,
                    "envelope": envelope}
        partner = Partner(token_in, theirs["token"], theirs["url"], endpoints,
                          jsonable_encoder(theirs["roles"]), "emsp")
        self.store.partners.append(partner)
        return {"ok": True, "credentials": jsonable_encoder(theirs)}

    async def unregister(self) -> dict[str, Any]:
        partner = self.store.current()
        url = partner.endpoint(ModuleID.credentials_and_registration.value, "RECEIVER") \
            or partner.endpoint(ModuleID.credentials_and_registration.value, "SENDER") or ""
        response, envelope = await self.call("DELETE", url, partner.token_out,
                                             "DELETE credentials")
        if response.status_code == 200 and envelope and envelope["status_code"] == 1000:
            self.store.partners.remove(partner)
            self.store.accepted.discard(partner.token_in)
        return {"status": response.status_code, "envelope": jsonable_encoder(envelope)}

    async def push_token(self, token: dict[str, Any], object_id: str | None = None
                         ) -> list[dict[str, Any]]:
        """Keep one of our tokens and push it to every CPO with the library's sender.

        ``object_id`` is the uid for the URL, as a caller of the library's push names the
        object; by default the uid as the library's model holds it (lower case)."""
        checked = self.store.check("Token", Token, token)
        if checked is None:
            return []
        self.store.tokens[checked["uid"].lower()] = checked
        results = []
        for partner in self.store.partners:
            # The library appends "{country}/{party}/{id}" to the URL as it is.
            endpoints = [{**e, "url": e["url"].rstrip("/") + "/"} for e in partner.endpoints]
            response = await send_push_request(
                object_id or checked["uid"], checked, ModuleID.tokens, BaseAdapter,
                encoded(partner.token_out), endpoints, VERSION)
            results.append({"url": str(response.request.url), "status": response.status_code,
                            "body": response.text})
        return results

    async def pull(self, module: str) -> dict[str, Any]:
        """Every object of a CPO's list endpoint, following its ``Link`` headers."""
        partner = self.store.current()
        url: str | None = partner.endpoint(module, "SENDER")
        if url and module == "sessions":  # OCPI requires date_from on the Sessions list
            url += "?date_from=2000-01-01T00:00:00Z"
        items: list[Any] = []
        pages: list[dict[str, Any]] = []
        while url:
            response, envelope = await self.call("GET", url, partner.token_out, f"GET {module}")
            data = (envelope or {}).get("data")
            pages.append({"status": response.status_code, "count": len(data or []),
                          "total": response.headers.get("X-Total-Count"),
                          "limit": response.headers.get("X-Limit")})
            if not isinstance(data, list):
                break
            items += [self.store.check(f"pulled {module}", PULLED[module], item)
                      for item in data]
            found = _LINK_NEXT.search(response.headers.get("Link", ""))
            url = found.group(1) if found and data else None
        return {"items": jsonable_encoder(items), "pages": pages}

    async def command(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Send a command with our commands endpoint as ``response_url``."""
        partner = self.store.current()
        uid = uuid.uuid4().hex
        checked = self.store.check(name, COMMANDS[name],
                                   {**body, "response_url": self.store.commands_url(uid)})
        base = partner.endpoint(ModuleID.commands.value, "RECEIVER") or ""
        response, envelope = await self.call("POST", f"{base.rstrip('/')}/{name}",
                                             partner.token_out, f"POST commands/{name}",
                                             body=jsonable_encoder(checked))
        answer = (envelope or {}).get("data")
        if isinstance(answer, dict):
            self.store.check("CommandResponse", CommandResponse, answer)
        return {"uid": uid, "status": response.status_code,
                "envelope": jsonable_encoder(envelope)}


def build(store: Store) -> Any:
    """The library's eMSP application with the harness's control endpoints beside it."""
    app: FastAPI = get_application(
        version_numbers=[VERSION], roles=[RoleEnum.emsp], crud=MemoryCrud(store),
        modules=MODULES, authenticator=make_authenticator(store))
    client = Client(store)

    async def rejected(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        store.invalid(f"{request.method} {request.url.path}",
                      jsonable_encoder(exc.errors()), jsonable_encoder(exc.body))
        return await request_validation_exception_handler(request, exc)

    app.add_exception_handler(RequestValidationError, rejected)

    @app.get("/_harness/state")
    async def state() -> Any:
        return store.dump()

    @app.post("/_harness/register")
    async def register(body: dict[str, Any] = Body(...)) -> Any:
        return await client.register(body["versions_url"], body["token"])

    @app.post("/_harness/unregister")
    async def unregister() -> Any:
        return await client.unregister()

    @app.post("/_harness/tokens")
    async def tokens(body: dict[str, Any] = Body(...)) -> Any:
        token = {"country_code": store.country_code, "party_id": store.party_id,
                 "type": "RFID", "contract_id": body["uid"], "issuer": BUSINESS_NAME,
                 "valid": True, "whitelist": "ALWAYS", "last_updated": now(), **body}
        object_id = token.pop("object_id", None)
        store.allowed[str(body["uid"]).lower()] = token.pop("allowed", "ALLOWED")
        return await client.push_token(token, object_id)

    @app.get("/_harness/pull/{module}")
    async def pull(module: str) -> Any:
        return await client.pull(module)

    @app.post("/_harness/command/{name}")
    async def command(name: str, body: dict[str, Any] = Body(...)) -> Any:
        return await client.command(name, body)

    return RequestLog(app, store)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--token-a", action="append", default=[],
                        help="a token A a CPO may register with (repeatable)")
    args = parser.parse_args()
    host, _, port = settings.OCPI_HOST.rpartition(":")
    if not host or not port.isdigit():
        parser.error("set OCPI_HOST=host:port in the environment")
    store = Store(settings.COUNTRY_CODE, settings.PARTY_ID,
                  f"{settings.PROTOCOL}://{settings.OCPI_HOST}",
                  token_a=set(args.token_a))
    hook_outgoing(store)
    uvicorn.run(build(store), host=host, port=int(port), log_level="warning")


if __name__ == "__main__":
    main()
