"""OCPI CPO Receiver interfaces over real HTTP: tokens, commands, hub client info.

A real server with the OCPP and OCPI CPO plugins, an independent eMSP (or hub) peer that
registered with it (``tests/ocpi_peers``), and real OCPP 1.6 stations on WebSockets: a pushed
token must authorize at the station, a START_SESSION must end in a transaction there, and
every command's result must reach the eMSP's ``response_url``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from typing import Any

import pytest
from ocpi_peers import EmspPeer, HubPeer
from ocpi_peers.common import ocpi_timestamp, shared_schemas
from ocpi_peers.emsp import CommandCall
from ocpp.routing import on
from ocpp.v16 import call, call_result
from ocpp16_station import TestStation, connect, disconnect
from sqlalchemy import select, update

from core import appkeys
from core.db.models import (
    ChargingStation,
    Evse,
    IdToken,
    Location,
    OcpiPartner,
    Reservation,
    Transaction,
)
from core.db.types import utcnow
from core.ocpi import Party, hubclientinfo
from core.ocpi.registration import issue_token_a
from core.ocpp.guard import validated_request
from plugins.ocpi_cpo import commands, tokens
from plugins.ocpi_cpo.receiver_models import OcpiCommand, OcpiToken

pytestmark = pytest.mark.skipif(not shared_schemas().available(),
                                reason="the OCPI 2.2.1 OpenAPI description is not available")

CPO = {"country_code": "NL", "party_id": "CPO", "command_timeout": 5,
       "authorization_timeout": 1.0}


async def start_cpo(openv2x_server):
    return await openv2x_server(plugins=["ocpp16", "ocpp201", "billing", "ocpi_cpo"],
                                settings={"ocpi_cpo": CPO})


async def registered(server, peer: EmspPeer) -> EmspPeer:
    await peer.start()
    await peer.register_with(server.url("/ocpi/cpo/versions"),
                             await issue_token_a(server.app, "cpo"))
    return peer


@pytest.fixture
async def cpo(openv2x_server):
    return await start_cpo(openv2x_server)


@pytest.fixture
async def emsp(cpo):
    peer = await registered(cpo, EmspPeer("NL", "EMS"))
    yield peer
    await peer.stop()


class RoamingStation(TestStation):
    """The test charger, also answering remote stop and unlocking its connectors."""

    __test__ = False

    @on("RemoteStopTransaction")
    def on_remote_stop(self, transaction_id):
        self.received.append(("RemoteStopTransaction", {"transaction_id": transaction_id}))
        return call_result.RemoteStopTransaction(status="Accepted")

    @on("UnlockConnector")
    def on_unlock(self, connector_id):
        self.received.append(("UnlockConnector", {"connector_id": connector_id}))
        return call_result.UnlockConnector(status="Unlocked")


async def site(server, station_id="CP1", location_id="LOC1"):
    """A location with an OCPP 1.6 station online; returns (station, EVSE 1's uid)."""
    async with server.app[appkeys.DB].transaction() as work:
        if await work.session.get(Location, location_id) is None:
            work.session.add(Location(id=location_id, name="Damrak", address="Damrak 1",
                                      city="Amsterdam", country="NLD", latitude="52.37403",
                                      longitude="4.88969", time_zone="Europe/Amsterdam"))
            await work.session.flush()
        work.session.add(ChargingStation(id=station_id, location_id=location_id,
                                         registration_status="Accepted"))
    station = await connect(server, station_id, station_cls=RoamingStation)
    await station.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                               status="Available"))
    async with server.app[appkeys.DB].session() as session:
        uid = await session.scalar(select(Evse.uid).where(Evse.station_id == station_id,
                                                          Evse.evse_number == 1))
    return station, uid


async def one(server, model, *where):
    async with server.app[appkeys.DB].session() as session:
        return (await session.execute(select(model).where(*where))).scalars().first()


