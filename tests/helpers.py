"""Helpers shared by test modules (browser-like sign-in to the portal)."""

import re

import aiohttp

from core import appkeys
from core.csrf import CSRF_FIELD
from core.db.models import ChargingStation, Connector, Evse
from core.testing import DEFAULT_PASSWORD


def browser_session() -> aiohttp.ClientSession:
    """A client that keeps cookies for 127.0.0.1, like a browser."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def form_token(http, server, path="/login"):
    async with http.get(server.url(path)) as resp:
        assert resp.status == 200
        html = await resp.text()
    match = re.search(rf'name="{CSRF_FIELD}" value="([0-9a-f]+)"', html)
    assert match, html
    return match.group(1)


async def portal_login(http, server, username, password=DEFAULT_PASSWORD, next_="/"):
    """Submit the sign-in form; returns the (unread) response."""
    token = await form_token(http, server)
    form = {CSRF_FIELD: token, "username": username, "password": password, "next": next_}
    return await http.post(server.url("/login"), data=form, allow_redirects=False)


async def add_station_with_connector(server, station_id="CP1", connector_id="c1"):
    """A station with EVSE 1 and connector 1, as the OCPP plugins create them."""
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(ChargingStation(id=station_id))
        await work.session.flush()
        evse = Evse(station_id=station_id, evse_number=1)
        work.session.add(evse)
        await work.session.flush()
        work.session.add(Connector(id=connector_id, evse_id=evse.id, station_id=station_id,
                                   connector_number=1))
