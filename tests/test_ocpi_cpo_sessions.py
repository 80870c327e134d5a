"""OCPI 2.2.1 Sessions, CDRs and Tariffs of our CPO role, end to end.

A real server with the OCPP 1.6, billing and OCPI CPO plugins; a real OCPP 1.6 station charges
with tokens of eMSPs; the eMSPs (and a hub) are the independent OCPI test peers of
``tests/ocpi_peers``, registered with our CPO platform over HTTP, which check everything we
push against the OCPI OpenAPI schemas. Costs are worked out here by hand from the tariff.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from ocpi_peers import EmspPeer, HubPeer
from ocpp.v16 import call
from ocpp16_station import connect, disconnect
from sqlalchemy import func, select

from core import appkeys
from core.db.models import (
    ChargingStation,
    Connector,
    Evse,
    IdToken,
    Location,
    OcpiOutbox,
)
from core.events import Event
from plugins.ocpi_cpo.sessions_models import ChargingPreference

PLUGINS = ["ocpp16", "billing", "ocpi_cpo"]
OURS = ("NL", "OVX")
EMS, FOREIGN = ("NL", "EMS"), ("DE", "FOR")
# 0.50 to start, 0.25 per kWh, both with 20 % VAT.
TARIFF = {"id": "AC-STD", "currency": "EUR", "elements": [
    {"price_components": [{"type": "FLAT", "price": 0.5, "vat": 20, "step_size": 1}]},
    {"price_components": [{"type": "ENERGY", "price": 0.25, "vat": 20, "step_size": 1}]}]}


def stamp(minutes: float) -> str:
    """An OCPP timestamp ``minutes`` from now (negative: in the past)."""
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def energy(when: str, wh: int) -> list[dict[str, Any]]:
    return [{"timestamp": when, "sampled_value": [
        {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh",
         "context": "Sample.Periodic"}]}]


@dataclass
class World:
    """The server, its REST credentials and the partners registered with it."""

    server: Any
    peers: list[EmspPeer] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    async def rest(self, method: str, path: str, role: str, body: Any = None,
                   expected: int = 200) -> Any:
        headers = await self.server.auth_headers(role)
        async with self.server.http.request(method, self.server.url(path), headers=headers,
                                            json=body) as resp:
            text = await resp.text()
            assert resp.status == expected, (method, path, resp.status, text)
            return await resp.json() if text else None

    async def partner(self, peer: EmspPeer) -> EmspPeer:
        """Start ``peer`` and register it with our CPO platform using a fresh token A."""
        await peer.start()
        self.peers.append(peer)
        token_a = await self.rest("POST", "/api/ocpi/cpo/token-a/", "emsp_manager",
                                  expected=201)
        await peer.register_with(token_a["versions_url"], token_a["token"])
        return peer

    async def drain(self) -> None:
        await self.server.app[appkeys.EVENTS].drain()

    async def count(self, model: Any) -> int:
        async with self.server.app[appkeys.DB].session() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def add_site(world: World, station_id: str, location_id: str, *,
                   published: bool = True) -> None:
    """A location (fully described, or lacking coordinates), a station and one AC EVSE."""
    async with world.server.app[appkeys.DB].transaction() as work:
        session = work.session
        if await session.get(Location, location_id) is None:
            session.add(Location(
                id=location_id, name="Damrak", address="Damrak 1", city="Amsterdam",
                postal_code="1012LG", country="NLD", time_zone="Europe/Amsterdam",
                latitude="52.37403" if published else None,
                longitude="4.88969" if published else None))
        session.add(ChargingStation(id=station_id, location_id=location_id,
                                    registration_status="Accepted"))
        await session.flush()
        evse = Evse(station_id=station_id, evse_number=1, uid=f"{station_id}-E1",
                    evse_id=f"NL*OVX*E{station_id}*1")
        session.add(evse)
        await session.flush()
        session.add(Connector(id=f"{station_id}-1", evse_id=evse.id, station_id=station_id,
                              connector_number=1, standard="IEC_62196_T2", format="SOCKET",
                              power_type="AC_3_PHASE", max_voltage=230, max_amperage=32,
                              max_electric_power=22000, tariff_ids=[]))


async def add_tokens(world: World) -> None:
    tokens = [("EMS-1", *EMS), ("EMS-2", *EMS), ("FOR-1", *FOREIGN), ("EMA-1", "NL", "EMA"),
              ("OWN-1", None, None)]
    async with world.server.app[appkeys.DB].transaction() as work:
        for uid, cc, pid in tokens:
            work.session.add(IdToken(id_token=uid, type="ISO14443", country_code=cc,
                                     party_id=pid))


@pytest.fixture
async def start(openv2x_server: Any, openv2x_db_url: str) -> AsyncIterator[Any]:
    """Start a CPO (``interval``: session_update_interval; ``page_limit``: [ocpi]) with a
    published site CP1, a site CP2 whose location is not published, tokens and a tariff."""
    worlds: list[World] = []

    async def factory(*, interval: int = 0, page_limit: int | None = None) -> World:
        settings: dict[str, dict[str, Any]] = {
            "billing": {"country_code": OURS[0], "party_id": OURS[1]},
            "ocpi_cpo": {"session_update_interval": interval}}
        if page_limit is not None:
            settings["ocpi"] = {"page_limit": page_limit}
        world = World(await openv2x_server(plugins=PLUGINS, settings=settings))
        worlds.append(world)

        async def seen(event: Event) -> None:
            world.events.append(event)

        world.server.app[appkeys.EVENTS].subscribe(seen)
        await add_site(world, "CP1", "LOC1")
        await add_site(world, "CP2", "LOC2", published=False)
        await add_tokens(world)
        await world.rest("POST", "/api/tariff/", "billing_manager", TARIFF, 201)
        for station in ("CP1", "CP2"):
            await world.rest("POST", "/api/tariffassignment/", "billing_manager",
                             {"tariff_id": "AC-STD", "scope": "station",
                              "station_id": station}, 201)
        return world

    yield factory
    for world in worlds:
        for peer in world.peers:
            await peer.stop()


async def charge(station: Any, id_tag: str, readings: tuple[int, ...] = (1000, 8000),
                 *, after_sample: Any = None) -> int:
    """A whole session: start at the first reading, sample the middle ones, stop at the last
    (one reading per ten minutes, ending ten minutes ago). Returns the transaction id."""
    minute = -10 * len(readings)
    started = await station.call(call.StartTransaction(
        connector_id=1, id_tag=id_tag, meter_start=readings[0], timestamp=stamp(minute)))
    tx_id = started.transaction_id
    for wh in readings[1:-1]:
        minute += 10
        await station.call(call.MeterValues(connector_id=1, transaction_id=tx_id,
                                            meter_value=energy(stamp(minute), wh)))
        if after_sample is not None:
            await after_sample(wh)
    await station.call(call.StopTransaction(meter_stop=readings[-1], timestamp=stamp(-10),
                                            transaction_id=tx_id, reason="EVDisconnected"))
    return int(tx_id)


async def plug_in(world: World, station_id: str) -> Any:
    """Connect an OCPP 1.6 station that reports its meter's serial number."""
    station = await connect(world.server, station_id, boot=False)
    await station.call(call.BootNotification(
        charge_point_model="M1", charge_point_vendor="OpenV2X-Test",
        meter_serial_number=f"MTR-{station_id}"))
    return station


