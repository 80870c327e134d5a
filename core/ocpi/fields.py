"""OCPI object validation shared by every module: strict checks, tolerant reading.

A module declares its object's properties as :class:`Field` specs and :func:`validate` returns
a cleaned copy or raises 2001 (invalid or missing parameters), so each receiver refuses bad
input the same way and stores nothing of it. Party codes come back upper case and DateTimes in
the strict form, whatever letter case or DateTime variant the partner sent.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.ocpi import status
from core.ocpi.wire import format_datetime, parse_datetime


@dataclass(frozen=True, slots=True)
class Field:
    """One property of an OCPI object: ``kind`` is cistring, string, bool, enum, datetime,
    url or object (``nested`` then lists its properties)."""

    kind: str
    max_len: int = 0
    min_len: int = 0
    choices: tuple[str, ...] = ()
    required: bool = False
    nested: Mapping[str, Field] | None = None


_UPPER = ("country_code", "party_id")


def _check_text(name: str, spec: Field, value: Any) -> str:
    if not isinstance(value, str):
        raise status.invalid(f"{name} must be a string")
    if spec.kind == "cistring" and not (value.isascii() and value.isprintable()):
        raise status.invalid(f"{name} must be printable ASCII")
    if spec.max_len and len(value) > spec.max_len:
        raise status.invalid(f"{name} must be at most {spec.max_len} characters")
    if len(value) < spec.min_len:
        raise status.invalid(f"{name} must be at least {spec.min_len} characters")
    return value.upper() if name.rsplit(".", 1)[-1] in _UPPER else value


def _check_url(name: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) > 512:
        raise status.invalid(f"{name} must be a URL of at most 512 characters")
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise status.invalid(f"{name} must be an absolute http(s) URL")
    return value


def check_value(name: str, spec: Field, value: Any) -> Any:
    """The value, normalised (upper-case party codes, strict DateTime), or 2001."""
    if spec.kind in ("cistring", "string"):
        return _check_text(name, spec, value)
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise status.invalid(f"{name} must be true or false")
        return value
    if spec.kind == "enum":
        if value not in spec.choices:
            raise status.invalid(f"{name} must be one of {', '.join(spec.choices)}")
        return value
    if spec.kind == "datetime":
        return format_datetime(parse_datetime(value, name))
    if spec.kind == "url":
        return _check_url(name, value)
    assert spec.kind == "object" and spec.nested is not None
    return validate(value, spec.nested, name)


def validate(obj: Any, fields: Mapping[str, Field], what: str, *,
             partial: bool = False) -> dict[str, Any]:
    """A cleaned copy of an OCPI object with only the known properties, or 2001.

    ``partial`` (a PATCH): only the present properties are checked, and ``null`` removes an
    optional one (kept as None in the result). Elsewhere ``null`` counts as absent.
    """
    if not isinstance(obj, dict):
        raise status.invalid(f"a {what} object is required")
    out: dict[str, Any] = {}
    for name, spec in fields.items():
        value = obj.get(name)
        if value is None:
            if spec.required and (not partial or name in obj):
                raise status.invalid(f"{what}.{name} is required")
            if partial and name in obj:
                out[name] = None
            continue
        out[name] = check_value(f"{what}.{name}", spec, value)
    return out


__all__ = ["Field", "check_value", "validate"]
