"""The server-rendered portal: base layout, login/logout, dashboard and plugin navigation."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from core.auth import principal_of
from core.rbac import AUTHENTICATED
from core.rest.routes import Route


async def context_processor(request: web.Request) -> dict[str, Any]:
    return {"principal": principal_of(request)}


async def error_page(request: web.Request, status: int, message: str) -> web.StreamResponse:
    if status == 401:
        raise web.HTTPFound(f"/login?next={request.path_qs}")
    return aiohttp_jinja2.render_template(
        "error.html", request, {"status": status, "message": message}, status=status
    )


async def dashboard(request: web.Request) -> web.StreamResponse:
    return aiohttp_jinja2.render_template("dashboard.html", request, {})


def portal_routes() -> list[Route]:
    return [Route("GET", "/", dashboard, AUTHENTICATED, "dashboard", in_openapi=False)]
