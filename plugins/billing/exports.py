"""CDR exports: CSV and XLSX (one row per CDR, a spreadsheet's view) and JSON (the OCPI
objects themselves).

Money columns are exact (the stored decimals); times are UTC (ISO 8601 with ``Z`` in CSV,
plain date-times in a column titled "(UTC)" in XLSX, which has no time zones). The driver's
user name is given when the session belongs to a registered user (seed 001 §4.1.2.2).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from openpyxl import Workbook  # type: ignore[import-untyped]

from core.json import dumps
from plugins.billing.engine import currency_exponent
from plugins.billing.tables import Cdr

Value = str | int | bool | Decimal | dt.datetime | None
Column = Callable[[Cdr, str | None], Value]


def _number(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _price(part: str, side: str) -> Column:
    def read(row: Cdr, user: str | None) -> Value:
        price = row.data.get(part)
        return _number(price.get(side)) if isinstance(price, dict) else None
    return read


COLUMNS: tuple[tuple[str, Column], ...] = (
    ("cdr_id", lambda r, u: r.id),
    ("credit", lambda r, u: r.credit),
    ("credit_reference_id", lambda r, u: r.credit_reference_id),
    ("session_id", lambda r, u: r.data.get("session_id")),
    ("transaction_id", lambda r, u: r.transaction_id),
    ("station_id", lambda r, u: r.station_id),
    ("location_id", lambda r, u: r.location_id),
    ("evse_id", lambda r, u: r.data["cdr_location"].get("evse_id")),
    ("connector_id", lambda r, u: r.data["cdr_location"].get("connector_id")),
    ("start_date_time", lambda r, u: r.start_date_time),
    ("end_date_time", lambda r, u: r.end_date_time),
    ("id_token", lambda r, u: r.id_token),
    ("user", lambda r, u: u),
    ("auth_method", lambda r, u: r.data.get("auth_method")),
    ("total_energy_kwh", lambda r, u: _number(r.data.get("total_energy"))),
    ("total_time_h", lambda r, u: _number(r.data.get("total_time"))),
    ("total_parking_time_h", lambda r, u: _number(r.data.get("total_parking_time"))),
    ("currency", lambda r, u: r.currency),
    ("total_cost_excl_vat", lambda r, u: _money(r.total_cost_excl_vat, r.currency)),
    ("total_cost_incl_vat", lambda r, u: _money(r.total_cost_incl_vat, r.currency)),
    ("fixed_cost_excl_vat", _price("total_fixed_cost", "excl_vat")),
    ("energy_cost_excl_vat", _price("total_energy_cost", "excl_vat")),
    ("time_cost_excl_vat", _price("total_time_cost", "excl_vat")),
    ("parking_cost_excl_vat", _price("total_parking_cost", "excl_vat")),
    ("reservation_cost_excl_vat", _price("total_reservation_cost", "excl_vat")),
    ("tariff_id", lambda r, u: r.tariff_id),
    ("tariff_version", lambda r, u: r.tariff_version),
    ("driver_currency", lambda r, u: r.driver_currency),
    ("driver_cost_excl_vat", lambda r, u: _money(r.driver_cost_excl_vat, r.driver_currency)),
    ("driver_cost_incl_vat", lambda r, u: _money(r.driver_cost_incl_vat, r.driver_currency)),
    ("remark", lambda r, u: r.data.get("remark")),
    ("last_updated", lambda r, u: r.last_updated),
)
HEADER = [name for name, _ in COLUMNS]


def _money(value: Decimal | None, currency: str | None) -> Decimal | None:
    """An amount to its currency's minor unit (PostgreSQL hands back NUMERIC's scale)."""
    if value is None:
        return None
    return value.quantize(Decimal(1).scaleb(-currency_exponent(currency or "EUR")))


def table(rows: Sequence[Cdr], usernames: dict[int, str]) -> list[list[Value]]:
    """One list of values per CDR, in :data:`HEADER` order."""
    out = []
    for row in rows:
        user = usernames.get(row.user_id) if row.user_id is not None else None
        out.append([read(row, user) for _, read in COLUMNS])
    return out


def _text(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_csv(rows: list[list[Value]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows([_text(v) for v in row] for row in rows)
    return buffer.getvalue().encode("utf-8")


def _cell(value: Value) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def to_xlsx(rows: list[list[Value]]) -> bytes:
    """A workbook with one sheet, "CDRs"; CPU-bound, so call it off the event loop."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("CDRs")
    sheet.append([f"{name} (UTC)" if name in ("start_date_time", "end_date_time",
                                                 "last_updated") else name
                  for name in HEADER])
    for row in rows:
        sheet.append([_cell(v) for v in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def to_json(rows: Sequence[Cdr]) -> bytes:
    return dumps([row.data for row in rows]).encode("utf-8")
