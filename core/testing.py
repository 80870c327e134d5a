"""A pytest plugin for OpenV2X and for third-party plugin authors.

Installed with OpenV2X (entry point ``pytest11``); its fixtures start a real server on
``127.0.0.1`` with a real database and real HTTP:

- ``openv2x_server`` — an async factory: ``server = await openv2x_server(plugins=[...],
  extra_plugins=[("name", module)], settings={...})`` returns a :class:`RunningServer`.
- ``openv2x_db_url`` — the database URL under test (SQLite by default; PostgreSQL when
  ``OPENV2X_TEST_POSTGRES_URL`` is set and the test is parametrised with ``postgres``).

Servers are stopped and databases reset after each test.
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from core import appkeys
from core.app import create_app, plugin_migration_dirs
from core.bootstrap import plugin_schemas
from core.config import BUNDLED_PLUGINS, Config, load_config
from core.db import migrate
from core.plugins import load_plugins
from core.tls import server_context
from core.users import NewUser, create_user

POSTGRES_ENV = "OPENV2X_TEST_POSTGRES_URL"
TEST_SECRET = "test-signing-key-" + "x" * 32
TEST_ENCRYPTION_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()
DEFAULT_PASSWORD = "correct horse battery"


def config_for_tests(
    db_url: str,
    data_dir: Path,
    *,
    plugins: Sequence[str] = BUNDLED_PLUGINS,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    plugin_sections: Mapping[str, Any] | None = None,
) -> Config:
    """A validated config for tests: fixed keys, no config file, no environment."""
    overrides: dict[str, dict[str, Any]] = {
        "database": {"url": db_url},
        "auth": {"secret_key": TEST_SECRET, "encryption_key": TEST_ENCRYPTION_KEY},
        "server": {"data_dir": str(data_dir)},
        "plugins": {"enabled": list(plugins)},
    }
    for section, values in (settings or {}).items():
        overrides.setdefault(section, {}).update(values)
    return load_config(
        None,
        environ={},
        overrides=overrides,
        plugin_sections=plugin_sections,
        known_plugins=plugins,
        default_file=False,
    )


async def reset_postgres(url: str) -> None:
    """Drop everything in the ``public`` schema so each test starts empty."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


@dataclass
class RunningServer:
    """A started OpenV2X app with an HTTP client pointed at it."""

    app: web.Application
    server: TestServer
    http: aiohttp.ClientSession
    users: dict[str, int] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    def url(self, path: str) -> str:
        return self.base_url + path

    async def add_user(
        self, role: str, *, username: str | None = None, email: str | None = None,
        password: str = DEFAULT_PASSWORD, **extra: Any,
    ) -> int:
        """Create a user directly in the database (as the CLI does); returns its id."""
        username = username or f"{role}-{len(self.users) + 1}"
        email = email or f"{username}@example.test"
        async with self.app[appkeys.DB].transaction() as work:
            user = await create_user(
                work.session,
                self.app[appkeys.CIPHER],
                NewUser(email=email, password=password, role=role, username=username, **extra),
            )
            self.users[username] = user.id
            return user.id

    async def token(self, username: str, password: str = DEFAULT_PASSWORD) -> str:
        async with self.http.post(
            self.url("/api/token/"), json={"username": username, "password": password}
        ) as resp:
            body = await resp.json()
            if resp.status != 200:
                raise AssertionError(f"login failed: {resp.status} {body}")
            return str(body["access"])

    async def auth_headers(self, role: str, username: str | None = None) -> dict[str, str]:
        """Create a user with ``role`` (once per username) and return bearer headers."""
        username = username or role
        if username not in self.users:
            await self.add_user(role, username=username)
        return {"Authorization": f"Bearer {await self.token(username)}"}


ServerFactory = Callable[..., Awaitable[RunningServer]]


try:
    import pytest
    import pytest_asyncio
except ImportError:  # pragma: no cover - the plugin is inert without the test extra
    pass
else:

    def pytest_configure(config: pytest.Config) -> None:
        config.addinivalue_line(
            "markers", "postgres: runs against PostgreSQL (needs OPENV2X_TEST_POSTGRES_URL)"
        )

    @pytest.fixture(params=["sqlite", "postgres"])
    def openv2x_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
        """Every test using it runs once on SQLite and once on PostgreSQL."""
        if request.param == "sqlite":
            return f"sqlite+aiosqlite:///{tmp_path / 'openv2x.db'}"
        url = os.environ.get(POSTGRES_ENV)
        if not url:
            pytest.skip(f"PostgreSQL not configured: set {POSTGRES_ENV} to run this variant")
        return url

    @pytest.fixture
    def openv2x_sqlite_url(tmp_path: Path) -> str:
        """For tests that are about something other than the database."""
        return f"sqlite+aiosqlite:///{tmp_path / 'openv2x.db'}"

    @pytest_asyncio.fixture
    async def openv2x_server(
        tmp_path: Path, request: pytest.FixtureRequest
    ) -> AsyncIterator[ServerFactory]:
        started: list[RunningServer] = []
        default_url = (
            request.getfixturevalue("openv2x_db_url")
            if "openv2x_db_url" in request.fixturenames
            else f"sqlite+aiosqlite:///{tmp_path / 'openv2x.db'}"
        )

        async def factory(
            *,
            db_url: str | None = None,
            plugins: Sequence[str] = BUNDLED_PLUGINS,
            extra_plugins: Sequence[tuple[str, object]] = (),
            settings: Mapping[str, Mapping[str, Any]] | None = None,
            plugin_sections: Mapping[str, Any] | None = None,
            config: Config | None = None,
        ) -> RunningServer:
            url = db_url or default_url
            if url.startswith("postgresql") and not started:
                await reset_postgres(url)
            names = [*plugins, *(name for name, _ in extra_plugins)]
            pm = load_plugins(config.enabled_plugins if config else names, extra=extra_plugins)
            cfg = config or config_for_tests(
                url,
                tmp_path,
                plugins=names,
                settings=settings,
                plugin_sections={**plugin_schemas(pm), **(plugin_sections or {})},
            )
            app = create_app(cfg, pm=pm)
            if url.startswith("postgresql"):
                await migrate.upgrade(app[appkeys.DB], plugin_migration_dirs(app[appkeys.PLUGINS]))
            server = TestServer(app, host="127.0.0.1", port=0)
            await server.start_server(ssl=server_context(cfg))
            http = aiohttp.ClientSession()
            running = RunningServer(app, server, http)
            started.append(running)
            return running

        yield factory
        for running in reversed(started):
            await running.http.close()
            await running.server.close()
