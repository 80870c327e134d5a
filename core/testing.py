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
import shutil
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from core import appkeys
from core.app import create_app, plugin_migration_dirs
from core.bootstrap import plugin_schemas
from core.config import BUNDLED_PLUGINS, Config, load_config
from core.db import Database, migrate
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


class SchemaCache:
    """Fresh migrated databases for each test without an Alembic upgrade each time.

    A full upgrade costs about half a second, paid by every test: SQLite databases are copied
    from a template migrated once per set of migration folders, and a PostgreSQL schema left
    current by the previous test (same folders, same revisions applied) is emptied with one
    TRUNCATE instead of being dropped and migrated again.
    """

    def __init__(self, scratch: Path) -> None:
        self._scratch = scratch
        self._templates: dict[tuple[str, ...], Path] = {}
        self._postgres: tuple[str, tuple[str, ...], frozenset[str]] | None = None

    async def sqlite(self, path: Path, dirs: Sequence[str]) -> None:
        """Put a migrated database at ``path`` unless one is there (a restarted server)."""
        if path.exists():  # noqa: ASYNC240 - one stat, before the test's server exists
            return
        key = tuple(dirs)
        template = self._templates.get(key)
        if template is None:
            template = self._scratch / f"template-{len(self._templates)}.db"
            db = Database(f"sqlite+aiosqlite:///{template}")
            try:
                await migrate.upgrade(db, dirs)
            finally:
                await db.dispose()
            # Everything into the main file, so copying that one file copies the database.
            with sqlite3.connect(template) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._templates[key] = template
        shutil.copyfile(template, path)

    async def postgres(self, url: str, dirs: Sequence[str]) -> None:
        """An empty, current schema: truncated when it is as this cache left it, else rebuilt."""
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                if await _applied(conn) == self._expected(url, dirs):
                    tables = [name for name in (await conn.execute(text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
                    ).scalars() if name != "alembic_version"]
                    if tables:
                        await conn.execute(text("TRUNCATE TABLE {} RESTART IDENTITY CASCADE"
                                                .format(", ".join(f'"{t}"' for t in tables))))
                    return
                await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
        finally:
            await engine.dispose()
        db = Database(url)
        try:
            await migrate.upgrade(db, dirs)
            async with db.engine.connect() as conn:
                self._postgres = (url, tuple(dirs), await _applied(conn) or frozenset())
        finally:
            await db.dispose()

    def _expected(self, url: str, dirs: Sequence[str]) -> frozenset[str] | None:
        if self._postgres is None or self._postgres[:2] != (url, tuple(dirs)):
            return None
        return self._postgres[2]


async def _applied(conn: Any) -> frozenset[str] | None:
    """The revisions recorded in ``alembic_version`` (None without that table)."""
    exists = (await conn.execute(text("SELECT to_regclass('public.alembic_version')"))).scalar()
    if exists is None:
        return None
    return frozenset((await conn.execute(text("SELECT version_num FROM alembic_version")))
                     .scalars())


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

    @pytest.fixture(scope="session")
    def openv2x_schema_cache(tmp_path_factory: pytest.TempPathFactory) -> SchemaCache:
        return SchemaCache(tmp_path_factory.mktemp("openv2x-schemas"))

    @pytest_asyncio.fixture
    async def openv2x_server(
        tmp_path: Path, request: pytest.FixtureRequest, openv2x_schema_cache: SchemaCache
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
            names = [*plugins, *(name for name, _ in extra_plugins)]
            pm = load_plugins(config.enabled_plugins if config else names, extra=extra_plugins)
            dirs = plugin_migration_dirs(pm)
            if url.startswith("postgresql") and not started:
                await openv2x_schema_cache.postgres(url, dirs)
            elif url.startswith("sqlite"):
                database = make_url(url).database
                if database and database != ":memory:":
                    await openv2x_schema_cache.sqlite(Path(database), dirs)
            cfg = config or config_for_tests(
                url,
                tmp_path,
                plugins=names,
                settings=settings,
                plugin_sections={**plugin_schemas(pm), **(plugin_sections or {})},
            )
            app = create_app(cfg, pm=pm)
            if url.startswith("postgresql"):
                await migrate.upgrade(app[appkeys.DB], dirs)
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
