"""``/api/scsp/…``: operators manage optimisation contexts and read their results.

A context has the shape of the SmartChargingOptimisation object (see
:mod:`plugins.ocpi_scsp.optimisation_object`: W, currency/kWh, currency/slot) and is the same
stored object a CPO pushes over OCPI, addressed by its owner and id:
``/api/scsp/context/{country_code}/{party_id}/{id}/``.

- UC-001, static inputs: ``POST /api/scsp/context/`` creates a context (``last_updated``
  defaults to now), ``PUT`` replaces it, ``PATCH`` replaces the top-level fields given,
  ``DELETE`` removes it, ``GET`` reads one or lists them.
- UC-002, dynamic inputs: ``POST …/inputs/`` with any of ``demand``, ``generation``,
  ``price``, ``flex_orders`` (DSO flexibility orders, offsets on ``max_power``) and
  ``capacity_limits`` (absolute caps per slot); elements are merged by ``time_slot`` into the
  stored series, or replace them with ``"replace": true``.
- ``GET …/result/``: the latest optimisation (cost, peak, saving against uncontrolled
  charging, per-session schedule, method, solve time).
- ``GET /api/scsp/estimates/accuracy/?last=N``: how good our battery capacity, charge energy
  and charge time estimates were on the last ``N`` completed sessions (count and MAPE per kind,
  :mod:`plugins.ocpi_scsp.estimate_accuracy`).
- ``"local": true`` on POST, PUT or PATCH makes a context local (:mod:`.local_contexts`): its
  EVSEs are ours, its sessions our own transactions, and its schedules go straight to our
  stations. Without the field a context stays as it is; ``false`` ends it. Contexts are shown
  with their ``local`` flag.

Every change recomputes the context before answering, so the answer carries the new result.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from core import appkeys
from core.db.types import utcnow
from core.ocpi import OcpiError, format_datetime
from core.ocpi.server import base_url
from core.rest.body import int_param, json_object
from core.rest.errors import ApiError, bad_request, not_found
from core.rest.resource import json_response
from core.rest.routes import Route
from plugins.ocpi_scsp import (
    background,
    estimate_accuracy,
    local_contexts,
    local_sessions,
    optimisation_object,
    optimiser,
)
from plugins.ocpi_scsp.optimisation_module import store
from plugins.ocpi_scsp.tables import OptimisationContext, OptimisationResult

READ, WRITE = "scsp:read", "scsp:write"
_SERIES_ITEM = {"type": "object", "properties": {
    "time_slot": {"type": "string", "format": "date-time"}, "value": {"type": "number"}}}
CONTEXT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "SmartChargingOptimisation object: power in W, price in currency/kWh, "
                   "opportunity_cost in currency/slot, peak_price in currency/kW",
    "properties": {
        "country_code": {"type": "string"}, "party_id": {"type": "string"},
        "id": {"type": "string"}, "max_power": {"type": "number"},
        "min_power": {"type": "number"}, "opportunity_cost": {"type": "number"},
        "peak_price": {"type": "number", "minimum": 0},
        "evses": {"type": "array", "items": {"type": "object", "properties": {
            "location_id": {"type": "string"}, "evse_uid": {"type": "string"},
            "connectors": {"type": "array", "items": {"type": "object", "properties": {
                "connector_id": {"type": "string"}, "power": {"type": "number"},
                "discharge_power": {"type": "number"}}}}}}},
        **{name: {"type": "array", "items": _SERIES_ITEM}
           for name in optimisation_object.SERIES},
        "last_updated": {"type": "string", "format": "date-time"},
        "local": {"type": "boolean",
                  "description": "its EVSEs are ours and its schedules drive our stations"},
    },
}
INPUTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {**{name: {"type": "array", "items": _SERIES_ITEM}
                      for name in optimisation_object.SERIES},
                   "replace": {"type": "boolean"}},
}
RESULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Latest optimisation: money as decimal strings, power W, energy Wh",
    "properties": {
        "method": {"type": "string", "nullable": True}, "status": {"type": "string"},
        "solve_time_s": {"type": "number"}, "total_cost": {"type": "string"},
        "energy_cost": {"type": "string"}, "peak_cost": {"type": "string"},
        "saving_vs_uncontrolled": {"type": "string", "nullable": True},
        "peak_import_w": {"type": "number"}, "grid_w": {"type": "array",
                                                        "items": {"type": "number"}},
        "sessions": {"type": "array", "items": {"type": "object"}},
        "error": {"type": "string", "nullable": True},
    },
}
DETAIL_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "context": CONTEXT_SCHEMA, "result": RESULT_SCHEMA}}


def _key(request: web.Request) -> optimiser.ContextKey:
    info = request.match_info
    return info["country_code"].upper(), info["party_id"].upper(), info["id"]


def _validated(body: dict[str, Any]) -> dict[str, Any]:
    try:
        return optimisation_object.validate(body)
    except OcpiError as exc:
        raise bad_request(exc.message) from None


async def _stored(request: web.Request, key: optimiser.ContextKey) -> dict[str, Any]:
    async with request.app[appkeys.DB].session() as session:
        row = await session.get(OptimisationContext, key)
    if row is None:
        raise not_found("optimisation context")
    return dict(row.data)


def _local_field(body: dict[str, Any]) -> bool | None:
    """``local`` taken out of a body: True, False, or None when not given."""
    local = body.pop("local", None)
    if local is not None and not isinstance(local, bool):
        raise bad_request("local must be true or false")
    return local


async def _is_local(request: web.Request, key: optimiser.ContextKey) -> bool:
    async with request.app[appkeys.DB].session() as session:
        return await local_contexts.is_local(session, key)


async def _save_and_solve(request: web.Request, data: dict[str, Any], local: bool | None,
                          status: int = 200) -> web.Response:
    """Store the context (checked first when it is to be local), take up or let go of our
    transactions at its EVSEs, and solve it."""
    app = request.app
    key = (data["country_code"], data["party_id"], data["id"])
    if local is None:
        local = await _is_local(request, key)
    if local:
        problem = await local_contexts.refusal(app[appkeys.DB], key, data)
        if problem is not None:
            raise bad_request(problem)
    await store(app, data)
    await local_contexts.mark(app[appkeys.DB], key, local)
    await local_sessions.sync_context(app, key)
    await background.idle(app)
    result = await optimiser.recompute(app, key, base_url(app, request))
    return json_response({"context": {**data, "local": local}, "result": result},
                         status=status)


def _now() -> str:
    return format_datetime(utcnow())


async def list_contexts(request: web.Request) -> web.Response:
    """Every context, oldest first."""
    async with request.app[appkeys.DB].session() as session:
        rows = (await session.execute(select(OptimisationContext).order_by(
            OptimisationContext.country_code, OptimisationContext.party_id,
            OptimisationContext.id))).scalars().all()
    local = await local_contexts.local_keys(request.app[appkeys.DB])
    return json_response([{**row.data, "local": (row.country_code, row.party_id, row.id)
                           in local} for row in rows])


async def create_context(request: web.Request) -> web.Response:
    """A new context (409 when its owner and id are taken)."""
    body = await json_object(request)
    local = _local_field(body)
    data = _validated({"last_updated": _now(), **body})
    key = (data["country_code"], data["party_id"], data["id"])
    async with request.app[appkeys.DB].session() as session:
        if await session.get(OptimisationContext, key) is not None:
            raise ApiError(409, "conflict", "this optimisation context exists; PUT to replace")
    return await _save_and_solve(request, data, bool(local), status=201)


async def get_context(request: web.Request) -> web.Response:
    key = _key(request)
    data = await _stored(request, key)
    async with request.app[appkeys.DB].session() as session:
        result = await session.get(OptimisationResult, key)
        local = await local_contexts.is_local(session, key)
    return json_response({"context": {**data, "local": local},
                          "result": result.data if result else None})


async def put_context(request: web.Request) -> web.Response:
    key = _key(request)
    body = await json_object(request)
    local = _local_field(body)
    data = _validated({"last_updated": _now(), "country_code": key[0], "party_id": key[1],
                       "id": key[2], **body})
    if (data["country_code"], data["party_id"], data["id"]) != key:
        raise bad_request("country_code, party_id and id must match the URL")
    return await _save_and_solve(request, data, local)


async def patch_context(request: web.Request) -> web.Response:
    key = _key(request)
    body = await json_object(request)
    local = _local_field(body)
    stored = await _stored(request, key)
    try:
        data = optimisation_object.merge_patch(stored, {"last_updated": _now(), **body})
    except OcpiError as exc:
        raise bad_request(exc.message) from None
    return await _save_and_solve(request, data, local)


async def delete_context(request: web.Request) -> web.Response:
    key = _key(request)
    async with request.app[appkeys.DB].transaction() as work:
        row = await work.session.get(OptimisationContext, key)
        if row is None:
            raise not_found("optimisation context")
        await work.session.delete(row)
    await local_contexts.mark(request.app[appkeys.DB], key, False)
    await local_sessions.sync_context(request.app, key)
    await optimiser.recompute(request.app, key, base_url(request.app, request))
    return web.Response(status=204)


def merge_series(stored: list[dict[str, Any]], new: list[dict[str, Any]]
                 ) -> list[dict[str, Any]]:
    """``stored`` with ``new``'s elements added, replacing those of the same time_slot."""
    by_slot = {e["time_slot"]: e for e in stored}
    by_slot.update({e["time_slot"]: e for e in new})
    return [by_slot[k] for k in sorted(by_slot)]


