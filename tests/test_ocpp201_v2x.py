"""OCPP 2.1 V2X over real WebSockets: operation modes, priority charging, dynamic schedules,
DER control, allowed energy transfer, payment, battery swap, event streams, and a station
that follows central setpoints (discharging included) and reports its power."""

import asyncio
import datetime as dt
import json

import pytest
from ocpp.routing import after, on
from ocpp.v21 import call_result as result21
from ocpp201_station import Station21, connect, disconnect
from sqlalchemy import select

from core import appkeys
from core.db.models import (
    ChargingNeed,
    ChargingProfile,
    ChargingStation,
    IdToken,
    MeterValue,
    Transaction,
)
from plugins.ocpp201.v2x import MODES, v2x_profile

T0 = "2026-11-24T10:00:00Z"
START = dt.datetime(2026, 11, 24, 10, tzinfo=dt.UTC)
# What a station needs in a period of each mode, as it checks a profile it receives.
NEEDS = {"ChargingOnly": {"limit"}, "CentralSetpoint": {"setpoint"},
         "CentralFrequency": {"setpoint"}, "ExternalSetpoint": set(), "ExternalLimits": set(),
         "LocalFrequency": set(), "LocalLoadBalancing": set(), "Idle": set()}
FORBIDDEN = {"ChargingOnly": {"setpoint", "discharge_limit"},
             "Idle": {"limit", "setpoint", "discharge_limit"}}


def refusal(period):
    """Why a station would refuse a period, or None (OCPP 2.1 block Q)."""
    mode = period.get("operation_mode", "ChargingOnly")
    given = set(period)
    if NEEDS[mode] - given or FORBIDDEN.get(mode, set()) & given:
        return f"{mode} period with {sorted(given)}"
    if mode == "LocalFrequency" and not {"v2x_freq_watt_curve", "v2x_signal_watt_curve"} & given:
        return "LocalFrequency without a curve"
    low, high = period.get("discharge_limit", float("-inf")), period.get("limit", float("inf"))
    if "setpoint" in period and not low <= period["setpoint"] <= high:
        return "setpoint outside its limits"
    return None


class V2xStation(Station21):
    """A bidirectional station: takes profiles it can follow and answers every V2X request."""

    transaction_id = None
    der_report = None

    @on("SetChargingProfile")
    def on_set_charging_profile(self, evse_id, charging_profile, **_):
        self.received.append(("SetChargingProfile", charging_profile))
        periods = [p for s in charging_profile["charging_schedule"]
                   for p in s["charging_schedule_period"]]
        problems = [r for r in map(refusal, periods) if r]
        if problems:
            return result21.SetChargingProfile(
                status="Rejected", status_info={"reason_code": "InvalidSchedule",
                                                "additional_info": problems[0][:500]})
        if charging_profile.get("transaction_id") == self.transaction_id:
            self.profile = charging_profile
        return result21.SetChargingProfile(status="Accepted")

    @on("UpdateDynamicSchedule")
    def on_update_dynamic_schedule(self, charging_profile_id, schedule_update, **_):
        self.received.append(("UpdateDynamicSchedule", schedule_update))
        return result21.UpdateDynamicSchedule(status="Accepted")

    @on("SetDERControl")
    def on_set_der_control(self, control_id, control_type, is_default, **settings):
        self.received.append(("SetDERControl", {"control_id": control_id, **settings}))
        return result21.SetDERControl(status="Accepted", superseded_ids=["FD-0"])

    @on("ClearDERControl")
    def on_clear_der_control(self, is_default, **_):
        return result21.ClearDERControl(status="Accepted")

    @on("GetDERControl")
    def on_get_der_control(self, request_id, **_):
        return result21.GetDERControl(status="Accepted" if self.der_report else "NotFound")

    @after("GetDERControl")
    async def report_der_control(self, request_id, **_):
        if self.der_report:
            await self.call(self.calls.ReportDERControl(request_id=request_id,
                                                        **self.der_report))

    @on("NotifyAllowedEnergyTransfer")
    def on_allowed_energy_transfer(self, transaction_id, allowed_energy_transfer, **_):
        self.received.append(("NotifyAllowedEnergyTransfer", allowed_energy_transfer))
        return result21.NotifyAllowedEnergyTransfer(status="Accepted")

    @on("AFRRSignal")
    def on_afrr_signal(self, timestamp, signal, **_):
        self.received.append(("AFRRSignal", signal))
        return result21.AFRRSignal(status="Accepted")

    @on("NotifyWebPaymentStarted")
    def on_web_payment_started(self, evse_id, timeout, **_):
        self.received.append(("NotifyWebPaymentStarted", {"evse_id": evse_id, "timeout": timeout}))
        return result21.NotifyWebPaymentStarted()


