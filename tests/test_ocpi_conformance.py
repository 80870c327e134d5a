"""Third-party conformance of our OCPI 2.2.1 CPO interfaces.

Our own tests were written with the same reading of the specification as the code they test.
Here the oracle is someone else's: the EVRoaming Foundation's OpenAPI description of OCPI 2.2.1
(``../shared/ocpi-openapi/2.2.1``), driven by Schemathesis against a real server on a real
port. Every CPO-role interface file is run with all of Schemathesis's checks (status codes,
response schemas, content types, response headers, rejection of schema-violating requests,
acceptance of valid ones, missing required headers, unsupported methods, ignored
authentication, the stateful resource checks), as a registered eMSP (a hub for
hubclientinfo) holding a real token C, at a site whose OCPP 1.6 station is online and charging
a session of the eMSP's token.

Generated data rarely names anything we hold, so nearly every request would end at the first
identity or lookup check. The receiver paths carry the caller's party; GET and PATCH of a token
name the token the fixture stored, the ChargingProfiles paths its session; a body is made to
name what its URL names (a Token PUT's party and uid, a ClientInfo's party) and the objects of
the site (a command's location, EVSE, connector, session and its token's owner), and its
``response_url`` is the eMSP's. Only properties the generated body has are set, so what the
rest of a body holds still reaches our validation. A request that makes our server log an error
fails the run: an OCPI 3000 is an HTTP 200 to Schemathesis.

The YAML is not the specification. Where the specification's text says something the YAML does
not, the failure Schemathesis reports is dropped by an entry of :data:`ALLOW_LIST`, which names
the section it follows; nothing else is tolerated. Credentials POST (with a token A), PUT and
DELETE would end the registration the run depends on, so the generic run covers GET and the
"already registered" POST, and explicit cases, checked by the same Schemathesis checks, cover
the rest.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import logging
import textwrap
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from ocpi_peers import EmspPeer, HubPeer, Partner
from ocpp.v16 import call
from ocpp16_station import TestStation, connect, disconnect
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import AcceptedNegativeData, Failure, FailureGroup
from schemathesis.core.jsonschema import make_validator_for
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.transport import Response
from schemathesis.engine import Status, events
from schemathesis.generation.case import Case
from schemathesis.openapi.checks import JsonSchemaError, UseAfterFree
from schemathesis.specs.openapi.schemas import OpenApiSchema
from sqlalchemy import select
from test_billing_support import OCPI_OPENAPI, add_site
from test_ocpi_cpo_roaming import token_a

from core import appkeys
from core.db.models import Evse, OcpiPartner, Transaction
from core.testing import RunningServer

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ["ocpp16", "ocpp201", "billing", "ocpi_cpo"]
SETTINGS = {"billing": {"country_code": "NL", "party_id": "OVX"}}
OURS = ("NL", "OVX")
EMSP = ("DE", "EMS")
HUB_PARTIES = (("NL", "EMA"), ("DE", "EMB"))
CPO_ROOT = "/ocpi/cpo"
MODULES = f"{CPO_ROOT}/2.2.1"
# Per operation and phase; with the coverage and stateful phases this keeps the whole file
# within about a minute on two cores.
MAX_EXAMPLES = 15
SEED = 221
# The token the fixture stores and charges with: GET and PATCH of tokens name it.
TOKEN_UID = "CONF-T1"
TOKEN_PATH = "/tokens/{country_code}/{party_id}/{token_uid}"


# ---- the allow-list: where the specification's text differs from the YAML ----------------


def _ocpi_status(response: Response) -> int | None:
    try:
        body = json.loads(response.content or b"")
    except (ValueError, UnicodeDecodeError):
        return None
    code = body.get("status_code") if isinstance(body, dict) else None
    return code if isinstance(code, int) else None


def _rejected_in_ocpi_layer(failure: Failure, case: Case, response: Response) -> bool:
    return (isinstance(failure, AcceptedNegativeData) and response.status_code == 200
            and 2000 <= (_ocpi_status(response) or 0) < 3000)


_ID_HEADERS = ("x-request-id", "x-correlation-id")


def _id_header_not_uuid(failure: Failure, case: Case, response: Response) -> bool:
    if not isinstance(failure, JsonSchemaError) or not failure.schema_path \
            or failure.schema_path[-1] != "format":
        return False
    echoed = {response.headers.get(name, [None])[0] for name in _ID_HEADERS}
    return failure.instance in echoed - {None}


# schema_for pins these to the caller's and our party: a mutation of one is never sent.
_ROUTING_HEADERS = ("ocpi-from-country-code", "ocpi-from-party-id", "ocpi-to-country-code",
                    "ocpi-to-party-id")


def _only_id_header_negated(failure: Failure, case: Case, response: Response) -> bool:
    """A negative case whose only schema violation is a non-UUID X-Request-ID/-Correlation-ID
    (Schemathesis still names the mutations of pinned routing headers it replaced)."""
    if not isinstance(failure, AcceptedNegativeData) or case.meta is None:
        return False
    data = case.meta.phase.data
    negated = {(m.parameter_location, (m.parameter or "").lower()) for m in data.mutations}
    if data.parameter is not None:
        negated.add((data.parameter_location, data.parameter.lower()))
    negated = {(location, name) for location, name in negated
               if not (location == ParameterLocation.HEADER and name in _ROUTING_HEADERS)}
    return bool(negated) and all(location == ParameterLocation.HEADER and name in _ID_HEADERS
                                 for location, name in negated)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _null_optional_fields(failure: Failure, case: Case, response: Response) -> bool:
    """A negative body whose only violations are optional properties sent as null."""
    if not isinstance(failure, AcceptedNegativeData) or case.media_type is None:
        return False
    stripped = _without_nulls(case.body)
    body = case.operation.get_body_for_media_type(case.media_type)
    return stripped != case.body and body is not None \
        and make_validator_for(body.validation_schema).is_valid(stripped)


def _asynchronous_profile_request(failure: Failure, case: Case, response: Response) -> bool:
    return isinstance(failure, UseAfterFree) and case.operation.path.startswith(
        "/chargingprofiles/")


@dataclass(frozen=True)
class Allowance:
    """One documented difference between the OCPI 2.2.1 text and the OpenAPI YAML."""

    check: str
    cites: str
    reason: str
    applies: Callable[[Failure, Case, Response], bool]


ALLOW_LIST: tuple[Allowance, ...] = (
    Allowance(
        "negative_data_rejection",
        "OCPI 2.2.1, status_codes.asciidoc, 'Status codes'",
        "A request that is valid JSON and addresses an existing resource has reached the OCPI "
        "layer and MUST NOT get an HTTP error; it is refused inside an HTTP 200 answer with a "
        "2xxx status_code (2001 invalid or missing parameters, 2003 unknown location, ...). The "
        "YAML expects a 4xx for every schema-violating request; a 200 carrying 2xxx is that "
        "refusal.",
        _rejected_in_ocpi_layer),
    Allowance(
        "response_headers_conformance",
        "OCPI 2.2.1, transport_and_format.asciidoc, 'Unique message IDs'",
        "X-Request-ID and X-Correlation-ID are unique IDs; it is 'advised' to use GUID/UUID "
        "values, not required. The YAML declares format: uuid; a response echoes the ID the "
        "request carried, whatever its form (and a generated one where the request had none).",
        _id_header_not_uuid),
    Allowance(
        "negative_data_rejection",
        "OCPI 2.2.1, transport_and_format.asciidoc, 'Unique message IDs'",
        "The same: a request whose only 'violation' is a non-UUID X-Request-ID or "
        "X-Correlation-ID is a valid OCPI request and is served.",
        _only_id_header_negated),
    Allowance(
        "negative_data_rejection",
        "OCPI 2.2.1, transport_and_format.asciidoc, 'PUT'",
        "Optional fields that are not included revert to their default value, which is either "
        "specified in the protocol or NULL: an optional field sent as null is taken as not "
        "included (in a PATCH it removes the field). The YAML's types are not nullable. Null "
        "for a required field, or in a list, is refused.",
        _null_optional_fields),
    Allowance(
        "use_after_free",
        "OCPI 2.2.1, mod_charging_profiles.asciidoc, 'Receiver Interface'",
        "GET (ActiveChargingProfile) and DELETE (ClearProfile) on {url}/{session_id} are "
        "asynchronous requests: each is acknowledged with a ChargingProfileResponse and its "
        "result POSTed to the response_url. A DELETE removes no resource a later GET could "
        "miss, so the REST resource the stateful phase infers from the shared path does not "
        "exist.",
        _asynchronous_profile_request),
)


def failure_filter(allowances: tuple[Allowance, ...]) -> Callable[..., bool]:
    """A Schemathesis ``filter_failure`` hook: keep a failure unless an allowance explains it."""

    def filter_failure(context: Any, failure: Failure, case: Case, response: Response) -> bool:
        return not any(entry.check in failure.checks and entry.applies(failure, case, response)
                       for entry in allowances)

    return filter_failure


# ---- the interfaces under test ---------------------------------------------------------------


@dataclass(frozen=True)
class Interface:
    """One interface file of the CPO role and how it is driven."""

    file: str
    base: str = MODULES
    caller: str = "emsp"
    # Operation ids the generic run never sends (not even as an "undeclared method").
    unsent: tuple[str, ...] = ()
    needs: str | None = None
    # Further per-operation Schemathesis settings, e.g. a path parameter pinned to an object.
    operations: tuple[dict[str, Any], ...] = ()

    @property
    def path(self) -> Path:
        return OCPI_OPENAPI / "modules" / self.file


INTERFACES = (
    Interface("versions/interface.yaml", base=CPO_ROOT),
    # PUT and DELETE would end the registration the run stands on: explicit cases below.
    Interface("credentials/interface.yaml", unsent=("putCredentials", "deleteCredentials")),
    Interface("locations/sender-interface.yaml"),
    Interface("sessions/sender-interface.yaml"),
    Interface("cdrs/sender-interface.yaml"),
    Interface("tariffs/sender-interface.yaml"),
    # GET and PATCH on the token the fixture stored; PUTs create tokens of generated uids.
    Interface("tokens/receiver-interface.yaml", operations=({
        "include-operation-id": ["receiverGetToken", "receiverPatchToken"],
        "parameters": {"path.token_uid": TOKEN_UID, "query.type": "RFID"}},)),
    Interface("commands/receiver-interface.yaml"),
    Interface("hubclientinfo/receiver-interface.yaml", caller="hub"),
    Interface("chargingprofiles/receiver-interface.yaml",
              needs="plugins/ocpi_cpo/chargingprofiles.py"),
)


@dataclass
class World:
    server: RunningServer
    emsp: EmspPeer
    hub: HubPeer
    # The site's EVSE and the ongoing session of the eMSP's token there.
    evse_uid: str
    session_id: str

    def authorization(self, caller: str) -> str:
        peer = self.hub if caller == "hub" else self.emsp
        token = peer.partner.token_out
        assert token, f"the {caller} peer holds no token C"
        return "Token " + base64.b64encode(token.encode()).decode()

    def response_url(self, module: str, command: str = "") -> str:
        """A ``response_url`` at the eMSP, unique per request as the specification suggests:
        for a command under the eMSP's commands endpoint, which takes its CommandResult."""
        unique = uuid.uuid4().hex
        if command:
            return f"{self.emsp.endpoint_url(module)}/{command}/{unique}"
        return f"{self.emsp.base_url}/ocpi/{module}/conformance/{unique}"

    def operations(self) -> tuple[dict[str, Any], ...]:
        """Per-operation pins known only once the site runs: the session's id."""
        return ({"include-operation-id": ["receiverGetActiveChargingProfile",
                                          "receiverPutChargingProfile",
                                          "receiverDeleteChargingProfile"],
                 "parameters": {"path.session_id": self.session_id,
                                "query.response_url": self.response_url("chargingprofiles")}},)

    def body_pins(self) -> dict[tuple[str, str], BodyPins]:
        """What generated bodies are made to name, per (method, path)."""
        party = {"country_code": EMSP[0], "party_id": EMSP[1]}
        contract = IfEmpty("DE-EMS-C00000001-0")
        site = {"location_id": "LOC1", "evse_uid": self.evse_uid, "connector_id": "1"}
        reservation = IfEmpty("CONF-R1")

        def command(name: str, **values: Any) -> BodyPins:
            return lambda case: {"response_url": self.response_url("commands", name),
                                 "authorization_reference": IfEmpty("CONF-A1"), **values}

        def carried_token() -> dict[str, Any]:
            # At most 20 characters: an OCPP 1.6 id tag.
            return {**party, "uid": IfEmpty(f"CONF-{uuid.uuid4().hex[:15]}"),
                    "contract_id": contract}

        def token(case: Case) -> Mapping[str, Any]:
            chosen = (case.query or {}).get("type")
            return {**party, "uid": case.path_parameters.get("token_uid"),
                    "contract_id": contract,
                    **({"type": chosen} if chosen is not None else {})}

        return {
            ("PUT", TOKEN_PATH): token,
            ("PATCH", TOKEN_PATH): token,
            ("PUT", "/hubclientinfo/{country_code}/{party_id}"): lambda case: {
                "country_code": HUB_PARTIES[0][0], "party_id": HUB_PARTIES[0][1]},
            ("POST", "/commands/START_SESSION"): lambda case: command(
                "START_SESSION", token=carried_token(), **site)(case),
            ("POST", "/commands/RESERVE_NOW"): lambda case: command(
                "RESERVE_NOW", token=carried_token(), location_id="LOC1",
                evse_uid=self.evse_uid, reservation_id=reservation)(case),
            ("POST", "/commands/STOP_SESSION"): command("STOP_SESSION",
                                                        session_id=self.session_id),
            ("POST", "/commands/CANCEL_RESERVATION"): command(
                "CANCEL_RESERVATION", reservation_id=reservation),
            ("POST", "/commands/UNLOCK_CONNECTOR"): command("UNLOCK_CONNECTOR", **site),
            ("PUT", "/chargingprofiles/{session_id}"): lambda case: {
                "response_url": self.response_url("chargingprofiles"),
                "charging_profile": {"charging_profile_period": IfEmpty(
                    [{"start_period": 0, "limit": 7000.0}])}},
        }


