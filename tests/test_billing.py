"""Billing over the REST API: tariffs (OCPI objects, versions, elements), what is refused,
assignments and their precedence, dynamic pricing and the hourly schedule, retail prices."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from test_billing_support import (
    PARTY,
    add_site,
    add_token,
    assert_ocpi,
    call,
    component,
    energy_tariff,
    rows,
    tariff,
)

from core import appkeys
from core.db.models import Connector, MeterValue, Transaction
from plugins.billing.adjustments import Adjustment, apply
from plugins.billing.engine import MeterReading, compute_cost
from plugins.billing.model import tariff_from_ocpi
from plugins.billing.tables import PriceAdjustment, TariffAssignment, TariffVersion

UTC = dt.UTC


async def billing(openv2x_server):
    server = await openv2x_server(settings=PARTY)
    return server, await server.auth_headers("billing_manager")


# ---- tariffs ---------------------------------------------------------------------------------


async def test_tariff_crud_returns_ocpi_objects_and_keeps_every_version(openv2x_server,
                                                                         openv2x_db_url):
    server, headers = await billing(openv2x_server)
    body = tariff("T1", {"price_components": [component("FLAT", 0.5, 1, 20),
                                              component("ENERGY", "0.25", 1, 10)]},
                  tariff_alt_text=[{"language": "en", "text": "0.25/kWh + 0.50 start"}],
                  last_updated="2000-01-01T00:00:00Z")
    async with server.http.post(server.url("/api/tariff/"), json=body,
                                headers=headers) as resp:
        assert resp.status == 201
        assert resp.headers["X-Tariff-Version"] == "1"
        created = await resp.json()
    assert (created["country_code"], created["party_id"], created["id"]) == ("NL", "OVX", "T1")
    assert created["elements"][0]["price_components"][1] == {
        "type": "ENERGY", "price": 0.25, "vat": 10.0, "step_size": 1}
    assert created["last_updated"] != "2000-01-01T00:00:00Z"  # ours to set
    assert_ocpi(created, "tariffs", "Tariff")
    await call(server, "POST", "/api/tariff/", headers, body, 409)

    patched = await call(server, "PATCH", "/api/tariff/T1/", headers,
                         {"max_price": {"excl_vat": 20, "incl_vat": 24}})
    assert patched["max_price"] == {"excl_vat": 20.0, "incl_vat": 24.0}
    replaced = await call(server, "PUT", "/api/tariff/T1/", headers,
                          energy_tariff("T1", "0.30"))
    assert "max_price" not in replaced and "tariff_alt_text" not in replaced
    # The same terms again are not a change: no new version.
    await call(server, "PUT", "/api/tariff/T1/", headers, energy_tariff("T1", "0.30"))
    versions = await call(server, "GET", "/api/tariff/T1/versions/", headers)
    assert [v["version"] for v in versions["results"]] == [3, 2, 1]
    first = await call(server, "GET", "/api/tariff/T1/?version=1", headers)
    assert first == created
    assert (await call(server, "GET", "/api/tariff/T1/", headers)) == replaced

    await call(server, "DELETE", "/api/tariff/T1/", headers, status=204)
    ended = await call(server, "GET", "/api/tariff/T1/", headers)
    assert ended["end_date_time"] <= ended["last_updated"]
    await call(server, "DELETE", "/api/tariff/T1/", headers, status=409)
    listing = await call(server, "GET", "/api/tariff/?active=false", headers)
    assert [t["id"] for t in listing["results"]] == ["T1"]
    assert (await call(server, "GET", "/api/tariff/?active=true", headers))["count"] == 0
    revived = await call(server, "PATCH", "/api/tariff/T1/", headers, {"end_date_time": None})
    assert "end_date_time" not in revived
    assert len(await rows(server, TariffVersion)) == 5
    await call(server, "GET", "/api/tariff/NOPE/", headers, status=404)
    await call(server, "GET", "/api/tariff/T1/?version=9", headers, status=404)
    await call(server, "PUT", "/api/tariff/T1/", headers, energy_tariff("T2", 1), status=400)


async def test_tariff_elements_are_addressed_by_position_and_each_change_is_a_version(
        openv2x_server, openv2x_db_url):
    server, headers = await billing(openv2x_server)
    await call(server, "POST", "/api/tariff/", headers, energy_tariff("T1", "0.25"), 201)
    added = await call(server, "POST", "/api/tariffelement/", headers, {
        "tariff_id": "T1", "position": 1,
        "price_components": [component("ENERGY", "0.20", 1, 20)],
        "restrictions": {"start_time": "00:00", "end_time": "07:00"}}, 201)
    assert (added["id"], added["tariff_version"], added["position"]) == ("T1:1", 2, 1)
    listing = await call(server, "GET", "/api/tariffelement/?tariff_id=T1", headers)
    assert [e["id"] for e in listing["results"]] == ["T1:1", "T1:2"]
    assert listing["results"][1]["price_components"][0]["price"] == 0.25
    old = await call(server, "GET", "/api/tariffelement/?tariff_id=T1&version=1", headers)
    assert [e["id"] for e in old["results"]] == ["T1:1"]
    patched = await call(server, "PATCH", "/api/tariffelement/T1:1/", headers,
                         {"restrictions": {"start_time": "22:00", "end_time": "06:00"}})
    assert patched["restrictions"] == {"start_time": "22:00", "end_time": "06:00"}
    await call(server, "PUT", "/api/tariffelement/T1:2/", headers,
               {"price_components": [component("TIME", 2, 60, 20)]})
    await call(server, "DELETE", "/api/tariffelement/T1:1/", headers, status=204)
    current = await call(server, "GET", "/api/tariff/T1/", headers)
    assert current["elements"] == [{"price_components": [
        {"type": "TIME", "price": 2.0, "vat": 20.0, "step_size": 60}]}]
    await call(server, "DELETE", "/api/tariffelement/T1:1/", headers, status=409)
    await call(server, "GET", "/api/tariffelement/T1:7/", headers, status=404)
    await call(server, "GET", "/api/tariffelement/nonsense/", headers, status=404)
    versions = await call(server, "GET", "/api/tariff/T1/versions/", headers)
    assert versions["count"] == 5


BAD_TARIFFS = [
    ({"currency": "EUR", "elements": []}, "id"),
    (tariff("T", {"price_components": [component("ENERGY", -1)]}), "price"),
    (tariff("T", {"price_components": [component("ENERGY", "0.12345")]}), "4 decimals"),
    (tariff("T", {"price_components": [component("ENERGY", 1)]}, currency="eur"), "currency"),
    (tariff("T", {"price_components": [component("ENERGY", 1)]}, currency="EURO"), "currency"),
    (tariff("T"), "elements"),
    (tariff("T", {"price_components": []}), "price_components"),
    (tariff("T", {"price_components": [component("WATER", 1)]}), "type"),
    (tariff("T", {"price_components": [component("ENERGY", 1, 0)]}), "step_size"),
    (tariff("T", {"price_components": [component("ENERGY", 1, 1, 101)]}), "vat"),
    (tariff("T", {"price_components": [component("ENERGY", 1), component("ENERGY", 2)]}),
     "already priced"),
    (tariff("T", {"price_components": [component("ENERGY", 1)],
                  "restrictions": {"start_time": "25:00"}}), "start_time"),
    (tariff("T", {"price_components": [component("ENERGY", 1)],
                  "restrictions": {"min_kwh": 10, "max_kwh": 5}}), "min_kwh"),
    (tariff("T", {"price_components": [component("ENERGY", 1)],
                  "restrictions": {"start_date": "2026-02-30"}}), "calendar"),
    (tariff("T", {"price_components": [component("ENERGY", 1)],
                  "restrictions": {"day_of_week": ["FUNDAY"]}}), "day_of_week"),
    (tariff("T", {"price_components": [component("ENERGY", 1)],
                  "restrictions": {"reservation": "RESERVATION"}}), "reservation element"),
    (tariff("T", {"price_components": [component("ENERGY", 1)]},
            min_price={"excl_vat": 5}, max_price={"excl_vat": 1}), "min_price"),
    (tariff("T", {"price_components": [component("ENERGY", 1)]},
            min_price={"excl_vat": 5, "incl_vat": 4}), "incl_vat"),
    (tariff("T", {"price_components": [component("ENERGY", 1)]},
            start_date_time="2026-01-02T00:00:00Z", end_date_time="2026-01-01T00:00:00Z"),
     "end_date_time"),
    (tariff("T", {"price_components": [component("ENERGY", 1)]},
            start_date_time="2026-01-02T00:00:00+01:00"), "start_date_time"),
    (tariff("T", {"price_components": [component("ENERGY", 1)]}, colour="blue"), "colour"),
    (tariff("T", {"price_components": [component("ENERGY", True)]}), "price"),
    (tariff("T", {"price_components": [component("ENERGY", 1)]}, country_code="NLD"),
     "country_code"),
    (tariff("x" * 37, {"price_components": [component("ENERGY", 1)]}), "id"),
    (tariff("a/b", {"price_components": [component("ENERGY", 1)]}), "id"),
    (tariff("schedule", {"price_components": [component("ENERGY", 1)]}), "id"),
    (tariff("T", {"price_components": [component("ENERGY", 1)]},
            tariff_alt_url="ftp://example.com/t"), "tariff_alt_url"),
]


@pytest.mark.parametrize(("body", "fragment"), BAD_TARIFFS,
                         ids=[f"{i}-{f}" for i, (_, f) in enumerate(BAD_TARIFFS)])
async def test_every_invalid_tariff_is_refused_clearly_and_nothing_is_stored(
        openv2x_server, body, fragment):
    server, headers = await billing(openv2x_server)
    error = await call(server, "POST", "/api/tariff/", headers, body, 400)
    assert error["error"]["code"] == "invalid_tariff"
    assert fragment in error["error"]["message"], error
    assert error["error"]["details"]
    assert await rows(server, TariffVersion) == []


async def test_a_bad_change_to_a_tariff_leaves_it_as_it_was(openv2x_server, openv2x_db_url):
    server, headers = await billing(openv2x_server)
    await call(server, "POST", "/api/tariff/", headers, energy_tariff("T1", "0.25"), 201)
    for method, path, body in (
            ("PUT", "/api/tariff/T1/", tariff("T1")),
            ("PATCH", "/api/tariff/T1/", {"currency": "euro"}),
            ("PATCH", "/api/tariff/T1/", {"elements": [{"price_components": "ENERGY"}]}),
            ("PATCH", "/api/tariff/T1/", {"id": "T2"}),
            ("POST", "/api/tariffelement/", {"tariff_id": "T1", "price_components": []}),
            ("POST", "/api/tariffelement/", {"tariff_id": "T1", "position": 5,
                                             "price_components": [component("TIME", 1)]}),
            ("POST", "/api/tariffelement/", {"tariff_id": "NOPE",
                                             "price_components": [component("TIME", 1)]}),
            ("POST", "/api/tariffelement/", {"price_components": [component("TIME", 1)]}),
            ("PATCH", "/api/tariffelement/T1:1/", {"restrictions": {"max_power": -1}}),
            ("PUT", "/api/tariffelement/T1:1/", {"price_components": [component("TIME", 1)],
                                                 "colour": "red"})):
        await call(server, method, path, headers, body, 400)
    for method, path in (("POST", "/api/tariff/"), ("PUT", "/api/tariff/T1/")):
        async with server.http.request(method, server.url(path), headers=headers,
                                       data="not json") as resp:
            assert resp.status == 415
    [row] = await rows(server, TariffVersion)
    assert row.version == 1 and row.data["elements"][0]["price_components"][0]["price"] == 0.25


async def test_who_may_read_and_change_tariffs(openv2x_server):
    server, manager = await billing(openv2x_server)
    await call(server, "POST", "/api/tariff/", manager, energy_tariff("T1", 1), 201)
    driver = await server.auth_headers("driver")
    assert (await call(server, "GET", "/api/tariff/", driver))["count"] == 1
    await call(server, "POST", "/api/tariff/", driver, energy_tariff("T2", 1), 403)
    await call(server, "DELETE", "/api/tariff/T1/", await server.auth_headers("cpo_manager"),
               status=403)
    async with server.http.get(server.url("/api/tariff/")) as resp:
        assert resp.status == 401


# ---- assignments -----------------------------------------------------------------------------


async def schedule_tariff(server, headers, connector_id, day="2026-11-23"):
    body = await call(server, "GET", f"/api/tariff/schedule/?station_id=CP1&date={day}"
                                     f"&connector_id={connector_id}", headers)
    return body["tariff_id"]


async def test_assignment_precedence_from_the_connector_to_the_network(openv2x_server,
                                                                        openv2x_db_url):
    server, headers = await billing(openv2x_server)
    await add_site(server, connectors=(("AC_3_PHASE", 22000), ("DC", 150000)))
    for name in ("DEFAULT", "COUNTRY", "CITY", "LOC", "STATION", "CONN", "EXPLICIT", "AC",
                 "DC", "OTHER"):
        await call(server, "POST", "/api/tariff/", headers, energy_tariff(name, 1), 201)
    ac, dc = "CP1-1", "CP1-2"
    assert await schedule_tariff(server, headers, ac) is None
    steps = [
        ({"scope": "default"}, "DEFAULT"),
        ({"scope": "region", "country": "NLD"}, "COUNTRY"),
        ({"scope": "region", "country": "NLD", "city": "amsterdam"}, "CITY"),
        ({"scope": "location", "location_id": "LOC1"}, "LOC"),
        ({"scope": "station", "station_id": "CP1"}, "STATION"),
        ({"scope": "connector", "connector_id": ac}, "CONN"),
    ]
    ids = []
    for fields, expected in steps:
        made = await call(server, "POST", "/api/tariffassignment/", headers,
                          {"tariff_id": expected, **fields}, 201)
        ids.append(made["id"])
        assert await schedule_tariff(server, headers, ac) == expected
    # A region elsewhere never applies.
    await call(server, "POST", "/api/tariffassignment/", headers,
               {"tariff_id": "OTHER", "scope": "region", "country": "PRT"}, 201)
    await call(server, "PATCH", f"/api/connector/{ac}/", headers, {"tariff_ids": ["EXPLICIT"]})
    assert await schedule_tariff(server, headers, ac) == "EXPLICIT"
    # The DC connector has no connector-level assignment: its station's applies...
    assert await schedule_tariff(server, headers, dc) == "STATION"
    # ...until power-type specific ones exist; those beat the general one at the same level.
    for kind in ("AC", "DC"):
        await call(server, "POST", "/api/tariffassignment/", headers,
                   {"tariff_id": kind, "scope": "station", "station_id": "CP1",
                    "power_type": kind}, 201)
    assert await schedule_tariff(server, headers, dc) == "DC"
    await call(server, "PATCH", f"/api/connector/{ac}/", headers, {"tariff_ids": []})
    assert await schedule_tariff(server, headers, ac) == "CONN"
    await call(server, "DELETE", f"/api/tariffassignment/{ids[-1]}/", headers, status=204)
    assert await schedule_tariff(server, headers, ac) == "AC"
    # An ended tariff is skipped: the next level takes over.
    await call(server, "DELETE", "/api/tariff/AC/", headers, status=204)
    await call(server, "DELETE", "/api/tariff/STATION/", headers, status=204)
    today = dt.datetime.now(UTC).date().isoformat()
    assert await schedule_tariff(server, headers, ac, today) == "LOC"


BAD_ASSIGNMENTS = [
    ({"tariff_id": "T", "scope": "station"}, "station_id"),
    ({"tariff_id": "T", "scope": "station", "station_id": "CP1", "location_id": "LOC1"},
     "location_id"),
    ({"tariff_id": "T", "scope": "region"}, "country"),
    ({"tariff_id": "T", "scope": "region", "country": "NL"}, "country"),
    ({"tariff_id": "T", "scope": "planet"}, "scope"),
    ({"tariff_id": "NOPE", "scope": "default"}, "tariff_id"),
    ({"tariff_id": "T", "scope": "station", "station_id": "GHOST"}, "station_id"),
    ({"tariff_id": "T", "scope": "default", "power_type": "AC_3_PHASE"}, "power_type"),
    ({"tariff_id": "T", "scope": "default", "mode": "add"}, "mode"),
    ({"tariff_id": "T", "scope": "default", "role": "emsp"}, "emsp_country_code"),
    ({"tariff_id": "T", "scope": "default", "role": "emsp", "emsp_country_code": "DE",
      "emsp_party_id": "EMS", "mode": "discount"}, "mode"),
    ({"tariff_id": "T", "scope": "default", "colour": "red"}, "colour"),
]


@pytest.mark.parametrize(("body", "field"), BAD_ASSIGNMENTS,
                         ids=[f"{i}-{f}" for i, (_, f) in enumerate(BAD_ASSIGNMENTS)])
async def test_invalid_assignments_are_refused(openv2x_server, body, field):
    server, headers = await billing(openv2x_server)
    await add_site(server)
    await call(server, "POST", "/api/tariff/", headers, energy_tariff("T", 1), 201)
    error = await call(server, "POST", "/api/tariffassignment/", headers, body, 400)
    assert field in error["error"]["details"], error
    assert await rows(server, TariffAssignment) == []


async def test_a_duplicate_assignment_is_a_conflict(openv2x_server):
    server, headers = await billing(openv2x_server)
    await call(server, "POST", "/api/tariff/", headers, energy_tariff("T", 1), 201)
    await call(server, "POST", "/api/tariffassignment/", headers,
               {"tariff_id": "T", "scope": "default"}, 201)
    await call(server, "POST", "/api/tariffassignment/", headers,
               {"tariff_id": "T", "scope": "default"}, 409)
    made = await call(server, "POST", "/api/tariffassignment/", headers,
                      {"tariff_id": "T", "scope": "default", "power_type": "DC"}, 201)
    # Changing the scope clears the old target; a role change to emsp needs its fields.
    await call(server, "PATCH", f"/api/tariffassignment/{made['id']}/", headers,
               {"role": "emsp"}, 400)
    changed = await call(server, "PATCH", f"/api/tariffassignment/{made['id']}/", headers,
                         {"role": "emsp", "emsp_country_code": "DE", "emsp_party_id": "EMS",
                          "mode": "replace"})
    assert (changed["role"], changed["mode"]) == ("emsp", "replace")


# ---- who pays what: groups and eMSP retail ---------------------------------------------------


async def finished_session(server, token, *, kwh=10, start=None, minutes=60, station="CP1",
                           connector=1):
    """A stopped transaction with an energy register rising linearly (rows, no events)."""
    start = start or dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(hours=2)
    stop = start + dt.timedelta(minutes=minutes)
    async with server.app[appkeys.DB].transaction() as work:
        tx = Transaction(station_id=station, evse_number=connector, connector_number=connector,
                         id_token=token, started_at=start, stopped_at=stop, status="Completed",
                         meter_start_wh=0, meter_stop_wh=kwh * 1000, energy_wh=kwh * 1000,
                         closed_by="station")
        work.session.add(tx)
        await work.session.flush()
        tx.transaction_uid = str(tx.id)
        work.session.add(MeterValue(transaction_id=tx.id, station_id=station,
                                    timestamp=start + (stop - start) / 2,
                                    value=Decimal(kwh * 500), unit="Wh"))
        return tx.id


async def cost(server, headers, tx_id):
    return await call(server, "GET", f"/api/transaction/{tx_id}/cost/", headers)


async def test_driver_groups_and_emsp_retail_prices(openv2x_server, openv2x_db_url):
    server, headers = await billing(openv2x_server)
    await add_site(server)
    for body in (energy_tariff("PUBLIC", "0.40"), energy_tariff("FLEET", "0.20"),
                 tariff("RETAIL-ADD", {"price_components": [component("FLAT", 1, 0, 20)]}),
                 tariff("SUBSCRIPTION", {"price_components": [component("FLAT", "0.99", 0,
                                                                        20)]})):
        await call(server, "POST", "/api/tariff/", headers, body, 201)
    for body in ({"tariff_id": "PUBLIC", "scope": "location", "location_id": "LOC1"},
                 {"tariff_id": "FLEET", "scope": "location", "location_id": "LOC1",
                  "group_id_token": "FLEET-MASTER"},
                 {"tariff_id": "RETAIL-ADD", "scope": "default", "role": "emsp",
                  "emsp_country_code": "DE", "emsp_party_id": "EMS", "mode": "add"},
                 {"tariff_id": "SUBSCRIPTION", "scope": "location", "location_id": "LOC1",
                  "role": "emsp", "emsp_country_code": "BE", "emsp_party_id": "SUB",
                  "mode": "replace"}):
        await call(server, "POST", "/api/tariffassignment/", headers, body, 201)
    await add_token(server, "WALK-IN")
    await add_token(server, "FLEET-7", group_id_token="FLEET-MASTER")
    await add_token(server, "ROAMER", country_code="DE", party_id="EMS")
    await add_token(server, "SUBSCRIBER", country_code="BE", party_id="SUB")
    await add_token(server, "OTHER-EMSP", country_code="FR", party_id="XYZ")
    expected = {
        # token: (wholesale tariff, wholesale incl. VAT, driver pays incl. VAT, retail mode)
        "WALK-IN": ("PUBLIC", 4.8, 4.8, None),         # 10 kWh x 0.40 x 1.2
        "FLEET-7": ("FLEET", 2.4, 2.4, None),          # the group's tariff wins
        "ROAMER": ("PUBLIC", 4.8, 6.0, "add"),         # + 1.00 x 1.2
        "SUBSCRIBER": ("PUBLIC", 4.8, 1.19, "replace"),  # 0.99 x 1.2 = 1.188
        "OTHER-EMSP": ("PUBLIC", 4.8, 4.8, None),      # no retail tariff for that eMSP
    }
    for token, (tariff_id, wholesale, driver, mode) in expected.items():
        body = await cost(server, headers, await finished_session(server, token))
        assert (body["tariff_id"], body["total_cost"]["incl_vat"],
                body["driver_cost"]["incl_vat"], body["driver_cost"]["retail_mode"]) == (
            tariff_id, wholesale, driver, mode), token


# ---- dynamic pricing -------------------------------------------------------------------------


async def test_price_adjustments_change_the_schedule_and_the_cost(openv2x_server,
                                                                 openv2x_db_url):
    server, headers = await billing(openv2x_server)
    await add_site(server)
    await add_site(server, station_id="FAR", location_id="LOC2", city="Utrecht")
    await call(server, "POST", "/api/tariff/", headers, tariff(
        "DAY", {"price_components": [component("ENERGY", "0.30", 1, 20)]},
        {"price_components": [component("PARKING_TIME", 2, 60, 20)]}), 201)
    await call(server, "POST", "/api/tariffassignment/", headers,
               {"tariff_id": "DAY", "scope": "default"}, 201)
    day = "2026-11-23"
    before = await call(server, "GET", f"/api/tariff/schedule/?station_id=CP1&date={day}",
                        headers)
    assert before["time_zone"] == "Europe/Amsterdam" and len(before["hours"]) == 24
    assert {h["energy"]["excl_vat"] for h in before["hours"]} == {0.3}
    assert before["hours"][0]["start"] == "2026-11-22T23:00:00Z"
    assert before["hours"][0]["parking"] == {"excl_vat": 2.0, "incl_vat": 2.4}
    assert before["hours"][0]["time"] is None

    seen = []

    async def record(event):
        if event.name == "tariff.changed":
            seen.append(event.data)

    server.app[appkeys.EVENTS].subscribe(record)
    # A DSO asks for half price on energy from 11:00 to 14:00 local (10:00-13:00 UTC) in
    # Amsterdam only, then the operator lowers it by another 0.05 for the first hour.
    dso = await call(server, "POST", "/api/priceadjustment/", await server.auth_headers(
        "cpo_manager"), {"country": "NLD", "city": "Amsterdam", "factor": "0.5",
                         "start_date_time": "2026-11-23T10:00:00Z",
                         "end_date_time": "2026-11-23T13:00:00Z", "source": "dso",
                         "reason": "reverse power flow"}, 201)
    await call(server, "POST", "/api/priceadjustment/", headers,
               {"location_ids": ["LOC1"], "delta": "-0.05",
                "start_date_time": "2026-11-23T10:00:00+00:00",
                "end_date_time": "2026-11-23T11:00:00Z"}, 201)
    await server.app[appkeys.EVENTS].drain()
    assert {(e["station_id"], e["source"]) for e in seen} == {("CP1", "dso"),
                                                              ("CP1", "operator")}
    after = await call(server, "GET", f"/api/tariff/schedule/?station_id=CP1&date={day}",
                       headers)
    energy = {h["local_time"]: h["energy"] for h in after["hours"]}
    assert energy["10:00"] == {"excl_vat": 0.3, "incl_vat": 0.36}
    assert energy["11:00"] == {"excl_vat": 0.1, "incl_vat": 0.12}  # 0.30 x 0.5 - 0.05
    assert energy["12:00"] == energy["13:00"] == {"excl_vat": 0.15, "incl_vat": 0.18}
    assert energy["14:00"]["excl_vat"] == 0.3
    far = await call(server, "GET", f"/api/tariff/schedule/?station_id=FAR&date={day}",
                     headers)
    assert {h["energy"]["excl_vat"] for h in far["hours"]} == {0.3}

    # A session from 10:30 to 12:30 UTC at 4 kWh an hour: 10:30-11:00 is inside both
    # adjustments (0.30 x 0.5 - 0.05 = 0.10), 11:00-12:30 only the DSO's (0.15):
    # 2 kWh x 0.10 + 6 kWh x 0.15 = 0.20 + 0.90 = 1.10 excl, 1.32 incl.
    start = dt.datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
    tx_id = await finished_session(server, "ANY", kwh=8, start=start, minutes=120)
    body = await cost(server, headers, tx_id)
    assert body["total_energy_cost"] == {"excl_vat": 1.1, "incl_vat": 1.32}
    assert body["total_cost"] == {"excl_vat": 1.1, "incl_vat": 1.32}

    await call(server, "DELETE", f"/api/priceadjustment/{dso['id']}/", headers, status=204)
    body = await cost(server, headers, tx_id)
    # Only the operator's -0.05 remains (10:30-11:00 UTC): 2 x 0.25 + 6 x 0.30 = 2.30.
    assert body["total_cost"] == {"excl_vat": 2.3, "incl_vat": 2.76}


BAD_ADJUSTMENTS = [
    ({"factor": 0.5, "start_date_time": "2026-11-23T10:00:00Z",
      "end_date_time": "2026-11-23T11:00:00Z"}, "location_ids"),
    ({"country": "NLD", "location_ids": ["LOC1"], "factor": 0.5,
      "start_date_time": "2026-11-23T10:00:00Z", "end_date_time": "2026-11-23T11:00:00Z"},
     "location_ids"),
    ({"country": "NLD", "start_date_time": "2026-11-23T10:00:00Z",
      "end_date_time": "2026-11-23T11:00:00Z"}, "factor"),
    ({"country": "NLD", "factor": 0.5, "start_date_time": "2026-11-23T11:00:00Z",
      "end_date_time": "2026-11-23T10:00:00Z"}, "end_date_time"),
    ({"country": "NLD", "factor": 0.5, "start_date_time": "2026-11-23T10:00:30Z",
      "end_date_time": "2026-11-23T11:00:00Z"}, "start_date_time"),
    ({"country": "NLD", "factor": -1, "start_date_time": "2026-11-23T10:00:00Z",
      "end_date_time": "2026-11-23T11:00:00Z"}, "factor"),
    ({"country": "NLD", "delta": "0.00001", "start_date_time": "2026-11-23T10:00:00Z",
      "end_date_time": "2026-11-23T11:00:00Z"}, "delta"),
    ({"country": "NLD", "factor": 0.5, "start_date_time": "2026-11-23T10:00:00",
      "end_date_time": "2026-11-23T11:00:00Z"}, "start_date_time"),
    ({"location_ids": ["NOWHERE"], "factor": 0.5, "start_date_time": "2026-11-23T10:00:00Z",
      "end_date_time": "2026-11-23T11:00:00Z"}, "location_ids"),
    ({"city": "Amsterdam", "factor": 0.5, "start_date_time": "2026-11-23T10:00:00Z",
      "end_date_time": "2026-11-23T11:00:00Z"}, "city"),
    ({"country": "NLD", "factor": 0.5, "source": "weather",
      "start_date_time": "2026-11-23T10:00:00Z", "end_date_time": "2026-11-23T11:00:00Z"},
     "source"),
]


@pytest.mark.parametrize(("body", "field"), BAD_ADJUSTMENTS,
                         ids=[f"{i}-{f}" for i, (_, f) in enumerate(BAD_ADJUSTMENTS)])
async def test_invalid_price_adjustments_are_refused(openv2x_server, body, field):
    server, headers = await billing(openv2x_server)
    await add_site(server)
    error = await call(server, "POST", "/api/priceadjustment/", headers, body, 400)
    assert field in error["error"]["details"], error
    assert await rows(server, PriceAdjustment) == []


async def test_schedule_input_is_checked(openv2x_server):
    server, headers = await billing(openv2x_server)
    await add_site(server)
    for query, status in (("", 400), ("?station_id=CP1", 400), ("?date=2026-11-23", 400),
                          ("?station_id=CP1&date=23/11/2026", 400),
                          ("?station_id=CP1&date=2026-11-23&colour=red", 400),
                          ("?station_id=NOPE&date=2026-11-23", 404),
                          ("?station_id=CP1&date=2026-11-23&connector_id=NOPE", 404)):
        await call(server, "GET", f"/api/tariff/schedule/{query}", headers, status=status)
    empty = await call(server, "GET", "/api/tariff/schedule/?station_id=CP1&date=2026-03-29",
                       headers)
    assert (empty["tariff_id"], empty["hours"]) == (None, [])
    await call(server, "POST", "/api/tariff/", headers, energy_tariff("T", 1), 201)
    await call(server, "POST", "/api/tariffassignment/", headers,
               {"tariff_id": "T", "scope": "default"}, 201)
    spring = await call(server, "GET", "/api/tariff/schedule/?station_id=CP1&date=2026-03-29",
                        headers)
    assert len(spring["hours"]) == 23  # the day daylight saving time begins


async def test_a_session_no_tariff_prices_costs_nothing(openv2x_server):
    server, headers = await billing(openv2x_server)
    await add_site(server)
    body = await cost(server, headers, await finished_session(server, "ANY"))
    assert (body["tariff_id"], body["total_cost"], body["total_energy"]) == (
        None, {"excl_vat": 0.0, "incl_vat": 0.0}, 10.0)
    assert body["notes"] and "tariff_id" not in body["charging_periods"][0]
    await call(server, "GET", "/api/transaction/999/cost/", headers, status=404)
    other = await finished_session(server, "ANY")
    driver = await server.auth_headers("driver")
    await call(server, "GET", f"/api/transaction/{other}/cost/", driver, status=404)


async def test_connector_fixture_is_what_the_tests_assume(openv2x_server):
    server, _ = await billing(openv2x_server)
    await add_site(server, connectors=(("AC_3_PHASE", 22000), ("DC", 150000)))
    connectors = await rows(server, Connector, order=Connector.id)
    assert [(c.id, c.power_type) for c in connectors] == [("CP1-1", "AC_3_PHASE"),
                                                          ("CP1-2", "DC")]


def test_an_adjustment_across_midnight_meets_a_night_window_exactly():
    night = tariff_from_ocpi({
        "country_code": "NL", "party_id": "OVX", "id": "NIGHT", "currency": "EUR",
        "last_updated": "2026-01-01T00:00:00Z",
        "elements": [{"price_components": [component("ENERGY", "0.20")],
                      "restrictions": {"start_time": "22:00", "end_time": "06:00"}},
                     {"price_components": [component("ENERGY", "0.40")]}]})
    zone = ZoneInfo("Europe/Amsterdam")
    start = dt.datetime(2026, 11, 23, 20, tzinfo=UTC)  # 21:00 local
    end = start + dt.timedelta(hours=5)                 # 02:00 local
    half = [Adjustment(dt.datetime(2026, 11, 23, 22, tzinfo=UTC),   # 23:00 local...
                       dt.datetime(2026, 11, 24, 0, tzinfo=UTC),    # ...to 01:00
                       factor=Decimal("0.5"))]
    assert apply(night, [], zone, start, end) is night
    assert apply(night, half, zone, end, end + dt.timedelta(hours=1)) is night
    adjusted = apply(night, half, zone, start, end)
    readings = [MeterReading(start + dt.timedelta(hours=h), h * 1000) for h in range(6)]
    total = compute_cost(adjusted, start=start, end=end, observations=readings,
                         time_zone=zone).total_cost
    # 1 kWh an hour: 21-22 at 0.40, 22-23 at 0.20, 23-01 at 0.10, 01-02 at 0.20.
    assert total.excl_vat == Decimal("1.00")
    assert len(adjusted.elements) == 2 + 2 * 2  # both elements, on each of the two days
