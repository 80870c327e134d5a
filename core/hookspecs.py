"""The hooks OpenV2X plugins implement: this file tells what the system can be extended with.

Conventions:
- Every hook receives keyword arguments only (pluggy passes them by name); implement only the
  arguments you need.
- Hooks marked *may be async* may return an awaitable; the core awaits it with
  :func:`core.plugins.await_me_maybe`. All other hooks must return plain values.
- Hooks returning lists are collected from every plugin (pluggy returns one result per plugin);
  hooks marked *firstresult* stop at the first non-``None`` answer.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import argparse

    from aiohttp import web
    from marshmallow import Schema

    from core.events import Event
    from core.journal import DurableSubscriber
    from core.nav import NavItem
    from core.ocpi.platform import OcpiPlatform
    from core.ocpp.protocol import OcppProtocol
    from core.rbac import Grant
    from core.rest.routes import Route
    from core.stations import DataTransferReply

hookspec = pluggy.HookspecMarker("openv2x")


@hookspec
def openv2x_config_schema() -> type[Schema] | None:
    """Declare this plugin's config section.

    Called once at start-up, after the enabled plugins are registered and before the app is
    built. Return a marshmallow ``Schema`` class; its fields (with ``load_default`` and
    ``metadata={"help": ...}``) become the keys of the TOML section named after the plugin's
    entry point (``[hello]`` for entry point ``hello``), overridable with
    ``OPENV2X_<PLUGIN>_<KEY>``. Unknown keys and bad values stop start-up.
    """


@hookspec
def openv2x_migrations() -> str | None:
    """Return the folder of this plugin's Alembic revisions, or ``None``.

    Called when the database is upgraded (``openv2x db upgrade`` and on SQLite start-up). The
    plugin's first revision must have ``down_revision = None`` and a ``branch_labels`` entry
    equal to the plugin name, so every plugin's tables form their own branch; tables are declared
    on :class:`core.db.models.Base` so they share the core's metadata. A folder named
    ``migrations`` inside the plugin's package is found without this hook, for every installed
    plugin, enabled or not: a database a plugin once migrated stays upgradable after the plugin
    is disabled. Return a folder here only when the revisions live elsewhere.
    """


@hookspec
def openv2x_routes(app: web.Application) -> list[Route] | None:
    """Contribute HTTP routes.

    Called once while the app is built. Return :class:`core.rest.routes.Route` objects; each
    names the permission it needs (or ``PUBLIC``) and the core enforces it before the handler
    runs. Routes under ``/api/`` appear in the OpenAPI document.
    """


@hookspec
def openv2x_permissions() -> list[Grant] | None:
    """Grant permissions that this plugin's routes introduce to roles.

    Called once at start-up. Return :class:`core.rbac.Grant` objects. Permissions not granted to a
    role are denied to it (deny by default); ``platform_manager`` receives every permission.
    """


@hookspec
def openv2x_startup(app: web.Application) -> Awaitable[None] | None:
    """Start this plugin's background work. *May be async.*

    Called after the database is ready and before the server accepts connections; each plugin's
    result is awaited before the next is called (pluggy order: last registered first). Keep
    references to created tasks; stop them in ``openv2x_shutdown``.
    """


@hookspec
def openv2x_shutdown(app: web.Application) -> Awaitable[None] | None:
    """Stop what ``openv2x_startup`` started. *May be async.*

    Called when the server stops, after connections are closed and before the database closes.
    """


@hookspec
def openv2x_event(event: Event, app: web.Application) -> Awaitable[None] | None:
    """React to a domain event. *May be async.*

    Called for every event published on the app's event bus, after the database commit that
    produced it (``station.connected``, ``transaction.started``, ``user.created``, …; see
    :mod:`core.events`). Exceptions are logged and do not affect other subscribers.
    """


@hookspec
def openv2x_durable_subscribers(app: web.Application) -> list[DurableSubscriber] | None:
    """Declare event handlers that must see every event they name, even across a crash.

    Called once at start-up, before anything is served. Each
    :class:`core.journal.DurableSubscriber` gets the events it names journaled in the
    transaction that emitted them and handed over again at the next start if the process died
    before its handler returned (at least once: handlers must tolerate a repeat). Use it for
    promises made outside the process, such as pushes to roaming partners; ``openv2x_event``
    is enough for everything else.
    """


@hookspec
def openv2x_nav_items(request: web.Request) -> list[NavItem] | None:
    """Contribute portal navigation entries.

    Called for each rendered portal page. Return :class:`core.nav.NavItem` objects; entries whose
    permission the signed-in user lacks are not shown.
    """


@hookspec
def openv2x_template_dirs() -> list[str] | None:
    """Return folders of Jinja2 templates this plugin's portal pages use.

    Called once while the app is built; the core's ``web/templates`` is searched last, so a plugin
    may extend ``base.html``.
    """


@hookspec
def openv2x_ocpp_protocols(app: web.Application) -> list[OcppProtocol] | None:
    """Offer OCPP versions on ``/ocpp/{station_id}``.

    Called once while the app is built. Return :class:`core.ocpp.protocol.OcppProtocol` objects,
    one per WebSocket subprotocol (``ocpp1.6``, ``ocpp2.0.1``, ``ocpp2.1``). The core negotiates the
    subprotocol, admits the station and hands each text frame to the protocol's session.
    """


@hookspec
def openv2x_data_transfer(
    app: web.Application, station_id: str, vendor_id: str, message_id: str | None,
    data: str | None,
) -> Awaitable[DataTransferReply | None] | DataTransferReply | None:
    """Answer a station's vendor-specific DataTransfer. *May be async.*

    Called for every DataTransfer a station sends (any OCPP version). Return a
    :class:`core.stations.DataTransferReply` for the ``vendor_id`` values the plugin owns and
    ``None`` for the others; the first reply (in pluggy's call order) is used, and when no plugin
    answers the station gets ``UnknownVendorId``.
    """


@hookspec
def openv2x_cli(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add sub-commands to the ``openv2x`` command line.

    Called while the CLI is built, with the top-level sub-parser collection. Set
    ``func=callable(args) -> int`` as the parser default; it runs with the loaded config in
    ``args.config_obj``.
    """


@hookspec
def openv2x_ocpi_platforms(app: web.Application) -> list[OcpiPlatform] | None:
    """Serve OCPI 2.2.1 platforms.

    Called once while the app is built. Return :class:`core.ocpi.platform.OcpiPlatform`
    objects: each is served under ``/ocpi/{name}/`` with its own versions, version details,
    credentials and partners; the core does the transport (tokens, envelope, headers, routing
    checks) and hands module requests to the declared handlers.
    """


@hookspec
def openv2x_authorize_token(
    app: web.Application, station_id: str, id_token: str, token_type: str,
    evse_number: int | None, ocpp_version: str,
) -> Awaitable[str | None] | str | None:
    """Give a verdict on a token presented at a station, from outside the CSMS. *May be async.*

    Called before Authorize, StartTransaction (1.6) and a TransactionEvent carrying an idToken
    (2.x) are stored, outside the database transaction, so it may call a partner (OCPI
    real-time authorization). Return an OCPP authorization status of ``ocpp_version``
    (``Accepted``, ``Blocked``, ``Expired``, ``Invalid`` …) to replace the local verdict, or
    ``None`` to keep it. The first plugin with a verdict decides. Keep it quick for tokens the
    plugin does not handle: it runs on every authorization.
    """