# The body properties one operation's generated bodies are made to carry, from the case.
BodyPins = Callable[[Case], Mapping[str, Any]]


@dataclass(frozen=True)
class IfEmpty:
    """A pin applied only where the generated value is an empty string or list: the YAML sets
    no minimum, the minimal examples Schemathesis favours are empty, and we refuse an empty id
    (2001) before the rest of the body is looked at."""

    value: Any


def _pinned(body: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(body)
    for name, value in values.items():
        if name not in body:
            continue
        if isinstance(value, IfEmpty):
            if body[name] in ("", []):
                out[name] = value.value
        elif isinstance(value, Mapping):
            if isinstance(body[name], dict):
                out[name] = _pinned(body[name], value)
        else:
            out[name] = value
    return out


def pinning_bodies(pins: Mapping[tuple[str, str], BodyPins]) -> Callable[[Any, Case], Case]:
    """A Schemathesis ``map_case`` hook: a generated body names random owners, ids and
    objects, so nearly every request would end at our identity or lookup check. The bodies of
    the (method, path) operations in ``pins`` are made to carry the values given (nested
    mappings pin properties of nested objects), and their other fields reach our validation.

    Only properties the body already has are set: a body lacking a required one stays
    invalid. Schemathesis revalidates a changed body: a negative case this makes valid counts
    as valid.
    """

    def map_case(context: Any, case: Case) -> Case:
        rule = pins.get((case.method.upper(), case.operation.path))
        if rule is not None and isinstance(case.body, dict):
            case.body = _pinned(case.body, rule(case))
        return case

    return map_case


def logged_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Errors our server logged: a request our OCPI layer failed on is answered 3000 in an
    HTTP 200, which Schemathesis takes for an answer; a background task's failure is not seen
    at all."""
    return [f"{record.name}: {record.getMessage()}" for record in caplog.records
            if record.levelno >= logging.ERROR and record.name.split(".")[0] in ("core",
                                                                                 "plugins")]


async def _charging_site(server: RunningServer, emsp: EmspPeer
                         ) -> tuple[TestStation, str, str]:
    """The site's station online, charging with the eMSP's token: (station, EVSE uid,
    session id)."""
    emsp.add_token(TOKEN_UID)
    pushed = await emsp.push_token(TOKEN_UID)
    assert pushed.ok, pushed.envelope
    station = await connect(server, "CP1")
    started = await station.call(call.StartTransaction(
        connector_id=1, id_tag=TOKEN_UID, meter_start=0, timestamp=_now()))
    assert started.id_tag_info["status"] == "Accepted", started
    async with server.app[appkeys.DB].session() as session:
        evse_uid = await session.scalar(select(Evse.uid).where(Evse.station_id == "CP1",
                                                               Evse.evse_number == 1))
        tx = await session.get(Transaction, started.transaction_id)
    assert evse_uid is not None and tx is not None
    return station, evse_uid, tx.transaction_uid


@pytest.fixture
async def world(openv2x_server: Any) -> Any:
    if not OCPI_OPENAPI.is_dir():
        pytest.skip(f"the OCPI 2.2.1 OpenAPI description is not at {OCPI_OPENAPI}")
    server = await openv2x_server(plugins=PLUGINS, settings=SETTINGS)
    await add_site(server, station_id="CP1", location_id="LOC1")
    emsp, hub = EmspPeer(*EMSP), HubPeer(HUB_PARTIES)
    await emsp.start()
    await hub.start()
    try:
        await emsp.register_with(server.url(f"{CPO_ROOT}/versions"), await token_a(server))
        await hub.register_with(server.url(f"{CPO_ROOT}/versions"), await token_a(server))
        station, evse_uid, session_id = await _charging_site(server, emsp)
        try:
            yield World(server, emsp, hub, evse_uid, session_id)
        finally:
            await disconnect(station)
    finally:
        await hub.stop()
        await emsp.stop()


def load(world: World, interface: Interface, authorization: str | None) -> OpenApiSchema:
    """The interface file as a Schemathesis schema aimed at our server."""
    party = HUB_PARTIES[0] if interface.caller == "hub" else EMSP
    schema = schema_for(interface, world.server.url(interface.base), caller=party, ours=OURS,
                        authorization=authorization, operations=world.operations())
    schema.hook(pinning_bodies(world.body_pins()))
    return schema


def schema_for(interface: Interface, base_url: str, *, caller: tuple[str, str],
               ours: tuple[str, str], authorization: str | None,
               allowances: tuple[Allowance, ...] = ALLOW_LIST,
               operations: tuple[dict[str, Any], ...] = ()) -> OpenApiSchema:
    """An interface file as a Schemathesis schema aimed at ``base_url``, sent as ``caller``
    (a registered partner's party) to our party ``ours``; failures ``allowances`` explain
    are dropped, ``operations`` adds per-operation settings to the interface's."""
    config: dict[str, Any] = {
        "seed": SEED,
        # Timing only (two busy cores); the data health checks stay on.
        "suppress-health-check": ["too_slow"],
        "cache": {"enabled": False},
        "base-url": base_url,
        "workers": 1,
        "continue-on-failure": True,
        "request-timeout": 10,
        "checks": {"enabled": True},
        "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
        # Receiver paths name the client's own objects, so they carry the caller's party;
        # the routing headers name the caller and us, else most requests end at routing.
        "parameters": {
            "path.country_code": caller[0], "path.party_id": caller[1],
            "header.OCPI-from-country-code": caller[0], "header.OCPI-from-party-id": caller[1],
            "header.OCPI-to-country-code": ours[0], "header.OCPI-to-party-id": ours[1],
        },
        "operations": [{
            # The run's caller is registered: the specification's answer to its credentials
            # POST is HTTP 405 (credentials.asciidoc; the YAML documents it too), and 401 to
            # the requests Schemathesis sends without the token.
            "include-operation-id": "postCredentials",
            "checks": {"positive_data_acceptance": {"expected-statuses": [401, 405]}},
        }],
    }
    if interface.unsent:
        config["operations"].append({"include-operation-id": list(interface.unsent),
                                     "enabled": False})
    config["operations"].extend((*interface.operations, *operations))
    if authorization is not None:
        config["headers"] = {"Authorization": authorization}
    schema = schemathesis.openapi.from_path(interface.path,
                                            config=SchemathesisConfig.from_dict(config))
    schema.hook(failure_filter(allowances))
    return schema


def describe(failure: Failure, steps: list[str], response: str) -> str:
    return "\n".join([f"{failure.operation}: {failure.title}",
                      textwrap.indent(failure.message.strip(), "    "),
                      f"    response: {response}", *(textwrap.indent(s, "    ")
                                                    for s in steps)])


def _response_text(recorder: Any, case_id: str) -> str:
    interaction = recorder.interactions.get(case_id)
    if interaction is None or interaction.response is None:
        return "(none)"
    response = interaction.response
    body = (response.content or b"")[:300].decode(errors="replace")
    return f"HTTP {response.status_code} {body}"


def run_engine(schema: OpenApiSchema) -> tuple[list[str], int]:
    """Every phase of a Schemathesis run: (failures described, answers past authentication).

    The second figure guards the run itself: were the token not sent, every answer would be a
    401, which most checks accept.
    """
    found: list[str] = []
    authenticated = 0
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            authenticated += sum(1 for i in recorder.interactions.values()
                                 if i.response is not None and i.response.status_code != 401)
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        info = check.failure_info
                        found.append(describe(info.failure, [info.code_sample],
                                              _response_text(recorder, case_id)))
        elif isinstance(event, events.NonFatalError):
            found.append(f"{event.label}: error {event.info.title}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            found.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            found.extend(describe(f, [], "") for f in event.failures)
    return sorted(set(found)), authenticated


async def registered(server: RunningServer, peer: EmspPeer) -> bool:
    party = peer.party
    async with server.app[appkeys.DB].session() as session:
        rows = (await session.execute(select(OcpiPartner).where(
            OcpiPartner.status == "registered"))).scalars().all()
    return any((r.get("country_code"), r.get("party_id")) == (party.country_code,
                                                              party.party_id)
               for row in rows for r in row.roles)


def _served(world: World, identifier: str) -> bool:
    return any(e.get("identifier") == identifier for e in world.emsp.partner.endpoints)


@pytest.mark.parametrize("interface", INTERFACES, ids=lambda i: i.file.removesuffix(".yaml"))
async def test_interface_conforms(world: World, interface: Interface,
                                  caplog: pytest.LogCaptureFixture) -> None:
    if interface.needs and not (ROOT / interface.needs).exists():
        pytest.skip(f"{interface.needs} does not exist yet: the module is not implemented")
    module = interface.file.split("/")[0]
    if module not in ("versions", "credentials") and not _served(world, module):
        pytest.skip(f"our version details list no {module} endpoint: the module is not served")
    schema = load(world, interface, world.authorization(interface.caller))
    failures, authenticated = await asyncio.to_thread(run_engine, schema)
    assert authenticated > 0, "no request got past authentication"
    assert not failures, f"{len(failures)} conformance failures:\n\n" + "\n\n".join(failures)
    assert not logged_errors(caplog)
    # No generated request may have ended the registrations the run stands on.
    assert await registered(world.server, world.emsp)
    assert await registered(world.server, world.hub)


# ---- explicit requests: the objects we hold and the credentials operations -------------------


def send(schema: OpenApiSchema, path: str, method: str, authorization: str, *,
         headers: dict[str, str] | None = None, body: Any = None,
         path_parameters: dict[str, str] | None = None,
         query: dict[str, str] | None = None) -> Response:
    """Send one request through Schemathesis and apply every check to its answer."""
    kwargs: dict[str, Any] = {"headers": {"Authorization": authorization,
                                          "X-Request-ID": str(uuid.uuid4()),
                                          "X-Correlation-ID": str(uuid.uuid4()),
                                          **(headers or {})}}
    for name, value in (("body", body), ("path_parameters", path_parameters),
                        ("query", query)):
        if value is not None:
            kwargs[name] = value
    case = schema[path][method].Case(**kwargs)
    response = case.call()
    try:
        case.validate_response(response)
    except FailureGroup as group:
        pytest.fail("\n\n".join(describe(f, [case.as_curl_command()],
                                         f"HTTP {response.status_code} {response.text}")
                                for f in group.exceptions))
    except Failure as failure:
        pytest.fail(describe(failure, [case.as_curl_command()],
                             f"HTTP {response.status_code} {response.text}"))
    return response


def _token(value: str) -> str:
    return "Token " + base64.b64encode(value.encode()).decode()


def _body(response: Response) -> dict[str, Any]:
    body = json.loads(response.content)
    assert isinstance(body, dict)
    return body


def answer(response: Response) -> tuple[int, int | None]:
    """(HTTP status, OCPI status_code) of a response."""
    return response.status_code, _ocpi_status(response)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


ROUTED = {"OCPI-from-country-code": EMSP[0], "OCPI-from-party-id": EMSP[1],
          "OCPI-to-country-code": OURS[0], "OCPI-to-party-id": OURS[1]}


def _interface(file: str) -> Interface:
    return next(i for i in INTERFACES if i.file == file)


def real_objects(world: World) -> None:
    """Requests that name objects we hold (generated data rarely does), so our real Location,
    EVSE, Connector, Token, CommandResponse and ClientInfo answers meet every check too."""
    emsp = world.authorization("emsp")
    locations = load(world, _interface("locations/sender-interface.yaml"), emsp)
    listed = send(locations, "/locations", "GET", emsp, headers=ROUTED)
    assert answer(listed) == (200, 1000), listed.text
    [location] = _body(listed)["data"]
    evse = location["evses"][0]
    where = {"location_id": location["id"], "evse_uid": evse["uid"],
             "connector_id": evse["connectors"][0]["id"]}
    for path in ("/locations/{location_id}", "/locations/{location_id}/{evse_uid}",
                 "/locations/{location_id}/{evse_uid}/{connector_id}"):
        names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        got = send(locations, path, "GET", emsp, headers=ROUTED,
                   path_parameters={name: where[name] for name in names})
        assert answer(got) == (200, 1000), got.text

    tokens = load(world, _interface("tokens/receiver-interface.yaml"), emsp)
    token = {"country_code": EMSP[0], "party_id": EMSP[1], "uid": "CONF0001", "type": "RFID",
             "contract_id": "DE-EMS-C00000001-0", "issuer": "EMS Test", "valid": True,
             "whitelist": "ALLOWED", "last_updated": _now()}
    token_path = "/tokens/{country_code}/{party_id}/{token_uid}"
    at = {"country_code": EMSP[0], "party_id": EMSP[1], "token_uid": "CONF0001"}
    put = send(tokens, token_path, "PUT", emsp, headers=ROUTED, path_parameters=at, body=token)
    assert answer(put) in ((200, 1000), (201, 1000)), put.text
    got = send(tokens, token_path, "GET", emsp, headers=ROUTED, path_parameters=at,
               query={"type": "RFID"})
    assert answer(got) == (200, 1000) and _body(got)["data"]["uid"] == "CONF0001"
    patched = send(tokens, token_path, "PATCH", emsp, headers=ROUTED, path_parameters=at,
                   body={"valid": False, "last_updated": _now()})
    assert answer(patched) == (200, 1000), patched.text

    commands = load(world, _interface("commands/receiver-interface.yaml"), emsp)
    started = send(commands, "/commands/START_SESSION", "POST", emsp, headers=ROUTED, body={
        "response_url": world.response_url("commands", "START_SESSION"),
        "token": token, "location_id": location["id"], "evse_uid": evse["uid"]})
    # The station is online: sent to it, its answer goes to the response_url.
    assert answer(started) == (200, 1000) and _body(started)["data"]["result"] == "ACCEPTED"
    unknown = send(commands, "/commands/UNLOCK_CONNECTOR", "POST", emsp, headers=ROUTED, body={
        "response_url": world.emsp.base_url + "/ocpi/commands/UNLOCK_CONNECTOR/conformance",
        "location_id": "NOWHERE", "evse_uid": "E1", "connector_id": "1"})
    assert answer(unknown) == (200, 2003), unknown.text

    hub_token = world.authorization("hub")
    hub = load(world, _interface("hubclientinfo/receiver-interface.yaml"), hub_token)
    info_at = {"country_code": HUB_PARTIES[0][0], "party_id": HUB_PARTIES[0][1]}
    info = {**info_at, "role": "EMSP", "status": "CONNECTED", "last_updated": _now()}
    assert answer(send(hub, "/hubclientinfo/{country_code}/{party_id}", "PUT", hub_token,
                       path_parameters=info_at, body=info))[1] == 1000
    got = send(hub, "/hubclientinfo/{country_code}/{party_id}", "GET", hub_token,
               path_parameters=info_at)
    assert answer(got) == (200, 1000) and _body(got)["data"]["status"] == "CONNECTED"


async def test_real_objects_conform(world: World) -> None:
    await asyncio.to_thread(real_objects, world)


async def test_credentials_operations_conform(world: World) -> None:
    """POST with a token A, GET, PUT and DELETE (and their misuse) with a throwaway eMSP."""
    schema = load(world, _interface("credentials/interface.yaml"), None)
    await credentials_operations(schema, EmspPeer("DE", "NEW"), lambda: token_a(world.server))
    assert await registered(world.server, world.emsp)


async def credentials_operations(schema: OpenApiSchema, newcomer: EmspPeer,
                                 issue_token_a: Callable[[], Awaitable[str]]) -> None:
    """The credentials operations the generic run leaves out, through every check: a
    ``newcomer`` registers with a token A, reads, updates and ends its registration."""
    await newcomer.start()
    try:
        token_b = "newcomer-token-b"
        newcomer.partners.append(Partner(token_in=token_b))
        ours = newcomer.credentials_object(token_b)

        def call(method: str, token: str, body: Any = None) -> Response:
            return send(schema, "/credentials", method, _token(token), body=body)

        first_a, unused_a = await issue_token_a(), await issue_token_a()
        # POST with a token A registers (the newcomer serves its versions meanwhile).
        posted = await asyncio.to_thread(call, "POST", first_a, ours)
        assert answer(posted) == (200, 1000), posted.text
        token_c = _body(posted)["data"]["token"]
        # Registered now: POST is 405, GET gives our credentials for this partner.
        assert (await asyncio.to_thread(call, "POST", token_c, ours)).status_code == 405
        got = await asyncio.to_thread(call, "GET", token_c)
        assert answer(got) == (200, 1000) and _body(got)["data"]["token"] == token_c
        # PUT: 405 with a token A (not registered); with token C an update and a new token C.
        assert (await asyncio.to_thread(call, "PUT", unused_a, ours)).status_code == 405
        put = await asyncio.to_thread(call, "PUT", token_c, ours)
        assert answer(put) == (200, 1000), put.text
        new_c = _body(put)["data"]["token"]
        assert new_c != token_c
        # DELETE unregisters; the token opens nothing after (401), a token A gets 405.
        assert answer(await asyncio.to_thread(call, "DELETE", new_c)) == (200, 1000)
        assert (await asyncio.to_thread(call, "DELETE", new_c)).status_code == 401
        assert (await asyncio.to_thread(call, "DELETE", unused_a)).status_code == 405
    finally:
        await newcomer.stop()
