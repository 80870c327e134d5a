"""The per-station leniency switch: schema repairs, the deviation audit log and its REST resource.

Repairs are checked on the schemas the ``ocpp`` package ships, and every repaired payload is
validated again with ``jsonschema`` (the draft-04 validator the package uses and the schema's
own draft, date-time formats included), so a repair that does not produce a valid message
fails here.
"""

import copy
import json
from pathlib import Path

import ocpp
import pytest
from jsonschema import Draft4Validator, FormatChecker
from jsonschema.validators import validator_for
from sqlalchemy import select, text

from core import appkeys
from core.db.models import ChargingStation, ProtocolDeviation
from core.ocpp.leniency import record_deviation, repair

SCHEMAS = Path(ocpp.__file__).resolve().parent


def load(version_dir, name):
    path = SCHEMAS / version_dir / "schemas" / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8-sig"))


def violations(payload, schema):
    found = []
    for cls in {Draft4Validator, validator_for(schema)}:
        validator = cls(schema, format_checker=FormatChecker())
        found += [error.message for error in validator.iter_errors(payload)]
    return found


def containers(value):
    """Every dict and list inside ``value`` (to prove a copy shares none of them)."""
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from containers(item)
    elif isinstance(value, list):
        yield value
        for item in value:
            yield from containers(item)


def repaired_ok(payload, schema, expected_fixes):
    """Repair an invalid payload and check the copy is valid and the input untouched."""
    before = json.dumps(payload, sort_keys=True)
    assert violations(payload, schema), "the test payload should be invalid as sent"
    repaired, fixes = repair(payload, schema)
    assert fixes == expected_fixes
    assert violations(repaired, schema) == []
    assert json.dumps(payload, sort_keys=True) == before
    assert not {id(c) for c in containers(repaired)} & {id(c) for c in containers(payload)}
    return repaired


def not_repaired(payload, schema, expected_fixes=()):
    """The repair leaves what it must not touch, so the payload stays invalid."""
    before = json.dumps(payload, sort_keys=True)
    repaired, fixes = repair(payload, schema)
    assert fixes == list(expected_fixes)
    assert violations(repaired, schema)
    assert json.dumps(payload, sort_keys=True) == before
    return repaired


METER_VALUES_16 = {
    "connectorId": 1, "transactionId": 7,
    "meterValue": [
        {"timestamp": "2026-03-01T10:00:00Z",
         "sampledValue": [{"value": "1500", "measurand": "Energy.Active.Import.Register",
                           "unit": "Wh"},
                          {"value": "230.1", "measurand": "Voltage", "unit": "V",
                           "phase": "L1-N"}]},
    ],
}
TRANSACTION_EVENT_201 = {
    "eventType": "Updated", "timestamp": "2026-03-01T10:00:00Z",
    "triggerReason": "MeterValuePeriodic", "seqNo": 3, "offline": False,
    "transactionInfo": {"transactionId": "tx-1", "chargingState": "Charging"},
    "evse": {"id": 1, "connectorId": 1},
    "idToken": {"idToken": "TAG1", "type": "ISO14443"},
    "meterValue": [{"timestamp": "2026-03-01T10:00:00Z",
                    "sampledValue": [{"value": 1500.5, "measurand": "Energy.Active.Import.Register",
                                      "unitOfMeasure": {"unit": "Wh"}}]}],
}


# ---- each deviation class ------------------------------------------------------------------

def test_numbers_and_booleans_where_a_string_is_wanted_become_their_json_text():
    payload = copy.deepcopy(METER_VALUES_16)
    payload["meterValue"][0]["sampledValue"][0]["value"] = 1500
    payload["meterValue"][0]["sampledValue"][1]["value"] = 230.1
    repaired = repaired_ok(payload, load("v16", "MeterValues"), [
        "meterValue[0].sampledValue[0].value: number 1500 sent as a string",
        "meterValue[0].sampledValue[1].value: number 230.1 sent as a string",
    ])
    assert [sv["value"] for sv in repaired["meterValue"][0]["sampledValue"]] == ["1500", "230.1"]

    status = {"connectorId": 1, "errorCode": "OtherError", "status": "Faulted",
              "vendorErrorCode": 42, "info": True}
    repaired = repaired_ok(status, load("v16", "StatusNotification"), [
        "vendorErrorCode: number 42 sent as a string",
        "info: boolean true sent as a string",
    ])
    assert repaired["info"] == "true" and repaired["vendorErrorCode"] == "42"


