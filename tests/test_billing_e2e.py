"""Billing end to end: real OCPP 1.6 and 2.0.1 stations charge against tariffs, and the CDR
that appears has the cost worked out here by hand from the OCPI 2.2.1 rules, is a valid OCPI
CDR, is in every export, and equals the live estimate; corrections issue credit CDRs;
finished sessions keep the tariff version they ran under; OCPP 2.x stations get CostUpdated.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from decimal import Decimal

import openpyxl
from ocpp.routing import on
from ocpp.v16 import call
from ocpp.v201 import call_result as result201
from ocpp16_station import connect as connect16
from ocpp16_station import disconnect as disconnect16
from ocpp201_station import Station201
from ocpp201_station import connect as connect201
from ocpp201_station import disconnect as disconnect201
from test_billing_support import (
    PARTY,
    add_site,
    add_token,
    assert_ocpi,
    component,
    energy_tariff,
    rows,
    tariff,
)
from test_billing_support import call as rest

from core import appkeys
from core.db.models import Transaction
from core.events import Event
from plugins.billing.tables import Cdr

UTC = dt.UTC


def at(text):
    return f"2026-11-23T{text}:00Z"


def energy16(when, wh, watts=None):
    values = [{"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh",
               "context": "Sample.Periodic"}]
    if watts is not None:
        values.append({"value": str(watts), "measurand": "Power.Active.Import", "unit": "W"})
    return [{"timestamp": when, "sampled_value": values}]


async def status16(station, status, when):
    await station.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                               status=status, timestamp=when))


async def cdrs_of(server, headers, tx_id):
    await server.app[appkeys.EVENTS].drain()
    body = await rest(server, "GET", f"/api/cdr/?transaction_id={tx_id}&ordering=last_updated",
                      headers)
    return body["results"]


async def test_an_ocpp16_session_gets_the_exact_cdr_in_every_export(openv2x_server,
                                                                    openv2x_db_url):
    server = await openv2x_server(settings=PARTY)
    manager = await server.auth_headers("billing_manager")
    await add_site(server, station_id="CP16")
    driver_id = await server.add_user("driver", username="dora")
    await add_token(server, "RFID-1", type="ISO14443", user_id=driver_id, country_code="NL",
                    party_id="OVX")
    # Local time is Amsterdam (UTC+1): energy costs 0.25 before 11:00 and 0.40 after, a
    # start fee of 0.50, and parking 6.00 an hour in steps of a minute; all with 20 % VAT.
    await rest(server, "POST", "/api/tariff/", manager, tariff(
        "AC-DAY",
        {"price_components": [component("FLAT", "0.50", 1, 20)]},
        {"price_components": [component("ENERGY", "0.25", 1, 20)],
         "restrictions": {"start_time": "00:00", "end_time": "11:00"}},
        {"price_components": [component("ENERGY", "0.40", 1, 20)]},
        {"price_components": [component("PARKING_TIME", 6, 60, 20)]}), 201)
    await rest(server, "POST", "/api/tariff/", manager, energy_tariff("DC-ONLY", 9), 201)
    for tariff_id, power in (("AC-DAY", "AC"), ("DC-ONLY", "DC")):
        await rest(server, "POST", "/api/tariffassignment/", manager,
                   {"tariff_id": tariff_id, "scope": "station", "station_id": "CP16",
                    "power_type": power}, 201)

    station = await connect16(server, "CP16", boot=False)
    await station.call(call.BootNotification(charge_point_model="M1",
                                             charge_point_vendor="OpenV2X-Test",
                                             meter_serial_number="MTR-CP16"))
    await status16(station, "Preparing", at("09:29"))
    started = await station.call(call.StartTransaction(
        connector_id=1, id_tag="RFID-1", meter_start=1000, timestamp=at("09:30")))
    tx_id = started.transaction_id
    await status16(station, "Charging", at("09:30"))
    for when, wh in (("09:45", 3000), ("10:00", 5000), ("10:15", 7000)):
        await station.call(call.MeterValues(connector_id=1, transaction_id=tx_id,
                                            meter_value=energy16(at(when), wh, 8000)))
    live = await rest(server, "GET", f"/api/transaction/{tx_id}/cost/", manager)
    assert live["status"] == "Active" and live["tariff_id"] == "AC-DAY"
    assert live["total_fixed_cost"] == {"excl_vat": 0.5, "incl_vat": 0.6}
    await station.call(call.MeterValues(connector_id=1, transaction_id=tx_id,
                                        meter_value=energy16(at("10:30"), 8000, 0)))
    await status16(station, "SuspendedEV", at("10:30"))
    await station.call(call.StopTransaction(meter_stop=8000, timestamp=at("11:00"),
                                            transaction_id=tx_id, reason="EVDisconnected"))
    await status16(station, "Finishing", at("11:00"))
    await disconnect16(station)

    [cdr] = await cdrs_of(server, manager, tx_id)
    assert_ocpi(cdr, "cdrs", "CDR")
    # By hand: 4 kWh before 11:00 local (10:00 UTC) x 0.25 = 1.00; 3 kWh after x 0.40 =
    # 1.20; start fee 0.50; 30 minutes parked after 10:30 UTC x 6.00/h = 3.00.
    # 5.70 excluding VAT, 6.84 including 20 %.
    assert cdr["total_cost"] == {"excl_vat": 5.7, "incl_vat": 6.84}
    assert cdr["total_fixed_cost"] == {"excl_vat": 0.5, "incl_vat": 0.6}
    assert cdr["total_energy_cost"] == {"excl_vat": 2.2, "incl_vat": 2.64}
    assert cdr["total_parking_cost"] == {"excl_vat": 3.0, "incl_vat": 3.6}
    assert cdr["total_time_cost"] == {"excl_vat": 0.0, "incl_vat": 0.0}
    assert (cdr["total_energy"], cdr["total_time"], cdr["total_parking_time"]) == (7.0, 1.5, 0.5)
    assert (cdr["start_date_time"], cdr["end_date_time"]) == (at("09:30"), at("11:00"))
    assert (cdr["country_code"], cdr["party_id"], cdr["currency"]) == ("NL", "OVX", "EUR")
    assert cdr["cdr_token"] == {"country_code": "NL", "party_id": "OVX", "uid": "RFID-1",
                                "type": "RFID", "contract_id": "RFID-1"}
    assert (cdr["auth_method"], cdr["session_id"], cdr["meter_id"]) == (
        "AUTH_REQUEST", str(tx_id), "MTR-CP16")
    location = cdr["cdr_location"]
    assert (location["id"], location["evse_id"], location["connector_id"],
            location["connector_power_type"], location["city"]) == (
        "LOC1", "NL*OVX*ECP16*1", "1", "AC_3_PHASE", "Amsterdam")
    assert [t["id"] for t in cdr["tariffs"]] == ["AC-DAY"]
    periods = [(p["start_date_time"], {d["type"]: d["volume"] for d in p["dimensions"]})
               for p in cdr["charging_periods"]]
    assert [(start, dims.get("ENERGY"), dims.get("TIME"), dims.get("PARKING_TIME"))
            for start, dims in periods] == [
        (at("09:30"), 4.0, 0.5, None), (at("10:00"), 3.0, 0.5, None),
        (at("10:30"), None, None, 0.5)]
    assert periods[0][1]["MAX_POWER"] == 8.0
    assert "remark" not in cdr

    tx = await rest(server, "GET", f"/api/transaction/{tx_id}/", manager)
    assert (tx["cost"], tx["currency"]) == (6.84, "EUR")
    estimate = await rest(server, "GET", f"/api/transaction/{tx_id}/cost/", manager)
    assert {k: estimate[k] for k in cdr if k in estimate} == {k: cdr[k] for k in cdr
                                                              if k in estimate}
    assert estimate["total_cost"] == cdr["total_cost"]

    # Exports: CSV, XLSX and JSON all carry it.
    async with server.http.get(server.url("/api/cdr/export/?format=csv&station_id=CP16"
                                          "&date_from=2026-01-01"), headers=manager) as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        assert "cdrs.csv" in resp.headers["Content-Disposition"]
        [line] = list(csv.DictReader(io.StringIO(await resp.text())))
    assert (line["cdr_id"], line["total_cost_incl_vat"], line["total_energy_kwh"],
            line["user"], line["id_token"], line["start_date_time"]) == (
        cdr["id"], "6.84", "7.0", "dora", "RFID-1", at("09:30"))
    async with server.http.get(server.url("/api/cdr/export/?format=xlsx&station_id=CP16"),
                               headers=manager) as resp:
        assert resp.status == 200
        book = openpyxl.load_workbook(io.BytesIO(await resp.read()))
    header, *values = list(book["CDRs"].iter_rows(values_only=True))
    [record] = [dict(zip(header, value, strict=True)) for value in values]
    assert (record["cdr_id"], record["total_cost_excl_vat"], record["total_cost_incl_vat"],
            record["start_date_time (UTC)"]) == (cdr["id"], 5.7, 6.84,
                                                 dt.datetime(2026, 11, 23, 9, 30))
    async with server.http.get(server.url("/api/cdr/export/?format=json"),
                               headers=manager) as resp:
        assert json.loads(await resp.read()) == [cdr]
    async with server.http.get(server.url("/api/cdr/export/?format=csv&date_from=2999-01-01"),
                               headers=manager) as resp:
        assert len((await resp.text()).splitlines()) == 1  # the header only
    for query in ("format=pdf", "date_from=yesterday", "limit=5", "colour=red"):
        await rest(server, "GET", f"/api/cdr/export/?{query}", manager, status=400)

    # Drivers see their own CDRs only; CDRs cannot be written, only deleted.
    dora = await server.auth_headers("driver", "dora")
    assert [c["id"] for c in (await rest(server, "GET", "/api/cdr/", dora))["results"]] == [
        cdr["id"]]
    other = await server.auth_headers("driver", "dan")
    assert (await rest(server, "GET", "/api/cdr/", other))["count"] == 0
    await rest(server, "GET", f"/api/cdr/{cdr['id']}/", other, status=404)
    await rest(server, "POST", "/api/cdr/", manager, cdr, status=405)
    await rest(server, "DELETE", f"/api/cdr/{cdr['id']}/", manager, status=403)
    await rest(server, "DELETE", f"/api/cdr/{cdr['id']}/",
               await server.auth_headers("cdr_manager"), status=204)


class CostStation(Station201):
    """Records the running costs the CSMS sends."""

    def __init__(self, station_id, connection):
        super().__init__(station_id, connection)
        self.costs = asyncio.Queue()

    @on("CostUpdated")
    def on_cost_updated(self, total_cost, transaction_id, **_):
        self.costs.put_nowait((total_cost, transaction_id))
        return result201.CostUpdated()


def event201(station, event_type, seq_no, when, trigger, wh, context="Sample.Periodic",
             signed=None, **fields):
    value = {"value": wh, "measurand": "Energy.Active.Import.Register", "context": context,
             "unit_of_measure": {"unit": "Wh"}}
    if signed is not None:
        value["signed_meter_value"] = signed
    info = {"transaction_id": "TX-201", **fields.pop("info", {})}
    return station.calls.TransactionEvent(
        event_type=event_type, timestamp=when, trigger_reason=trigger, seq_no=seq_no,
        transaction_info=info, meter_value=[{"timestamp": when, "sampled_value": [value]}],
        **fields)


async def test_an_ocpp201_session_gets_cost_updates_and_the_exact_cdr(openv2x_server,
                                                                     openv2x_db_url):
    server = await openv2x_server(settings={**PARTY, "billing": {
        **PARTY["billing"], "cost_update_interval": 0}})
    manager = await server.auth_headers("billing_manager")
    await add_site(server, station_id="CS201", connectors=(("DC", 150000),))
    await add_token(server, "APP-9", type="Central", country_code="DE", party_id="EMS")
    # Energy 0.59/kWh billed per 100 Wh; parking 12.00/h billed per 5 minutes; 21 % VAT.
    await rest(server, "POST", "/api/tariff/", manager, tariff(
        "DC-FAST", {"price_components": [component("ENERGY", "0.59", 100, 21),
                                         component("PARKING_TIME", 12, 300, 21)]}), 201)
    await rest(server, "POST", "/api/tariffassignment/", manager,
               {"tariff_id": "DC-FAST", "scope": "connector", "connector_id": "CS201-1"}, 201)

    station = await connect201(server, "CS201", station_cls=CostStation)
    await station.call(event201(
        station, "Started", 0, at("10:00"), "RemoteStart", 20000, "Transaction.Begin",
        evse={"id": 1, "connector_id": 1}, id_token={"id_token": "APP-9", "type": "Central"},
        info={"charging_state": "Charging", "remote_start_id": 77}))
    assert await asyncio.wait_for(station.costs.get(), 10) == (0, "TX-201")
    await station.call(event201(station, "Updated", 1, at("10:20"), "MeterValuePeriodic",
                                25050))
    # 5050 Wh billed as 5100 Wh x 0.59 = 3.009, x 1.21 = 3.64 including VAT.
    assert await asyncio.wait_for(station.costs.get(), 10) == (3.64, "TX-201")
    await station.call(event201(station, "Updated", 2, at("10:40"), "ChargingStateChanged",
                                40250, info={"charging_state": "SuspendedEV"}))
    await asyncio.wait_for(station.costs.get(), 10)
    signed = {"signed_meter_data": "T0NNRnxleGFtcGxl", "signing_method": "ECDSA-secp256r1",
              "encoding_method": "OCMF", "public_key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQc="}
    await station.call(event201(station, "Ended", 3, at("10:47"), "EVCommunicationLost", 40250,
                                "Transaction.End", signed=signed,
                                info={"stopped_reason": "EVDisconnected",
                                      "charging_state": "Idle"}))
    await disconnect201(station)

    [cdr] = await cdrs_of(server, manager, (await rows(server, Transaction))[0].id)
    [tx] = await rows(server, Transaction)
    assert_ocpi(cdr, "cdrs", "CDR")
    # By hand: 20250 Wh billed as 20300 Wh (step 100) x 0.59 = 11.977 (x 1.21 = 14.49217);
    # parked 7 minutes from 10:40, billed 10 (step 300 s) x 12.00/h = 2.00 (2.42).
    # Total 13.977 -> 13.98 excluding VAT, 16.91217 -> 16.91 including.
    assert cdr["total_cost"] == {"excl_vat": 13.98, "incl_vat": 16.91}
    assert cdr["total_energy_cost"] == {"excl_vat": 11.98, "incl_vat": 14.49}
    assert cdr["total_parking_cost"] == {"excl_vat": 2.0, "incl_vat": 2.42}
    assert (cdr["total_energy"], cdr["total_time"], cdr["total_parking_time"]) == (
        20.25, 0.7833, 0.1167)
    assert (cdr["auth_method"], cdr["authorization_reference"], cdr["session_id"]) == (
        "COMMAND", "77", "TX-201")
    assert cdr["cdr_token"] == {"country_code": "DE", "party_id": "EMS", "uid": "APP-9",
                                "type": "APP_USER", "contract_id": "APP-9"}
    assert cdr["cdr_location"]["connector_power_type"] == "DC"
    assert cdr["signed_data"] == {
        "encoding_method": "OCMF", "public_key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQc=",
        "signed_values": [{"nature": "End", "plain_data": "40250",
                           "signed_data": "T0NNRnxleGFtcGxl"}]}
    assert (tx.cost, tx.currency) == (Decimal("16.91"), "EUR")
    estimate = await rest(server, "GET", f"/api/transaction/{tx.id}/cost/", manager)
    assert (estimate["total_cost"], estimate["charging_periods"]) == (
        cdr["total_cost"], cdr["charging_periods"])
    async with server.http.get(server.url("/api/cdr/export/?format=csv&station_id=CS201"),
                               headers=manager) as resp:
        [line] = list(csv.DictReader(io.StringIO(await resp.text())))
    assert (line["cdr_id"], line["total_cost_excl_vat"], line["auth_method"]) == (
        cdr["id"], "13.98", "COMMAND")


async def test_a_corrected_session_is_credited_and_billed_again_once(openv2x_server,
                                                                    openv2x_db_url):
    server = await openv2x_server(settings=PARTY)
    manager = await server.auth_headers("billing_manager")
    await add_site(server, station_id="CP16")
    await add_token(server, "RFID-1")
    await rest(server, "POST", "/api/tariff/", manager, energy_tariff("FLAT-RATE", "0.30"), 201)
    await rest(server, "POST", "/api/tariffassignment/", manager,
               {"tariff_id": "FLAT-RATE", "scope": "default"}, 201)
    station = await connect16(server, "CP16")
    started = await station.call(call.StartTransaction(
        connector_id=1, id_tag="RFID-1", meter_start=1000, timestamp=at("10:00")))
    tx_id = started.transaction_id
    await station.call(call.MeterValues(connector_id=1, transaction_id=tx_id,
                                        meter_value=energy16(at("10:30"), 3000)))
    # The station reboots and forgets the session: the CSMS closes it as a ghost...
    await status16(station, "Available", at("11:00"))
    [first] = await cdrs_of(server, manager, tx_id)
    assert first["total_cost"] == {"excl_vat": 0.6, "incl_vat": 0.72}  # 2 kWh x 0.30
    assert "flagged for review" in first["remark"]
    # ...then its queued StopTransaction arrives, with the real meter reading.
    await station.call(call.StopTransaction(meter_stop=4000, timestamp=at("10:45"),
                                            transaction_id=tx_id, reason="Reboot"))
    await disconnect16(station)
    issued = {cdr["id"]: cdr for cdr in await cdrs_of(server, manager, tx_id)}
    assert len(issued) == 3 and issued.pop(first["id"]) == first
    credit = issued.pop(f"{first['id']}-C")
    [second] = issued.values()
    assert (credit["id"], credit["credit"], credit["credit_reference_id"]) == (
        f"{first['id']}-C", True, first["id"])
    assert credit["total_cost"] == {"excl_vat": -0.6, "incl_vat": -0.72}
    assert {k: v for k, v in credit.items()
            if k not in ("id", "credit", "credit_reference_id", "total_cost", "last_updated")
            } == {k: v for k, v in first.items()
                  if k not in ("id", "total_cost", "last_updated")}
    assert second["total_cost"] == {"excl_vat": 0.9, "incl_vat": 1.08}  # 3 kWh x 0.30
    assert "credit" not in second and second["end_date_time"] == at("10:45")
    for cdr in (first, credit, second):
        assert_ocpi(cdr, "cdrs", "CDR")
    tx = await rest(server, "GET", f"/api/transaction/{tx_id}/", manager)
    assert tx["cost"] == 1.08

    # The same events again change nothing.
    bus = server.app[appkeys.EVENTS]
    for corrected in (False, True):
        await bus.publish([Event("transaction.ended", {"id": tx_id, "station_id": "CP16",
                                                       "corrected": corrected})])
    assert len(await cdrs_of(server, manager, tx_id)) == 3
    assert sorted(r.revision for r in await rows(server, Cdr)) == [0, 0, 1]
    async with server.http.get(server.url("/api/cdr/export/?format=csv"),
                               headers=manager) as resp:
        lines = list(csv.DictReader(io.StringIO(await resp.text())))
    assert sorted(line["total_cost_incl_vat"] for line in lines) == ["-0.72", "0.72", "1.08"]


async def test_a_finished_session_keeps_the_tariff_version_it_ran_under(openv2x_server,
                                                                       openv2x_db_url):
    server = await openv2x_server(settings=PARTY)
    manager = await server.auth_headers("billing_manager")
    await add_site(server, station_id="CP16")
    await add_token(server, "RFID-1")
    await rest(server, "POST", "/api/tariff/", manager, energy_tariff("V", "0.25"), 201)
    await rest(server, "POST", "/api/tariffassignment/", manager,
               {"tariff_id": "V", "scope": "default"}, 201)
    station = await connect16(server, "CP16")
    bus = server.app[appkeys.EVENTS]

    async def start():
        now = dt.datetime.now(UTC)
        answer = await station.call(call.StartTransaction(
            connector_id=1, id_tag="RFID-1", meter_start=0, timestamp=now.isoformat()))
        await bus.drain()
        return answer.transaction_id, now

    async def stop(tx_id, began):
        await station.call(call.StopTransaction(
            meter_stop=10000, transaction_id=tx_id,
            timestamp=(began + dt.timedelta(minutes=1)).isoformat()))
        [cdr] = await cdrs_of(server, manager, tx_id)
        return cdr

    a = await stop(*await start())
    b_id, b_start = await start()
    # The price doubles while B is charging: B keeps the price it started under.
    await rest(server, "PATCH", "/api/tariff/V/", manager, {"elements": [
        {"price_components": [component("ENERGY", "0.50", 1, 20)]}]})
    b = await stop(b_id, b_start)
    c = await stop(*await start())
    await disconnect16(station)
    assert [cdr["total_cost"]["excl_vat"] for cdr in (a, b, c)] == [2.5, 2.5, 5.0]
    assert [cdr["tariffs"][0]["elements"][0]["price_components"][0]["price"]
            for cdr in (a, b, c)] == [0.25, 0.25, 0.5]
    stored = {r.id: r.tariff_version for r in await rows(server, Cdr)}
    assert [stored[cdr["id"]] for cdr in (a, b, c)] == [1, 1, 2]
    assert await rest(server, "GET", f"/api/cdr/{a['id']}/", manager) == a
    v1 = await rest(server, "GET", "/api/tariff/V/?version=1", manager)
    assert v1 == a["tariffs"][0]


async def test_an_unpriced_session_at_an_undescribed_station_gets_a_valid_zero_cdr(
        openv2x_server, openv2x_db_url):
    server = await openv2x_server(settings={**PARTY, "ocpp": {"unknown_stations": "accept"}})
    manager = await server.auth_headers("cdr_manager")
    station = await connect16(server, "NEW-1")
    started = await station.call(call.StartTransaction(
        connector_id=1, id_tag="STRANGER", meter_start=0, timestamp=at("10:00")))
    await station.call(call.StopTransaction(meter_stop=5000, timestamp=at("10:30"),
                                            transaction_id=started.transaction_id))
    await disconnect16(station)
    [cdr] = await cdrs_of(server, manager, started.transaction_id)
    assert_ocpi(cdr, "cdrs", "CDR")
    assert cdr["total_cost"] == {"excl_vat": 0.0, "incl_vat": 0.0}
    assert (cdr["total_energy"], cdr["currency"], cdr["auth_method"]) == (5.0, "EUR",
                                                                         "AUTH_REQUEST")
    assert "tariffs" not in cdr and "tariff_id" not in cdr["charging_periods"][0]
    remark = cdr["remark"]
    assert remark.startswith("flagged for review: id tag Invalid at start; no tariff applies")
    assert "placeholder sent: location" in remark and len(remark) <= 255
    assert cdr["cdr_location"]["evse_uid"] != "#NA"  # the station created its EVSE
