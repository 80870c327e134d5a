"""OCPP 2.x smart charging over real WebSockets, 2.0.1 and 2.1: limits, EV charging needs,
profiles set, cleared, reported and sent from /api/chargingprofile/, composite schedules."""

import asyncio
import datetime as dt
import json

import pytest
from ocpp.routing import after, on
from ocpp.v201 import call_result as result201
from ocpp201_station import Station21, Station201, connect, disconnect
from sqlalchemy import select

from core import appkeys
from core.db.models import ChargingNeed, ChargingProfile, ChargingStation, Task, Transaction
from plugins.ocpp201.models import ChargingLimit

VERSIONS = ["2.0.1", "2.1"]
T0 = "2026-11-24T10:00:00Z"
SCHEDULE = {"id": 1, "charging_rate_unit": "W", "start_schedule": T0, "duration": 3600,
            "charging_schedule_period": [{"start_period": 0, "limit": 11000},
                                         {"start_period": 1800, "limit": 3680}]}


class SmartHandlers:
    """A station that takes profiles (id 99 it refuses) and reports what the test sets."""

    reports: list = []

    @on("SetChargingProfile")
    def on_set_charging_profile(self, evse_id, charging_profile, **_):
        self.received.append(("SetChargingProfile", {"evse_id": evse_id,
                                                     "charging_profile": charging_profile}))
        status = "Rejected" if charging_profile["id"] == 99 else "Accepted"
        return result201.SetChargingProfile(status=status)

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, **criteria):
        self.received.append(("ClearChargingProfile", criteria))
        return result201.ClearChargingProfile(status="Accepted")

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(self, duration, evse_id, charging_rate_unit=None, **_):
        return result201.GetCompositeSchedule(status="Accepted", schedule={
            "evse_id": evse_id, "duration": duration, "schedule_start": T0,
            "charging_rate_unit": charging_rate_unit or "W",
            "charging_schedule_period": [{"start_period": 0, "limit": 7400}]})

    @on("GetChargingProfiles")
    def on_get_charging_profiles(self, request_id, charging_profile, **_):
        return result201.GetChargingProfiles(status="Accepted" if self.reports else "NoProfiles")

    @after("GetChargingProfiles")
    async def report(self, request_id, **_):
        for n, (evse_id, source, profiles) in enumerate(self.reports):
            await self.call(self.calls.ReportChargingProfiles(
                request_id=request_id, charging_limit_source=source, evse_id=evse_id,
                charging_profile=profiles, tbc=n < len(self.reports) - 1))
        self.reported.set()


class SmartStation201(SmartHandlers, Station201):
    pass


class SmartStation21(SmartHandlers, Station21):
    pass


STATIONS = {"2.0.1": SmartStation201, "2.1": SmartStation21}


async def setup(server, station_id="CS1", version=None, *, transaction=True):
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(ChargingStation(id=station_id, registration_status="Accepted",
                                         ocpp_version=version))
        if transaction:
            work.session.add(Transaction(
                station_id=station_id, transaction_uid="TX-1", evse_number=1, connector_number=1,
                started_at=dt.datetime(2026, 11, 24, 9, tzinfo=dt.UTC)))


async def rows(server, model, *where):
    async with server.app[appkeys.DB].session() as session:
        return (await session.execute(select(model).where(*where).order_by(model.id))
                ).scalars().all()


def record(server):
    events = []

    async def collect(event):
        events.append(event)

    server.app[appkeys.EVENTS].subscribe(collect)
    return events


async def named(server, events, name):
    await server.app[appkeys.EVENTS].drain()
    return [e.data for e in events if e.name == name]


async def raw(server, station_id, version, action, payload):
    """Send one frame as a station that breaks the schema would; return the answer frame."""
    url = server.url(f"/ocpp/{station_id}").replace("http://", "ws://")
    async with server.http.ws_connect(url, protocols=(f"ocpp{version}",)) as ws:
        await ws.send_str(json.dumps([2, "bad-1", action, payload]))
        return json.loads((await ws.receive()).data)


async def command(server, headers, name, body, station="CS1"):
    async with server.http.post(server.url(f"/api/ocpp201/{name}/{station}/"), json=body,
                                headers=headers) as resp:
        return resp.status, await resp.json()


