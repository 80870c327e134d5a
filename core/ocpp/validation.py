"""OCPP payload validation, compiled, against the JSON schemas the ``ocpp`` package ships.

The package validates with ``jsonschema`` (≈140 µs for a 1.6 MeterValues, ≈340 µs for a 2.0.1
TransactionEvent); the same schemas compiled by ``fastjsonschema`` answer in a few µs, which
is most of the per-message CPU a busy CSMS spends. Failures become the OCPP error the package
itself would raise for the same violation, except that a value outside an enumeration is a
``PropertyConstraintViolation`` (a valid type with an invalid value) rather than a format error,
and a missing field is an ``OccurrenceConstraintViolation`` in OCPP 2.x (1.6: ``ProtocolError``,
"payload incomplete").

Unlike the package, ``date-time`` fields are checked as RFC 3339 timestamps (with a zone), as
the specifications require; a station that omits the zone can be made lenient.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import fastjsonschema
import ocpp
from ocpp.exceptions import (
    FormatViolationError,
    OccurrenceConstraintViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    ProtocolError,
    TypeConstraintViolationError,
)

Kind = Literal["request", "response"]
SCHEMA_ROOT = Path(ocpp.__file__).resolve().parent
VERSION_DIRS = {"1.6": "v16", "2.0.1": "v201", "2.1": "v21"}
ERRORS: dict[str, type[OCPPError]] = {
    "type": TypeConstraintViolationError,
    "maxLength": TypeConstraintViolationError,
    "required": ProtocolError,
    "minItems": OccurrenceConstraintViolationError,
    "maxItems": OccurrenceConstraintViolationError,
    "enum": PropertyConstraintViolationError,
    "minimum": PropertyConstraintViolationError,
    "maximum": PropertyConstraintViolationError,
    "multipleOf": PropertyConstraintViolationError,
}


def schema_path(version: str, action: str, kind: Kind) -> Path:
    """Where the package keeps the schema (1.6 names requests after the bare action)."""
    folder = SCHEMA_ROOT / VERSION_DIRS[version] / "schemas"
    if kind == "response":
        return folder / f"{action}Response.json"
    return folder / (f"{action}.json" if version == "1.6" else f"{action}Request.json")


@functools.cache
def schema(version: str, action: str, kind: Kind) -> dict[str, Any] | None:
    """The schema as a dict, or ``None`` when the version has no such message."""
    if version not in VERSION_DIRS or not action.isidentifier():
        return None
    path = schema_path(version, action, kind)
    if not path.is_file():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8-sig"))
    return loaded


@functools.cache
def _compiled(version: str, action: str, kind: Kind) -> Callable[[Any], Any] | None:
    found = schema(version, action, kind)
    if found is None:
        return None
    compiled: Callable[[Any], Any] = fastjsonschema.compile(found)
    return compiled


def check(version: str, action: str, kind: Kind, payload: Any) -> None:
    """Raise the OCPP error for the first violation of ``payload``; unknown messages pass.

    Whether an action exists is the router's question, not the validator's.
    """
    validate = _compiled(version, action, kind)
    if validate is None:
        return
    try:
        validate(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        error = ERRORS.get(exc.rule or "", FormatViolationError)
        if exc.rule == "required" and version != "1.6":
            # 1.6 calls a missing field "incomplete" (ProtocolError); 2.x an occurrence error.
            error = OccurrenceConstraintViolationError
        raise error(details={"cause": exc.message.replace("data", action, 1)}) from None
