"""Payload keys on the wire, as the schemas spell them.

The ``ocpp`` package turns snake_case into camelCase by rule, and the rule is wrong for a few
names (``limit_L2``, ``fixedPFAbsorb``, ``prioritizedEMAIDs``, ``receiptUrl``, …), so messages
carrying them fail validation and cannot be sent. Here a key is matched against the property
names the message's schema declares at that place (ignoring case and underscores), and the rule
is only the fallback for keys the schema does not know, which validation then reports.
"""

from __future__ import annotations

from typing import Any

from ocpp.charge_point import snake_to_camel_case

_NAMES: dict[int, dict[str, str]] = {}


def _norm(key: str) -> str:
    return key.replace("_", "").lower()


def _names(properties: dict[str, Any]) -> dict[str, str]:
    """normalised name → the schema's name, for one object's properties (cached)."""
    found = _NAMES.get(id(properties))
    if found is None:
        found = _NAMES[id(properties)] = {_norm(name): name for name in properties}
    return found


def _resolve(schema: Any, root: dict[str, Any]) -> Any:
    while isinstance(schema, dict) and "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        schema = target
    return schema


def _package_camel(key: str) -> str:
    converted: dict[str, Any] = snake_to_camel_case({key: None})
    return next(iter(converted))


def to_wire(data: Any, schema: Any, root: dict[str, Any] | None = None) -> Any:
    """``data`` (snake_case keys) with the keys ``schema`` declares; opaque parts untouched.

    An object the schema does not describe (DataTransfer ``data``, vendor fields allowed by
    ``additionalProperties``) keeps its keys as given.
    """
    if root is None:
        root = schema if isinstance(schema, dict) else {}
    schema = _resolve(schema, root)
    if isinstance(data, list):
        items = schema.get("items") if isinstance(schema, dict) else None
        return [to_wire(value, items, root) for value in data]
    if not isinstance(data, dict) or not isinstance(schema, dict) or "properties" not in schema:
        return data
    properties = schema["properties"]
    names = _names(properties)
    closed = schema.get("additionalProperties") is False
    out = {}
    for key, value in data.items():
        name = names.get(_norm(key)) or (_package_camel(key) if closed else key)
        out[name] = to_wire(value, properties.get(name), root)
    return out
