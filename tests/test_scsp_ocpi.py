"""The SCSP role over real HTTP, with an independent peer acting as the CPO: registration, an
optimisation context and a session pushed, the driver's charging preferences, the
SetChargingProfile the CPO receives (its limits are the engine's schedule), the CPO's answer,
bad input refused with nothing stored, and the operators' REST API."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import pytest
from ocpi_peers import EmspPeer, HubPeer
from ocpi_peers.emsp import Reply, _Context, _ok

from core import appkeys
from core.db.models import IdToken, Vehicle
from core.ocpi import Party, hubclientinfo
from plugins.ocpi_scsp import background
from plugins.ocpi_scsp.tables import OptimisationContext, ScspSession, SentProfile

PLUGINS = ["ocpi_scsp"]
SETTINGS = {"ocpi": {"outbox_max_backoff": 1},
            "ocpi_scsp": {"country_code": "DE", "party_id": "SCS", "slots": 8}}
CPO = ("NL", "CPO")


class CpoPeer(EmspPeer):
    """The peer as a CPO: it also receives SetChargingProfile / ClearProfile requests."""

    ROLE: ClassVar[str] = "CPO"
    ENDPOINTS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("credentials", "RECEIVER"), ("chargingprofiles", "RECEIVER"))

    async def _route(self, request: Any, record: Any, module: str | None, args: list[str],
                     body: Any) -> Reply:
        if module != "chargingprofiles":
            return await super()._route(request, record, module, args, body)
        token, partner = self._authenticate(request, record)
        if partner is None:
            return self._error(2000, "unknown token", 401)
        self._check_transport(request, record)
        _ = _Context(request, record, token or "", partner, args, body)
        return _ok({"result": "ACCEPTED", "timeout": 30})


@pytest.fixture
async def scsp(openv2x_server: Any) -> Any:
    return await openv2x_server(plugins=PLUGINS, settings=SETTINGS)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def context(**changes: Any) -> dict[str, Any]:
    start = now().replace(minute=0, second=0, microsecond=0)
    body = {
        "country_code": CPO[0], "party_id": CPO[1], "id": "site-1",
        "evses": [{"location_id": "LOC1", "evse_uid": "EVSE1",
                   "connectors": [{"connector_id": "1", "power": 11000}]}],
        "max_power": 15000, "min_power": 0,
        "demand": [{"time_slot": stamp(start + dt.timedelta(hours=h)), "value": 8000}
                   for h in range(3)],
        "price": [{"time_slot": stamp(start + dt.timedelta(hours=h)), "value": v}
                  for h, v in enumerate((0.40, 0.10, 0.30))],
        "last_updated": stamp(now()),
    }
    return {**body, **changes}


def session(**changes: Any) -> dict[str, Any]:
    body = {
        "country_code": CPO[0], "party_id": CPO[1], "id": "S1",
        "start_date_time": stamp(now() - dt.timedelta(minutes=5)), "kwh": 0,
        "cdr_token": {"country_code": "NL", "party_id": "EMS", "uid": "TOK1",
                      "type": "RFID", "contract_id": "NL-EMS-C1"},
        "auth_method": "WHITELIST", "location_id": "LOC1", "evse_uid": "EVSE1",
        "connector_id": "1", "currency": "EUR", "status": "ACTIVE",
        "battery_capacity": 50,
        "charging_periods": [{"start_date_time": stamp(now() - dt.timedelta(minutes=5)),
                              "dimensions": [{"type": "STATE_OF_CHARGE", "volume": 40}]}],
        "last_updated": stamp(now()),
    }
    return {**body, **changes}


async def registered(server: Any, peer: EmspPeer) -> None:
    headers = await server.auth_headers("emsp_manager")
    async with server.http.post(server.url("/api/ocpi/scsp/token-a/"),
                                headers=headers) as resp:
        assert resp.status == 201, await resp.text()
        token = (await resp.json())["token"]
    partner = await peer.register_with(server.url("/ocpi/scsp/versions"), token)
    assert partner.registered
    assert {(r["role"], r["country_code"], r["party_id"]) for r in partner.roles} == {
        ("SCSP", "DE", "SCS")}
    offered = {(e["identifier"], e["role"]) for e in partner.endpoints}
    assert {("smartChargingOptimisation", "RECEIVER"), ("sessions", "RECEIVER"),
            ("sessions", "SENDER"), ("chargingprofiles", "SENDER"),
            ("hubclientinfo", "RECEIVER")} <= offered


async def settled(server: Any) -> None:
    await background.idle(server.app)


async def count(server: Any, table: Any) -> int:
    async with server.app[appkeys.DB].session() as db:
        from sqlalchemy import func, select

        return int((await db.execute(select(func.count()).select_from(table))).scalar_one())


async def result_of(server: Any, key: str = "NL/CPO/site-1") -> dict[str, Any]:
    headers = await server.auth_headers("cpo_manager")
    async with server.http.get(server.url(f"/api/scsp/context/{key}/result/"),
                               headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


async def test_full_flow_from_context_to_charging_profile(scsp: Any) -> None:
    async with CpoPeer(*CPO) as peer:
        await registered(scsp, peer)
        put = await peer.call("PUT", "smartChargingOptimisation", *CPO, "site-1",
                              json=context(), role="RECEIVER")
        assert put.ok, put.envelope
        got = await peer.call("GET", "smartChargingOptimisation", *CPO, "site-1",
                              role="RECEIVER")
        assert got.ok and got.data["max_power"] == 15000 and got.data["id"] == "site-1"

        pushed = await peer.call("PUT", "sessions", *CPO, "S1", json=session(),
                                 role="RECEIVER")
        assert pushed.ok, pushed.envelope
        departure = now() + dt.timedelta(minutes=100)
        answer = await peer.call("PUT", "sessions", "S1", "charging_preferences",
                                 role="SENDER", json={
                                     "profile_type": "CHEAP", "departure_time": stamp(departure),
                                     "energy_need": 5, "discharge_allowed": False,
                                     "target_soc": 60})
        assert answer.ok and answer.data == "ACCEPTED", answer.envelope
        await settled(scsp)

        result = await result_of(scsp)
        [schedule] = result["sessions"]
        assert result["method"] in ("lp", "milp") and result["error"] is None
        assert schedule["session_id"] == "S1" and schedule["target_met"]
        # 40 % → 60 % of 50 kWh = 10 kWh, at most 7 kW (15 kW limit - 8 kW demand).
        assert abs(schedule["achieved_soc_pct"] - 60) < 0.01
        assert max(schedule["power_w"]) <= 7000 + 0.01

        slot = result["slot_minutes"] * 60
        expected = [round(p, 1) + 0.0 for p in schedule["power_w"]]

        def limits(profile: dict[str, Any]) -> list[float]:
            periods = profile["charging_profile_period"]
            return [next(p["limit"] for p in reversed(periods) if p["start_period"] <= t * slot)
                    for t in range(result["slots"])]

        # Profiles of earlier recomputes may arrive first; the latest follows the schedule.
        [last] = await peer.wait_for(lambda: [
            r for r in peer.requests("chargingprofiles", "PUT")
            if r.body and r.body.get("charging_profile")
            and limits(r.body["charging_profile"]) == expected][-1:], timeout=10)
        assert last.path.endswith("/S1") and tuple(last.to_party) == CPO
        assert tuple(last.from_party) == ("DE", "SCS")
        profile = last.body["charging_profile"]
        assert profile["charging_rate_unit"] == "W"
        assert profile["start_date_time"] == result["start"]

        # The CPO answers at the response_url we gave.
        reply = await peer.call("POST", "chargingprofiles", url=last.body["response_url"],
                                json={"result": "ACCEPTED"})
        assert reply.ok, reply.envelope
        async with scsp.app[appkeys.DB].session() as db:
            sent = await db.get(SentProfile, (*CPO, "S1"))
        assert sent is not None and sent.result == "ACCEPTED"

        active = await peer.call("PUT", "chargingprofiles", "S1", role="SENDER", json={
            "start_date_time": stamp(now()), "charging_profile": profile})
        assert active.ok, active.envelope

        # An operator asks what the station applies: GetActiveChargingProfile to the CPO,
        # whose ActiveChargingProfileResult lands beside, not over, the SetChargingProfile's.
        operator = await scsp.auth_headers("cpo_manager")
        ask = scsp.url("/api/scsp/session/NL/CPO/S1/profile/active/")
        async with scsp.http.post(ask, json={"duration": 1800}, headers=operator) as resp:
            assert resp.status == 202, await resp.text()
        [get] = await peer.wait_for(lambda: peer.requests("chargingprofiles", "GET"),
                                    timeout=10)
        assert get.path.endswith("/S1") and get.query["duration"] == "1800"
        applied = {"start_date_time": stamp(now()), "charging_profile": {
            "charging_rate_unit": "W", "charging_profile_period": [
                {"start_period": 0, "limit": 6000.0}]}}
        reply = await peer.call("POST", "chargingprofiles", url=get.query["response_url"],
                                json={"result": "ACCEPTED", "profile": applied})
        assert reply.ok, reply.envelope
        async with scsp.http.get(scsp.url("/api/scsp/session/NL/CPO/S1/profile/"),
                                 headers=operator) as resp:
            shown = await resp.json()
        assert (shown["result"], shown["active_result"]) == ("ACCEPTED", "ACCEPTED")
        assert shown["active_profile"] == applied and shown["active_at"]
        for bad in ({"duration": 0}, {"duration": "1h"}, {"other": 1}):
            async with scsp.http.post(ask, json=bad, headers=operator) as resp:
                assert resp.status == 400, bad
        async with scsp.http.post(scsp.url("/api/scsp/session/NL/CPO/NOPE/profile/active/"),
                                  headers=operator) as resp:
            assert resp.status == 404

        # The session ends: its profile is cleared.
        ended = await peer.call("PATCH", "sessions", *CPO, "S1", role="RECEIVER",
                                json={"status": "COMPLETED", "last_updated": stamp(now())})
        assert ended.ok, ended.envelope
        await settled(scsp)
        [clear] = await peer.wait_for(lambda: peer.requests("chargingprofiles", "DELETE"),
                                      timeout=10)
        assert clear.path.endswith("/S1")
        assert clear.query["response_url"].startswith(scsp.url("/ocpi/scsp/2.2.1/"))
        # The official schema enumerates the standard module identifiers only; custom modules
        # (OCPI 2.2.1 "Custom Modules") are allowed by the specification text.
        others = [v for v in peer.violations if "smartChargingOptimisation" not in v]
        assert not others, others


async def test_a_refused_profile_is_sent_again_at_the_next_recompute(scsp: Any) -> None:
    """Unchanged profiles are not sent twice, except one the CPO answered REJECTED."""
    async with CpoPeer(*CPO) as peer:
        await registered(scsp, peer)
        assert (await peer.call("PUT", "smartChargingOptimisation", *CPO, "site-1",
                                json=context(), role="RECEIVER")).ok
        assert (await peer.call("PUT", "sessions", *CPO, "S1", json=session(),
                                role="RECEIVER")).ok
        await settled(scsp)
        [first] = await peer.wait_for(lambda: peer.requests("chargingprofiles", "PUT"),
                                      timeout=10)
        operator = await scsp.auth_headers("cpo_manager")

        async def recompute() -> None:
            async with scsp.http.post(scsp.url("/api/scsp/context/NL/CPO/site-1/inputs/"),
                                      json={"generation": []}, headers=operator) as resp:
                assert resp.status == 200, await resp.text()
            await settled(scsp)

        assert (await peer.call("POST", "chargingprofiles", url=first.body["response_url"],
                                json={"result": "ACCEPTED"})).ok
        await recompute()
        assert len(peer.requests("chargingprofiles", "PUT")) == 1
        assert (await peer.call("POST", "chargingprofiles", url=first.body["response_url"],
                                json={"result": "REJECTED"})).ok
        await recompute()
        [_, again] = await peer.wait_for(
            lambda: peer.requests("chargingprofiles", "PUT")[1:] and
            peer.requests("chargingprofiles", "PUT"), timeout=10)
        assert again.body["charging_profile"] == first.body["charging_profile"]
        assert again.body["response_url"] != first.body["response_url"]


async def test_bad_input_is_refused_and_nothing_is_stored(scsp: Any) -> None:
    async with CpoPeer(*CPO) as peer:
        await registered(scsp, peer)
        wrong_party = await peer.call("PUT", "smartChargingOptimisation", "BE", "XYZ",
                                      "site-1", json=context(country_code="BE", party_id="XYZ"),
                                      role="RECEIVER")
        assert wrong_party.http_status == 404
        missing = context()
        del missing["evses"]
        no_evses = await peer.call("PUT", "smartChargingOptimisation", *CPO, "site-1",
                                   json=missing, role="RECEIVER")
        assert no_evses.status_code == 2001
        bad_type = await peer.call("PUT", "smartChargingOptimisation", *CPO, "site-1",
                                   json=context(max_power="lots"), role="RECEIVER")
        assert bad_type.status_code == 2001
        assert await count(scsp, OptimisationContext) == 0

        assert (await peer.call("PUT", "smartChargingOptimisation", *CPO, "site-1",
                                json=context(), role="RECEIVER")).ok
        no_stamp = await peer.call("PATCH", "smartChargingOptimisation", *CPO, "site-1",
                                   json={"max_power": 1}, role="RECEIVER")
        assert no_stamp.status_code == 2001
        got = await peer.call("GET", "smartChargingOptimisation", *CPO, "site-1",
                              role="RECEIVER")
        assert got.data["max_power"] == 15000
        other = await peer.call("GET", "smartChargingOptimisation", "BE", "XYZ", "site-1",
                                role="RECEIVER")
        assert other.http_status == 404

        no_session_fields = await peer.call("PUT", "sessions", *CPO, "S1", role="RECEIVER",
                                            json={"id": "S1", "country_code": "NL"})
        assert no_session_fields.status_code == 2001
        foreign = await peer.call("PUT", "sessions", "BE", "XYZ", "S1", role="RECEIVER",
                                  json=session(country_code="BE", party_id="XYZ"))
        assert foreign.http_status == 404
        assert await count(scsp, ScspSession) == 0
        assert (await peer.call("PUT", "sessions", *CPO, "S1", json=session(),
                                role="RECEIVER")).ok
        unstamped = await peer.call("PATCH", "sessions", *CPO, "S1", role="RECEIVER",
                                    json={"status": "COMPLETED"})
        assert unstamped.status_code == 2001
        bad_preferences = await peer.call("PUT", "sessions", "S1", "charging_preferences",
                                          role="SENDER", json={"profile_type": "NOPE"})
        assert bad_preferences.status_code == 2001
        async with scsp.app[appkeys.DB].session() as db:
            row = await db.get(ScspSession, (*CPO, "S1"))
        assert row is not None and row.status == "ACTIVE" and row.preferences is None
        deleted = await peer.call("DELETE", "smartChargingOptimisation", *CPO, "site-1",
                                  role="RECEIVER")
        assert deleted.ok
        await settled(scsp)
        assert await count(scsp, OptimisationContext) == 0


async def test_a_hub_reports_the_parties_behind_it(scsp: Any) -> None:
    """The core's HubClientInfo RECEIVER on the SCSP platform: a hub's ClientInfo is kept per
    hub and read back; another partner has none to give or see."""
    party = Party("NL", "CPO")
    async with HubPeer([CPO, ("BE", "CPB")]) as hub, CpoPeer("DE", "CPX") as cpo:
        await registered(scsp, hub)
        await registered(scsp, cpo)
        assert (await hub.push_client_info(*CPO, "CPO", "CONNECTED")).status_code == 1000
        got = await hub.call("GET", "hubclientinfo", *CPO, role="RECEIVER")
        assert (got.data["role"], got.data["status"]) == ("CPO", "CONNECTED")
        assert await hubclientinfo.client_status(scsp.app, "scsp", party) == "CONNECTED"
        assert await hubclientinfo.client_status(scsp.app, "cpo", party) is None
        await hub.push_client_info("nl", "cpo", "CPO", "SUSPENDED")
        assert await hubclientinfo.client_status(scsp.app, "scsp", party) == "SUSPENDED"
        unknown = await hub.call("GET", "hubclientinfo", "BE", "CPB", role="RECEIVER")
        assert unknown.http_status == 404

        not_hub = await cpo.call("PUT", "hubclientinfo", *CPO, role="RECEIVER", json={
            "country_code": CPO[0], "party_id": CPO[1], "role": "CPO", "status": "OFFLINE",
            "last_updated": stamp(now())})
        assert not_hub.status_code == 2001
        assert (await cpo.call("GET", "hubclientinfo", *CPO, role="RECEIVER")
                ).http_status == 404
        assert await hubclientinfo.client_status(scsp.app, "scsp", party) == "SUSPENDED"


async def test_operators_create_a_context_and_read_its_result(scsp: Any) -> None:
    headers = await scsp.auth_headers("cpo_manager")
    body = context()
    del body["last_updated"]
    async with scsp.http.post(scsp.url("/api/scsp/context/"), json=body,
                              headers=headers) as resp:
        assert resp.status == 201, await resp.text()
        created = await resp.json()
    assert created["result"]["method"] is not None and created["result"]["error"] is None
    assert created["context"]["id"] == "site-1"

    start = now().replace(minute=0, second=0, microsecond=0)
    flex = {"flex_orders": [{"time_slot": stamp(start), "value": -2000}],
            "capacity_limits": [{"time_slot": stamp(start), "value": 12000}]}
    async with scsp.http.post(scsp.url("/api/scsp/context/NL/CPO/site-1/inputs/"), json=flex,
                              headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        updated = await resp.json()
    assert updated["context"]["flex_orders"][0]["value"] == -2000
    assert len(updated["context"]["price"]) == 3

    result = await result_of(scsp)
    for name in ("total_cost", "peak_import_w", "saving_vs_uncontrolled", "sessions",
                 "method", "solve_time_s"):
        assert name in result
    async with scsp.http.post(scsp.url("/api/scsp/context/NL/CPO/site-1/inputs/"),
                              json={"demand": [{"time_slot": "yesterday", "value": 1}]},
                              headers=headers) as resp:
        assert resp.status == 400
    reader = await scsp.auth_headers("support_l1")
    async with scsp.http.get(scsp.url("/api/scsp/context/"), headers=reader) as resp:
        assert resp.status == 200 and len(await resp.json()) == 1
    async with scsp.http.post(scsp.url("/api/scsp/context/"), json=body,
                              headers=reader) as resp:
        assert resp.status == 403
    async with scsp.http.delete(scsp.url("/api/scsp/context/NL/CPO/site-1/"),
                                headers=headers) as resp:
        assert resp.status == 204
    async with scsp.http.get(scsp.url("/api/scsp/context/NL/CPO/site-1/result/"),
                             headers=headers) as resp:
        assert resp.status == 404


async def test_the_drivers_battery_comes_from_their_vehicle_or_profile(scsp: Any) -> None:
    """A CPO that sends no battery capacity: our own driver's data gives it (token → driver)."""
    driver = await scsp.add_user("driver", battery_capacity_wh=40_000)
    async with scsp.app[appkeys.DB].transaction() as work:
        work.session.add(IdToken(id_token="tok1", user_id=driver))
    async with CpoPeer(*CPO) as peer:
        await registered(scsp, peer)
        assert (await peer.call("PUT", "smartChargingOptimisation", *CPO, "site-1",
                                json=context(), role="RECEIVER")).ok
        body = session()
        del body["battery_capacity"]
        assert (await peer.call("PUT", "sessions", *CPO, "S1", json=body,
                                role="RECEIVER")).ok
        departure = now() + dt.timedelta(minutes=100)
        assert (await peer.call("PUT", "sessions", "S1", "charging_preferences",
                                role="SENDER", json={
                                    "profile_type": "CHEAP", "departure_time": stamp(departure),
                                    "target_soc": 60})).ok
        await settled(scsp)
        [schedule] = (await result_of(scsp))["sessions"]
        # 40 % → 60 % of the profile's 40 kWh: 8 kWh, planned by SoC, not by energy need.
        assert schedule["achieved_soc_pct"] is not None
        assert abs(schedule["achieved_soc_pct"] - 60) < 0.01
        assert abs(schedule["charged_wh"] - 8000) < 1

        # A vehicle registered with the token is more specific than the profile.
        async with scsp.app[appkeys.DB].transaction() as work:
            work.session.add(Vehicle(identifier="EVCC01", id_token="TOK1", user_id=driver,
                                     battery_capacity_wh=80_000))
        assert (await peer.call("PUT", "sessions", "S1", "charging_preferences",
                                role="SENDER", json={
                                    "profile_type": "CHEAP", "departure_time": stamp(departure),
                                    "target_soc": 60})).ok
        await settled(scsp)
        [schedule] = (await result_of(scsp))["sessions"]
        # 40 % → 60 % of 80 kWh is 16 kWh, more than 7 kW brings before departure: the best
        # achievable SoC is planned and reported, the target marked as not met.
        assert schedule["charged_wh"] > 8000 + 1 and not schedule["target_met"]
        expected_soc = 40 + schedule["charged_wh"] / 80_000 * 100
        assert abs(schedule["achieved_soc_pct"] - expected_soc) < 0.01