def test_numeric_strings_where_a_number_is_wanted_become_numbers():
    start = {"connectorId": "1", "idTag": "TAG1", "meterStart": "1234.0",
             "timestamp": "2026-03-01T10:00:00Z", "reservationId": "-3"}
    repaired = repaired_ok(start, load("v16", "StartTransaction"), [
        'connectorId: string "1" sent as an integer',
        'meterStart: string "1234.0" sent as an integer',
        'reservationId: string "-3" sent as an integer',
    ])
    assert (repaired["connectorId"], repaired["meterStart"], repaired["reservationId"]) == \
        (1, 1234, -3)
    assert all(type(repaired[k]) is int for k in ("connectorId", "meterStart", "reservationId"))

    event = copy.deepcopy(TRANSACTION_EVENT_201)  # 2.0.1: value is a number, through $refs
    event["meterValue"][0]["sampledValue"] = [{"value": "1500.5"}, {"value": "12"},
                                              {"value": "-1.5e3"}]
    repaired = repaired_ok(event, load("v201", "TransactionEventRequest"), [
        'meterValue[0].sampledValue[0].value: string "1500.5" sent as a number',
        'meterValue[0].sampledValue[1].value: string "12" sent as a number',
        'meterValue[0].sampledValue[2].value: string "-1.5e3" sent as a number',
    ])
    assert [sv["value"] for sv in repaired["meterValue"][0]["sampledValue"]] == \
        [1500.5, 12, -1500.0]


def test_whole_floats_where_an_integer_is_wanted_become_integers():
    start = {"connectorId": 1.0, "idTag": "TAG1", "meterStart": 1234.0,
             "timestamp": "2026-03-01T10:00:00Z"}
    repaired = repaired_ok(start, load("v16", "StartTransaction"), [
        "connectorId: number 1.0 sent as an integer",
        "meterStart: number 1234.0 sent as an integer",
    ])
    assert type(repaired["meterStart"]) is int


@pytest.mark.parametrize("text", ["12.5", "12abc", " 12", "12 ", "0x10", "+5", "1_000", "",
                                  "NaN", "Infinity", "1e999", "١٢", "9" * 41])
def test_strings_that_are_not_exactly_an_integer_are_left_alone(text):
    start = {"connectorId": 1, "idTag": "TAG1", "meterStart": text,
             "timestamp": "2026-03-01T10:00:00Z"}
    repaired = not_repaired(start, load("v16", "StartTransaction"))
    assert repaired["meterStart"] == text


def test_fractional_floats_where_an_integer_is_wanted_are_left_alone():
    start = {"connectorId": 1, "idTag": "TAG1", "meterStart": 1234.5,
             "timestamp": "2026-03-01T10:00:00Z"}
    assert not_repaired(start, load("v16", "StartTransaction"))["meterStart"] == 1234.5


def test_true_and_false_strings_where_a_boolean_is_wanted_become_booleans():
    event = dict(TRANSACTION_EVENT_201, offline="true")
    repaired = repaired_ok(event, load("v201", "TransactionEventRequest"),
                           ['offline: string "true" sent as a boolean'])
    assert repaired["offline"] is True
    event = dict(TRANSACTION_EVENT_201, offline="False")
    assert repaired_ok(event, load("v201", "TransactionEventRequest"),
                       ['offline: string "False" sent as a boolean'])["offline"] is False
    for unclear in ("yes", "1", "", "truth"):
        not_repaired(dict(TRANSACTION_EVENT_201, offline=unclear),
                     load("v201", "TransactionEventRequest"))


