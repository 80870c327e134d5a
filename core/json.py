"""JSON encoding for our types: aware datetimes as ISO 8601 with ``Z``, Decimals exactly."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise TypeError("naive datetime cannot be serialised")
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        # JSON has one number type; amounts we store have at most 6 decimals, well inside
        # a double's 15 significant digits, so this round-trips exactly.
        return float(value)
    if isinstance(value, bytes | bytearray):
        raise TypeError("bytes are not serialisable")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":"))