async def listing(server, path, headers):
    async with server.http.get(server.url(path), headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json())["results"]


@pytest.mark.parametrize("version", VERSIONS)
async def test_charging_limits_are_kept_per_evse_and_source_until_cleared(
        openv2x_server, openv2x_db_url, version):
    server = await openv2x_server()
    await setup(server, transaction=False)
    events = record(server)
    station = await connect(server, "CS1", version=version)
    calls = station.calls
    await station.call(calls.NotifyChargingLimit(
        evse_id=1, charging_limit={"charging_limit_source": "EMS", "is_grid_critical": False},
        charging_schedule=[SCHEDULE]))
    lower = {**SCHEDULE, "charging_schedule_period": [{"start_period": 0, "limit": 4000}]}
    await station.call(calls.NotifyChargingLimit(
        evse_id=1, charging_limit={"charging_limit_source": "EMS"}, charging_schedule=[lower]))
    await station.call(calls.NotifyChargingLimit(
        evse_id=1, charging_limit={"charging_limit_source": "SO", "is_grid_critical": True}))
    await station.call(calls.NotifyChargingLimit(
        evse_id=2, charging_limit={"charging_limit_source": "EMS"}))

    ems, so, ems2 = await rows(server, ChargingLimit)
    assert (ems.evse_number, ems.source, ems.schedules) == (1, "EMS", [lower])
    assert (so.source, so.grid_critical, so.schedules) == ("SO", True, None)
    assert ems2.evse_number == 2
    await station.call(calls.ClearedChargingLimit(charging_limit_source="EMS", evse_id=1))
    assert [r.cleared_at is not None for r in await rows(server, ChargingLimit)] == [
        True, False, False]
    await station.call(calls.ClearedChargingLimit(charging_limit_source="EMS"))
    assert [r.cleared_at is not None for r in await rows(server, ChargingLimit)] == [
        True, False, True]

    set_events = await named(server, events, "charging_limit.set")
    assert [(e["evse_id"], e["source"]) for e in set_events] == [
        (1, "EMS"), (1, "EMS"), (1, "SO"), (2, "EMS")]
    assert set_events[1]["schedules"][0]["charging_schedule_period"][0]["limit"] == 4000
    assert [e["cleared"] for e in await named(server, events, "charging_limit.cleared")] == [1, 1]
    headers = await server.auth_headers("support_l1")
    active = await listing(server, "/api/ocpp201/charginglimit/?cleared_at__isnull=true",
                           headers)
    assert [(r["source"], r["grid_critical"]) for r in active] == [("SO", True)]
    driver = await server.auth_headers("driver")
    async with server.http.get(server.url("/api/ocpp201/charginglimit/"), headers=driver) as resp:
        assert resp.status == 403
    await disconnect(station)


async def test_charging_limit_sources_of_2_1(openv2x_server):
    server = await openv2x_server()
    await setup(server, transaction=False)
    events = record(server)
    station = await connect(server, "CS1", version="2.1")
    await station.call(station.calls.NotifyChargingLimit(
        evse_id=1, charging_limit={"charging_limit_source": "PV-Inverter",
                                   "is_local_generation": True}))
    [limit] = await rows(server, ChargingLimit)
    assert limit.source == "PV-Inverter"
    [published] = await named(server, events, "charging_limit.set")
    assert published["local_generation"] is True
    await disconnect(station)


