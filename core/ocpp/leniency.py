"""Repairs for the schema deviations that real charging stations are known to make.

A station that violates the OCPP JSON schema gets a CALLERROR, and strict stays the default.
Some deployed chargers, though, make the same few mistakes in every message (a meter value as a
JSON number, an enum in the wrong case, a vendor's extra field) and cannot be updated in the
field; refusing them means refusing real customers. For a station switched to ``lenient``, the
frame handling passes a payload that failed validation to :func:`repair`; if the repaired copy
validates, it is handled as if the station had sent it, and :func:`record_deviation` keeps an
audit row of what was changed so the operator can chase the vendor.

Only repairs with exactly one possible meaning are made. Nothing is truncated (a string longer
than ``maxLength`` would lose data), guessed (an enum value matching two spellings) or invented
(a missing required field), so such payloads still fail validation and get their CALLERROR.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from urllib.parse import unquote

from core.db import Work
from core.db.models import ProtocolDeviation
from core.events import Event

# The text of a JSON number: what a station that quoted a number would have put in quotes.
_JSON_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
# Longer numeric strings are not repaired: nothing in OCPP needs them and parsing stays cheap.
_MAX_NUMBER_TEXT: Final = 40
# Floats represent every integer up to here exactly; beyond it ``12.0`` may not be 12.
_MAX_EXACT_FLOAT_INT: Final = 2**53
# An RFC 3339 date-time without "Z" or an offset. Seconds are required: anything shorter is
# too far from the format to be sure what the station meant.
_ZONELESS: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?")
_SHOWN_CHARS: Final = 60
_NO_REPAIR: Final = object()
_ARTICLE: Final = {"string": "a string", "integer": "an integer", "number": "a number",
                   "boolean": "a boolean"}


def repair(payload: dict[str, Any], schema: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A repaired deep copy of ``payload`` and one human-readable line per repair made.

    ``schema`` is the OCPP JSON schema of the message (draft-04 or draft-06; local ``$ref``s
    are resolved against it). ``payload`` is never modified. No fixes means nothing known could
    be repaired, not that the payload is valid: the caller validates the copy again.
    """
    walker = _Walker(schema)
    repaired = walker.value(payload, schema, "")
    if not isinstance(repaired, dict):  # pragma: no cover - objects stay objects
        raise TypeError("a payload must be a JSON object")
    return repaired, walker.fixes


async def record_deviation(
    work: Work, station_id: str, action: str, unique_id: str, errors: str, fixes: list[str]
) -> None:
    """Keep an audit row of a repaired message and announce it as ``station.protocol_deviation``.

    ``errors`` is the validation error of the payload as the station sent it. The identifiers are
    cut to their column widths: they come from the station, and a too-long id must not turn an
    accepted message into a failed insert.
    """
    row = ProtocolDeviation(station_id=station_id, action=action[:64],
                            unique_id=unique_id[:36], error=errors, fixes=list(fixes))
    work.session.add(row)
    await work.session.flush()
    work.emit(Event("station.protocol_deviation", {
        "id": station_id, "deviation_id": row.id, "action": row.action,
        "unique_id": row.unique_id, "fixes": list(fixes),
    }))


