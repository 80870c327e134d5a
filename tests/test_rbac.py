"""Role-based access: each role may do exactly what the table below says, and nothing else.

The expectation is written out here on purpose (not derived from core.rbac), so adding or
removing a grant by mistake fails this test.
"""

import re

import pytest
from helpers import add_station_with_connector

from core import appkeys
from core.db.models import IdToken, Location, ProtocolDeviation, Task, Transaction, Vehicle
from core.db.types import utcnow
from core.rbac import AUTHENTICATED, PUBLIC, ROLES

R, W, D = "read", "write", "delete"
EXPECTED = {
    "platform_manager": {"location": {R, W, D}, "chargepoint": {R, W, D}, "connector": {R, W},
                         "idtag": {R, W, D}, "user": {R, W, D}, "task": {R, D},
                         "transaction": {R, D}, "protocoldeviation": {R},
                         "vehicle": {R, W, D}},
    "cpo_manager": {"location": {R, W, D}, "chargepoint": {R, W, D}, "connector": {R, W},
                    "idtag": {R}, "task": {R, D}, "transaction": {R, D},
                    "protocoldeviation": {R}, "vehicle": {R, W, D}},
    "billing_manager": {"location": {R}, "chargepoint": {R}, "connector": {R, W},
                        "transaction": {R}},
    "emsp_manager": {"location": {R}, "chargepoint": {R}, "connector": {R}, "idtag": {R, W, D},
                     "user": {R}, "transaction": {R}, "vehicle": {R, W, D}},
    "support_l1": {"location": {R}, "chargepoint": {R}, "connector": {R}, "idtag": {R},
                   "task": {R}, "user": {R}, "transaction": {R}, "protocoldeviation": {R},
                   "vehicle": {R}},
    "support_l2": {"location": {R}, "chargepoint": {R}, "connector": {R}, "idtag": {R, W},
                   "task": {R, D}, "user": {R}, "transaction": {R}, "protocoldeviation": {R},
                   "vehicle": {R, W}},
    "vendor": {"chargepoint": {R}, "connector": {R}, "task": {R}},
    "cdr_manager": {"location": {R}, "chargepoint": {R}, "connector": {R}, "user": {R},
                    "transaction": {R}},
    "cms_manager": {"location": {R}, "user": {R, W}},
    # Drivers: idtag/user/transaction only on their own rows (checked separately below).
    "driver": {"location": {R}, "chargepoint": {R}, "connector": {R}, "idtag": {R}, "user": {R, W},
               "transaction": {R}, "vehicle": {R, W, D}},
}
assert set(EXPECTED) == set(ROLES)


async def seed(server):
    """One row per resource, owned by nobody in particular."""
    await add_station_with_connector(server, "CP1", "con-1")
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(Location(id="loc-1", name="Depot"))
        work.session.add(IdToken(id_token="TAG1"))
        work.session.add(Task(id="task-1", station_id="CP1", action="Reset", payload={}))
        work.session.add(Transaction(id=77, station_id="CP1", connector_number=1,
                                     started_at=utcnow()))
        work.session.add(Vehicle(id=9, identifier="EVCCID-9"))
        work.session.add(ProtocolDeviation(id=5, station_id="CP1", action="Heartbeat",
                                           unique_id="h-1", error="e", fixes=["f"]))
    await server.add_user("support_l1", username="victim")


def cases():
    """(resource, action, method, path, body) for every operation the resources offer."""
    return [
        ("location", R, "GET", "/api/location/", None),
        ("location", R, "GET", "/api/location/loc-1/", None),
        ("location", W, "POST", "/api/location/", {"name": "New"}),
        ("location", W, "PATCH", "/api/location/loc-1/", {"name": "Renamed"}),
        ("location", D, "DELETE", "/api/location/loc-1/", None),
        ("chargepoint", R, "GET", "/api/chargepoint/", None),
        ("chargepoint", R, "GET", "/api/chargepoint/CP1/", None),
        ("chargepoint", W, "POST", "/api/chargepoint/", {"id": "CP2"}),
        ("chargepoint", W, "PATCH", "/api/chargepoint/CP1/", {"description": "x"}),
        ("chargepoint", D, "DELETE", "/api/chargepoint/CP2/", None),
        ("connector", R, "GET", "/api/connector/", None),
        ("connector", R, "GET", "/api/connector/con-1/", None),
        ("connector", W, "PATCH", "/api/connector/con-1/", {"tariff_ids": ["T1"]}),
        ("idtag", R, "GET", "/api/idtag/", None),
        ("idtag", R, "GET", "/api/idtag/TAG1/", None),
        ("idtag", W, "POST", "/api/idtag/", {"id_token": "TAG2"}),
        ("idtag", W, "PATCH", "/api/idtag/TAG1/", {"status": "Blocked"}),
        ("idtag", D, "DELETE", "/api/idtag/TAG2/", None),
        ("user", R, "GET", "/api/user/victim/", None),
        ("user", W, "PATCH", "/api/user/victim/", {"socket_type": "IEC_62196_T2"}),
        ("user", D, "DELETE", "/api/user/victim/", None),
        ("task", R, "GET", "/api/task/", None),
        ("task", R, "GET", "/api/task/task-1/", None),
        ("task", D, "DELETE", "/api/task/task-1/", None),
        ("transaction", R, "GET", "/api/transaction/77/", None),
        ("transaction", R, "GET", "/api/sampledvalue/77/", None),
        ("transaction", D, "DELETE", "/api/transaction/77/", None),
        ("protocoldeviation", R, "GET", "/api/protocoldeviation/", None),
        ("protocoldeviation", R, "GET", "/api/protocoldeviation/5/", None),
        ("vehicle", R, "GET", "/api/vehicle/", None),
        ("vehicle", R, "GET", "/api/vehicle/9/", None),
        ("vehicle", W, "POST", "/api/vehicle/", {"identifier": "MAC-1", "kind": "MacAddress"}),
        ("vehicle", W, "PATCH", "/api/vehicle/9/", {"label": "Van"}),
        ("vehicle", D, "DELETE", "/api/vehicle/9/", None),
    ]


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_is_allowed_exactly_its_permissions(openv2x_server, role):
    server = await openv2x_server()
    await seed(server)
    headers = await server.auth_headers(role, "actor")
    for resource, action, method, path, body in cases():
        async with server.http.request(method, server.url(path), json=body,
                                       headers=headers) as resp:
            allowed = action in EXPECTED[role].get(resource, set())
            if not allowed:
                assert resp.status == 403, (role, method, path, resp.status)
                assert (await resp.json())["error"]["code"] == "permission_denied"
                continue
            if role == "driver" and path == "/api/sampledvalue/77/":
                # Own-scope list: someone else's session has no values a driver can see.
                assert resp.status == 200 and (await resp.json())["count"] == 0
            elif role == "driver" and resource in ("idtag", "user", "transaction", "vehicle") and (
                path not in ("/api/idtag/", "/api/vehicle/")
            ):
                # Own-scope: another person's rows are invisible to a driver.
                assert resp.status == 404, (role, method, path, resp.status)
            else:
                assert resp.status in (200, 201, 204), (role, method, path, resp.status)


