"""The OCPI 2.2.1 Tariff object, as immutable values, and its strict JSON codec.

A tariff is what a driver agreed to when the session started and what an invoice is computed
from, so it is parsed once, refused whole when anything is off (with the path of the offending
field), and never mutated afterwards: versioning and CDRs keep the very object they priced with.

Numbers follow OCPI's ``number`` type: JSON numbers with at most 4 decimals, held here as
``Decimal`` so that no binary float ever takes part in a price. Whatever hands us a dict (the
REST layer, an OCPI peer, a test) may give numbers as ``int``, ``float``, ``str`` or ``Decimal``;
each is read through its text, so ``0.1`` stays exactly one tenth.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlsplit

__all__ = [
    "DayOfWeek",
    "DisplayText",
    "Price",
    "PriceComponent",
    "ReservationRestrictionType",
    "Tariff",
    "TariffDimensionType",
    "TariffElement",
    "TariffError",
    "TariffRestrictions",
    "TariffType",
    "format_datetime",
    "parse_datetime",
    "tariff_from_ocpi",
    "tariff_to_ocpi",
]


class TariffDimensionType(StrEnum):
    ENERGY = "ENERGY"
    FLAT = "FLAT"
    PARKING_TIME = "PARKING_TIME"
    TIME = "TIME"


class TariffType(StrEnum):
    AD_HOC_PAYMENT = "AD_HOC_PAYMENT"
    PROFILE_CHEAP = "PROFILE_CHEAP"
    PROFILE_FAST = "PROFILE_FAST"
    PROFILE_GREEN = "PROFILE_GREEN"
    REGULAR = "REGULAR"


class DayOfWeek(StrEnum):
    """Declared in ISO order, so ``list(DayOfWeek).index(day)`` is ``date.weekday()``."""

    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"


class ReservationRestrictionType(StrEnum):
    RESERVATION = "RESERVATION"
    RESERVATION_EXPIRES = "RESERVATION_EXPIRES"


class TariffError(ValueError):
    """A tariff document that is not a valid OCPI 2.2.1 Tariff; ``path`` names the field."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


@dataclass(frozen=True, slots=True)
class Price:
    """OCPI ``Price``: an amount without VAT and, when it can be known, with VAT."""

    excl_vat: Decimal
    incl_vat: Decimal | None = None


@dataclass(frozen=True, slots=True)
class DisplayText:
    language: str
    text: str


@dataclass(frozen=True, slots=True)
class PriceComponent:
    """Price per unit of one dimension; ``vat`` None means no VAT is known (not 0 %)."""

    type: TariffDimensionType
    price: Decimal
    step_size: int
    vat: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TariffRestrictions:
    """When a TariffElement applies; every field that is set must hold (logical AND).

    Times and dates are the location's local wall clock, as OCPI writes them ("HH:MM",
    "YYYY-MM-DD"); ``min_*`` bounds are inclusive and ``max_*`` bounds exclusive.
    """

    start_time: str | None = None
    end_time: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    min_kwh: Decimal | None = None
    max_kwh: Decimal | None = None
    min_current: Decimal | None = None
    max_current: Decimal | None = None
    min_power: Decimal | None = None
    max_power: Decimal | None = None
    min_duration: int | None = None
    max_duration: int | None = None
    day_of_week: tuple[DayOfWeek, ...] = ()
    reservation: ReservationRestrictionType | None = None


@dataclass(frozen=True, slots=True)
class TariffElement:
    price_components: tuple[PriceComponent, ...]
    restrictions: TariffRestrictions | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Tariff:
    """OCPI 2.2.1 Tariff. ``energy_mix`` is kept as the OCPI EnergyMix object, untouched."""

    country_code: str
    party_id: str
    id: str
    currency: str
    elements: tuple[TariffElement, ...]
    last_updated: dt.datetime
    type: TariffType | None = None
    tariff_alt_text: tuple[DisplayText, ...] = ()
    tariff_alt_url: str | None = None
    min_price: Price | None = None
    max_price: Price | None = None
    energy_mix: Mapping[str, Any] | None = field(default=None, hash=False)
    start_date_time: dt.datetime | None = None
    end_date_time: dt.datetime | None = None


# --------------------------------------------------------------------------------------------
# Reading

