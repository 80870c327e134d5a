"""A live OCPI 2.2.1 CPO built on the third-party PyPI package ``extrawest-ocpi`` (``py_ocpi``),
for our SCSP role to talk to.

The counterpart of ``extrawest_emsp.py`` (whose in-memory store, CRUD, authenticator, request
log and registration client this harness reuses; see its docstring for the library's general
quirks). Run it with the interpreter of the library's virtualenv::

    OCPI_HOST=127.0.0.1:8124 COUNTRY_CODE=NL PARTY_ID=EXC python extrawest_cpo.py --token-a A

What is the library's and what the harness adds:

- The OCPI application is the library's ``get_application`` with its CPO routers for
  credentials, sessions (SENDER) and chargingprofiles (RECEIVER). A SetChargingProfile from the
  SCSP is validated by the library's pydantic models before the CRUD sees it; a body that fails
  them gets the library's HTTP 422 and is recorded in ``validation_errors``.
- The CRUD answers SetChargingProfile / ClearProfile with ACCEPTED and keeps each request; the
  library's own background task then POSTs the Charge Point's result (the harness's
  ``charge_point_result``) to the ``response_url``, with the library's model and client.
- Sessions are checked with the library's Session model and pushed with its
  ``send_push_request``. The SmartChargingOptimisation context is an OCPI custom module the
  library knows nothing of: the harness PUTs it with plain HTTP.

Quirks of the library met here, besides those of the eMSP harness:

- Its ``ChargingProfile`` model requires ``min_charge_rate`` (OCPI: optional
  ``min_charging_rate``) and takes ``charging_profile_period`` as one object (OCPI: a list), so
  as shipped it refuses every specification-conforming SetChargingProfile (HTTP 422). With
  ``--spec-profiles`` the harness corrects those two fields to the specification before
  serving; everything else stays the library's.
- Its ChargingProfileResponse answer carries ``data`` as a one-element list.
- It waits for the Charge Point's result by polling the CRUD 2 s apart, and its loop stops
  early only when there is no result yet (then it reports REJECTED). The harness has the result
  at once and lets the library poll without sleeping, so its POST comes within a second.
- It checks the SCSP's version details with a closed ModuleID enum; the custom module's
  endpoint is kept unchecked (``Store.endpoints``).
- It sends no ``X-Request-ID`` / ``X-Correlation-ID``: left as it is. An SCSP that registers
  with it flags it (``allow_missing_request_ids``), and so does the token A the SCSP issues for
  its registration.

Control endpoints, without authentication (test use only): ``GET /_harness/state``,
``POST /_harness/register``, ``POST /_harness/unregister``, ``POST /_harness/sessions``,
``POST /_harness/context``.
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import dataclass, field
from typing import Any

# First: it sets the library's environment defaults before py_ocpi is imported.
import extrawest_emsp as shared
import uvicorn
from fastapi import Body, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from py_ocpi import get_application
from py_ocpi.core.adapter import BaseAdapter
from py_ocpi.core.config import settings
from py_ocpi.core.data_types import DateTime, Number
from py_ocpi.core.enums import Action, ModuleID, RoleEnum
from py_ocpi.core.push import send_push_request
from py_ocpi.modules.chargingprofiles.v_2_2_1 import background_tasks
from py_ocpi.modules.chargingprofiles.v_2_2_1.enums import ChargingRateUnit
from py_ocpi.modules.chargingprofiles.v_2_2_1.schemas import (
    ChargingProfile,
    ChargingProfilePeriod,
)
from py_ocpi.modules.sessions.v_2_2_1.schemas import Session
from pydantic import BaseModel

MODULES = [ModuleID.credentials_and_registration, ModuleID.sessions, ModuleID.charging_profile]
BUSINESS_NAME = "Extrawest OCPI test CPO"
CUSTOM_MODULE = "smartChargingOptimisation"


@dataclass
class CpoStore(shared.Store):
    """What the CPO holds and saw; ``profiles`` are the charging-profile requests it took."""

    charge_point_result: str = "ACCEPTED"
    profiles: list[dict[str, Any]] = field(default_factory=list)

    def credentials(self, token: str) -> dict[str, Any]:
        return {"token": token, "url": self.versions_url, "roles": [{
            "role": RoleEnum.cpo.value, "business_details": {"name": BUSINESS_NAME},
            "party_id": self.party_id, "country_code": self.country_code}]}

    def dump(self) -> dict[str, Any]:
        return {**super().dump(), "profiles": jsonable_encoder(self.profiles)}


class CpoCrud(shared.MemoryCrud):
    """The library's CRUD for a CPO: sessions by id, charging-profile requests kept."""

    store: CpoStore

    def _key(self, module: ModuleID, ident: Any, kwargs: dict[str, Any]) -> str:
        if module == ModuleID.sessions:
            return str(ident).lower()
        return super()._key(module, ident, kwargs)

    async def get(self, module: ModuleID, role: RoleEnum, id: Any, *args: Any,
                  **kwargs: Any) -> Any:
        # The library asks for the Charge Point's answer to a profile request this way.
        if module == ModuleID.hub_client_info and kwargs.get("session_id") is not None:
            return {"result": self.store.charge_point_result}
        return await super().get(module, role, id, *args, **kwargs)

    async def do(self, module: ModuleID, role: RoleEnum | None, action: Action, *args: Any,
                 data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if action == Action.get_client_token:
            partner = self.store.partner_by_token(kwargs.get("auth_token"))
            return partner.token_out if partner else None
        if action in (Action.send_update_charging_profile, Action.send_delete_chargingprofile):
            session = kwargs.get("session") or {}
            self.store.profiles.append({
                "action": action.value, "session_id": session.get("id"),
                "request": copy.deepcopy(args[0]) if args else None,
                "response_url": kwargs.get("response_url")})
            return {"result": "ACCEPTED", "timeout": 30}
        return await super().do(module, role, action, *args, data=data, **kwargs)


class SpecChargingProfile(BaseModel):
    """OCPI 2.2.1 ChargingProfile (mod_charging_profiles.asciidoc), with the library's types."""

    start_date_time: DateTime | None
    duration: int | None
    charging_rate_unit: ChargingRateUnit
    min_charging_rate: Number | None
    charging_profile_period: list[ChargingProfilePeriod] | None


def correct_profile_model() -> None:
    """Give the library's ChargingProfile the specification's fields. Its SetChargingProfile
    and ActiveChargingProfile validate through it at request time (pydantic 1), so the routes
    the library built already pick the correction up."""
    ChargingProfile.__fields__.clear()
    ChargingProfile.__fields__.update(SpecChargingProfile.__fields__)


async def no_wait(_: float) -> None:
    """The library's pause between two polls for the Charge Point's result."""


class Client(shared.Client):
    """The CPO's own calls: sessions with the library's sender, the context with plain HTTP."""

    store: CpoStore

    async def push_session(self, session: dict[str, Any], object_id: str | None
                           ) -> list[dict[str, Any]]:
        checked = self.store.check("Session", Session, session)
        if checked is None:
            return []
        self.store.objects.setdefault("sessions", {})[checked["id"].lower()] = checked
        results = []
        for partner in self.store.partners:
            # The library appends "{country}/{party}/{id}" to the URL as it is.
            endpoints = [{**e, "url": e["url"].rstrip("/") + "/"} for e in partner.endpoints]
            response = await send_push_request(
                object_id or checked["id"], checked, ModuleID.sessions, BaseAdapter,
                shared.encoded(partner.token_out), endpoints, shared.VERSION)
            results.append({"url": str(response.request.url), "status": response.status_code,
                            "body": response.text})
        return results

    async def put_context(self, context: dict[str, Any]) -> dict[str, Any]:
        partner = self.store.current()
        base = partner.endpoint(CUSTOM_MODULE, "RECEIVER") or ""
        url = "/".join([base.rstrip("/"), context["country_code"], context["party_id"],
                        context["id"]])
        response, envelope = await self.call("PUT", url, partner.token_out,
                                             f"PUT {CUSTOM_MODULE}", body=context)
        return {"url": url, "status": response.status_code,
                "envelope": jsonable_encoder(envelope)}


def build(store: CpoStore) -> Any:
    """The library's CPO application with the harness's control endpoints beside it."""
    app: FastAPI = get_application(
        version_numbers=[shared.VERSION], roles=[RoleEnum.cpo], crud=CpoCrud(store),
        modules=MODULES, authenticator=shared.make_authenticator(store))
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

    @app.post("/_harness/sessions")
    async def sessions(body: dict[str, Any] = Body(...)) -> Any:
        object_id = body.pop("object_id", None)
        return await client.push_session(body, object_id)

    @app.post("/_harness/context")
    async def context(body: dict[str, Any] = Body(...)) -> Any:
        return await client.put_context(body)

    return shared.RequestLog(app, store)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--token-a", action="append", default=[],
                        help="a token A an SCSP may register with (repeatable)")
    parser.add_argument("--spec-profiles", action="store_true",
                        help="correct the library's ChargingProfile model to OCPI 2.2.1")
    args = parser.parse_args()
    host, _, port = settings.OCPI_HOST.rpartition(":")
    if not host or not port.isdigit():
        parser.error("set OCPI_HOST=host:port in the environment")
    if args.spec_profiles:
        correct_profile_model()
    background_tasks.sleep = no_wait  # type: ignore[assignment]
    store = CpoStore(settings.COUNTRY_CODE, settings.PARTY_ID,
                     f"{settings.PROTOCOL}://{settings.OCPI_HOST}",
                     token_a=set(args.token_a))
    shared.hook_outgoing(store)
    uvicorn.run(build(store), host=host, port=int(port), log_level="warning")


if __name__ == "__main__":
    main()