async def setup(server, *, version="2.1", transaction=True):
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(ChargingStation(id="CS1", registration_status="Accepted",
                                         ocpp_version=version))
        if transaction:
            work.session.add(Transaction(station_id="CS1", transaction_uid="TX-1", evse_number=1,
                                         connector_number=1, started_at=START))


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


async def command(server, headers, name, body):
    async with server.http.post(server.url(f"/api/ocpp201/{name}/CS1/"), json=body,
                                headers=headers) as resp:
        return resp.status, await resp.json()


async def raw(server, station_id, version, action, payload):
    url = server.url(f"/ocpp/{station_id}").replace("http://", "ws://")
    async with server.http.ws_connect(url, protocols=(f"ocpp{version}",)) as ws:
        await ws.send_str(json.dumps([2, "bad-1", action, payload]))
        return json.loads((await ws.receive()).data)


# One profile per operation mode, with discharging where the mode allows it.
MODE_PERIODS = {
    "ChargingOnly": [{"start_period": 0, "limit": 11000, "number_phases": 3},
                     {"start_period": 1800, "limit": 3680.5}],
    "CentralSetpoint": [{"start_period": 0, "setpoint": 7000, "limit": 11000},
                        {"start_period": 900, "setpoint": -5000, "discharge_limit": -7400,
                         "setpoint_reactive": -500}],
    "ExternalSetpoint": [{"start_period": 0, "limit": 11000, "discharge_limit": -7400}],
    "ExternalLimits": [{"start_period": 0}],
    "CentralFrequency": [{"start_period": 0, "setpoint": -1200, "limit": 7400,
                          "discharge_limit": -7400}],
    "LocalFrequency": [{"start_period": 0, "v2x_baseline": 0, "limit": 7400,
                        "discharge_limit": -7400,
                        "v2x_freq_watt_curve": [{"frequency": 49.8, "power": -7400},
                                                {"frequency": 50.0, "power": 0},
                                                {"frequency": 50.2, "power": 7400}],
                        "v2x_signal_watt_curve": [{"signal": -100, "power": -7400},
                                                  {"signal": 100, "power": 7400}]}],
    "LocalLoadBalancing": [{"start_period": 0, "limit": 11000, "discharge_limit": -11000}],
    "Idle": [{"start_period": 0, "evse_sleep": True},
             {"start_period": 3600, "preconditioning_request": True}],
}


def test_every_mode_has_an_example():
    assert set(MODE_PERIODS) == set(MODES)