_FOUR_DECIMALS = Decimal("0.0001")
_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_DATE = re.compile(r"[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])")
# OCPI DateTime: RFC 3339 in UTC, "Z" or nothing (which also means UTC); no other offsets.
_DATETIME = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)Z?")
_COUNTRY = re.compile(r"[A-Za-z]{2}")
_PARTY = re.compile(r"[A-Za-z0-9]{3}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_LANGUAGE = re.compile(r"[A-Za-z]{2}")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")

_TARIFF_FIELDS = {
    "country_code", "party_id", "id", "currency", "type", "tariff_alt_text", "tariff_alt_url",
    "min_price", "max_price", "elements", "start_date_time", "end_date_time", "energy_mix",
    "last_updated",
}
_TARIFF_REQUIRED = ("country_code", "party_id", "id", "currency", "elements", "last_updated")
_ELEMENT_FIELDS = {"price_components", "restrictions"}
_COMPONENT_FIELDS = {"type", "price", "vat", "step_size"}
_PRICE_FIELDS = {"excl_vat", "incl_vat"}
_TEXT_FIELDS = {"language", "text"}
_DECIMAL_RESTRICTIONS = ("min_kwh", "max_kwh", "min_current", "max_current", "min_power",
                         "max_power")
_RESTRICTION_FIELDS = {
    "start_time", "end_time", "start_date", "end_date", *_DECIMAL_RESTRICTIONS,
    "min_duration", "max_duration", "day_of_week", "reservation",
}
# Pairs whose range is [min, max): an element with min >= max could never apply.
_RANGE_PAIRS = (("min_kwh", "max_kwh"), ("min_current", "max_current"),
                ("min_power", "max_power"), ("min_duration", "max_duration"))
_RESERVATION_DIMENSIONS = {TariffDimensionType.FLAT, TariffDimensionType.TIME}


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _object(value: Any, path: str, allowed: set[str], required: Sequence[str] = ()
            ) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TariffError(path, f"must be an object, not {_kind(value)}")
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise TariffError(_join(path, unknown[0]), "unknown field")
    for name in required:
        if value.get(name) is None:
            raise TariffError(_join(path, name), "is required")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _list(value: Any, path: str) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise TariffError(path, f"must be a list, not {_kind(value)}")
    return value


def _string(value: Any, path: str, *, max_length: int, pattern: re.Pattern[str] | None = None,
            shape: str = "") -> str:
    if not isinstance(value, str):
        raise TariffError(path, f"must be a string, not {_kind(value)}")
    if not value:
        raise TariffError(path, "must not be empty")
    if len(value) > max_length:
        raise TariffError(path, f"must be at most {max_length} characters, not {len(value)}")
    if pattern is not None and not pattern.fullmatch(value):
        raise TariffError(path, f"must be {shape}, not {value!r}")
    if not value.isprintable():
        raise TariffError(path, "must contain printable characters only")
    return value


def _decimal(value: Any, path: str) -> Decimal:
    """A non-negative OCPI number with at most 4 decimals, exactly as written."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise TariffError(path, f"must be a number, not {_kind(value)}")
    try:
        number = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise TariffError(path, f"must be a number, not {value!r}") from None
    if not number.is_finite():
        raise TariffError(path, f"must be a finite number, not {value!r}")
    if number < 0:
        raise TariffError(path, f"must not be negative, not {value}")
    try:
        exact = number.quantize(_FOUR_DECIMALS) == number
    except InvalidOperation:
        raise TariffError(path, f"is too large: {value}") from None
    if not exact:
        raise TariffError(path, f"must have at most 4 decimals, not {value}")
    return number + 0  # drops a negative zero's sign


def _integer(value: Any, path: str, *, minimum: int) -> int:
    if isinstance(value, bool):
        raise TariffError(path, "must be an integer, not a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float | str | Decimal):
        try:
            exact = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
        except InvalidOperation:
            raise TariffError(path, f"must be an integer, not {value!r}") from None
        if not exact.is_finite() or exact != exact.to_integral_value():
            raise TariffError(path, f"must be an integer, not {value!r}")
        number = int(exact)
    else:
        raise TariffError(path, f"must be an integer, not {_kind(value)}")
    if number < minimum:
        raise TariffError(path, f"must be at least {minimum}, not {number}")
    return number


_E = TypeVar("_E", bound=StrEnum)


def _enum(kind: type[_E], value: Any, path: str) -> _E:
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    allowed = ", ".join(member.value for member in kind)
    raise TariffError(path, f"must be one of {allowed}, not {value!r}")


def parse_datetime(value: Any, path: str = "") -> dt.datetime:
    """An OCPI DateTime (UTC, ``Z`` or no designator) or an aware datetime, as aware UTC."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise TariffError(path, "must be timezone-aware")
        return value.astimezone(dt.UTC)
    if not isinstance(value, str):
        raise TariffError(path, f"must be a date-time string, not {_kind(value)}")
    match = _DATETIME.fullmatch(value)
    if match is None:
        raise TariffError(path, f"must be a UTC date-time like 2015-06-29T20:39:09Z, "
                                f"not {value!r}")
    try:
        parsed = dt.datetime.fromisoformat(match.group(1))
    except ValueError:
        raise TariffError(path, f"is not a valid date-time: {value!r}") from None
    return parsed.replace(tzinfo=dt.UTC)


