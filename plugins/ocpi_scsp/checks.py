"""Checks of the OCPI 2.2.1 objects CPOs send the SCSP, by the specification's types.

An object is described by a table of its fields (name → check) and its required names; a
failing check raises 2001 naming the field, so a handler refuses the request before anything is
stored. ``null`` counts as absent (a PATCH uses it to remove an optional field). Unknown fields
pass: OCPI lets partners add their own.

Types (OCPI 2.2.1 types.asciidoc): CiString(n) is printable ASCII, string(n) printable UTF-8,
both up to n characters; DateTime as :func:`core.ocpi.parse_datetime` reads it; numbers are
finite JSON numbers (never booleans); int is a whole number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from typing import Any

from core.ocpi import parse_datetime
from core.ocpi.status import invalid

Check = Callable[[object, str], None]


def cistring(limit: int, *, exact: bool = False) -> Check:
    """CiString(limit); ``exact`` for fixed-length codes (country code, party id)."""
    return _text(limit, exact=exact, ascii_only=True)


def string(limit: int, *, exact: bool = False) -> Check:
    """string(limit)."""
    return _text(limit, exact=exact, ascii_only=False)


def _text(limit: int, *, exact: bool, ascii_only: bool) -> Check:
    size = f"exactly {limit}" if exact else f"at most {limit}"
    kind = "printable ASCII" if ascii_only else "printable text"

    def check(value: object, name: str) -> None:
        if not isinstance(value, str) or not value.isprintable() \
                or (ascii_only and not value.isascii()) \
                or len(value) > limit or (exact and len(value) != limit):
            raise invalid(f"{name} must be {kind} of {size} characters")

    return check


def number(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value):
        raise invalid(f"{name} must be a number")


def integer(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"{name} must be a whole number")


def datetime(value: object, name: str) -> None:
    parse_datetime(value, name)


def one_of(choices: Collection[str]) -> Check:
    """An enum value."""
    listed = ", ".join(sorted(choices))

    def check(value: object, name: str) -> None:
        if not isinstance(value, str) or value not in choices:
            raise invalid(f"{name} must be one of {listed}")

    return check


def obj(fields: Mapping[str, Check], required: Collection[str] = ()) -> Check:
    """A nested object with its own fields."""

    def check(value: object, name: str) -> None:
        fields_of(value, fields, required, f"{name}.")

    return check


def array(item: Check, *, min_items: int = 0) -> Check:
    def check(value: object, name: str) -> None:
        if not isinstance(value, list) or len(value) < min_items:
            raise invalid(f"{name} must be a list" + (
                f" of at least {min_items}" if min_items else ""))
        for i, element in enumerate(value):
            item(element, f"{name}[{i}]")

    return check


def fields_of(value: object, fields: Mapping[str, Check], required: Collection[str] = (),
              prefix: str = "", *, partial: bool = False) -> dict[str, Any]:
    """``value`` as an object whose known fields pass their checks; 2001 otherwise.

    ``partial`` (a PATCH): required fields may be missing.
    """
    what = prefix.rstrip(".") or "the body"
    if not isinstance(value, dict):
        raise invalid(f"{what} must be an object")
    missing = [] if partial else [n for n in required if value.get(n) is None]
    if missing:
        raise invalid(f"missing fields: {', '.join(prefix + n for n in missing)}")
    for name, check in fields.items():
        if value.get(name) is not None:
            check(value[name], prefix + name)
    return value
