"""The SmartChargingOptimisation object (seed 003 §5.1.3, Tables 17-23): validation.

The seed's tables mix units; this module's wire contract is the one of DESIGN §4: ``max_power``,
``min_power``, connector ``power`` and ``discharge_power``, ``demand``, ``generation``,
``flex_orders`` and ``capacity_limits`` values in W (a series value is the average power of its
span), ``price`` values in currency per kWh, ``opportunity_cost`` in currency per slot. A series
element applies from its ``time_slot`` until the next element's (the last one for one slot).
``capacity_limits`` is our extension: absolute per-slot caps on the supply point (SMC_020);
so is ``peak_price``, a demand charge in currency per kW of the highest import of the horizon.

Validation returns a normalised copy (codes upper case, DateTimes in the strict form, series
sorted) or raises 2001 naming the field, so nothing half-valid is ever stored.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

from core.ocpi import OcpiError, Party, format_datetime, parse_datetime
from core.ocpi.status import invalid

SERIES = ("demand", "generation", "price", "flex_orders", "capacity_limits")
#: Series whose values are power and may not be negative.
_NON_NEGATIVE = ("demand", "generation", "capacity_limits")
_FIELDS = {"country_code", "party_id", "id", "max_power", "min_power", "evses",
           "opportunity_cost", "peak_price", "last_updated", *SERIES}


def place(location_id: str, evse_uid: str) -> tuple[str, str]:
    """An EVSE as compared: OCPI ids are CiStrings, equal in any letter case."""
    return location_id.upper(), evse_uid.upper()


def _string(value: object, name: str, limit: int = 36) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise invalid(f"{name} must be a string of 1-{limit} characters")
    return value


def _number(value: object, name: str, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(float(value)):
        raise invalid(f"{name} must be a number")
    if minimum is not None and value < minimum:
        raise invalid(f"{name} must not be below {minimum}")
    return float(value) if isinstance(value, float) else value


def decimal_of(value: object, name: str) -> Decimal:
    """A wire number as money: read from its text, never from its binary value."""
    if isinstance(value, bool):
        raise invalid(f"{name} must be a number")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise invalid(f"{name} must be a number") from None
    if not amount.is_finite():
        raise invalid(f"{name} must be a finite number")
    return amount


def _connector(raw: object, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise invalid(f"{where} must be a Connector object")
    out = {"connector_id": _string(raw.get("connector_id"), f"{where}.connector_id"),
           "power": _number(raw.get("power"), f"{where}.power", minimum=0)}
    if raw.get("discharge_power") is not None:
        out["discharge_power"] = _number(raw["discharge_power"], f"{where}.discharge_power",
                                         minimum=0)
    return out


def _evse(raw: object, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise invalid(f"{where} must be an EVSE object")
    connectors = raw.get("connectors")
    if not isinstance(connectors, list) or not connectors:
        raise invalid(f"{where}.connectors must list at least one Connector")
    return {"location_id": _string(raw.get("location_id"), f"{where}.location_id"),
            "evse_uid": _string(raw.get("evse_uid"), f"{where}.evse_uid"),
            "connectors": [_connector(c, f"{where}.connectors[{i}]")
                           for i, c in enumerate(connectors)]}


def _series(raw: object, name: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise invalid(f"{name} must be a list of {{time_slot, value}} objects")
    out = []
    for i, element in enumerate(raw):
        where = f"{name}[{i}]"
        if not isinstance(element, dict):
            raise invalid(f"{where} must be a {{time_slot, value}} object")
        when = parse_datetime(element.get("time_slot"), f"{where}.time_slot")
        if name == "price":
            decimal_of(element.get("value"), f"{where}.value")
            value = _number(element.get("value"), f"{where}.value")
        else:
            minimum = 0 if name in _NON_NEGATIVE else None
            value = _number(element.get("value"), f"{where}.value", minimum=minimum)
        out.append({"time_slot": format_datetime(when), "value": value})
    times = [e["time_slot"] for e in out]
    if len(set(times)) != len(times):
        raise invalid(f"{name} has two elements for one time_slot")
    return sorted(out, key=lambda e: e["time_slot"])


def validate(body: object) -> dict[str, Any]:
    """A complete SCOptimisation object, normalised; 2001 on the first problem found."""
    if not isinstance(body, dict):
        raise invalid("an SCOptimisation object is required")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise invalid(f"unknown fields: {', '.join(unknown)}")
    party = Party.parse(body.get("country_code"), body.get("party_id"))
    evses = body.get("evses")
    if not isinstance(evses, list) or not evses:
        raise invalid("evses must list at least one EVSE")
    out: dict[str, Any] = {
        "country_code": party.country_code, "party_id": party.party_id,
        "id": _string(body.get("id"), "id"),
        "evses": [_evse(e, f"evses[{i}]") for i, e in enumerate(evses)],
        "last_updated": format_datetime(parse_datetime(body.get("last_updated"),
                                                       "last_updated")),
    }
    keys = [place(e["location_id"], e["evse_uid"]) for e in out["evses"]]
    if len(set(keys)) != len(keys):
        raise invalid("evses lists one EVSE twice")
    for name in ("max_power", "min_power"):
        if body.get(name) is not None:
            out[name] = _number(body[name], name, minimum=0 if name == "max_power" else None)
    if "max_power" in out and out.get("min_power", 0) > out["max_power"]:
        raise invalid("min_power must not be above max_power")
    for name in ("opportunity_cost", "peak_price"):
        if body.get(name) is not None:
            decimal_of(body[name], name)
            out[name] = _number(body[name], name, minimum=0)
    for name in SERIES:
        if body.get(name) is not None:
            out[name] = _series(body[name], name)
    return out


def validate_put(body: object, owner: Party, object_id: str) -> dict[str, Any]:
    """A PUT body for ``/{owner}/{object_id}``: complete, and naming the same object."""
    found = validate(body)
    if Party(found["country_code"], found["party_id"]) != owner or found["id"] != object_id:
        raise invalid("country_code, party_id and id must match the URL")
    return found


def merge_patch(stored: dict[str, Any], patch: object) -> dict[str, Any]:
    """``stored`` with a PATCH applied: top-level fields replaced, last_updated required."""
    if not isinstance(patch, dict):
        raise invalid("a PATCH body must be an object")
    if "last_updated" not in patch:
        raise invalid("a PATCH must carry last_updated")
    for name in ("country_code", "party_id", "id"):
        if name in patch and str(patch[name]).upper() != str(stored[name]).upper():
            raise invalid(f"{name} cannot be changed")
    merged = {**stored, **{k: v for k, v in patch.items() if v is not None}}
    for name, value in patch.items():
        if value is None and name not in ("country_code", "party_id", "id", "evses",
                                          "last_updated"):
            merged.pop(name, None)
    return validate(merged)


__all__ = ["SERIES", "OcpiError", "decimal_of", "merge_patch", "validate", "validate_put"]