def _price(value: Any, path: str) -> Price:
    data = _object(value, path, _PRICE_FIELDS, ("excl_vat",))
    excl = _decimal(data["excl_vat"], _join(path, "excl_vat"))
    incl = None
    if data.get("incl_vat") is not None:
        incl = _decimal(data["incl_vat"], _join(path, "incl_vat"))
        if incl < excl:
            raise TariffError(_join(path, "incl_vat"),
                              f"must not be less than excl_vat ({incl} < {excl})")
    return Price(excl, incl)


def _component(value: Any, path: str) -> PriceComponent:
    data = _object(value, path, _COMPONENT_FIELDS, ("type", "price", "step_size"))
    kind = _enum(TariffDimensionType, data["type"], _join(path, "type"))
    price = _decimal(data["price"], _join(path, "price"))
    vat = None
    if data.get("vat") is not None:
        vat = _decimal(data["vat"], _join(path, "vat"))
        if vat > 100:
            raise TariffError(_join(path, "vat"), f"must be a percentage up to 100, not {vat}")
    # A FLAT fee has no unit to step in; the specification's own Free of Charge example gives 0.
    minimum = 0 if kind is TariffDimensionType.FLAT else 1
    step = _integer(data["step_size"], _join(path, "step_size"), minimum=minimum)
    return PriceComponent(kind, price, step, vat)


def _restrictions(value: Any, path: str) -> TariffRestrictions:
    data = _object(value, path, _RESTRICTION_FIELDS)
    fields: dict[str, Any] = {}
    for name in ("start_time", "end_time"):
        if data.get(name) is not None:
            fields[name] = _string(data[name], _join(path, name), max_length=5, pattern=_TIME,
                                   shape="a 24h time HH:MM")
    for name in ("start_date", "end_date"):
        if data.get(name) is not None:
            text = _string(data[name], _join(path, name), max_length=10, pattern=_DATE,
                           shape="a date YYYY-MM-DD")
            try:
                dt.date.fromisoformat(text)
            except ValueError:
                raise TariffError(_join(path, name), f"is not a calendar date: {text!r}") from None
            fields[name] = text
    for name in _DECIMAL_RESTRICTIONS:
        if data.get(name) is not None:
            fields[name] = _decimal(data[name], _join(path, name))
    for name in ("min_duration", "max_duration"):
        if data.get(name) is not None:
            fields[name] = _integer(data[name], _join(path, name), minimum=0)
    if data.get("day_of_week") is not None:
        days: list[DayOfWeek] = []
        for i, item in enumerate(_list(data["day_of_week"], _join(path, "day_of_week"))):
            day = _enum(DayOfWeek, item, _join(_join(path, "day_of_week"), i))
            if day in days:
                raise TariffError(_join(_join(path, "day_of_week"), i), f"repeats {day.value}")
            days.append(day)
        fields["day_of_week"] = tuple(days)
    if data.get("reservation") is not None:
        fields["reservation"] = _enum(ReservationRestrictionType, data["reservation"],
                                      _join(path, "reservation"))
    for low, high in _RANGE_PAIRS:
        if low in fields and high in fields and fields[low] >= fields[high]:
            raise TariffError(_join(path, low), f"must be less than {high} "
                                                f"({fields[low]} >= {fields[high]})")
    if "start_date" in fields and "end_date" in fields \
            and fields["start_date"] >= fields["end_date"]:
        raise TariffError(_join(path, "start_date"),
                          f"must be before end_date (which is exclusive): "
                          f"{fields['start_date']} >= {fields['end_date']}")
    return TariffRestrictions(**fields)


