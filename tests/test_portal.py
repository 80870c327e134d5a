"""The portal skeleton: sign-in with CSRF, session cookie, navigation, sign-out."""

import re

import pytest
from helpers import browser_session, form_token, portal_login

from core.auth import SESSION_COOKIE
from core.csrf import CSRF_FIELD
from core.nav import NavItem
from core.plugins import hookimpl
from core.testing import DEFAULT_PASSWORD


@pytest.fixture
async def browser():
    async with browser_session() as http:
        yield http


def _session_cookie(http):
    return {c.key: c.value for c in http.cookie_jar}.get(SESSION_COOKIE)


async def test_login_page_is_served_with_a_csrf_field(openv2x_server, browser):
    server = await openv2x_server()
    async with browser.get(server.url("/login")) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        html = await resp.text()
    assert '<form method="post" action="/login">' in html
    assert f'name="{CSRF_FIELD}"' in html
    assert "/static/css/portal.css" in html
    async with browser.get(server.url("/static/css/portal.css")) as resp:
        assert resp.status == 200


async def test_dashboard_requires_sign_in(openv2x_server, browser):
    server = await openv2x_server()
    async with browser.get(server.url("/"), allow_redirects=False) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == "/login?next=/"


@pytest.mark.parametrize("token", [None, "0" * 64])
async def test_login_without_valid_csrf_is_refused(openv2x_server, browser, token):
    server = await openv2x_server()
    await server.add_user("cpo_manager", username="oper")
    await form_token(browser, server)  # the browser holds a CSRF cookie, the form lies
    form = {"username": "oper", "password": DEFAULT_PASSWORD}
    if token is not None:
        form[CSRF_FIELD] = token
    async with browser.post(server.url("/login"), data=form, allow_redirects=False) as resp:
        assert resp.status == 403
    assert _session_cookie(browser) is None


async def test_wrong_password_gives_401_and_no_session(openv2x_server, browser):
    server = await openv2x_server()
    await server.add_user("cpo_manager", username="oper")
    async with await portal_login(browser, server, "oper", "wrong password!") as resp:
        assert resp.status == 401
        assert "Unknown account or wrong password." in await resp.text()
    async with await portal_login(browser, server, "nobody", "wrong password!") as resp:
        assert resp.status == 401
        assert "Unknown account or wrong password." in await resp.text()
    assert _session_cookie(browser) is None


async def test_sign_in_dashboard_and_sign_out(openv2x_server, browser):
    server = await openv2x_server()
    await server.add_user("cpo_manager", username="oper")
    async with await portal_login(browser, server, "oper@example.test") as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == "/"
        cookie = resp.cookies[SESSION_COOKIE]
        assert cookie["httponly"]
        assert cookie["samesite"] == "Lax"
    async with browser.get(server.url("/")) as resp:
        assert resp.status == 200
        html = await resp.text()
    assert "<h1>Dashboard</h1>" in html
    assert "oper <small>(cpo_manager)</small>" in html
    assert '<a href="/" aria-current="page">Dashboard</a>' in html

    token = re.search(rf'name="{CSRF_FIELD}" value="([0-9a-f]+)"', html).group(1)
    async with browser.post(
        server.url("/logout"), data={CSRF_FIELD: token}, allow_redirects=False
    ) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == "/login"
    assert not _session_cookie(browser)
    async with browser.get(server.url("/"), allow_redirects=False) as resp:
        assert resp.status == 303


async def test_logout_needs_csrf(openv2x_server, browser):
    server = await openv2x_server()
    await server.add_user("cpo_manager", username="oper")
    async with await portal_login(browser, server, "oper"):
        pass
    async with browser.post(server.url("/logout"), data={}, allow_redirects=False) as resp:
        assert resp.status == 403
    async with browser.get(server.url("/"), allow_redirects=False) as resp:
        assert resp.status == 200


@pytest.mark.parametrize(
    ("requested", "followed"),
    [("/hello?x=1", "/hello?x=1"), ("//evil.example/", "/"), ("https://evil.example/", "/"),
     ("/\\evil.example", "/")],
)
async def test_next_only_follows_local_paths(openv2x_server, browser, requested, followed):
    server = await openv2x_server()
    await server.add_user("driver", username="dora")
    async with await portal_login(browser, server, "dora", next_=requested) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == followed


class NavPlugin:
    """A plugin contributing one entry any user may see and one that needs a permission."""

    @hookimpl
    def openv2x_nav_items(self, request):
        return [
            NavItem("Everyone", "/everyone", order=5),
            NavItem("Stations", "/stations", permission="chargepoint:write", order=10),
        ]


async def test_navigation_comes_from_plugins_and_respects_permissions(openv2x_server, browser):
    server = await openv2x_server(extra_plugins=[("navplugin", NavPlugin())])
    await server.add_user("cpo_manager", username="oper")
    await server.add_user("driver", username="dora")
    async with await portal_login(browser, server, "oper"):
        pass
    async with browser.get(server.url("/")) as resp:
        html = await resp.text()
    assert html.index(">Dashboard<") < html.index(">Everyone<") < html.index(">Stations<")

    browser.cookie_jar.clear()
    async with await portal_login(browser, server, "dora"):
        pass
    async with browser.get(server.url("/")) as resp:
        html = await resp.text()
    assert ">Everyone<" in html
    assert ">Stations<" not in html


async def test_session_cookie_is_not_an_api_token(openv2x_server, browser):
    server = await openv2x_server()
    await server.add_user("platform_manager", username="admin")
    async with await portal_login(browser, server, "admin"):
        pass
    cookie = _session_cookie(browser)
    headers = {"Authorization": f"Bearer {cookie}"}
    async with server.http.get(server.url("/api/user/"), headers=headers) as resp:
        assert resp.status == 401
