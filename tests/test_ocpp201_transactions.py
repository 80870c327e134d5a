"""OCPP 2.x authorization and transactions over real WebSockets, 2.0.1 and 2.1."""

import json

import pytest
from ocpp.routing import on
from ocpp.v201 import call_result as result201
from ocpp201_station import Station21, Station201, connect, disconnect
from sqlalchemy import select

from core import appkeys
from core.db.models import (
    ChargingStation,
    IdToken,
    MeterValue,
    Reservation,
    Transaction,
    User,
    Vehicle,
)
from plugins.ocpp201.models import TransactionEvent

VERSIONS = ["2.0.1", "2.1"]
T0 = "2026-11-24T10:00:00Z"


async def setup(server, *tokens):
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(ChargingStation(id="CS1", registration_status="Accepted"))
        work.session.add_all(tokens)


async def rows(server, model, *where, order=None):
    async with server.app[appkeys.DB].session() as session:
        query = select(model).where(*where)
        if order is not None:
            query = query.order_by(order)
        return (await session.execute(query)).scalars().all()


def energy(wh, context="Sample.Periodic", at=T0, extra=()):
    values = [{"value": wh, "measurand": "Energy.Active.Import.Register", "context": context,
               "unit_of_measure": {"unit": "Wh"}}, *extra]
    return [{"timestamp": at, "sampled_value": values}]


def event(station, event_type, seq_no, *, at=T0, tx="TX-1", trigger="Authorized", **fields):
    info = {"transaction_id": tx, **fields.pop("info", {})}
    return station.calls.TransactionEvent(event_type=event_type, timestamp=at,
                                          trigger_reason=trigger, seq_no=seq_no,
                                          transaction_info=info, **fields)


