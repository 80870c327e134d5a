"""Local contexts: the SCSP engine steers our own stations directly, with no OCPI hop.

A real server with the OCPP and SCSP plugins, a location with a real OCPP 1.6 and a real OCPP
2.1 station, and an operator's local context over their EVSEs. Our own transactions become the
context's sessions; every station must receive SetChargingProfile whose limits are the engine's
schedule for its session (never below 0 before OCPP 2.1), a new SoC must re-plan, the end of a
transaction must clear its profile, failures must be recorded and retried, and partners must
not be able to see or create local contexts over OCPI.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import pytest
from ocpi_peers import EmspPeer
from ocpp.routing import on
from ocpp.v16 import call
from ocpp.v16 import call_result as result16
from ocpp.v201 import call_result as result201
from ocpp16_station import TestStation
from ocpp16_station import connect as connect16
from ocpp201_station import Station21
from ocpp201_station import connect as connect2x
from ocpp201_station import disconnect as disconnect2x
from sqlalchemy import select

from core import appkeys
from core.db.models import ChargingStation, Evse, IdToken, Location, Transaction, Vehicle
from core.db.types import utcnow
from core.events import Event
from core.ocpp.tx_profiles import PROFILE_ID_BASE
from plugins.ocpi_scsp import background
from plugins.ocpi_scsp.local_tables import LocalSession
from plugins.ocpi_scsp.problem_builder import horizon_start
from plugins.ocpi_scsp.tables import OptimisationContext, ScspSession

SETTINGS = {"ocpi_scsp": {"country_code": "DE", "party_id": "SCS", "slots": 8,
                          "slot_minutes": 15}}
OWNER = ("NL", "CPO")
CONTEXT_URL = "/api/scsp/context/NL/CPO/site-1/"


# ---- the stations ---------------------------------------------------------------------------


class Smart16(TestStation):
    """A 1.6 charger that records profiles and clears, and answers as ``answer`` says."""

    __test__ = False

    def __init__(self, station_id: str, connection: Any) -> None:
        super().__init__(station_id, connection)
        self.answer = "Accepted"

    @on("SetChargingProfile")
    def on_set_charging_profile(self, connector_id, cs_charging_profiles):
        self.received.append(("SetChargingProfile", {"connector_id": connector_id,
                                                     **cs_charging_profiles}))
        return result16.SetChargingProfile(status=self.answer)

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, **criteria):
        self.received.append(("ClearChargingProfile", criteria))
        return result16.ClearChargingProfile(status="Accepted")


class Smart21(Station21):
    """A 2.1 charger likewise."""

    __test__ = False

    def __init__(self, station_id: str, connection: Any) -> None:
        super().__init__(station_id, connection)
        self.answer = "Accepted"

    @on("SetChargingProfile")
    def on_set_charging_profile(self, evse_id, charging_profile, **_):
        self.received.append(("SetChargingProfile", {"evse_id": evse_id, **charging_profile}))
        return result201.SetChargingProfile(status=self.answer)

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, charging_profile_id=None, **criteria):
        self.received.append(("ClearChargingProfile",
                              {"charging_profile_id": charging_profile_id, **criteria}))
        return result201.ClearChargingProfile(status="Accepted")


def sent(station: Any, action: str) -> list[dict[str, Any]]:
    return [payload for name, payload in station.received if name == action]


def periods16(profile: dict[str, Any]) -> list[tuple[int, float]]:
    return [(p["start_period"], float(p["limit"]))
            for p in profile["charging_schedule"]["charging_schedule_period"]]


def periods21(profile: dict[str, Any]) -> list[tuple[int, float]]:
    [schedule] = profile["charging_schedule"]
    return [(p["start_period"], float(p["limit"] if "limit" in p else p["setpoint"]))
            for p in schedule["charging_schedule_period"]]


def runs(power_w: list[float], *, floor: float | None = None) -> list[tuple[int, float]]:
    """The periods a schedule of 15-minute slot powers makes: one per run of equal power."""
    out: list[tuple[int, float]] = []
    for slot, power in enumerate(power_w):
        limit = round(power, 1) if floor is None else max(round(power, 1), floor)
        if not out or out[-1][1] != limit:
            out.append((slot * 900, limit + 0.0))
    return out


# ---- the world ------------------------------------------------------------------------------


@pytest.fixture
async def server(openv2x_server: Any) -> Any:
    server = await openv2x_server(plugins=["ocpp16", "ocpp201", "ocpi_scsp"],
                                  settings=SETTINGS)
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(Location(id="LOC1", name="Depot"))
        await work.session.flush()
        for station_id, uid in (("CP16", "EVSE-16"), ("CS21", "EVSE-21")):
            work.session.add(ChargingStation(id=station_id, location_id="LOC1",
                                             registration_status="Accepted"))
            await work.session.flush()
            work.session.add(Evse(station_id=station_id, evse_number=1, uid=uid))
        for token in ("DRIVER-16", "DRIVER-21"):
            work.session.add(IdToken(id_token=token, type="ISO14443"))
            work.session.add(Vehicle(identifier=f"EV-{token}", id_token=token,
                                     battery_capacity_wh=50_000))
    return server


def stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def context(**changes: Any) -> dict[str, Any]:
    """Our two EVSEs behind a 30 kW supply point with 8 kW of other load; energy is dear for
    the first hour of the horizon and cheap for the second."""
    start = horizon_start(utcnow(), 15)
    body = {"country_code": OWNER[0], "party_id": OWNER[1], "id": "site-1", "local": True,
            "max_power": 30000,
            "evses": [{"location_id": "LOC1", "evse_uid": "EVSE-16", "connectors": [
                          {"connector_id": "1", "power": 7000, "discharge_power": 5000}]},
                      {"location_id": "loc1", "evse_uid": "evse-21", "connectors": [
                          {"connector_id": "1", "power": 11000, "discharge_power": 5000}]}],
            "demand": [{"time_slot": stamp(start), "value": 8000}],
            "price": [{"time_slot": stamp(start + dt.timedelta(minutes=15 * s)),
                       "value": 0.40 if s < 4 else 0.10} for s in range(8)]}
    return {**body, **changes}


async def settled(server: Any) -> None:
    """Until every event was handled and every recompute it started has run."""
    for _ in range(3):
        await server.app[appkeys.EVENTS].drain()
        await background.idle(server.app)


async def rest(server: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    headers = await server.auth_headers("cpo_manager")
    async with server.http.request(method, server.url(path), json=body,
                                   headers=headers) as resp:
        return resp.status, await resp.json() if resp.status != 204 else None


async def schedule(server: Any, session_id: str) -> list[float]:
    status, result = await rest(server, "GET", CONTEXT_URL + "result/")
    assert status == 200, result
    [found] = [s for s in result["sessions"] if s["session_id"] == session_id]
    return found["power_w"]


async def local_session(server: Any, session_id: str) -> LocalSession:
    async with server.app[appkeys.DB].session() as session:
        row = await session.get(LocalSession, (*OWNER, session_id))
    assert row is not None
    return row


async def start16(server: Any) -> tuple[Smart16, int]:
    station = await connect16(server, "CP16", station_cls=Smart16)
    started = await station.call(call.StartTransaction(
        connector_id=1, id_tag="DRIVER-16", meter_start=0, timestamp=stamp(utcnow())))
    return station, started.transaction_id


async def start21(server: Any, *, soc: int = 95) -> tuple[Smart21, int]:
    station = await connect2x(server, "CS21", version="2.1", station_cls=Smart21)
    await station.call(station.calls.TransactionEvent(
        event_type="Started", timestamp=stamp(utcnow()), trigger_reason="Authorized",
        seq_no=0, transaction_info={"transaction_id": "TX-21"},
        evse={"id": 1, "connector_id": 1},
        id_token={"id_token": "DRIVER-21", "type": "ISO14443"},
        meter_value=[{"timestamp": stamp(utcnow()), "sampled_value": [
            {"value": soc, "measurand": "SoC", "unit_of_measure": {"unit": "Percent"}}]}]))
    async with server.app[appkeys.DB].session() as session:
        tx_id = await session.scalar(select(Transaction.id).where(
            Transaction.transaction_uid == "TX-21"))
    return station, tx_id


async def preferences(server: Any, transaction_id: int, **wishes: Any) -> None:
    """The driver's preferences, as the CPO role publishes them when the eMSP sends them."""
    await server.app[appkeys.EVENTS].publish([Event("session.charging_preferences", {
        "transaction_id": transaction_id, "session_id": str(transaction_id),
        "profile_type": "CHEAP", "departure_time": None, "energy_need_wh": None,
        "discharge_allowed": False, **wishes})])
    await settled(server)


