"""Pushes to partners that survive a partner being down, and a restart.

A plugin calls :func:`enqueue` (inside the unit of work that made the change, or right after
it); the row is committed before anything is sent. One delivery loop per partner sends its rows
in ``id`` order, so the changes of an object arrive in the order they were made, and waits
with exponential back-off while the partner is unreachable or answers with a server error;
other partners' loops are not affected. A partner's client error (OCPI 2xxx, HTTP 4xx) will
not change by retrying: that row is marked ``failed``, logged, and the loop goes on.

With several nodes, a partner's loop runs on the node holding its lease
(``ocpi_partner.outbox_lease_until``), renewed while it works.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
from typing import Any

from aiohttp import web
from sqlalchemy import or_, select, update

from core import appkeys
from core.db import Work
from core.db.models import OcpiOutbox, OcpiPartner
from core.db.types import utcnow
from core.ocpi.client import OcpiClientError
from core.ocpi.partners import Partner
from core.ocpi.registration import CLIENT
from core.ocpi.wire import Party

log = logging.getLogger(__name__)

LEASE = dt.timedelta(seconds=60)
BATCH = 50


def enqueue(work: Work, partner_id: int, module: str, method: str, path: str, body: Any, *,
            to_party: Party | None = None, from_party: Party | None = None,
            object_key: str = "", interface_role: str = "RECEIVER") -> None:
    """Queue a push; it is sent after the unit of work commits (call :meth:`Outbox.wake`)."""
    work.session.add(OcpiOutbox(
        partner_id=partner_id, module=module, interface_role=interface_role, method=method,
        path=path, body=body, object_key=object_key[:255],
        to_country_code=to_party.country_code if to_party else None,
        to_party_id=to_party.party_id if to_party else None,
        from_country_code=from_party.country_code if from_party else None,
        from_party_id=from_party.party_id if from_party else None))


def _party(cc: str | None, pid: str | None) -> Party | None:
    return Party(cc, pid) if cc and pid else None


class Outbox:
    """The delivery loops of one node."""

    def __init__(self, app: web.Application, max_backoff: float) -> None:
        self.app = app
        self.max_backoff = max_backoff
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        self._loops: dict[int, asyncio.Task[None]] = {}
        self._wakeups: dict[int, asyncio.Event] = {}
        self._closed = False
        self._scanner: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._scanner = asyncio.create_task(self._scan(), name="ocpi-outbox-scan")

    def wake(self, partner_id: int | None = None) -> None:
        """New rows were committed (for one partner, or any)."""
        if self._closed:
            return
        targets = [partner_id] if partner_id is not None else list(self._wakeups)
        for target in targets:
            if target in self._wakeups:
                self._wakeups[target].set()
            else:
                self._spawn(target)

    async def close(self) -> None:
        """Stop the loops and give up their leases, so the next process (a restart) delivers at
        once instead of waiting for them to expire."""
        self._closed = True
        tasks = [*self._loops.values(), *([self._scanner] if self._scanner else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            async with self.app[appkeys.DB].transaction() as work:
                await work.session.execute(update(OcpiPartner).where(
                    OcpiPartner.outbox_owner == self.owner)
                    .values(outbox_owner=None, outbox_lease_until=None))
        except Exception:
            log.exception("OCPI outbox leases not released; they expire within %s", LEASE)

    def _spawn(self, partner_id: int) -> None:
        if partner_id in self._loops or self._closed:
            return
        self._wakeups[partner_id] = asyncio.Event()
        task = asyncio.create_task(self._loop(partner_id), name=f"ocpi-outbox-{partner_id}")
        self._loops[partner_id] = task

        def done(_: asyncio.Task[None]) -> None:
            self._loops.pop(partner_id, None)
            self._wakeups.pop(partner_id, None)

        task.add_done_callback(done)

    async def _scan(self) -> None:
        """Every so often, start loops for partners with due rows (after a restart, or rows
        another node's loop left behind)."""
        while True:
            try:
                async with self.app[appkeys.DB].session() as session:
                    due = (await session.execute(select(OcpiOutbox.partner_id).where(
                        OcpiOutbox.state == "pending").distinct())).scalars().all()
                for partner_id in due:
                    self._spawn(partner_id)
            except Exception:
                log.exception("OCPI outbox scan failed")
            await asyncio.sleep(30)

    async def _lease(self, partner_id: int) -> bool:
        now = utcnow()
        async with self.app[appkeys.DB].transaction() as work:
            result = await work.session.execute(update(OcpiPartner).where(
                OcpiPartner.id == partner_id,
                or_(OcpiPartner.outbox_owner == self.owner,
                    OcpiPartner.outbox_owner.is_(None),
                    OcpiPartner.outbox_lease_until.is_(None),
                    OcpiPartner.outbox_lease_until < now))
                .values(outbox_owner=self.owner, outbox_lease_until=now + LEASE))
            return bool(getattr(result, "rowcount", 0))

    async def _loop(self, partner_id: int) -> None:
        attempt_delay = 0.0
        wakeup = self._wakeups[partner_id]
        while not self._closed:
            # Cleared before looking, so a row queued while we look is never missed.
            wakeup.clear()
            if not await self._lease(partner_id):
                return
            rows, partner = await self._due(partner_id)
            if partner is None:
                return
            if not rows:
                wait = await self._next_due(partner_id)
                if wait is None and not wakeup.is_set():
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(),
                                           min(wait or 0.0, LEASE.total_seconds() / 2))
                continue
            for row in rows:
                delivered = await self._deliver(partner, row)
                if not delivered:
                    attempt_delay = min(self.max_backoff, max(1.0, attempt_delay * 2))
                    await self._postpone(partner_id, attempt_delay)
                    break
                attempt_delay = 0.0

    async def _due(self, partner_id: int) -> tuple[list[OcpiOutbox], Partner | None]:
        async with self.app[appkeys.DB].session() as session:
            row = await session.get(OcpiPartner, partner_id)
            if row is None or row.status != "registered":
                return [], None
            partner = Partner.from_row(row, self.app[appkeys.CIPHER])
            rows = (await session.execute(select(OcpiOutbox).where(
                OcpiOutbox.partner_id == partner_id, OcpiOutbox.state == "pending",
                OcpiOutbox.next_attempt_at <= utcnow()).order_by(OcpiOutbox.id)
                .limit(BATCH))).scalars().all()
            first_pending = (await session.execute(select(OcpiOutbox.id).where(
                OcpiOutbox.partner_id == partner_id, OcpiOutbox.state == "pending")
                .order_by(OcpiOutbox.id).limit(1))).scalar()
        # Order is kept: only rows from the oldest pending one on, without gaps.
        if rows and rows[0].id != first_pending:
            return [], partner
        return list(rows), partner

    async def _next_due(self, partner_id: int) -> float | None:
        async with self.app[appkeys.DB].session() as session:
            when = (await session.execute(select(OcpiOutbox.next_attempt_at).where(
                OcpiOutbox.partner_id == partner_id, OcpiOutbox.state == "pending")
                .order_by(OcpiOutbox.id).limit(1))).scalar()
        if when is None:
            return None
        return max(0.05, (when - utcnow()).total_seconds())

    async def _postpone(self, partner_id: int, delay: float) -> None:
        async with self.app[appkeys.DB].transaction() as work:
            await work.session.execute(update(OcpiOutbox).where(
                OcpiOutbox.partner_id == partner_id, OcpiOutbox.state == "pending")
                .values(next_attempt_at=utcnow() + dt.timedelta(seconds=delay)))

    async def _deliver(self, partner: Partner, row: OcpiOutbox) -> bool:
        """Send one row; False when the partner should be retried later."""
        outcome, error = await self._send(partner, row)
        if outcome == "retry":
            await self._attempted(row.id, error or "")
            return False
        if error is not None:
            log.warning("OCPI push %s %s%s to partner %s dropped: %s", row.method, row.module,
                        row.path, partner.id, error)
        async with self.app[appkeys.DB].transaction() as work:
            current = await work.session.get(OcpiOutbox, row.id)
            if current is not None:
                current.state, current.done_at = outcome, utcnow()
                current.attempts += 1
                current.last_error = error
        return True

    async def _send(self, partner: Partner, row: OcpiOutbox) -> tuple[str, str | None]:
        """(``done`` | ``retry`` | ``failed``, error): a partner that is down or failing on
        its side is retried; one that refuses the request (4xx, OCPI 2xxx) is not."""
        url = partner.endpoint(row.module, row.interface_role)
        if url is None:
            return "failed", f"partner lists no {row.module} {row.interface_role} endpoint"
        if partner.token is None:
            return "failed", "no token to call the partner with"
        try:
            result = await self.app[CLIENT].request(
                row.method, url.rstrip("/") + row.path, partner.token, raw=partner.raw_tokens,
                body=row.body, to_party=_party(row.to_country_code, row.to_party_id),
                from_party=_party(row.from_country_code, row.from_party_id))
        except OcpiClientError as exc:
            return ("failed" if exc.refused else "retry"), str(exc)
        if result.ok:
            return "done", None
        if result.http_status >= 500 or 3000 <= result.status_code < 5000:
            return "retry", result.describe()
        return "failed", result.describe()

    async def _attempted(self, row_id: int, error: str) -> None:
        async with self.app[appkeys.DB].transaction() as work:
            current = await work.session.get(OcpiOutbox, row_id)
            if current is not None:
                current.attempts += 1
                current.last_error = error[:2000]


OUTBOX: web.AppKey[Outbox] = web.AppKey("ocpi_outbox")