@pytest.mark.parametrize("version", VERSIONS)
async def test_authorize_every_token_type_with_its_options(openv2x_server, openv2x_db_url,
                                                           version):
    server = await openv2x_server()
    await setup(server,
                IdToken(id_token="MASTER", type="ISO14443"),
                IdToken(id_token="04A1B2", type="ISO14443", group_id_token="MASTER",
                        language="pt", charging_priority=5,
                        personal_message={"format": "UTF8", "content": "Olá"}),
                IdToken(id_token="PT-EMA-123", type="eMAID", status="Blocked"),
                IdToken(id_token="1234", type="KeyCode"),
                IdToken(id_token="VEH-TOKEN", type="ISO14443"))
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(Vehicle(identifier="00:1A:2B:3C:4D:5E", kind="MacAddress",
                                 id_token="VEH-TOKEN"))
    station = await connect(server, "CS1", version=version)

    async def status(value, kind):
        answer = await station.call(station.calls.Authorize(
            id_token={"id_token": value, "type": kind}))
        return answer.id_token_info

    info = await status("04A1B2", "ISO14443")
    assert info["status"] == "Accepted" and info["language1"] == "pt"
    assert info["charging_priority"] == 5
    assert info["personal_message"] == {"format": "UTF8", "content": "Olá"}
    assert info["group_id_token"] == {"id_token": "MASTER", "type": "ISO14443"}
    assert (await status("PT-EMA-123", "eMAID"))["status"] == "Blocked"
    assert (await status("1234", "KeyCode"))["status"] == "Accepted"
    assert (await status("NOPE", "ISO15693"))["status"] == "Unknown"
    assert (await status("", "NoAuthorization"))["status"] == "Accepted"
    assert (await status("LOCAL-1", "Local"))["status"] == "Accepted"
    assert (await status("CSMS-ISSUED", "Central"))["status"] == "Accepted"
    assert (await status("00:1A:2B:3C:4D:5E", "MacAddress"))["status"] == "Accepted"
    assert (await status("FF:FF:FF:FF:FF:FF", "MacAddress"))["status"] == "Unknown"
    [vehicle] = await rows(server, Vehicle)
    assert vehicle.last_seen is not None
    await disconnect(station)


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_whole_session_with_meter_values(openv2x_server, openv2x_db_url, version):
    server = await openv2x_server()
    await setup(server, IdToken(id_token="TAG", type="ISO14443"))
    station = await connect(server, "CS1", version=version)
    token = {"id_token": "TAG", "type": "ISO14443"}
    answer = await station.call(event(
        station, "Started", 0, evse={"id": 1, "connector_id": 1}, id_token=token,
        meter_value=energy(10000, "Transaction.Begin"),
        info={"charging_state": "Charging"}))
    assert answer.id_token_info["status"] == "Accepted"
    soc = {"value": 42, "measurand": "SoC", "unit_of_measure": {"unit": "Percent"}}
    power = {"value": 11, "measurand": "Power.Active.Import",
             "unit_of_measure": {"unit": "W", "multiplier": 3}}
    await station.call(event(station, "Updated", 1, at="2026-11-24T10:30:00Z",
                             trigger="MeterValuePeriodic",
                             meter_value=energy(15500, at="2026-11-24T10:30:00Z",
                                                extra=(soc, power))))
    await station.call(event(station, "Ended", 2, at="2026-11-24T11:00:00Z",
                             trigger="EVCommunicationLost",
                             meter_value=energy(21000, "Transaction.End",
                                                at="2026-11-24T11:00:00Z"),
                             info={"stopped_reason": "EVDisconnected",
                                   "charging_state": "Idle"}))
    [tx] = await rows(server, Transaction)
    assert (tx.transaction_uid, tx.status, tx.meter_start_wh, tx.meter_stop_wh, tx.energy_wh,
            tx.stop_reason, tx.soc_last, tx.id_token, tx.evse_number, tx.connector_number) == (
        "TX-1", "Completed", 10000, 21000, 11000, "EVDisconnected", 42, "TAG", 1, 1)
    samples = await rows(server, MeterValue, order=MeterValue.id)
    assert [s.transaction_id for s in samples] == [tx.id] * 5
    [watts] = [s for s in samples if s.measurand == "Power.Active.Import"]
    assert (watts.value, watts.unit) == (11000, "W")
    events = await rows(server, TransactionEvent, order=TransactionEvent.seq_no)
    assert [(e.seq_no, e.event_type, e.charging_state) for e in events] == [
        (0, "Started", "Charging"), (1, "Updated", None), (2, "Ended", "Idle")]
    headers = await server.auth_headers("cpo_manager")
    async with server.http.get(server.url(f"/api/transaction/{tx.id}/"),
                               headers=headers) as resp:
        body = await resp.json()
    assert (body["energy_wh"], body["transaction_uid"]) == (11000, "TX-1")
    await disconnect(station)


async def test_repeats_reordering_and_offline_events_lose_nothing(openv2x_server,
                                                                  openv2x_db_url):
    server = await openv2x_server()
    await setup(server, IdToken(id_token="TAG", type="ISO14443"))
    station = await connect(server, "CS1")
    token = {"id_token": "TAG", "type": "ISO14443"}
    # Offline queue delivered out of order: Updated and Ended before the Started.
    await station.call(event(station, "Updated", 1, at="2026-11-24T10:10:00Z",
                             trigger="MeterValuePeriodic", offline=True,
                             meter_value=energy(1500, at="2026-11-24T10:10:00Z")))
    ended = event(station, "Ended", 2, at="2026-11-24T10:20:00Z", trigger="StopAuthorized",
                  offline=True, meter_value=energy(2500, "Transaction.End",
                                                   at="2026-11-24T10:20:00Z"),
                  info={"stopped_reason": "Local"})
    await station.call(ended)
    await station.call(ended)  # a repeat: nothing changes
    await station.call(event(station, "Started", 0, offline=True, id_token=token,
                             evse={"id": 1, "connector_id": 1},
                             meter_value=energy(1000, "Transaction.Begin")))
    await station.call(event(station, "Started", 0, offline=True, id_token=token,
                             evse={"id": 1, "connector_id": 1}))  # repeated Started
    [tx] = await rows(server, Transaction)
    assert tx.started_at.minute == 0 and tx.stopped_at.minute == 20
    assert (tx.status, tx.meter_stop_wh, tx.id_token, tx.evse_number) == (
        "Completed", 2500, "TAG", 1)
    assert len(await rows(server, TransactionEvent)) == 3
    assert len(await rows(server, MeterValue)) == 3
    await disconnect(station)
    # On a new connection: an older event not yet stored, then a repeat of a newer one.
    station = await connect(server, "CS1")
    await station.call(event(station, "Updated", 3, at="2026-11-24T10:15:00Z", offline=True,
                             trigger="MeterValuePeriodic",
                             meter_value=energy(2000, at="2026-11-24T10:15:00Z")))
    await station.call(ended)
    assert len(await rows(server, TransactionEvent)) == 4
    assert len(await rows(server, MeterValue)) == 4
    await disconnect(station)