async def eventually(server, predicate, model, key, timeout=5.0):
    """Wait until the row ``model[key]`` satisfies ``predicate`` (the server is asynchronous)."""
    async with asyncio.timeout(timeout):
        while True:
            async with server.app[appkeys.DB].session() as session:
                row = await session.get(model, key)
            if row is not None and predicate(row):
                return row
            await asyncio.sleep(0.02)


async def get_token(peer: EmspPeer, uid: str, cc="NL", pid="EMS", token_type="RFID"):
    return await peer.call("GET", "tokens", cc, pid, uid, params={"type": token_type},
                           role="RECEIVER")


# ---- tokens ------------------------------------------------------------------------------


async def test_token_put_get_patch_and_the_core_mirror(cpo, emsp):
    emsp.add_token("04A1B2C3", visual_number="NL-EMS-000001", group_id="GROUP1",
                   language="nl")
    assert (await emsp.push_token("04A1B2C3")).status_code == 1000

    got = await get_token(emsp, "04A1B2C3")
    assert got.status_code == 1000
    assert got.data["contract_id"] == emsp.tokens[("04A1B2C3", "RFID")]["contract_id"]
    assert shared_schemas().errors("tokens", "Token", got.data) == []
    mirrored = await one(cpo, IdToken, IdToken.id_token == "04A1B2C3")
    assert (mirrored.status, mirrored.type, mirrored.country_code, mirrored.party_id,
            mirrored.visual_number, mirrored.group_id_token) == (
        "Accepted", "ISO14443", "NL", "EMS", "NL-EMS-000001", "GROUP1")

    events = []

    async def record(event):
        events.append(event)

    cpo.app[appkeys.EVENTS].subscribe(record)
    patched = await emsp.patch_token("04A1B2C3", {"valid": False})
    assert patched.status_code == 1000
    assert (await get_token(emsp, "04A1B2C3")).data["valid"] is False
    assert (await one(cpo, IdToken, IdToken.id_token == "04A1B2C3")).status == "Blocked"
    await cpo.app[appkeys.EVENTS].drain()
    assert [e.data["status"] for e in events if e.name == "token.updated"] == ["Blocked"]

    # A party sending its codes in lower case is the same party.
    emsp.lowercase_ids = True
    emsp.add_token("APP-7", type="APP_USER", whitelist="NEVER")
    assert (await emsp.push_token("APP-7", type="APP_USER")).status_code == 1000
    stored = await one(cpo, OcpiToken, OcpiToken.uid == "APP-7")
    assert (stored.country_code, stored.party_id, stored.type) == ("NL", "EMS", "APP_USER")
    app_token = await one(cpo, IdToken, IdToken.id_token == "APP-7")
    assert (app_token.type, app_token.status) == ("Central", "Invalid")  # real-time only


async def test_patch_rules_and_unknown_tokens(cpo, emsp):
    emsp.add_token("T1")
    await emsp.push_token("T1")
    no_stamp = await emsp.call("PATCH", "tokens", "NL", "EMS", "T1", json={"valid": False},
                               role="RECEIVER")
    assert no_stamp.status_code == 2001
    assert (await get_token(emsp, "T1")).data["valid"] is True

    unknown = await emsp.call("PATCH", "tokens", "NL", "EMS", "NOPE", role="RECEIVER",
                              json={"valid": False, "last_updated": ocpi_timestamp()})
    assert (unknown.http_status, unknown.status_code) == (404, 2004)
    missing = await get_token(emsp, "NOPE")
    assert (missing.http_status, missing.status_code) == (404, 2004)
    retype = await emsp.call("PATCH", "tokens", "NL", "EMS", "T1", role="RECEIVER",
                             json={"uid": "T2", "last_updated": ocpi_timestamp()})
    assert retype.status_code == 2001