def pushes(peer: EmspPeer, module: str) -> list[tuple[str, str, Any]]:
    return [(r.method, r.path, r.body) for r in peer.requests(module)
            if r.method in ("PUT", "PATCH", "POST")]


def clean(peer: EmspPeer) -> None:
    """Everything the peer received matched the OCPI schemas and transport rules."""
    assert peer.rejected == [], [(r.path, r.errors) for r in peer.rejected]
    assert peer.violations == []


async def test_a_session_roams_to_its_emsp_from_start_to_cdr(start: Any) -> None:
    world = await start(interval=0)
    ems = await world.partner(EmspPeer(*EMS))
    other = await world.partner(EmspPeer(*FOREIGN))
    station = await plug_in(world, "CP1")
    started = await station.call(call.StartTransaction(
        connector_id=1, id_tag="EMS-1", meter_start=1000, timestamp=stamp(-40)))
    session_id = str(started.transaction_id)
    key = (*OURS, session_id)

    first = await ems.wait_for(lambda: ems.sessions.get(key))
    [put] = ems.requests("sessions", "PUT")
    assert put.path.endswith(f"/sessions/NL/OVX/{session_id}")
    assert (put.to_party.key(), put.from_party.key()) == (EMS, OURS)
    assert first["status"] == "ACTIVE" and first["kwh"] == 0
    assert (first["location_id"], first["evse_uid"], first["connector_id"]) == (
        "LOC1", "CP1-E1", "1")
    assert first["cdr_token"] == {"country_code": "NL", "party_id": "EMS", "uid": "EMS-1",
                                  "type": "RFID", "contract_id": "EMS-1"}
    assert (first["auth_method"], first["currency"], first["meter_id"]) == (
        "WHITELIST", "EUR", "MTR-CP1")
    assert first["total_cost"] == {"excl_vat": 0.5, "incl_vat": 0.6}

    # Every sample is PATCHed (interval 0) with the energy so far and its running cost.
    expected = {3000: (2.0, {"excl_vat": 1.0, "incl_vat": 1.2}),
                5000: (4.0, {"excl_vat": 1.5, "incl_vat": 1.8})}
    for number, (minute, wh) in enumerate(((-30, 3000), (-20, 5000)), start=1):
        await station.call(call.MeterValues(connector_id=1, transaction_id=int(session_id),
                                            meter_value=energy(stamp(minute), wh)))
        await ems.wait_for(lambda n=number: len(ems.requests("sessions", "PATCH")) == n)
        patch = ems.requests("sessions", "PATCH")[-1].body
        assert set(patch) == {"kwh", "total_cost", "status", "last_updated"}
        assert (patch["kwh"], patch["total_cost"], patch["status"]) == (*expected[wh],
                                                                        "ACTIVE")
    await station.call(call.StopTransaction(meter_stop=8000, timestamp=stamp(-10),
                                            transaction_id=int(session_id),
                                            reason="EVDisconnected"))

    final = await ems.wait_for(
        lambda: (ems.sessions[key] if ems.sessions[key]["status"] == "COMPLETED" else None))
    [cdr] = await ems.wait_for(lambda: list(ems.cdrs.values()))
    # 7 kWh x 0.25 + 0.50 = 2.25 excluding VAT, 2.70 including 20 %.
    assert final["total_cost"] == cdr["total_cost"] == {"excl_vat": 2.25, "incl_vat": 2.7}
    assert (final["kwh"], cdr["total_energy"]) == (7.0, 7.0)
    assert final["end_date_time"] == cdr["end_date_time"]
    assert cdr["session_id"] == session_id and cdr["cdr_token"] == final["cdr_token"]
    [post] = ems.requests("cdrs", "POST")
    assert post.to_party.key() == EMS
    # Journaled events are delivered at least once: handing the CDR's event over again (as a
    # restart after a crash would) does not POST the CDR a second time.
    await world.server.app[appkeys.JOURNAL].deliver(Event("cdr.created", {"id": cdr["id"]}))
    async with world.server.app[appkeys.DB].session() as db:
        assert await db.scalar(select(func.count()).select_from(OcpiOutbox).where(
            OcpiOutbox.object_key == f"cdr:{cdr['id']}")) == 1
    assert [m for m, _, _ in pushes(ems, "sessions")] == ["PUT", "PATCH", "PATCH", "PUT"]
    assert pushes(other, "sessions") == [] and pushes(other, "cdrs") == []
    clean(ems)
    await disconnect(station)


