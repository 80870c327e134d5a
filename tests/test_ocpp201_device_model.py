"""OCPP 2.x device model over real WebSockets, 2.0.1 and 2.1: reports, variables, network
profile, reset, and the REST view of what is stored."""

from decimal import Decimal

import pytest
from ocpp.routing import on
from ocpp201_station import Station21, Station201, command, connect, disconnect, recorder, refused
from sqlalchemy import select

from core import appkeys
from core.db.models import ChargingStation
from plugins.ocpp201.models import DeviceVariable

VERSIONS = ["2.0.1", "2.1"]
T0 = "2026-11-24T10:00:00Z"
# What the test station reads out for GetVariables, by (component, variable).
VALUES = {("OCPPCommCtrlr", "HeartbeatInterval"): "300", ("EVSE", "Power"): "22000"}
# How the test station answers SetVariables, by variable (default Accepted).
SET_ANSWERS = {"TimeSource": "RebootRequired", "ChargingStationId": "Rejected"}


class DeviceModel:
    """The device-model requests a well-behaved station answers."""

    @on("GetVariables")
    def on_get_variables(self, get_variable_data, **_):
        self.received.append(("GetVariables", get_variable_data))
        results = []
        for item in get_variable_data:
            found = VALUES.get((item["component"]["name"], item["variable"]["name"]))
            result = {"component": item["component"], "variable": item["variable"],
                      "attribute_status": "Accepted" if found else "UnknownVariable"}
            if found:
                result["attribute_value"] = found
            if "attribute_type" in item:
                result["attribute_type"] = item["attribute_type"]
            results.append(result)
        return self.results.GetVariables(get_variable_result=results)

    @on("SetVariables")
    def on_set_variables(self, set_variable_data, **_):
        self.received.append(("SetVariables", set_variable_data))
        return self.results.SetVariables(set_variable_result=[
            {"component": item["component"], "variable": item["variable"],
             "attribute_status": SET_ANSWERS.get(item["variable"]["name"], "Accepted")}
            for item in set_variable_data])

    @on("GetBaseReport")
    def on_get_base_report(self, request_id, report_base, **_):
        self.received.append(("GetBaseReport", {"request_id": request_id}))
        return self.results.GetBaseReport(status="Accepted")

    @on("GetReport")
    def on_get_report(self, request_id, **_):
        self.received.append(("GetReport", {"request_id": request_id}))
        return self.results.GetReport(status="EmptyResultSet")

    @on("SetNetworkProfile")
    def on_set_network_profile(self, configuration_slot, connection_data, **_):
        self.received.append(("SetNetworkProfile", {"slot": configuration_slot}))
        return self.results.SetNetworkProfile(status="Accepted")


class Station201DM(DeviceModel, Station201):
    __test__ = False


class Station21DM(DeviceModel, Station21):
    __test__ = False


async def setup(server, version):
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(ChargingStation(id="CS1", registration_status="Accepted"))
    cls = Station201DM if version == "2.0.1" else Station21DM
    return await connect(server, "CS1", version=version, station_cls=cls)


async def variables(server):
    async with server.app[appkeys.DB].session() as session:
        found = await session.execute(select(DeviceVariable).order_by(DeviceVariable.id))
        return {(v.component_name, v.component_instance, v.evse_id, v.connector_id,
                 v.variable_name, v.attribute_type): v for v in found.scalars()}


HEARTBEAT = {"component": {"name": "OCPPCommCtrlr"},
             "variable": {"name": "HeartbeatInterval"},
             "variable_attribute": [{"value": "60", "persistent": True}],
             "variable_characteristics": {"data_type": "integer", "unit": "s",
                                          "min_limit": 1, "max_limit": 86400,
                                          "supports_monitoring": False}}