async def test_only_the_owner_touches_its_tokens(cpo, emsp):
    token = emsp.add_token("FOREIGN", party=None)
    foreign = {**token, "country_code": "DE", "party_id": "XXX"}
    put = await emsp.call("PUT", "tokens", "DE", "XXX", "FOREIGN", json=foreign,
                          role="RECEIVER")
    assert put.http_status == 404
    assert (await emsp.call("GET", "tokens", "DE", "XXX", "FOREIGN", role="RECEIVER")
            ).http_status == 404
    assert await one(cpo, OcpiToken, OcpiToken.uid == "FOREIGN") is None

    # A second eMSP cannot take over a uid the first one owns.
    other = await registered(cpo, EmspPeer("DE", "OTH"))
    try:
        other.add_token("SHARED")
        emsp.add_token("SHARED")
        assert (await emsp.push_token("SHARED")).status_code == 1000
        taken = await other.push_token("SHARED")
        assert taken.status_code == 2001
        kept = await one(cpo, IdToken, IdToken.id_token == "SHARED")
        assert (kept.country_code, kept.party_id) == ("NL", "EMS")
    finally:
        await other.stop()


@pytest.mark.parametrize("change", [
    {"contract_id": None}, {"valid": "yes"}, {"whitelist": "SOMETIMES"},
    {"uid": "DIFFERENT"}, {"last_updated": "yesterday"}, {"language": "dutch"},
    {"energy_contract": {"contract_id": "no supplier"}}, {"type": "BADGE"},
])
async def test_an_invalid_token_is_2001_and_stores_nothing(cpo, emsp, change):
    token = {**emsp.add_token("BAD1"), **change}
    token = {k: v for k, v in token.items() if v is not None}
    answer = await emsp.call("PUT", "tokens", "NL", "EMS", "BAD1", json=token,
                             role="RECEIVER")
    assert answer.status_code == 2001
    assert await one(cpo, OcpiToken) is None
    assert await one(cpo, IdToken) is None


async def test_a_uid_of_our_own_driver_is_refused(cpo, emsp):
    async with cpo.app[appkeys.DB].transaction() as work:
        work.session.add(IdToken(id_token="LOCAL1", status="Accepted"))
    emsp.add_token("LOCAL1", valid=False)
    assert (await emsp.push_token("LOCAL1")).status_code == 2001
    local = await one(cpo, IdToken, IdToken.id_token == "LOCAL1")
    assert (local.status, local.country_code) == ("Accepted", None)


async def test_pushed_tokens_authorize_at_an_ocpp16_station(cpo, emsp):
    station, _ = await site(cpo)
    emsp.add_token("RFID-OK")
    emsp.add_token("RFID-RT", whitelist="NEVER")
    for uid in ("RFID-OK", "RFID-RT"):
        assert (await emsp.push_token(uid)).status_code == 1000

    async def authorize(uid):
        return (await station.call(call.Authorize(id_tag=uid))).id_tag_info["status"]

    assert await authorize("RFID-OK") == "Accepted"
    assert not emsp.authorizations  # a whitelisted token is decided from our copy
    # A NEVER token is asked of its eMSP in real time, at every authorization.
    assert await authorize("RFID-RT") == "Accepted"
    assert emsp.authorizations[-1]["location"]["location_id"] == "LOC1"
    emsp.set_token_allowed("RFID-RT", "BLOCKED")
    assert await authorize("RFID-RT") == "Blocked"
    # A token nobody pushed is asked about too; one its eMSP does not know stays Invalid.
    emsp.add_token("NEVER-PUSHED", whitelist="NEVER")
    assert await authorize("NEVER-PUSHED") == "Accepted"
    assert await authorize("UNKNOWN-EVERYWHERE") == "Invalid"
    await emsp.patch_token("RFID-OK", {"valid": False})
    assert await authorize("RFID-OK") == "Blocked"
    await disconnect(station)


# ---- real-time authorization -------------------------------------------------------------