@pytest.mark.parametrize("mode", sorted(MODE_PERIODS))
async def test_a_profile_of_every_operation_mode_reaches_the_station(openv2x_server,
                                                                     openv2x_db_url, mode):
    server = await openv2x_server()
    await setup(server)
    station = await connect(server, "CS1", version="2.1", station_cls=V2xStation)
    request = v2x_profile(mode, MODE_PERIODS[mode], profile_id=40, stack_level=3, evse_id=1,
                          transaction_id="TX-1", start_schedule=START, duration=7200)
    headers = await server.auth_headers("cpo_manager")
    status, answer = await command(server, headers, "setchargingprofile", request)
    assert (status, answer) == (200, {"status": "Accepted"}), answer
    _, received = station.received[-1]
    assert received == request["charging_profile"]
    [schedule] = received["charging_schedule"]
    assert {p["operation_mode"] for p in schedule["charging_schedule_period"]} == {mode}
    assert schedule["start_schedule"] == T0
    [stored] = await rows(server, ChargingProfile)
    [tx] = await rows(server, Transaction)
    assert (stored.status, stored.purpose, stored.transaction_id, stored.evse_number) == (
        "Accepted", "TxProfile", tx.id, 1)
    assert stored.schedule["charging_schedules"] == received["charging_schedule"]
    await disconnect(station)


async def test_the_station_refuses_what_a_mode_cannot_carry(openv2x_server):
    server = await openv2x_server()
    await setup(server)
    station = await connect(server, "CS1", version="2.1", station_cls=V2xStation)
    headers = await server.auth_headers("cpo_manager")
    # Built by hand (v2x_profile refuses it): a setpoint below its discharge limit.
    request = v2x_profile("CentralSetpoint", [{"start_period": 0, "setpoint": -1000}],
                          profile_id=41, stack_level=0)
    period = request["charging_profile"]["charging_schedule"][0]["charging_schedule_period"][0]
    period.update(setpoint=-9000, discharge_limit=-7400)
    status, answer = await command(server, headers, "setchargingprofile", request)
    assert status == 200 and answer["status"] == "Rejected"
    [stored] = await rows(server, ChargingProfile)
    assert stored.status == "Rejected"
    await disconnect(station)


def test_v2x_profiles_a_station_would_refuse_are_not_built():
    def build(mode, periods, **extra):
        return v2x_profile(mode, periods, profile_id=1, stack_level=0, **extra)

    bad = [
        ("Turbo", [{"start_period": 0}], {}),
        ("CentralSetpoint", [{"start_period": 0, "limit": 11000}], {}),
        ("CentralFrequency", [{"start_period": 0}], {}),
        ("ChargingOnly", [{"start_period": 0, "limit": 11000, "setpoint": 5000}], {}),
        ("ChargingOnly", [{"start_period": 0, "limit": -1}], {}),
        ("LocalFrequency", [{"start_period": 0, "v2x_baseline": 0}], {}),
        ("LocalFrequency", [{"start_period": 0, "v2x_freq_watt_curve": []}], {}),
        ("CentralSetpoint", [{"start_period": 0, "setpoint": -9000, "discharge_limit": -7400}],
         {}),
        ("CentralSetpoint", [{"start_period": 0, "setpoint": 1, "discharge_limit": 5}], {}),
        ("Idle", [{"start_period": 0, "limit": 0}], {}),
        ("ExternalSetpoint", [{"start_period": 0, "setpoint": 100}], {}),
        ("LocalLoadBalancing", [{"start_period": 0, "setpoint_l2": 100}], {}),
        ("CentralSetpoint", [{"start_period": 0, "setpoint": 1,
                              "operation_mode": "ChargingOnly"}], {}),
        ("ChargingOnly", [], {}),
        ("ChargingOnly", [{"start_period": 60, "limit": 1}], {}),
        ("ChargingOnly", [{"start_period": 0, "limit": 1}, {"start_period": 0, "limit": 2}], {}),
        ("ChargingOnly", [{"start_period": 0, "limit": 1}], {"purpose": "TxProfile"}),
        ("ChargingOnly", [{"start_period": 0, "limit": 1}], {"transaction_id": "TX-1"}),
        ("ChargingOnly", [{"start_period": 0, "limit": 1}], {"charging_rate_unit": "kW"}),
        ("ChargingOnly", [{"start_period": 0, "limit": 1}], {"purpose": "Everything"}),
    ]
    for mode, periods, extra in bad:
        with pytest.raises(ValueError):
            build(mode, periods, **extra)
    relative = build("Idle", [{"start_period": 0}], kind="Relative")
    assert "start_schedule" not in relative["charging_profile"]["charging_schedule"][0]
    assert relative["charging_profile"]["charging_profile_purpose"] == "TxDefaultProfile"


