"""Small pieces the billing REST views share: errors, query parsing, the caller, paging."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from core.auth import principal_of
from core.rest.errors import ApiError, bad_request
from plugins.billing.model import TariffError


def tariff_error(exc: TariffError) -> ApiError:
    return bad_request(str(exc), {exc.path or "tariff": [exc.message]}, "invalid_tariff")


def user_id(request: web.Request) -> int | None:
    principal = principal_of(request)
    return principal.user_id if principal is not None else None


def only_params(request: web.Request, allowed: Iterable[str]) -> None:
    known = set(allowed)
    unknown = sorted(set(request.query) - known)
    if unknown:
        raise bad_request(f"unknown query parameter {unknown[0]!r} (known: "
                          f"{', '.join(sorted(known))})", code="invalid_query")


def parse_instant(name: str, raw: str) -> dt.datetime:
    """A date (UTC midnight) or an RFC 3339 date-time (UTC when it names no zone)."""
    try:
        if len(raw) == 10:
            day = dt.date.fromisoformat(raw)
            return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise bad_request(f"{name} must be a date (YYYY-MM-DD) or a date-time "
                          f"(2026-11-24T10:00:00Z), not {raw!r}", {name: [raw]},
                          "invalid_query") from None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def listing(request: web.Request, results: list[Any], total: int, limit: int,
            offset: int) -> dict[str, Any]:
    """The list envelope every REST list answers with."""
    def url(at: int) -> str:
        return str(request.url.update_query(offset=at, limit=limit))

    return {"count": total,
            "next": url(offset + limit) if offset + limit < total else None,
            "previous": url(max(offset - limit, 0)) if offset else None,
            "results": results}