# ---- the tests ------------------------------------------------------------------------------


async def test_a_local_context_drives_our_16_and_21_stations(server: Any) -> None:
    # A transaction already running when the context becomes local is taken up.
    cp16, tx16 = await start16(server)
    status, created = await rest(server, "POST", "/api/scsp/context/", context())
    assert status == 201, created
    assert created["context"]["local"] is True
    await settled(server)

    [first16] = sent(cp16, "SetChargingProfile")
    assert first16["connector_id"] == 1 and first16["transaction_id"] == tx16
    assert first16["charging_profile_purpose"] == "TxProfile"
    assert first16["charging_profile_id"] == PROFILE_ID_BASE + tx16
    assert first16["charging_schedule"]["charging_rate_unit"] == "W"
    assert periods16(first16) == runs(await schedule(server, str(tx16)), floor=0.0)

    # A transaction starting there (with its SoC) joins the context as it starts.
    cs21, tx21 = await start21(server)
    await settled(server)
    [first21] = sent(cs21, "SetChargingProfile")
    assert first21["evse_id"] == 1 and first21["transaction_id"] == "TX-21"
    assert first21["id"] == PROFILE_ID_BASE + tx21
    assert first21["charging_profile_purpose"] == "TxProfile"
    assert periods21(first21) == runs(await schedule(server, str(tx21)))
    async with server.app[appkeys.DB].session() as session:
        row = await session.get(ScspSession, (*OWNER, str(tx21)))
    assert row is not None and row.data["charging_periods"][0]["dimensions"] == [
        {"type": "ENERGY", "volume": 0}, {"type": "STATE_OF_CHARGE", "volume": 95}]

    # A new SoC re-plans: the 1.6 EV (50 kWh, from its driver's vehicle) needs 5 kWh only.
    await cp16.call(call.MeterValues(connector_id=1, transaction_id=tx16, meter_value=[
        {"timestamp": stamp(utcnow()), "sampled_value": [
            {"value": "90", "measurand": "SoC", "unit": "Percent"}]}]))
    await settled(server)
    latest16 = sent(cp16, "SetChargingProfile")[-1]
    assert len(sent(cp16, "SetChargingProfile")) == 2
    power16 = await schedule(server, str(tx16))
    assert periods16(latest16) == runs(power16, floor=0.0)
    assert sum(power16) / 4 == pytest.approx(5000)

    # Discharge allowed: the 2.1 EV feeds the site while energy is dear (CentralSetpoint),
    # the 1.6 one cannot and is never given a negative limit.
    await preferences(server, tx21, discharge_allowed=True)
    await preferences(server, tx16, discharge_allowed=True)
    power21 = await schedule(server, str(tx21))
    assert min(power21) < 0
    latest21 = sent(cs21, "SetChargingProfile")[-1]
    assert periods21(latest21) == runs(power21)
    [discharging, *_] = [p for p in latest21["charging_schedule"][0]["charging_schedule_period"]
                         if "setpoint" in p]
    assert discharging["operation_mode"] == "CentralSetpoint"
    assert discharging["setpoint"] == discharging["discharge_limit"] < 0
    assert min(await schedule(server, str(tx16))) >= 0
    assert all(limit >= 0 for profile in sent(cp16, "SetChargingProfile")
               for _, limit in periods16(profile))
    assert (await local_session(server, str(tx21))).outcome == "Accepted"

    # A recompute that changes nothing sends nothing.
    before = (len(sent(cp16, "SetChargingProfile")), len(sent(cs21, "SetChargingProfile")))
    status, _ = await rest(server, "PATCH", CONTEXT_URL, {"opportunity_cost": 0})
    assert status == 200
    await settled(server)
    assert (len(sent(cp16, "SetChargingProfile")),
            len(sent(cs21, "SetChargingProfile"))) == before

    # The end of a transaction clears its profile.
    await cp16.call(call.StopTransaction(meter_stop=5000, timestamp=stamp(utcnow()),
                                         transaction_id=tx16))
    await settled(server)
    assert sent(cp16, "ClearChargingProfile") == [{"id": PROFILE_ID_BASE + tx16}]
    await cs21.call(cs21.calls.TransactionEvent(
        event_type="Ended", timestamp=stamp(utcnow()), trigger_reason="EVDeparted",
        seq_no=1, transaction_info={"transaction_id": "TX-21", "stopped_reason": "EVDisconnected"},
        evse={"id": 1, "connector_id": 1}))
    await settled(server)
    [cleared] = sent(cs21, "ClearChargingProfile")
    assert cleared["charging_profile_id"] == PROFILE_ID_BASE + tx21
    status, result = await rest(server, "GET", CONTEXT_URL + "result/")
    assert result["sessions"] == []


