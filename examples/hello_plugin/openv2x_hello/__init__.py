"""Example OpenV2X plugin: a REST route, a portal page with a nav entry, an event subscriber.

It uses only hooks and the core's public API, as every plugin should.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from marshmallow import Schema, fields, validate

from core import appkeys
from core.events import Event
from core.nav import NavItem
from core.plugins import hookimpl
from core.portal import render
from core.rbac import Grant
from core.rest.routes import Route

PERMISSION = "hello:read"


@dataclass
class Counter:
    seen: int = 0
    last: str | None = None


COUNTER: web.AppKey[Counter] = web.AppKey("hello_counter")


class HelloSettings(Schema):
    greeting = fields.String(
        load_default="Hello",
        validate=validate.Length(min=1, max=80),
        metadata={"help": "What the plugin says."},
    )


def _greeting(app: web.Application) -> str:
    return str(app[appkeys.CONFIG].get("hello").get("greeting", "Hello"))


async def hello_api(request: web.Request) -> web.Response:
    """The greeting and what the plugin has seen on the event bus."""
    counter = request.app[COUNTER]
    body = {"greeting": _greeting(request.app), "events_seen": counter.seen,
            "last_event": counter.last}
    return web.json_response(body)


async def hello_page(request: web.Request) -> web.StreamResponse:
    """A portal page extending the core's layout."""
    return await render(
        request, "hello.html", {"greeting": _greeting(request.app), "counter": request.app[COUNTER]}
    )


@hookimpl
def openv2x_config_schema() -> type[Schema]:
    return HelloSettings


@hookimpl
def openv2x_routes(app: web.Application) -> list[Route]:
    return [
        Route("GET", "/api/hello/", hello_api, PERMISSION, "hello-api", "Say hello", ("hello",)),
        Route("GET", "/hello", hello_page, PERMISSION, "hello-page", in_openapi=False),
    ]


@hookimpl
def openv2x_permissions() -> list[Grant]:
    return [Grant("cpo_manager", PERMISSION), Grant("driver", PERMISSION)]


@hookimpl
def openv2x_nav_items(request: web.Request) -> list[NavItem]:
    return [NavItem("Hello", "/hello", permission=PERMISSION, order=900)]


@hookimpl
def openv2x_template_dirs() -> list[str]:
    return [str(Path(__file__).parent / "templates")]


@hookimpl
def openv2x_startup(app: web.Application) -> None:
    app[COUNTER] = Counter()


@hookimpl
async def openv2x_event(event: Event, app: web.Application) -> None:
    counter = app[COUNTER]
    counter.seen += 1
    counter.last = event.name


@hookimpl
def openv2x_cli(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("hello", help="print the configured greeting")
    parser.set_defaults(func=_cli_hello)


def _cli_hello(args: argparse.Namespace) -> int:
    print(args.config_obj.get("hello").get("greeting", "Hello"))
    return 0