POWER = {"component": {"name": "EVSE", "evse": {"id": 1}},
         "variable": {"name": "Power"},
         "variable_attribute": [{"type": "Actual", "value": "0", "mutability": "ReadOnly"},
                                {"type": "MaxSet", "value": "11000.5"}],
         "variable_characteristics": {"data_type": "decimal", "unit": "W", "max_limit": 22000.25,
                                      "supports_monitoring": True}}
CONNECTOR = {"component": {"name": "Connector", "instance": "left",
                           "evse": {"id": 1, "connector_id": 2}},
             "variable": {"name": "ConnectorType"},
             "variable_attribute": [{"value": "cType2", "mutability": "ReadOnly",
                                     "constant": True}],
             "variable_characteristics": {"data_type": "OptionList", "values_list": "cType2,cCCS2",
                                          "supports_monitoring": False}}
PASSWORD = {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"},
            "variable_attribute": [{"mutability": "WriteOnly"}],
            "variable_characteristics": {"data_type": "string", "supports_monitoring": False}}


@pytest.mark.parametrize("version", VERSIONS)
async def test_base_report_parts_are_stored_as_they_come(openv2x_server, openv2x_db_url,
                                                         version):
    server = await openv2x_server()
    station = await setup(server, version)
    published = recorder(server)
    assert await command(server, "getbasereport",
                         {"request_id": 7, "report_base": "FullInventory"}) == {
        "status": "Accepted"}
    assert station.received[-1] == ("GetBaseReport", {"request_id": 7})
    [requested] = await published("station.report_requested")
    assert requested == {"id": "CS1", "request_id": 7, "report_base": "FullInventory",
                         "status": "Accepted"}
    calls = station.calls

    await station.call(calls.NotifyReport(request_id=7, generated_at=T0, seq_no=0, tbc=True,
                                          report_data=[HEARTBEAT, POWER]))
    stored = await variables(server)
    assert len(stored) == 3  # this part is kept before the report is complete
    assert await published("station.report_received") == []

    await station.call(calls.NotifyReport(request_id=7, generated_at=T0, seq_no=1,
                                          report_data=[CONNECTOR, PASSWORD]))
    [received] = await published("station.report_received")
    assert received == {"id": "CS1", "request_id": 7, "seq_no": 1, "generated_at": T0}
    stored = await variables(server)
    heartbeat = stored["OCPPCommCtrlr", "", 0, 0, "HeartbeatInterval", "Actual"]
    assert (heartbeat.value, heartbeat.mutability, heartbeat.persistent, heartbeat.constant,
            heartbeat.data_type, heartbeat.unit, heartbeat.min_limit, heartbeat.max_limit,
            heartbeat.supports_monitoring) == ("60", "ReadWrite", True, False, "integer", "s",
                                               Decimal(1), Decimal(86400), False)
    actual = stored["EVSE", "", 1, 0, "Power", "Actual"]
    max_set = stored["EVSE", "", 1, 0, "Power", "MaxSet"]
    assert (actual.value, actual.mutability, max_set.value, max_set.mutability) == (
        "0", "ReadOnly", "11000.5", "ReadWrite")
    assert max_set.max_limit == Decimal("22000.25") and max_set.unit == "W"
    connector = stored["Connector", "left", 1, 2, "ConnectorType", "Actual"]
    assert (connector.value, connector.constant, connector.values_list) == (
        "cType2", True, "cType2,cCCS2")
    secret = stored["SecurityCtrlr", "", 0, 0, "BasicAuthPassword", "Actual"]
    assert (secret.value, secret.mutability) == (None, "WriteOnly")

    # A later report of the same attributes updates the rows it names, and only those.
    newer = {**HEARTBEAT, "variable_attribute": [{"value": "90"}]}
    newer.pop("variable_characteristics")
    await station.call(calls.NotifyReport(request_id=8, generated_at=T0, seq_no=0,
                                          report_data=[newer]))
    again = await variables(server)
    assert len(again) == 5
    heartbeat = again["OCPPCommCtrlr", "", 0, 0, "HeartbeatInterval", "Actual"]
    assert (heartbeat.value, heartbeat.persistent, heartbeat.unit) == ("90", False, "s")
    # An empty report (nothing matched) is still a complete report.
    await station.call(calls.NotifyReport(request_id=9, generated_at=T0, seq_no=0))
    assert [e["request_id"] for e in await published("station.report_received")] == [7, 8, 9]
    await disconnect(station)


