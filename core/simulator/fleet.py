"""Runs simulated stations of any OCPP version: connection, back-off, fleet and counters.

A station is rebuilt on every connection from a factory that keeps what a real charger keeps
across reboots (the OCPP 2.x device model, meters, availability), so resets and dropped
connections behave as they do in the field.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import aiohttp

from core.ocpp.client import AiohttpConnection, ConnectionClosed
from core.simulator.base import Counters, SimConfig
from core.simulator.v2 import Charger, station_class
from core.simulator.v16 import Station16

log = logging.getLogger(__name__)


class Station(Protocol):
    """What the fleet needs from a simulated station of any version."""

    cfg: SimConfig
    reboot: asyncio.Event

    async def start(self) -> None: ...

    async def boot(self) -> Any: ...

    async def heartbeats(self) -> None: ...

    async def charging_cycle(self) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None: ...

    async def cancel_tasks(self) -> None: ...


StationFactory = Callable[[AiohttpConnection], Station]


def station_factory(station_id: str, cfg: SimConfig,
                    counters: Counters) -> tuple[str, StationFactory]:
    """The WebSocket subprotocol and how to build the station on each new connection."""
    if cfg.ocpp == "1.6":
        return "ocpp1.6", lambda connection: Station16(station_id, connection, cfg, counters)
    charger = Charger.new(station_id, cfg)
    cls = station_class(cfg.ocpp)
    return f"ocpp{cfg.ocpp}", lambda connection: cls(charger, connection, counters)


def _basic_auth(station_id: str, password: str | None) -> dict[str, str]:
    if not password:
        return {}
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def run_station(station_id: str, cfg: SimConfig, counters: Counters,
                      stop: asyncio.Event, max_backoff: float = 60.0) -> None:
    """Keep one station connected until ``stop`` is set, reconnecting with back-off."""
    backoff = 1.0
    subprotocol, build = station_factory(station_id, cfg, counters)
    headers = _basic_auth(station_id, cfg.password)
    url = f"{cfg.url.rstrip('/')}/{station_id}"
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            try:
                async with http.ws_connect(url, protocols=(subprotocol,), headers=headers,
                                           heartbeat=None) as ws:
                    backoff = 1.0
                    await _serve(build(AiohttpConnection(ws)), stop)
            except (aiohttp.ClientError, ConnectionClosed, OSError, TimeoutError) as exc:
                log.info("%s: connection lost (%s); retrying in %.0f s", station_id, exc,
                         backoff)
            except Exception:
                # A station that misbehaves is counted and restarted, never silently lost.
                counters.failed += 1
                log.exception("%s: simulated station failed; restarting it", station_id)
            if stop.is_set():
                return
            counters.reconnects += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, max_backoff)


async def _operate(station: Station) -> None:
    await station.boot()
    station.spawn(station.heartbeats())
    if station.cfg.transactions:
        station.spawn(station.charging_cycle())


async def _serve(station: Station, stop: asyncio.Event) -> None:
    """Boot and run the station until its socket closes, it reboots or the fleet stops.

    Booting runs beside the receive loop: the CSMS may send requests before it accepts the
    boot, and a stop must not wait for a boot that is being retried.
    """
    receiver = asyncio.create_task(station.start())
    operating = asyncio.create_task(_operate(station))
    ends = {receiver, asyncio.create_task(stop.wait()),
            asyncio.create_task(station.reboot.wait())}
    try:
        done, _ = await asyncio.wait({operating, *ends}, return_when=asyncio.FIRST_COMPLETED)
        if operating in done:
            operating.result()
            done, _ = await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
        if receiver in done:
            receiver.result()
    finally:
        for task in (operating, *ends):
            task.cancel()
        await station.cancel_tasks()
        await asyncio.gather(operating, *ends, return_exceptions=True)


async def run_fleet(cfg: SimConfig, station_ids: list[str], duration: float | None,
                    progress: Callable[[str], None] | None = None,
                    ramp_per_s: float = 200.0) -> Counters:
    """Run stations until ``duration`` elapses (or forever); returns the message counters."""
    counters, stop = Counters(), asyncio.Event()
    tasks = []
    for index, station_id in enumerate(station_ids):
        tasks.append(asyncio.create_task(run_station(station_id, cfg, counters, stop)))
        if ramp_per_s and index % max(1, int(ramp_per_s / 10)) == 0:
            await asyncio.sleep(0.1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        while duration is None or loop.time() - started < duration:
            await asyncio.sleep(min(5.0, duration or 5.0))
            if progress is not None:
                progress(f"{loop.time() - started:6.0f} s  {len(station_ids)} stations  "
                         f"{counters.sent} messages answered  {counters.failed} failed  "
                         f"{counters.reconnects} reconnects")
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    return counters
