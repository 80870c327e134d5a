"""OCPP 2.x availability, firmware, logs, security events, NotifyEvent, monitoring, customer
information, display messages and DataTransfer over real WebSockets, 2.0.1 and 2.1."""

import asyncio
import json
from decimal import Decimal

import pytest
from ocpp.routing import after, on
from ocpp201_station import Station21, Station201, command, connect, disconnect, recorder, refused
from sqlalchemy import select

from core import appkeys
from core.db.models import ChargingStation, SecurityEvent
from core.plugins import hookimpl
from core.stations import DataTransferReply
from plugins.ocpp201.models import CustomerReport, DeviceVariable, DisplayMessage, VariableMonitor

VERSIONS = ["2.0.1", "2.1"]
T0 = "2026-11-24T10:00:00Z"
T1 = "2026-11-24T10:05:00Z"
HEATER = {"component": {"name": "Heater", "evse": {"id": 1}},
          "variable": {"name": "Temperature"}}
# How the test station answers ClearVariableMonitoring, by monitor id (default Accepted).
CLEAR_ANSWERS = {555: "Rejected", 901: "NotFound"}


class Maintenance:
    """The maintenance requests a well-behaved station answers; monitors get ids from 100."""

    next_monitor = 100

    @on("SetVariableMonitoring")
    def on_set_variable_monitoring(self, set_monitoring_data, **_):
        self.received.append(("SetVariableMonitoring", set_monitoring_data))
        results = []
        for item in set_monitoring_data:
            result = {key: item[key] for key in ("type", "severity", "component", "variable")}
            if item["variable"]["name"] == "Unmonitorable":
                result["status"] = "UnsupportedMonitorType"
            else:
                result.update(status="Accepted", id=item.get("id", self.next_monitor))
                self.next_monitor += 1
            results.append(result)
        return self.results.SetVariableMonitoring(set_monitoring_result=results)

    @on("ClearVariableMonitoring")
    def on_clear_variable_monitoring(self, id, **_):
        return self.results.ClearVariableMonitoring(clear_monitoring_result=[
            {"id": monitor, "status": CLEAR_ANSWERS.get(monitor, "Accepted")} for monitor in id])

    @on("SetMonitoringBase")
    def on_set_monitoring_base(self, monitoring_base, **_):
        return self.results.SetMonitoringBase(status="Accepted")

    @on("SetMonitoringLevel")
    def on_set_monitoring_level(self, severity, **_):
        return self.results.SetMonitoringLevel(status="Accepted" if severity <= 9 else "Rejected")

    @on("GetMonitoringReport")
    def on_get_monitoring_report(self, request_id, **_):
        return self.results.GetMonitoringReport(status="Accepted")

    @on("SetDisplayMessage")
    def on_set_display_message(self, message, **_):
        status = "NotSupportedPriority" if message["priority"] == "AlwaysFront" else "Accepted"
        return self.results.SetDisplayMessage(status=status)

    @on("ClearDisplayMessage")
    def on_clear_display_message(self, id, **_):
        return self.results.ClearDisplayMessage(status="Unknown" if id >= 500 else "Accepted")

    @on("GetDisplayMessages")
    def on_get_display_messages(self, request_id, **_):
        self.received.append(("GetDisplayMessages", {"request_id": request_id}))
        return self.results.GetDisplayMessages(status="Accepted")

    @on("UnlockConnector")
    def on_unlock_connector(self, evse_id, connector_id, **_):
        status = "Unlocked" if connector_id == 1 else "UnknownConnector"
        return self.results.UnlockConnector(status=status)

    @on("TriggerMessage")
    def on_trigger_message(self, requested_message, **_):
        self.received.append(("TriggerMessage", {"requested_message": requested_message}))
        return self.results.TriggerMessage(status="Accepted")

    @after("TriggerMessage")
    async def after_trigger_message(self, requested_message, **_):
        if requested_message == "FirmwareStatusNotification":
            await self.call(self.calls.FirmwareStatusNotification(status="Idle"))

    @on("UpdateFirmware")
    def on_update_firmware(self, request_id, firmware, **_):
        return self.results.UpdateFirmware(status="Accepted")

    @on("GetLog")
    def on_get_log(self, request_id, log, log_type, **_):
        return self.results.GetLog(status="Accepted", filename=f"{log_type}-{request_id}.tgz")

    @on("CustomerInformation")
    def on_customer_information(self, request_id, report, clear, **_):
        return self.results.CustomerInformation(status="Accepted")

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id, data=None, **_):
        return self.results.DataTransfer(status="Accepted", data={"echo": data})


