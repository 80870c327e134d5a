"""Routes that declare the permission they need; the core enforces it before the handler runs.

Deny by default: a route must name a permission, :data:`core.rbac.PUBLIC` or
:data:`core.rbac.AUTHENTICATED`. Handlers get the decision's scope in ``request[SCOPE]``
(``"all"`` or ``"own"``) so resource code can restrict rows for drivers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from core import appkeys
from core.auth import resolve_principal
from core.rbac import AUTHENTICATED, PUBLIC
from core.rest.errors import UNAUTHENTICATED, ApiError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SCOPE = web.RequestKey("scope", str)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    permission: str
    name: str | None = None
    summary: str = ""
    tags: tuple[str, ...] = ()
    request_schema: Any = None
    response_schema: Any = None
    query_params: tuple[dict[str, Any], ...] = ()
    responses: dict[int, str] = field(default_factory=dict)
    in_openapi: bool = True


def guarded(route: Route) -> Handler:
    """Wrap the handler with the permission check the route declares."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if route.permission == PUBLIC:
            request[SCOPE] = "all"
            return await route.handler(request)
        principal = await resolve_principal(request)
        if principal is None:
            raise ApiError(401, *UNAUTHENTICATED)
        if route.permission == AUTHENTICATED:
            request[SCOPE] = "own"
            return await route.handler(request)
        scope = request.app[appkeys.POLICY].scope(principal.role, route.permission)
        if scope is None:
            raise ApiError(
                403,
                "permission_denied",
                f"role {principal.role!r} lacks permission {route.permission!r}",
            )
        request[SCOPE] = scope
        return await route.handler(request)

    handler.__name__ = getattr(route.handler, "__name__", "handler")
    handler.__doc__ = route.handler.__doc__
    return handler


def install(app: web.Application, routes: list[Route]) -> None:
    for route in routes:
        if not route.permission:
            raise ValueError(f"route {route.method} {route.path} declares no permission")
        app.router.add_route(route.method, route.path, guarded(route), name=route.name)
    app[appkeys.ROUTES].extend(routes)
