"""What every OCPP 2.x handler module builds on: the write path and command effects.

The session class (:mod:`plugins.ocpp201.session`) is composed of one mixin per functional
block of the specification (provisioning, authorization, transactions, …), each in its own
module with its ``@on`` handlers and the effects of the CSMS requests it owns. Handlers answer
with plain snake_case dicts, so one handler serves OCPP 2.0.1 and 2.1 alike.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

from aiohttp import web

from core import appkeys
from core.db import Work
from core.db.models import ChargingStation, Transaction
from core.ocpp.guard import Effect as Effect

log = logging.getLogger(__name__)
T = TypeVar("T")


class HandlerBase:
    """Attributes and helpers the handler mixins share (set up by :class:`GuardedChargePoint`)."""

    id: str
    app: web.Application
    _ocpp_version: str
    # The effects of CSMS requests by action: each mixin declares its own, and the session
    # merges them into the guard's EFFECTS.
    OWN_EFFECTS: ClassVar[dict[str, Effect]] = {}

    async def _write(self, job: Callable[[Work], Awaitable[T]], *, station: bool = False,
                     transaction_id: int | None = None) -> T:
        """Store what a message says; the answer goes out only after this returns (committed).

        The rows the job will ``get`` (the station's, a transaction by id) load batch-wide.
        """
        preload: list[tuple[type, Any]] = [(ChargingStation, self.id)] if station else []
        if transaction_id is not None:
            preload.append((Transaction, transaction_id))
        return await self.app[appkeys.DB].write(job, preload)