class Station201M(Maintenance, Station201):
    __test__ = False


class Station21M(Maintenance, Station21):
    __test__ = False


async def setup(server, version):
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(ChargingStation(id="CS1", registration_status="Accepted"))
    cls = Station201M if version == "2.0.1" else Station21M
    return await connect(server, "CS1", version=version, station_cls=cls)


async def rows(server, model, *where):
    async with server.app[appkeys.DB].session() as session:
        return (await session.execute(
            select(model).where(*where).order_by(model.id))).scalars().all()


async def station_row(server):
    async with server.app[appkeys.DB].session() as session:
        return await session.get(ChargingStation, "CS1")


@pytest.mark.parametrize("version", VERSIONS)
async def test_firmware_and_log_status_are_kept_on_the_station(openv2x_server, openv2x_db_url,
                                                               version):
    server = await openv2x_server()
    station = await setup(server, version)
    published = recorder(server)
    calls = station.calls
    assert await command(server, "updatefirmware", {
        "request_id": 4, "firmware": {"location": "https://fw.example/x2.bin",
                                      "retrieve_date_time": T0}}) == {"status": "Accepted"}
    await station.call(calls.FirmwareStatusNotification(status="Downloading", request_id=4))
    assert (await station_row(server)).firmware_status == "Downloading"
    await station.call(calls.FirmwareStatusNotification(status="Installed", request_id=4))
    cp = await station_row(server)
    assert cp.firmware_status == "Installed" and cp.firmware_status_at is not None
    await station.call(calls.PublishFirmwareStatusNotification(
        status="Published", location=["http://lc.local/fw.bin"], request_id=5))
    assert (await station_row(server)).firmware_status == "Published"

    answer = await command(server, "getlog", {
        "request_id": 6, "log_type": "SecurityLog",
        "log": {"remote_location": "ftp://logs.example/up"}})
    assert answer == {"status": "Accepted", "filename": "SecurityLog-6.tgz"}
    await station.call(calls.LogStatusNotification(status="Uploading", request_id=6))
    await station.call(calls.LogStatusNotification(status="Uploaded", request_id=6))
    cp = await station_row(server)
    assert (cp.log_status, cp.log_status_at is not None) == ("Uploaded", True)

    assert await published("station.firmware_update_requested") == [
        {"id": "CS1", "request_id": 4, "status": "Accepted"}]
    assert [(e["status"], e["request_id"]) for e in await published("station.firmware_status")
            ] == [("Downloading", 4), ("Installed", 4)]
    assert await published("station.publish_firmware_status") == [
        {"id": "CS1", "status": "Published", "request_id": 5,
         "location": ["http://lc.local/fw.bin"]}]
    assert await published("station.log_requested") == [
        {"id": "CS1", "request_id": 6, "log_type": "SecurityLog", "status": "Accepted",
         "filename": "SecurityLog-6.tgz"}]
    assert [e["status"] for e in await published("station.log_status")] == [
        "Uploading", "Uploaded"]
    await disconnect(station)


@pytest.mark.parametrize("version", VERSIONS)
async def test_security_events_make_the_security_log(openv2x_server, openv2x_db_url, version):
    server = await openv2x_server()
    station = await setup(server, version)
    published = recorder(server)
    calls = station.calls
    await station.call(calls.SecurityEventNotification(
        type="FirmwareUpdated", timestamp=T0))
    tamper = calls.SecurityEventNotification(type="TamperDetectionActivated",
                                             timestamp="2026-11-24T11:05:00+01:00",
                                             tech_info="lid opened")
    await station.call(tamper)
    await station.call(tamper)  # resent after a lost answer: logged once
    log = await rows(server, SecurityEvent)
    assert [(e.type, e.timestamp.isoformat(), e.tech_info) for e in log] == [
        ("FirmwareUpdated", "2026-11-24T10:00:00+00:00", None),
        ("TamperDetectionActivated", "2026-11-24T10:05:00+00:00", "lid opened")]
    assert [e["type"] for e in await published("station.security_event")] == [
        "FirmwareUpdated", "TamperDetectionActivated"]
    await disconnect(station)


