"""The generic resource layer through real resources: CRUD, filters, pagination, bad input."""

import pytest
from helpers import add_station_with_connector
from sqlalchemy import func, select

from core import appkeys
from core.db.models import ChargingStation, IdToken, Location, Task


async def call(server, method, path, headers, body=None, **kwargs):
    async with server.http.request(method, server.url(path), json=body, headers=headers,
                                   **kwargs) as resp:
        data = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, data


async def count(server, model):
    async with server.app[appkeys.DB].session() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def snapshot(server):
    async with server.app[appkeys.DB].session() as session:
        rows = (await session.execute(select(Location).order_by(Location.id))).scalars().all()
        return [(r.id, r.name, r.city, r.latitude, r.last_updated) for r in rows]


@pytest.fixture
async def admin(openv2x_server, openv2x_db_url):
    server = await openv2x_server(settings={"server": {"max_body_bytes": 2048}})
    return server, await server.auth_headers("platform_manager")


async def test_location_crud_and_events(admin):
    server, headers = admin
    seen = []

    async def record(event):
        seen.append((event.name, event.data["id"]))

    server.app[appkeys.EVENTS].subscribe(record)
    status, loc = await call(server, "POST", "/api/location/", headers,
                             {"name": "Depot", "city": "Lisbon", "latitude": "38.72225",
                              "longitude": "-9.13933", "parking_type": "PARKING_LOT"})
    assert status == 201, loc
    assert loc["access"] == "public" and loc["publish"] is True
    status, again = await call(server, "GET", f"/api/location/{loc['id']}/", headers)
    assert status == 200 and again == loc
    status, patched = await call(server, "PATCH", f"/api/location/{loc['id']}/", headers,
                                 {"name": "Main depot"})
    assert status == 200 and patched["name"] == "Main depot" and patched["city"] == "Lisbon"
    assert patched["last_updated"] > loc["last_updated"]
    status, replaced = await call(server, "PUT", f"/api/location/{loc['id']}/", headers,
                                  {"name": "Only name"})
    # As in the O-V2X-MP API (DRF semantics): PUT validates a full object; omitted optional
    # fields keep their value.
    assert status == 200 and replaced["name"] == "Only name" and replaced["city"] == "Lisbon"
    status, _ = await call(server, "DELETE", f"/api/location/{loc['id']}/", headers)
    assert status == 204
    assert (await call(server, "GET", f"/api/location/{loc['id']}/", headers))[0] == 404
    await server.app[appkeys.EVENTS].drain()
    assert [name for name, _ in seen] == ["location.created", "location.updated",
                                          "location.updated", "location.deleted"]
    assert {ident for _, ident in seen} == {loc["id"]}


async def test_chargepoint_password_is_write_only(admin):
    server, headers = admin
    status, cp = await call(server, "POST", "/api/chargepoint/", headers,
                            {"id": "CP-1", "password": "0123456789abcdef", "ocpp_version": "1.6"})
    assert status == 201, cp
    assert "password" not in cp and cp["has_password"] is True
    async with server.app[appkeys.DB].session() as session:
        stored = await session.get(ChargingStation, "CP-1")
    assert stored.password_hash.startswith("$argon2id$")
    status, err = await call(server, "POST", "/api/chargepoint/", headers, {"id": "CP-1"})
    assert status == 409 and err["error"]["code"] == "conflict"
    status, err = await call(server, "PATCH", "/api/chargepoint/CP-1/", headers, {"id": "CP-9"})
    assert status == 400


async def test_idtag_by_token_and_owner_reference(admin):
    server, headers = admin
    owner = await server.add_user("driver", username="dora")
    status, tag = await call(server, "POST", "/api/idtag/", headers,
                             {"id_token": "04A2B3C4", "user_id": owner,
                              "expiry_date": "2030-01-01T00:00:00Z"})
    assert status == 201, tag
    assert tag["type"] == "ISO14443" and tag["status"] == "Accepted"
    status, blocked = await call(server, "PATCH", "/api/idtag/04A2B3C4/", headers,
                                 {"status": "Blocked"})
    assert status == 200 and blocked["status"] == "Blocked"
    status, err = await call(server, "POST", "/api/idtag/", headers,
                             {"id_token": "X", "user_id": 99999})
    assert status == 400 and "user_id" in err["error"]["details"]
    assert await count(server, IdToken) == 1


