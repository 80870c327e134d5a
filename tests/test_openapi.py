"""The OpenAPI document and the Swagger UI."""

import re

from core import appkeys


async def test_openapi_lists_every_api_route(openv2x_server):
    server = await openv2x_server()
    async with server.http.get(server.url("/api/openapi.json")) as resp:
        assert resp.status == 200
        spec = await resp.json()
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "OpenV2X REST API"
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    expected = {
        (re.sub(r"\{(\w+):[^}]*\}", r"{\1}", r.path), r.method.lower())
        for r in server.app[appkeys.ROUTES] if r.path.startswith("/api/") and r.in_openapi
    }
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert documented == expected
    assert ("/api/location/{id}/", "patch") in documented
    assert ("/api/user/create/", "post") in documented
    assert ("/api/user/{username}/", "get") in documented
    assert ("/api/idtag/{id_token}/", "delete") in documented

    patch = spec["paths"]["/api/location/{id}/"]["patch"]
    assert patch["security"] == [{"bearerAuth": []}]
    assert "location:write" in patch["description"]
    assert patch["requestBody"]["content"]["application/json"]["schema"]
    assert "security" not in spec["paths"]["/api/token/"]["post"]
    listing = spec["paths"]["/api/location/"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"limit", "offset", "fields", "city"}
    for ref_owner in spec["components"]["schemas"].values():
        assert ref_owner.get("type") == "object"


async def test_openapi_is_valid(openv2x_server):
    from openapi_spec_validator import validate

    server = await openv2x_server()
    async with server.http.get(server.url("/api/openapi.json")) as resp:
        validate(await resp.json())


async def test_swagger_ui_uses_only_local_assets(openv2x_server):
    server = await openv2x_server()
    async with server.http.get(server.url("/api/docs")) as resp:
        assert resp.status == 200
        html = await resp.text()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/static/") for a in assets)
    for asset in assets:
        async with server.http.get(server.url(asset)) as resp:
            assert resp.status == 200, asset