@pytest.mark.parametrize("version", VERSIONS)
async def test_bad_smart_charging_messages_get_callerrors_and_store_nothing(
        openv2x_server, openv2x_db_url, version):
    server = await openv2x_server()
    await setup(server, "BAD", transaction=False)
    cases = [
        ("NotifyEVChargingNeeds", {"evseId": 0, "chargingNeeds": {
            "requestedEnergyTransfer": "DC"}}, "PropertyConstraintViolation"),
        ("NotifyEVChargingNeeds", {"evseId": 1, "chargingNeeds": {}},
         "OccurrenceConstraintViolation"),
        ("NotifyEVChargingNeeds", {"evseId": 1, "chargingNeeds": {
            "requestedEnergyTransfer": "AC_three_phase", "departureTime": "2026-11-24T18:00:00",
            "acChargingParameters": {"energyAmount": 1, "evMinCurrent": 6, "evMaxCurrent": 32,
                                     "evMaxVoltage": 400}}}, "FormatViolation"),
        ("ReportChargingProfiles", {"requestId": 1, "chargingLimitSource": "CSO", "evseId": 1,
                                    "chargingProfile": [{
                                        "id": 1, "stackLevel": 0,
                                        "chargingProfilePurpose": "TxDefaultProfile",
                                        "chargingProfileKind": "Absolute",
                                        "validFrom": "yesterday",
                                        "chargingSchedule": [{
                                            "id": 1, "chargingRateUnit": "W",
                                            "chargingSchedulePeriod": [
                                                {"startPeriod": 0, "limit": 1}]}]}]},
         "FormatViolation"),
        ("NotifyEVChargingSchedule", {"timeBase": T0, "evseId": 1, "chargingSchedule": {
            "id": 1, "chargingRateUnit": "kW", "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 1}]}}, "PropertyConstraintViolation"),
        ("ClearedChargingLimit", {"evseId": 1}, "OccurrenceConstraintViolation"),
    ]
    if version == "2.1":
        cases.append(("NotifyChargingLimit", {"chargingLimit": {"chargingLimitSource": "x" * 21}},
                      "TypeConstraintViolation"))
    else:
        cases += [
            # An enumeration in 2.0.1, free text in 2.1.
            ("NotifyChargingLimit", {"chargingLimit": {"chargingLimitSource": "Grid"}},
             "PropertyConstraintViolation"),
            # 2.1 fields in a 2.0.1 message.
            ("NotifyEVChargingNeeds", {"evseId": 1, "chargingNeeds": {
                "requestedEnergyTransfer": "DC", "v2xChargingParameters": {"targetSoC": 80}}},
             "FormatViolation"),
        ]
    for action, payload, code in cases:
        answer = await raw(server, "BAD", version, action, payload)
        assert answer[:3] == [4, "bad-1", code], (action, payload, answer)
    assert await rows(server, ChargingLimit) == []
    assert await rows(server, ChargingNeed) == []
    assert await rows(server, ChargingProfile) == []


async def test_ev_charging_needs_of_2_0_1_are_stored_and_published(openv2x_server,
                                                                   openv2x_db_url):
    server = await openv2x_server()
    await setup(server)
    events = record(server)
    station = await connect(server, "CS1", version="2.0.1")
    answer = await station.call(station.calls.NotifyEVChargingNeeds(
        evse_id=1, max_schedule_tuples=3, charging_needs={
            "requested_energy_transfer": "AC_three_phase",
            "departure_time": "2026-11-24T18:00:00+01:00",
            "ac_charging_parameters": {"energy_amount": 22000, "ev_min_current": 6,
                                       "ev_max_current": 32, "ev_max_voltage": 400}}))
    assert answer.status == "Accepted"
    await station.call(station.calls.NotifyEVChargingNeeds(
        evse_id=2, charging_needs={
            "requested_energy_transfer": "DC",
            "dc_charging_parameters": {"ev_max_current": 200, "ev_max_voltage": 800,
                                       "ev_max_power": 150000, "ev_energy_capacity": 77000,
                                       "energy_amount": 50000, "state_of_charge": 35,
                                       "full_soc": 100, "bulk_soc": 80}}))
    ac, dc = await rows(server, ChargingNeed)
    [tx] = await rows(server, Transaction)
    assert (ac.transaction_id, ac.evse_number, ac.source, ac.energy_transfer) == (
        tx.id, 1, "ev", "AC_three_phase")
    assert ac.departure_time == dt.datetime(2026, 11, 24, 17, tzinfo=dt.UTC)
    assert (ac.energy_amount_wh, ac.min_current_a, ac.max_current_a, ac.max_voltage_v) == (
        22000, 6, 32, 400)
    assert ac.details == {"ac_charging_parameters": {
        "energy_amount": 22000, "ev_min_current": 6, "ev_max_current": 32,
        "ev_max_voltage": 400}, "max_schedule_tuples": 3}
    assert dc.transaction_id is None  # no session on EVSE 2
    assert (dc.max_power_w, dc.soc, dc.battery_capacity_wh, dc.energy_amount_wh) == (
        150000, 35, 77000, 50000)
    assert dc.details["dc_charging_parameters"]["bulk_soc"] == 80

    first, second = await named(server, events, "charging_needs.received")
    assert (first["transaction_id"], first["transaction_uid"], first["energy_amount_wh"],
            first["max_current_a"], first["departure_time"], first["bidirectional"]) == (
        tx.id, "TX-1", 22000, 32.0, "2026-11-24T17:00:00Z", False)
    assert (second["max_power_w"], second["soc"], second["battery_capacity_wh"]) == (
        150000.0, 35, 77000)
    headers = await server.auth_headers("cpo_manager")
    listed = await listing(server, f"/api/ocpp201/chargingneed/?transaction_id={tx.id}", headers)
    assert [n["energy_amount_wh"] for n in listed] == [22000]
    await disconnect(station)


async def test_ev_charging_needs_of_2_1_keep_v2x_and_der_parameters(openv2x_server,
                                                                    openv2x_db_url):
    server = await openv2x_server()
    await setup(server)
    events = record(server)
    station = await connect(server, "CS1", version="2.1")
    v2x = {"min_charge_power": 1400, "max_charge_power": 11000, "min_discharge_power": 1400,
           "max_discharge_power": 7400, "max_charge_current": 16, "max_voltage": 400,
           "ev_target_energy_request": 30000, "ev_min_energy_request": 5000,
           "ev_max_energy_request": 45000, "ev_min_v2x_energy_request": -10000,
           "ev_max_v2x_energy_request": 20000, "target_soc": 80}
    der = {"max_apparent_power": 11000, "ev_inverter_manufacturer": "ACME"}
    answer = await station.call(station.calls.NotifyEVChargingNeeds(
        evse_id=1, timestamp=T0, charging_needs={
            "requested_energy_transfer": "AC_BPT", "control_mode": "DynamicControl",
            "available_energy_transfer": ["AC_three_phase", "AC_BPT"],
            "departure_time": "2026-11-24T18:00:00Z",
            "v2x_charging_parameters": v2x, "der_charging_parameters": der}))
    assert answer.status == "Accepted"
    [need] = await rows(server, ChargingNeed)
    assert (need.energy_amount_wh, need.max_power_w, need.max_discharge_power_w,
            need.target_soc, need.max_current_a, need.max_voltage_v) == (
        30000, 11000, 7400, 80, 16, 400)
    assert need.details["v2x_charging_parameters"] == v2x
    assert need.details["der_charging_parameters"] == der
    assert need.details["timestamp"] == T0
    [published] = await named(server, events, "charging_needs.received")
    assert published["bidirectional"] is True
    assert (published["max_discharge_power_w"], published["min_discharge_power_w"],
            published["min_charge_power_w"], published["control_mode"]) == (
        7400.0, 1400, 1400, "DynamicControl")
    assert published["v2x"]["ev_max_v2x_energy_request"] == 20000
    assert published["der"] == der
    await disconnect(station)


@pytest.mark.parametrize("version", VERSIONS)
async def test_ev_charging_schedule_is_accepted_and_published(openv2x_server, version):
    server = await openv2x_server()
    await setup(server)
    events = record(server)
    station = await connect(server, "CS1", version=version)
    answer = await station.call(station.calls.NotifyEVChargingSchedule(
        time_base="2026-11-24T10:00:00+01:00", evse_id=1, charging_schedule=SCHEDULE))
    assert answer.status == "Accepted"
    [published] = await named(server, events, "ev_charging_schedule.received")
    [tx] = await rows(server, Transaction)
    assert (published["time_base"], published["transaction_id"], published["schedule"]) == (
        "2026-11-24T09:00:00Z", tx.id, SCHEDULE)
    await disconnect(station)


@pytest.mark.parametrize("version", VERSIONS)
async def test_profiles_set_replaced_cleared_and_composite_schedule(openv2x_server,
                                                                    openv2x_db_url, version):
    server = await openv2x_server()
    await setup(server)
    events = record(server)
    station = await connect(server, "CS1", version=version, station_cls=STATIONS[version])
    headers = await server.auth_headers("cpo_manager")
    second = {**SCHEDULE, "id": 2, "charging_schedule_period": [{"start_period": 0,
                                                                  "limit": 16}],
              "charging_rate_unit": "A"}
    profile = {"id": 7, "stack_level": 1, "charging_profile_purpose": "TxProfile",
               "charging_profile_kind": "Absolute", "transaction_id": "TX-1",
               "valid_from": T0, "charging_schedule": [SCHEDULE, second]}
    status, answer = await command(server, headers, "setchargingprofile",
                                   {"evse_id": 1, "charging_profile": profile})
    assert (status, answer) == (200, {"status": "Accepted"})
    assert station.received[-1][1]["charging_profile"]["charging_schedule"][1]["id"] == 2
    # The same id again replaces it on the station; a refused one is kept as refused.
    await command(server, headers, "setchargingprofile",
                  {"evse_id": 1, "charging_profile": {**profile, "stack_level": 2}})
    await command(server, headers, "setchargingprofile",
                  {"evse_id": 1, "charging_profile": {**profile, "id": 99}})
    # Sent by anyone (here another plugin through the dispatcher), the copy is kept too.
    default = {"id": 8, "stack_level": 0, "charging_profile_purpose": "TxDefaultProfile",
               "charging_profile_kind": "Relative",
               "charging_schedule": [{"id": 1, "charging_rate_unit": "W",
                                      "charging_schedule_period": [{"start_period": 0,
                                                                    "limit": 7400}]}]}
    await server.app[appkeys.DISPATCHER].call("CS1", "SetChargingProfile",
                                              {"evse_id": 0, "charging_profile": default}, 10)

    first, again, refused, fallback = await rows(server, ChargingProfile)
    [tx] = await rows(server, Transaction)
    assert (first.status, again.status, refused.status, fallback.status) == (
        "Replaced", "Accepted", "Rejected", "Accepted")
    assert (again.ocpp_profile_id, again.stack_level, again.purpose, again.kind,
            again.evse_number, again.transaction_id, again.source) == (
        7, 2, "TxProfile", "Absolute", 1, tx.id, "operator")
    assert again.valid_from == dt.datetime(2026, 11, 24, 10, tzinfo=dt.UTC)
    assert again.schedule == {"charging_schedules": [SCHEDULE, second], "transaction_id": "TX-1"}
    assert fallback.evse_number == 0 and fallback.sent_at is not None

    status, _ = await command(server, headers, "clearchargingprofile",
                              {"charging_profile_criteria": {"evse_id": 0}})
    assert status == 200
    assert [p.status for p in await rows(server, ChargingProfile)] == [
        "Replaced", "Accepted", "Rejected", "Cleared"]
    await command(server, headers, "clearchargingprofile", {"charging_profile_id": 7})
    assert [p.status for p in await rows(server, ChargingProfile)] == [
        "Replaced", "Cleared", "Rejected", "Cleared"]

    status, answer = await command(server, headers, "getcompositeschedule",
                                   {"duration": 3600, "evse_id": 1, "charging_rate_unit": "W"})
    assert status == 200 and answer["schedule"]["charging_schedule_period"][0]["limit"] == 7400
    [composite] = await named(server, events, "composite_schedule.received")
    assert (composite["evse_id"], composite["status"], composite["schedule"]["duration"]) == (
        1, "Accepted", 3600)
    sent = await named(server, events, "charging_profile.sent")
    assert [(e["profile_id"], e["status"]) for e in sent] == [
        (7, "Accepted"), (7, "Accepted"), (99, "Rejected"), (8, "Accepted")]
    assert [e["cleared"] for e in await named(server, events, "charging_profile.cleared")] == [
        1, 1]
    # What the REST API shows for a 2.x profile: its schedules as stored.
    async with server.http.get(server.url(f"/api/chargingprofile/{again.id}/"),
                               headers=headers) as resp:
        shown = await resp.json()
    assert shown["schedule"]["charging_schedules"][1]["charging_rate_unit"] == "A"
    await disconnect(station)


@pytest.mark.parametrize("version", VERSIONS)
async def test_reported_profiles_replace_earlier_reports(openv2x_server, openv2x_db_url,
                                                         version):
    server = await openv2x_server()
    await setup(server)
    events = record(server)
    station = await connect(server, "CS1", version=version, station_cls=STATIONS[version])
    headers = await server.auth_headers("cpo_manager")

    def reported(profile_id, **extra):
        return {"id": profile_id, "stack_level": 0, "charging_profile_purpose": "TxProfile",
                "charging_profile_kind": "Relative", "charging_schedule": [SCHEDULE], **extra}

    async def get_profiles(request_id, reports):
        station.reports, station.reported = reports, asyncio.Event()
        status, answer = await command(server, headers, "getchargingprofiles", {
            "request_id": request_id, "charging_profile": {"charging_limit_source": ["CSO"]}})
        assert (status, answer) == (200, {"status": "Accepted"})
        await asyncio.wait_for(station.reported.wait(), 5)

    # One report in two parts (tbc), for two EVSEs.
    await get_profiles(1, [(1, "CSO", [reported(10, transaction_id="TX-1")]),
                           (1, "CSO", [reported(11)]), (2, "CSO", [reported(20)])])
    [tx] = await rows(server, Transaction)
    stored = await rows(server, ChargingProfile)
    assert [(p.ocpp_profile_id, p.evse_number, p.source, p.status) for p in stored] == [
        (10, 1, "station", "Reported"), (11, 1, "station", "Reported"),
        (20, 2, "station", "Reported")]
    assert stored[0].transaction_id == tx.id
    assert stored[0].schedule["charging_limit_source"] == "CSO"
    assert stored[0].schedule["request_id"] == 1
    # A later report for EVSE 1 replaces what EVSE 1 had; EVSE 2 keeps its own.
    await get_profiles(2, [(1, "CSO", [reported(12)])])
    assert [(p.ocpp_profile_id, p.schedule["request_id"])
            for p in await rows(server, ChargingProfile)] == [(20, 1), (12, 2)]
    # The same part delivered twice is stored once.
    await station.call(station.calls.ReportChargingProfiles(
        request_id=2, charging_limit_source="CSO", evse_id=1, charging_profile=[reported(12)]))
    assert [p.ocpp_profile_id for p in await rows(server, ChargingProfile)] == [20, 12]
    published = await named(server, events, "charging_profiles.reported")
    assert [(e["request_id"], e["evse_id"], e["profile_ids"], e["tbc"]) for e in published] == [
        (1, 1, [10], True), (1, 1, [11], True), (1, 2, [20], False), (2, 1, [12], False),
        (2, 1, [12], False)]
    # A profile the station reports (and still holds) is cleared like one we set.
    await command(server, headers, "clearchargingprofile", {"charging_profile_id": 20})
    assert [p.status for p in await rows(server, ChargingProfile)] == ["Cleared", "Reported"]
    await disconnect(station)


async def test_external_constraints_are_reported_and_not_cleared_by_us(openv2x_server,
                                                                     openv2x_db_url):
    server = await openv2x_server()
    await setup(server)
    station = await connect(server, "CS1", version="2.0.1", station_cls=SmartStation201)
    external = {"id": -1, "stack_level": 0,
                "charging_profile_purpose": "ChargingStationExternalConstraints",
                "charging_profile_kind": "Absolute", "charging_schedule": [SCHEDULE]}
    await station.call(station.calls.ReportChargingProfiles(
        request_id=5, charging_limit_source="EMS", evse_id=0, charging_profile=[external]))
    headers = await server.auth_headers("cpo_manager")
    await command(server, headers, "clearchargingprofile", {})
    [row] = await rows(server, ChargingProfile)
    assert (row.purpose, row.ocpp_profile_id, row.status) == (
        "ChargingStationExternalConstraints", -1, "Reported")
    await disconnect(station)


async def test_stored_profiles_are_sent_to_2x_stations(openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    await setup(server, "CS1", "2.0.1")
    await setup(server, "CS21", "2.1", transaction=False)
    await setup(server, "CP16", "1.6", transaction=False)
    s201 = await connect(server, "CS1", version="2.0.1", station_cls=SmartStation201)
    s21 = await connect(server, "CS21", version="2.1", station_cls=SmartStation21)
    headers = await server.auth_headers("cpo_manager")

    async def store(body):
        async with server.http.post(server.url("/api/chargingprofile/"), json=body,
                                    headers=headers) as resp:
            return resp.status, await resp.json()

    # A 1.6-shaped profile goes to any 2.x station as one schedule.
    status, plain = await store({
        "stack_level": 1, "purpose": "ChargePointMaxProfile", "kind": "Recurring",
        "recurrency_kind": "Daily", "valid_to": "2027-01-01T00:00:00Z", "schedule": {
            "charging_rate_unit": "A", "duration": 86400, "start_schedule": T0,
            "charging_schedule_period": [{"start_period": 0, "limit": 32},
                                         {"start_period": 3600, "limit": 16.5,
                                          "number_phases": 1}]}})
    assert status == 201, plain
    for station, station_id in ((s201, "CS1"), (s21, "CS21")):
        status, answer = await command(server, headers, "sendchargingprofile",
                                       {"profile_id": plain["id"], "evse_id": 0}, station_id)
        assert (status, answer) == (200, {"status": "Accepted"})
        sent = station.received[-1][1]
        assert sent["evse_id"] == 0
        profile = sent["charging_profile"]
        assert (profile["id"], profile["charging_profile_purpose"], profile["recurrency_kind"],
                profile["valid_to"]) == (plain["id"], "ChargingStationMaxProfile", "Daily",
                                         "2027-01-01T00:00:00Z")
        [schedule] = profile["charging_schedule"]
        assert (schedule["id"], schedule["charging_rate_unit"], schedule["start_schedule"]) == (
            plain["id"], "A", T0)
        assert schedule["charging_schedule_period"][1] == {
            "start_period": 3600, "limit": 16.5, "number_phases": 1}

    # A 2.x-shaped profile: several schedules, V2X periods; only a 2.1 station takes these.
    v2x = {"stack_level": 2, "purpose": "TxProfile", "kind": "Absolute", "schedule": {
        "dyn_update_interval": 60,
        "charging_schedules": [
            {"id": 1, "charging_rate_unit": "W", "start_schedule": T0,
             "charging_schedule_period": [
                 {"start_period": 0, "operation_mode": "CentralSetpoint", "setpoint": -3000,
                  "discharge_limit": -7400, "limit": 11000},
                 {"start_period": 900, "limit": 11000}]},
            {"id": 2, "charging_rate_unit": "W", "start_schedule": T0,
             "charging_schedule_period": [{"start_period": 0, "limit": 7400}]}]}}
    status, stored = await store(v2x)
    assert status == 201, stored
    assert stored["schedule"]["charging_schedules"][0]["charging_schedule_period"][0][
        "setpoint"] == -3000
    status, answer = await command(server, headers, "sendchargingprofile", {
        "profile_id": stored["id"], "evse_id": 1, "transaction_id": "TX-9"}, "CS21")
    assert (status, answer) == (200, {"status": "Accepted"})
    profile = s21.received[-1][1]["charging_profile"]
    assert (profile["transaction_id"], profile["dyn_update_interval"]) == ("TX-9", 60)
    assert [s["id"] for s in profile["charging_schedule"]] == [1, 2]
    assert profile["charging_schedule"][0]["charging_schedule_period"][0]["setpoint"] == -3000
    status, answer = await command(server, headers, "sendchargingprofile",
                                   {"profile_id": stored["id"], "evse_id": 1}, "CS1")
    assert status == 400 and answer["error"]["code"] == "invalid_command"

    # Sent as a task; the copy on the station is recorded when it answers.
    status, answer = await command(server, headers, "sendchargingprofile", {
        "profile_id": plain["id"], "evse_id": 2, "sync": False}, "CS1")
    assert status == 202
    for _ in range(100):
        [task] = await rows(server, Task, Task.id == answer["task_id"])
        if task.status not in ("pending", "running"):
            break
        await asyncio.sleep(0.05)
    copies = await rows(server, ChargingProfile, ChargingProfile.station_id == "CS1")
    assert task.status == "succeeded"
    # Accepted again under the same id, the profile replaced the first copy on the station.
    assert [(c.evse_number, c.ocpp_profile_id, c.status) for c in copies] == [
        (0, plain["id"], "Replaced"), (2, plain["id"], "Accepted")]

    for body, station_id, expected in (
            ({"profile_id": 9999, "evse_id": 1}, "CS1", 404),
            ({"profile_id": plain["id"]}, "CS1", 400),
            ({"profile_id": plain["id"], "evse_id": 1, "transaction_id": 5}, "CS1", 400),
            ({"profile_id": plain["id"], "evse_id": 1, "connector_id": 1}, "CS1", 400),
            ({"profile_id": plain["id"], "evse_id": 1, "sync": "yes"}, "CS1", 400),
            ({"profile_id": plain["id"], "evse_id": 1}, "CP16", 409),
            ({"profile_id": plain["id"], "evse_id": 1}, "NOPE", 404)):
        status, _ = await command(server, headers, "sendchargingprofile", body, station_id)
        assert status == expected, (body, station_id)
    driver = await server.auth_headers("driver")
    status, _ = await command(server, driver, "sendchargingprofile",
                              {"profile_id": plain["id"], "evse_id": 1})
    assert status == 403
    await disconnect(s201)
    await disconnect(s21)


async def test_stored_2x_profiles_are_validated(openv2x_server):
    server = await openv2x_server()
    headers = await server.auth_headers("cpo_manager")
    period = {"start_period": 0, "limit": 11000}
    schedule = {"id": 1, "charging_rate_unit": "W", "charging_schedule_period": [period]}
    base = {"stack_level": 0, "purpose": "TxDefaultProfile", "kind": "Dynamic",
            "schedule": {"charging_schedules": [schedule]}}

    def with_period(**changes):
        changed = {k: v for k, v in {**period, **changes}.items() if v is not None}
        return {**base, "schedule": {"charging_schedules": [
            {**schedule, "charging_schedule_period": [changed]}]}}

    bad = [
        with_period(limit=None),  # ChargingOnly needs a limit
        {**base, "schedule": {"charging_schedules": [{**schedule, "charging_schedule_period": [
            {"start_period": 0, "operation_mode": "ChargingOnly"}]}]}},
        with_period(discharge_limit=500),  # discharge limits are negative
        with_period(operation_mode="Turbo"),
        with_period(setpoint_l2=1000),  # per-phase values cannot be sent
        with_period(v2x_freq_watt_curve=[]),
        {**base, "schedule": {"charging_schedules": [schedule, schedule]}},  # same id twice
        {**base, "schedule": {"charging_schedules": [{**schedule, "id": n} for n in range(4)]}},
        {**base, "schedule": {"charging_schedules": []}},
        {**base, "schedule": {"charging_schedules": [schedule], "transaction_id": "TX"}},
        {**base, "schedule": {"charging_schedules": [{**schedule, "charging_schedule_period": [
            {"start_period": 60, "limit": 1}]}]}},
        {**base, "purpose": "ChargingStationExternalConstraints"},
        {**base, "schedule": "fast"},
    ]
    for body in bad:
        async with server.http.post(server.url("/api/chargingprofile/"), json=body,
                                    headers=headers) as resp:
            assert resp.status == 400, body
    good = with_period(limit=None, operation_mode="LocalFrequency", v2x_baseline=0,
                       v2x_freq_watt_curve=[{"frequency": 49.8, "power": -7400},
                                            {"frequency": 50.2, "power": 7400}])
    good["purpose"] = "PriorityCharging"
    async with server.http.post(server.url("/api/chargingprofile/"), json=good,
                                headers=headers) as resp:
        assert resp.status == 201, await resp.text()
        stored = await resp.json()
    curve = stored["schedule"]["charging_schedules"][0]["charging_schedule_period"][0][
        "v2x_freq_watt_curve"]
    assert curve == [{"frequency": 49.8, "power": -7400}, {"frequency": 50.2, "power": 7400}]
