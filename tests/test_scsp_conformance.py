"""Third-party conformance of our OCPI 2.2.1 SCSP interfaces.

The same oracle as :mod:`test_ocpi_conformance` (the EVRoaming Foundation's OpenAPI description,
driven by Schemathesis against a real server), aimed at the SCSP platform (``/ocpi/scsp``) as a
registered CPO holding a real token C: versions and version details, credentials, the Sessions
RECEIVER and the ChargingProfiles SENDER (the ``response_url`` results and the
ActiveChargingProfile PUT), and as a registered hub the HubClientInfo RECEIVER. The run's
configuration, checks, body pinning, logged-error check and allow-list are the CPO test's, plus
entries for our custom module's identifier and the SENDER interface's unknown objects, each
citing the text. Credentials PUT, DELETE and POST with a token A are explicit cases with a throwaway
CPO, as are requests naming a session we hold, a charging profile we really sent and a
ClientInfo the hub gave us.

Not run here: the custom module ``smartChargingOptimisation`` (no official description exists)
and our Sessions SENDER, which serves only ``charging_preferences`` under its own mount, a URL
the description's paths cannot reach.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from typing import Any

import pytest
from ocpi_peers import EmspPeer, HubPeer
from schemathesis.core.failures import Failure
from schemathesis.core.jsonschema import resolver
from schemathesis.core.transport import Response
from schemathesis.generation.case import Case
from schemathesis.openapi.checks import JsonSchemaError
from schemathesis.specs.openapi.schemas import OpenApiSchema
from test_billing_support import OCPI_OPENAPI
from test_ocpi_conformance import (
    ALLOW_LIST,
    Allowance,
    Interface,
    answer,
    credentials_operations,
    logged_errors,
    pinning_bodies,
    registered,
    run_engine,
    schema_for,
    send,
)
from test_scsp_ocpi import CpoPeer, session
from test_scsp_ocpi import context as optimisation_context
from test_scsp_ocpi import registered as connect

from core import appkeys
from core.testing import RunningServer
from plugins.ocpi_scsp.tables import SentProfile

PLUGINS = ["ocpi_scsp"]
OURS = ("DE", "SCS")
CPO = ("NL", "CPO")
HUB_PARTIES = (("BE", "CPB"),)
SETTINGS = {"ocpi": {"outbox_max_backoff": 1},
            "ocpi_scsp": {"country_code": OURS[0], "party_id": OURS[1], "slots": 8}}
SCSP_ROOT = "/ocpi/scsp"
MODULES = f"{SCSP_ROOT}/2.2.1"
SESSION = "/sessions/{country_code}/{party_id}/{session_id}"
RESULT = "/chargingprofiles/result/{uid}"
ACTIVE = "/chargingprofiles/{session_id}"
CUSTOM_MODULE = "smartChargingOptimisation"
CLIENT_INFO = "/hubclientinfo/{country_code}/{party_id}"
SESSION_ID = "CONF-S1"


def _unknown_sender_object(failure: Failure, case: Case, response: Response) -> bool:
    return response.status_code == 404 and case.operation.path in (RESULT, ACTIVE)


def _custom_module_identifier(failure: Failure, case: Case, response: Response) -> bool:
    return (isinstance(failure, JsonSchemaError) and bool(failure.schema_path)
            and failure.schema_path[-1] == "enum" and bool(failure.instance_path)
            and failure.instance_path[-1] == "identifier"
            and failure.instance == CUSTOM_MODULE)


ALLOWANCES: tuple[Allowance, ...] = (*ALLOW_LIST, Allowance(
    "response_schema_conformance",
    "OCPI 2.2.1, version_information_endpoint.asciidoc, 'ModuleID enum'",
    "ModuleID is an OpenEnum and parties may create custom modules with their own module "
    "identifiers (the YAML's own description says so, and marks the type open-enum, yet lists "
    "the standard identifiers as a closed enum). Our version details list the custom module "
    f"{CUSTOM_MODULE!r}.",
    _custom_module_identifier), Allowance(
    "status_code_conformance",
    "OCPI 2.2.1, status_codes.asciidoc, 'Status codes'",
    "A request that addresses a resource that does not exist is answered HTTP 404. The "
    "ChargingProfiles SENDER's YAML lists no 404: a result POSTed to a response_url we never "
    "handed out, or an ActiveChargingProfile for a session we never sent a profile for "
    "(mod_charging_profiles.asciidoc: the Receiver SHALL NOT call it then), names no resource.",
    _unknown_sender_object),)

INTERFACES = (
    Interface("versions/interface.yaml", base=SCSP_ROOT),
    # PUT and DELETE would end the registration the run stands on: explicit cases below.
    Interface("credentials/interface.yaml", base=MODULES,
              unsent=("putCredentials", "deleteCredentials")),
    # GET and PATCH on the session the fixture stored, else nearly all of them end at 404.
    Interface("sessions/receiver-interface.yaml", base=MODULES, operations=({
        "include-operation-id": ["receiverGetSession", "receiverPatchSession"],
        "parameters": {"path.session_id": SESSION_ID}},)),
    Interface("chargingprofiles/sender-interface.yaml", base=MODULES),
    Interface("hubclientinfo/receiver-interface.yaml", base=MODULES, caller="hub"),
)


def _interface(file: str) -> Interface:
    return next(i for i in INTERFACES if i.file == file)


@pytest.fixture
async def world(openv2x_server: Any) -> Any:
    """Our SCSP with a CPO registered; yields (server, peer)."""
    if not OCPI_OPENAPI.is_dir():
        pytest.skip(f"the OCPI 2.2.1 OpenAPI description is not at {OCPI_OPENAPI}")
    server = await openv2x_server(plugins=PLUGINS, settings=SETTINGS)
    async with CpoPeer(*CPO) as peer:
        await connect(server, peer)
        stored = await peer.call("PUT", "sessions", *CPO, SESSION_ID, role="RECEIVER",
                                 json=session(id=SESSION_ID))
        assert stored.ok, stored.envelope
        yield server, peer


@pytest.fixture
async def hub(world: tuple[RunningServer, CpoPeer]) -> Any:
    """A hub registered with our SCSP beside the CPO, with a CPO party behind it."""
    server, _ = world
    async with HubPeer(HUB_PARTIES) as peer:
        await connect(server, peer)
        yield peer


def authorization(peer: EmspPeer) -> str:
    token = peer.partner.token_out
    assert token, f"the {peer.ROLE} peer holds no token C"
    return "Token " + base64.b64encode(token.encode()).decode()


# A Session PUT's body names what its URL names (see pinning_bodies).
BODY_PINS = {("PUT", SESSION): lambda case: {
    "country_code": CPO[0], "party_id": CPO[1], "id": case.path_parameters.get("session_id")}}


def load(server: RunningServer, interface: Interface, auth: str | None) -> OpenApiSchema:
    # Schemathesis keeps the files a schema references in a process-wide cache and writes the
    # links it infers into them: the sessions file's links would reach the next file's run.
    resolver.load_file.cache_clear()
    resolver.load_file_uri.cache_clear()
    caller = HUB_PARTIES[0] if interface.caller == "hub" else CPO
    schema = schema_for(interface, server.url(interface.base), caller=caller, ours=OURS,
                        authorization=auth, allowances=ALLOWANCES)
    schema.hook(pinning_bodies(BODY_PINS))
    return schema


@pytest.mark.parametrize("interface", INTERFACES, ids=lambda i: i.file.removesuffix(".yaml"))
async def test_interface_conforms(world: tuple[RunningServer, CpoPeer], hub: HubPeer,
                                  interface: Interface,
                                  caplog: pytest.LogCaptureFixture) -> None:
    server, peer = world
    schema = load(server, interface, authorization(hub if interface.caller == "hub" else peer))
    failures, authenticated = await asyncio.to_thread(run_engine, schema)
    assert authenticated > 0, "no request got past authentication"
    assert not failures, f"{len(failures)} conformance failures:\n\n" + "\n\n".join(failures)
    assert not logged_errors(caplog)
    # No generated request may have ended the registrations the run stands on.
    assert await registered(server, peer)
    assert await registered(server, hub)


# ---- explicit requests: objects we hold and the credentials operations -----------------------


ROUTED = {"OCPI-from-country-code": CPO[0], "OCPI-from-party-id": CPO[1],
          "OCPI-to-country-code": OURS[0], "OCPI-to-party-id": OURS[1]}


def _stamp(when: dt.datetime | None = None) -> str:
    return (when or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def sent_profile(server: RunningServer, session_id: str) -> SentProfile | None:
    async with server.app[appkeys.DB].session() as db:
        return await db.get(SentProfile, (*CPO, session_id))


def session_requests(server: RunningServer, auth: str) -> None:
    """A Session PUT, read and PATCHed (a charging period added) through every check."""
    sessions = load(server, _interface("sessions/receiver-interface.yaml"), auth)
    at = {"country_code": CPO[0], "party_id": CPO[1], "session_id": "CONF-S2"}
    put = send(sessions, SESSION, "PUT", auth, headers=ROUTED, path_parameters=at,
               body=session(id="CONF-S2"))
    assert answer(put) == (200, 1000), put.text
    patched = send(sessions, SESSION, "PATCH", auth, headers=ROUTED, path_parameters=at, body={
        "kwh": 2.5, "last_updated": _stamp(), "charging_periods": [{
            "start_date_time": _stamp(), "dimensions": [
                {"type": "STATE_OF_CHARGE", "volume": 45}, {"type": "ENERGY", "volume": 2.5}]}]})
    assert answer(patched) == (200, 1000), patched.text
    got = send(sessions, SESSION, "GET", auth, headers=ROUTED, path_parameters=at)
    assert answer(got) == (200, 1000), got.text
    data = json.loads(got.content)["data"]
    assert (data["id"], data["kwh"], len(data["charging_periods"])) == ("CONF-S2", 2.5, 2)
    refused = send(sessions, SESSION, "PATCH", auth, headers=ROUTED, path_parameters=at,
                   body={"currency": "EURO", "last_updated": _stamp()})
    assert answer(refused) == (200, 2001), refused.text


def profile_requests(server: RunningServer, auth: str, response_url: str) -> None:
    """The CPO's answers to a profile we really sent: its result at our response_url, then an
    ActiveChargingProfile, through every check; a malformed result changes nothing."""
    profiles = load(server, _interface("chargingprofiles/sender-interface.yaml"), auth)
    prefix = server.url(f"{MODULES}/chargingprofiles/result/")
    assert response_url.startswith(prefix), response_url
    at = {"uid": response_url.removeprefix(prefix)}
    posted = send(profiles, RESULT, "POST", auth, headers=ROUTED, path_parameters=at,
                  body={"result": "ACCEPTED"})
    assert answer(posted) == (200, 1000), posted.text
    malformed = send(profiles, RESULT, "POST", auth, headers=ROUTED, path_parameters=at,
                     body={"result": "MAYBE"})
    assert answer(malformed) == (200, 2001), malformed.text
    active = {"start_date_time": _stamp(), "charging_profile": {
        "charging_rate_unit": "W", "charging_profile_period": [
            {"start_period": 0, "limit": 7000.0}]}}
    put = send(profiles, ACTIVE, "PUT", auth, headers=ROUTED,
               path_parameters={"session_id": SESSION_ID}, body=active)
    assert answer(put) == (200, 1000), put.text
    unknown = send(profiles, RESULT, "POST", auth, headers=ROUTED,
                   path_parameters={"uid": "no-such-reference"}, body={"result": "ACCEPTED"})
    assert unknown.status_code == 404


async def test_real_objects_conform(world: tuple[RunningServer, CpoPeer]) -> None:
    server, peer = world
    auth = authorization(peer)
    await asyncio.to_thread(session_requests, server, auth)
    # A context for the session's EVSE: a profile is computed and sent to the CPO.
    stored = await peer.call("PUT", "smartChargingOptimisation", *CPO, "site-1",
                             json=optimisation_context(), role="RECEIVER")
    assert stored.ok, stored.envelope
    [request] = await peer.wait_for(lambda: [
        r for r in peer.requests("chargingprofiles", "PUT")
        if r.path.endswith(f"/{SESSION_ID}")][-1:], timeout=10)
    sent = await sent_profile(server, SESSION_ID)
    assert sent is not None and request.body["response_url"].endswith(sent.reference)
    await asyncio.to_thread(profile_requests, server, auth, request.body["response_url"])
    recorded = await sent_profile(server, SESSION_ID)
    assert recorded is not None and recorded.result == "ACCEPTED"
    assert recorded.active_profile is not None
    assert recorded.active_profile["charging_profile"]["charging_profile_period"][0][
        "limit"] == 7000.0


def client_info_requests(server: RunningServer, auth: str) -> None:
    """The hub's ClientInfo for a party behind it, PUT and read back through every check."""
    client_info = load(server, _interface("hubclientinfo/receiver-interface.yaml"), auth)
    at = {"country_code": HUB_PARTIES[0][0], "party_id": HUB_PARTIES[0][1]}
    put = send(client_info, CLIENT_INFO, "PUT", auth, path_parameters=at,
               body={**at, "role": "CPO", "status": "CONNECTED", "last_updated": _stamp()})
    assert answer(put) == (200, 1000), put.text
    got = send(client_info, CLIENT_INFO, "GET", auth, path_parameters=at)
    assert answer(got) == (200, 1000), got.text
    assert json.loads(got.content)["data"]["status"] == "CONNECTED"


async def test_client_info_conforms(world: tuple[RunningServer, CpoPeer], hub: HubPeer) -> None:
    server, _ = world
    await asyncio.to_thread(client_info_requests, server, authorization(hub))


async def scsp_token_a(server: RunningServer) -> str:
    headers = await server.auth_headers("emsp_manager")
    async with server.http.post(server.url("/api/ocpi/scsp/token-a/"),
                                headers=headers) as resp:
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["token"])


async def test_credentials_operations_conform(world: tuple[RunningServer, CpoPeer]) -> None:
    """POST with a token A, GET, PUT and DELETE (and their misuse) with a throwaway CPO."""
    server, peer = world
    schema = load(server, _interface("credentials/interface.yaml"), None)
    await credentials_operations(schema, CpoPeer("BE", "NEW"), lambda: scsp_token_a(server))
    assert await registered(server, peer)
