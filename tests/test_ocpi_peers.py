"""Self-tests of the OCPI 2.2.1 test peers (``tests/ocpi_peers``), without our server.

The peers are only useful as an independent yardstick if they themselves behave as the
specification says, so these tests run them against each other over real HTTP: two eMSP
peers perform the credentials handshake in both directions, push objects to each other's
Receiver interfaces and pull each other's token lists; a stub CPO answers commands and
accepts ClientInfo pushes from the hub peer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from ocpi_peers import EmspPeer, HubPeer, OcpiClient, Partner, Party, Routing
from ocpi_peers.common import (
    X_CORRELATION_ID,
    X_REQUEST_ID,
    decode_authorization,
    encode_token,
    envelope,
    is_ocpi_datetime,
    json_reply,
    ocpi_timestamp,
    parse_link_next,
    shared_schemas,
)
from ocpi_peers.emsp import OcpiPeerError

pytestmark = pytest.mark.skipif(not shared_schemas().available(),
                                reason="the OCPI 2.2.1 OpenAPI description is not available")

STAMP = "2024-05-01T10:00:00Z"


@pytest.fixture
async def pair() -> AsyncIterator[tuple[EmspPeer, EmspPeer]]:
    """Two started eMSP peers, NL*AAA and DE*BBB, not yet registered."""
    async with EmspPeer("NL", "AAA") as first, EmspPeer("DE", "BBB") as second:
        yield first, second


@pytest.fixture
async def registered(pair: tuple[EmspPeer, EmspPeer]) -> tuple[EmspPeer, EmspPeer]:
    """``server`` accepted the registration of ``client`` (client used server's token A)."""
    server, client = pair
    await client.register_with(server.versions_url, server.issue_token_a())
    return server, client


def connector(connector_id: str = "1") -> dict[str, Any]:
    return {"id": connector_id, "standard": "IEC_62196_T2", "format": "SOCKET",
            "power_type": "AC_3_PHASE", "max_voltage": 230, "max_amperage": 32,
            "last_updated": STAMP}


def evse(uid: str = "E1") -> dict[str, Any]:
    return {"uid": uid, "evse_id": f"NL*AAA*E{uid}", "status": "AVAILABLE",
            "connectors": [connector()], "last_updated": STAMP}


def location(location_id: str = "LOC1", cc: str = "NL", pid: str = "AAA") -> dict[str, Any]:
    return {"country_code": cc, "party_id": pid, "id": location_id, "publish": True,
            "address": "Damrak 1", "city": "Amsterdam", "country": "NLD",
            "coordinates": {"latitude": "52.37403", "longitude": "4.88969"},
            "time_zone": "Europe/Amsterdam", "evses": [evse()], "last_updated": STAMP}


def cdr_token() -> dict[str, Any]:
    return {"country_code": "DE", "party_id": "BBB", "uid": "TOK1", "type": "RFID",
            "contract_id": "DE-BBB-C1"}


def session(session_id: str = "S1") -> dict[str, Any]:
    return {"country_code": "NL", "party_id": "AAA", "id": session_id,
            "start_date_time": STAMP, "kwh": 0, "cdr_token": cdr_token(),
            "auth_method": "WHITELIST", "location_id": "LOC1", "evse_uid": "E1",
            "connector_id": "1", "currency": "EUR", "status": "ACTIVE", "last_updated": STAMP}


def period(start: str, kwh: float) -> dict[str, Any]:
    return {"start_date_time": start, "dimensions": [{"type": "ENERGY", "volume": kwh}]}


def cdr(cdr_id: str = "CDR1") -> dict[str, Any]:
    return {"country_code": "NL", "party_id": "AAA", "id": cdr_id,
            "start_date_time": STAMP, "end_date_time": "2024-05-01T11:00:00Z",
            "cdr_token": cdr_token(), "auth_method": "WHITELIST",
            "cdr_location": {"id": "LOC1", "address": "Damrak 1", "city": "Amsterdam",
                             "country": "NLD",
                             "coordinates": {"latitude": "52.37403", "longitude": "4.88969"},
                             "evse_uid": "E1", "evse_id": "NL*AAA*EE1", "connector_id": "1",
                             "connector_standard": "IEC_62196_T2",
                             "connector_format": "SOCKET",
                             "connector_power_type": "AC_3_PHASE"},
            "currency": "EUR", "charging_periods": [period(STAMP, 10)],
            "total_cost": {"excl_vat": 2.5, "incl_vat": 3.03}, "total_energy": 10,
            "total_time": 1, "last_updated": "2024-05-01T11:00:01Z"}


def tariff(tariff_id: str = "T1") -> dict[str, Any]:
    return {"country_code": "NL", "party_id": "AAA", "id": tariff_id, "currency": "EUR",
            "elements": [{"price_components": [{"type": "ENERGY", "price": 0.25,
                                                "step_size": 1}]}],
            "last_updated": STAMP}


# -- transport helpers -----------------------------------------------------------------------


def test_token_header_is_base64_and_round_trips() -> None:
    header = encode_token("abc-123")
    assert header == "Token YWJjLTEyMw=="
    assert decode_authorization(header) == "abc-123"
    assert decode_authorization("Token not*base64") is None
    assert decode_authorization("Bearer YWJj") is None
    assert decode_authorization(None) is None


def test_timestamps_follow_the_ocpi_forms() -> None:
    assert is_ocpi_datetime(ocpi_timestamp())
    for ok in ("2015-06-29T20:39:09Z", "2015-06-29T20:39:09", "2016-12-29T17:45:09.2Z",
               "2018-01-01T01:08:01.123"):
        assert is_ocpi_datetime(ok), ok
    for bad in ("2015-06-29T20:39:09+00:00", "2015-06-29 20:39:09Z", "2015-13-29T20:39:09Z",
                "20150629T203909Z"):
        assert not is_ocpi_datetime(bad), bad


def test_link_header_parsing() -> None:
    header = '<https://x.example/tokens?offset=2&limit=2>; rel="next"'
    assert parse_link_next(header) == "https://x.example/tokens?offset=2&limit=2"
    assert parse_link_next('</tokens?offset=4>; rel="next"', "http://h:1/tokens") == \
        "http://h:1/tokens?offset=4"
    assert parse_link_next('<https://x.example/a>; rel="prev"') is None
    assert parse_link_next(None) is None


def test_routing_headers() -> None:
    routing = Routing.between(("NL", "EMS"), ("DE", "CPO"))
    assert routing.headers() == {"OCPI-to-country-code": "DE", "OCPI-to-party-id": "CPO",
                                 "OCPI-from-country-code": "NL", "OCPI-from-party-id": "EMS"}
    assert Party("nl", "ems").same_as(("NL", "EMS"))


# -- credentials -----------------------------------------------------------------------------


async def test_registration_client_side_and_server_side(pair: tuple[EmspPeer, EmspPeer]
                                                        ) -> None:
    server, client = pair
    token_a = server.issue_token_a()
    partner = await client.register_with(server.versions_url, token_a)

    # The client read the server's API with token A, then POSTed its token B with token A.
    calls = [(e.method, e.url, decode_authorization(e.request_headers["Authorization"]))
             for e in client.client.log]
    assert calls == [("GET", server.versions_url, token_a),
                     ("GET", server.version_details_url, token_a),
                     ("POST", server.endpoint_url("credentials"), token_a)]
    # The server read the client's API with token B (from the posted credentials)...
    token_b = partner.token_in
    reads = [(r.method, r.path, decode_authorization(r.headers["Authorization"]))
             for r in client.received]
    assert reads == [("GET", "/ocpi/versions", token_b), ("GET", "/ocpi/2.2.1", token_b)]
    # ...and answered a new token C, which both sides now use.
    stored = server.partner
    assert stored.registered and partner.registered
    assert stored.token_out == token_b
    assert partner.token_out == stored.token_in != token_a
    assert partner.party == Party("NL", "AAA") and stored.party == Party("DE", "BBB")
    assert stored.endpoint("tokens", "SENDER") == client.endpoint_url("tokens")
    # Every response echoed the request's IDs.
    for exchange in client.client.log:
        assert exchange.response_headers is not None
        assert exchange.response_headers[X_REQUEST_ID] == exchange.request_headers[X_REQUEST_ID]
        assert (exchange.response_headers[X_CORRELATION_ID]
                == exchange.request_headers[X_CORRELATION_ID])
    assert not server.violations and not client.violations

    # Token C works on functional modules in both directions; token A is spent.
    assert (await client.get_all("tokens")).ok
    listed = await server.get_all("tokens")
    assert listed.ok and listed.items == []
    refused = await client.call("GET", "credentials", token=token_a)
    assert refused.http_status == 401


async def test_registration_in_the_other_direction(pair: tuple[EmspPeer, EmspPeer]) -> None:
    first, second = pair
    partner = await first.register_with(second.versions_url, second.issue_token_a())
    assert partner.party == Party("DE", "BBB")
    assert second.partner.party == Party("NL", "AAA")
    got = await second.call("GET", "credentials")
    assert got.ok and got.data["token"] == partner.token_in
    assert got.data["roles"][0]["role"] == "EMSP"


async def test_credentials_405_rules(registered: tuple[EmspPeer, EmspPeer]) -> None:
    server, client = registered
    body = client.credentials_object(client.partner.token_in)
    # POST from an already registered party (its own token C)...
    again = await client.call("POST", "credentials", json=body)
    assert again.http_status == 405
    # ...or with a new token A but the same party.
    fresh_a = server.issue_token_a()
    with pytest.raises(OcpiPeerError) as refused:
        await client.register_with(server.versions_url, fresh_a)
    assert refused.value.response is not None
    assert refused.value.response.http_status == 405
    # PUT and DELETE from a party that is not registered (token A only).
    unregistered = await client.call("PUT", "credentials", json=body, token=fresh_a)
    assert unregistered.http_status == 405
    assert (await client.call("DELETE", "credentials", token=fresh_a)).http_status == 405
    # Token A is refused outside versions/credentials, and no token at all everywhere.
    assert (await client.call("GET", "tokens", role="SENDER", token=fresh_a)).http_status == 401
    bare = OcpiClient()
    try:
        assert (await bare.request("GET", server.versions_url, token=None)).http_status == 401
    finally:
        await bare.close()


async def test_update_rotates_tokens_and_delete_unregisters(
        registered: tuple[EmspPeer, EmspPeer]) -> None:
    server, client = registered
    old_in, old_out = client.partner.token_in, client.partner.token_out
    answer = await client.update_credentials()
    assert answer.ok
    partner = client.partner
    assert partner.token_in != old_in and partner.token_out != old_out
    assert server.partner.token_in == partner.token_out
    assert server.partner.token_out == partner.token_in
    # The old token C is gone, the new one works.
    assert (await client.call("GET", "credentials", token=old_out)).http_status == 401
    assert (await client.call("GET", "credentials")).ok

    answer = await client.unregister()
    assert answer.ok
    assert not server.partners and not client.partners
    stale = await client.client.request("GET", server.endpoint_url("credentials"),
                                        token=partner.token_out)
    assert stale.http_status == 401


async def test_server_refuses_registration_without_required_endpoints(
        pair: tuple[EmspPeer, EmspPeer]) -> None:
    server, client = pair
    server.required_endpoints = {("hubclientinfo", "RECEIVER")}
    with pytest.raises(OcpiPeerError) as refused:
        await client.register_with(server.versions_url, server.issue_token_a())
    assert refused.value.response is not None
    assert refused.value.response.status_code == 3003
    assert not server.partners and not client.partners


# -- receivers -------------------------------------------------------------------------------


async def test_location_put_patch_and_schema_rejection(
        registered: tuple[EmspPeer, EmspPeer]) -> None:
    server, receiver = registered  # the server plays the CPO pushing to the receiver
    created = await server.call("PUT", "locations", "NL", "AAA", "LOC1", json=location())
    assert created.http_status == 201 and created.status_code == 1000
    stored = receiver.store.location("LOC1")
    assert stored is not None and stored["city"] == "Amsterdam"
    assert receiver.locations[("NL", "AAA", "LOC1")] is stored

    # PATCH of an EVSE merges fields and stamps the parent Location.
    patched = await server.call("PATCH", "locations", "NL", "AAA", "LOC1", "E1",
                                json={"status": "CHARGING",
                                      "last_updated": "2024-05-01T10:05:00Z"})
    assert patched.ok
    assert receiver.store.evse("LOC1", "E1")["status"] == "CHARGING"
    assert stored["last_updated"] == "2024-05-01T10:05:00Z"
    # A new connector by PUT, then a GET of it.
    put = await server.call("PUT", "locations", "NL", "AAA", "LOC1", "E1", "2",
                            json=connector("2"))
    assert put.http_status == 201
    got = await server.call("GET", "locations", "NL", "AAA", "LOC1", "E1", "2")
    assert got.ok and got.data["id"] == "2"

    # Schema violations answer 2001 and are recorded, nothing is stored.
    bad = location("LOC2")
    del bad["coordinates"]
    bad["last_updated"] = "2024-05-01T10:00:00+00:00"
    refused = await server.call("PUT", "locations", "NL", "AAA", "LOC2", json=bad)
    assert refused.status_code == 2001 and refused.http_status == 400
    assert receiver.store.location("LOC2") is None
    rejection = receiver.rejected[-1]
    assert rejection.schema == "locations/Location"
    assert any("coordinates" in e for e in rejection.errors)
    assert any("last_updated" in e for e in rejection.errors)
    # PATCH without last_updated, and an id that differs from the URL.
    no_stamp = await server.call("PATCH", "locations", "NL", "AAA", "LOC1",
                                 json={"name": "x"})
    assert no_stamp.status_code == 2001
    mismatch = await server.call("PUT", "locations", "NL", "AAA", "OTHER", json=location())
    assert mismatch.status_code == 2001
    unknown = await server.call("PATCH", "locations", "NL", "AAA", "NOPE",
                                json={"last_updated": STAMP})
    assert unknown.http_status == 404
    assert len(receiver.rejected) == 3
    assert not receiver.violations
    # An object filed under a party the pushing platform did not register is noted.
    assert (await server.call("PUT", "locations", "FR", "XYZ", "LOC9",
                              json=location("LOC9", cc="FR", pid="XYZ"))).ok
    assert receiver.violations == [
        "PUT /ocpi/2.2.1/locations/FR/XYZ/LOC9: object owner FR*XYZ is not a party of the "
        "caller's credentials roles"]


async def test_session_patch_adds_charging_periods(registered: tuple[EmspPeer, EmspPeer]
                                                   ) -> None:
    server, receiver = registered
    assert (await server.call("PUT", "sessions", "NL", "AAA", "S1", json=session())).ok
    first = {"kwh": 1.5, "charging_periods": [period(STAMP, 1.5)],
             "last_updated": "2024-05-01T10:10:00Z"}
    second = {"kwh": 3, "charging_periods": [period("2024-05-01T10:10:00Z", 1.5)],
              "last_updated": "2024-05-01T10:20:00Z"}
    assert (await server.call("PATCH", "sessions", "NL", "AAA", "S1", json=first)).ok
    assert (await server.call("PATCH", "sessions", "NL", "AAA", "S1", json=second)).ok
    stored = receiver.store.session("S1")
    assert stored is not None and stored["kwh"] == 3
    assert [p["start_date_time"] for p in stored["charging_periods"]] == [
        STAMP, "2024-05-01T10:10:00Z"]
    bad = await server.call("PATCH", "sessions", "NL", "AAA", "S1",
                            json={"status": "RUNNING", "last_updated": STAMP})
    assert bad.status_code == 2001


async def test_cdr_post_returns_a_location_that_can_be_read(
        registered: tuple[EmspPeer, EmspPeer]) -> None:
    server, receiver = registered
    posted = await server.call("POST", "cdrs", json=cdr())
    assert posted.http_status == 201 and posted.status_code == 1000
    where = posted.headers["Location"]
    assert where == receiver.endpoint_url("cdrs") + "/CDR1"
    got = await server.call("GET", "cdrs", url=where)
    assert got.ok and got.data["id"] == "CDR1"
    assert (await server.call("POST", "cdrs", json=cdr())).http_status == 409
    incomplete = cdr("CDR2")
    del incomplete["total_cost"]
    assert (await server.call("POST", "cdrs", json=incomplete)).status_code == 2001


async def test_tariff_put_and_delete(registered: tuple[EmspPeer, EmspPeer]) -> None:
    server, receiver = registered
    assert (await server.call("PUT", "tariffs", "NL", "AAA", "T1", json=tariff())).ok
    assert receiver.store.tariff("T1") is not None
    assert (await server.call("DELETE", "tariffs", "NL", "AAA", "T1")).ok
    assert receiver.store.tariff("T1") is None
    assert (await server.call("DELETE", "tariffs", "NL", "AAA", "T1")).http_status == 404


# -- tokens Sender ---------------------------------------------------------------------------


async def test_token_list_pagination_follows_link(registered: tuple[EmspPeer, EmspPeer]
                                                  ) -> None:
    server, client = registered
    client.page_limit = 2
    for number in range(5):
        client.add_token(f"TOK{number}", last_updated=f"2024-05-01T10:0{number}:00Z")
    result = await server.get_all("tokens")
    assert result.ok
    assert [t["uid"] for t in result.items] == [f"TOK{n}" for n in range(5)]
    assert [p.count for p in result.pages] == [2, 2, 1]
    assert result.total_count == 5 and result.limit == 2
    assert result.pages[-1].next_url is None
    assert "offset=2" in (result.pages[0].next_url or "")
    for item in result.items:
        assert not shared_schemas().errors("tokens", "Token", item)

    # Filters are kept in the Link URL; date_to is exclusive.
    cutoff = client.tokens[("TOK3", "RFID")]["last_updated"]
    some = await server.get_all("tokens", {"date_to": cutoff, "limit": 1})
    assert [t["uid"] for t in some.items] == ["TOK0", "TOK1", "TOK2"]
    assert some.limit == 1 and len(some.pages) == 3
    assert all("date_to=" in (p.next_url or "date_to=") for p in some.pages)


async def test_real_time_authorization(registered: tuple[EmspPeer, EmspPeer]) -> None:
    server, client = registered
    client.add_token("OK1")
    client.add_token("BLK1", allowed="BLOCKED")
    allowed = await server.call("POST", "tokens", "OK1", "authorize",
                                role="SENDER", params={"type": "RFID"},
                                json={"location_id": "LOC1", "evse_uids": ["E1"]})
    assert allowed.ok and allowed.data["allowed"] == "ALLOWED"
    assert allowed.data["token"]["uid"] == "OK1"
    assert allowed.data["authorization_reference"]
    assert allowed.data["location"] == {"location_id": "LOC1", "evse_uids": ["E1"]}
    assert not shared_schemas().errors("tokens", "AuthorizationInfo", allowed.data)
    blocked = await server.call("POST", "tokens", "BLK1", "authorize", role="SENDER")
    assert blocked.data["allowed"] == "BLOCKED"
    client.set_token_allowed("BLK1", "NO_CREDIT")
    again = await server.call("POST", "tokens", "BLK1", "authorize", role="SENDER")
    assert again.data["allowed"] == "NO_CREDIT"
    unknown = await server.call("POST", "tokens", "NOPE", "authorize", role="SENDER")
    assert unknown.http_status == 404 and unknown.status_code == 2004

    client.authorize_delay = 0.2
    started = asyncio.get_running_loop().time()
    await server.call("POST", "tokens", "OK1", "authorize", role="SENDER")
    assert asyncio.get_running_loop().time() - started >= 0.2


# -- switches --------------------------------------------------------------------------------


async def test_down_switch_answers_503_until_cleared(registered: tuple[EmspPeer, EmspPeer]
                                                     ) -> None:
    server, client = registered
    client.down = True
    down = await server.call("GET", "tokens", role="SENDER")
    assert down.http_status == 503
    assert client.received[-1].http_status == 503
    unreachable = await server.get_all("tokens")
    assert not unreachable.ok and unreachable.pages[0].http_status == 503
    client.down = False
    assert (await server.get_all("tokens")).ok


async def test_trailing_slash_and_lowercase_ids(pair: tuple[EmspPeer, EmspPeer]) -> None:
    server, client = pair
    client.trailing_slash = True
    client.lowercase_ids = True
    await client.register_with(server.versions_url, server.issue_token_a())
    assert client.versions_url.endswith("/ocpi/versions/")
    assert all(e["url"].endswith("/") for e in server.partner.endpoints)
    assert server.partner.roles[0]["party_id"] == "bbb"
    assert server.partner.party == Party("de", "bbb")
    token = client.add_token("LC1")
    assert token["party_id"] == "BBB"  # stored as given, sent lower-case
    listed = await server.get_all("tokens")
    assert listed.items[0]["party_id"] == "bbb"
    # Routing headers from the client are lower-case too.
    await client.call("GET", "tokens", role="SENDER", url=server.endpoint_url("tokens"))
    assert server.received[-1].from_party == Party("de", "bbb")
    # The peer itself tolerates a URL with or without the trailing slash.
    assert (await server.call("GET", "tokens", role="SENDER")).ok
    assert (await server.call("GET", "tokens", url=client.endpoint_url("tokens")[:-1])).ok


# -- commands and hub, with a stub CPO -------------------------------------------------------


class StubCpo:
    """Just enough CPO for commands and hubclientinfo: records and answers, then calls back."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any, dict[str, str]]] = []
        self.callback_token = ""
        self.result = "ACCEPTED"
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._tasks: set[asyncio.Task[None]] = set()
        self._client = OcpiClient()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        self.requests.append((request.method, request.path, body, dict(request.headers)))
        if "/commands/" in request.path:
            task = asyncio.create_task(self._callback(body["response_url"]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return json_reply(request, envelope({"result": "ACCEPTED", "timeout": 30}))
        return json_reply(request, envelope())

    async def _callback(self, response_url: str) -> None:
        await asyncio.sleep(0.01)
        await self._client.request("POST", response_url, token=self.callback_token,
                                   json={"result": self.result})

    def partner(self, token_in: str) -> Partner:
        self.callback_token = token_in
        return Partner(token_in=token_in, token_out="stub-token", registered=True,
                       roles=[{"role": "CPO", "country_code": "BE", "party_id": "CPO",
                               "business_details": {"name": "stub"}}],
                       endpoints=[{"identifier": "commands", "role": "RECEIVER",
                                   "url": f"{self.url}/ocpi/2.2.1/commands"},
                                  {"identifier": "hubclientinfo", "role": "RECEIVER",
                                   "url": f"{self.url}/ocpi/2.2.1/hubclientinfo"}])


@pytest.fixture
async def stub_cpo() -> AsyncIterator[StubCpo]:
    stub = StubCpo()
    await stub.start()
    yield stub
    await stub.stop()


async def test_command_response_and_asynchronous_result(stub_cpo: StubCpo) -> None:
    async with EmspPeer() as peer:
        peer.partners.append(stub_cpo.partner("cpo-calls-with-this"))
        peer.add_token("TOK1")
        call = await peer.command("START_SESSION", {"token": "TOK1", "location_id": "LOC1"})
        assert call.command_response == {"result": "ACCEPTED", "timeout": 30}
        method, path, body, headers = stub_cpo.requests[-1]
        assert (method, path) == ("POST", "/ocpi/2.2.1/commands/START_SESSION")
        assert body["response_url"] == call.response_url
        assert call.response_url.startswith(peer.endpoint_url("commands") + "/START_SESSION/")
        assert body["token"]["uid"] == "TOK1"
        assert headers["OCPI-to-party-id"] == "CPO" and headers["OCPI-from-party-id"] == "EMS"
        result = await peer.wait_command_result(call.response_url, timeout=2)
        assert result == {"result": "ACCEPTED"}

        stub_cpo.result = "NOT_A_RESULT"
        bad = await peer.command("STOP_SESSION", {"session_id": "S1"})
        with pytest.raises(TimeoutError):
            await peer.wait_command_result(bad, timeout=0.3)
        assert peer.rejected[-1].schema == "commands/CommandResult"


async def test_hub_routes_by_ocpi_to_and_pushes_client_info(stub_cpo: StubCpo) -> None:
    async with EmspPeer("BE", "CPO") as cpo, HubPeer([("NL", "EMA"), ("DE", "EMB")]) as hub:
        partner = await hub.register_with(cpo.versions_url, cpo.issue_token_a())
        assert cpo.partner.roles[0]["role"] == "HUB"
        # The "CPO" pushes a Location for DE*EMB through the hub.
        to_emb = Routing.between(cpo.party, ("de", "emb"))
        pushed = await cpo.call("PUT", "locations", "BE", "CPO", "LOC1", routing=to_emb,
                                json=location(cc="BE", pid="CPO"))
        assert pushed.http_status == 201
        assert hub.store_for("DE", "EMB").location("LOC1") is not None
        assert hub.store_for("NL", "EMA").location("LOC1") is None
        assert len(hub.requests_to("DE", "EMB", "locations")) == 1
        # An addressee that is not behind the hub, or none at all: 4001.
        nowhere = Routing.between(cpo.party, ("FR", "XXX"))
        lost = await cpo.call("PUT", "locations", "BE", "CPO", "LOC2", routing=nowhere,
                              json=location("LOC2", cc="BE", pid="CPO"))
        assert lost.status_code == 4001
        unaddressed = await cpo.call("PUT", "locations", "BE", "CPO", "LOC2",
                                     routing=Routing(from_country_code="BE",
                                                     from_party_id="CPO"),
                                     json=location("LOC2", cc="BE", pid="CPO"))
        assert unaddressed.status_code == 4001
        assert any("missing OCPI-to-*" in v for v in hub.violations)
        # Tokens of a party, authorized when addressed to it.
        hub.add_token("T-EMB", party=("DE", "EMB"))
        auth = await cpo.call("POST", "tokens", "T-EMB", "authorize", role="SENDER",
                              routing=Routing.between(cpo.party, ("DE", "EMB")))
        assert auth.ok and auth.data["token"]["party_id"] == "EMB"
        wrong = await cpo.call("POST", "tokens", "T-EMB", "authorize", role="SENDER",
                               routing=Routing.between(cpo.party, ("NL", "EMA")))
        assert wrong.status_code == 2004
        # Hub requests carry the eMSP party as sender.
        await hub.get_all("tokens", from_party=("DE", "EMB"))
        assert cpo.received[-1].from_party == Party("DE", "EMB")
        assert cpo.received[-1].to_party == Party("BE", "CPO")
        assert partner.party == Party("BE", "CPO")

    async with HubPeer([("NL", "EMA")]) as hub:
        hub.partners.append(stub_cpo.partner("unused"))
        answers = await hub.announce_parties()
        assert [a.ok for a in answers] == [True]
        method, path, body, headers = stub_cpo.requests[-1]
        assert (method, path) == ("PUT", "/ocpi/2.2.1/hubclientinfo/NL/EMA")
        assert body["role"] == "EMSP" and body["status"] == "CONNECTED"
        assert not shared_schemas().errors("hubclientinfo", "ClientInfo", body)
        assert not any(name.lower().startswith("ocpi-") for name in headers)