def _element(value: Any, path: str) -> TariffElement:
    data = _object(value, path, _ELEMENT_FIELDS, ("price_components",))
    components_path = _join(path, "price_components")
    items = _list(data["price_components"], components_path)
    if not items:
        raise TariffError(components_path, "must list at least one price component")
    components: list[PriceComponent] = []
    for i, item in enumerate(items):
        component = _component(item, _join(components_path, i))
        for j, earlier in enumerate(components):
            if earlier.type is component.type:
                raise TariffError(_join(_join(components_path, i), "type"),
                                  f"{component.type.value} is already priced by "
                                  f"price_components[{j}] of this element")
        components.append(component)
    restrictions = None
    if data.get("restrictions") is not None:
        restrictions = _restrictions(data["restrictions"], _join(path, "restrictions"))
        if restrictions.reservation is not None:
            for i, component in enumerate(components):
                if component.type not in _RESERVATION_DIMENSIONS:
                    raise TariffError(_join(_join(components_path, i), "type"),
                                      f"a reservation element can only price FLAT and TIME, "
                                      f"not {component.type.value}")
    return TariffElement(tuple(components), restrictions)


def _alt_text(value: Any, path: str) -> DisplayText:
    data = _object(value, path, _TEXT_FIELDS, ("language", "text"))
    language = _string(data["language"], _join(path, "language"), max_length=2,
                       pattern=_LANGUAGE, shape="an ISO 639-1 language code")
    text = _string(data["text"], _join(path, "text"), max_length=512)
    return DisplayText(language, text)


def _url(value: Any, path: str) -> str:
    text = _string(value, path, max_length=255)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in text:
        raise TariffError(path, f"must be an absolute http(s) URL, not {text!r}")
    return text


def _energy_mix(value: Any, path: str) -> dict[str, Any]:
    data = _object(value, path, {"is_green_energy", "energy_sources", "environ_impact",
                                 "supplier_name", "energy_product_name"}, ("is_green_energy",))
    if not isinstance(data["is_green_energy"], bool):
        raise TariffError(_join(path, "is_green_energy"),
                          f"must be a boolean, not {_kind(data['is_green_energy'])}")
    for name in ("energy_sources", "environ_impact"):
        if data.get(name) is not None:
            _list(data[name], _join(path, name))
    return dict(data)


def tariff_from_ocpi(data: Any) -> Tariff:
    """Parse and validate an OCPI 2.2.1 Tariff object; raise TariffError naming the field."""
    tariff = _object(data, "", _TARIFF_FIELDS, _TARIFF_REQUIRED)
    fields: dict[str, Any] = {
        "country_code": _string(tariff["country_code"], "country_code", max_length=2,
                                pattern=_COUNTRY, shape="an ISO 3166 alpha-2 country code"),
        "party_id": _string(tariff["party_id"], "party_id", max_length=3, pattern=_PARTY,
                            shape="a 3-character party id"),
        "id": _string(tariff["id"], "id", max_length=36, pattern=_PRINTABLE_ASCII,
                      shape="printable ASCII"),
        "currency": _string(tariff["currency"], "currency", max_length=3, pattern=_CURRENCY,
                            shape="an ISO 4217 code of 3 capital letters"),
        "last_updated": parse_datetime(tariff["last_updated"], "last_updated"),
    }
    elements = _list(tariff["elements"], "elements")
    if not elements:
        raise TariffError("elements", "must list at least one tariff element")
    fields["elements"] = tuple(_element(item, _join("elements", i))
                               for i, item in enumerate(elements))
    if tariff.get("type") is not None:
        fields["type"] = _enum(TariffType, tariff["type"], "type")
    if tariff.get("tariff_alt_text") is not None:
        fields["tariff_alt_text"] = tuple(
            _alt_text(item, _join("tariff_alt_text", i))
            for i, item in enumerate(_list(tariff["tariff_alt_text"], "tariff_alt_text")))
    if tariff.get("tariff_alt_url") is not None:
        fields["tariff_alt_url"] = _url(tariff["tariff_alt_url"], "tariff_alt_url")
    for name in ("min_price", "max_price"):
        if tariff.get(name) is not None:
            fields[name] = _price(tariff[name], name)
    low, high = fields.get("min_price"), fields.get("max_price")
    if low is not None and high is not None:
        if low.excl_vat > high.excl_vat:
            raise TariffError("min_price.excl_vat", f"must not exceed max_price.excl_vat "
                                                    f"({low.excl_vat} > {high.excl_vat})")
        if low.incl_vat is not None and high.incl_vat is not None \
                and low.incl_vat > high.incl_vat:
            raise TariffError("min_price.incl_vat", f"must not exceed max_price.incl_vat "
                                                    f"({low.incl_vat} > {high.incl_vat})")
    if tariff.get("energy_mix") is not None:
        fields["energy_mix"] = _energy_mix(tariff["energy_mix"], "energy_mix")
    for name in ("start_date_time", "end_date_time"):
        if tariff.get(name) is not None:
            fields[name] = parse_datetime(tariff[name], name)
    begin, end = fields.get("start_date_time"), fields.get("end_date_time")
    if begin is not None and end is not None and end <= begin:
        raise TariffError("end_date_time", f"must be after start_date_time "
                                           f"({format_datetime(end)} <= "
                                           f"{format_datetime(begin)})")
    return Tariff(**fields)


