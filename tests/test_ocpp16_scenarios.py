"""Seed 002 Table 1 acceptance scenarios end to end, with the bundled simulator as the charger."""

import asyncio

import pytest
from sqlalchemy import func, select

from core import appkeys
from core.db.models import ChargingStation, IdToken, MeterValue, StatusNotification, Transaction
from core.simulator.base import Counters, SimConfig
from core.simulator.fleet import run_fleet, run_station


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


@pytest.fixture
async def site(openv2x_server, openv2x_db_url):
    server = await openv2x_server(settings={"ocpp": {"unknown_stations": "accept",
                                                     "heartbeat_interval": 10}})
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(IdToken(id_token="DRIVER1"))
    cfg = SimConfig(url=server.url("/ocpp").replace("http://", "ws://"), connectors=2,
                    meter_interval=60, id_tag="DRIVER1")
    stop = asyncio.Event()
    counters = Counters()
    task = asyncio.create_task(run_station("SIM1", cfg, counters, stop, max_backoff=0.2))
    await wait_for(lambda: scalar(server, select(func.count()).select_from(StatusNotification)
                                  .where(StatusNotification.connector_number == 2)))
    headers = await server.auth_headers("cpo_manager")
    yield server, headers, counters
    stop.set()
    await task
    assert counters.failed == 0


async def command(server, headers, name, body):
    async with server.http.post(server.url(f"/api/ocpp16/{name}/SIM1/"), json=body,
                                headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_boot_heartbeat_and_availability(site):
    server, headers, _ = site
    [station] = (await _rows(server, ChargingStation))
    assert (station.vendor, station.model, station.connected) == ("OpenV2X", "Simulator", True)
    assert (await command(server, headers, "triggermessage",
                          {"requested_message": "Heartbeat"}))["status"] == "Accepted"
    assert (await command(server, headers, "changeavailability",
                          {"connector_id": 2, "type": "Inoperative"}))["status"] == "Accepted"
    await wait_for(lambda: _connector_status(server, 2, "Unavailable"))
    await command(server, headers, "changeavailability", {"connector_id": 2, "type": "Operative"})
    await wait_for(lambda: _connector_status(server, 2, "Available"))


async def test_configuration_and_meter_interval(site):
    server, headers, _ = site
    config = await command(server, headers, "getconfiguration",
                           {"key": ["MeterValueSampleInterval"]})
    assert config["configuration_key"][0]["value"] == "60"
    assert (await command(server, headers, "changeconfiguration",
                          {"key": "MeterValueSampleInterval", "value": "1"}))["status"] == \
        "Accepted"
    assert (await command(server, headers, "changeconfiguration",
                          {"key": "NumberOfConnectors", "value": "9"}))["status"] == "Rejected"
    assert (await command(server, headers, "remotestarttransaction",
                          {"id_tag": "DRIVER1", "connector_id": 1}))["status"] == "Accepted"
    tx = await wait_for(lambda: _active(server))
    samples = await wait_for(lambda: scalar(server, select(func.count(func.distinct(
        MeterValue.timestamp))).where(MeterValue.transaction_id == tx.id).having(
        func.count(func.distinct(MeterValue.timestamp)) >= 2)), timeout=15)
    assert samples >= 2
    assert (await command(server, headers, "remotestoptransaction",
                          {"transaction_id": tx.id}))["status"] == "Accepted"
    done = await wait_for(lambda: _completed(server, tx.id))
    assert done.stop_reason == "Remote" and done.energy_wh > 0 and done.soc_last is not None


async def test_local_start_with_authorize_and_resets(site):
    server, headers, counters = site
    before = await scalar(server, select(ChargingStation.last_boot))
    assert (await command(server, headers, "reset", {"type": "Soft"}))["status"] == "Accepted"
    await wait_for(lambda: _booted_after(server, before))
    before = await scalar(server, select(ChargingStation.last_boot))
    assert (await command(server, headers, "reset", {"type": "Hard"}))["status"] == "Accepted"
    await wait_for(lambda: _booted_after(server, before))
    assert counters.reconnects >= 2


async def test_fleet_runs_transactions(openv2x_server, openv2x_db_url):
    server = await openv2x_server(settings={"ocpp": {"unknown_stations": "accept"}})
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(IdToken(id_token="FLEET"))
    cfg = SimConfig(url=server.url("/ocpp").replace("http://", "ws://"), meter_interval=1,
                    transactions=True, id_tag="FLEET", session_s=1.5, pause_s=0.5)
    counters = await run_fleet(cfg, [f"F{i}" for i in range(3)], duration=3)
    assert counters.failed == 0 and counters.sent > 20
    completed = await scalar(server, select(func.count()).select_from(Transaction).where(
        Transaction.status == "Completed"))
    assert completed >= 3


async def _rows(server, model):
    async with server.app[appkeys.DB].session() as session:
        return (await session.execute(select(model))).scalars().all()


async def _connector_status(server, number, status):
    from core.db.models import Connector
    return await scalar(server, select(Connector.id).where(
        Connector.connector_number == number, Connector.status == status))


async def _active(server):
    async with server.app[appkeys.DB].session() as session:
        return (await session.execute(select(Transaction).where(
            Transaction.status == "Active"))).scalars().first()


async def _completed(server, tx_id):
    async with server.app[appkeys.DB].session() as session:
        tx = await session.get(Transaction, tx_id)
        return tx if tx is not None and tx.status == "Completed" else None


async def _booted_after(server, moment):
    latest = await scalar(server, select(ChargingStation.last_boot))
    return latest is not None and latest > moment