class _Walker:
    """Walks a payload and its schema side by side, building the repaired copy."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.fixes: list[str] = []

    def resolve(self, schema: Any) -> dict[str, Any]:
        """The schema itself, or what its local ``$ref`` chain points at ({} if nothing)."""
        seen: set[str] = set()
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
            ref: str = schema["$ref"]
            if ref in seen or not ref.startswith("#"):
                return {}
            seen.add(ref)
            schema = self.root
            for part in filter(None, ref[1:].split("/")):
                name = unquote(part).replace("~1", "/").replace("~0", "~")
                schema = schema.get(name) if isinstance(schema, dict) else None
        return schema if isinstance(schema, dict) else {}

    def value(self, value: Any, schema: Any, path: str) -> Any:
        resolved = self.resolve(schema)
        if isinstance(value, dict):
            return self.object(value, resolved, path)
        if isinstance(value, list):
            return self.array(value, resolved, path)
        return self.scalar(value, resolved, path)

    def object(self, value: dict[str, Any], schema: dict[str, Any], path: str) -> Any:
        types = _types(schema)
        if types and "object" not in types:
            return copy.deepcopy(value)
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        extra = schema.get("additionalProperties", True)
        closed = extra is False and "patternProperties" not in schema
        out: dict[str, Any] = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if key in properties:
                out[key] = self.value(item, properties[key], where)
            elif closed:
                self.fixes.append(f"{where}: property not allowed by the schema, dropped "
                                  f"(was {_show(item)})")
            elif isinstance(extra, dict):
                out[key] = self.value(item, extra, where)
            else:
                out[key] = copy.deepcopy(item)
        return out

    def array(self, value: list[Any], schema: dict[str, Any], path: str) -> Any:
        types = _types(schema)
        if types and "array" not in types:
            return copy.deepcopy(value)
        items = schema.get("items")
        extra = schema.get("additionalItems")
        out = []
        for index, item in enumerate(value):
            if isinstance(items, list):
                item_schema = items[index] if index < len(items) else extra
            else:
                item_schema = items
            if isinstance(item_schema, dict):
                out.append(self.value(item, item_schema, f"{path}[{index}]"))
            else:
                out.append(copy.deepcopy(item))
        return out

    def scalar(self, value: Any, schema: dict[str, Any], path: str) -> Any:
        where = path or "(payload)"
        types = _types(schema)
        if types and not any(_is_type(value, wanted) for wanted in types):
            targets = [wanted for wanted in types if wanted != "null"]
            converted = _coerce(value, targets[0]) if len(targets) == 1 else _NO_REPAIR
            if converted is not _NO_REPAIR:
                self.fixes.append(
                    f"{where}: {_json_type(value)} {_show(value)} sent as {_ARTICLE[targets[0]]}")
                value = converted
        if isinstance(value, str):
            value = self.string(value, schema, where)
        return value

    def string(self, value: str, schema: dict[str, Any], where: str) -> str:
        enum = schema.get("enum")
        if isinstance(enum, list) and value not in enum:
            folded = value.casefold()
            matches = [e for e in enum if isinstance(e, str) and e.casefold() == folded]
            if len(matches) == 1:
                self.fixes.append(f"{where}: {_show(value)} sent as {_show(matches[0])}")
                value = matches[0]
        if schema.get("format") == "date-time" and _is_zoneless(value):
            self.fixes.append(f"{where}: {_show(value)} has no time zone, taken as UTC")
            value += "Z"
        return value


def _types(schema: dict[str, Any]) -> tuple[str, ...]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return (declared,)
    if isinstance(declared, list):
        return tuple(t for t in declared if isinstance(t, str))
    return ()


def _is_type(value: Any, wanted: str) -> bool:
    """JSON-schema type check as the ``ocpp`` package's draft-04 validator makes it.

    Booleans are not numbers, and a float is never an integer (draft-04), not even ``12.0``.
    """
    if wanted == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if wanted == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    checks: dict[str, type | tuple[type, ...]] = {
        "string": str, "boolean": bool, "null": type(None), "object": dict, "array": list}
    expected = checks.get(wanted)
    return expected is None or isinstance(value, expected)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else "value"


def _coerce(value: Any, wanted: str) -> Any:
    """``value`` as the ``wanted`` JSON type, or ``_NO_REPAIR`` unless that is unambiguous."""
    if wanted == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
            return json.dumps(value)
        return _NO_REPAIR
    if wanted == "integer":
        if isinstance(value, float) and value.is_integer() and \
                abs(value) <= _MAX_EXACT_FLOAT_INT:
            return int(value)
        return _integer(value) if isinstance(value, str) else _NO_REPAIR
    if wanted == "number":
        return _number(value) if isinstance(value, str) else _NO_REPAIR
    if wanted == "boolean" and isinstance(value, str):
        return {"true": True, "false": False}.get(value.lower(), _NO_REPAIR)
    return _NO_REPAIR


def _integer(text: str) -> Any:
    if len(text) > _MAX_NUMBER_TEXT or not _JSON_NUMBER.fullmatch(text):
        return _NO_REPAIR
    try:
        number = Decimal(text)
        # "12.0" and "1.2E1" are whole; "12.5" is not, and a station sending it meant a fraction.
        if number.adjusted() > 18 or number != number.to_integral_value():
            return _NO_REPAIR
    except InvalidOperation:  # pragma: no cover - excluded by the pattern
        return _NO_REPAIR
    return int(number)


def _number(text: str) -> Any:
    if len(text) > _MAX_NUMBER_TEXT or not _JSON_NUMBER.fullmatch(text):
        return _NO_REPAIR
    if not any(mark in text for mark in ".eE"):
        return int(text)
    # The same float the JSON parser would have produced had the station not quoted it.
    number = float(text)
    return number if math.isfinite(number) else _NO_REPAIR


def _is_zoneless(value: str) -> bool:
    if not _ZONELESS.fullmatch(value):
        return False
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:  # a date like 2025-02-30 is not a time at all
        return False
    return True


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS - 1] + "…"