async def post_inputs(request: web.Request) -> web.Response:
    """Dynamic inputs (UC-002): forecasts, prices, flexibility orders and capacity limits."""
    key = _key(request)
    body = await json_object(request)
    unknown = sorted(set(body) - {*optimisation_object.SERIES, "replace"})
    if unknown:
        raise bad_request(f"unknown fields: {', '.join(unknown)}")
    replace = body.get("replace", False)
    if not isinstance(replace, bool):
        raise bad_request("replace must be true or false")
    stored = await _stored(request, key)
    # Validate the new elements alone first, so errors name the posted field.
    posted = _validated({**stored, **{n: body[n] for n in optimisation_object.SERIES
                                      if n in body}})
    data = dict(stored)
    for name in optimisation_object.SERIES:
        if name in body:
            data[name] = posted.get(name, []) if replace else merge_series(
                stored.get(name, []), posted.get(name, []))
    data["last_updated"] = _now()
    return await _save_and_solve(request, _validated(data), None)


async def get_result(request: web.Request) -> web.Response:
    key = _key(request)
    await background.idle(request.app)
    async with request.app[appkeys.DB].session() as session:
        row = await session.get(OptimisationResult, key)
    if row is None:
        raise not_found("optimisation result")
    return json_response(row.data)


#: Default and largest ``last`` of the estimate accuracy report.
ACCURACY_LAST, ACCURACY_LAST_MAX = 100, 10_000
_KIND_SCHEMA = {"type": "object", "properties": {
    "count": {"type": "integer"}, "mape_pct": {"type": "number", "nullable": True}}}
