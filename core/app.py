"""The app factory: one aiohttp application serving OCPP, REST, OCPI, the portal and metrics."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import aiohttp_jinja2
import jinja2
import pluggy
from aiohttp import web

from core import appkeys, portal
from core.config import Config
from core.csrf import CsrfSigner
from core.db import Database, DatabaseError, migrate
from core.dispatch import Dispatcher
from core.events import Event, LocalEventBus
from core.fieldcrypt import FieldCipher
from core.journal import EventJournal
from core.observability import (
    METRICS_OBJ,
    Metrics,
    health_view,
    metrics_middleware,
    metrics_view,
    request_id_middleware,
)
from core.ocpi import server as ocpi_server
from core.ocpi.lifecycle import ocpi_context
from core.ocpp import server as ocpp_server
from core.ocpp.certificates import StationCA
from core.plugins import await_me_maybe, flatten, installed_migration_dirs, load_plugins
from core.rbac import CORE_GRANTS, PUBLIC, Policy
from core.rest import api, errors, routes
from core.secrets import load_keys
from core.tasks import TaskRegistry
from core.tokens import TokenService

log = logging.getLogger(__name__)
WEB_DIR = Path(__file__).resolve().parent.parent / "web"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def plugin_migration_dirs(pm: pluggy.PluginManager) -> list[str]:
    """Every installed plugin's ``migrations`` folder plus those the enabled plugins name."""
    dirs = installed_migration_dirs()
    dirs += [d for d in pm.hook.openv2x_migrations() if d and d not in dirs]
    return dirs


async def _database(app: web.Application) -> AsyncIterator[None]:
    config = app[appkeys.CONFIG]
    db = app[appkeys.DB]
    dirs = plugin_migration_dirs(app[appkeys.PLUGINS])
    try:
        if db.is_sqlite and config["database"]["auto_migrate"]:
            await migrate.upgrade(db, dirs)
        elif missing := await migrate.pending(db, dirs):
            raise DatabaseError(
                f"database schema is not current (pending: {', '.join(missing)}); "
                "run `openv2x db upgrade`"
            )
    except BaseException:
        await db.dispose()
        raise
    yield
    await db.dispose()


async def _events(app: web.Application) -> AsyncIterator[None]:
    bus = app[appkeys.EVENTS]
    pm = app[appkeys.PLUGINS]

    async def to_plugins(event: Event) -> None:
        for result in pm.hook.openv2x_event(event=event, app=app):
            await await_me_maybe(result)

    journal = app[appkeys.JOURNAL]
    for subscriber in flatten(pm.hook.openv2x_durable_subscribers(app=app)):
        journal.add(subscriber)
    unsubscribe = [bus.subscribe(journal.deliver), bus.subscribe(to_plugins)]
    app[appkeys.DB].before_commit = journal.record
    app[appkeys.DB].on_commit = bus.publish
    yield
    await bus.close()
    await journal.close()
    for stop in unsubscribe:
        stop()


async def _tasks(app: web.Application) -> AsyncIterator[None]:
    registry = app[appkeys.TASKS]
    interrupted = await registry.recover()
    if interrupted:
        log.warning("%d task(s) from a previous run marked interrupted", interrupted)
    yield
    await registry.close()


async def _plugins(app: web.Application) -> AsyncIterator[None]:
    pm = app[appkeys.PLUGINS]
    for result in pm.hook.openv2x_startup(app=app):
        await await_me_maybe(result)
    # Before anything is served: what a crashed process committed but never delivered.
    if replayed := await app[appkeys.JOURNAL].replay():
        log.warning("%d journaled event(s) of a previous run delivered again", replayed)
    yield
    for result in pm.hook.openv2x_shutdown(app=app):
        await await_me_maybe(result)


def _is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map failures to the caller's protocol: JSON errors under /api/, pages elsewhere."""
    try:
        return await handler(request)
    except errors.ApiError as exc:
        if _is_api(request):
            return exc.response()
        return await portal.error_page(request, exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400 or not _is_api(request):
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
        return errors.error_response(exc.status, code.get(exc.status, "http_error"), exc.reason)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if _is_api(request):
            return errors.error_response(500, "internal_error", "internal server error")
        return await portal.error_page(request, 500, "internal server error")


def build_policy(pm: pluggy.PluginManager) -> Policy:
    return Policy([*CORE_GRANTS, *flatten(pm.hook.openv2x_permissions())])


def create_app(
    config: Config,
    *,
    pm: pluggy.PluginManager | None = None,
    extra_plugins: Sequence[tuple[str, object]] = (),
) -> web.Application:
    """Build the application for ``config``.

    ``pm`` is the already-loaded plugin manager (the CLI loads it while reading the config);
    without it, the enabled plugins are loaded here, with ``extra_plugins`` registered beside them.
    """
    if pm is None:
        pm = load_plugins(config.enabled_plugins, extra=extra_plugins)
    # Before load_keys, which may write generated secrets: a bad CA setting changes nothing.
    station_ca = StationCA.from_config(config)
    keys = load_keys(config)
    auth = config["auth"]
    app = web.Application(
        client_max_size=config["server"]["max_body_bytes"],
        middlewares=[
            request_id_middleware,
            metrics_middleware,
            error_middleware,
        ],
    )
    app[appkeys.CONFIG] = config
    app[appkeys.PLUGINS] = pm
    app[METRICS_OBJ] = Metrics()
    database = config["database"]
    app[appkeys.DB] = Database(
        database["url"], echo=database["echo"], pool_size=database["pool_size"]
    )
    app[appkeys.EVENTS] = LocalEventBus()
    app[appkeys.JOURNAL] = EventJournal(app[appkeys.DB])
    app[appkeys.DISPATCHER] = Dispatcher()
    app[appkeys.TASKS] = TaskRegistry(app[appkeys.DB], app[appkeys.DISPATCHER])
    app[appkeys.TOKENS] = TokenService(
        keys.signing,
        {
            "access": auth["access_token_ttl"],
            "refresh": auth["refresh_token_ttl"],
            "session": auth["session_ttl"],
        },
    )
    app[appkeys.CIPHER] = FieldCipher(keys.encryption)
    app[appkeys.CSRF] = CsrfSigner(keys.signing)
    app[appkeys.STATION_CA] = station_ca
    app[appkeys.POLICY] = build_policy(pm)
    app[appkeys.ROUTES] = []

    template_dirs = [*flatten(pm.hook.openv2x_template_dirs()), str(WEB_DIR / "templates")]
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(template_dirs),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    app.router.add_static("/static/", WEB_DIR / "static", name="static")

    routes.install(
        app,
        [
            routes.Route("GET", "/health", health_view, PUBLIC, "health", in_openapi=False),
            routes.Route("GET", "/metrics", metrics_view, PUBLIC, "metrics", in_openapi=False),
            *api.core_routes(),
            *portal.portal_routes(),
            *ocpp_server.setup(app),
            *flatten(pm.hook.openv2x_routes(app=app)),
        ],
    )
    ocpi_server.install(app, flatten(pm.hook.openv2x_ocpi_platforms(app=app)))
    app.cleanup_ctx.extend([_database, _events, _tasks, ocpi_context, _plugins])
    return app