async def test_a_new_session_on_a_busy_connector_closes_the_ghost(openv2x_server):
    server = await openv2x_server()
    await setup(server)
    station = await connect(server, "CS1")
    for uid, seq in (("OLD", 0), ("NEW", 0)):
        await station.call(event(station, "Started", seq, tx=uid, trigger="CablePluggedIn",
                                 evse={"id": 1, "connector_id": 1}))
    old, new = await rows(server, Transaction, order=Transaction.id)
    assert (old.status, old.closed_by, new.status) == ("Completed", "csms", "Active")
    await station.call(station.calls.StatusNotification(
        timestamp="2026-11-24T12:00:00Z", connector_status="Available", evse_id=1,
        connector_id=1))
    [_, new] = await rows(server, Transaction, order=Transaction.id)
    assert (new.status, new.closed_by) == ("Completed", "csms")
    await disconnect(station)


class Remote201(Station201):
    @on("RequestStartTransaction")
    def on_start(self, id_token, remote_start_id, evse_id=None, **_):
        self.received.append(("RequestStartTransaction", remote_start_id))
        return result201.RequestStartTransaction(status="Accepted")

    @on("RequestStopTransaction")
    def on_stop(self, transaction_id, **_):
        self.received.append(("RequestStopTransaction", transaction_id))
        return result201.RequestStopTransaction(status="Accepted")

    @on("ReserveNow")
    def on_reserve(self, id, expiry_date_time, id_token, **_):
        return result201.ReserveNow(status="Accepted")

    @on("CancelReservation")
    def on_cancel(self, reservation_id, **_):
        return result201.CancelReservation(status="Accepted")

    @on("SendLocalList")
    def on_local_list(self, version_number, update_type, local_authorization_list=None):
        self.local_list = (version_number, update_type, local_authorization_list or [])
        return result201.SendLocalList(status="Accepted")

    @on("GetTransactionStatus")
    def on_tx_status(self, transaction_id=None, **_):
        return result201.GetTransactionStatus(messages_in_queue=False, ongoing_indicator=True)