ACCURACY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Estimates against completed sessions: count and MAPE (%) per kind",
    "properties": {
        "sessions": {"type": "integer"},
        "kinds": {"type": "object", "properties": {
            kind: _KIND_SCHEMA for kind in estimate_accuracy.KINDS}}},
}


async def get_estimate_accuracy(request: web.Request) -> web.Response:
    """MAPE of the estimates over the last ``last`` completed sessions (most recent first)."""
    last = int_param(request, "last", ACCURACY_LAST, 1, ACCURACY_LAST_MAX)
    await background.idle(request.app)
    async with request.app[appkeys.DB].session() as session:
        report = await estimate_accuracy.accuracy(session, last)
    return json_response({"last": last, **report})


def routes() -> list[Route]:
    tags = ("scsp",)
    one = "/api/scsp/context/{country_code}/{party_id}/{id}/"
    return [
        Route("GET", "/api/scsp/context/", list_contexts, READ, "scsp-context-list",
              "Optimisation contexts", tags,
              response_schema={"type": "array", "items": CONTEXT_SCHEMA}),
        Route("POST", "/api/scsp/context/", create_context, WRITE, "scsp-context-create",
              "Create an optimisation context (static inputs)", tags,
              request_schema=CONTEXT_SCHEMA, response_schema=DETAIL_SCHEMA),
        Route("GET", one, get_context, READ, "scsp-context-detail",
              "One optimisation context and its latest result", tags,
              response_schema=DETAIL_SCHEMA),
        Route("PUT", one, put_context, WRITE, "scsp-context-replace",
              "Replace an optimisation context", tags, request_schema=CONTEXT_SCHEMA,
              response_schema=DETAIL_SCHEMA),
        Route("PATCH", one, patch_context, WRITE, "scsp-context-update",
              "Change fields of an optimisation context", tags,
              request_schema=CONTEXT_SCHEMA, response_schema=DETAIL_SCHEMA),
        Route("DELETE", one, delete_context, WRITE, "scsp-context-delete",
              "Delete an optimisation context", tags),
        Route("POST", one + "inputs/", post_inputs, WRITE, "scsp-context-inputs",
              "Post dynamic inputs: forecasts, prices, flexibility orders, capacity limits",
              tags, request_schema=INPUTS_SCHEMA, response_schema=DETAIL_SCHEMA),
        Route("GET", one + "result/", get_result, READ, "scsp-context-result",
              "The latest optimisation result of a context", tags,
              response_schema=RESULT_SCHEMA),
        Route("GET", "/api/scsp/estimates/accuracy/", get_estimate_accuracy, READ,
              "scsp-estimate-accuracy",
              "MAPE of the battery and charge-time estimates against completed sessions", tags,
              response_schema=ACCURACY_SCHEMA,
              query_params=({"name": "last", "in": "query", "schema": {
                  "type": "integer", "minimum": 1, "maximum": ACCURACY_LAST_MAX,
                  "default": ACCURACY_LAST}},)),
    ]