@pytest.mark.parametrize("version", VERSIONS)
async def test_variables_read_and_written_are_kept(openv2x_server, version):
    server = await openv2x_server()
    station = await setup(server, version)
    published = recorder(server)
    answer = await command(server, "getvariables", {"get_variable_data": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
        {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"},
         "attribute_type": "MaxSet"},
        {"component": {"name": "Nope"}, "variable": {"name": "Missing"}}]})
    assert [r["attribute_status"] for r in answer["get_variable_result"]] == [
        "Accepted", "Accepted", "UnknownVariable"]
    stored = await variables(server)
    assert {key: v.value for key, v in stored.items()} == {
        ("OCPPCommCtrlr", "", 0, 0, "HeartbeatInterval", "Actual"): "300",
        ("EVSE", "", 1, 0, "Power", "MaxSet"): "22000"}

    answer = await command(server, "setvariables", {"set_variable_data": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
         "attribute_value": "120"},
        {"component": {"name": "ClockCtrlr"}, "variable": {"name": "TimeSource"},
         "attribute_value": "NTP"},
        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "ChargingStationId"},
         "attribute_value": "other"},
        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"},
         "attribute_value": "s3cret-s3cret-s3cret"}]})
    assert [r["attribute_status"] for r in answer["set_variable_result"]] == [
        "Accepted", "RebootRequired", "Rejected", "Accepted"]
    stored = await variables(server)
    assert stored["OCPPCommCtrlr", "", 0, 0, "HeartbeatInterval", "Actual"].value == "120"
    assert stored["ClockCtrlr", "", 0, 0, "TimeSource", "Actual"].value == "NTP"
    assert ("SecurityCtrlr", "", 0, 0, "ChargingStationId", "Actual") not in stored
    # Accepted, but a password is never kept.
    assert stored["SecurityCtrlr", "", 0, 0, "BasicAuthPassword", "Actual"].value is None
    [written] = await published("station.variables_set")
    assert written["reboot_required"] is True
    assert [(r["variable_name"], r["status"]) for r in written["results"]] == [
        ("HeartbeatInterval", "Accepted"), ("TimeSource", "RebootRequired"),
        ("ChargingStationId", "Rejected"), ("BasicAuthPassword", "Accepted")]
    await disconnect(station)


@pytest.mark.parametrize("version", VERSIONS)
async def test_report_network_profile_and_reset_are_published(openv2x_server, version):
    server = await openv2x_server()
    station = await setup(server, version)
    published = recorder(server)
    assert await command(server, "getreport", {
        "request_id": 11, "component_criteria": ["Problem"],
        "component_variable": [{"component": {"name": "EVSE", "evse": {"id": 1}}}]}) == {
        "status": "EmptyResultSet"}
    profile = {"ocpp_version": "OCPP20", "ocpp_transport": "JSON",
               "ocpp_csms_url": "wss://csms.example/ocpp", "message_timeout": 30,
               "security_profile": 2, "ocpp_interface": "Wired0"}
    assert await command(server, "setnetworkprofile", {
        "configuration_slot": 2, "connection_data": profile}) == {"status": "Accepted"}
    assert await command(server, "reset", {"type": "Immediate", "evse_id": 1}) == {
        "status": "Accepted"}
    assert await published("station.report_requested") == [
        {"id": "CS1", "request_id": 11, "report_base": None, "status": "EmptyResultSet"}]
    assert await published("station.network_profile_set") == [
        {"id": "CS1", "configuration_slot": 2, "status": "Accepted"}]
    assert await published("station.reset_requested") == [
        {"id": "CS1", "type": "Immediate", "evse_id": 1, "status": "Accepted"}]
    assert [name for name, _ in station.received] == ["GetReport", "SetNetworkProfile",
                                                      "Reset"]
    await disconnect(station)


