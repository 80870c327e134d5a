"""The server-rendered portal: base layout, login/logout, dashboard and plugin navigation."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from core.auth import principal_of
from core.rbac import AUTHENTICATED
from core.rest.routes import Route


def render(request: web.Request, template: str, context: dict[str, Any], status: int = 200
           ) -> web.Response:
    return aiohttp_jinja2.render_template(
        template, request, {"principal": principal_of(request), **context}, status=status
    )


async def error_page(request: web.Request, status: int, message: str) -> web.StreamResponse:
    if status == 401:
        raise web.HTTPFound(f"/login?next={request.path_qs}")
    return render(request, "error.html", {"status": status, "message": message}, status)


async def dashboard(request: web.Request) -> web.StreamResponse:
    return render(request, "dashboard.html", {})


def portal_routes() -> list[Route]:
    return [Route("GET", "/", dashboard, AUTHENTICATED, "dashboard", in_openapi=False)]
