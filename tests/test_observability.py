"""Health, metrics, request ids and structured logging."""

import io
import json
import logging

from core import appkeys
from core.db import Database
from core.observability import JsonFormatter, RequestIdFilter, configure_logging, request_id_var


async def test_health_reports_database_and_plugins(openv2x_server, openv2x_db_url):
    server = await openv2x_server(plugins=["ocpp16", "billing"])
    async with server.http.get(server.url("/health")) as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "ok", "database": "ok",
                                     "plugins": ["ocpp16", "billing"]}


async def test_health_is_503_when_the_database_is_unreachable(openv2x_server):
    server = await openv2x_server()
    healthy = server.app[appkeys.DB]
    # An outage of the external database server: point the check at a port nobody listens on.
    outage = Database("postgresql+asyncpg://nobody@127.0.0.1:9/none")
    server.app[appkeys.DB].ping = outage.ping
    try:
        async with server.http.get(server.url("/health")) as resp:
            assert resp.status == 503
            body = await resp.json()
        assert body["status"] == "unavailable"
        assert body["database"].startswith("error: ")
    finally:
        await outage.dispose()
        del healthy.ping


async def test_metrics_count_requests_by_route(openv2x_server):
    server = await openv2x_server()
    for _ in range(3):
        async with server.http.get(server.url("/api/location/nope/")) as resp:
            assert resp.status == 401
    async with server.http.get(server.url("/metrics")) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        text = await resp.text()
    line = ('openv2x_http_requests_total{method="GET",route="/api/location/{id}/",'
            'status="401"} 3.0')
    assert line in text
    assert "openv2x_http_request_seconds_bucket" in text


async def test_request_ids(openv2x_server):
    server = await openv2x_server()
    async with server.http.get(server.url("/health"), headers={"X-Request-ID": "abc-123"}) as r:
        assert r.headers["X-Request-ID"] == "abc-123"
    async with server.http.get(server.url("/health")) as resp:
        generated = resp.headers["X-Request-ID"]
    assert len(generated) == 32
    async with server.http.get(server.url("/health"), headers={"X-Request-ID": "x" * 500}) as r:
        assert r.headers["X-Request-ID"] != "x" * 500
    async with server.http.get(server.url("/api/nothing/")) as resp:
        assert resp.status == 404 and resp.headers["X-Request-ID"]


def test_json_log_lines_carry_the_request_id():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("openv2x.test")
    logger.addHandler(handler)
    token = request_id_var.set("rid-1")
    try:
        logger.warning("station %s said hello", "CP1")
    finally:
        request_id_var.reset(token)
        logger.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert entry["request_id"] == "rid-1"
    assert entry["message"] == "station CP1 said hello"
    assert entry["level"] == "WARNING"


def test_configure_logging_installs_one_handler():
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("DEBUG", "json")
        assert len(root.handlers) == 1
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
        assert root.level == logging.DEBUG
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
