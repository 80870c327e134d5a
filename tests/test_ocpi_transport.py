"""The OCPI transport every role shares: tokens, envelope, headers, credentials misuse.

A real server with the CPO platform; requests are raw HTTP so every header is under the test's
control.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from core import appkeys
from core.db.models import OcpiPartner, OcpiTokenA

PLUGINS = ["ocpp16", "ocpp201", "billing", "ocpi_cpo"]
SETTINGS = {"billing": {"country_code": "NL", "party_id": "OVX"}}


def ids() -> dict[str, str]:
    return {"X-Request-ID": str(uuid.uuid4()), "X-Correlation-ID": str(uuid.uuid4())}


def token_header(token: str) -> dict[str, str]:
    return {"Authorization": "Token " + base64.b64encode(token.encode()).decode()}


async def call(server: Any, method: str, path: str, token: str | None = None,
               headers: dict[str, str] | None = None, **kwargs: Any
               ) -> tuple[int, dict[str, Any], Any]:
    sent = {**ids(), **(token_header(token) if token else {}), **(headers or {})}
    async with server.http.request(method, server.url(path), headers=sent, **kwargs) as resp:
        return resp.status, await resp.json(), resp.headers


@pytest.fixture
async def cpo(openv2x_server: Any) -> Any:
    return await openv2x_server(plugins=PLUGINS, settings=SETTINGS)


async def token_a(server: Any) -> str:
    headers = await server.auth_headers("emsp_manager")
    async with server.http.post(server.url("/api/ocpi/cpo/token-a/"), headers=headers) as resp:
        assert resp.status == 201
        body = await resp.json()
    assert body["versions_url"].endswith("/ocpi/cpo/versions")
    return str(body["token"])


async def test_missing_or_unknown_token_is_401_with_the_ids_echoed(cpo: Any) -> None:
    request_id = str(uuid.uuid4())
    status, body, headers = await call(cpo, "GET", "/ocpi/cpo/versions",
                                       headers={"X-Request-ID": request_id})
    assert status == 401 and body["status_code"] == 2000
    assert headers["X-Request-ID"] == request_id and "timestamp" in body
    status, body, _ = await call(cpo, "GET", "/ocpi/cpo/versions", "not-a-token")
    assert status == 401


async def test_token_a_opens_versions_and_details_only(cpo: Any) -> None:
    token = await token_a(cpo)
    status, body, headers = await call(cpo, "GET", "/ocpi/cpo/versions", token)
    assert status == 200 and body["status_code"] == 1000
    assert body["data"] == [{"version": "2.2.1", "url": cpo.url("/ocpi/cpo/2.2.1")}]
    assert headers["X-Correlation-ID"]
    for path in ("/ocpi/cpo/2.2.1", "/ocpi/cpo/2.2.1/", "/ocpi/cpo/versions/2.2.1"):
        status, body, _ = await call(cpo, "GET", path, token)
        assert status == 200, path
        endpoints = {(e["identifier"], e["role"]): e["url"] for e in body["data"]["endpoints"]}
        assert endpoints[("locations", "SENDER")] == cpo.url("/ocpi/cpo/2.2.1/locations")
        assert ("credentials", "RECEIVER") in endpoints
    status, body, _ = await call(cpo, "GET", "/ocpi/cpo/2.2.1/locations", token)
    assert status == 401


async def test_request_ids_are_required(cpo: Any) -> None:
    token = await token_a(cpo)
    async with cpo.http.get(cpo.url("/ocpi/cpo/versions"),
                            headers=token_header(token)) as resp:
        assert resp.status == 400
        assert (await resp.json())["status_code"] == 2001


async def test_credentials_misuse_with_token_a_is_405(cpo: Any) -> None:
    token = await token_a(cpo)
    for method in ("GET", "PUT", "DELETE"):
        status, body, _ = await call(cpo, method, "/ocpi/cpo/2.2.1/credentials", token,
                                     json={})
        assert status == 405, method
        assert body["status_code"] == 2000


async def test_registration_with_an_unreachable_partner_stores_nothing(cpo: Any) -> None:
    token = await token_a(cpo)
    credentials = {"token": "partner-token-b", "url": "http://127.0.0.1:9/ocpi/versions",
                   "roles": [{"role": "EMSP", "party_id": "EMS", "country_code": "DE",
                              "business_details": {"name": "Partner"}}]}
    status, body, _ = await call(cpo, "POST", "/ocpi/cpo/2.2.1/credentials", token,
                                 json=credentials)
    assert status == 200 and body["status_code"] == 3001
    async with cpo.app[appkeys.DB].session() as session:
        assert await session.scalar(select(func.count()).select_from(OcpiPartner)) == 0
        unused = await session.scalar(select(func.count()).select_from(OcpiTokenA).where(
            OcpiTokenA.used_at.is_(None)))
        assert unused == 1


@pytest.mark.parametrize("credentials", [
    {},
    {"token": "b", "url": "ftp://x", "roles": []},
    {"token": "b", "url": "http://x/versions", "roles": [{"role": "EMSP"}]},
    {"token": "has space", "url": "http://x/versions",
     "roles": [{"role": "EMSP", "party_id": "EMS", "country_code": "DE",
                "business_details": {"name": "P"}}]},
])
async def test_invalid_credentials_get_2001(cpo: Any, credentials: dict[str, Any]) -> None:
    token = await token_a(cpo)
    status, body, _ = await call(cpo, "POST", "/ocpi/cpo/2.2.1/credentials", token,
                                 json=credentials)
    assert status == 200 and body["status_code"] == 2001


async def test_body_that_is_not_json_is_400(cpo: Any) -> None:
    token = await token_a(cpo)
    status, body, _ = await call(cpo, "POST", "/ocpi/cpo/2.2.1/credentials", token,
                                 data=b"{not json", headers={"Content-Type": "application/json"})
    assert status == 400 and body["status_code"] == 2001
