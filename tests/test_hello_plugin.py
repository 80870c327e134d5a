"""The example third-party plugin: discovered when installed, active only when enabled."""

import os
import subprocess
import sys

import openv2x_hello
import pytest
from helpers import browser_session, portal_login

from core import appkeys
from core.config import BUNDLED_PLUGINS
from core.plugins import discover

WITH_HELLO = [*BUNDLED_PLUGINS, "hello"]


def test_installed_plugin_is_discovered_without_import():
    eps = discover()
    assert "hello" in eps
    assert eps["hello"].value == "openv2x_hello"
    assert eps["hello"].dist.metadata["Name"] == "openv2x-hello"


async def test_enabled_plugin_serves_its_route_with_its_permission(openv2x_server, openv2x_db_url):
    server = await openv2x_server(plugins=WITH_HELLO, settings={"hello": {"greeting": "Hoi"}})
    url = server.url("/api/hello/")
    async with server.http.get(url) as resp:
        assert resp.status == 401
    async with server.http.get(url, headers=await server.auth_headers("support_l1")) as resp:
        assert resp.status == 403
    cpo = await server.auth_headers("cpo_manager")
    async with server.http.get(url, headers=cpo) as resp:
        assert resp.status == 200
        before = await resp.json()
    assert before["greeting"] == "Hoi"

    async with server.http.post(server.url("/api/location/"), json={"name": "Depot"},
                                headers=cpo) as resp:
        assert resp.status == 201
    await server.app[appkeys.EVENTS].drain()
    async with server.http.get(url, headers=cpo) as resp:
        after = await resp.json()
    assert after["events_seen"] == before["events_seen"] + 1
    assert after["last_event"] == "location.created"


async def test_enabled_plugin_adds_nav_entry_and_page(openv2x_server):
    server = await openv2x_server(plugins=WITH_HELLO)
    await server.add_user("driver", username="dora")
    await server.add_user("support_l1", username="sam")
    for user, sees in (("dora", True), ("sam", False)):
        async with browser_session() as browser:
            async with await portal_login(browser, server, user):
                pass
            async with browser.get(server.url("/")) as resp:
                assert (">Hello<" in await resp.text()) is sees
            async with browser.get(server.url("/hello"), allow_redirects=False) as resp:
                assert resp.status == (200 if sees else 403)
                if sees:
                    assert "Hello, dora!" in await resp.text()


async def test_disabled_plugin_is_absent(openv2x_server):
    server = await openv2x_server(plugins=BUNDLED_PLUGINS)
    assert server.app[appkeys.PLUGINS].get_plugin("hello") is None
    assert server.app[appkeys.PLUGINS].is_blocked("hello")
    headers = await server.auth_headers("platform_manager")
    async with server.http.get(server.url("/api/hello/"), headers=headers) as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "not_found"
    async with server.http.get(server.url("/api/openapi.json")) as resp:
        assert "/api/hello/" not in (await resp.json())["paths"]


async def test_enabled_plugin_route_is_in_openapi(openv2x_server):
    server = await openv2x_server(plugins=WITH_HELLO)
    async with server.http.get(server.url("/api/openapi.json")) as resp:
        paths = (await resp.json())["paths"]
    assert "hello:read" in paths["/api/hello/"]["get"]["description"]


def _cli(args, tmp_path, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENV2X_")}
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *args], cwd=tmp_path, env={**clean, **env},
        capture_output=True, text=True, timeout=60,
    )


def _plugin_row(output, name):
    return next(line.split() for line in output.splitlines() if line.split()[:1] == [name])


def test_cli_lists_the_plugin_disabled_by_default_and_enabled_on_request(tmp_path):
    listed = _cli(["plugins"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert _plugin_row(listed.stdout, "hello")[1:3] == ["no", "openv2x-hello"]

    enabled = _cli(["plugins"], tmp_path, OPENV2X_PLUGINS_ENABLED="ocpp16,hello")
    assert enabled.returncode == 0, enabled.stderr
    row = _plugin_row(enabled.stdout, "hello")
    assert row[1] == "yes"
    assert "routes," in " ".join(row) and "event," in " ".join(row)
    assert _plugin_row(enabled.stdout, "billing")[1] == "no"


def test_cli_command_contributed_by_the_plugin(tmp_path):
    (tmp_path / "openv2x.toml").write_text(
        '[plugins]\nenabled = ["hello"]\n\n[hello]\ngreeting = "Hallo"\n'
    )
    result = _cli(["hello"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Hallo"
    disabled = _cli(["hello"], tmp_path, OPENV2X_PLUGINS_ENABLED="ocpp16")
    assert disabled.returncode == 2
    assert "invalid choice: 'hello'" in disabled.stderr


def test_bad_plugin_setting_stops_start_up_naming_the_key(tmp_path):
    (tmp_path / "openv2x.toml").write_text(
        '[plugins]\nenabled = ["hello"]\n\n[hello]\ngreting = "x"\n'
    )
    result = _cli(["hello"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "openv2x: error: [hello] greting: unknown key"


@pytest.mark.parametrize("module", [openv2x_hello])
def test_plugin_uses_only_public_core_api(module):
    with open(module.__file__) as fh:
        source = fh.read()
    assert "._" not in source.replace("argparse._SubParsersAction", "")