async def test_anonymous_requests_are_refused_everywhere(openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    await seed(server)
    for _, _, method, path, body in cases():
        async with server.http.request(method, server.url(path), json=body) as resp:
            assert resp.status == 401, (method, path)
            assert (await resp.json())["error"]["code"] == "not_authenticated"


async def test_driver_sees_only_own_rows(openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    dora = await server.add_user("driver", username="dora")
    dan = await server.add_user("driver", username="dan")
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add_all([IdToken(id_token="DORA-1", user_id=dora),
                              IdToken(id_token="DAN-1", user_id=dan),
                              IdToken(id_token="NOBODY")])
    headers = await server.auth_headers("driver", "dora")

    async with server.http.get(server.url("/api/user/"), headers=headers) as resp:
        users = await resp.json()
    assert [u["username"] for u in users["results"]] == ["dora"] and users["count"] == 1
    async with server.http.get(server.url("/api/idtag/"), headers=headers) as resp:
        assert [t["id_token"] for t in (await resp.json())["results"]] == ["DORA-1"]
    for path in ("/api/user/dan/", "/api/idtag/DAN-1/", "/api/idtag/NOBODY/"):
        async with server.http.get(server.url(path), headers=headers) as resp:
            assert resp.status == 404, path
    async with server.http.patch(server.url("/api/user/dan/"), headers=headers,
                                 json={"first_name": "Hacked"}) as resp:
        assert resp.status == 404
    async with server.http.patch(server.url("/api/user/dora/"), headers=headers,
                                 json={"first_name": "Dora"}) as resp:
        assert resp.status == 200
    async with server.http.patch(server.url("/api/user/dora/"), headers=headers,
                                 json={"role": "platform_manager"}) as resp:
        assert resp.status == 403
    async with server.http.get(server.url("/api/user/dora/"), headers=headers) as resp:
        assert (await resp.json())["role"] == "driver"


async def test_only_platform_manager_changes_roles(openv2x_server):
    server = await openv2x_server()
    await server.add_user("driver", username="dora")
    cms = await server.auth_headers("cms_manager", "cms")
    admin = await server.auth_headers("platform_manager", "admin")
    async with server.http.patch(server.url("/api/user/dora/"), headers=cms,
                                 json={"role": "support_l1"}) as resp:
        assert resp.status == 403
    async with server.http.patch(server.url("/api/user/dora/"), headers=cms,
                                 json={"first_name": "D."}) as resp:
        assert resp.status == 200
    async with server.http.patch(server.url("/api/user/dora/"), headers=admin,
                                 json={"role": "support_l1"}) as resp:
        assert resp.status == 200 and (await resp.json())["role"] == "support_l1"
    async with server.http.patch(server.url("/api/user/admin/"), headers=admin,
                                 json={"role": "driver"}) as resp:
        assert resp.status == 403
    async with server.http.delete(server.url("/api/user/admin/"), headers=admin) as resp:
        assert resp.status == 403


async def test_every_route_declares_a_permission(openv2x_server):
    server = await openv2x_server()
    routes = server.app[appkeys.ROUTES]
    assert routes
    for route in routes:
        assert route.permission in (PUBLIC, AUTHENTICATED) or re.fullmatch(
            r"[a-z][a-z0-9_]*:[a-z_]+", route.permission
        ), (route.path, route.permission)
    public = {r.path for r in routes if r.permission == PUBLIC}
    # /ocpp/{station_id} authenticates stations itself (admission policy, HTTP Basic auth).
    assert public == {"/health", "/metrics", "/login", "/logout", "/ocpp/{station_id}",
                      "/api/token/",
                      "/api/token/refresh/", "/api/token/verify/", "/api/user/create/",
                      "/api/openapi.json", "/api/docs"}
