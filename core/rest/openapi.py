"""OpenAPI 3 document generated from the installed routes and their marshmallow schemas."""

from __future__ import annotations

import re
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from core import __version__, appkeys
from core.json import dumps
from core.rbac import AUTHENTICATED, PUBLIC
from core.rest.routes import Route

_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
            },
            "required": ["code", "message"],
        }
    },
}


def _operation(route: Route) -> dict[str, Any]:
    declared = {p["name"] for p in route.query_params if p.get("in") == "path"}
    op: dict[str, Any] = {
        "summary": route.summary or route.name or route.path,
        "operationId": route.name,
        "tags": list(route.tags),
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAM.findall(route.path) if name not in declared
        ]
        + list(route.query_params),
        "responses": {},
    }
    if route.permission != PUBLIC:
        op["security"] = [{"bearerAuth": []}]
        if route.permission != AUTHENTICATED:
            op["description"] = f"Requires permission `{route.permission}`."
    if route.request_schema is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": route.request_schema}},
        }
    ok = {"POST": "201" if route.path.endswith("create/") or "create" in (route.name or "")
          else "200", "DELETE": "204"}.get(route.method, "200")
    success: dict[str, Any] = {"description": "Success"}
    if route.response_schema is not None and ok != "204":
        success["content"] = {"application/json": {"schema": route.response_schema}}
    op["responses"][ok] = success
    for status, text in {400: "Invalid input", 401: "Not authenticated",
                         403: "Permission denied", 404: "Not found"}.items():
        op["responses"][str(status)] = {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return op


def build_spec(routes: list[Route]) -> dict[str, Any]:
    spec = APISpec(
        title="OpenV2X REST API",
        version=__version__,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
    )
    spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    spec.components.schema("Error", ERROR_SCHEMA)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not route.in_openapi or not route.path.startswith("/api/"):
            continue
        path = _PARAM.sub(r"{\1}", route.path)
        paths.setdefault(path, {})[route.method.lower()] = _operation(route)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


async def openapi_view(request: web.Request) -> web.Response:
    """The OpenAPI 3 description of every REST route, core and plugins."""
    return web.json_response(build_spec(request.app[appkeys.ROUTES]), dumps=dumps)


async def swagger_view(request: web.Request) -> web.StreamResponse:
    """Swagger UI over ``/api/openapi.json`` with vendored assets (works offline)."""
    return aiohttp_jinja2.render_template("swagger.html", request, {})


def openapi_routes() -> list[Route]:
    return [
        Route("GET", "/api/openapi.json", openapi_view, PUBLIC, "openapi", in_openapi=False),
        Route("GET", "/api/docs", swagger_view, PUBLIC, "swagger-ui", in_openapi=False),
    ]
