"""Reading request input: JSON bodies and query parameters, each failure a clear 4xx."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from aiohttp import web

from core import appkeys
from core.rest.errors import ApiError, bad_request

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


async def json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object (413 when too large, 415 when not JSON, 400 when malformed)."""
    ctype = request.content_type
    if ctype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[appkeys.CONFIG]["server"]["max_body_bytes"]
        raise ApiError(413, "body_too_large", f"body exceeds {limit} bytes") from None
    try:
        data = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request(f"malformed JSON: {exc}", code="malformed_json") from None
    if not isinstance(data, dict):
        raise bad_request("the body must be a JSON object", code="malformed_json")
    reject_nul(_strings(data))
    return data


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def reject_nul(values: Iterable[str]) -> None:
    """Refuse NUL characters: no text column can store them (PostgreSQL rejects them)."""
    if any("\x00" in value for value in values):
        raise bad_request("text may not contain NUL characters", code="invalid_text")


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer", {name: raw}, "invalid_query") from None
    if not low <= value <= high:
        raise bad_request(f"{name} must be between {low} and {high}", {name: raw}, "invalid_query")
    return value


def page(request: web.Request) -> tuple[int, int]:
    """(limit, offset) from the query string."""
    limit = int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = int_param(request, "offset", 0, 0, 2**31 - 1)
    return limit, offset