async def test_failures_are_recorded_and_retried_at_the_next_recompute(server: Any) -> None:
    status, _ = await rest(server, "POST", "/api/scsp/context/", context())
    assert status == 201
    cs21, tx21 = await start21(server)
    await settled(server)
    cs21.answer = "Rejected"
    await preferences(server, tx21, discharge_allowed=True)
    refused = await local_session(server, str(tx21))
    assert (refused.outcome, refused.message) == (
        "Rejected", "the charging station answered Rejected")
    assert refused.profile is not None  # the first profile, which the station took

    cs21.answer = "Accepted"
    count = len(sent(cs21, "SetChargingProfile"))
    status, _ = await rest(server, "POST", CONTEXT_URL + "inputs/", {"generation": []})
    assert status == 200
    assert len(sent(cs21, "SetChargingProfile")) == count + 1
    assert periods21(sent(cs21, "SetChargingProfile")[-1]) == runs(
        await schedule(server, str(tx21)))
    taken = await local_session(server, str(tx21))
    assert (taken.outcome, taken.message) == ("Accepted", None)

    # An offline station fails the send, not the solve.
    await disconnect2x(cs21)
    await preferences(server, tx21, discharge_allowed=False)
    offline = await local_session(server, str(tx21))
    assert offline.outcome == "failed" and "not connected" in (offline.message or "")
    status, result = await rest(server, "GET", CONTEXT_URL + "result/")
    assert result["status"] == "optimal" and result["error"] is None

    # Back online (perhaps after a restart that lost its profiles): sent its profile at once.
    back = await connect2x(server, "CS21", version="2.1", station_cls=Smart21)
    await settled(server)
    [resent] = sent(back, "SetChargingProfile")
    assert resent["transaction_id"] == "TX-21" and resent["id"] == PROFILE_ID_BASE + tx21
    assert periods21(resent) == runs(await schedule(server, str(tx21)))
    assert (await local_session(server, str(tx21))).outcome == "Accepted"