async def test_connector_is_read_and_update_only(admin):
    server, headers = admin
    await add_station_with_connector(server, "CP1", "c1")
    status, page = await call(server, "GET", "/api/connector/?station_id=CP1", headers)
    assert page["count"] == 1 and page["results"][0]["connector_number"] == 1
    status, con = await call(server, "PATCH", "/api/connector/c1/", headers,
                             {"tariff_ids": ["AC-1"], "standard": "IEC_62196_T2",
                              "power_type": "AC_3_PHASE", "max_electric_power": 22000})
    assert status == 200 and con["tariff_ids"] == ["AC-1"]
    for method, path in (("POST", "/api/connector/"), ("DELETE", "/api/connector/c1/")):
        status, err = await call(server, method, path, headers, {})
        assert status == 405 and err["error"]["code"] == "method_not_allowed"
    status, err = await call(server, "PATCH", "/api/connector/c1/", headers, {"status": "x"})
    assert status == 400


async def test_task_is_read_and_delete_only(admin):
    server, headers = admin
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(Task(id="t1", station_id="CP1", action="Reset", payload={"type": "Soft"}))
    status, task = await call(server, "GET", "/api/task/t1/", headers)
    assert status == 200 and task["payload"] == {"type": "Soft"} and task["status"] == "pending"
    assert (await call(server, "POST", "/api/task/", headers, {}))[0] == 405
    assert (await call(server, "PATCH", "/api/task/t1/", headers, {}))[0] == 405
    assert (await call(server, "DELETE", "/api/task/t1/", headers))[0] == 204
    assert await count(server, Task) == 0


async def test_filters_fields_ordering_and_pagination(admin):
    server, headers = admin
    async with server.app[appkeys.DB].transaction() as work:
        for i in range(25):
            work.session.add(Location(id=f"L{i:02d}", name=f"Site {i:02d}",
                                      city="Lisbon" if i % 2 else "Porto", publish=i < 20,
                                      postal_code=None if i % 5 else f"{1000 + i}"))
    base = "/api/location/"
    status, page = await call(server, "GET", f"{base}?limit=10&offset=0&ordering=name", headers)
    assert page["count"] == 25 and len(page["results"]) == 10
    assert page["previous"] is None and "offset=10" in page["next"]
    assert page["results"][0]["name"] == "Site 00"
    status, last = await call(server, "GET", f"{base}?limit=10&offset=20&ordering=name", headers)
    assert len(last["results"]) == 5 and last["next"] is None and "offset=10" in last["previous"]
    status, desc = await call(server, "GET", f"{base}?ordering=-name&limit=1", headers)
    assert desc["results"][0]["name"] == "Site 24"

    checks = {
        "city=Lisbon": 12,
        "city__in=Lisbon,Porto": 25,
        "name__icontains=site 1": 10,
        "publish=false": 5,
        "postal_code__isnull=false": 5,
        "postal_code__isnull=true": 20,
        "city=Lisbon&publish=true": 10,
        "name__gte=Site 20": 5,
        "name__lt=Site 10": 10,
    }
    for query, expected in checks.items():
        status, page = await call(server, "GET", f"{base}?{query}", headers)
        assert status == 200 and page["count"] == expected, query
    status, page = await call(server, "GET", f"{base}?fields=id,city&limit=2", headers)
    assert [set(r) for r in page["results"]] == [{"id", "city"}] * 2


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=-1", "limit=abc", "offset=-5", "limit=100000", "offset=1.5",
     "fields=id,password", "fields=", "nonsense=1", "name__regex=x", "ordering=opening_times",
     "publish=maybe", "last_updated__gte=yesterday", "postal_code__isnull=1",
     "id=1&id__in=2"],
)
async def test_bad_query_parameters_are_400(admin, query):
    server, headers = admin
    status, err = await call(server, "GET", f"/api/location/?{query}", headers)
    assert status == 400, query
    assert set(err["error"]) == {"code", "message", "details"}
    assert err["error"]["code"] == "invalid_query"


