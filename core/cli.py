"""The ``openv2x`` command line."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import socket
import sys
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from marshmallow import ValidationError
from sqlalchemy import select

from core import __version__
from core.app import create_app, plugin_migration_dirs
from core.bootstrap import bootstrap
from core.config import ConfigError
from core.db import Database, DatabaseError, migrate
from core.db.models import ChargingStation
from core.events import Event
from core.fieldcrypt import FieldCipher
from core.observability import configure_logging
from core.ocpi.cli import add_command as add_ocpi_command
from core.passwords import hash_password
from core.plugins import PluginError, describe_plugins
from core.rbac import ROLES
from core.rest.schemas import OCPP_VERSIONS, STATION_ID
from core.secrets import load_keys
from core.simulator.cli import add_command as add_simulate_command
from core.tls import server_context
from core.users import NewUser, UserError, create_user

# Young-generation collections: one per this many allocations (the interpreter default is 700).
GC_YOUNG_THRESHOLD = 10_000

log = logging.getLogger("openv2x")


class CliError(Exception):
    """Shown as ``openv2x: error: …`` with exit status 2."""


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is outside 0-65535")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openv2x", description="OpenV2X charging station management system."
    )
    parser.add_argument("--version", action="version", version=f"openv2x {__version__}")
    parser.add_argument("--config", metavar="FILE", help="TOML config (default ./openv2x.toml)")
    parser.add_argument("--db", metavar="URL", help="database URL (overrides [database] url)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # --config and --db are accepted after the sub-command too.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                        help="TOML config (default ./openv2x.toml)")
    common.add_argument("--db", metavar="URL", default=argparse.SUPPRESS,
                        help="database URL (overrides [database] url)")

    serve = sub.add_parser("serve", help="run the server", parents=[common])
    serve.add_argument("--host", help="address to listen on")
    serve.add_argument("--port", type=_port, help="TCP port (0 picks a free one)")
    serve.set_defaults(func=cmd_serve)

    user = sub.add_parser("user", help="manage users").add_subparsers(
        dest="user_command", metavar="ACTION", required=True
    )
    create = user.add_parser(
        "create", help="create a user (admins are created only here)", parents=[common]
    )
    create.add_argument("--email", required=True)
    create.add_argument("--password", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--username", help="login name (default: generated)")
    create.add_argument("--first-name")
    create.add_argument("--last-name")
    create.set_defaults(func=cmd_user_create)

    station = sub.add_parser("station", help="manage charging stations").add_subparsers(
        dest="station_command", metavar="ACTION", required=True
    )
    add = station.add_parser("add", help="pre-register a charging station", parents=[common])
    add.add_argument("id", metavar="ID", help="the identity the station uses in its OCPP URL")
    add.add_argument("--password", help="HTTP Basic password (Security Profile 1/2), 16-40 chars")
    add.add_argument("--ocpp", choices=OCPP_VERSIONS, help="OCPP version it speaks")
    add.set_defaults(func=cmd_station_add)

    plugins = sub.add_parser(
        "plugins", help="list discovered and enabled plugins", parents=[common]
    )
    plugins.set_defaults(func=cmd_plugins)

    db = sub.add_parser("db", help="database maintenance").add_subparsers(
        dest="db_command", metavar="ACTION", required=True
    )
    upgrade = db.add_parser("upgrade", help="apply pending migrations", parents=[common])
    upgrade.set_defaults(func=cmd_db_upgrade)

    add_simulate_command(sub)
    add_ocpi_command(sub, common, CliError)
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if getattr(args, "db", None):
        out.setdefault("database", {})["url"] = args.db
    if getattr(args, "host", None):
        out.setdefault("server", {})["host"] = args.host
    if getattr(args, "port", None) is not None:
        out.setdefault("server", {})["port"] = args.port
    return out


def _listen_socket(host: str, port: int) -> socket.socket:
    try:
        sock = socket.create_server((host, port), reuse_port=False)
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def cmd_serve(args: argparse.Namespace) -> int:
    config, pm = args.config_obj, args.pm
    server = config["server"]
    sock = _listen_socket(server["host"], server["port"])
    host, port = sock.getsockname()[:2]
    ssl_context = server_context(config)
    app = create_app(config, pm=pm)
    scheme = "https" if ssl_context else "http"
    base = server["public_url"].rstrip("/") or f"{scheme}://{host}:{port}"
    ws_base = base.replace("http", "ws", 1)

    def announce(_app: web.Application) -> None:
        settle_garbage_collector()
        print(f"OpenV2X {__version__} listening on {scheme}://{host}:{port}", flush=True)
        print(f"  portal     {base}/", flush=True)
        print(f"  REST API   {base}/api/  (docs {base}/api/docs)", flush=True)
        print(f"  OCPP       {ws_base}/ocpp/{{station_id}}", flush=True)
        print(f"  health     {base}/health   metrics {base}/metrics", flush=True)

    app.on_startup.append(_async(announce))
    web.run_app(app, sock=sock, print=None, access_log=None, handle_signals=True,
                ssl_context=ssl_context, loop=_event_loop())
    return 0


def settle_garbage_collector() -> None:
    """Keep full garbage collections short and rare once the server is up.

    A running server holds a few hundred thousand objects from start-up (modules, schemas,
    routes) that live as long as it does; with the interpreter's defaults every full
    collection walks all of them, about once a second under load, stalling every station's
    answer for tens of milliseconds each time. Frozen, they are never walked again; a larger
    first threshold lets the many short-lived objects of a message die young instead of being
    promoted.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (not on Windows): a third less CPU per OCPP frame."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _async(fn: Any) -> Any:
    async def wrapper(app: web.Application) -> None:
        fn(app)

    return wrapper