def report(calls, data, **fields):
    return calls.NotifyReport(**{"request_id": 3, "generated_at": T0, "seq_no": 0,
                                 "report_data": data, **fields})


@pytest.mark.parametrize("version", VERSIONS)
async def test_bad_reports_are_refused_and_nothing_is_stored(openv2x_server, openv2x_db_url,
                                                             version):
    server = await openv2x_server()
    station = await setup(server, version)
    published = recorder(server)
    calls = station.calls
    negative_evse = {**POWER, "component": {"name": "EVSE", "evse": {"id": -1}}}
    conflicting = {**HEARTBEAT, "variable_attribute": [{"value": "1"}, {"value": "2"}]}
    cases = [
        (report(calls, [HEARTBEAT, negative_evse]), "PropertyConstraintViolation"),
        (report(calls, [HEARTBEAT], seq_no=-1), "PropertyConstraintViolation"),
        (report(calls, [HEARTBEAT, conflicting]), "OccurrenceConstraintViolation"),
        (report(calls, [HEARTBEAT], seq_no=None), "OccurrenceConstraintViolation"),
        (report(calls, [HEARTBEAT], generated_at="yesterday"), "FormatViolation"),
        (report(calls, [{**HEARTBEAT, "variable_attribute": [{"type": "Current"}]}]),
         "PropertyConstraintViolation"),
        (report(calls, [{**HEARTBEAT, "variable": {"name": "x" * 51}}]),
         "TypeConstraintViolation"),
        (report(calls, [HEARTBEAT], request_id="3"), "TypeConstraintViolation"),
    ]
    for request, code in cases:
        assert await refused(station, request) == code, request
    # Repeating an attribute with the same contents is not a conflict.
    await station.call(report(calls, [HEARTBEAT, HEARTBEAT]))
    assert len(await variables(server)) == 1
    assert [e["request_id"] for e in await published("station.report_received")] == [3]
    await disconnect(station)


async def test_device_model_rest_view(openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    station = await setup(server, "2.0.1")
    await station.call(station.calls.NotifyReport(
        request_id=1, generated_at=T0, seq_no=0, report_data=[HEARTBEAT, POWER, CONNECTOR]))
    manager = await server.auth_headers("cpo_manager")
    url = server.url("/api/ocpp201/devicemodel/")
    async with server.http.get(url, params={"station_id": "CS1", "component_name": "EVSE",
                                            "variable_name": "Power"}, headers=manager) as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.json()
    assert body["count"] == 2
    assert {(r["attribute_type"], r["value"], r["evse_id"]) for r in body["results"]} == {
        ("Actual", "0", 1), ("MaxSet", "11000.5", 1)}
    assert body["results"][0]["max_limit"] == 22000.25
    async with server.http.get(url, params={"station_id": "CS1", "limit": 2,
                                            "fields": "component_name,variable_name"},
                               headers=manager) as resp:
        page = await resp.json()
    assert page["count"] == 4 and len(page["results"]) == 2 and page["next"]
    assert set(page["results"][0]) == {"component_name", "variable_name"}
    async with server.http.get(url, params={"station_id": "CS2"}, headers=manager) as resp:
        assert (await resp.json())["count"] == 0
    async with server.http.get(url, params={"colour": "red"}, headers=manager) as resp:
        assert resp.status == 400
    for role, status in (("support_l1", 200), ("vendor", 200), ("driver", 403)):
        async with server.http.get(url, headers=await server.auth_headers(role)) as resp:
            assert resp.status == status, role
    async with server.http.get(url) as resp:
        assert resp.status == 401
    await disconnect(station)