@pytest.mark.parametrize(
    "query",
    ["name=' OR 1=1 --", "city__in=1);DROP TABLE location;--", "name__icontains=%",
     "name__icontains=_", "city=Lisbon' UNION SELECT * FROM user_account --"],
)
async def test_sql_like_filter_values_are_just_values(admin, query):
    server, headers = admin
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(Location(id="L1", name="Depot", city="Lisbon"))
    status, page = await call(server, "GET", f"/api/location/?{query}", headers)
    assert status == 200
    assert page["count"] == 0
    assert await count(server, Location) == 1


async def raw(server, method, path, headers, data, content_type="application/json"):
    async with server.http.request(method, server.url(path), data=data,
                                   headers={**headers, "Content-Type": content_type}) as resp:
        return resp.status, await resp.json()


BAD_BODIES = [
    (b'{"name": ', 400, "malformed_json"),
    (b"[1, 2]", 400, "malformed_json"),
    (b'"just a string"', 400, "malformed_json"),
    (b"\xff\xfe", 400, "malformed_json"),
    (b'{"name": "x", "bogus": 1}', 400, "validation_error"),
    (b'{"name": 42}', 400, "validation_error"),
    (b'{"publish": "sometimes"}', 400, "validation_error"),
    (b'{"id": "chosen-by-client"}', 400, "validation_error"),
    (b'{"created_at": "2020-01-01T00:00:00Z"}', 400, "validation_error"),
    (b'{"latitude": "52.1", "longitude": "4.89231"}', 400, "validation_error"),
    (b'{"latitude": "52.37452"}', 400, "validation_error"),
    (b'{"parking_type": "ROOFTOP"}', 400, "validation_error"),
    (b'{"country_code": "pt"}', 400, "validation_error"),
    (b'{"name": "' + b"x" * 300 + b'"}', 400, "validation_error"),
    (b'{"name": "' + b"x" * 4000 + b'"}', 413, "body_too_large"),
    (b'{"name": "nul\\u0000byte"}', 400, "invalid_text"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_BODIES)
async def test_bad_bodies_are_refused_and_change_nothing(admin, body, status, code):
    server, headers = admin
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(Location(id="L1", name="Depot", city="Lisbon", latitude="38.72225",
                                  longitude="-9.13933"))
    before = await snapshot(server)
    for method, path in (("POST", "/api/location/"), ("PATCH", "/api/location/L1/"),
                         ("PUT", "/api/location/L1/")):
        got, err = await raw(server, method, path, headers, body)
        assert (got, err["error"]["code"]) == (status, code), (method, body[:40])
        assert set(err["error"]) == {"code", "message", "details"}
    assert await snapshot(server) == before


async def test_nul_in_query_is_refused(admin):
    server, headers = admin
    status, err = await call(server, "GET", "/api/location/?name=a%00b", headers)
    assert status == 400 and err["error"]["code"] == "invalid_text"


async def test_wrong_content_type_is_415(admin):
    server, headers = admin
    status, err = await raw(server, "POST", "/api/location/", headers, b"name=x",
                            "application/x-www-form-urlencoded")
    assert status == 415 and err["error"]["code"] == "unsupported_media_type"
    assert await count(server, Location) == 0


async def test_unknown_paths_and_lookups_are_json_404(admin):
    server, headers = admin
    for path in ("/api/location/nope/", "/api/nothing/", "/api/idtag/%00/"):
        status, err = await call(server, "GET", path, headers)
        assert status == 404 and err["error"]["code"] == "not_found", path


async def test_missing_reference_is_400(admin):
    server, headers = admin
    status, err = await call(server, "POST", "/api/chargepoint/", headers,
                             {"id": "CP1", "location_id": "missing"})
    assert status == 400 and "location_id" in err["error"]["details"]
    assert await count(server, ChargingStation) == 0