async def test_realtime_authorization_asks_the_owner(cpo, emsp):
    _, evse_uid = await site(cpo)
    emsp.add_token("RT1", whitelist="NEVER", allowed="BLOCKED")
    await emsp.push_token("RT1")
    app = cpo.app
    assert await tokens.authorize_realtime(app, "RT1", "RFID", "LOC1", [evse_uid]) == "BLOCKED"
    asked = emsp.authorizations[-1]
    assert asked["location"] == {"location_id": "LOC1", "evse_uids": [evse_uid]}
    assert await tokens.realtime_decision(app, "RT1", "CP1", 1, "1.6") == "Blocked"

    # A token the eMSP never pushed: asked anyway, and kept with its owner once allowed.
    emsp.add_token("UNPUSHED", whitelist="NEVER")
    assert await tokens.authorize_realtime(app, "UNPUSHED", "RFID", "LOC1") == "ALLOWED"
    kept = await one(cpo, OcpiToken, OcpiToken.uid == "UNPUSHED")
    assert (kept.party_id, kept.source) == ("EMS", "authorization")
    assert kept.authorization_reference
    assert await tokens.authorize_realtime(app, "NOBODY", "RFID", "LOC1") is None

    # The eMSP cannot be reached: NEVER tokens are refused, ALLOWED_OFFLINE ones allowed.
    emsp.add_token("OFFLINE-OK", whitelist="ALLOWED_OFFLINE")
    await emsp.push_token("OFFLINE-OK")
    emsp.down = True
    assert await tokens.authorize_realtime(app, "RT1", "RFID", "LOC1") is None
    assert await tokens.authorize_realtime(app, "OFFLINE-OK", "RFID", "LOC1") == "ALLOWED"
    emsp.down = False
    emsp.authorize_delay = 1.5  # beyond authorization_timeout
    assert await tokens.realtime_decision(app, "RT1", "CP1", 1, "2.0.1") == "Invalid"


# ---- commands ----------------------------------------------------------------------------


async def result_of(peer: EmspPeer, command: CommandCall) -> dict[str, Any]:
    assert command.response.status_code == 1000, command.response.envelope
    assert command.command_response["result"] == "ACCEPTED", command.command_response
    assert command.command_response["timeout"] == CPO["command_timeout"]
    return await peer.wait_command_result(command)


async def test_start_and_stop_session_at_an_ocpp16_station(cpo, emsp):
    station, evse_uid = await site(cpo)
    # OCPP 1.6 id tags have at most 20 characters: refused, and nothing is kept.
    emsp.add_token("APP-0123456789-0123456789", type="APP_USER")
    too_long = await emsp.command("START_SESSION", {
        "token": emsp.tokens[("APP-0123456789-0123456789", "APP_USER")],
        "location_id": "LOC1", "evse_uid": evse_uid})
    assert too_long.command_response["result"] == "REJECTED"
    assert await one(cpo, OcpiToken) is None
    assert await one(cpo, OcpiCommand) is None

    emsp.add_token("APP-42", type="APP_USER", whitelist="NEVER")
    token = emsp.tokens[("APP-42", "APP_USER")]
    start = await emsp.command("START_SESSION", {
        "token": token, "location_id": "LOC1", "evse_uid": evse_uid, "connector_id": "1",
        "authorization_reference": "AUTH-1"})
    result = await result_of(emsp, start)
    assert result["result"] == "ACCEPTED"
    assert ("RemoteStartTransaction", {"id_tag": "APP-42"}) in station.received
    results = emsp.requests("commands", "POST")
    assert results[-1].to_party == ("NL", "EMS")
    assert results[-1].from_party == ("NL", "CPO")

    # The station goes on as chargers do: Authorize, then StartTransaction, both accepted
    # although the token is for real-time authorization only (the eMSP authorized it).
    assert (await station.call(call.Authorize(id_tag="APP-42"))).id_tag_info["status"] == \
        "Accepted"
    started = await station.call(call.StartTransaction(
        connector_id=1, id_tag="APP-42", meter_start=100, timestamp=ocpi_timestamp()))
    assert started.id_tag_info["status"] == "Accepted"
    tx = await one(cpo, Transaction, Transaction.id == started.transaction_id)
    assert (tx.status, tx.id_token, tx.flagged) == ("Active", "APP-42", False)
    assert (await one(cpo, OcpiToken, OcpiToken.uid == "APP-42")).authorization_reference == \
        "AUTH-1"

    stop = await emsp.command("STOP_SESSION", {"session_id": tx.transaction_uid})
    assert (await result_of(emsp, stop))["result"] == "ACCEPTED"
    assert ("RemoteStopTransaction", {"transaction_id": tx.id}) in station.received
    await cpo.app[commands.RUNNER].wait()
    command_rows = await one(cpo, OcpiCommand, OcpiCommand.command == "STOP_SESSION")
    assert command_rows.state == "delivered"
    assert emsp.rejected == [] and emsp.violations == []

    # After the command's grant the token is again for real-time authorization only.
    async with cpo.app[appkeys.DB].transaction() as work:
        await work.session.execute(update(OcpiToken).where(OcpiToken.uid == "APP-42").values(
            command_grant_until=utcnow() - dt.timedelta(seconds=1)))
    assert await tokens.end_grants(cpo.app) == 1
    assert (await one(cpo, IdToken, IdToken.id_token == "APP-42")).status == "Invalid"
    await disconnect(station)