# --------------------------------------------------------------------------------------------
# Writing


def format_datetime(value: dt.datetime) -> str:
    """OCPI DateTime: UTC with ``Z``, fractional seconds only when there are any."""
    text = value.astimezone(dt.UTC).replace(tzinfo=None).isoformat()
    return text + "Z"


def _number(value: Decimal) -> float:
    """A JSON number with at most 4 decimals (OCPI ``number``)."""
    return float(value.quantize(_FOUR_DECIMALS))


def _price_to_ocpi(price: Price) -> dict[str, float]:
    out = {"excl_vat": _number(price.excl_vat)}
    if price.incl_vat is not None:
        out["incl_vat"] = _number(price.incl_vat)
    return out


def _restrictions_to_ocpi(restrictions: TariffRestrictions) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("start_time", "end_time", "start_date", "end_date"):
        text = getattr(restrictions, name)
        if text is not None:
            out[name] = text
    for name in _DECIMAL_RESTRICTIONS:
        number = getattr(restrictions, name)
        if number is not None:
            out[name] = _number(number)
    for name in ("min_duration", "max_duration"):
        seconds = getattr(restrictions, name)
        if seconds is not None:
            out[name] = seconds
    if restrictions.day_of_week:
        out["day_of_week"] = [day.value for day in restrictions.day_of_week]
    if restrictions.reservation is not None:
        out["reservation"] = restrictions.reservation.value
    return out


def _component_to_ocpi(component: PriceComponent) -> dict[str, Any]:
    out: dict[str, Any] = {"type": component.type.value, "price": _number(component.price)}
    if component.vat is not None:
        out["vat"] = _number(component.vat)
    out["step_size"] = component.step_size
    return out


def tariff_to_ocpi(tariff: Tariff) -> dict[str, Any]:
    """The OCPI 2.2.1 JSON object (plain ``dict``/``list``/``str``/``float``/``int``)."""
    out: dict[str, Any] = {
        "country_code": tariff.country_code,
        "party_id": tariff.party_id,
        "id": tariff.id,
        "currency": tariff.currency,
    }
    if tariff.type is not None:
        out["type"] = tariff.type.value
    if tariff.tariff_alt_text:
        out["tariff_alt_text"] = [{"language": t.language, "text": t.text}
                                  for t in tariff.tariff_alt_text]
    if tariff.tariff_alt_url is not None:
        out["tariff_alt_url"] = tariff.tariff_alt_url
    if tariff.min_price is not None:
        out["min_price"] = _price_to_ocpi(tariff.min_price)
    if tariff.max_price is not None:
        out["max_price"] = _price_to_ocpi(tariff.max_price)
    elements = []
    for element in tariff.elements:
        item: dict[str, Any] = {
            "price_components": [_component_to_ocpi(c) for c in element.price_components]}
        if element.restrictions is not None:
            item["restrictions"] = _restrictions_to_ocpi(element.restrictions)
        elements.append(item)
    out["elements"] = elements
    if tariff.start_date_time is not None:
        out["start_date_time"] = format_datetime(tariff.start_date_time)
    if tariff.end_date_time is not None:
        out["end_date_time"] = format_datetime(tariff.end_date_time)
    if tariff.energy_mix is not None:
        out["energy_mix"] = dict(tariff.energy_mix)
    out["last_updated"] = format_datetime(tariff.last_updated)
    return out
