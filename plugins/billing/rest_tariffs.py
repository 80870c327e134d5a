"""``/api/tariff/`` and ``/api/tariffelement/``: OCPI 2.2.1 Tariff objects in and out.

Every change (create, replace, patch, ending, any element change) saves a new version; the
current one is served unless ``?version=`` asks for an older one, and the version number comes
in the ``X-Tariff-Version`` header. Bodies are validated whole by the OCPI model before
anything is stored; our ``country_code``/``party_id`` (``[billing]``) fill in what a new
tariff leaves out, and ``last_updated`` is always the moment the version was saved.

``DELETE`` ends a tariff (a version whose ``end_date_time`` is now) instead of erasing what
past sessions were priced with; ``PATCH {"end_date_time": null}`` brings it back.

Tariff elements have no identity in OCPI; here an element is addressed as
``{tariff_id}:{position}`` (1-based, in the current version), which is how the seed's
element operations (seed 000 Figure 13) map onto OCPI tariffs.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import and_, func, not_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import appkeys
from core.db.types import utcnow
from core.events import Event
from core.rest.body import json_object, page, reject_nul
from core.rest.errors import ApiError, bad_request, not_found
from core.rest.resource import json_response
from core.rest.routes import Route
from plugins.billing import tariffs
from plugins.billing.config import billing_config
from plugins.billing.model import Tariff, TariffError, format_datetime
from plugins.billing.rest_common import listing, only_params, tariff_error, user_id
from plugins.billing.tables import TariffVersion

RESERVED_IDS = {"schedule"}  # path segments of /api/tariff/ that are not tariffs
_FILTERS = ("currency", "type", "country_code", "party_id", "active")
_ELEMENT_FIELDS = {"price_components", "restrictions"}
VERSION_HEADER = "X-Tariff-Version"

_PRICE = {"type": "object", "required": ["excl_vat"],
          "properties": {"excl_vat": {"type": "number"}, "incl_vat": {"type": "number"}}}
ELEMENT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["price_components"],
    "properties": {
        "price_components": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["type", "price", "step_size"],
            "properties": {"type": {"type": "string",
                                    "enum": ["ENERGY", "FLAT", "PARKING_TIME", "TIME"]},
                           "price": {"type": "number", "minimum": 0},
                           "vat": {"type": "number", "minimum": 0, "maximum": 100},
                           "step_size": {"type": "integer", "minimum": 0}}}},
        "restrictions": {"type": "object", "description": "OCPI TariffRestrictions"}},
}
TARIFF_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["id", "currency", "elements"],
    "description": "OCPI 2.2.1 Tariff; country_code and party_id default to [billing].",
    "properties": {
        "country_code": {"type": "string", "minLength": 2, "maxLength": 2},
        "party_id": {"type": "string", "minLength": 3, "maxLength": 3},
        "id": {"type": "string", "maxLength": 36},
        "currency": {"type": "string", "minLength": 3, "maxLength": 3},
        "type": {"type": "string", "enum": ["AD_HOC_PAYMENT", "PROFILE_CHEAP", "PROFILE_FAST",
                                            "PROFILE_GREEN", "REGULAR"]},
        "tariff_alt_text": {"type": "array", "items": {"type": "object"}},
        "tariff_alt_url": {"type": "string"},
        "min_price": _PRICE, "max_price": _PRICE,
        "elements": {"type": "array", "minItems": 1, "items": ELEMENT_SCHEMA},
        "start_date_time": {"type": "string", "format": "date-time"},
        "end_date_time": {"type": "string", "format": "date-time"},
        "energy_mix": {"type": "object"},
        "last_updated": {"type": "string", "format": "date-time", "readOnly": True},
    },
}
TARIFF_ELEMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"id": {"type": "string", "readOnly": True,
                          "description": "{tariff_id}:{position}"},
                   "tariff_id": {"type": "string"},
                   "tariff_version": {"type": "integer", "readOnly": True},
                   "position": {"type": "integer", "minimum": 1},
                   **ELEMENT_SCHEMA["properties"]},
}


def _tariff_response(row: TariffVersion, status: int = 200) -> web.Response:
    response = json_response(row.data, status)
    response.headers[VERSION_HEADER] = str(row.version)
    return response


def _parse(request: web.Request, body: dict[str, Any]) -> Tariff:
    config = billing_config(request.app)
    try:
        tariff = tariffs.prepare(body, country_code=config.country_code,
                                 party_id=config.party_id, at=utcnow())
    except TariffError as exc:
        raise tariff_error(exc) from None
    if "/" in tariff.id or tariff.id in RESERVED_IDS:
        raise bad_request(f"id: {tariff.id!r} cannot address a tariff in a URL",
                          {"id": ["must not contain '/' nor be 'schedule'"]}, "invalid_tariff")
    return tariff


def _version_param(request: web.Request) -> int | None:
    raw = request.query.get("version")
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise bad_request("version must be a positive integer", {"version": [raw]},
                          "invalid_query")
    return int(raw)


async def _row(session: AsyncSession, tariff_id: str, number: int | None = None
               ) -> TariffVersion:
    row = (await tariffs.current(session, tariff_id) if number is None
           else await tariffs.version(session, tariff_id, number))
    if row is None:
        raise not_found("tariff" if number is None else f"version {number} of tariff")
    return row


async def _store(request: web.Request, tariff: Tariff, change: str,
                 previous: TariffVersion | None) -> TariffVersion:
    """Save ``tariff`` as a new version unless it changes nothing; publish the change.

    ``previous`` is the version the change was made from (None: a new tariff); if another
    version was saved meanwhile, the change is refused rather than silently overwriting it.
    """
    try:
        async with request.app[appkeys.DB].transaction() as work:
            latest = await tariffs.current(work.session, tariff.id)
            if previous is None and latest is not None:
                raise ApiError(409, "conflict", f"tariff {tariff.id!r} already exists")
            if previous is not None and (latest is None or latest.version != previous.version):
                raise _changed_meanwhile(tariff.id)
            if previous is not None and tariffs.same_terms(tariffs.parsed(previous), tariff):
                return previous
            row = await tariffs.save(work, tariff, user_id=user_id(request))
            work.emit(Event("tariff.changed", {"tariff_id": tariff.id, "version": row.version,
                                               "change": change}))
    except IntegrityError:
        raise _changed_meanwhile(tariff.id) from None
    return row


def _changed_meanwhile(tariff_id: str) -> ApiError:
    return ApiError(409, "conflict", f"tariff {tariff_id!r} changed meanwhile; read it again "
                                     f"and retry")


# ---- /api/tariff/ ------------------------------------------------------------------------


async def list_tariffs(request: web.Request) -> web.Response:
    """The current version of every tariff (filters: currency, type, country_code, party_id,
    active=true|false for in force now)."""
    reject_nul(request.query.values())
    only_params(request, (*_FILTERS, "limit", "offset"))
    limit, offset = page(request)
    stmt = select(TariffVersion).where(TariffVersion.is_current.is_(True))
    for name in ("currency", "type", "country_code", "party_id"):
        if name in request.query:
            stmt = stmt.where(getattr(TariffVersion, name) == request.query[name])
    active = request.query.get("active")
    if active is not None:
        if active not in ("true", "false"):
            raise bad_request("active must be true or false", code="invalid_query")
        now = utcnow()
        in_force = and_(or_(TariffVersion.start_date_time.is_(None),
                            TariffVersion.start_date_time <= now),
                        or_(TariffVersion.end_date_time.is_(None),
                            TariffVersion.end_date_time > now))
        stmt = stmt.where(in_force if active == "true" else not_(in_force))
    async with request.app[appkeys.DB].session() as session:
        total = (await session.execute(select(func.count()).select_from(stmt.subquery()))
                 ).scalar_one()
        rows = (await session.execute(stmt.order_by(TariffVersion.tariff_id)
                                      .limit(limit).offset(offset))).scalars().all()
    return json_response(listing(request, [row.data for row in rows], total, limit, offset))


async def create_tariff(request: web.Request) -> web.Response:
    tariff = _parse(request, await json_object(request))
    row = await _store(request, tariff, "created", None)
    response = _tariff_response(row, 201)
    response.headers["Location"] = f"/api/tariff/{tariff.id}/"
    return response


async def get_tariff(request: web.Request) -> web.Response:
    only_params(request, ("version",))
    async with request.app[appkeys.DB].session() as session:
        row = await _row(session, request.match_info["id"], _version_param(request))
    return _tariff_response(row)


async def update_tariff(request: web.Request) -> web.Response:
    """PUT replaces the tariff; PATCH merges the given top-level fields (null removes one)."""
    tariff_id = request.match_info["id"]
    body = await json_object(request)
    async with request.app[appkeys.DB].session() as session:
        current = await _row(session, tariff_id)
    if request.method == "PATCH":
        merged = dict(current.data)
        for key, value in body.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        body = merged
    body.setdefault("id", tariff_id)
    body.setdefault("country_code", current.country_code)
    body.setdefault("party_id", current.party_id)
    if body["id"] != tariff_id:
        raise bad_request("id cannot change", {"id": ["must be the id in the URL"]},
                          "invalid_tariff")
    row = await _store(request, _parse(request, body), "updated", current)
    return _tariff_response(row)


async def end_tariff(request: web.Request) -> web.Response:
    """End the tariff now (a new version), keeping every version for past sessions."""
    async with request.app[appkeys.DB].session() as session:
        current = await _row(session, request.match_info["id"])
    now = utcnow()
    if current.end_date_time is not None and current.end_date_time <= now:
        raise ApiError(409, "conflict", "the tariff has already ended")
    body = dict(current.data)
    body["end_date_time"] = format_datetime(now)
    if current.start_date_time is not None and current.start_date_time >= now:
        body.pop("start_date_time")  # never in force: it ends before it would have begun
    await _store(request, _parse(request, body), "ended", current)
    return web.Response(status=204)


async def tariff_versions(request: web.Request) -> web.Response:
    """Every version of a tariff, newest first (numbers to use with ``?version=``)."""
    only_params(request, ())
    tariff_id = request.match_info["id"]
    async with request.app[appkeys.DB].session() as session:
        rows = (await session.execute(select(TariffVersion).where(
            TariffVersion.tariff_id == tariff_id).order_by(TariffVersion.version.desc()))
        ).scalars().all()
    if not rows:
        raise not_found("tariff")
    results = [{"version": r.version, "current": r.is_current, "last_updated": r.created_at,
                "start_date_time": r.start_date_time, "end_date_time": r.end_date_time,
                "created_by": r.created_by} for r in rows]
    return json_response({"count": len(results), "next": None, "previous": None,
                          "results": results})


# ---- /api/tariffelement/ -----------------------------------------------------------------


def _element(row: TariffVersion, position: int) -> dict[str, Any]:
    element = row.data["elements"][position - 1]
    return {"id": f"{row.tariff_id}:{position}", "tariff_id": row.tariff_id,
            "tariff_version": row.version, "position": position, **element}


def _element_key(raw: str) -> tuple[str, int]:
    tariff_id, _, position = raw.rpartition(":")
    if not tariff_id or not position.isdigit() or int(position) < 1:
        raise not_found("tariffelement")
    return tariff_id, int(position)


def _element_body(body: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(body) - _ELEMENT_FIELDS)
    if unknown:
        raise bad_request(f"unknown field {unknown[0]!r}", {unknown[0]: ["unknown field"]},
                          "invalid_tariff")
    return {key: value for key, value in body.items() if value is not None}


async def _with_elements(request: web.Request, current: TariffVersion,
                         elements: list[Any]) -> TariffVersion:
    body = dict(current.data)
    body["elements"] = elements
    return await _store(request, _parse(request, body), "updated", current)


async def list_elements(request: web.Request) -> web.Response:
    """Elements of the current tariffs, or of one tariff (``?tariff_id=``, ``&version=``)."""
    reject_nul(request.query.values())
    only_params(request, ("tariff_id", "version", "limit", "offset"))
    limit, offset = page(request)
    number = _version_param(request)
    tariff_id = request.query.get("tariff_id")
    if number is not None and tariff_id is None:
        raise bad_request("version needs a tariff_id", code="invalid_query")
    async with request.app[appkeys.DB].session() as session:
        if tariff_id is not None:
            rows = [await _row(session, tariff_id, number)]
        else:
            rows = list((await session.execute(select(TariffVersion).where(
                TariffVersion.is_current.is_(True)).order_by(TariffVersion.tariff_id))
            ).scalars())
    elements = [_element(row, i + 1) for row in rows for i in range(len(row.data["elements"]))]
    return json_response(listing(request, elements[offset:offset + limit], len(elements),
                                 limit, offset))


async def create_element(request: web.Request) -> web.Response:
    """Add an element to a tariff (at ``position``, default last): a new version."""
    body = await json_object(request)
    tariff_id, position = body.pop("tariff_id", None), body.pop("position", None)
    if not isinstance(tariff_id, str):
        raise bad_request("tariff_id is required", {"tariff_id": ["required text"]},
                          "invalid_tariff")
    element = _element_body(body)
    async with request.app[appkeys.DB].session() as session:
        current = await tariffs.current(session, tariff_id)
    if current is None:
        raise bad_request("tariff_id refers to nothing", {"tariff_id": ["no such tariff"]},
                          "invalid_tariff")
    elements = list(current.data["elements"])
    count = len(elements) + 1
    if position is None:
        position = count
    if not isinstance(position, int) or isinstance(position, bool) or not 1 <= position <= count:
        raise bad_request(f"position must be an integer from 1 to {count}",
                          {"position": [str(position)]}, "invalid_tariff")
    elements.insert(position - 1, element)
    row = await _with_elements(request, current, elements)
    return json_response(_element(row, position), 201)


async def _element_target(request: web.Request) -> tuple[TariffVersion, int]:
    tariff_id, position = _element_key(request.match_info["id"])
    async with request.app[appkeys.DB].session() as session:
        current = await tariffs.current(session, tariff_id)
    if current is None or position > len(current.data["elements"]):
        raise not_found("tariffelement")
    return current, position


async def get_element(request: web.Request) -> web.Response:
    only_params(request, ())
    current, position = await _element_target(request)
    return json_response(_element(current, position))


async def update_element(request: web.Request) -> web.Response:
    """PUT replaces the element; PATCH merges price_components/restrictions (null removes)."""
    body = await json_object(request)
    current, position = await _element_target(request)
    elements = list(current.data["elements"])
    if request.method == "PATCH":
        merged = dict(elements[position - 1])
        merged.update(body)
        body = merged
    elements[position - 1] = _element_body(body)
    row = await _with_elements(request, current, elements)
    return json_response(_element(row, position))


async def delete_element(request: web.Request) -> web.Response:
    current, position = await _element_target(request)
    elements = list(current.data["elements"])
    if len(elements) == 1:
        raise ApiError(409, "conflict", "a tariff needs at least one element; end the tariff "
                                        "instead (DELETE /api/tariff/{id}/)")
    del elements[position - 1]
    await _with_elements(request, current, elements)
    return web.Response(status=204)


def routes() -> list[Route]:
    tag = ("tariff",)
    item = "/api/tariff/{id:[^/]+}/"
    element_tag = ("tariffelement",)
    element = "/api/tariffelement/{id:[^/]+}/"
    version_param = ({"name": "version", "in": "query", "schema": {"type": "integer",
                                                                    "minimum": 1}},)
    return [
        Route("GET", "/api/tariff/", list_tariffs, "tariff:read", "tariff-list",
              "List tariffs (current versions, OCPI 2.2.1 Tariff objects)", tag,
              response_schema=TARIFF_SCHEMA,
              query_params=tuple({"name": n, "in": "query", "schema": {"type": "string"}}
                                 for n in _FILTERS)),
        Route("POST", "/api/tariff/", create_tariff, "tariff:write", "tariff-create",
              "Create a tariff (OCPI 2.2.1 Tariff)", tag, request_schema=TARIFF_SCHEMA,
              response_schema=TARIFF_SCHEMA),
        Route("GET", item, get_tariff, "tariff:read", "tariff-detail",
              "Read a tariff (the current version, or ?version=)", tag,
              response_schema=TARIFF_SCHEMA, query_params=version_param),
        Route("PUT", item, update_tariff, "tariff:write", "tariff-replace",
              "Replace a tariff (a new version)", tag, request_schema=TARIFF_SCHEMA,
              response_schema=TARIFF_SCHEMA),
        Route("PATCH", item, update_tariff, "tariff:write", "tariff-update",
              "Change fields of a tariff (a new version)", tag, request_schema={
                  "type": "object", "description": "top-level OCPI Tariff fields; null "
                                                   "removes one"},
              response_schema=TARIFF_SCHEMA),
        Route("DELETE", item, end_tariff, "tariff:delete", "tariff-delete",
              "End a tariff now (a new version; history is kept)", tag),
        Route("GET", "/api/tariff/{id:[^/]+}/versions/", tariff_versions, "tariff:read",
              "tariff-versions", "List the versions of a tariff", tag),
        Route("GET", "/api/tariffelement/", list_elements, "tariff:read",
              "tariffelement-list", "List tariff elements", element_tag,
              response_schema=TARIFF_ELEMENT_SCHEMA,
              query_params=({"name": "tariff_id", "in": "query",
                             "schema": {"type": "string"}}, *version_param)),
        Route("POST", "/api/tariffelement/", create_element, "tariff:write",
              "tariffelement-create", "Add an element to a tariff (a new version)",
              element_tag, request_schema=TARIFF_ELEMENT_SCHEMA,
              response_schema=TARIFF_ELEMENT_SCHEMA),
        Route("GET", element, get_element, "tariff:read", "tariffelement-detail",
              "Read a tariff element ({tariff_id}:{position})", element_tag,
              response_schema=TARIFF_ELEMENT_SCHEMA),
        Route("PUT", element, update_element, "tariff:write", "tariffelement-replace",
              "Replace a tariff element (a new version)", element_tag,
              request_schema=ELEMENT_SCHEMA, response_schema=TARIFF_ELEMENT_SCHEMA),
        Route("PATCH", element, update_element, "tariff:write", "tariffelement-update",
              "Change a tariff element (a new version)", element_tag,
              request_schema={"type": "object"}, response_schema=TARIFF_ELEMENT_SCHEMA),
        Route("DELETE", element, delete_element, "tariff:write", "tariffelement-delete",
              "Remove a tariff element (a new version)", element_tag),
    ]