async def test_stop_session_refusals(cpo, emsp):
    station, _ = await site(cpo)
    unknown = await emsp.command("STOP_SESSION", {"session_id": "no-such-session"})
    assert unknown.command_response["result"] == "UNKNOWN_SESSION"

    # A session of a token that is not this eMSP's.
    async with cpo.app[appkeys.DB].transaction() as work:
        work.session.add(IdToken(id_token="LOCAL"))
    started = await station.call(call.StartTransaction(
        connector_id=1, id_tag="LOCAL", meter_start=0, timestamp=ocpi_timestamp()))
    theirs = await emsp.command("STOP_SESSION", {"session_id": str(started.transaction_id)})
    assert theirs.command_response["result"] == "REJECTED"
    assert not any(name == "RemoteStopTransaction" for name, _ in station.received)
    await disconnect(station)


async def test_unlock_connector(cpo, emsp):
    station, evse_uid = await site(cpo)
    unlock = await emsp.command("UNLOCK_CONNECTOR", {
        "location_id": "LOC1", "evse_uid": evse_uid, "connector_id": "1"})
    assert (await result_of(emsp, unlock))["result"] == "ACCEPTED"
    assert ("UnlockConnector", {"connector_id": 1}) in station.received
    await disconnect(station)


async def test_reserve_now_and_cancel_reservation(cpo, emsp):
    station, evse_uid = await site(cpo)
    emsp.add_token("RES-1")
    expiry = (utcnow() + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    reserve = await emsp.command("RESERVE_NOW", {
        "token": emsp.tokens[("RES-1", "RFID")], "expiry_date": expiry,
        "reservation_id": "R-1", "location_id": "LOC1", "evse_uid": evse_uid})
    assert (await result_of(emsp, reserve))["result"] == "ACCEPTED"
    reservation = await one(cpo, Reservation, Reservation.id_token == "RES-1")
    assert (reservation.status, reservation.station_id) == ("Active", "CP1")

    other = await registered(cpo, EmspPeer("DE", "OTH"))
    try:
        foreign = await other.command("CANCEL_RESERVATION", {"reservation_id": "R-1"})
        assert foreign.command_response["result"] == "REJECTED"
    finally:
        await other.stop()
    cancel = await emsp.command("CANCEL_RESERVATION", {"reservation_id": "R-1"})
    assert (await result_of(emsp, cancel))["result"] == "ACCEPTED"
    assert (await one(cpo, Reservation, Reservation.id == reservation.id)).status == \
        "Cancelled"

    # Without an EVSE the station keeps any one free (connector 0); its refusal is reported.
    anywhere = await emsp.command("RESERVE_NOW", {
        "token": emsp.tokens[("RES-1", "RFID")], "expiry_date": expiry,
        "reservation_id": "R-2", "location_id": "LOC1"})
    assert (await result_of(emsp, anywhere))["result"] == "ACCEPTED"
    second = await one(cpo, Reservation, Reservation.id != reservation.id)
    assert (second.evse_number, second.connector_number, second.status) == (None, 0, "Active")
    await disconnect(station)


async def test_offline_stations_and_bad_commands(cpo, emsp):
    station, evse_uid = await site(cpo)
    emsp.add_token("APP-9", type="APP_USER")
    token = emsp.tokens[("APP-9", "APP_USER")]
    await disconnect(station)
    await eventually(cpo, lambda s: not s.connected, ChargingStation, "CP1")

    offline = await emsp.command("START_SESSION", {"token": token, "location_id": "LOC1",
                                                   "evse_uid": evse_uid})
    assert offline.command_response["result"] == "REJECTED"
    assert "offline" in offline.command_response["message"][0]["text"]

    # The database still says online (e.g. a node went away): the result says FAILED.
    async with cpo.app[appkeys.DB].transaction() as work:
        (await work.session.get(ChargingStation, "CP1")).connected = True
    lost = await emsp.command("START_SESSION", {"token": token, "location_id": "LOC1",
                                                "evse_uid": evse_uid})
    assert (await result_of(emsp, lost))["result"] == "FAILED"

    unknown_location = await emsp.command("START_SESSION", {"token": token,
                                                            "location_id": "NOWHERE"})
    assert unknown_location.response.status_code == 2003
    unknown_evse = await emsp.command("UNLOCK_CONNECTOR", {
        "location_id": "LOC1", "evse_uid": "NO-EVSE", "connector_id": "1"})
    assert unknown_evse.response.status_code == 2003
    no_token = await emsp.command("START_SESSION", {"location_id": "LOC1"})
    assert no_token.response.status_code == 2001
    bad_url = await emsp.call("POST", "commands", "STOP_SESSION", role="RECEIVER",
                              json={"response_url": "not a url", "session_id": "1"})
    assert bad_url.status_code == 2001
    unknown_command = await emsp.call("POST", "commands", "SELF_DESTRUCT", role="RECEIVER",
                                      json={"response_url": "http://127.0.0.1/x"})
    assert unknown_command.http_status == 404
    foreign_token = {**token, "party_id": "XXX"}
    foreign = await emsp.command("START_SESSION", {"token": foreign_token,
                                                   "location_id": "LOC1"})
    assert foreign.command_response["result"] == "REJECTED"
    assert await one(cpo, OcpiToken, OcpiToken.party_id == "XXX") is None


async def test_open_commands_of_a_previous_run_time_out(openv2x_server):
    first = await start_cpo(openv2x_server)
    peer = await registered(first, EmspPeer("NL", "EMS"))
    try:
        uid = "left-open"
        url = peer.endpoint_url("commands") + f"/START_SESSION/{uid}"
        peer.commands[uid] = CommandCall("START_SESSION", uid, url, {})
        async with first.app[appkeys.DB].transaction() as work:
            partner_id = await work.session.scalar(select(OcpiPartner.id))
            work.session.add(OcpiCommand(
                partner_id=partner_id, command="START_SESSION", country_code="NL",
                party_id="EMS", our_country_code="NL", our_party_id="CPO",
                response_url=url, request={}, station_id="CP1",
                action="RemoteStartTransaction", payload={"id_tag": "X"}, state="pending",
                deadline=utcnow() - dt.timedelta(seconds=1)))
        second = await start_cpo(openv2x_server)  # a restart on the same database
        result = await peer.wait_command_result(uid)
        assert result["result"] == "TIMEOUT"
        await second.app[commands.RUNNER].wait()
        row = await one(second, OcpiCommand, OcpiCommand.response_url == url)
        assert row.state == "delivered"
    finally:
        await peer.stop()


# ---- hub client info ---------------------------------------------------------------------


async def test_hub_client_info(cpo):
    hub = await registered(cpo, HubPeer())
    emsp = await registered(cpo, EmspPeer("BE", "EMX"))
    try:
        assert (await hub.push_client_info("NL", "EMA", "EMSP", "CONNECTED")).status_code \
            == 1000
        got = await hub.call("GET", "hubclientinfo", "NL", "EMA", role="RECEIVER")
        assert (got.data["status"], got.data["role"]) == ("CONNECTED", "EMSP")
        assert shared_schemas().errors("hubclientinfo", "ClientInfo", got.data) == []
        party = Party("NL", "EMA")
        assert await hubclientinfo.client_status(cpo.app, "cpo", party) == "CONNECTED"
        await hub.push_client_info("nl", "ema", "EMSP", "OFFLINE")
        assert await hubclientinfo.client_status(cpo.app, "cpo", party) == "OFFLINE"
        assert await hubclientinfo.client_status(cpo.app, "cpo", Party("DE", "EMB")) is None

        mismatch = await hub.call("PUT", "hubclientinfo", "NL", "EMA", role="RECEIVER", json={
            "country_code": "DE", "party_id": "EMB", "role": "EMSP", "status": "CONNECTED",
            "last_updated": ocpi_timestamp()})
        assert mismatch.status_code == 2001
        unknown = await hub.call("GET", "hubclientinfo", "DE", "EMB", role="RECEIVER")
        assert unknown.http_status == 404

        # Not a hub: nothing to give, nothing to see.
        not_hub = await emsp.call("PUT", "hubclientinfo", "NL", "EMA", role="RECEIVER", json={
            "country_code": "NL", "party_id": "EMA", "role": "EMSP", "status": "SUSPENDED",
            "last_updated": ocpi_timestamp()})
        assert not_hub.status_code == 2001
        assert (await emsp.call("GET", "hubclientinfo", "NL", "EMA", role="RECEIVER")
                ).http_status == 404
        assert await hubclientinfo.client_status(cpo.app, "cpo", party) == "OFFLINE"
    finally:
        await hub.stop()
        await emsp.stop()


async def test_tokens_pushed_through_a_hub(cpo):
    hub = await registered(cpo, HubPeer())
    try:
        hub.add_token("HUB-T1", party=("DE", "EMB"))
        assert (await hub.push_token("HUB-T1")).status_code == 1000
        stored = await one(cpo, OcpiToken, OcpiToken.uid == "HUB-T1")
        assert (stored.country_code, stored.party_id) == ("DE", "EMB")
    finally:
        await hub.stop()


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
def test_station_requests_fit_every_ocpp_version(version):
    token = {"uid": "APP-1", "type": "APP_USER", "group_id": "G1"}
    target = commands.Target("CP1", version, evse_number=2, connector_number=1)
    expiry = utcnow() + dt.timedelta(hours=1)
    for action, payload in (commands.remote_start(target, token, 17),
                            commands.reserve_now(target, token, 5, expiry),
                            commands.reserve_now(dataclasses.replace(target, evse_number=None),
                                                 token, 6, expiry)):
        validated_request(version, action, payload)
    assert commands.outcome("ReserveNow", {"status": "Occupied"})[0] == "EVSE_OCCUPIED"
    assert commands.outcome("UnlockConnector", {"status": "UnlockFailed"})[0] == "FAILED"
    assert commands.outcome("RequestStartTransaction", {
        "status": "Rejected", "status_info": {"reason_code": "Busy"}}) == (
        "REJECTED", "charging station answered Rejected: Busy")
