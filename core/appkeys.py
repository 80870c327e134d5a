"""Typed keys for what the app holds; plugins read these, never private attributes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy
from aiohttp import web

from core.config import Config

if TYPE_CHECKING:
    from core.csrf import CsrfSigner
    from core.db import Database
    from core.dispatch import Dispatcher
    from core.events import EventBus
    from core.fieldcrypt import FieldCipher
    from core.journal import EventJournal
    from core.ocpp.certificates import StationCA
    from core.rbac import Policy
    from core.rest.routes import Route
    from core.tasks import TaskRegistry
    from core.tokens import TokenService

CONFIG = web.AppKey("config", Config)
PLUGINS = web.AppKey("plugins", pluggy.PluginManager)
DB: web.AppKey[Database] = web.AppKey("db")
EVENTS: web.AppKey[EventBus] = web.AppKey("events")
JOURNAL: web.AppKey[EventJournal] = web.AppKey("journal")
DISPATCHER: web.AppKey[Dispatcher] = web.AppKey("dispatcher")
TASKS: web.AppKey[TaskRegistry] = web.AppKey("tasks")
TOKENS: web.AppKey[TokenService] = web.AppKey("tokens")
CIPHER: web.AppKey[FieldCipher] = web.AppKey("cipher")
POLICY: web.AppKey[Policy] = web.AppKey("policy")
ROUTES: web.AppKey[list[Route]] = web.AppKey("routes")
CSRF: web.AppKey[CsrfSigner] = web.AppKey("csrf")
# None when no CA is configured: stations asking for a certificate are then refused.
STATION_CA: web.AppKey[StationCA | None] = web.AppKey("station_ca")