async def test_local_evses_must_be_ours_and_in_one_local_context(server: Any) -> None:
    status, body = await rest(server, "POST", "/api/scsp/context/", context(evses=[
        {"location_id": "LOC1", "evse_uid": "NOT-OURS",
         "connectors": [{"connector_id": "1", "power": 7000}]}]))
    assert status == 400 and "NOT-OURS" in body["error"]["message"]
    assert (await rest(server, "POST", "/api/scsp/context/", context()))[0] == 201
    status, body = await rest(server, "POST", "/api/scsp/context/", context(id="site-2"))
    assert status == 400 and "another local context" in body["error"]["message"]
    # The same EVSEs in a context that is not local are fine: it only plans.
    status, body = await rest(server, "POST", "/api/scsp/context/",
                              context(id="site-2", local=False))
    assert status == 201 and body["context"]["local"] is False
    status, listed = await rest(server, "GET", "/api/scsp/context/")
    assert {(c["id"], c["local"]) for c in listed} == {("site-1", True), ("site-2", False)}
    status, body = await rest(server, "PATCH", CONTEXT_URL, {"local": "yes"})
    assert status == 400


class CpoPeer(EmspPeer):
    """A CPO registered with our SCSP platform."""

    ROLE: ClassVar[str] = "CPO"
    ENDPOINTS: ClassVar[tuple[tuple[str, str], ...]] = (("credentials", "RECEIVER"),)


