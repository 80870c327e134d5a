"""What billing does with domain events.

- ``transaction.started``: pin the session to the tariffs that apply at its start.
- ``transaction.charging_state`` (OCPP 2.x): keep the change, to tell charging from parking.
- ``meter.sampled``: maybe send the station the running cost (OCPP 2.x CostUpdated).
- ``transaction.ended``: issue the CDR (a credit CDR and a new one when ``corrected``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from aiohttp import web
from sqlalchemy import select

from core import appkeys
from core.db import Work
from core.db.models import Transaction
from core.events import Event
from plugins.billing import cdrs
from plugins.billing.cost_updates import CostUpdates
from plugins.billing.inputs import CHARGING_STATES
from plugins.billing.pricing import choose, load_context, pin
from plugins.billing.tables import ChargingState, SessionTariff

COST_UPDATES: web.AppKey[CostUpdates] = web.AppKey("billing_cost_updates")
CDR_TURNS: web.AppKey[asyncio.Semaphore] = web.AppKey("billing_cdr_turns")
# CDRs are priced a few at a time: a burst of ended sessions (a site's stations rebooting)
# then queues here instead of crowding the event loop ahead of the stations' messages.
CDR_CONCURRENCY = 4


async def _pin(app: web.Application, data: dict[str, Any]) -> None:
    """Choose on a read connection, keep the choice through the group commit.

    Sessions start in bursts; the choice takes several queries, which must not hold up the
    stations' own writes.
    """
    db = app[appkeys.DB]
    async with db.session() as session:
        tx = await session.get(Transaction, data["id"])
        if tx is None:
            return
        chosen = await choose(session, await load_context(session, tx))

    async def keep(work: Work) -> None:
        await pin(work.session, tx.id, tx.id_token, chosen)

    await db.write(keep, preload=[(SessionTariff, tx.id)])


async def _charging_state(app: web.Application, data: dict[str, Any]) -> None:
    charging = CHARGING_STATES.get(data.get("charging_state", ""))
    if charging is None or not isinstance(data.get("at"), str):
        return
    at = dt.datetime.fromisoformat(data["at"]).astimezone(dt.UTC)

    async def job(work: Work) -> None:
        if await work.session.get(Transaction, data["id"]) is None:
            return
        seen = await work.session.execute(select(ChargingState.id).where(
            ChargingState.transaction_id == data["id"], ChargingState.at == at,
            ChargingState.charging.is_(charging)))
        if seen.first() is None:
            work.session.add(ChargingState(transaction_id=data["id"], at=at, charging=charging))

    await app[appkeys.DB].write(job, preload=[(Transaction, data["id"])])


async def handle(event: Event, app: web.Application) -> None:
    data = event.data
    if event.name == "transaction.started":
        await _pin(app, data)
    elif event.name == "transaction.charging_state":
        await _charging_state(app, data)
    elif event.name == "meter.sampled":
        app[COST_UPDATES].sampled(data)
    elif event.name == "transaction.ended":
        app[COST_UPDATES].ended(data["id"])
        async with app[CDR_TURNS]:
            await cdrs.issue(app, data["id"], corrected=bool(data.get("corrected")))
