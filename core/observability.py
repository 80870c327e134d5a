"""Request ids, structured logging, Prometheus metrics and the health check."""

from __future__ import annotations

import contextvars
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from core import appkeys
from core.plugins import registration_order

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID_HEADER = "X-Request-ID"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("ocpp").setLevel(logging.WARNING)


def _valid_request_id(value: str | None) -> str | None:
    if value and len(value) <= 128 and value.isprintable():
        return value
    return None


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    rid = _valid_request_id(request.headers.get(REQUEST_ID_HEADER)) or uuid.uuid4().hex
    token = request_id_var.set(rid)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers[REQUEST_ID_HEADER] = rid
        raise
    finally:
        request_id_var.reset(token)
    if not response.prepared:
        response.headers[REQUEST_ID_HEADER] = rid
    return response


class Metrics:
    """The app's own Prometheus registry (one per app, so several apps can share a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "openv2x_http_requests",
            "HTTP requests by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "openv2x_http_request_seconds",
            "HTTP request latency.",
            ["method", "route"],
            registry=self.registry,
        )


METRICS_OBJ = web.AppKey("metrics_obj", Metrics)


def route_label(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    metrics = request.app[METRICS_OBJ]
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        label = route_label(request)
        metrics.requests.labels(request.method, label, str(status)).inc()
        metrics.latency.labels(request.method, label).observe(time.perf_counter() - started)


async def metrics_view(request: web.Request) -> web.Response:
    """Prometheus text exposition of the app's metrics."""
    body = generate_latest(request.app[METRICS_OBJ].registry)
    response = web.Response(body=body)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response


async def health_view(request: web.Request) -> web.Response:
    """Liveness and readiness: 200 when the database answers, 503 otherwise."""
    app = request.app
    checks: dict[str, Any] = {}
    healthy = True
    try:
        await app[appkeys.DB].ping()
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported as such
        checks["database"] = f"error: {type(exc).__name__}"
        healthy = False
    checks["plugins"] = registration_order(app[appkeys.PLUGINS])
    body = {"status": "ok" if healthy else "unavailable", **checks}
    return web.json_response(body, status=200 if healthy else 503)

