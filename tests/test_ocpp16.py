"""OCPP 1.6J over real WebSockets: admission, every station message, commands, bad frames."""

import asyncio
import json

import pytest
from ocpp.v16 import call
from ocpp16_station import connect, disconnect
from sqlalchemy import select

from core import appkeys
from core.db.models import (
    ChargingProfile,
    ChargingStation,
    Connector,
    IdToken,
    MeterValue,
    Reservation,
    SecurityEvent,
    StationSetting,
    StatusNotification,
    Transaction,
)
from core.plugins import hookimpl
from core.stations import DataTransferReply

PASSWORD = "0123456789abcdef"


async def register(server, station_id="CP1", password=None, status="Accepted"):
    from core.passwords import hash_password

    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(ChargingStation(
            id=station_id, registration_status=status,
            password_hash=hash_password(password) if password else None))


async def rows(server, model, *where):
    async with server.app[appkeys.DB].session() as session:
        return (await session.execute(select(model).where(*where))).scalars().all()


async def test_boot_persists_station_data_and_connection_state(openv2x_server, openv2x_db_url):
    server = await openv2x_server(settings={"ocpp": {"heartbeat_interval": 120}})
    await register(server)
    station = await connect(server, "CP1", boot=False)
    answer = await station.call(call.BootNotification(
        charge_point_model="Wallbox X", charge_point_vendor="ACME", firmware_version="1.2.3",
        charge_point_serial_number="SN-1", iccid="8931", imsi="2620", meter_type="M",
        meter_serial_number="MS-9"))
    assert (answer.status, answer.interval) == ("Accepted", 120)
    headers = await server.auth_headers("cpo_manager")
    async with server.http.get(server.url("/api/chargepoint/CP1/"), headers=headers) as resp:
        cp = await resp.json()
    assert cp["connected"] is True and cp["ocpp_version"] == "1.6"
    assert (cp["vendor"], cp["model"], cp["firmware_version"], cp["serial_number"],
            cp["iccid"], cp["imsi"], cp["meter_serial_number"]) == (
        "ACME", "Wallbox X", "1.2.3", "SN-1", "8931", "2620", "MS-9")
    assert cp["last_boot"] is not None
    beat = await station.call(call.Heartbeat())
    assert beat.current_time.endswith("Z")
    await disconnect(station)
    for _ in range(100):
        async with server.http.get(server.url("/api/chargepoint/CP1/"), headers=headers) as r:
            if not (await r.json())["connected"]:
                break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("station still shown connected after its socket closed")


@pytest.mark.parametrize(("policy", "status"), [("accept", "Accepted"), ("pending", "Pending")])
async def test_unknown_station_admission_policies(openv2x_server, policy, status):
    server = await openv2x_server(settings={"ocpp": {"unknown_stations": policy}})
    station = await connect(server, "NEW-1", boot=False)
    answer = await station.call(call.BootNotification(charge_point_model="M",
                                                      charge_point_vendor="V"))
    assert answer.status == status
    assert [s.registration_status for s in await rows(server, ChargingStation)] == [status]
    await disconnect(station)


async def test_handshake_refusals(openv2x_server):
    server = await openv2x_server()
    await register(server, "CP1", PASSWORD)
    ws_url = server.url("/ocpp/{}").replace("http://", "ws://")
    import aiohttp

    cases = [("NOPE", ("ocpp1.6",), None, 404), ("CP1", ("ocpp1.5",), None, 400),
             ("CP1", (), None, 400), ("CP1", ("ocpp1.6",), None, 401),
             ("CP1", ("ocpp1.6",), "wrong-password-000", 401)]
    for station_id, protocols, password, status in cases:
        headers = {}
        if password:
            import base64
            headers["Authorization"] = "Basic " + base64.b64encode(
                f"{station_id}:{password}".encode()).decode()
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await server.http.ws_connect(ws_url.format(station_id), protocols=protocols,
                                         headers=headers)
        assert info.value.status == status, (station_id, protocols, password)
    station = await connect(server, "CP1", password=PASSWORD)
    assert station.ws.protocol == "ocpp1.6"
    await disconnect(station)