async def test_a_session_finds_its_context_whatever_the_case_of_its_ids(scsp: Any) -> None:
    """OCPI ids are CiStrings: a CPO whose sessions name its EVSEs in lower case (some
    libraries lower-case every CiString) still has them optimised in the context."""
    async with CpoPeer(*CPO) as peer:
        await registered(scsp, peer)
        assert (await peer.call("PUT", "smartChargingOptimisation", *CPO, "site-1",
                                json=context(), role="RECEIVER")).ok
        assert (await peer.call("PUT", "sessions", *CPO, "S1", role="RECEIVER", json=session(
            location_id="loc1", evse_uid="evse1"))).ok
        await settled(scsp)
        [schedule] = (await result_of(scsp))["sessions"]
        assert schedule["session_id"] == "S1" and schedule["charged_wh"] > 0


def periods(start: dt.datetime, rows: list[dict[str, float]]) -> list[dict[str, Any]]:
    """Charging periods of 15 minutes from ``start``, one per row of dimension volumes."""
    return [{"start_date_time": stamp(start + dt.timedelta(minutes=15 * i)),
             "dimensions": [{"type": kind, "volume": volume} for kind, volume in row.items()]}
            for i, row in enumerate(rows)]


async def test_an_unknown_battery_is_estimated_from_the_sessions_readings(scsp: Any) -> None:
    """No capacity from the CPO and a token we do not know: 1 kWh per 2 % SoC in the charging
    periods makes a 50 kWh battery (seed 004 eq. 3.1), so 46 % → 60 % plans 7 kWh."""
    body = session(charging_periods=periods(now() - dt.timedelta(minutes=60), [
        {"STATE_OF_CHARGE": 40}, {"ENERGY": 1, "STATE_OF_CHARGE": 42},
        {"ENERGY": 1, "STATE_OF_CHARGE": 44}, {"ENERGY": 1, "STATE_OF_CHARGE": 46}]))
    del body["battery_capacity"]
    async with CpoPeer(*CPO) as peer:
        await registered(scsp, peer)
        assert (await peer.call("PUT", "smartChargingOptimisation", *CPO, "site-1",
                                json=context(), role="RECEIVER")).ok
        assert (await peer.call("PUT", "sessions", *CPO, "S1", json=body,
                                role="RECEIVER")).ok
        assert (await peer.call("PUT", "sessions", "S1", "charging_preferences",
                                role="SENDER", json={
                                    "profile_type": "CHEAP",
                                    "departure_time": stamp(now() + dt.timedelta(minutes=100)),
                                    "target_soc": 60})).ok
        await settled(scsp)
        [schedule] = (await result_of(scsp))["sessions"]
        assert abs(schedule["charged_wh"] - 7000) < 1
        assert abs(schedule["achieved_soc_pct"] - 60) < 0.01