async def test_own_tokens_stay_home_and_unpublished_sites_send_only_the_cdr(
        start: Any) -> None:
    world = await start()
    ems = await world.partner(EmspPeer(*EMS))
    cp1, cp2 = await plug_in(world, "CP1"), await plug_in(world, "CP2")
    await charge(cp1, "OWN-1")
    hidden = await charge(cp2, "EMS-2", (0, 1000, 4000))
    marker = await charge(cp1, "EMS-1")
    await ems.wait_for(lambda: len(ems.cdrs) == 2)
    await world.drain()
    # The session at the unpublished location is not sent, its CDR is, with its own place.
    assert {key[2] for key in ems.sessions} == {str(marker)}
    by_session = {c["session_id"]: c for c in ems.cdrs.values()}
    assert set(by_session) == {str(hidden), str(marker)}
    assert by_session[str(hidden)]["cdr_location"]["id"] == "LOC2"
    assert by_session[str(hidden)]["total_cost"] == {"excl_vat": 1.5, "incl_vat": 1.8}
    assert all(c["cdr_token"]["uid"] != "OWN-1" for c in ems.cdrs.values())
    clean(ems)
    for station in (cp1, cp2):
        await disconnect(station)


async def test_session_patches_are_paced_by_the_update_interval(start: Any) -> None:
    world = await start(interval=3600)
    ems = await world.partner(EmspPeer(*EMS))
    station = await plug_in(world, "CP1")
    tx_id = await charge(station, "EMS-1", (1000, 2000, 3000, 4000, 6000),
                         after_sample=lambda _: world.drain())
    key = (*OURS, str(tx_id))
    await ems.wait_for(lambda: ems.sessions.get(key, {}).get("status") == "COMPLETED")
    # The start counts as the last push: no sample within the hour is PATCHed.
    assert [m for m, _, _ in pushes(ems, "sessions")] == ["PUT", "PUT"]
    assert ems.sessions[key]["kwh"] == 5.0
    clean(ems)
    await disconnect(station)


