"""Seed 002 Table 1 acceptance scenarios in their OCPP 2.0.1 form, end to end, for 2.0.1 and
2.1, with the bundled simulator as the charging station; V2X setpoint following on 2.1; every
CSMS request answered; ``openv2x simulate --ocpp 2.0.1`` as a subprocess."""

import asyncio
import datetime as dt
import json
import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core import appkeys
from core.db.models import (
    ChargingNeed,
    ChargingStation,
    Connector,
    Evse,
    IdToken,
    MeterValue,
    Transaction,
)
from core.simulator.base import Counters, SimConfig
from core.simulator.fleet import run_station
from core.simulator.v2 import Charger, station_class
from plugins.ocpp201.commands import COMMANDS_21, COMMANDS_201
from plugins.ocpp201.models import DeviceVariable, TransactionEvent

VERSIONS = ["2.0.1", "2.1"]
DRIVER = {"id_token": "DRIVER1", "type": "ISO14443"}


async def wait_for(predicate, timeout=10.0):
    """Poll the database-backed condition until it holds (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await predicate()
        if result:
            return result
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def scalar(server, stmt):
    async with server.app[appkeys.DB].session() as session:
        return (await session.execute(stmt)).scalar()


async def rows(server, stmt):
    async with server.app[appkeys.DB].session() as session:
        return (await session.execute(stmt)).scalars().all()


def ws_url(server):
    return server.url("/ocpp").replace("http://", "ws://")


@pytest.fixture(params=VERSIONS)
async def site(request, openv2x_server, openv2x_db_url):
    """SIM1, a two-EVSE station of the parametrized version, booted against a real server."""
    server = await openv2x_server(settings={"ocpp": {"unknown_stations": "accept",
                                                     "heartbeat_interval": 10}})
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(IdToken(id_token="DRIVER1"))
    cfg = SimConfig(url=ws_url(server), ocpp=request.param, connectors=2, meter_interval=60,
                    id_tag="DRIVER1")
    stop, counters = asyncio.Event(), Counters()
    task = asyncio.create_task(run_station("SIM1", cfg, counters, stop, max_backoff=0.2))
    await wait_for(lambda: evse_status(server, 2))
    headers = await server.auth_headers("cpo_manager")
    yield server, headers, counters
    stop.set()
    await task
    assert counters.failed == 0 and not counters.refused, counters


async def command(server, headers, name, body):
    async with server.http.post(server.url(f"/api/ocpp201/{name}/SIM1/"), json=body,
                                headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def evse_status(server, number, status=None):
    query = select(Connector.status).join(Evse, Connector.evse_id == Evse.id).where(
        Evse.station_id == "SIM1", Evse.evse_number == number)
    found = await scalar(server, query)
    return found if status is None or found == status else None


async def last(server, column):
    return await scalar(server, select(column).where(ChargingStation.id == "SIM1"))


async def active(server):
    found = await rows(server, select(Transaction).where(Transaction.station_id == "SIM1",
                                                         Transaction.status == "Active"))
    return found[0] if found else None


async def completed(server, tx_id):
    found = await rows(server, select(Transaction).where(Transaction.id == tx_id,
                                                         Transaction.status == "Completed"))
    return found[0] if found else None


async def triggers(server, uid):
    return [(e.seq_no, e.event_type, e.trigger_reason) for e in await rows(
        server, select(TransactionEvent).where(TransactionEvent.transaction_uid == uid)
        .order_by(TransactionEvent.seq_no))]


def variable(component, name, value=None, evse=None):
    item = {"component": {"name": component, **({"evse": {"id": evse}} if evse else {})},
            "variable": {"name": name}}
    return item if value is None else {**item, "attribute_value": value}


async def test_boot_heartbeat_and_availability(site):
    server, headers, _ = site
    [station] = await rows(server, select(ChargingStation))
    assert (station.vendor, station.model, station.serial_number, station.connected) == (
        "OpenV2X", "Simulator", "SIM1", True)
    assert station.firmware_version and station.iccid
    # Heartbeats come at the interval the boot answer gave, or as configured since.
    answer = await command(server, headers, "getvariables", {"get_variable_data": [
        variable("OCPPCommCtrlr", "HeartbeatInterval")]})
    assert answer["get_variable_result"][0]["attribute_value"] == "10"
    await command(server, headers, "setvariables", {"set_variable_data": [
        variable("OCPPCommCtrlr", "HeartbeatInterval", "1")]})
    seen = await last(server, ChargingStation.last_seen)
    await wait_for(lambda: _later(server, ChargingStation.last_seen, seen))
    assert (await command(server, headers, "triggermessage",
                          {"requested_message": "Heartbeat"}))["status"] == "Accepted"
    # Availability changes are followed by a status notification per connector.
    assert (await command(server, headers, "changeavailability", {
        "operational_status": "Inoperative", "evse": {"id": 2}}))["status"] == "Accepted"
    await wait_for(lambda: evse_status(server, 2, "Unavailable"))
    assert await evse_status(server, 1) == "Available"
    await command(server, headers, "changeavailability", {"operational_status": "Operative",
                                                          "evse": {"id": 2}})
    await wait_for(lambda: evse_status(server, 2, "Available"))
    await command(server, headers, "changeavailability", {"operational_status": "Inoperative"})
    await wait_for(lambda: evse_status(server, 1, "Unavailable"))
    await wait_for(lambda: evse_status(server, 2, "Unavailable"))
    await command(server, headers, "changeavailability", {"operational_status": "Operative"})
    await wait_for(lambda: evse_status(server, 1, "Available"))


async def test_variables_report_and_meter_interval(site):
    server, headers, _ = site
    got = await command(server, headers, "getvariables", {"get_variable_data": [
        variable("SampledDataCtrlr", "TxUpdatedInterval"), variable("Nonsense", "X"),
        variable("SampledDataCtrlr", "Nonsense")]})
    assert [(r["attribute_status"], r.get("attribute_value")) for r in
            got["get_variable_result"]] == [("Accepted", "60"), ("UnknownComponent", None),
                                            ("UnknownVariable", None)]
    result = await command(server, headers, "setvariables", {"set_variable_data": [
        variable("SampledDataCtrlr", "TxUpdatedInterval", "1"),
        variable("OCPPCommCtrlr", "HeartbeatInterval", "soon"),
        variable("SecurityCtrlr", "Identity", "someone else"),
        variable("EVSE", "Power", "1", evse=1)]})
    assert [r["attribute_status"] for r in result["set_variable_result"]] == [
        "Accepted", "Rejected", "Rejected", "Rejected"]
    # The whole device model, reported in two parts.
    assert (await command(server, headers, "getbasereport", {
        "request_id": 5, "report_base": "FullInventory"}))["status"] == "Accepted"
    stored = await wait_for(lambda: rows(server, select(DeviceVariable).where(
        DeviceVariable.station_id == "SIM1", DeviceVariable.component_name == "EVSE",
        DeviceVariable.evse_id == 2)))
    assert {v.variable_name for v in stored} >= {"AvailabilityState", "Power"}
    # Remote start on EVSE 1: its meter values come every second, as just set.
    assert (await command(server, headers, "requeststarttransaction", {
        "id_token": DRIVER, "remote_start_id": 7, "evse_id": 1}))["status"] == "Accepted"
    tx = await wait_for(lambda: active(server))
    assert (tx.remote_start_id, tx.id_token, tx.evse_number) == (7, "DRIVER1", 1)
    await wait_for(lambda: scalar(server, select(func.count(func.distinct(
        MeterValue.timestamp))).where(MeterValue.transaction_id == tx.id,
                                      MeterValue.context == "Sample.Periodic").having(
        func.count(func.distinct(MeterValue.timestamp)) >= 3)), timeout=15)
    measurands = set(await rows(server, select(MeterValue.measurand).where(
        MeterValue.transaction_id == tx.id, MeterValue.context == "Sample.Periodic")))
    assert {"Energy.Active.Import.Register", "Power.Active.Import", "Current.Import",
            "Voltage", "SoC"} <= measurands
    assert (await command(server, headers, "requeststoptransaction", {
        "transaction_id": tx.transaction_uid}))["status"] == "Accepted"
    done = await wait_for(lambda: completed(server, tx.id))
    assert done.stop_reason == "Remote" and done.energy_wh > 0 and done.soc_last is not None
    events = await triggers(server, tx.transaction_uid)
    assert [seq for seq, _, _ in events] == list(range(len(events)))
    assert events[0][1:] == ("Started", "RemoteStart") and events[-1][1:] == ("Ended",
                                                                              "RemoteStop")
    await wait_for(lambda: evse_status(server, 1, "Available"))


async def test_local_start_with_authorize(openv2x_server, openv2x_db_url):
    """Plug in, Authorize, charge, unplug; an unknown card stops the sequence."""
    server = await openv2x_server(settings={"ocpp": {"unknown_stations": "accept"}})
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(IdToken(id_token="FLEET"))
    stop, counters = asyncio.Event(), Counters()
    stations = {f"F{version}-{n}": SimConfig(url=ws_url(server), ocpp=version, meter_interval=1,
                                             transactions=True, id_tag="FLEET", session_s=2)
                for version in VERSIONS for n in range(2)}
    stations["UNKNOWN"] = SimConfig(url=ws_url(server), ocpp="2.0.1", transactions=True,
                                    id_tag="STRANGER", session_s=5)
    tasks = [asyncio.create_task(run_station(station_id, cfg, counters, stop))
             for station_id, cfg in stations.items()]
    sessions = await wait_for(lambda: _completed_everywhere(server, set(stations)), timeout=20)
    stop.set()
    await asyncio.gather(*tasks)
    assert counters.failed == 0 and not counters.refused, counters
    refused = sessions.pop("UNKNOWN")
    assert {(s.id_token, s.stop_reason) for s in sessions.values()} == {
        ("FLEET", "EVDisconnected")}
    assert all(s.energy_wh > 0 for s in sessions.values())
    events = await triggers(server, sessions["F2.0.1-0"].transaction_uid)
    assert [t for _, _, t in events[:4]] == ["CablePluggedIn", "Authorized",
                                             "ChargingStateChanged", "MeterValuePeriodic"]
    assert events[-1][1:] == ("Ended", "EVCommunicationLost")
    needs = await rows(server, select(ChargingNeed).where(
        ChargingNeed.transaction_id == sessions["F2.0.1-0"].id))
    assert needs and needs[0].departure_time is not None and needs[0].energy_amount_wh > 0
    # A card the CSMS does not know: the session ends before any energy flows.
    assert refused.stop_reason == "DeAuthorized" and refused.energy_wh == 0
    assert "Authorized" not in [t for _, _, t in await triggers(server, refused.transaction_uid)]


async def _completed_everywhere(server, station_ids):
    """The first completed session of each station, once every station has one."""
    done = await rows(server, select(Transaction).where(Transaction.status == "Completed")
                      .order_by(Transaction.id))
    first = {}
    for tx in done:
        first.setdefault(tx.station_id, tx)
    return first if set(first) == station_ids else None


async def test_immediate_and_on_idle_reset_reboot(site):
    server, headers, counters = site
    before = await last(server, ChargingStation.last_boot)
    assert (await command(server, headers, "reset", {"type": "Immediate"}))["status"] == \
        "Accepted"
    await wait_for(lambda: _later(server, ChargingStation.last_boot, before))
    await wait_for(lambda: evse_status(server, 2))
    await command(server, headers, "requeststarttransaction", {"id_token": DRIVER,
                                                               "remote_start_id": 1})
    tx = await wait_for(lambda: active(server))
    before = await last(server, ChargingStation.last_boot)
    assert (await command(server, headers, "reset", {"type": "OnIdle"}))["status"] == \
        "Scheduled"
    assert await last(server, ChargingStation.last_boot) == before
    await command(server, headers, "requeststoptransaction",
                  {"transaction_id": tx.transaction_uid})
    await wait_for(lambda: completed(server, tx.id))
    await wait_for(lambda: _later(server, ChargingStation.last_boot, before))
    # Immediate during a session ends it first.
    await wait_for(lambda: evse_status(server, 2))
    await command(server, headers, "requeststarttransaction", {"id_token": DRIVER,
                                                               "remote_start_id": 2})
    tx = await wait_for(lambda: active(server))
    await command(server, headers, "reset", {"type": "Immediate"})
    done = await wait_for(lambda: completed(server, tx.id))
    assert done.stop_reason == "ImmediateReset"
    # The session is ended before the station reboots: its reconnection follows.

    async def rebooted_thrice():
        return counters.reconnects >= 3

    await wait_for(rebooted_thrice)


async def test_v2x_central_setpoint_is_followed(openv2x_server, openv2x_db_url):
    """OCPP 2.1: the reported power follows CentralSetpoint periods, discharging when
    negative."""
    server = await openv2x_server(settings={"ocpp": {"unknown_stations": "accept"}})
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(IdToken(id_token="DRIVER1"))
    cfg = SimConfig(url=ws_url(server), ocpp="2.1", meter_interval=1, id_tag="DRIVER1")
    stop, counters = asyncio.Event(), Counters()
    task = asyncio.create_task(run_station("SIM1", cfg, counters, stop, max_backoff=0.2))
    await wait_for(lambda: evse_status(server, 1))
    headers = await server.auth_headers("cpo_manager")
    await command(server, headers, "requeststarttransaction", {"id_token": DRIVER,
                                                               "remote_start_id": 3})
    tx = await wait_for(lambda: active(server))

    async def readings(measurand):
        return [float(v) for v in await rows(server, select(MeterValue.value).where(
            MeterValue.transaction_id == tx.id, MeterValue.measurand == measurand)
            .order_by(MeterValue.id))]

    await wait_for(lambda: readings("Power.Active.Import"))  # charging: the EV is plugged in
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    profile = {"id": 30, "stack_level": 1, "charging_profile_purpose": "TxProfile",
               "charging_profile_kind": "Absolute", "transaction_id": tx.transaction_uid,
               "charging_schedule": [{"id": 1, "start_schedule": start.isoformat(),
                                      "charging_rate_unit": "W", "charging_schedule_period": [
                                          {"start_period": 0, "operation_mode": "CentralSetpoint",
                                           "setpoint": -5000},
                                          {"start_period": 4, "operation_mode": "CentralSetpoint",
                                           "setpoint": 3000}]}]}
    assert (await command(server, headers, "setchargingprofile", {
        "evse_id": 1, "charging_profile": profile}))["status"] == "Accepted"

    async def discharged():
        exported = await readings("Energy.Active.Export.Register")
        return -5000 in await readings("Power.Active.Import") and len(set(exported)) >= 2

    await wait_for(discharged)
    await wait_for(lambda: _power_reached(readings, 3000), timeout=15)
    reasons = [t for _, _, t in await triggers(server, tx.transaction_uid)]
    assert "OperationModeChanged" in reasons and "ChargingRateChanged" in reasons
    [need] = await rows(server, select(ChargingNeed).where(ChargingNeed.transaction_id == tx.id))
    assert need.max_discharge_power_w == 11000
    stop.set()
    await task
    assert counters.failed == 0 and not counters.refused, counters


async def _power_reached(readings, watts):
    return watts in await readings("Power.Active.Import")


async def _later(server, column, moment):
    value = await last(server, column)
    return value is not None and (moment is None or value > moment)


# ---- every CSMS request is answered ---------------------------------------------------------

CSMS_REQUESTS = {"2.0.1": COMMANDS_201,
                 "2.1": (*COMMANDS_201, *COMMANDS_21, "NotifyWebPaymentStarted")}


def minimal(node, definitions):
    """The smallest payload a JSON schema accepts: required properties only."""
    if "$ref" in node:
        return minimal(definitions[node["$ref"].rsplit("/", 1)[-1]], definitions)
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if kind == "object":
        return {key: minimal(node["properties"][key], definitions)
                for key in node.get("required", [])}
    if kind == "array":
        return [minimal(node["items"], definitions)] * max(1, node.get("minItems", 1))
    if kind == "integer":
        return max(1, int(node.get("minimum", 1)))
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    return "2030-01-01T00:00:00Z" if node.get("format") == "date-time" else "x"


class Wire:
    """A connection that records what the station sends and never answers it."""

    def __init__(self):
        self.sent = []

    async def send(self, message):
        self.sent.append(json.loads(message))

    async def recv(self):
        await asyncio.Event().wait()


@pytest.mark.parametrize("version", VERSIONS)
async def test_every_csms_request_gets_a_valid_answer(version):
    import ocpp

    folder = Path(ocpp.__file__).parent / ("v201" if version == "2.0.1" else "v21") / "schemas"
    wire = Wire()
    station = station_class(version)(Charger.new("UNIT", SimConfig("ws://unused", ocpp=version)),
                                     wire, Counters())
    try:
        for n, action in enumerate(CSMS_REQUESTS[version]):
            schema = json.loads((folder / f"{action}Request.json").read_text())
            payload = minimal(schema, schema.get("definitions", {}))
            await station.route_message(json.dumps([2, str(n), action, payload]))
            answer = next(frame for frame in wire.sent if frame[1] == str(n))
            assert answer[0] == 3, (action, answer)
    finally:
        await station.cancel_tasks()


# ---- the command line -----------------------------------------------------------------------

async def test_simulate_command_against_a_running_server(openv2x_server, tmp_path):
    server = await openv2x_server(settings={"ocpp": {"unknown_stations": "accept"}})
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(IdToken(id_token="CLITAG"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENV2X_")}
    workdir = tmp_path / "cli"
    workdir.mkdir()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "core.cli", "simulate", "--url", ws_url(server), "--ocpp",
        "2.0.1", "--stations", "2", "--transactions", "--meter-interval", "1",
        "--session-seconds", "2", "--id-tag", "CLITAG", "--duration", "10", cwd=workdir,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0] == f"simulating 2 OCPP 2.0.1 station(s) against {ws_url(server)}"
    assert lines[-1].startswith("done: ") and ", 0 failed," in lines[-1]
    booted = await rows(server, select(ChargingStation.id).where(
        ChargingStation.last_boot.is_not(None)))
    assert set(booted) == {"SIM0001", "SIM0002"}
    sessions = await rows(server, select(Transaction).where(Transaction.status == "Completed"))
    assert {s.station_id for s in sessions} == {"SIM0001", "SIM0002"}
    assert all(s.id_token == "CLITAG" and s.energy_wh > 0 for s in sessions)
