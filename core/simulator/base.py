"""What every simulated station shares, whatever OCPP version it speaks."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ocpp.routing import on as _on

F = TypeVar("F", bound=Callable[..., Any])


def on(action: str) -> Callable[[F], F]:
    """``ocpp.routing.on`` with the handler's type kept (the package ships no type hints)."""
    decorator: Callable[[F], F] = _on(action)
    return decorator


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class SimConfig:
    url: str
    ocpp: str = "1.6"
    password: str | None = None
    connectors: int = 1
    meter_interval: float = 60.0
    transactions: bool = False
    id_tag: str = "SIMTAG01"
    power_w: float = 11000.0
    phases: int = 3
    battery_wh: float = 60000.0
    session_s: float = 300.0
    pause_s: float = 30.0


@dataclass
class Counters:
    """What a fleet did: requests answered, answered with a CALLERROR (by action), failed."""

    sent: int = 0
    failed: int = 0
    reconnects: int = 0
    latencies: list[float] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