def _database(args: argparse.Namespace) -> Database:
    database = args.config_obj["database"]
    return Database(database["url"], echo=database["echo"], pool_size=database["pool_size"])


async def _prepared_db(args: argparse.Namespace) -> Database:
    db = _database(args)
    await migrate.upgrade(db, plugin_migration_dirs(args.pm))
    return db


def cmd_user_create(args: argparse.Namespace) -> int:
    keys = load_keys(args.config_obj)
    cipher = FieldCipher(keys.encryption)

    async def run() -> str:
        db = await _prepared_db(args)
        try:
            async with db.transaction() as work:
                user = await create_user(
                    work.session,
                    cipher,
                    NewUser(
                        email=args.email,
                        password=args.password,
                        role=args.role,
                        username=args.username,
                        first_name=args.first_name,
                        last_name=args.last_name,
                    ),
                )
                work.emit(Event("user.created", {"id": user.id, "role": user.role}))
                return user.username
        finally:
            await db.dispose()

    try:
        username = asyncio.run(run())
    except UserError as exc:
        raise CliError(str(exc)) from None
    print(f"created {args.role} {username!r} <{args.email}>")
    return 0


def cmd_station_add(args: argparse.Namespace) -> int:
    try:
        STATION_ID(args.id)
    except ValidationError:
        raise CliError(f"station id {args.id!r}: {STATION_ID.error}") from None
    if args.password is not None and not 16 <= len(args.password) <= 40:
        raise CliError("--password: must be 16-40 characters (OCPP Security Profile 1)")

    async def run() -> None:
        db = await _prepared_db(args)
        try:
            async with db.transaction() as work:
                exists = await work.session.execute(
                    select(ChargingStation.id).where(ChargingStation.id == args.id)
                )
                if exists.first() is not None:
                    raise CliError(f"station {args.id!r} already exists")
                work.session.add(
                    ChargingStation(
                        id=args.id,
                        ocpp_version=args.ocpp,
                        password_hash=hash_password(args.password) if args.password else None,
                        registration_status="Accepted",
                    )
                )
                work.emit(Event("station.registered", {"id": args.id}))
        finally:
            await db.dispose()

    asyncio.run(run())
    auth = "with a Basic-auth password" if args.password else "without a password"
    print(f"registered station {args.id!r} {auth}")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    rows = describe_plugins(args.pm)
    width = max((len(r.name) for r in rows), default=4)
    print(f"{'NAME':<{width}}  ENABLED  {'DISTRIBUTION':<16} VERSION   HOOKS")
    for r in rows:
        hooks = ", ".join(h.removeprefix("openv2x_") for h in r.hooks) or "-"
        flag = "yes" if r.enabled else "no"
        print(f"{r.name:<{width}}  {flag:<7}  {r.distribution:<16} {r.version:<9} {hooks}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    async def run() -> None:
        db = _database(args)
        try:
            dirs = plugin_migration_dirs(args.pm)
            before = await migrate.pending(db, dirs)
            await migrate.upgrade(db, dirs)
        finally:
            await db.dispose()
        print(f"database is current ({len(before)} branch head(s) upgraded)")

    asyncio.run(run())
    return 0


def _preparser() -> argparse.ArgumentParser:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    pre.add_argument("--db")
    return pre


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        # Plugins may add sub-commands, so the config (which says which are enabled) comes first.
        pre, _ = _preparser().parse_known_args(argv)
        _, pm = bootstrap(pre.config, overrides=_overrides(pre))
        pm.hook.openv2x_cli(subparsers=_subparsers(parser))
        args = parser.parse_args(argv)
        args.config_obj, args.pm = bootstrap(args.config, overrides=_overrides(args))
        logging_cfg = args.config_obj["logging"]
        configure_logging(logging_cfg["level"], logging_cfg["format"])
        return int(args.func(args))
    except (ConfigError, PluginError, DatabaseError, CliError) as exc:
        print(f"openv2x: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _subparsers(parser: argparse.ArgumentParser) -> Any:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise RuntimeError("parser has no sub-commands")


if __name__ == "__main__":
    sys.exit(main())