def event(event_id, value, *, at=T0, where=HEATER, **fields):
    return {"event_id": event_id, "timestamp": at, "trigger": "Delta", "actual_value": value,
            "event_notification_type": "CustomMonitor", **where, **fields}


@pytest.mark.parametrize("version", VERSIONS)
async def test_notify_event_publishes_each_event_and_keeps_actual_values(
        openv2x_server, openv2x_db_url, version):
    server = await openv2x_server()
    station = await setup(server, version)
    published = recorder(server)
    calls = station.calls
    problem = {"component": {"name": "ChargingStation"}, "variable": {"name": "Problem"}}
    await station.call(calls.NotifyEvent(generated_at=T1, seq_no=0, tbc=True, event_data=[
        event(1, "61.5", at=T1, variable_monitoring_id=100, tech_code="T-HOT",
              tech_info="sensor 2", transaction_id="TX-9"),
        event(2, "58", at=T0)]))
    await station.call(calls.NotifyEvent(generated_at=T1, seq_no=1, event_data=[
        event(3, "true", where=problem, trigger="Alerting",
              event_notification_type="HardWiredNotification", cause=1, cleared=True)]))
    events = await published("station.event")
    assert [e["event_id"] for e in events] == [1, 2, 3]
    assert events[0] == {
        "id": "CS1", "event_id": 1, "timestamp": T1, "trigger": "Delta", "cause": None,
        "event_notification_type": "CustomMonitor", "component_name": "Heater",
        "component_instance": "", "evse_id": 1, "connector_id": 0,
        "variable_name": "Temperature", "variable_instance": "", "actual_value": "61.5",
        "cleared": False, "tech_code": "T-HOT", "tech_info": "sensor 2",
        "transaction_id": "TX-9", "variable_monitoring_id": 100, "severity": None}
    assert (events[2]["cleared"], events[2]["cause"], events[2]["trigger"]) == (
        True, 1, "Alerting")
    actual = {(v.component_name, v.variable_name, v.attribute_type): v.value
              for v in await rows(server, DeviceVariable)}
    # Event 2 came later in the message but happened earlier: 61.5 is the newest value.
    assert actual == {("Heater", "Temperature", "Actual"): "61.5",
                      ("ChargingStation", "Problem", "Actual"): "true"}
    await station.call(calls.NotifyEvent(generated_at=T1, seq_no=0,
                                         event_data=[event(4, "40", at=T1)]))
    [heater] = await rows(server, DeviceVariable, DeviceVariable.component_name == "Heater")
    assert heater.value == "40"
    await disconnect(station)


def monitor_data(where, *monitors):
    return {**where, "variable_monitoring": [
        {"id": monitor_id, "transaction": False, "value": value, "type": kind, "severity": 4,
         "event_notification_type": "CustomMonitor"} for monitor_id, value, kind in monitors]}


