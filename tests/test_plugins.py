"""Plugin lifecycle: start-up and shutdown hooks, blocking of disabled plugins."""

import pytest
from sqlalchemy import text

from core import appkeys
from core.app import create_app
from core.plugins import PluginError, hookimpl, load_plugins
from core.testing import config_for_tests


class Lifecycle:
    """Records its lifecycle, using the database in both hooks."""

    def __init__(self):
        self.calls = []

    @hookimpl
    async def openv2x_startup(self, app):
        async with app[appkeys.DB].session() as session:
            await session.execute(text("SELECT 1"))
        self.calls.append("startup")

    @hookimpl
    async def openv2x_shutdown(self, app):
        async with app[appkeys.DB].session() as session:
            await session.execute(text("SELECT 1"))
        self.calls.append("shutdown")


async def test_startup_before_serving_and_shutdown_before_the_database_closes(
    openv2x_server, openv2x_db_url
):
    plugin = Lifecycle()
    server = await openv2x_server(extra_plugins=[("lifecycle", plugin)])
    assert plugin.calls == ["startup"]
    async with server.http.get(server.url("/health")) as resp:
        assert "lifecycle" in (await resp.json())["plugins"]
    await server.server.close()
    assert plugin.calls == ["startup", "shutdown"]


def test_disabled_plugins_are_blocked_before_import():
    pm = load_plugins(["ocpp16"])
    assert pm.get_plugin("ocpp16") is not None
    for name in ("billing", "ocpp201", "routing"):
        assert pm.is_blocked(name)
        assert pm.get_plugin(name) is None


def test_misspelt_hook_names_are_caught():
    class Typo:
        @hookimpl
        def openv2x_startpu(self, app):
            """Misspelt on purpose."""

    with pytest.raises(PluginError, match="openv2x_startpu"):
        load_plugins([], extra=[("typo", Typo())])


def test_create_app_loads_plugins_from_the_config(tmp_path):
    config = config_for_tests(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", tmp_path,
                         plugins=["weather"])
    app = create_app(config)
    assert [name for name, p in app[appkeys.PLUGINS].list_name_plugin() if p] == ["weather"]