def test_enum_values_in_the_wrong_case_take_the_schemas_spelling():
    status = {"connectorId": 1, "errorCode": "noerror", "status": "AVAILABLE"}
    repaired = repaired_ok(status, load("v16", "StatusNotification"), [
        'errorCode: "noerror" sent as "NoError"',
        'status: "AVAILABLE" sent as "Available"',
    ])
    assert (repaired["errorCode"], repaired["status"]) == ("NoError", "Available")

    boot = {"reason": "powerup",
            "chargingStation": {"model": "M1", "vendorName": "V1"}}
    assert repaired_ok(boot, load("v201", "BootNotificationRequest"),
                       ['reason: "powerup" sent as "PowerUp"'])["reason"] == "PowerUp"

    event = copy.deepcopy(TRANSACTION_EVENT_201)
    event["idToken"]["type"] = "iso14443"
    event["meterValue"][0]["sampledValue"][0]["measurand"] = "energy.active.import.register"
    repaired = repaired_ok(event, load("v201", "TransactionEventRequest"), [
        'idToken.type: "iso14443" sent as "ISO14443"',
        'meterValue[0].sampledValue[0].measurand: "energy.active.import.register" sent as '
        '"Energy.Active.Import.Register"',
    ])
    assert repaired["idToken"]["type"] == "ISO14443"


def test_an_enum_value_matching_two_spellings_is_not_guessed():
    schema = load("v16", "StatusNotification")
    schema["properties"]["status"]["enum"].append("AVAILABLE")
    repaired = not_repaired({"connectorId": 1, "errorCode": "NoError", "status": "available"},
                            schema)
    assert repaired["status"] == "available"


def test_an_unknown_enum_value_is_left_alone():
    not_repaired({"connectorId": 1, "errorCode": "NoError", "status": "Occupied"},
                 load("v16", "StatusNotification"))


def test_properties_the_schema_forbids_are_dropped_and_listed():
    boot = {"chargePointVendor": "V", "chargePointModel": "M", "firmware": "1.2",
            "hardware": {"rev": [1, 2]}}
    repaired = repaired_ok(boot, load("v16", "BootNotification"), [
        'firmware: property not allowed by the schema, dropped (was "1.2")',
        'hardware: property not allowed by the schema, dropped (was {"rev": [1, 2]})',
    ])
    assert repaired == {"chargePointVendor": "V", "chargePointModel": "M"}

    payload = copy.deepcopy(METER_VALUES_16)
    payload["meterValue"][0]["sampledValue"][1]["signature"] = "abc"
    repaired = repaired_ok(payload, load("v16", "MeterValues"), [
        "meterValue[0].sampledValue[1].signature: property not allowed by the schema, dropped "
        '(was "abc")',
    ])
    assert "signature" not in repaired["meterValue"][0]["sampledValue"][1]


def test_custom_data_keeps_its_vendor_fields_because_the_schema_allows_them():
    boot = {"reason": "PowerUp", "extra": 1,
            "customData": {"vendorId": "ACME", "anything": {"goes": True}},
            "chargingStation": {"model": "M1", "vendorName": "V1"}}
    repaired = repaired_ok(boot, load("v201", "BootNotificationRequest"),
                           ["extra: property not allowed by the schema, dropped (was 1)"])
    assert repaired["customData"] == {"vendorId": "ACME", "anything": {"goes": True}}


def test_date_times_without_a_zone_are_taken_as_utc():
    start = {"connectorId": 1, "idTag": "TAG1", "meterStart": 0,
             "timestamp": "2026-03-01T10:00:00.123"}
    repaired = repaired_ok(start, load("v16", "StartTransaction"), [
        'timestamp: "2026-03-01T10:00:00.123" has no time zone, taken as UTC',
    ])
    assert repaired["timestamp"] == "2026-03-01T10:00:00.123Z"

    event = copy.deepcopy(TRANSACTION_EVENT_201)
    event["meterValue"][0]["timestamp"] = "2026-03-01T10:00:00"
    assert repaired_ok(event, load("v201", "TransactionEventRequest"), [
        'meterValue[0].timestamp: "2026-03-01T10:00:00" has no time zone, taken as UTC',
    ])["meterValue"][0]["timestamp"] == "2026-03-01T10:00:00Z"


@pytest.mark.parametrize("stamp", ["2026-02-30T10:00:00", "2026-03-01 10:00:00", "2026-03-01",
                                   "2026-03-01T10:00", "yesterday"])
