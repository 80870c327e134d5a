"""Roaming over real HTTP with independent eMSP and hub peers: registration both ways, token
rotation and unregistration, locations pulled and pushed, and pushes kept while a partner is
down."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from ocpi_peers import EmspPeer, HubPeer
from ocpp.v16 import call
from ocpp16_station import connect, disconnect
from sqlalchemy import select
from test_billing_support import add_site
from test_ocpi_transport import call as ocpi_call

from core import appkeys
from core.db.models import OcpiPartner

PLUGINS = ["ocpp16", "ocpp201", "billing", "ocpi_cpo"]
SETTINGS = {"billing": {"country_code": "NL", "party_id": "OVX"},
            "ocpi": {"outbox_max_backoff": 1, "page_limit": 2}}


@pytest.fixture
async def cpo(openv2x_server: Any, openv2x_db_url: str) -> Any:
    """Our CPO on SQLite and on PostgreSQL (when configured)."""
    server = await openv2x_server(plugins=PLUGINS, settings=SETTINGS)
    await add_site(server, station_id="CP1", location_id="LOC1")
    return server


async def admin(server: Any) -> dict[str, str]:
    return await server.auth_headers("emsp_manager")


async def token_a(server: Any) -> str:
    async with server.http.post(server.url("/api/ocpi/cpo/token-a/"),
                                headers=await admin(server)) as resp:
        return str((await resp.json())["token"])


async def we_register(server: Any, peer: EmspPeer) -> dict[str, Any]:
    async with server.http.post(server.url("/api/ocpi/cpo/register/"), headers=await admin(
            server), json={"url": peer.versions_url, "token": peer.issue_token_a()}) as resp:
        body = await resp.json()
        assert resp.status == 201, body
        return dict(body)


async def partners(server: Any) -> list[OcpiPartner]:
    async with server.app[appkeys.DB].session() as session:
        return list((await session.execute(select(OcpiPartner).order_by(OcpiPartner.id)))
                    .scalars())


@pytest.fixture
async def station(cpo: Any) -> Any:
    """A real OCPP 1.6 station at the published location."""
    connected = await connect(cpo, "CP1")
    yield connected
    await disconnect(connected)


async def status_change(station: Any, status: str) -> None:
    error = "GroundFailure" if status == "Faulted" else "NoError"
    await station.call(call.StatusNotification(connector_id=1, error_code=error, status=status))


async def test_an_emsp_registers_with_us_and_pulls_our_locations(cpo: Any) -> None:
    async with EmspPeer("DE", "EMS") as peer:
        partner = await peer.register_with(cpo.url("/ocpi/cpo/versions"), await token_a(cpo))
        assert partner.registered and partner.token_out
        assert {(r["country_code"], r["party_id"], r["role"]) for r in partner.roles} == {
            ("NL", "OVX", "CPO")}
        [row] = await partners(cpo)
        assert row.status == "registered" and row.roles[0]["party_id"] == "EMS"
        assert {e["identifier"] for e in row.endpoints} >= {"locations", "sessions", "cdrs"}
        pulled = await peer.get_all("locations")
        assert pulled.ok and [loc["id"] for loc in pulled.items] == ["LOC1"]
        [location] = pulled.items
        assert location["country_code"] == "NL" and location["party_id"] == "OVX"
        assert location["evses"][0]["connectors"][0]["standard"] == "IEC_62196_T2"
        assert not peer.violations, peer.violations
        # A second registration of the same party with a new token A is refused (405).
        with pytest.raises(Exception):  # noqa: B017 - the peer raises its own error type
            await peer.register_with(cpo.url("/ocpi/cpo/versions"), await token_a(cpo))


async def test_we_register_with_an_emsp_and_push_status_changes(cpo: Any, station: Any) -> None:
    async with EmspPeer("DE", "EMS") as peer:
        body = await we_register(cpo, peer)
        assert body["status"] == "registered" and body["name"]
        assert peer.partner is not None and peer.partner.registered
        await status_change(station, "Charging")
        await peer.wait_for(lambda: peer.requests("locations", "PATCH"), timeout=10)
        patch = peer.requests("locations", "PATCH")[0]
        assert patch.body["status"] == "CHARGING"
        assert patch.path.endswith("/NL/OVX/LOC1/" + patch.path.rsplit("/", 1)[1])
        assert (patch.to_party, patch.from_party) == (("DE", "EMS"), ("NL", "OVX")) or \
            str(patch.from_party).upper().startswith("NL")
        assert not peer.rejected, peer.rejected


async def test_pushes_wait_for_a_partner_that_is_down(cpo: Any, station: Any) -> None:
    async with EmspPeer("DE", "EMS") as peer:
        await we_register(cpo, peer)
        peer.down = True
        await status_change(station, "Charging")
        await status_change(station, "Available")
        await peer.wait_for(lambda: any(r.http_status == 503
                                        for r in peer.requests("locations")), timeout=10)
        peer.down = False
        await peer.wait_for(lambda: [r.body["status"] for r in peer.requests(
            "locations", "PATCH") if r.http_status < 300] == ["CHARGING", "AVAILABLE"],
            timeout=15)


async def test_a_change_committed_just_before_a_crash_still_reaches_the_partner(
        openv2x_server: Any, cpo: Any) -> None:
    async with EmspPeer("DE", "EMS") as peer:
        await we_register(cpo, peer)
        station = await connect(cpo, "CP1")
        # The process dies right after its next commit: no event is delivered in memory.
        cpo.app[appkeys.DB].on_commit = None
        await status_change(station, "Charging")  # answered, so committed
        await asyncio.sleep(0.5)
        assert not peer.requests("locations", "PATCH")
        await disconnect(station)
        await cpo.server.close()

        await openv2x_server(plugins=PLUGINS, settings=SETTINGS)
        await peer.wait_for(lambda: peer.requests("locations", "PATCH"), timeout=10)
        [patch] = peer.requests("locations", "PATCH")
        assert patch.body["status"] == "CHARGING"
        assert not peer.rejected, peer.rejected


async def test_rotation_and_unregistration(cpo: Any) -> None:
    async with EmspPeer("DE", "EMS") as peer:
        body = await we_register(cpo, peer)
        old = peer.partner.token_in if peer.partner else None
        async with cpo.http.post(cpo.url(f"/api/ocpipartner/{body['id']}/rotate/"),
                                 headers=await admin(cpo)) as resp:
            assert resp.status == 200, await resp.text()
        assert peer.partner is not None and peer.partner.token_in != old
        assert (await peer.get_all("locations")).ok
        calling_token = peer.partner.token_out
        async with cpo.http.delete(cpo.url(f"/api/ocpipartner/{body['id']}/"),
                                   headers=await admin(cpo)) as resp:
            assert resp.status == 204
        assert peer.requests("credentials", "DELETE")
        [row] = await partners(cpo)
        assert row.status == "unregistered" and row.token_digest is None
        status, _, _ = await ocpi_call(cpo, "GET", "/ocpi/cpo/2.2.1/locations", calling_token)
        assert status == 401


async def test_a_hub_gets_broadcasts_addressed_to_itself(cpo: Any, station: Any) -> None:
    async with HubPeer() as hub:
        await hub.register_with(cpo.url("/ocpi/cpo/versions"), await token_a(cpo))
        await status_change(station, "Faulted")
        await hub.wait_for(lambda: hub.requests("locations", "PATCH"), timeout=10)
        patch = hub.requests("locations", "PATCH")[0]
        assert patch.body["status"] == "OUTOFORDER"
        assert tuple(patch.to_party) == ("NL", "HUB")
        # Requests the hub forwards for a party behind it are accepted for that party.
        pulled = await hub.get_all("locations", from_party=("DE", "EMB"))
        assert pulled.ok and pulled.items


async def test_evse_details_set_over_rest_reach_partners(cpo: Any, station: Any) -> None:
    async with EmspPeer("DE", "EMS") as peer:
        await we_register(cpo, peer)
        headers = await cpo.auth_headers("cpo_manager")
        async with cpo.http.get(cpo.url("/api/evse/?station_id=CP1"), headers=headers) as resp:
            [evse] = (await resp.json())["results"]
        change = {"evse_id": "NL*OVX*ECP1*1", "floor_level": "-1",
                  "parking_restrictions": ["EV_ONLY"], "capabilities": ["RFID_READER"]}
        async with cpo.http.patch(cpo.url(f"/api/evse/{evse['id']}/"), headers=headers,
                                  json=change) as resp:
            assert resp.status == 200, await resp.text()
        async with cpo.http.patch(cpo.url(f"/api/evse/{evse['id']}/"), headers=headers,
                                  json={"parking_restrictions": ["NOWHERE"]}) as resp:
            assert resp.status == 400

        def updated() -> Any:
            for request in peer.requests("locations", "PUT"):
                evses = request.body.get("evses") or []
                if evses and evses[0].get("floor_level") == "-1":
                    return evses[0]
            return None

        pushed = await peer.wait_for(updated, timeout=10)
        assert pushed["evse_id"] == "NL*OVX*ECP1*1"
        assert pushed["parking_restrictions"] == ["EV_ONLY"]
        assert pushed["capabilities"] == ["RFID_READER"]
        assert not peer.rejected, peer.rejected


async def test_a_partner_that_wants_raw_tokens(cpo: Any, station: Any) -> None:
    async with EmspPeer("DE", "EMS") as peer:
        peer.accept_unencoded_tokens = True
        async with cpo.http.post(cpo.url("/api/ocpi/cpo/register/"), headers=await admin(cpo),
                                 json={"url": peer.versions_url, "token": peer.issue_token_a(),
                                       "raw_tokens": True}) as resp:
            body = await resp.json()
            assert resp.status == 201 and body["raw_tokens"] is True, body
        await status_change(station, "Charging")
        await peer.wait_for(lambda: peer.requests("locations", "PATCH"), timeout=10)
        sent = peer.requests("locations", "PATCH")[0].headers["Authorization"]
        assert sent == "Token " + peer.partner.token_in
        # Our side takes its raw token too, from then on.
        status, _, _ = await ocpi_call(cpo, "GET", "/ocpi/cpo/2.2.1/locations",
                                       headers={"Authorization": "Token "
                                                + peer.partner.token_out})
        assert status == 200


async def test_a_partner_allowed_to_omit_request_ids(cpo: Any) -> None:
    """Software that never sends X-Request-ID / X-Correlation-ID is answered (with new ids)
    only when it was registered so; every other partner still gets 400 / 2001."""
    async with EmspPeer("DE", "EMS") as lenient, EmspPeer("FR", "EMF") as strict:
        async with cpo.http.post(cpo.url("/api/ocpi/cpo/register/"), headers=await admin(cpo),
                                 json={"url": lenient.versions_url,
                                       "token": lenient.issue_token_a(),
                                       "allow_missing_request_ids": True}) as resp:
            body = await resp.json()
            assert resp.status == 201 and body["allow_missing_request_ids"] is True, body
        assert (await we_register(cpo, strict))["allow_missing_request_ids"] is False
        for peer, expected in ((lenient, 200), (strict, 400)):
            assert peer.partner is not None
            token = "Token " + base64.b64encode(peer.partner.token_out.encode()).decode()
            async with cpo.http.get(cpo.url("/ocpi/cpo/2.2.1/locations"),
                                    headers={"Authorization": token}) as resp:
                answer = await resp.json()
                assert resp.status == expected, answer
                assert resp.headers["X-Request-ID"] and resp.headers["X-Correlation-ID"]
            assert answer["status_code"] == (1000 if expected == 200 else 2001)
        async with cpo.http.post(cpo.url("/api/ocpi/cpo/register/"), headers=await admin(cpo),
                                 json={"url": strict.versions_url, "token": "x",
                                       "allow_missing_request_ids": "yes"}) as resp:
            assert resp.status == 400
        for bad in ({"allow_missing_request_ids": "yes"}, {"raw_tokens": True}):
            async with cpo.http.post(cpo.url("/api/ocpi/cpo/token-a/"), json=bad,
                                     headers=await admin(cpo)) as resp:
                assert resp.status == 400, bad


async def test_a_stuck_partner_does_not_hold_up_the_others(cpo: Any, station: Any) -> None:
    async with EmspPeer("DE", "EMS") as stuck, EmspPeer("FR", "EMF") as live:
        live.trailing_slash = True  # its URLs end with "/": ours are joined without doubling
        await we_register(cpo, stuck)
        await we_register(cpo, live)
        stuck.down = True
        for status in ("Charging", "Available", "Charging"):
            await status_change(station, status)
        await live.wait_for(lambda: [r.body["status"] for r in live.requests(
            "locations", "PATCH") if r.http_status < 300] == ["CHARGING", "AVAILABLE",
                                                              "CHARGING"], timeout=10)
        assert not live.rejected and not any("//" in r.path for r in live.received)
        assert not [r for r in stuck.requests("locations", "PATCH") if r.http_status < 300]
        stuck.down = False
        await stuck.wait_for(lambda: [r.body["status"] for r in stuck.requests(
            "locations", "PATCH") if r.http_status < 300] == ["CHARGING", "AVAILABLE",
                                                              "CHARGING"], timeout=15)
