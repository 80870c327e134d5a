"""A generic REST resource over one SQLAlchemy model and one marshmallow schema.

Gives list (filtering, ``fields=``, ``ordering=``, limit/offset pagination), retrieve, create,
replace, partial update and delete, each behind the permission ``<name>:<read|write|delete>``.
Rows are restricted to the caller's own when the role holds the permission with scope ``own``.
Writes happen in one unit of work: validated before anything is touched, committed, then the
``<name>.created|updated|deleted`` event is published.

Filters: ``?field=value`` (exact), ``field__in=a,b``, ``field__gte``/``__lte``/``__gt``/``__lt``,
``field__icontains``, ``field__isnull=true|false``; values are converted by the schema's field
for that name, so a wrong type is a 400, and only declared filter fields are accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, cast

from aiohttp import web
from marshmallow import Schema, ValidationError, fields
from sqlalchemy import ColumnElement, Select, false, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from core import appkeys
from core.auth import principal_of
from core.db import Work
from core.db.models import Base
from core.events import Event
from core.json import dumps
from core.rest.body import json_object, page, reject_nul
from core.rest.errors import ApiError, bad_request, not_found
from core.rest.routes import SCOPE, Route

RESERVED_PARAMS = {"limit", "offset", "fields", "ordering"}
OPERATORS = ("in", "gte", "lte", "gt", "lt", "icontains", "isnull")
ALL_OPS = ("list", "retrieve", "create", "update", "delete")


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=dumps(data), content_type="application/json")


def validation_error(exc: ValidationError) -> ApiError:
    return bad_request("the request has invalid fields", exc.messages, "validation_error")


class ModelResource:
    """Subclass and set the class attributes; override the hooks for special behaviour."""

    name: ClassVar[str]
    model: ClassVar[type[Base]]
    schema: ClassVar[type[Schema]]
    lookup: ClassVar[str] = "id"
    lookup_pattern: ClassVar[str] = r"[^/]+"
    operations: ClassVar[Sequence[str]] = ALL_OPS
    filters: ClassVar[Sequence[str]] = ()
    ordering: ClassVar[str] = "id"
    owner_column: ClassVar[str | None] = None
    tag: ClassVar[str | None] = None

    def __init__(self) -> None:
        # Building a marshmallow schema deep-copies its fields; one instance per resource is
        # reused for every request (dump/load keep no state between calls).
        self.schema_obj = self.schema()

    # ---- hooks ---------------------------------------------------------------------------

    def dump(self, request: web.Request, obj: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.schema_obj.dump(obj)
        return result

    def load(self, data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
        try:
            loaded: dict[str, Any] = self.schema_obj.load(data, partial=partial)
        except ValidationError as exc:
            raise validation_error(exc) from None
        return loaded

    async def prepare(
        self, request: web.Request, work: Work, data: dict[str, Any], obj: Any | None
    ) -> dict[str, Any]:
        """Check cross-field and database constraints; return the values to set."""
        return data

    async def apply(self, request: web.Request, work: Work, obj: Any, data: dict[str, Any]) -> None:
        for key, value in data.items():
            setattr(obj, key, value)

    async def before_delete(self, request: web.Request, work: Work, obj: Any) -> None:
        """Refuse or clean up before a delete."""

    # ---- machinery ---------------------------------------------------------------------------

    def column(self, name: str) -> InstrumentedAttribute[Any]:
        attr = getattr(self.model, name, None)
        if not isinstance(attr, InstrumentedAttribute):
            raise LookupError(name)
        return attr

    def base_query(self, request: web.Request) -> Select[Any]:
        stmt = select(self.model)
        if request.get(SCOPE) == "own":
            principal = principal_of(request)
            if self.owner_column is None or principal is None:
                return stmt.where(false())
            stmt = stmt.where(self.column(self.owner_column) == principal.user_id)
        return stmt

    def _filter_value(self, name: str, raw: str) -> Any:
        field = self.schema_obj.fields[name]
        if isinstance(field, fields.List):
            field = field.inner
        try:
            return field.deserialize(raw)
        except ValidationError as exc:
            raise bad_request(f"bad value for filter {name!r}", {name: exc.messages},
                              "invalid_query") from None

    def _condition(self, key: str, raw: str) -> ColumnElement[bool]:
        name, _, op = key.partition("__")
        if name not in self.filters or (op and op not in OPERATORS):
            allowed = ", ".join(self.filters) or "none"
            raise bad_request(
                f"unknown query parameter {key!r} (filters: {allowed})", code="invalid_query"
            )
        col = self.column(name)
        if op == "isnull":
            if raw not in ("true", "false"):
                raise bad_request(f"{key} must be true or false", code="invalid_query")
            return col.is_(None) if raw == "true" else col.is_not(None)
        if op == "in":
            return col.in_([self._filter_value(name, part) for part in raw.split(",")])
        if op == "icontains":
            return func.lower(col).contains(str(self._filter_value(name, raw)).lower(),
                                            autoescape=True)
        value = self._filter_value(name, raw)
        if op == "":
            return cast("ColumnElement[bool]", col == value)
        if isinstance(value, bool):
            raise bad_request(f"{key}: booleans only compare for equality", code="invalid_query")
        comparisons = {"gte": col.__ge__, "lte": col.__le__, "gt": col.__gt__, "lt": col.__lt__}
        return comparisons[op](value)

    def _selected_fields(self, request: web.Request) -> list[str] | None:
        raw = request.query.get("fields")
        if raw is None:
            return None
        wanted = [part.strip() for part in raw.split(",") if part.strip()]
        known = {n for n, f in self.schema_obj.fields.items() if not f.load_only}
        unknown = [name for name in wanted if name not in known]
        if unknown or not wanted:
            raise bad_request(
                f"unknown fields {unknown}" if unknown else "fields= names no field",
                {"fields": sorted(known)},
                "invalid_query",
            )
        return wanted

    def _ordering(self, request: web.Request) -> list[Any]:
        raw = request.query.get("ordering", self.ordering)
        name = raw.lstrip("-")
        if name != self.ordering and name not in self.filters:
            raise bad_request(f"cannot order by {raw!r}", code="invalid_query")
        col = self.column(name)
        primary = col.desc() if raw.startswith("-") else col.asc()
        return [primary, self.column(self.lookup).asc()]

    def _shape(self, request: web.Request, obj: Any, selected: list[str] | None) -> dict[str, Any]:
        data = self.dump(request, obj)
        return data if selected is None else {k: data.get(k) for k in selected}

    def path_value(self, request: web.Request, name: str) -> Any:
        """A path segment as the type of the column it names; 404 when it cannot be one."""
        raw = request.match_info[name]
        python_type = self.column(name).type.python_type
        if "\x00" in raw:
            raise not_found(self.name)
        try:
            return int(raw) if python_type is int else raw
        except ValueError:
            raise not_found(self.name) from None

    async def _get(self, request: web.Request, session: AsyncSession) -> Any:
        value = self.path_value(request, self.lookup)
        stmt = self.base_query(request).where(self.column(self.lookup) == value)
        obj = (await session.execute(stmt)).scalars().first()
        if obj is None:
            raise not_found(self.name)
        return obj

    def _url(self, request: web.Request, offset: int, limit: int) -> str:
        return str(request.url.update_query(offset=offset, limit=limit))

    # ---- handlers ---------------------------------------------------------------------------

    async def list_view(self, request: web.Request) -> web.Response:
        reject_nul(request.query.values())
        limit, offset = page(request)
        selected = self._selected_fields(request)
        conditions = [
            self._condition(key, request.query[key])
            for key in request.query
            if key not in RESERVED_PARAMS
        ]
        stmt = self.base_query(request).where(*conditions)
        async with request.app[appkeys.DB].session() as session:
            total = (
                await session.execute(select(func.count()).select_from(stmt.subquery()))
            ).scalar_one()
            rows = (
                await session.execute(
                    stmt.order_by(*self._ordering(request)).limit(limit).offset(offset)
                )
            ).scalars().all()
            results = [self._shape(request, obj, selected) for obj in rows]
        return json_response(
            {
                "count": total,
                "next": self._url(request, offset + limit, limit)
                if offset + limit < total
                else None,
                "previous": self._url(request, max(offset - limit, 0), limit) if offset else None,
                "results": results,
            }
        )

    async def retrieve_view(self, request: web.Request) -> web.Response:
        selected = self._selected_fields(request)
        async with request.app[appkeys.DB].session() as session:
            obj = await self._get(request, session)
            return json_response(self._shape(request, obj, selected))

    async def create_view(self, request: web.Request) -> web.Response:
        data = self.load(await json_object(request), partial=False)
        try:
            async with request.app[appkeys.DB].transaction() as work:
                values = await self.prepare(request, work, data, None)
                obj = self.model()
                await self.apply(request, work, obj, values)
                work.session.add(obj)
                await work.session.flush()
                body = self.dump(request, obj)
                work.emit(Event(f"{self.name}.created", {"id": body.get(self.lookup)}))
        except IntegrityError as exc:
            raise self.conflict(exc) from None
        return json_response(body, status=201)

    async def update_view(self, request: web.Request) -> web.Response:
        partial = request.method == "PATCH"
        data = self.load(await json_object(request), partial=partial)
        try:
            async with request.app[appkeys.DB].transaction() as work:
                obj = await self._get(request, work.session)
                values = await self.prepare(request, work, data, obj)
                await self.apply(request, work, obj, values)
                await work.session.flush()
                body = self.dump(request, obj)
                work.emit(
                    Event(
                        f"{self.name}.updated",
                        {"id": body.get(self.lookup), "fields": sorted(values)},
                    )
                )
        except IntegrityError as exc:
            raise self.conflict(exc) from None
        return json_response(body)

    async def delete_view(self, request: web.Request) -> web.Response:
        try:
            async with request.app[appkeys.DB].transaction() as work:
                obj = await self._get(request, work.session)
                ident = getattr(obj, self.lookup)
                await self.before_delete(request, work, obj)
                await work.session.delete(obj)
                await work.session.flush()
                work.emit(Event(f"{self.name}.deleted", {"id": ident}))
        except IntegrityError as exc:
            raise self.conflict(exc) from None
        return web.Response(status=204)

    def conflict(self, exc: IntegrityError) -> ApiError:
        return ApiError(
            409, "conflict", f"{self.name} conflicts with existing data", str(exc.orig)[:300]
        )

    def routes(self) -> list[Route]:
        base = f"/api/{self.name}/"
        item = f"{base}{{{self.lookup}:{self.lookup_pattern}}}/"
        tag = (self.tag or self.name,)
        out: list[Route] = []
        ops = set(self.operations)
        common: dict[str, Any] = {"tags": tag, "response_schema": self.schema}
        if "list" in ops:
            out.append(Route("GET", base, self.list_view, f"{self.name}:read",
                             f"{self.name}-list", f"List {self.name} records", **common,
                             query_params=self._query_docs()))
        if "create" in ops:
            out.append(Route("POST", base, self.create_view, f"{self.name}:write",
                             f"{self.name}-create", f"Create a {self.name}", **common,
                             request_schema=self.schema))
        if "retrieve" in ops:
            out.append(Route("GET", item, self.retrieve_view, f"{self.name}:read",
                             f"{self.name}-detail", f"Read one {self.name}", **common))
        if "update" in ops:
            out.append(Route("PUT", item, self.update_view, f"{self.name}:write",
                             f"{self.name}-replace", f"Replace a {self.name}", **common,
                             request_schema=self.schema))
            out.append(Route("PATCH", item, self.update_view, f"{self.name}:write",
                             f"{self.name}-update", f"Update fields of a {self.name}", **common,
                             request_schema=self.schema))
        if "delete" in ops:
            out.append(Route("DELETE", item, self.delete_view, f"{self.name}:delete",
                             f"{self.name}-delete", f"Delete a {self.name}", tags=tag))
        return out

    def _query_docs(self) -> tuple[dict[str, Any], ...]:
        params: list[dict[str, Any]] = [
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
            {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
            {"name": "fields", "in": "query", "schema": {"type": "string"},
             "description": "Comma-separated field names to return."},
            {"name": "ordering", "in": "query", "schema": {"type": "string"},
             "description": "Field to sort by; prefix with '-' for descending."},
        ]
        params += [
            {"name": name, "in": "query", "schema": {"type": "string"},
             "description": f"Filter; also {name}__in, __gte, __lte, __gt, __lt, __icontains, "
                            "__isnull."}
            for name in self.filters
        ]
        return tuple(params)
