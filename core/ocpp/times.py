"""OCPP timestamps at the protocol edge: aware UTC inside, RFC 3339 with ``Z`` on the wire."""

from __future__ import annotations

import datetime as dt

from ocpp.exceptions import FormatViolationError

from core.db.types import utcnow


def parse_time(value: str | None) -> dt.datetime:
    """An OCPP timestamp as aware UTC; ``None`` means now.

    Validation already insists on a zone; a lenient station's zone-less time is taken as UTC.
    """
    if value is None:
        return utcnow()
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise FormatViolationError(details={"cause": f"{value!r} is not an ISO 8601 time"}
                                   ) from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
