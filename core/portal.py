"""The server-rendered portal: base layout, sign-in/out, dashboard and plugin navigation.

Pages are Jinja2 templates extending ``base.html``; plugins add pages with routes and template
folders and add links with the ``openv2x_nav_items`` hook. Forms are CSRF-protected
(:mod:`core.csrf`); the session cookie carries a JWT of kind ``session``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web

from core import appkeys, csrf
from core.auth import SESSION_COOKIE, Principal, resolve_principal
from core.nav import NavItem
from core.plugins import flatten
from core.rbac import AUTHENTICATED, PUBLIC
from core.rest.routes import Route
from core.users import authenticate

CORE_NAV = (NavItem("Dashboard", "/", order=0),)


def navigation(request: web.Request, principal: Principal | None) -> list[NavItem]:
    """Core and plugin entries the signed-in user may see, in display order."""
    if principal is None:
        return []
    policy = request.app[appkeys.POLICY]
    items = [*CORE_NAV, *flatten(request.app[appkeys.PLUGINS].hook.openv2x_nav_items(
        request=request))]
    visible = [
        item for item in items
        if item.permission is None or policy.allows(principal.role, item.permission)
    ]
    return sorted(visible, key=lambda item: (item.order, item.label))


async def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    """Render a portal page with the layout's context (user, navigation, CSRF token)."""
    principal = await resolve_principal(request)
    response = aiohttp_jinja2.render_template(
        template,
        request,
        {
            "principal": principal,
            "nav": navigation(request, principal),
            "csrf_field": csrf.CSRF_FIELD,
            "csrf_token": csrf.form_token(request, request.app[appkeys.CSRF]),
            "current_path": request.path,
            **context,
        },
        status=status,
    )
    csrf.set_cookie_if_new(request, response)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


async def error_page(request: web.Request, status: int, message: str) -> web.StreamResponse:
    if status == 401:
        raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='/?=&')}")
    return await render(request, "error.html", {"status": status, "message": message}, status)


def see_other(location: str) -> web.Response:
    """A 303 redirect as a response (so cookies can be set on it)."""
    return web.Response(status=303, headers={"Location": location})


def safe_next(value: str | None) -> str:
    """Only same-site absolute paths are followed after sign-in (no open redirects)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


async def login_form(request: web.Request) -> web.StreamResponse:
    """The sign-in page."""
    return await render(
        request, "login.html", {"next": safe_next(request.query.get("next")), "error": None}
    )


async def login_submit(request: web.Request) -> web.StreamResponse:
    """Check the form and credentials; on success set the session cookie and go to ``next``."""
    app = request.app
    form = await csrf.check(request, app[appkeys.CSRF])
    login, password = form.get("username", "").strip(), form.get("password", "")
    target = safe_next(form.get("next"))
    user = None
    if login and password and len(login) <= 254 and len(password) <= 1024:
        async with app[appkeys.DB].transaction() as work:
            user = await authenticate(work.session, app[appkeys.CIPHER], login, password)
            if user is not None:
                token = app[appkeys.TOKENS].issue(
                    "session", user.id, user.role, user.token_epoch
                )
    if user is None:
        return await render(
            request,
            "login.html",
            {"next": target, "error": "Unknown account or wrong password.", "username": login},
            status=401,
        )
    response = see_other(target)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=app[appkeys.CONFIG]["auth"]["session_ttl"],
        httponly=True,
        samesite="Lax",
        secure=request.secure,
        path="/",
    )
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    """End the portal session."""
    await csrf.check(request, request.app[appkeys.CSRF])
    response = see_other("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def dashboard(request: web.Request) -> web.StreamResponse:
    """The start page; widgets come with the station and session features."""
    return await render(request, "dashboard.html", {})


def portal_routes() -> list[Route]:
    return [
        Route("GET", "/", dashboard, AUTHENTICATED, "dashboard", in_openapi=False),
        Route("GET", "/login", login_form, PUBLIC, "login", in_openapi=False),
        Route("POST", "/login", login_submit, PUBLIC, "login-submit", in_openapi=False),
        Route("POST", "/logout", logout, PUBLIC, "logout", in_openapi=False),
    ]