def test_things_that_are_not_a_zoneless_time_are_not_given_a_zone(stamp):
    start = {"connectorId": 1, "idTag": "TAG1", "meterStart": 0, "timestamp": stamp}
    assert not_repaired(start, load("v16", "StartTransaction"))["timestamp"] == stamp


# ---- what is never repaired ------------------------------------------------------------------

def test_too_long_strings_are_not_truncated():
    boot = {"chargePointVendor": "V" * 21, "chargePointModel": "M"}
    assert not_repaired(boot, load("v16", "BootNotification")) == boot
    event = copy.deepcopy(TRANSACTION_EVENT_201)
    event["idToken"]["idToken"] = "T" * 37
    assert not_repaired(event, load("v201", "TransactionEventRequest")) == event


def test_missing_required_fields_are_not_invented():
    start = {"connectorId": "1", "meterStart": 0, "timestamp": "2026-03-01T10:00:00Z"}
    repaired = not_repaired(start, load("v16", "StartTransaction"),
                            ['connectorId: string "1" sent as an integer'])
    assert "idTag" not in repaired
    event = copy.deepcopy(TRANSACTION_EVENT_201)
    del event["transactionInfo"]["transactionId"]
    assert "transactionId" not in not_repaired(
        event, load("v201", "TransactionEventRequest"))["transactionInfo"]


def test_values_of_the_wrong_shape_are_left_alone():
    payload = copy.deepcopy(METER_VALUES_16)
    payload["meterValue"][0]["sampledValue"][0]["value"] = {"v": 1}
    payload["meterValue"][0]["sampledValue"][1]["value"] = None
    not_repaired(payload, load("v16", "MeterValues"))
    not_repaired(dict(METER_VALUES_16, meterValue={"timestamp": "x"}), load("v16", "MeterValues"))


@pytest.mark.parametrize(("name", "payload"), [
    ("MeterValues", METER_VALUES_16),
    ("StatusNotification", {"connectorId": 0, "errorCode": "NoError", "status": "Available",
                            "timestamp": "2026-03-01T10:00:00+01:00"}),
    ("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M",
                          "firmwareVersion": "1.0"}),
    ("StartTransaction", {"connectorId": 1, "idTag": "TAG1", "meterStart": 0,
                          "timestamp": "2026-03-01T10:00:00Z"}),
])
def test_a_valid_16_payload_yields_no_fixes(name, payload):
    schema = load("v16", name)
    assert violations(payload, schema) == []
    repaired, fixes = repair(payload, schema)
    assert fixes == [] and repaired == payload and repaired is not payload


@pytest.mark.parametrize(("version_dir", "name", "payload"), [
    ("v201", "TransactionEventRequest", TRANSACTION_EVENT_201),
    ("v201", "BootNotificationRequest",
     {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V",
                                               "modem": {"iccid": "1"}}}),
    ("v21", "StatusNotificationRequest",
     {"timestamp": "2026-03-01T10:00:00Z", "connectorStatus": "Occupied", "evseId": 1,
      "connectorId": 1}),
])
def test_a_valid_2x_payload_yields_no_fixes(version_dir, name, payload):
    schema = load(version_dir, name)
    assert violations(payload, schema) == []
    assert repair(payload, schema) == (payload, [])


def test_21_schemas_are_repaired_too():
    status = {"timestamp": "2026-03-01T10:00:00", "connectorStatus": "occupied", "evseId": "1",
              "connectorId": 1}
    repaired_ok(status, load("v21", "StatusNotificationRequest"), [
        'timestamp: "2026-03-01T10:00:00" has no time zone, taken as UTC',
        'connectorStatus: "occupied" sent as "Occupied"',
        'evseId: string "1" sent as an integer',
    ])


def test_broken_references_leave_the_payload_as_it_is():
    schema = {"type": "object", "properties": {
        "a": {"$ref": "#/definitions/Loop"}, "b": {"$ref": "other.json#/X"},
        "c": {"$ref": "#/definitions/Missing"}},
        "definitions": {"Loop": {"$ref": "#/definitions/Loop"}}}
    payload = {"a": "1", "b": [1, {"x": 2}], "c": {"d": True}}
    assert repair(payload, schema) == (payload, [])