async def accuracy(server: Any, query: str = "") -> Any:
    headers = await server.auth_headers("support_l1")
    async with server.http.get(server.url(f"/api/scsp/estimates/accuracy/{query}"),
                               headers=headers) as resp:
        return resp.status, await resp.json()


async def test_estimates_are_judged_against_completed_sessions(scsp: Any) -> None:
    """Seed 004's estimator replayed on two sessions that complete over OCPI, checked by hand.

    S1 (50 kWh battery known): 0.4 kWh per 15-minute period at 1.6 kW while the SoC climbs
    40, 41, 42, 43, 44 %, then 3 kWh in an hour to 50 %. Capacity from the first five readings:
    800 Wh per 2 % → 40 kWh (APE 20 %); energy for 40 → 50 %: 4,000 Wh against 4,600 delivered
    after the first reading (APE 13.043 %); time at the median 1.6 kW: 2.5 h against 2 h of
    TIME after the first reading (APE 25 %).
    S2 (capacity unknown): 0.6 kWh per 15 minutes (2.4 kW from ENERGY/TIME), 20 → 24 %: 60 kWh,
    2,400 Wh in 1 h estimated and delivered (APE 0 % twice).
    """
    start = now() - dt.timedelta(hours=3)
    early = [{"ENERGY": 0.4, "POWER": 1.6, "TIME": 0.25, "STATE_OF_CHARGE": 40 + i}
             for i in range(5)]
    async with CpoPeer(*CPO) as peer:
        await registered(scsp, peer)
        first = session(start_date_time=stamp(start), charging_periods=periods(start, early))
        assert (await peer.call("PUT", "sessions", *CPO, "S1", json=first,
                                role="RECEIVER")).ok
        assert (await accuracy(scsp))[1]["sessions"] == 0
        late = periods(start, [*early, {"ENERGY": 3.0, "TIME": 1.0, "STATE_OF_CHARGE": 50}])
        assert (await peer.call("PATCH", "sessions", *CPO, "S1", role="RECEIVER", json={
            "status": "COMPLETED", "end_date_time": stamp(now()), "charging_periods": late[5:],
            "kwh": 5.0, "last_updated": stamp(now())})).ok
        second = session(id="S2", evse_uid="EVSE2", status="COMPLETED",
                         start_date_time=stamp(start), end_date_time=stamp(now()),
                         charging_periods=periods(start, [
                             {"ENERGY": 0.6, "TIME": 0.25, "STATE_OF_CHARGE": 20 + i}
                             for i in range(5)]))
        del second["battery_capacity"]
        assert (await peer.call("PUT", "sessions", *CPO, "S2", json=second,
                                role="RECEIVER")).ok
        await settled(scsp)

    status, report = await accuracy(scsp)
    assert status == 200 and report["sessions"] == 2 and report["last"] == 100
    kinds = report["kinds"]
    assert kinds["battery_capacity"] == {"count": 1, "mape_pct": pytest.approx(20.0)}
    assert kinds["charge_energy"]["count"] == 2
    assert kinds["charge_energy"]["mape_pct"] == pytest.approx(600 / 4600 * 100 / 2)
    assert kinds["charge_duration"] == {"count": 2, "mape_pct": pytest.approx(12.5)}
    # The last session alone: S2, whose capacity nobody knows.
    status, report = await accuracy(scsp, "?last=1")
    assert status == 200 and report["sessions"] == 1
    assert report["kinds"]["battery_capacity"] == {"count": 0, "mape_pct": None}
    assert report["kinds"]["charge_duration"]["mape_pct"] == pytest.approx(0.0)
    for bad in ("?last=0", "?last=10001", "?last=many"):
        assert (await accuracy(scsp, bad))[0] == 400
    driver = await scsp.auth_headers("driver")
    async with scsp.http.get(scsp.url("/api/scsp/estimates/accuracy/"),
                             headers=driver) as resp:
        assert resp.status == 403
