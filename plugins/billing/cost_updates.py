"""OCPP 2.x CostUpdated: the running cost of a session, shown on the station's display.

Sent when a meter sample of a session arrives, at most once per ``[billing]
cost_update_interval`` per session, in a background task: event delivery never waits for a
station, and a station that is gone, slow or refuses the message only costs a log line. Only
stations connected over OCPP 2.x are addressed, and only sessions a tariff prices.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web

from core import appkeys
from core.db.models import Transaction
from core.db.types import utcnow
from core.dispatch import CommandError
from plugins.billing.config import billing_config
from plugins.billing.pricing import amount, load_context, price

log = logging.getLogger(__name__)


class CostUpdates:
    """Throttles and sends CostUpdated; holds its background tasks until they finish."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.config = billing_config(app)
        self._last: dict[int, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def sampled(self, data: dict[str, Any]) -> None:
        """A ``meter.sampled`` event: schedule an update if one is due."""
        tx_id, station_id = data.get("transaction_id"), data.get("station_id")
        if not self.config.cost_updates or not isinstance(tx_id, int) \
                or not isinstance(station_id, str):
            return
        link = self.app[appkeys.DISPATCHER].link(station_id)
        if link is None or not link.protocol.startswith("ocpp2"):
            return
        now = time.monotonic()
        last = self._last.get(tx_id)
        if last is not None and now - last < self.config.cost_update_interval:
            return
        self._last[tx_id] = now
        task = asyncio.create_task(self._send(station_id, tx_id),
                                   name=f"billing-cost-updated-{tx_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def ended(self, tx_id: int) -> None:
        self._last.pop(tx_id, None)

    async def _send(self, station_id: str, tx_id: int) -> None:
        try:
            async with self.app[appkeys.DB].session() as session:
                tx = await session.get(Transaction, tx_id)
                if tx is None or tx.status != "Active":
                    return
                context = await load_context(session, tx)
                cost = await price(session, context, utcnow(), self.config)
            if cost.tariff is None and cost.retail is None:
                return
            payload = {"total_cost": amount(cost.driver_total),
                       "transaction_id": tx.transaction_uid}
            timeout = self.app[appkeys.CONFIG]["ocpp"]["call_timeout"]
            await self.app[appkeys.DISPATCHER].call(station_id, "CostUpdated", payload, timeout)
        except CommandError as exc:
            log.info("CostUpdated to %s for transaction %s not delivered: %s", station_id,
                     tx_id, exc)
        except Exception:
            log.exception("CostUpdated to %s for transaction %s failed", station_id, tx_id)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