async def test_partners_can_neither_create_nor_touch_local_contexts(server: Any) -> None:
    """Over OCPI ``local`` is an unknown field (2001, nothing stored), and a local context is
    answered as unknown (HTTP 404) to every request naming it."""
    async with CpoPeer(*OWNER) as peer:
        headers = await server.auth_headers("emsp_manager")
        async with server.http.post(server.url("/api/ocpi/scsp/token-a/"),
                                    headers=headers) as resp:
            token = (await resp.json())["token"]
        await peer.register_with(server.url("/ocpi/scsp/versions"), token)
        pushed = {**context(id="site-9"), "last_updated": stamp(utcnow())}
        refused = await peer.call("PUT", "smartChargingOptimisation", *OWNER, "site-9",
                                  json=pushed, role="RECEIVER")
        assert refused.status_code == 2001 and "local" in refused.envelope["status_message"]

        assert (await rest(server, "POST", "/api/scsp/context/", context()))[0] == 201
        remote = {k: v for k, v in pushed.items() if k != "local"} | {"id": "site-1"}
        for method, body in (("GET", None), ("PUT", remote),
                             ("PATCH", {"max_power": 1, "last_updated": stamp(utcnow())}),
                             ("DELETE", None)):
            answer = await peer.call(method, "smartChargingOptimisation", *OWNER, "site-1",
                                     json=body, role="RECEIVER")
            assert answer.http_status == 404, method
    async with server.app[appkeys.DB].session() as session:
        stored = await session.get(OptimisationContext, (*OWNER, "site-1"))
        assert stored is not None and stored.data["max_power"] == 30000
        assert await session.get(OptimisationContext, (*OWNER, "site-9")) is None


async def test_a_finished_local_session_reports_the_accuracy_of_our_estimates(
        server: Any) -> None:
    """The readings imply a 40 kWh battery (2 kWh per 5 % SoC) where the driver's vehicle says
    50 kWh: the capacity estimate is 20 % off, while the energy (40 kWh x 25 % = 10 kWh) and
    the time (10 kWh at the readings' 24 kW = 1,500 s) match what the meter shows."""
    status, created = await rest(server, "POST", "/api/scsp/context/", context())
    assert status == 201, created
    station = await connect16(server, "CP16", station_cls=Smart16)
    t0 = utcnow().replace(microsecond=0) - dt.timedelta(minutes=40)
    started = await station.call(call.StartTransaction(
        connector_id=1, id_tag="DRIVER-16", meter_start=0, timestamp=stamp(t0)))
    tx = started.transaction_id
    for n in range(6):
        at = t0 + dt.timedelta(minutes=1 + 5 * n)
        await station.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[
            {"timestamp": stamp(at), "sampled_value": [
                {"value": str(2000 * n), "measurand": "Energy.Active.Import.Register",
                 "unit": "Wh"},
                {"value": str(20 + 5 * n), "measurand": "SoC", "unit": "Percent"}]}]))
    await station.call(call.StopTransaction(meter_stop=10000, transaction_id=tx,
                                            timestamp=stamp(t0 + dt.timedelta(minutes=30))))
    await settled(server)
    status, report = await rest(server, "GET", "/api/scsp/estimates/accuracy/")
    assert status == 200, report
    assert report["sessions"] == 1
    assert report["kinds"]["battery_capacity"] == {"count": 1, "mape_pct": pytest.approx(20)}
    assert report["kinds"]["charge_energy"] == {"count": 1, "mape_pct": pytest.approx(0)}
    assert report["kinds"]["charge_duration"] == {"count": 1, "mape_pct": pytest.approx(0)}
