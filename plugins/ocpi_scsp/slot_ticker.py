"""Recompute every context at each slot boundary: the horizon moves on, the slot that just
ended drops out of the schedule and the next one comes into view, so profiles stay current even
when no input changed.

Callback URLs (``response_url``) need our public address; outside a request it is the one the
last OCPI or REST request reached us at, else ``[server] public_url`` or host and port.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from aiohttp import web
from sqlalchemy import select

from core import appkeys
from core.db.types import utcnow
from core.ocpi.server import base_url
from plugins.ocpi_scsp import optimiser
from plugins.ocpi_scsp.config import CONFIG
from plugins.ocpi_scsp.problem_builder import horizon_start
from plugins.ocpi_scsp.tables import OptimisationContext

log = logging.getLogger(__name__)

TICKER: web.AppKey[asyncio.Task[None]] = web.AppKey("ocpi_scsp_ticker")


def seconds_to_next_slot(now: dt.datetime, slot_minutes: int) -> float:
    start = horizon_start(now, slot_minutes)
    return max((start + dt.timedelta(minutes=slot_minutes) - now).total_seconds(), 0.0)


async def recompute_all(app: web.Application) -> None:
    async with app[appkeys.DB].session() as session:
        keys = [(r.country_code, r.party_id, r.id) for r in (await session.execute(
            select(OptimisationContext))).scalars()]
    base = app[optimiser.ADDRESS].base or base_url(app)
    for key in keys:
        await optimiser.recompute(app, key, base)


async def _run(app: web.Application) -> None:
    while True:
        await asyncio.sleep(seconds_to_next_slot(utcnow(), app[CONFIG].slot_minutes) + 0.5)
        try:
            await recompute_all(app)
        except Exception:
            log.exception("slot-boundary recompute failed")


def start(app: web.Application) -> None:
    app[TICKER] = asyncio.create_task(_run(app), name="ocpi-scsp-slot-ticker")


async def stop(app: web.Application) -> None:
    task = app.get(TICKER)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