async def test_v2x_profiles_are_not_sent_to_2_0_1_stations(openv2x_server):
    server = await openv2x_server()
    await setup(server, version="2.0.1")
    station = await connect(server, "CS1", version="2.0.1")
    headers = await server.auth_headers("cpo_manager")
    request = v2x_profile("CentralSetpoint", [{"start_period": 0, "setpoint": -3000}],
                          profile_id=1, stack_level=0, evse_id=1, transaction_id="TX-1")
    status, answer = await command(server, headers, "setchargingprofile", request)
    assert (status, answer["error"]["code"]) == (400, "invalid_command")
    assert await rows(server, ChargingProfile) == []
    await disconnect(station)


async def test_priority_charging_is_requested_and_kept_with_the_sessions_needs(
        openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    await setup(server)
    events = record(server)
    station = await connect(server, "CS1", version="2.1", station_cls=V2xStation)
    headers = await server.auth_headers("cpo_manager")
    status, answer = await command(server, headers, "useprioritycharging",
                                   {"transaction_id": "TX-1", "activate": True})
    assert (status, answer) == (200, {"status": "Accepted"})
    [requested] = await named(server, events, "priority_charging.requested")
    assert (requested["transaction_id"], requested["activate"], requested["status"]) == (
        "TX-1", True, "Accepted")

    # The station confirms; the session has no needs yet, so the flag gets one of its own.
    assert await station.call(station.calls.NotifyPriorityCharging(
        transaction_id="TX-1", activated=True)) is not None
    [tx] = await rows(server, Transaction)
    [flag] = await rows(server, ChargingNeed)
    assert (flag.transaction_id, flag.source, flag.details["priority_charging"]) == (
        tx.id, "driver", True)
    # Once the EV told its needs, the newest need carries the flag.
    await station.call(station.calls.NotifyEVChargingNeeds(evse_id=1, charging_needs={
        "requested_energy_transfer": "DC_BPT",
        "v2x_charging_parameters": {"max_charge_power": 50000, "max_discharge_power": 10000}}))
    await station.call(station.calls.NotifyPriorityCharging(transaction_id="TX-1",
                                                            activated=False))
    flag, ev = await rows(server, ChargingNeed)
    assert (flag.details["priority_charging"], ev.details["priority_charging"]) == (True, False)
    assert ev.details["v2x_charging_parameters"]["max_discharge_power"] == 10000
    # A transaction we do not know is published, not stored.
    await station.call(station.calls.NotifyPriorityCharging(transaction_id="TX-404",
                                                            activated=True))
    assert len(await rows(server, ChargingNeed)) == 2
    notified = await named(server, events, "priority_charging.notified")
    assert [(e["transaction_uid"], e["transaction_id"], e["activated"]) for e in notified] == [
        ("TX-1", tx.id, True), ("TX-1", tx.id, False), ("TX-404", None, True)]
    await disconnect(station)


async def test_dynamic_schedules_are_updated_and_pulled(openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    await setup(server)
    events = record(server)
    station = await connect(server, "CS1", version="2.1", station_cls=V2xStation)
    headers = await server.auth_headers("cpo_manager")
    request = v2x_profile("CentralSetpoint", [{"start_period": 0, "setpoint": 2000,
                                               "limit": 11000, "discharge_limit": -7400}],
                          profile_id=5, stack_level=1, evse_id=1, transaction_id="TX-1",
                          kind="Dynamic", dyn_update_interval=60)
    assert (await command(server, headers, "setchargingprofile", request))[0] == 200

    pulled = await station.call(station.calls.PullDynamicScheduleUpdate(charging_profile_id=5))
    assert (pulled.status, pulled.schedule_update) == (
        "Accepted", {"limit": 11000, "discharge_limit": -7400, "setpoint": 2000})
    status, answer = await command(server, headers, "updatedynamicschedule", {
        "charging_profile_id": 5, "schedule_update": {"setpoint": -3000, "limit": 11000}})
    assert (status, answer) == (200, {"status": "Accepted"})
    assert station.received[-1] == ("UpdateDynamicSchedule", {"setpoint": -3000,
                                                              "limit": 11000})
    pulled = await station.call(station.calls.PullDynamicScheduleUpdate(charging_profile_id=5))
    assert pulled.schedule_update == {"setpoint": -3000, "limit": 11000}
    [profile] = await rows(server, ChargingProfile)
    assert profile.schedule["dynamic_update"] == {"setpoint": -3000, "limit": 11000}
    unknown = await station.call(station.calls.PullDynamicScheduleUpdate(charging_profile_id=77))
    assert (unknown.status, unknown.status_info["reason_code"]) == ("Rejected", "UnknownProfile")
    assert [e["profile_id"] for e in await named(server, events, "dynamic_schedule.pulled")] == [
        5, 5, 77]
    [updated] = await named(server, events, "dynamic_schedule.updated")
    assert (updated["charging_profile_id"], updated["status"]) == (5, "Accepted")
    await disconnect(station)


async def test_der_control_in_both_directions(openv2x_server):
    server = await openv2x_server()
    await setup(server, transaction=False)
    events = record(server)
    station = await connect(server, "CS1", version="2.1", station_cls=V2xStation)
    headers = await server.auth_headers("cpo_manager")
    droop = {"priority": 1, "over_freq": 50.2, "under_freq": 49.8, "over_droop": 5,
             "under_droop": 5, "response_time": 2}
    status, answer = await command(server, headers, "setdercontrol", {
        "is_default": False, "control_id": "FD-1", "control_type": "FreqDroop",
        "freq_droop": droop})
    assert (status, answer) == (200, {"status": "Accepted", "superseded_ids": ["FD-0"]})
    assert station.received[-1] == ("SetDERControl", {"control_id": "FD-1", "freq_droop": droop})
    station.der_report = {"freq_droop": [{"id": "FD-1", "is_default": False,
                                          "is_superseded": False, "freq_droop": droop}]}
    status, answer = await command(server, headers, "getdercontrol",
                                   {"request_id": 3, "control_type": "FreqDroop"})
    assert (status, answer) == (200, {"status": "Accepted"})
    status, answer = await command(server, headers, "cleardercontrol",
                                   {"is_default": False, "control_id": "FD-1"})
    assert (status, answer) == (200, {"status": "Accepted"})

    await station.call(station.calls.NotifyDERStartStop(
        control_id="FD-1", started=True, timestamp=T0, superseded_ids=["FD-0"]))
    await station.call(station.calls.NotifyDERAlarm(
        control_type="HVMustTrip", timestamp="2026-11-24T11:00:00+01:00",
        grid_event_fault="OverVoltage", extra_info="253 V"))
    await station.call(station.calls.NotifyDERAlarm(control_type="HVMustTrip", timestamp=T0,
                                                    alarm_ended=True))
    for _ in range(50):
        if await named(server, events, "der.control_reported"):
            break
        await asyncio.sleep(0.02)

    [set_] = await named(server, events, "der.control_set")
    assert (set_["control_id"], set_["status"], set_["superseded_ids"], set_["freq_droop"]) == (
        "FD-1", "Accepted", ["FD-0"], droop)
    [requested] = await named(server, events, "der.control_requested")
    assert (requested["request_id"], requested["status"]) == (3, "Accepted")
    [cleared] = await named(server, events, "der.control_cleared")
    assert (cleared["control_id"], cleared["status"]) == ("FD-1", "Accepted")
    [reported] = await named(server, events, "der.control_reported")
    assert (reported["request_id"], reported["controls"]) == (3, station.der_report)
    [started] = await named(server, events, "der.start_stop")
    assert (started["control_id"], started["started"], started["superseded_ids"]) == (
        "FD-1", True, ["FD-0"])
    alarms = await named(server, events, "der.alarm")
    assert [(a["timestamp"], a["grid_event_fault"], a["alarm_ended"]) for a in alarms] == [
        (T0, "OverVoltage", False), (T0, None, True)]
    await disconnect(station)


async def test_allowed_energy_transfer_afrr_and_web_payment_are_published(openv2x_server):
    server = await openv2x_server()
    await setup(server)
    events = record(server)
    station = await connect(server, "CS1", version="2.1", station_cls=V2xStation)
    headers = await server.auth_headers("cpo_manager")
    status, answer = await command(server, headers, "notifyallowedenergytransfer", {
        "transaction_id": "TX-1", "allowed_energy_transfer": ["AC_three_phase", "AC_BPT"]})
    assert (status, answer) == (200, {"status": "Accepted"})
    status, answer = await command(server, headers, "afrrsignal",
                                   {"timestamp": T0, "signal": -40})
    assert (status, answer) == (200, {"status": "Accepted"})
    # Not a REST command yet; another plugin sends it through the dispatcher.
    assert await server.app[appkeys.DISPATCHER].call(
        "CS1", "NotifyWebPaymentStarted", {"evse_id": 1, "timeout": 120}, 10) == {}
    assert [name for name, _ in station.received] == [
        "NotifyAllowedEnergyTransfer", "AFRRSignal", "NotifyWebPaymentStarted"]
    [allowed] = await named(server, events, "allowed_energy_transfer.sent")
    assert (allowed["transaction_id"], allowed["allowed_energy_transfer"], allowed["status"]) == (
        "TX-1", ["AC_three_phase", "AC_BPT"], "Accepted")
    [afrr] = await named(server, events, "afrr.signal_sent")
    assert (afrr["signal"], afrr["status"]) == (-40, "Accepted")
    [web] = await named(server, events, "web_payment.started")
    assert (web["evse_id"], web["timeout"]) == (1, 120)
    await disconnect(station)


async def test_payment_battery_swap_and_event_streams(openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    await setup(server)
    events = record(server)
    station = await connect(server, "CS1", version="2.1", station_cls=V2xStation)
    calls = station.calls
    assert await station.call(calls.NotifySettlement(
        transaction_id="TX-1", psp_ref="PSP-77", status="Settled", settlement_amount=12.34,
        settlement_time=T0, vat_number="PT123456789")) is not None
    checked = await station.call(calls.VatNumberValidation(vat_number="PT123456789", evse_id=1))
    assert (checked.status, checked.vat_number, checked.evse_id,
            checked.status_info["reason_code"]) == ("Rejected", "PT123456789", 1, "NotVerifiable")
    malformed = await station.call(calls.VatNumberValidation(vat_number="12-34"))
    assert (malformed.status, malformed.evse_id, malformed.status_info["reason_code"]) == (
        "Rejected", None, "InvalidFormat")
    await station.call(calls.BatterySwap(
        event_type="BatteryIn", request_id=4, id_token={"id_token": "SWAP-1", "type": "Central"},
        battery_data=[{"evse_id": 1, "serial_number": "BAT-9", "so_c": 81.5, "so_h": 97}]))
    opened = await station.call(calls.OpenPeriodicEventStream(constant_stream_data={
        "id": 2, "variable_monitoring_id": 9, "params": {"interval": 10, "values": 6}}))
    assert opened.status == "Accepted"
    # The stream's data comes as SEND frames (message type 6): handled, never answered.
    await station.ws.send_str('[6, "s-1", "NotifyPeriodicEventStream", {"id": 2, "pending": 0, '
                              '"basetime": "2026-11-24T10:00:00Z", "data": '
                              '[{"t": 0, "v": "21.5"}, {"t": 10, "v": "21.7"}]}]')
    await station.ws.send_str('[6, "s-2", "NotifyPeriodicEventStream", {"id": "bad"}]')
    await station.call(calls.ClosePeriodicEventStream(id=2))

    [tx] = await rows(server, Transaction)
    [settled] = await named(server, events, "payment.settled")
    assert (settled["transaction_id"], settled["amount"], settled["psp_ref"],
            settled["status"], settled["settled_at"], settled["vat_number"]) == (
        tx.id, "12.34", "PSP-77", "Settled", T0, "PT123456789")
    vat = await named(server, events, "vat_number.validation_requested")
    assert [v["reason"] for v in vat] == ["NotVerifiable", "InvalidFormat"]
    [swap] = await named(server, events, "battery_swap.reported")
    assert (swap["event_type"], swap["id_token"], swap["batteries"][0]["soc"]) == (
        "BatteryIn", "SWAP-1", 81.5)
    [opened] = await named(server, events, "periodic_event_stream.opened")
    assert (opened["stream_id"], opened["interval"]) == (2, 10)
    [streamed] = await named(server, events, "periodic_event_stream.data")
    assert streamed["values"] == [{"at": "2026-11-24T10:00:00Z", "value": "21.5"},
                                  {"at": "2026-11-24T10:00:10Z", "value": "21.7"}]
    [closed] = await named(server, events, "periodic_event_stream.closed")
    assert closed["stream_id"] == 2
    await disconnect(station)


async def test_bad_v2x_messages_get_callerrors_and_store_nothing(openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    await setup(server)
    cases = [
        ("NotifyPriorityCharging", {"transactionId": "TX-1", "activated": "yes"},
         "TypeConstraintViolation"),
        ("NotifyPriorityCharging", {"transactionId": "TX-1"}, "OccurrenceConstraintViolation"),
        ("NotifySettlement", {"pspRef": "P", "status": "Maybe", "settlementAmount": 1,
                              "settlementTime": T0}, "PropertyConstraintViolation"),
        ("NotifyDERAlarm", {"controlType": "Lightning", "timestamp": T0},
         "PropertyConstraintViolation"),
        ("BatterySwap", {"eventType": "BatteryIn", "requestId": 1,
                         "idToken": {"idToken": "A", "type": "Central"}},
         "OccurrenceConstraintViolation"),
        ("PullDynamicScheduleUpdate", {"chargingProfileId": "five"}, "TypeConstraintViolation"),
        ("NotifyDERStartStop", {"controlId": "C", "started": True, "timestamp": "noon"},
         "FormatViolation"),
    ]
    for action, payload, code in cases:
        answer = await raw(server, "CS1", "2.1", action, payload)
        assert answer[:3] == [4, "bad-1", code], (action, answer)
    # 2.1 messages from a 2.0.1 station are not OCPP 2.0.1.
    for action, payload in (("NotifyPriorityCharging", {"transactionId": "TX-1",
                                                        "activated": True}),
                            ("NotifyDERAlarm", {"controlType": "HVMustTrip", "timestamp": T0})):
        answer = await raw(server, "CS1", "2.0.1", action, payload)
        assert answer[:3] == [4, "bad-1", "NotSupported"]
    assert await rows(server, ChargingNeed) == []


class SetpointFollower(V2xStation):
    """An EV and station in a session that follow the TxProfile's central setpoints and
    report what they do: Power.Active.Import (negative while discharging) and both energy
    registers."""

    transaction_id = "TX-V2G"
    profile = None

    def setpoint(self, at):
        [schedule] = self.profile["charging_schedule"]
        offset = (at - dt.datetime.fromisoformat(schedule["start_schedule"])).total_seconds()
        current = [p for p in schedule["charging_schedule_period"] if p["start_period"] <= offset]
        return current[-1]["setpoint"]

    async def run(self, start, step, count):
        imported = exported = 0.0
        power = self.setpoint(start)
        for n in range(count + 1):
            at = start + dt.timedelta(seconds=step * n)
            if n:
                energy = power * step / 3600
                imported, exported = imported + max(energy, 0), exported + max(-energy, 0)
                power = self.setpoint(at)
            await self.call(self.calls.TransactionEvent(
                event_type="Updated", timestamp=at.isoformat(), trigger_reason="MeterValuePeriodic",
                seq_no=n + 1, transaction_info={"transaction_id": self.transaction_id,
                                                "charging_state": "Charging",
                                                "operation_mode": "CentralSetpoint"},
                meter_value=[{"timestamp": at.isoformat(), "sampled_value": [
                    {"value": power, "measurand": "Power.Active.Import",
                     "unit_of_measure": {"unit": "W"}},
                    {"value": round(imported, 3), "measurand": "Energy.Active.Import.Register",
                     "unit_of_measure": {"unit": "Wh"}},
                    {"value": round(exported, 3), "measurand": "Energy.Active.Export.Register",
                     "unit_of_measure": {"unit": "Wh"}}]}]))


async def test_station_follows_central_setpoints_into_discharge(openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    await setup(server, transaction=False)
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(IdToken(id_token="V2G-DRIVER"))
    station = await connect(server, "CS1", version="2.1", station_cls=SetpointFollower)
    await station.call(station.calls.TransactionEvent(
        event_type="Started", timestamp=T0, trigger_reason="Authorized", seq_no=0,
        transaction_info={"transaction_id": "TX-V2G", "charging_state": "EVConnected"},
        evse={"id": 1, "connector_id": 1},
        id_token={"id_token": "V2G-DRIVER", "type": "ISO14443"}))
    # Charge at 7 kW, discharge 5 kW, discharge at the 11 kW limit, charge 3 kW again.
    setpoints = [(0, 7000), (900, -5000), (1800, -11000), (2700, 3000)]
    request = v2x_profile(
        "CentralSetpoint",
        [{"start_period": start, "setpoint": value, "limit": 11000, "discharge_limit": -11000}
         for start, value in setpoints],
        profile_id=100, stack_level=5, evse_id=1, transaction_id="TX-V2G", start_schedule=START)
    headers = await server.auth_headers("cpo_manager")
    status, answer = await command(server, headers, "setchargingprofile", request)
    assert (status, answer) == (200, {"status": "Accepted"})
    assert station.profile is not None
    await station.run(START, step=300, count=12)

    [tx] = await rows(server, Transaction)
    [profile] = await rows(server, ChargingProfile)
    assert (profile.transaction_id, profile.status) == (tx.id, "Accepted")
    samples = await rows(server, MeterValue, MeterValue.transaction_id == tx.id)

    def series(measurand):
        chosen = sorted((s.timestamp, s.value) for s in samples if s.measurand == measurand)
        return [(int((at - START).total_seconds()), float(value)) for at, value in chosen]

    def expected_setpoint(offset):
        return [value for start, value in setpoints if start <= offset][-1]

    power = series("Power.Active.Import")
    assert [t for t, _ in power] == list(range(0, 3601, 300))
    assert all(value == expected_setpoint(t) for t, value in power)
    assert min(value for _, value in power) == -11000
    exported = dict(series("Energy.Active.Export.Register"))
    imported = dict(series("Energy.Active.Import.Register"))
    # Export grows exactly while discharging; import stays put meanwhile.
    for t in range(300, 3601, 300):
        discharging = expected_setpoint(t - 300) < 0
        assert (exported[t] > exported[t - 300]) == discharging, t
        assert (imported[t] == imported[t - 300]) == discharging, t
    assert exported[3600] == pytest.approx(5000 * 0.25 + 11000 * 0.25)
    assert imported[3600] == pytest.approx(7000 * 0.25 + 3000 * 0.25)
    await disconnect(station)
