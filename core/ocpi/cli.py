"""``openv2x ocpi token-a`` and ``openv2x ocpi register``.

Both work on the database the server uses. ``register`` needs the server running (the partner
calls our versions endpoint back while it handles our registration), reachable at
``[server] public_url`` (or host/port).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from core import appkeys
from core.app import create_app, plugin_migration_dirs
from core.db import migrate
from core.ocpi import registration
from core.ocpi.client import OcpiClient
from core.ocpi.platform import OcpiPlatform
from core.ocpi.server import PLATFORMS, base_url, versions_url

ROLES = ("cpo", "scsp")


class OcpiCliError(Exception):
    """Reported by the CLI as one line."""


def add_command(sub: argparse._SubParsersAction[Any], common: argparse.ArgumentParser,
                error: type[Exception]) -> None:
    ocpi = sub.add_parser("ocpi", help="OCPI roaming connections").add_subparsers(
        dest="ocpi_command", metavar="ACTION", required=True)
    token = ocpi.add_parser("token-a", parents=[common],
                            help="print a fresh token A for a partner's registration")
    token.add_argument("--role", choices=ROLES, required=True, help="our OCPI platform")
    token.add_argument("--allow-missing-request-ids", action="store_true",
                       help="accept the registering partner's requests without X-Request-ID / "
                            "X-Correlation-ID (software that never sends them)")
    token.set_defaults(func=lambda args: _run(args, error, _token_a))
    reg = ocpi.add_parser("register", parents=[common],
                          help="register with a partner or hub (the server must be running)")
    reg.add_argument("--role", choices=ROLES, required=True, help="our OCPI platform")
    reg.add_argument("--url", required=True, help="the partner's versions URL")
    reg.add_argument("--token", required=True, help="the token A the partner gave us")
    reg.add_argument("--raw-tokens", action="store_true",
                     help="the partner sends and expects tokens without Base64")
    reg.add_argument("--allow-missing-request-ids", action="store_true",
                     help="accept the partner's requests without X-Request-ID / "
                          "X-Correlation-ID (software that never sends them)")
    reg.set_defaults(func=lambda args: _run(args, error, _register))


def _run(args: argparse.Namespace, error: type[Exception], job: Any) -> int:
    url = getattr(args, "url", None)
    if url is not None and not url.startswith(("http://", "https://")):
        raise error("--url: give the partner's versions URL (http:// or https://)")
    try:
        return int(asyncio.run(_with_app(args, job)))
    except (OcpiCliError, registration.RegistrationError) as exc:
        raise error(str(exc)) from None


async def _with_app(args: argparse.Namespace, job: Any) -> int:
    app = create_app(args.config_obj, pm=args.pm)
    platform = app[PLATFORMS].get(args.role)
    if platform is None:
        raise OcpiCliError(f"OCPI platform {args.role!r} is not served: enable its plugin "
                           f"(ocpi_{args.role})")
    db = app[appkeys.DB]
    await migrate.upgrade(db, plugin_migration_dirs(args.pm))
    app[registration.CLIENT] = OcpiClient(args.config_obj["ocpi"]["request_timeout"])
    try:
        return int(await job(app, platform, args))
    finally:
        await app[registration.CLIENT].close()
        await db.dispose()


async def _token_a(app: Any, platform: OcpiPlatform, args: argparse.Namespace) -> int:
    token = await registration.issue_token_a(
        app, platform.name, allow_missing_ids=args.allow_missing_request_ids)
    print(f"give the partner our versions URL {versions_url(base_url(app), platform.name)}")
    print("and this token A (valid for one registration):")
    print(token)
    return 0


async def _register(app: Any, platform: OcpiPlatform, args: argparse.Namespace) -> int:
    own = versions_url(base_url(app), platform.name)
    partner = await registration.register(app, platform, args.url, args.token, own,
                                          raw_tokens=args.raw_tokens,
                                          allow_missing_ids=args.allow_missing_request_ids)
    parties = ", ".join(sorted(f"{p.country_code}*{p.party_id}" for p in partner.parties))
    print(f"registered with {partner.name or args.url} ({parties}) as partner {partner.id}")
    return 0