@pytest.mark.parametrize("version_dir", ["v16", "v201", "v21"])
def test_odd_values_never_crash_the_repair(version_dir):
    """Every request schema against values of every JSON type: repaired or not, never a crash."""
    odd = [None, True, 0, -1.5, "", "x", "1", "true", [], [None, {"a": 1}], {}, {"a": [1]}]
    for path in sorted((SCHEMAS / version_dir / "schemas").glob("*.json")):
        if path.stem.endswith("Response"):
            continue
        schema = json.loads(path.read_text(encoding="utf-8-sig"))
        for key in [*schema.get("properties", {}), "unknownField"]:
            for value in odd:
                payload = {key: value}
                repaired, fixes = repair(payload, schema)
                assert isinstance(repaired, dict) and all(isinstance(f, str) for f in fixes)
                assert json.dumps(payload) == json.dumps({key: value})


# ---- the audit log, its REST resource and the switch -----------------------------------------

async def add_stations(server, *ids):
    async with server.app[appkeys.DB].transaction() as work:
        for station_id in ids:
            work.session.add(ChargingStation(id=station_id))


async def test_deviations_are_recorded_announced_and_listed_for_operators(openv2x_server,
                                                                          openv2x_db_url):
    server = await openv2x_server()
    await add_stations(server, "CP1", "CP2")
    seen = []

    async def on_event(event):
        if event.name == "station.protocol_deviation":
            seen.append(event.data)

    server.app[appkeys.EVENTS].subscribe(on_event)
    payload = copy.deepcopy(METER_VALUES_16)
    payload["meterValue"][0]["sampledValue"][1]["value"] = 230.1
    _, fixes = repair(payload, load("v16", "MeterValues"))
    async with server.app[appkeys.DB].transaction() as work:
        await record_deviation(work, "CP1", "MeterValues", "m-1", "230.1 is not of type 'string'",
                               fixes)
    async with server.app[appkeys.DB].transaction() as work:
        await record_deviation(work, "CP2", "BootNotification", "b-" + "9" * 60, "extra field",
                               ["firmware: property not allowed by the schema, dropped"])
    await server.app[appkeys.EVENTS].drain()
    assert [(e["id"], e["action"], e["unique_id"], e["fixes"]) for e in seen] == [
        ("CP1", "MeterValues", "m-1", fixes),
        ("CP2", "BootNotification", ("b-" + "9" * 60)[:36],
         ["firmware: property not allowed by the schema, dropped"]),
    ]

    headers = await server.auth_headers("cpo_manager")
    url = server.url("/api/protocoldeviation/?station_id=CP1")
    async with server.http.get(url, headers=headers) as resp:
        assert resp.status == 200
        listing = await resp.json()
    assert listing["count"] == 1
    [row] = listing["results"]
    assert row["station_id"] == "CP1" and row["action"] == "MeterValues"
    assert row["unique_id"] == "m-1" and row["error"] == "230.1 is not of type 'string'"
    assert row["fixes"] == ["meterValue[0].sampledValue[1].value: number 230.1 sent as a string"]
    assert row["received_at"].endswith("Z") or row["received_at"].endswith("+00:00")
    assert row["id"] == seen[0]["deviation_id"]
    async with server.http.get(server.url(f"/api/protocoldeviation/{row['id']}/"),
                               headers=headers) as resp:
        assert resp.status == 200 and await resp.json() == row
    async with server.http.get(server.url("/api/protocoldeviation/?ordering=-received_at"),
                               headers=headers) as resp:
        assert [r["station_id"] for r in (await resp.json())["results"]] == ["CP2", "CP1"]
    async with server.http.post(server.url("/api/protocoldeviation/"), headers=headers,
                                json={"station_id": "CP1"}) as resp:
        assert resp.status == 405

    driver = await server.auth_headers("driver")
    async with server.http.get(url, headers=driver) as resp:
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "permission_denied"
    async with server.http.get(server.url(f"/api/protocoldeviation/{row['id']}/"),
                               headers=driver) as resp:
        assert resp.status == 403


