"""``/api/cdr/``: CDRs as OCPI 2.2.1 objects, read and delete only (they are issued by the
billing engine, seed 000 Figure 4), and ``/api/cdr/export/`` as CSV, XLSX or JSON.

Filters: OCPI's ``date_from`` (inclusive) and ``date_to`` (exclusive) on ``last_updated``
(a date or a date-time), plus ``station_id``, ``id_token``, ``transaction_id``,
``location_id``, ``tariff_id``, ``credit``, ``currency`` and the start/end date-times with
the usual ``__gte``/``__lt`` operators. Drivers see only their own sessions' CDRs.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from marshmallow import Schema, fields
from sqlalchemy import ColumnElement, select

from core import appkeys
from core.db.models import User
from core.rest.body import reject_nul
from core.rest.errors import bad_request
from core.rest.resource import RESERVED_PARAMS, ModelResource
from core.rest.routes import Route
from plugins.billing import exports
from plugins.billing.rest_common import parse_instant
from plugins.billing.tables import Cdr

FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "json": ("application/json", "json"),
}
_DATE_PARAMS = {"date_from", "date_to"}


class CdrSchema(Schema):
    """The OCPI 2.2.1 CDR (dump) and the columns CDRs are filtered by (load only)."""

    country_code = fields.String(dump_only=True)
    party_id = fields.String(dump_only=True)
    id = fields.String(dump_only=True)
    start_date_time = fields.AwareDateTime()
    end_date_time = fields.AwareDateTime()
    session_id = fields.String(dump_only=True)
    cdr_token = fields.Dict(dump_only=True)
    auth_method = fields.String(dump_only=True)
    authorization_reference = fields.String(dump_only=True)
    cdr_location = fields.Dict(dump_only=True)
    meter_id = fields.String(dump_only=True)
    currency = fields.String()
    tariffs = fields.List(fields.Dict(), dump_only=True)
    charging_periods = fields.List(fields.Dict(), dump_only=True)
    signed_data = fields.Dict(dump_only=True)
    total_cost = fields.Dict(dump_only=True)
    total_fixed_cost = fields.Dict(dump_only=True)
    total_energy = fields.Float(dump_only=True)
    total_energy_cost = fields.Dict(dump_only=True)
    total_time = fields.Float(dump_only=True)
    total_time_cost = fields.Dict(dump_only=True)
    total_parking_time = fields.Float(dump_only=True)
    total_parking_cost = fields.Dict(dump_only=True)
    total_reservation_cost = fields.Dict(dump_only=True)
    remark = fields.String(dump_only=True)
    credit = fields.Boolean()
    credit_reference_id = fields.String(dump_only=True)
    last_updated = fields.AwareDateTime()
    station_id = fields.String(load_only=True)
    id_token = fields.String(load_only=True)
    transaction_id = fields.Integer(load_only=True)
    location_id = fields.String(load_only=True)
    tariff_id = fields.String(load_only=True)


class CdrResource(ModelResource):
    name = "cdr"
    model = Cdr
    schema = CdrSchema
    operations = ("list", "retrieve", "delete")
    filters = ("station_id", "id_token", "transaction_id", "location_id", "tariff_id",
               "credit", "currency", "start_date_time", "end_date_time", "last_updated")
    ordering = "last_updated"
    owner_column = "user_id"

    def dump(self, request: web.Request, obj: Any) -> dict[str, Any]:
        data: dict[str, Any] = obj.data
        return data

    def _condition(self, key: str, raw: str) -> ColumnElement[bool]:
        if key in _DATE_PARAMS:
            at = parse_instant(key, raw)
            return Cdr.last_updated >= at if key == "date_from" else Cdr.last_updated < at
        return super()._condition(key, raw)

    async def export_view(self, request: web.Request) -> web.StreamResponse:
        """The CDRs matching the filters as a file: ``format=csv`` (default), xlsx or json."""
        reject_nul(request.query.values())
        kind = request.query.get("format", "csv")
        if kind not in FORMATS:
            raise bad_request(f"format must be one of {', '.join(FORMATS)}",
                              {"format": [kind]}, "invalid_query")
        if RESERVED_PARAMS & set(request.query):
            raise bad_request("an export has no pages or columns to choose",
                              code="invalid_query")
        conditions = [self._condition(key, request.query[key]) for key in request.query
                      if key != "format"]
        stmt = self.base_query(request).where(*conditions).order_by(Cdr.start_date_time,
                                                                    Cdr.id)
        async with request.app[appkeys.DB].session() as session:
            rows = list((await session.execute(stmt)).scalars())
            owners = {row.user_id for row in rows if row.user_id is not None}
            found = await session.execute(select(User.id, User.username).where(
                User.id.in_(owners))) if owners else None
            usernames = {user: name for user, name in found} if found is not None else {}
        if kind == "json":
            body = exports.to_json(rows)
        elif kind == "csv":
            body = exports.to_csv(exports.table(rows, usernames))
        else:
            body = await asyncio.to_thread(exports.to_xlsx, exports.table(rows, usernames))
        content_type, extension = FORMATS[kind]
        return web.Response(body=body, headers={
            "Content-Type": content_type,
            "Content-Disposition": f'attachment; filename="cdrs.{extension}"'})

    def routes(self) -> list[Route]:
        export = Route("GET", "/api/cdr/export/", self.export_view, "cdr:read", "cdr-export",
                       "Export CDRs as CSV, XLSX or JSON", ("cdr",),
                       query_params=({"name": "format", "in": "query",
                                      "schema": {"type": "string", "enum": sorted(FORMATS)}},
                                     *self._date_docs()))
        return [export, *super().routes()]

    def _query_docs(self) -> tuple[dict[str, Any], ...]:
        return (*super()._query_docs(), *self._date_docs())

    @staticmethod
    def _date_docs() -> tuple[dict[str, Any], ...]:
        return tuple({"name": name, "in": "query", "schema": {"type": "string"},
                      "description": f"last_updated {op} this date or date-time"}
                     for name, op in (("date_from", ">="), ("date_to", "<")))
