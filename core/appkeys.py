"""Typed keys for what the app holds; plugins read these, never private attributes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy
from aiohttp import web

from core.config import Config

if TYPE_CHECKING:
    from core.db import Database
    from core.dispatch import Dispatcher
    from core.events import EventBus
    from core.fieldcrypt import FieldCipher
    from core.rbac import Policy
    from core.rest.routes import Route
    from core.tasks import TaskRegistry
    from core.tokens import TokenService

CONFIG = web.AppKey("config", Config)
PLUGINS = web.AppKey("plugins", pluggy.PluginManager)
DB = web.AppKey("db", "Database")
EVENTS = web.AppKey("events", "EventBus")
DISPATCHER = web.AppKey("dispatcher", "Dispatcher")
TASKS = web.AppKey("tasks", "TaskRegistry")
TOKENS = web.AppKey("tokens", "TokenService")
CIPHER = web.AppKey("cipher", "FieldCipher")
POLICY = web.AppKey("policy", "Policy")
ROUTES = web.AppKey("routes", "list[Route]")