@pytest.mark.parametrize("version", VERSIONS)
async def test_monitors_set_reported_and_cleared(openv2x_server, openv2x_db_url, version):
    server = await openv2x_server()
    station = await setup(server, version)
    published = recorder(server)
    unmonitorable = {"component": {"name": "Heater"}, "variable": {"name": "Unmonitorable"}}
    answer = await command(server, "setvariablemonitoring", {"set_monitoring_data": [
        {**HEATER, "value": 60.5, "type": "UpperThreshold", "severity": 2, "transaction": True},
        {**HEATER, "value": 5, "type": "Delta", "severity": 7},
        {**unmonitorable, "value": 1, "type": "Delta", "severity": 7}]})
    assert [(r["status"], r.get("id")) for r in answer["set_monitoring_result"]] == [
        ("Accepted", 100), ("Accepted", 101), ("UnsupportedMonitorType", None)]
    monitors = await rows(server, VariableMonitor)
    assert [(m.monitor_id, m.type, m.value, m.severity, m.transaction, m.status,
             m.component_name, m.evse_id, m.variable_name) for m in monitors] == [
        (100, "UpperThreshold", Decimal("60.5"), 2, True, "Accepted", "Heater", 1,
         "Temperature"),
        (101, "Delta", Decimal(5), 7, False, "Accepted", "Heater", 1, "Temperature")]
    [set_event] = await published("station.monitors_set")
    assert [(r["monitor_id"], r["status"]) for r in set_event["results"]] == [
        (100, "Accepted"), (101, "Accepted"), (None, "UnsupportedMonitorType")]

    assert await command(server, "getmonitoringreport", {"request_id": 21}) == {
        "status": "Accepted"}
    calls = station.calls
    report = {"request_id": 21, "generated_at": T0}
    if version == "2.0.1":  # eventNotificationType is new in 2.1
        def strip(data):
            return {**data, "variable_monitoring": [
                {k: v for k, v in m.items() if k != "event_notification_type"}
                for m in data["variable_monitoring"]]}
    else:
        def strip(data):
            return data
    power = {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"}}
    await station.call(calls.NotifyMonitoringReport(**report, seq_no=0, tbc=True, monitor=[
        strip(monitor_data(HEATER, (100, 65, "UpperThreshold")))]))
    assert await published("station.monitoring_report_received") == []
    await station.call(calls.NotifyMonitoringReport(**report, seq_no=1, monitor=[
        strip(monitor_data(power, (7, 22000, "UpperThreshold"), (8, 0.001, "Delta"),
                           (901, 1, "Periodic")))]))
    [received] = await published("station.monitoring_report_received")
    assert (received["request_id"], received["seq_no"]) == (21, 1)
    monitors = {m.monitor_id: m for m in await rows(server, VariableMonitor)}
    assert sorted(monitors) == [7, 8, 100, 101, 901]
    assert (monitors[100].value, monitors[100].severity, monitors[100].status) == (
        Decimal(65), 4, "Accepted")
    assert (monitors[7].variable_name, monitors[7].status, monitors[8].value) == (
        "Power", None, Decimal("0.001"))

    # Cleared, and gone already (NotFound: our record was stale); a refusal keeps the monitor.
    answer = await command(server, "clearvariablemonitoring", {"id": [100, 7, 555, 901, 101]})
    assert [r["status"] for r in answer["clear_monitoring_result"]] == [
        "Accepted", "Accepted", "Rejected", "NotFound", "Accepted"]
    assert sorted(m.monitor_id for m in await rows(server, VariableMonitor)) == [8]
    [cleared] = await published("station.monitors_cleared")
    assert cleared["results"][2] == {"monitor_id": 555, "status": "Rejected"}

    assert await command(server, "setmonitoringbase", {"monitoring_base": "FactoryDefault"}
                         ) == {"status": "Accepted"}
    assert await command(server, "setmonitoringlevel", {"severity": 5}) == {
        "status": "Accepted"}
    assert await published("station.monitoring_base_set") == [
        {"id": "CS1", "monitoring_base": "FactoryDefault", "status": "Accepted"}]
    assert await published("station.monitoring_level_set") == [
        {"id": "CS1", "severity": 5, "status": "Accepted"}]
    assert await published("station.monitoring_report_requested") == [
        {"id": "CS1", "request_id": 21, "status": "Accepted"}]
    await disconnect(station)


@pytest.mark.parametrize("version", VERSIONS)
async def test_customer_information_report_in_parts(openv2x_server, openv2x_db_url, version):
    server = await openv2x_server()
    station = await setup(server, version)
    published = recorder(server)
    assert await command(server, "customerinformation", {
        "request_id": 31, "report": True, "clear": False,
        "id_token": {"id_token": "04A1B2", "type": "ISO14443"}}) == {"status": "Accepted"}
    calls = station.calls
    first = calls.NotifyCustomerInformation(data="token 04A1B2: 3 sessions", seq_no=0,
                                            generated_at=T0, request_id=31, tbc=True)
    await station.call(first)
    await station.call(first)  # a retried part is one part
    assert await published("station.customer_information") == []
    await station.call(calls.NotifyCustomerInformation(
        data="local list entry", seq_no=1, generated_at=T0, request_id=31))
    parts = await rows(server, CustomerReport)
    assert [(p.request_id, p.seq_no, p.tbc, p.data) for p in parts] == [
        (31, 0, True, "token 04A1B2: 3 sessions"), (31, 1, False, "local list entry")]
    assert await published("station.customer_information") == [
        {"id": "CS1", "request_id": 31, "seq_no": 1}]
    assert await published("station.customer_information_requested") == [
        {"id": "CS1", "request_id": 31, "report": True, "clear": False, "status": "Accepted"}]
    await disconnect(station)


def message(message_id, text, **fields):
    return {"id": message_id, "priority": "NormalCycle",
            "message": {"format": "UTF8", "language": "en", "content": text}, **fields}


@pytest.mark.parametrize("version", VERSIONS)
async def test_display_messages(openv2x_server, openv2x_db_url, version):
    server = await openv2x_server()
    station = await setup(server, version)
    published = recorder(server)
    welcome = message(1, "Welcome", state="Idle", start_date_time=T0,
                      display={"name": "Display", "evse": {"id": 1}})
    assert await command(server, "setdisplaymessage", {"message": welcome}) == {
        "status": "Accepted"}
    # A refused new message is kept with the refusal; a refused replacement changes nothing.
    assert await command(server, "setdisplaymessage", {
        "message": message(2, "Urgent", priority="AlwaysFront")}) == {
        "status": "NotSupportedPriority"}
    assert await command(server, "setdisplaymessage", {
        "message": message(1, "Replaced", priority="AlwaysFront")}) == {
        "status": "NotSupportedPriority"}
    stored = {m.message_id: m for m in await rows(server, DisplayMessage)}
    assert (stored[1].message["content"], stored[1].status, stored[1].state,
            stored[1].start_at.isoformat(), stored[1].display) == (
        "Welcome", "Accepted", "Idle", "2026-11-24T10:00:00+00:00",
        {"name": "Display", "evse": {"id": 1}})
    assert (stored[2].priority, stored[2].status) == ("AlwaysFront", "NotSupportedPriority")

    assert await command(server, "getdisplaymessages", {"request_id": 41}) == {
        "status": "Accepted"}
    assert len(await rows(server, DisplayMessage)) == 2  # the report comes separately
    calls = station.calls
    await station.call(calls.NotifyDisplayMessages(request_id=41, tbc=True, message_info=[
        message(1, "Welcome back", transaction_id="TX-1", end_date_time=T1)]))
    await station.call(calls.NotifyDisplayMessages(request_id=41, message_info=[
        message(9, "Set locally"), message(700, "Removed locally since")]))
    stored = {m.message_id: m for m in await rows(server, DisplayMessage)}
    assert sorted(stored) == [1, 2, 9, 700]
    assert (stored[1].message["content"], stored[1].transaction_uid, stored[1].status,
            stored[1].end_at.isoformat()) == (
        "Welcome back", "TX-1", "Accepted", "2026-11-24T10:05:00+00:00")
    assert stored[9].status is None
    assert await published("station.display_messages_received") == [
        {"id": "CS1", "request_id": 41}]

    assert await command(server, "cleardisplaymessage", {"id": 9}) == {"status": "Accepted"}
    # Unknown to the station: our record of it was stale and goes too.
    assert await command(server, "cleardisplaymessage", {"id": 700}) == {"status": "Unknown"}
    assert sorted(m.message_id for m in await rows(server, DisplayMessage)) == [1, 2]
    assert [e["status"] for e in await published("station.display_message_set")] == [
        "Accepted", "NotSupportedPriority", "NotSupportedPriority"]
    assert [(e["message_id"], e["status"])
            for e in await published("station.display_message_cleared")] == [
        (9, "Accepted"), (700, "Unknown")]
    await disconnect(station)


class VendorPlugin:
    @hookimpl
    async def openv2x_data_transfer(self, app, station_id, vendor_id, message_id, data):
        if vendor_id == "com.example":
            return DataTransferReply("Accepted", json.dumps({"echo": data, "id": message_id}))
        return None


@pytest.mark.parametrize("version", VERSIONS)
async def test_availability_unlock_trigger_and_data_transfer(openv2x_server, version):
    server = await openv2x_server(extra_plugins=[("vendor", VendorPlugin())])
    station = await setup(server, version)
    published = recorder(server)
    assert await command(server, "changeavailability", {
        "operational_status": "Inoperative", "evse": {"id": 1, "connector_id": 1}}) == {
        "status": "Accepted"}
    assert station.received[-1] == ("ChangeAvailability", {
        "operational_status": "Inoperative", "evse": {"id": 1, "connector_id": 1}})
    assert await published("station.availability_changed") == [
        {"id": "CS1", "operational_status": "Inoperative", "evse_id": 1, "connector_id": 1,
         "status": "Accepted"}]
    assert await command(server, "unlockconnector", {"evse_id": 1, "connector_id": 1}) == {
        "status": "Unlocked"}
    assert await command(server, "unlockconnector", {"evse_id": 1, "connector_id": 3}) == {
        "status": "UnknownConnector"}
    assert [e["status"] for e in await published("station.connector_unlock")] == [
        "Unlocked", "UnknownConnector"]

    assert await command(server, "triggermessage", {
        "requested_message": "FirmwareStatusNotification"}) == {"status": "Accepted"}
    for _ in range(100):  # the triggered message follows the answer
        if (await station_row(server)).firmware_status == "Idle":
            break
        await asyncio.sleep(0.02)
    assert (await station_row(server)).firmware_status == "Idle"

    answer = await command(server, "datatransfer", {"vendor_id": "org.station",
                                                    "data": "ping"})
    assert answer == {"status": "Accepted", "data": {"echo": "ping"}}
    calls = station.calls
    answer = await station.call(calls.DataTransfer(vendor_id="com.example", message_id="m1",
                                                   data="hello"))
    assert answer.status == "Accepted"
    assert json.loads(answer.data) == {"echo": "hello", "id": "m1"}
    answer = await station.call(calls.DataTransfer(vendor_id="com.example", data=[1, 2]))
    assert json.loads(answer.data) == {"echo": "[1,2]", "id": None}
    answer = await station.call(calls.DataTransfer(vendor_id="org.other"))
    assert answer.status == "UnknownVendorId"
    await disconnect(station)


@pytest.mark.parametrize("version", VERSIONS)
async def test_bad_maintenance_messages_are_refused_and_nothing_is_stored(
        openv2x_server, openv2x_db_url, version):
    server = await openv2x_server()
    station = await setup(server, version)
    published = recorder(server)
    calls = station.calls
    negative_evse = {"component": {"name": "Heater", "evse": {"id": -2}},
                     "variable": {"name": "Temperature"}}
    fields = {} if version == "2.0.1" else {"event_notification_type": "CustomMonitor"}

    def monitors(*items):
        return calls.NotifyMonitoringReport(request_id=1, seq_no=0, generated_at=T0, monitor=[
            {**HEATER, "variable_monitoring": [
                {"id": i, "transaction": False, "value": v, "type": "Delta", "severity": s,
                 **fields} for i, v, s in items]}])

    cases = [
        (calls.NotifyEvent(generated_at=T0, seq_no=0, event_data=[
            event(1, "1"), event(2, "2", where=negative_evse)]), "PropertyConstraintViolation"),
        (calls.NotifyEvent(generated_at=T0, seq_no=0, event_data=[
            event(1, "1", trigger="Sometimes")]), "PropertyConstraintViolation"),
        (monitors((1, 5, 3), (2, 5, 12)), "PropertyConstraintViolation"),
        (monitors((1, 5, 3), (1, 6, 3)), "OccurrenceConstraintViolation"),
        (monitors((1, 1e15, 3)), "PropertyConstraintViolation"),
        (calls.FirmwareStatusNotification(status="Melting"), "PropertyConstraintViolation"),
        (calls.LogStatusNotification(status="Uploaded", request_id="six"),
         "TypeConstraintViolation"),
        (calls.PublishFirmwareStatusNotification(status=None), "OccurrenceConstraintViolation"),
        (calls.SecurityEventNotification(type="X", timestamp="noon"), "FormatViolation"),
        (calls.SecurityEventNotification(type="X" * 51, timestamp=T0),
         "TypeConstraintViolation"),
        (calls.NotifyCustomerInformation(data="x", seq_no=-1, generated_at=T0, request_id=1),
         "PropertyConstraintViolation"),
        (calls.NotifyCustomerInformation(data="x" * 513, seq_no=0, generated_at=T0,
                                         request_id=1), "TypeConstraintViolation"),
        (calls.NotifyDisplayMessages(request_id=1, message_info=[
            message(1, "a"), message(1, "b")]), "OccurrenceConstraintViolation"),
        (calls.NotifyDisplayMessages(request_id=1, message_info=[
            message(1, "a", display=negative_evse["component"])]),
         "PropertyConstraintViolation"),
        (calls.DataTransfer(vendor_id=None, data="x"), "OccurrenceConstraintViolation"),
    ]
    for request, code in cases:
        assert await refused(station, request) == code, request
    for model in (DeviceVariable, VariableMonitor, DisplayMessage, CustomerReport,
                  SecurityEvent):
        assert await rows(server, model) == [], model
    cp = await station_row(server)
    assert (cp.firmware_status, cp.log_status) == (None, None)
    await server.app[appkeys.EVENTS].drain()
    assert await published("station.event") == []
    await disconnect(station)


async def test_maintenance_rest_views(openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    station = await setup(server, "2.1")
    calls = station.calls
    await station.call(calls.NotifyMonitoringReport(
        request_id=1, seq_no=0, generated_at=T0,
        monitor=[monitor_data(HEATER, (3, 70, "UpperThreshold"), (4, 2, "Delta"))]))
    await station.call(calls.NotifyDisplayMessages(request_id=2, message_info=[
        message(5, "Hello", state="Charging")]))
    for seq_no in (0, 1):
        await station.call(calls.NotifyCustomerInformation(
            data=f"part {seq_no}", seq_no=seq_no, generated_at=T0, request_id=3,
            tbc=seq_no == 0))
    manager = await server.auth_headers("cpo_manager")
    driver = await server.auth_headers("driver")

    async def listed(path, headers=manager, **params):
        async with server.http.get(server.url(f"/api/ocpp201/{path}/"),
                                   params={"station_id": "CS1", **params},
                                   headers=headers) as resp:
            return resp.status, await resp.json()

    status, body = await listed("variablemonitor", type="Delta")
    assert status == 200 and body["count"] == 1
    assert {k: body["results"][0][k] for k in ("monitor_id", "value", "variable_name")} == {
        "monitor_id": 4, "value": 2.0, "variable_name": "Temperature"}
    status, body = await listed("displaymessage")
    assert (body["count"], body["results"][0]["message"]["content"],
            body["results"][0]["state"]) == (1, "Hello", "Charging")
    status, body = await listed("customerreport", request_id="3", ordering="-seq_no")
    assert [(r["seq_no"], r["data"], r["tbc"]) for r in body["results"]] == [
        (1, "part 1", False), (0, "part 0", True)]
    status, body = await listed("customerreport", request_id="nope")
    assert status == 400
    for path in ("variablemonitor", "displaymessage", "customerreport"):
        status, body = await listed(path, headers=driver)
        assert status == 403, path
        assert (await listed(path))[0] == 200
    # Customer reports hold personal data: not for first-line support or vendors.
    for role, allowed in (("support_l1", False), ("vendor", False), ("support_l2", True)):
        status, _ = await listed("customerreport",
                                 headers=await server.auth_headers(role, f"u-{role}"))
        assert status == (200 if allowed else 403), role
        assert (await listed("displaymessage",
                             headers=await server.auth_headers(role, f"u-{role}")))[0] == 200
    await disconnect(station)
