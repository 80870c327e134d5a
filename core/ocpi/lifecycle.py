"""Start and stop the OCPI client and the push outbox with the app."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from core import appkeys
from core.ocpi.client import OcpiClient
from core.ocpi.outbox import OUTBOX, Outbox
from core.ocpi.registration import CLIENT
from core.ocpi.server import PLATFORMS


async def ocpi_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[appkeys.CONFIG]["ocpi"]
    app[CLIENT] = OcpiClient(settings["request_timeout"])
    outbox = app[OUTBOX] = Outbox(app, settings["outbox_max_backoff"])
    if app[PLATFORMS]:
        outbox.start()
    yield
    await outbox.close()
    await app[CLIENT].close()
