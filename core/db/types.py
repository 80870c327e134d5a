"""Column types that keep the project's invariants on every database.

- :class:`UTCDateTime`: timezone-aware UTC in, timezone-aware UTC out (SQLite stores no zone).
- :class:`ExactDecimal`: exact ``Decimal`` everywhere (money, prices, meter readings); SQLite
  keeps it as text so no float ever appears.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine


class UTCDateTime(TypeDecorator[dt.datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use timezone-aware values")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """A decimal (money, prices per kWh, meter readings) kept exact on every backend."""

    impl = Numeric(18, 6)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(18, 6, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = Decimal(value)
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return canonical(Decimal(value))


def canonical(value: Decimal) -> Decimal:
    """The same number without padding zeros, so every backend reads back the same text.

    PostgreSQL pads NUMERIC(18, 6) to six decimals (``40250.000000``); SQLite keeps the text
    as written. Whole numbers stay in plain notation (``40250``, not ``4.025E+4``).
    """
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
