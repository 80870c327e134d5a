"""What the asynchronous receivers (Commands, ChargingProfiles) share: the background tasks
they run, and posting a result to the ``response_url`` a partner gave.

Both answer a request at once and report its outcome later; the outcome is kept in their own
table (state ``pending`` → ``result`` → ``delivered`` or ``undeliverable``) so a restart can
deliver what it had not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from core import appkeys
from core.db.models import OcpiPartner
from core.ocpi import CLIENT, OcpiClientError, Partner, Party

log = logging.getLogger(__name__)

PENDING, RESULT, DELIVERED, UNDELIVERABLE = "pending", "result", "delivered", "undeliverable"
DELIVERY_ATTEMPTS = 3
# Of a request's timeout, the part the station gets; the rest is for delivering the result.
STATION_SHARE = 0.8


class BackgroundTasks:
    """The tasks a runner started, kept referenced until they end."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()

    def spawn(self, job: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(job, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def wait(self) -> None:
        """Until every task started so far, and those they started, is done."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


async def registered_partner(app: web.Application, partner_id: int) -> Partner | None:
    async with app[appkeys.DB].session() as session:
        row = await session.get(OcpiPartner, partner_id)
        if row is None or row.status != "registered":
            return None
        return Partner.from_row(row, app[appkeys.CIPHER])


@dataclass(frozen=True, slots=True)
class Delivery:
    delivered: bool
    attempts: int
    error: str | None


async def post_result(app: web.Application, partner: Partner, url: str, body: Any,
                      to_party: Party | None, from_party: Party) -> Delivery:
    """POST ``body`` to ``url``: a few tries while the partner is unreachable or failing on
    its side, none after it refused the request itself."""
    error, attempt = "", 0
    for attempt in range(1, DELIVERY_ATTEMPTS + 1):
        try:
            answer = await app[CLIENT].request(
                "POST", url, partner.token or "", raw=partner.raw_tokens, body=body,
                to_party=to_party, from_party=from_party)
        except OcpiClientError as exc:
            error = str(exc)
        else:
            if answer.ok:
                return Delivery(True, attempt, None)
            error = answer.describe()
            if answer.http_status < 500 and answer.status_code < 3000:
                break
        if attempt < DELIVERY_ATTEMPTS:
            await asyncio.sleep(attempt)
    return Delivery(False, attempt, error)