async def test_status_notifications_create_connectors_and_history(openv2x_server,
                                                                  openv2x_db_url):
    server = await openv2x_server()
    await register(server)
    station = await connect(server, "CP1")
    for connector, status in ((0, "Available"), (1, "Available"), (2, "Preparing"),
                              (1, "Unavailable")):
        await station.call(call.StatusNotification(connector_id=connector, error_code="NoError",
                                                   status=status))
    connectors = {c.connector_number: c.status for c in await rows(server, Connector)}
    assert connectors == {1: "Unavailable", 2: "Preparing"}
    history = [(s.connector_number, s.status) for s in await rows(server, StatusNotification)]
    assert history == [(0, "Available"), (1, "Available"), (2, "Preparing"), (1, "Unavailable")]
    headers = await server.auth_headers("cpo_manager")
    async with server.http.get(server.url("/api/statusnotification/CP1/?connector_number=1"),
                               headers=headers) as resp:
        assert [r["status"] for r in (await resp.json())["results"]] == ["Available",
                                                                         "Unavailable"]
    async with server.http.get(server.url("/api/connector/?station_id=CP1&ordering=status"),
                               headers=headers) as resp:
        assert (await resp.json())["count"] == 2
    await disconnect(station)


async def test_authorize_and_a_whole_transaction(openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    await register(server)
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add_all([IdToken(id_token="GOOD"), IdToken(id_token="BAD", status="Blocked")])
    station = await connect(server, "CP1")
    assert (await station.call(call.Authorize(id_tag="GOOD"))).id_tag_info["status"] == "Accepted"
    assert (await station.call(call.Authorize(id_tag="BAD"))).id_tag_info["status"] == "Blocked"
    assert (await station.call(call.Authorize(id_tag="WHO"))).id_tag_info["status"] == "Invalid"

    events = []

    async def record(event):
        events.append(event.name)

    server.app[appkeys.EVENTS].subscribe(record)
    start = call.StartTransaction(connector_id=1, id_tag="GOOD", meter_start=1000,
                                  timestamp="2026-11-24T10:00:00Z")
    started = await station.call(start)
    assert started.id_tag_info["status"] == "Accepted"
    again = await station.call(start)  # a retry after a lost answer
    assert again.transaction_id == started.transaction_id
    concurrent = await station.call(call.StartTransaction(
        connector_id=2, id_tag="GOOD", meter_start=0, timestamp="2026-11-24T10:01:00Z"))
    assert concurrent.id_tag_info["status"] == "ConcurrentTx"

    await station.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id,
                                        meter_value=[{"timestamp": "2026-11-24T10:15:00Z",
                                                      "sampledValue": [
            {"value": "3.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
            {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
            {"value": "230.1", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
            {"value": "47", "measurand": "SoC", "unit": "Percent", "location": "EV"}]}]))
    [tx] = await rows(server, Transaction, Transaction.id == started.transaction_id)
    assert (tx.energy_wh, tx.soc_start, tx.soc_last, tx.status) == (2500, 47, 47, "Active")

    stop = call.StopTransaction(meter_stop=5000, timestamp="2026-11-24T10:30:00Z",
                                transaction_id=started.transaction_id, reason="EVDisconnected",
                                id_tag="GOOD", transaction_data=[{
                                    "timestamp": "2026-11-24T10:30:00Z", "sampledValue": [
                                        {"value": "5000", "context": "Transaction.End"}]}])
    stopped = await station.call(stop)
    assert stopped.id_tag_info["status"] == "Accepted"
    await station.call(stop)  # retried: changes nothing
    [tx] = await rows(server, Transaction, Transaction.id == started.transaction_id)
    assert (tx.status, tx.meter_stop_wh, tx.energy_wh, tx.stop_reason) == (
        "Completed", 5000, 4000, "EVDisconnected")
    assert len(await rows(server, MeterValue, MeterValue.transaction_id == tx.id)) == 5
    headers = await server.auth_headers("cpo_manager")
    async with server.http.get(server.url(f"/api/transaction/{tx.id}/"), headers=headers) as r:
        body = await r.json()
    assert (body["status"], body["energy_wh"], body["soc_last"]) == ("Completed", 4000, 47)
    async with server.http.get(server.url(f"/api/sampledvalue/{tx.id}/?measurand=SoC"),
                               headers=headers) as r:
        soc = await r.json()
    assert soc["count"] == 1 and soc["results"][0]["value"] == 47
    async with server.http.get(server.url(f"/api/sampledvalue/{tx.id}/?ordering=timestamp"),
                               headers=headers) as r:
        assert (await r.json())["count"] == 5
    async with server.http.get(server.url("/api/transaction/?status=Active"),
                               headers=headers) as r:
        assert (await r.json())["count"] == 1  # the ConcurrentTx attempt, flagged
    await server.app[appkeys.EVENTS].drain()
    assert events.count("transaction.started") == 2  # the ConcurrentTx one is recorded, flagged
    assert events.count("transaction.ended") == 1
    assert "meter.sampled" in events
    await disconnect(station)


async def test_stop_for_an_unknown_transaction_is_kept_and_flagged(openv2x_server):
    server = await openv2x_server()
    await register(server)
    station = await connect(server, "CP1")
    await station.call(call.StopTransaction(meter_stop=10, timestamp="2026-11-24T10:30:00Z",
                                            transaction_id=424242))
    [tx] = await rows(server, Transaction)
    assert tx.flagged and "424242" in tx.flag_reason and tx.status == "Completed"
    await disconnect(station)


async def test_new_transaction_on_a_busy_connector_closes_the_ghost(openv2x_server):
    server = await openv2x_server()
    await register(server)
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(IdToken(id_token="A"))
        work.session.add(IdToken(id_token="B"))
    station = await connect(server, "CP1")
    first = await station.call(call.StartTransaction(connector_id=1, id_tag="A", meter_start=0,
                                                     timestamp="2026-11-24T10:00:00Z"))
    second = await station.call(call.StartTransaction(connector_id=1, id_tag="B", meter_start=9,
                                                      timestamp="2026-11-24T11:00:00Z"))
    ghost, current = sorted(await rows(server, Transaction), key=lambda t: t.id)
    assert ghost.id == first.transaction_id and ghost.flagged and ghost.status == "Completed"
    assert current.id == second.transaction_id and current.status == "Active"
    await disconnect(station)


async def test_available_connector_closes_the_ghost_and_a_late_stop_corrects_it(
        openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    await register(server)
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(IdToken(id_token="A"))
    events = []
    server.app[appkeys.EVENTS].subscribe(lambda e: _append(events, e))
    station = await connect(server, "CP1")
    started = await station.call(call.StartTransaction(
        connector_id=1, id_tag="A", meter_start=1000, timestamp="2026-11-24T10:00:00Z"))
    # The station rebooted, lost the session, and reports the connector free.
    await station.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                               status="Available",
                                               timestamp="2026-11-24T11:00:00Z"))
    [tx] = await rows(server, Transaction)
    assert (tx.status, tx.closed_by, tx.stop_reason, tx.flagged) == (
        "Completed", "csms", "Other", True)
    assert "Available" in tx.flag_reason and tx.stopped_at.hour == 11
    # ...then its queued StopTransaction arrives: the station's figures win, still flagged.
    await station.call(call.StopTransaction(meter_stop=4000, timestamp="2026-11-24T10:45:00Z",
                                            transaction_id=started.transaction_id,
                                            reason="Reboot"))
    [tx] = await rows(server, Transaction)
    assert (tx.closed_by, tx.energy_wh, tx.stop_reason, tx.stopped_at.minute) == (
        "station", 3000, "Reboot", 45)
    assert tx.flagged and "applied" in tx.flag_reason
    # A retry of that stop changes nothing more.
    await station.call(call.StopTransaction(meter_stop=9999, timestamp="2026-11-24T12:00:00Z",
                                            transaction_id=started.transaction_id))
    [tx] = await rows(server, Transaction)
    assert tx.energy_wh == 3000
    await server.app[appkeys.EVENTS].drain()
    ended = [e.data for e in events if e.name == "transaction.ended"]
    assert [(e["closed_by"], e.get("corrected")) for e in ended] == [
        ("csms", None), ("station", True)]
    await disconnect(station)


async def _append(events, event):
    events.append(event)


async def test_operator_force_stop(openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    await register(server)
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(IdToken(id_token="A"))
    station = await connect(server, "CP1")
    started = await station.call(call.StartTransaction(
        connector_id=1, id_tag="A", meter_start=0, timestamp="2026-11-24T10:00:00Z"))
    url = server.url(f"/api/transaction/{started.transaction_id}/stop/")
    manager = await server.auth_headers("cpo_manager")
    for body in ({}, {"reason": ""}, {"reason": "x" * 201}, {"reason": "ok", "extra": 1}):
        async with server.http.post(url, json=body, headers=manager) as resp:
            assert resp.status == 400, body
    async with server.http.post(url, json={"reason": "dead"},
                                headers=await server.auth_headers("support_l1")) as resp:
        assert resp.status == 403
    [tx] = await rows(server, Transaction)
    assert tx.status == "Active"
    async with server.http.post(url, json={"reason": "station unreachable since Monday"},
                                headers=manager) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert (body["status"], body["closed_by"], body["flagged"]) == (
        "Completed", "operator", True)
    assert "station unreachable since Monday" in body["flag_reason"]
    async with server.http.post(url, json={"reason": "again"}, headers=manager) as resp:
        assert resp.status == 409
    async with server.http.post(server.url("/api/transaction/999/stop/"),
                                json={"reason": "x"}, headers=manager) as resp:
        assert resp.status == 404
    await disconnect(station)


class VendorPlugin:
    @hookimpl
    async def openv2x_data_transfer(self, app, station_id, vendor_id, message_id, data):
        if vendor_id == "com.example":
            return DataTransferReply("Accepted", json.dumps({"echo": data, "from": station_id}))
        return None


async def test_data_transfer_goes_to_the_plugin_owning_the_vendor(openv2x_server):
    server = await openv2x_server(extra_plugins=[("vendor", VendorPlugin())])
    await register(server)
    station = await connect(server, "CP1")
    answer = await station.call(call.DataTransfer(vendor_id="com.example", data="hi"))
    assert answer.status == "Accepted" and json.loads(answer.data) == {"echo": "hi",
                                                                       "from": "CP1"}
    answer = await station.call(call.DataTransfer(vendor_id="org.other"))
    assert answer.status == "UnknownVendorId"
    await station.call(call.FirmwareStatusNotification(status="Downloading"))
    await station.call(call.DiagnosticsStatusNotification(status="Uploaded"))
    [cp] = await rows(server, ChargingStation)
    assert (cp.firmware_status, cp.diagnostics_status) == ("Downloading", "Uploaded")
    await disconnect(station)


BAD_FRAMES = [
    ("not json", "-1", "FormationViolation"),
    ('{"a": 1}', "-1", "ProtocolError"),
    ("[]", "-1", "ProtocolError"),
    ('[7, "x1", "Heartbeat", {}]', "x1", "PropertyConstraintViolation"),
    ('[2, "x2", "Heartbeat"]', "x2", "ProtocolError"),
    ('[2, "x3", "FlyToTheMoon", {}]', "x3", "NotSupported"),
    ('[2, "x4", "GetConfiguration", {}]', "x4", "NotImplemented"),
    ('[2, "x5", "Authorize", {"idTag": 5}]', "x5", "TypeConstraintViolation"),
    ('[2, "x6", "Authorize", {}]', "x6", "ProtocolError"),
    ('[2, "x7", "Authorize", {"idTag": "' + "x" * 21 + '"}]', "x7", "TypeConstraintViolation"),
    ('[2, "x8", "Heartbeat", {"extra": true}]', "x8", "FormationViolation"),
    ('[2, "x9", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", '
     '"status": "Dancing"}]', "x9", "PropertyConstraintViolation"),
    ('[2, "x9b", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", '
     '"status": "Available", "timestamp": "yesterday"}]', "x9b", "FormationViolation"),
    ('[2, "x9c", "StatusNotification", {"connectorId": -1, "errorCode": "NoError", '
     '"status": "Available"}]', "x9c", "PropertyConstraintViolation"),
    ('[2, "x10", "MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": '
     '"2026-11-24T10:00:00Z", "sampledValue": [{"value": "abc"}]}]}]', "x10",
     "PropertyConstraintViolation"),
    ('[2, "x11", "Heartbeat", {"pad": "' + "x" * 70000 + '"}]', "x11", "FormationViolation"),
]


async def test_bad_frames_get_callerrors_and_the_connection_stays_up(openv2x_server,
                                                                     openv2x_db_url):
    server = await openv2x_server()
    await register(server)
    url = server.url("/ocpp/CP1").replace("http://", "ws://")
    async with server.http.ws_connect(url, protocols=("ocpp1.6",)) as ws:
        for frame, unique_id, code in BAD_FRAMES:
            await ws.send_str(frame)
            answer = json.loads((await ws.receive()).data)
            assert answer[:3] == [4, unique_id, code], (frame[:60], answer)
        await ws.send_bytes(b"\x00\x01")
        assert json.loads((await ws.receive()).data)[2] == "FormationViolation"
        await ws.send_str('[2, "ok", "Heartbeat", {}]')
        answer = json.loads((await ws.receive()).data)
        assert answer[0] == 3 and answer[1] == "ok"
    assert await rows(server, MeterValue) == []


async def test_commands_over_rest_sync_and_async(openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    await register(server)
    station = await connect(server, "CP1")
    headers = await server.auth_headers("cpo_manager")
    base = server.url("/api/ocpp16/{}/CP1/")

    async with server.http.post(base.format("reset"), json={"type": "Soft"},
                                headers=headers) as resp:
        assert resp.status == 200 and await resp.json() == {"status": "Accepted"}
    async with server.http.post(base.format("getconfiguration"),
                                json={"key": ["HeartbeatInterval", "Nope"]},
                                headers=headers) as resp:
        answer = await resp.json()
    assert answer["configuration_key"][0]["key"] == "HeartbeatInterval"
    assert answer["unknown_key"] == ["Nope"]

    async with server.http.post(base.format("changeavailability"),
                                json={"connector_id": 1, "type": "Inoperative", "sync": False},
                                headers=headers) as resp:
        assert resp.status == 202
        task_id = (await resp.json())["task_id"]
    await server.app[appkeys.TASKS].wait(task_id)
    async with server.http.get(server.url(f"/api/task/{task_id}/"), headers=headers) as resp:
        task = await resp.json()
    assert (task["status"], task["result"], task["action"]) == (
        "succeeded", {"status": "Accepted"}, "ChangeAvailability")
    assert ("ChangeAvailability", {"connector_id": 1, "type": "Inoperative"}) in station.received

    async with server.http.post(base.format("clearcache"), json={}, headers=headers) as resp:
        assert resp.status == 502  # the test station has no ClearCache handler: a CALLERROR
        assert (await resp.json())["error"]["details"]["error_code"] == "NotImplemented"
    for command, body, status in (("reset", {"type": "Sideways"}, 400),
                                  ("reset", {"kind": "Soft"}, 400),
                                  ("launchmissiles", {}, 404),
                                  ("reset", {"type": "Soft", "sync": "yes"}, 400)):
        async with server.http.post(base.format(command), json=body, headers=headers) as resp:
            assert resp.status == status, (command, body)
    await disconnect(station)
    await asyncio.sleep(0)
    for _ in range(100):
        if server.app[appkeys.DISPATCHER].link("CP1") is None:
            break
        await asyncio.sleep(0.02)
    async with server.http.post(base.format("reset"), json={"type": "Hard"},
                                headers=headers) as resp:
        assert resp.status == 409 and (await resp.json())["error"]["code"] == \
            "station_not_connected"
    driver = await server.auth_headers("driver")
    async with server.http.post(base.format("reset"), json={"type": "Hard"},
                                headers=driver) as resp:
        assert resp.status == 403


async def test_reconnect_replaces_the_old_socket(openv2x_server):
    server = await openv2x_server()
    await register(server)
    first = await connect(server, "CP1")
    second = await connect(server, "CP1")
    await asyncio.wait_for(first.loop_task, 5)
    assert first.ws.closed
    headers = await server.auth_headers("cpo_manager")
    async with server.http.post(server.url("/api/ocpp16/reset/CP1/"), json={"type": "Soft"},
                                headers=headers) as resp:
        assert resp.status == 200
    assert second.received == [("Reset", {"type": "Soft"})]
    [cp] = await rows(server, ChargingStation)
    assert cp.connected
    await disconnect(second)


async def test_fifty_stations_at_once(openv2x_server):
    server = await openv2x_server(settings={"ocpp": {"unknown_stations": "accept"}})
    stations = await asyncio.gather(*(connect(server, f"CP{i:02d}") for i in range(50)))
    await asyncio.gather(*(s.call(call.StatusNotification(
        connector_id=1, error_code="NoError", status="Available")) for s in stations))
    assert len(server.app[appkeys.DISPATCHER].connected()) == 50
    assert len(await rows(server, Connector)) == 50
    await asyncio.gather(*(disconnect(s) for s in stations))


async def command(server, headers, name, body, station="CP1"):
    async with server.http.post(server.url(f"/api/ocpp16/{name}/{station}/"), json=body,
                                headers=headers) as resp:
        return resp.status, await resp.json()


async def test_command_side_effects_are_persisted(openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    await register(server)
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add_all([IdToken(id_token="T-1"), IdToken(id_token="T-2", status="Blocked"),
                              IdToken(id_token="X" * 30)])
    station = await connect(server, "CP1")
    headers = await server.auth_headers("cpo_manager")

    assert (await command(server, headers, "reservenow", {
        "connector_id": 1, "expiry_date": "2030-01-01T10:00:00Z", "id_tag": "T-1",
        "reservation_id": 41}))[1] == {"status": "Accepted"}
    await command(server, headers, "reservenow", {
        "connector_id": 9, "expiry_date": "2030-01-01T10:00:00Z", "id_tag": "T-1",
        "reservation_id": 42})
    await command(server, headers, "cancelreservation", {"reservation_id": 41})
    reservations = {r.id: r.status for r in await rows(server, Reservation)}
    assert reservations == {41: "Cancelled", 42: "Occupied"}

    profile = {"charging_profile_id": 7, "stack_level": 1,
               "charging_profile_purpose": "TxDefaultProfile",
               "charging_profile_kind": "Absolute",
               "charging_schedule": {"charging_rate_unit": "W", "charging_schedule_period": [
                   {"start_period": 0, "limit": 7400.0}]}}
    status, answer = await command(server, headers, "setchargingprofile",
                                   {"connector_id": 1, "cs_charging_profiles": profile})
    assert (status, answer) == (200, {"status": "Accepted"})
    assert station.received[-1][0] == "SetChargingProfile"
    assert station.received[-1][1]["charging_schedule"]["charging_rate_unit"] == "W"
    [stored] = await rows(server, ChargingProfile)
    assert (stored.ocpp_profile_id, stored.status, stored.evse_number) == (7, "Accepted", 1)
    await command(server, headers, "clearchargingprofile", {"id": 7})
    assert [p.status for p in await rows(server, ChargingProfile)] == ["Cleared"]

    await command(server, headers, "getconfiguration", {})
    await command(server, headers, "changeconfiguration",
                  {"key": "MeterValueSampleInterval", "value": "15"})
    settings = {s.key: s.value for s in await rows(server, StationSetting)}
    assert settings == {"MeterValueSampleInterval": "15", "HeartbeatInterval": "300"}

    status, answer = await command(server, headers, "sendlocallist", {"update_type": "Full"})
    assert answer == {"status": "Accepted"}
    version, kind, entries = station.local_list
    assert (version, kind) == (1, "Full")
    assert {e["id_tag"]: e["id_tag_info"]["status"] for e in entries} == {
        "T-1": "Accepted", "T-2": "Blocked"}
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(IdToken(id_token="T-3"))
    await command(server, headers, "sendlocallist", {"update_type": "Differential"})
    version, kind, entries = station.local_list
    assert (version, kind, [e["id_tag"] for e in entries]) == (2, "Differential", ["T-3"])
    assert (await command(server, headers, "getlocallistversion", {}))[1] == {"list_version": 2}
    [cp] = await rows(server, ChargingStation)
    assert cp.local_list_version == 2
    await disconnect(station)


async def test_security_extension_messages_from_the_station(openv2x_server):
    server = await openv2x_server()
    await register(server)
    station = await connect(server, "CP1")
    await station.call(call.SecurityEventNotification(
        type="InvalidCentralSystemCertificate", timestamp="2026-11-24T09:00:00Z",
        tech_info="cert expired"))
    await station.call(call.LogStatusNotification(status="Uploading", request_id=3))
    await station.call(call.SignedFirmwareStatusNotification(status="SignatureVerified",
                                                             request_id=4))
    answer = await station.call(call.SignCertificate(csr="-----BEGIN CERTIFICATE REQUEST-----"))
    assert answer.status == "Rejected"
    [event] = await rows(server, SecurityEvent)
    assert (event.type, event.tech_info) == ("InvalidCentralSystemCertificate", "cert expired")
    [cp] = await rows(server, ChargingStation)
    assert (cp.log_status, cp.firmware_status) == ("Uploading", "SignatureVerified")
    await disconnect(station)


async def test_restart_mid_transaction_loses_nothing_acknowledged(openv2x_server, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}"
    first = await openv2x_server(db_url=url)
    await register(first)
    async with first.app[appkeys.DB].transaction() as work:
        work.session.add(IdToken(id_token="GOOD"))
    station = await connect(first, "CP1")
    started = await station.call(call.StartTransaction(
        connector_id=1, id_tag="GOOD", meter_start=100, timestamp="2026-11-24T10:00:00Z"))
    await station.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id,
                                        meter_value=[{"timestamp": "2026-11-24T10:05:00Z",
                                                      "sampledValue": [{"value": "600"}]}]))
    await first.server.close()  # the process goes away; the station notices
    await asyncio.wait_for(station.loop_task, 5)

    second = await openv2x_server(db_url=url)
    station = await connect(second, "CP1")
    # Offline queue, delivered late and out of order:
    for minute in (20, 10):
        await station.call(call.MeterValues(
            connector_id=1, transaction_id=started.transaction_id,
            meter_value=[{"timestamp": f"2026-11-24T10:{minute}:00Z",
                          "sampledValue": [{"value": str(100 + 100 * minute)}]}]))
    await station.call(call.StopTransaction(meter_stop=2500, timestamp="2026-11-24T10:30:00Z",
                                            transaction_id=started.transaction_id))
    [tx] = await rows(second, Transaction)
    assert (tx.id, tx.status, tx.energy_wh) == (started.transaction_id, "Completed", 2400)
    headers = await second.auth_headers("cpo_manager")
    async with second.http.get(second.url(f"/api/sampledvalue/{tx.id}/?ordering=timestamp"),
                               headers=headers) as resp:
        values = [r["value"] for r in (await resp.json())["results"]]
    assert values == [600, 1100, 2100]
    await disconnect(station)


async def test_stored_charging_profiles_and_reservations_over_rest(openv2x_server,
                                                                  openv2x_db_url):
    server = await openv2x_server()
    await register(server)
    station = await connect(server, "CP1")
    headers = await server.auth_headers("cpo_manager")
    profile = {"stack_level": 2, "purpose": "TxDefaultProfile", "kind": "Recurring",
               "recurrency_kind": "Daily", "schedule": {
                   "charging_rate_unit": "W", "duration": 86400, "charging_schedule_period": [
                       {"start_period": 0, "limit": 11000}, {"start_period": 3600,
                                                             "limit": 3680.5}]}}
    bad = [{**profile, "recurrency_kind": None},
           {**profile, "schedule": {**profile["schedule"], "charging_schedule_period": [
               {"start_period": 60, "limit": 1}]}},
           {**profile, "purpose": "Whatever"}]
    for body in bad:
        async with server.http.post(server.url("/api/chargingprofile/"), json=body,
                                    headers=headers) as resp:
            assert resp.status == 400, body
    async with server.http.post(server.url("/api/chargingprofile/"), json=profile,
                                headers=headers) as resp:
        assert resp.status == 201
        stored = await resp.json()
    assert stored["schedule"]["charging_schedule_period"][1]["limit"] == 3680.5

    status, answer = await command(server, headers, "sendchargingprofile",
                                   {"profile_id": stored["id"], "connector_id": 1})
    assert (status, answer) == (200, {"status": "Accepted"})
    sent = station.received[-1][1]
    assert (sent["charging_profile_id"], sent["recurrency_kind"]) == (stored["id"], "Daily")
    assert sent["charging_schedule"]["charging_schedule_period"][1]["limit"] == 3680.5
    async with server.http.get(server.url("/api/chargingprofile/?station_id=CP1"),
                               headers=headers) as resp:
        copies = (await resp.json())["results"]
    assert [(c["status"], c["ocpp_profile_id"]) for c in copies] == [("Accepted", stored["id"])]
    assert (await command(server, headers, "sendchargingprofile",
                          {"profile_id": 9999, "connector_id": 1}))[0] == 404
    assert (await command(server, headers, "sendchargingprofile", {"profile_id": 1}))[0] == 400

    await command(server, headers, "reservenow", {
        "connector_id": 1, "expiry_date": "2030-01-01T10:00:00Z", "id_tag": "T-1",
        "reservation_id": 5})
    async with server.http.get(server.url("/api/reservation/?station_id=CP1"),
                               headers=headers) as resp:
        [reservation] = (await resp.json())["results"]
    assert (reservation["id"], reservation["status"]) == (5, "Active")
    driver = await server.auth_headers("driver")
    async with server.http.get(server.url("/api/reservation/"), headers=driver) as resp:
        assert (await resp.json())["count"] == 0
    await disconnect(station)
