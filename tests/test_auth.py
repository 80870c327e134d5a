"""Token flow, token forgery and revocation, sign-up, and personal data encrypted at rest."""

import base64
import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from sqlalchemy import select

from core import appkeys
from core.db.models import User
from core.testing import DEFAULT_PASSWORD, TEST_SECRET


async def post(server, path, body, headers=None):
    async with server.http.post(server.url(path), json=body, headers=headers) as resp:
        return resp.status, await resp.json() if resp.content_type == "application/json" else None


async def get_status(server, path, token):
    async with server.http.get(server.url(path), headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, await r.json()


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims_for(user_id, role="platform_manager", typ="access", **extra):
    now = int(time.time())
    return {"iss": "openv2x", "sub": str(user_id), "role": role, "typ": typ, "epoch": 0,
            "iat": now, "exp": now + 600, "jti": "x", **extra}


async def test_token_flow_end_to_end(openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    await server.add_user("cpo_manager", username="oper", email="Oper@Example.test")
    for login in ("oper", "oper@example.test", "  OPER@example.TEST "):
        status, pair = await post(server, "/api/token/",
                                  {"username": login, "password": DEFAULT_PASSWORD})
        assert status == 200, pair
        assert set(pair) == {"access", "refresh"}
    assert (await get_status(server, "/api/location/", pair["access"]))[0] == 200

    status, body = await post(server, "/api/token/verify/", {"token": pair["access"]})
    assert (status, body) == (200, {})
    status, body = await post(server, "/api/token/refresh/", {"refresh": pair["refresh"]})
    assert status == 200 and set(body) == {"access"}
    assert (await get_status(server, "/api/location/", body["access"]))[0] == 200


async def test_credentials_failures_look_the_same(openv2x_server):
    server = await openv2x_server()
    await server.add_user("cpo_manager", username="oper")
    wrong = await post(server, "/api/token/", {"username": "oper", "password": "nope-nope"})
    unknown = await post(server, "/api/token/", {"username": "ghost", "password": "nope-nope"})
    assert wrong == unknown
    assert wrong[0] == 401
    assert wrong[1]["error"]["code"] == "invalid_credentials"


@pytest.mark.parametrize("body", [{}, {"username": "x"}, {"username": 1, "password": "x"},
                                  {"username": "x", "password": "y", "role": "driver"}])
async def test_token_endpoint_validates_its_body(openv2x_server, body):
    server = await openv2x_server()
    status, payload = await post(server, "/api/token/", body)
    assert status == 400
    assert payload["error"]["code"] == "validation_error"


def forged_tokens(user_id):
    right = OctKey.import_key(TEST_SECRET.encode())
    other = OctKey.import_key(b"another-key-of-sufficient-length-000000")
    good = claims_for(user_id)
    rsa = RSAKey.generate_key(2048)
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(good)}."
    tampered_payload = jwt.encode({"alg": "HS256"}, good, right).split(".")
    tampered_payload[1] = b64({**good, "role": "platform_manager", "sub": "999"})
    return {
        "expired": jwt.encode({"alg": "HS256"}, claims_for(user_id, exp=int(time.time()) - 5),
                              right),
        "other key": jwt.encode({"alg": "HS256"}, good, other),
        "alg none": unsigned,
        "HS512 same key": jwt.encode({"alg": "HS512"}, good, right, algorithms=["HS512"]),
        "RS256": jwt.encode({"alg": "RS256"}, good, rsa),
        "tampered payload": ".".join(tampered_payload),
        "wrong issuer": jwt.encode({"alg": "HS256"}, claims_for(user_id, iss="evil"), right),
        "refresh kind": jwt.encode({"alg": "HS256"}, claims_for(user_id, typ="refresh"), right),
        "session kind": jwt.encode({"alg": "HS256"}, claims_for(user_id, typ="session"), right),
        "role claim lies": jwt.encode({"alg": "HS256"}, claims_for(user_id, role="driver"), right),
        "old epoch": jwt.encode({"alg": "HS256"}, claims_for(user_id, epoch=-1), right),
        "garbage": "not.a.token",
        "empty": "",
    }


async def test_forged_expired_and_wrong_algorithm_tokens_are_rejected(openv2x_server,
                                                                      openv2x_db_url):
    server = await openv2x_server()
    admin = await server.add_user("platform_manager", username="admin")
    right = OctKey.import_key(TEST_SECRET.encode())
    # Sanity: the same construction with the right key, kind and claims is accepted.
    genuine = jwt.encode({"alg": "HS256"}, claims_for(admin), right)
    assert (await get_status(server, "/api/user/", genuine))[0] == 200
    for name, token in forged_tokens(admin).items():
        status, body = await get_status(server, "/api/user/", token)
        assert status == 401, name
        assert body["error"]["code"] == "not_authenticated", name
        status, body = await post(server, "/api/token/verify/", {"token": token})
        assert status in (400, 401), name


async def test_refresh_token_is_not_an_access_token_and_vice_versa(openv2x_server):
    server = await openv2x_server()
    await server.add_user("cpo_manager", username="oper")
    _, pair = await post(server, "/api/token/", {"username": "oper", "password": DEFAULT_PASSWORD})
    assert (await get_status(server, "/api/location/", pair["refresh"]))[0] == 401
    assert (await post(server, "/api/token/verify/", {"token": pair["refresh"]}))[0] == 401
    assert (await post(server, "/api/token/refresh/", {"refresh": pair["access"]}))[0] == 401


async def test_deactivation_and_password_change_revoke_tokens(openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    admin = await server.auth_headers("platform_manager", "admin")
    await server.add_user("driver", username="dora")
    _, old = await post(server, "/api/token/", {"username": "dora", "password": DEFAULT_PASSWORD})
    dora = {"Authorization": f"Bearer {old['access']}"}

    async with server.http.patch(server.url("/api/user/dora/"), headers=dora,
                                 json={"password": "a brand new secret"}) as resp:
        assert resp.status == 200
    assert (await get_status(server, "/api/user/dora/", old["access"]))[0] == 401
    assert (await post(server, "/api/token/refresh/", {"refresh": old["refresh"]}))[0] == 401
    status, new = await post(server, "/api/token/",
                             {"username": "dora", "password": "a brand new secret"})
    assert status == 200

    async with server.http.patch(server.url("/api/user/dora/"), headers=admin,
                                 json={"is_active": False}) as resp:
        assert resp.status == 200
    assert (await get_status(server, "/api/user/dora/", new["access"]))[0] == 401
    status, _ = await post(server, "/api/token/",
                           {"username": "dora", "password": "a brand new secret"})
    assert status == 401


async def test_driver_sign_up(openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    body = {"email": "Dora@Example.test", "password": "long enough pw", "first_name": "Dora",
            "last_name": "Driver", "tariff_preference": 0.35, "socket_type": "IEC_62196_T2"}
    status, user = await post(server, "/api/user/create/", body)
    assert status == 201, user
    assert user["role"] == "driver"
    assert user["email"] == "dora@example.test"
    assert user["tariff_preference"] == 0.35
    assert "password" not in user
    status, pair = await post(server, "/api/token/",
                              {"username": "dora@example.test", "password": "long enough pw"})
    assert status == 200
    status, me = await get_status(server, f"/api/user/{user['username']}/", pair["access"])
    assert status == 200 and me["first_name"] == "Dora"

    status, err = await post(server, "/api/user/create/", {**body, "email": "dora@example.TEST"})
    assert status == 409 and err["error"]["details"] == {"email": ["is already registered"]}


@pytest.mark.parametrize(
    ("change", "field"),
    [({"role": "platform_manager"}, "role"), ({"password": "short"}, "password"),
     ({"email": "not-an-email"}, "email"), ({"socket_type": "USB"}, "socket_type"),
     ({"tariff_preference": -1}, "tariff_preference"), ({"tariff_preference": "cheap"},
                                                        "tariff_preference")],
)
async def test_sign_up_refuses_bad_input_and_creates_nothing(openv2x_server, change, field):
    server = await openv2x_server()
    body = {"email": "d@example.test", "password": "long enough pw", **change}
    status, err = await post(server, "/api/user/create/", body)
    assert status == 400
    assert field in err["error"]["details"]
    async with server.app[appkeys.DB].session() as session:
        assert (await session.execute(select(User))).first() is None


async def test_personal_fields_are_encrypted_at_rest(openv2x_server, openv2x_db_url):
    server = await openv2x_server()
    await post(server, "/api/user/create/", {"email": "secret.person@example.test",
                                             "password": "long enough pw",
                                             "first_name": "Wilhelmina", "last_name": "Zed"})
    async with server.app[appkeys.DB].session() as session:
        row = (await session.execute(select(User.__table__))).one()
    stored = b" ".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
    for clear in (b"secret.person", b"Wilhelmina", b"Zed", b"long enough pw"):
        assert clear not in stored
    assert row.password_hash.startswith("$argon2id$")