async def test_deleting_a_station_deletes_its_deviations(openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    await add_stations(server, "CP1")
    db = server.app[appkeys.DB]
    async with db.transaction() as work:
        await record_deviation(work, "CP1", "Heartbeat", "h-1", "error", ["a fix"])
    async with db.transaction() as work:
        await work.session.execute(text("DELETE FROM charging_station WHERE id = 'CP1'"))
    async with db.session() as session:
        assert (await session.execute(select(ProtocolDeviation))).first() is None


async def test_the_lenient_switch_is_set_per_station_over_rest(openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    await add_stations(server, "CP1", "CP2")
    headers = await server.auth_headers("cpo_manager")
    item = server.url("/api/chargepoint/CP1/")
    async with server.http.get(item, headers=headers) as resp:
        assert (await resp.json())["lenient"] is False
    async with server.http.post(server.url("/api/chargepoint/"), headers=headers,
                                json={"id": "CP3"}) as resp:
        assert resp.status == 201 and (await resp.json())["lenient"] is False
    async with server.http.patch(item, headers=headers, json={"lenient": True}) as resp:
        assert resp.status == 200 and (await resp.json())["lenient"] is True
    async with server.http.patch(item, headers=headers, json={"description": "old firmware"}
                                 ) as resp:
        assert resp.status == 200 and (await resp.json())["lenient"] is True
    async with server.http.put(item, headers=headers, json={"id": "CP1"}) as resp:
        assert resp.status == 200 and (await resp.json())["lenient"] is True
    async with server.http.patch(item, headers=headers, json={"lenient": "maybe"}) as resp:
        assert resp.status == 400
    driver = await server.auth_headers("driver")
    async with server.http.patch(server.url("/api/chargepoint/CP2/"), headers=driver,
                                 json={"lenient": True}) as resp:
        assert resp.status == 403
    async with server.app[appkeys.DB].session() as session:
        stations = dict((await session.execute(
            select(ChargingStation.id, ChargingStation.lenient))).all())
    assert stations == {"CP1": True, "CP2": False, "CP3": False}
    async with server.http.patch(item, headers=headers, json={"lenient": False}) as resp:
        assert resp.status == 200 and (await resp.json())["lenient"] is False


LENIENT_FRAMES = [
    # A meter value as a JSON number, an enum in the wrong case, a vendor's extra field and a
    # timestamp without a zone: each breaks the 1.6 schema.
    '[2, "m1", "MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": '
    '"2026-11-24T10:00:00", "sampledValue": [{"value": 1234, "unit": "wh"}]}]}]',
    '[2, "s1", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", '
    '"status": "AVAILABLE", "vendorField": 7}]',
]


async def test_a_lenient_station_is_served_and_a_strict_one_refused(openv2x_server,
                                                                    openv2x_db_url):
    from core.db.models import Connector, MeterValue

    server = await openv2x_server()
    db = server.app[appkeys.DB]
    async with db.transaction() as work:
        work.session.add_all([ChargingStation(id="STRICT", registration_status="Accepted"),
                              ChargingStation(id="LENIENT", registration_status="Accepted",
                                              lenient=True)])
    answers = {}
    for station_id in ("STRICT", "LENIENT"):
        url = server.url(f"/ocpp/{station_id}").replace("http://", "ws://")
        async with server.http.ws_connect(url, protocols=("ocpp1.6",)) as ws:
            answers[station_id] = []
            for frame in LENIENT_FRAMES:
                await ws.send_str(frame)
                answers[station_id].append(json.loads((await ws.receive()).data))

    assert [a[0] for a in answers["STRICT"]] == [4, 4]
    assert [a[0] for a in answers["LENIENT"]] == [3, 3]
    async with db.session() as session:
        samples = (await session.execute(select(MeterValue))).scalars().all()
        connectors = (await session.execute(select(Connector))).scalars().all()
        deviations = (await session.execute(
            select(ProtocolDeviation).order_by(ProtocolDeviation.id))).scalars().all()
    assert [(s.station_id, s.value, s.unit) for s in samples] == [
        ("LENIENT", 1234, "Wh")]
    assert samples[0].timestamp.isoformat() == "2026-11-24T10:00:00+00:00"
    assert [(c.station_id, c.status) for c in connectors] == [("LENIENT", "Available")]
    assert [(d.station_id, d.action) for d in deviations] == [
        ("LENIENT", "MeterValues"), ("LENIENT", "StatusNotification")]
    assert any("vendorField" in fix for fix in deviations[1].fixes)