async def test_lists_are_paginated_and_show_each_emsp_its_own(start: Any) -> None:
    world = await start(page_limit=2)
    ems = await world.partner(EmspPeer(*EMS))
    other = await world.partner(EmspPeer(*FOREIGN))
    station = await plug_in(world, "CP1")
    mine = [await charge(station, tag) for tag in ("EMS-1", "EMS-2", "EMS-1")]
    theirs = await charge(station, "FOR-1")
    await charge(station, "OWN-1")
    await ems.wait_for(lambda: len(ems.cdrs) == 3)
    await other.wait_for(lambda: len(other.cdrs) == 1)

    listed = await ems.get_all("sessions", {"date_from": stamp(-120)})
    assert listed.ok and listed.total_count == 3 and listed.limit == 2
    assert [p.count for p in listed.pages] == [2, 1] and listed.pages[0].next_url
    # Ordered by last_updated, which billing's CDR also moves: compare as sets.
    assert sorted(s["id"] for s in listed.items) == sorted(str(t) for t in mine)
    assert all(s["status"] == "COMPLETED" for s in listed.items)
    for item in listed.items:
        assert ems.schemas.errors("sessions", "Session", item) == []
        assert item["total_cost"] == ems.sessions[(*OURS, item["id"])]["total_cost"]
    others = await other.get_all("sessions", {"date_from": stamp(-120)})
    assert [s["id"] for s in others.items] == [str(theirs)]
    later = await ems.get_all("sessions", {"date_from": stamp(5)})
    assert later.ok and later.items == [] and later.total_count == 0

    cdrs = await ems.get_all("cdrs", {"limit": 1})
    assert [p.count for p in cdrs.pages] == [1, 1, 1]
    assert sorted(c["session_id"] for c in cdrs.items) == sorted(str(t) for t in mine)
    assert {c["id"] for c in cdrs.items} == {key[2] for key in ems.cdrs}
    for item in cdrs.items:
        assert ems.schemas.errors("cdrs", "CDR", item) == []
    assert [c["session_id"] for c in (await other.get_all("cdrs")).items] == [str(theirs)]

    # Tariffs are public, but only ours: an eMSP's retail tariff is not listed.
    await world.rest("POST", "/api/tariff/", "billing_manager",
                     {**TARIFF, "id": "AC-NIGHT"}, 201)
    await world.rest("POST", "/api/tariff/", "billing_manager",
                     {**TARIFF, "id": "EMS-RETAIL", "country_code": "NL", "party_id": "EMS"},
                     201)
    tariffs = await other.get_all("tariffs", {"limit": 1})
    assert [t["id"] for t in tariffs.items] == ["AC-STD", "AC-NIGHT"]
    assert len(tariffs.pages) == 2
    for item in tariffs.items:
        assert other.schemas.errors("tariffs", "Tariff", item) == []
    clean(ems)
    clean(other)
    await disconnect(station)


