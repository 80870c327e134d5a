"""OCPP 2.0.1 and 2.1 over real WebSockets: subprotocols, provisioning, REST commands."""

import json

import pytest
from ocpp201_station import connect, disconnect
from sqlalchemy import select

from core import appkeys
from core.db.models import ChargingStation, Connector, StatusNotification

VERSIONS = ["2.0.1", "2.1"]


async def register(server, station_id="CS1", status="Accepted"):
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(ChargingStation(id=station_id, registration_status=status))


async def rows(server, model, *where):
    async with server.app[appkeys.DB].session() as session:
        return (await session.execute(select(model).where(*where))).scalars().all()


@pytest.mark.parametrize("version", VERSIONS)
async def test_boot_heartbeat_and_status(openv2x_server, openv2x_db_url, version):
    server = await openv2x_server(settings={"ocpp": {"heartbeat_interval": 90}})
    await register(server)
    station = await connect(server, "CS1", version=version, boot=False)
    calls = station.calls
    from ocpp201_station import BOOT

    answer = await station.call(calls.BootNotification(**BOOT))
    assert (answer.status, answer.interval) == ("Accepted", 90)
    assert (await station.call(calls.Heartbeat())).current_time.endswith("Z")
    await station.call(calls.StatusNotification(
        timestamp="2026-11-24T10:00:00Z", connector_status="Available", evse_id=2,
        connector_id=1))
    headers = await server.auth_headers("cpo_manager")
    async with server.http.get(server.url("/api/chargepoint/CS1/"), headers=headers) as resp:
        cp = await resp.json()
    assert (cp["ocpp_version"], cp["connected"], cp["vendor"], cp["model"], cp["iccid"],
            cp["firmware_version"]) == (version, True, "OpenV2X-Test", "X2", "8931",
                                        "2.0.1-test")
    [connector] = await rows(server, Connector)
    assert (connector.connector_number, connector.status) == (1, "Available")
    [history] = await rows(server, StatusNotification)
    assert (history.evse_number, history.connector_number) == (2, 1)
    await disconnect(station)


async def test_unknown_and_other_version_messages_get_callerrors(openv2x_server):
    server = await openv2x_server()
    await register(server)
    url = server.url("/ocpp/CS1").replace("http://", "ws://")
    async with server.http.ws_connect(url, protocols=("ocpp2.1",)) as ws:
        await ws.send_str('[2, "q1", "FlyToTheMoon", {}]')
        assert json.loads((await ws.receive()).data)[:3] == [4, "q1", "NotSupported"]
    async with server.http.ws_connect(url, protocols=("ocpp2.0.1",)) as ws:
        await ws.send_str('[2, "p1", "NotifyPriorityCharging", {"transactionId": "t", '
                          '"activated": true}]')
        answer = json.loads((await ws.receive()).data)
        assert answer[:3] == [4, "p1", "NotSupported"]
        # SEND frames (type 6) only exist from OCPP 2.1 on.
        await ws.send_str('[6, "s1", "Heartbeat", {}]')
        answer = json.loads((await ws.receive()).data)
        assert answer[:3] == [4, "s1", "PropertyConstraintViolation"]
        await ws.send_str('[2, "p2", "Heartbeat", {"extra": 1}]')
        answer = json.loads((await ws.receive()).data)
        assert answer[:3] == [4, "p2", "FormatViolation"]


@pytest.mark.parametrize("version", VERSIONS)
async def test_rest_commands_reach_2x_stations(openv2x_server, version):
    server = await openv2x_server()
    await register(server)
    station = await connect(server, "CS1", version=version)
    headers = await server.auth_headers("cpo_manager")
    async with server.http.post(server.url("/api/ocpp201/reset/CS1/"),
                                json={"type": "OnIdle", "evse_id": 1}, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        assert await resp.json() == {"status": "Accepted"}
    assert station.received[-1] == ("Reset", {"type": "OnIdle", "evse_id": 1})
    async with server.http.post(server.url("/api/ocpp201/reset/CS1/"),
                                json={"type": "Sometime"}, headers=headers) as resp:
        assert resp.status == 400
    async with server.http.post(server.url("/api/ocpp16/reset/CS1/"),
                                json={"type": "Soft"}, headers=headers) as resp:
        assert resp.status == 409
    # A 2.1-only request is refused for a 2.0.1 station before anything is sent.
    async with server.http.post(server.url("/api/ocpp201/useprioritycharging/CS1/"),
                                json={"transaction_id": "t", "activate": True},
                                headers=headers) as resp:
        assert resp.status == (400 if version == "2.0.1" else 200), await resp.text()
    await disconnect(station)


def test_wire_names_follow_the_schema_where_the_package_rule_fails():
    from core.ocpp.guard import validated_request

    period = {"start_period": 0, "limit": 11000, "limit_l2": 3000.5, "setpoint_l3": -1000,
              "operation_mode": "CentralSetpoint"}
    payload = {"evse_id": 1, "charging_profile": {
        "id": 1, "stack_level": 0, "charging_profile_purpose": "TxDefaultProfile",
        "charging_profile_kind": "Absolute", "charging_schedule": [{
            "id": 1, "charging_rate_unit": "W", "charging_schedule_period": [period]}]}}
    wire = validated_request("2.1", "SetChargingProfile", payload)
    [sent] = wire["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"]
    assert sent == {"startPeriod": 0, "limit": 11000, "limit_L2": 3000.5, "setpoint_L3": -1000,
                    "operationMode": "CentralSetpoint"}
    # Vendor data keeps its keys; unknown fields are refused, not renamed into validity.
    data = validated_request("2.0.1", "DataTransfer", {"vendor_id": "v", "data": {"a_b": 1}})
    assert data == {"vendorId": "v", "data": {"a_b": 1}}
    with pytest.raises(Exception, match="SetChargingProfile"):
        validated_request("2.1", "SetChargingProfile", {**payload, "bogus_field": 1})