async def test_remote_control_reservations_and_local_list(openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    await setup(server, IdToken(id_token="TAG", type="ISO14443", charging_priority=2))
    station = await connect(server, "CS1", station_cls=Remote201)
    headers = await server.auth_headers("cpo_manager")

    async def command(name, body):
        async with server.http.post(server.url(f"/api/ocpp201/{name}/CS1/"), json=body,
                                    headers=headers) as resp:
            return resp.status, await resp.json()

    assert await command("requeststarttransaction", {
        "id_token": {"id_token": "TAG", "type": "ISO14443"}, "remote_start_id": 7,
        "evse_id": 1}) == (200, {"status": "Accepted"})
    await station.call(event(station, "Started", 0, trigger="RemoteStart",
                             evse={"id": 1, "connector_id": 1},
                             info={"remote_start_id": 7}))
    [tx] = await rows(server, Transaction)
    assert tx.remote_start_id == 7
    assert (await command("requeststoptransaction", {"transaction_id": "TX-1"}))[0] == 200
    assert ("RequestStopTransaction", "TX-1") in station.received
    status, answer = await command("gettransactionstatus", {"transaction_id": "TX-1"})
    assert (status, answer["ongoing_indicator"]) == (200, True)

    assert (await command("reservenow", {
        "id": 31, "expiry_date_time": "2030-01-01T10:00:00Z", "evse_id": 2,
        "id_token": {"id_token": "TAG", "type": "ISO14443"}}))[0] == 200
    [reservation] = await rows(server, Reservation)
    assert (reservation.id, reservation.status, reservation.evse_number) == (31, "Active", 2)
    await station.call(station.calls.ReservationStatusUpdate(
        reservation_id=31, reservation_update_status="Expired"))
    [reservation] = await rows(server, Reservation)
    assert reservation.status == "Expired"

    status, _ = await command("sendlocallist", {"update_type": "Full"})
    assert status == 200
    version, kind, entries = station.local_list
    assert (version, kind) == (1, "Full")
    assert entries == [{"id_token": {"id_token": "TAG", "type": "ISO14443"},
                        "id_token_info": {"status": "Accepted", "charging_priority": 2}}]
    [cs] = await rows(server, ChargingStation)
    assert cs.local_list_version == 1
    await disconnect(station)


async def test_vehicles_link_an_ev_to_a_driver(openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    await setup(server)
    manager = await server.auth_headers("cpo_manager")
    driver = await server.auth_headers("driver", "dora")
    async with server.app[appkeys.DB].session() as session:
        dora = (await session.execute(select(User).where(User.username == "dora"))).scalar_one()
    async with server.http.post(server.url("/api/vehicle/"), headers=driver, json={
            "identifier": "EVCCID-DORA", "label": "Van", "user_id": 999}) as resp:
        assert resp.status == 201
        body = await resp.json()
    assert body["user_id"] == dora.id  # a driver registers vehicles for themself
    async with server.http.post(server.url("/api/vehicle/"), headers=manager, json={
            "identifier": "EVCCID-DORA"}) as resp:
        assert resp.status == 409
    station = await connect(server, "CS1", version="2.1")
    answer = await station.call(station.calls.Authorize(
        id_token={"id_token": "EVCCID-DORA", "type": "MacAddress"}))
    assert answer.id_token_info["status"] == "Accepted"
    await station.call(event(station, "Started", 0, trigger="CablePluggedIn",
                             evse={"id": 1, "connector_id": 1},
                             id_token={"id_token": "EVCCID-DORA", "type": "MacAddress"}))
    [tx] = await rows(server, Transaction)
    assert tx.user_id == dora.id  # attributed to the driver without a card
    await disconnect(station)


async def test_bad_transaction_events_are_refused(openv2x_server):
    server = await openv2x_server()
    await setup(server)
    station = await connect(server, "CS1", station_cls=Station21, version="2.1")
    for frame, code in [
        ('{"eventType": "Begun", "timestamp": "2026-11-24T10:00:00Z", "triggerReason": '
         '"Authorized", "seqNo": 0, "transactionInfo": {"transactionId": "X"}}',
         "PropertyConstraintViolation"),
        ('{"eventType": "Started", "timestamp": "2026-11-24T10:00:00Z", "triggerReason": '
         '"Authorized", "seqNo": 0}', "OccurrenceConstraintViolation"),
    ]:
        answer = await raw_call(server, "TransactionEvent", frame)
        assert answer[:3] == [4, "bad", code], answer
    assert await rows(server, Transaction) == []
    await disconnect(station)


async def raw_call(server, action, payload):
    url = server.url("/ocpp/CS1").replace("http://", "ws://")
    async with server.http.ws_connect(url, protocols=("ocpp2.1",)) as ws:
        await ws.send_str(f'[2, "bad", "{action}", {payload}]')
        return json.loads((await ws.receive()).data)