async def test_tariff_changes_are_put_to_every_receiver(start: Any) -> None:
    world = await start()
    ems = await world.partner(EmspPeer(*EMS))
    other = await world.partner(EmspPeer(*FOREIGN))
    await world.rest("POST", "/api/tariff/", "billing_manager", {**TARIFF, "id": "DC-FAST"},
                     201)
    for peer in (ems, other):
        pushed = await peer.wait_for(lambda p=peer: p.tariffs.get((*OURS, "DC-FAST")))
        assert pushed["elements"] == TARIFF["elements"]
        [put] = peer.requests("tariffs", "PUT")
        assert put.path.endswith("/tariffs/NL/OVX/DC-FAST")

    changed = {**TARIFF, "id": "DC-FAST", "elements": [
        {"price_components": [{"type": "ENERGY", "price": 0.59, "vat": 20, "step_size": 1}]}]}
    await world.rest("PUT", "/api/tariff/DC-FAST/", "billing_manager", changed)
    # Another party's tariff is not ours to publish; ours that follows it is.
    await world.rest("POST", "/api/tariff/", "billing_manager",
                     {**TARIFF, "id": "EMS-RETAIL", "country_code": "NL", "party_id": "EMS"},
                     201)
    await world.rest("POST", "/api/tariff/", "billing_manager", {**TARIFF, "id": "AC-NIGHT"},
                     201)
    for peer in (ems, other):
        await peer.wait_for(lambda p=peer: p.tariffs.get((*OURS, "AC-NIGHT")))
        price = peer.tariffs[(*OURS, "DC-FAST")]["elements"][0]["price_components"][0]
        assert price["price"] == 0.59
        assert [path.rsplit("/", 1)[1] for _, path, _ in pushes(peer, "tariffs")] == [
            "DC-FAST", "DC-FAST", "AC-NIGHT"]
        clean(peer)


async def put_preferences(peer: EmspPeer, session_id: str, body: Any) -> Any:
    return await peer.call("PUT", "sessions", session_id, "charging_preferences", json=body,
                           role="SENDER")


async def test_charging_preferences_reach_smart_charging_from_the_sessions_emsp_only(
        start: Any) -> None:
    world = await start()
    ems = await world.partner(EmspPeer(*EMS))
    other = await world.partner(EmspPeer(*FOREIGN))
    station = await plug_in(world, "CP1")
    started = await station.call(call.StartTransaction(
        connector_id=1, id_tag="EMS-1", meter_start=1000, timestamp=stamp(-10)))
    session_id = str(started.transaction_id)
    await ems.wait_for(lambda: ems.sessions.get((*OURS, session_id)))
    departure = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=4)).replace(microsecond=0)
    wanted = {"profile_type": "REGULAR", "departure_time": departure.isoformat()[:19] + "Z",
              "energy_need": 30.5, "discharge_allowed": True}

    # Broken bodies: 2001, nothing kept.
    for body in ({"profile_type": "SUPERFAST"}, {**wanted, "energy_need": "lots"},
                 {**wanted, "departure_time": "tomorrow"}, {**wanted, "energy_need": -1},
                 {**wanted, "discharge_allowed": "yes"}, ["REGULAR"]):
        answer = await put_preferences(ems, session_id, body)
        assert (answer.http_status, answer.status_code) == (200, 2001), body
    # Another eMSP's session, or none at all: 404.
    answer = await put_preferences(other, session_id, wanted)
    assert (answer.http_status, answer.status_code) == (404, 2001)
    answer = await put_preferences(ems, "no-such-session", wanted)
    assert answer.http_status == 404
    assert await world.count(ChargingPreference) == 0

    # Profiles need a tariff of their own at the connector; CHEAP needs a departure time.
    cheap = {**wanted, "profile_type": "CHEAP"}
    assert (await put_preferences(ems, session_id, cheap)).data == "PROFILE_TYPE_NOT_SUPPORTED"
    await world.rest("POST", "/api/tariff/", "billing_manager",
                     {**TARIFF, "id": "AC-CHEAP", "type": "PROFILE_CHEAP"}, 201)
    await world.rest("PATCH", "/api/connector/CP1-1/", "cpo_manager",
                     {"tariff_ids": ["AC-STD", "AC-CHEAP"]})
    answer = await put_preferences(ems, session_id, {"profile_type": "CHEAP"})
    assert answer.data == "DEPARTURE_REQUIRED"
    past = {**cheap, "departure_time": stamp(-1)}
    assert (await put_preferences(ems, session_id, past)).data == "NOT_POSSIBLE"
    # 22 kW for an hour cannot give 100 kWh.
    too_much = {**cheap, "departure_time": stamp(60), "energy_need": 100}
    assert (await put_preferences(ems, session_id, too_much)).data == "NOT_POSSIBLE"
    assert await world.count(ChargingPreference) == 0
    await world.drain()
    assert [e for e in world.events if e.name == "session.charging_preferences"] == []

    answer = await put_preferences(ems, session_id, cheap)
    assert answer.ok and answer.data == "ACCEPTED"
    await world.drain()
    [event] = [e for e in world.events if e.name == "session.charging_preferences"]
    assert event.data == {
        "transaction_id": int(session_id), "session_id": session_id, "station_id": "CP1",
        "evse_number": 1, "connector_number": 1, "profile_type": "CHEAP",
        "departure_time": departure.isoformat(), "energy_need_wh": 30500,
        "discharge_allowed": True, "country_code": "NL", "party_id": "EMS"}
    async with world.server.app[appkeys.DB].session() as session:
        row = await session.get(ChargingPreference, int(session_id))
    assert row is not None and (row.profile_type, row.departure_time, str(row.energy_need),
                                row.discharge_allowed) == ("CHEAP", departure, "30.5", True)

    # An EVSE that says it cannot take preferences: 404; a finished session: NOT_POSSIBLE.
    async with world.server.app[appkeys.DB].transaction() as work:
        evse = (await work.session.execute(select(Evse).where(Evse.uid == "CP1-E1"))
                ).scalars().one()
        evse.capabilities = ["RFID_READER"]
    assert (await put_preferences(ems, session_id, cheap)).http_status == 404
    async with world.server.app[appkeys.DB].transaction() as work:
        evse = (await work.session.execute(select(Evse).where(Evse.uid == "CP1-E1"))
                ).scalars().one()
        evse.capabilities = ["RFID_READER", "CHARGING_PREFERENCES_CAPABLE"]
    await station.call(call.StopTransaction(meter_stop=2000, timestamp=stamp(0),
                                            transaction_id=int(session_id),
                                            reason="EVDisconnected"))
    assert (await put_preferences(ems, session_id, cheap)).data == "NOT_POSSIBLE"
    clean(ems)
    await disconnect(station)


async def test_a_hub_gets_what_the_parties_behind_it_own(start: Any) -> None:
    world = await start()
    hub = await world.partner(HubPeer([("NL", "EMA"), ("DE", "EMB")]))
    station = await plug_in(world, "CP1")
    tx_id = await charge(station, "EMA-1", (1000, 3000))
    ema = hub.store_for("NL", "EMA")
    await hub.wait_for(lambda: ema.cdrs and ema.session(str(tx_id), OURS))
    assert {r.module for r in hub.requests_to("NL", "EMA")} == {"sessions", "cdrs"}
    assert hub.store_for("DE", "EMB").sessions == {}
    assert ema.session(str(tx_id), OURS)["total_cost"] == {"excl_vat": 1.0, "incl_vat": 1.2}

    as_ema = await hub.get_all("sessions", {"date_from": stamp(-120)},
                                  from_party=("NL", "EMA"))
    assert [s["id"] for s in as_ema.items] == [str(tx_id)]
    assert (await hub.get_all("sessions", {"date_from": stamp(-120)},
                              from_party=("DE", "EMB"))).items == []
    assert (await hub.get_all("cdrs", from_party=("DE", "EMB"))).items == []

    started = await station.call(call.StartTransaction(
        connector_id=1, id_tag="EMA-1", meter_start=3000, timestamp=stamp(-1)))
    live = str(started.transaction_id)
    await hub.wait_for(lambda: ema.session(live, OURS))
    fast = {"profile_type": "REGULAR", "energy_need": 10}
    answer = await hub.call("PUT", "sessions", live, "charging_preferences", json=fast,
                            role="SENDER", from_party=("DE", "EMB"))
    assert answer.http_status == 404
    answer = await hub.call("PUT", "sessions", live, "charging_preferences", json=fast,
                            role="SENDER", from_party=("NL", "EMA"))
    assert answer.data == "ACCEPTED"
    clean(hub)
    await disconnect(station)
