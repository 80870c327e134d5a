"""``openv2x ocpi token-a`` and ``openv2x ocpi register``, run as real subprocesses against the
database of a running server, with an independent eMSP peer on the other side."""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ocpi_peers import EmspPeer
from test_cli import cli

PLUGINS = ["ocpp16", "billing", "ocpi_cpo"]


def db_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'openv2x.db'}"


async def run(tmp_path: Path, *args: str, **env: str) -> Any:
    return await asyncio.to_thread(cli, tmp_path, *args, **env)


async def test_token_a_lets_a_partner_register_and_may_excuse_its_request_ids(
        tmp_path: Path, openv2x_server: Any) -> None:
    strict = await run(tmp_path, "ocpi", "token-a", "--role", "cpo")
    lenient = await run(tmp_path, "ocpi", "token-a", "--role", "cpo",
                        "--allow-missing-request-ids")
    assert strict.returncode == lenient.returncode == 0, (strict.stderr, lenient.stderr)
    assert "/ocpi/cpo/versions" in lenient.stdout
    tokens = [r.stdout.strip().splitlines()[-1] for r in (strict, lenient)]
    server = await openv2x_server(db_url=db_url(tmp_path), plugins=PLUGINS)
    async with EmspPeer("DE", "EMS") as first, EmspPeer("FR", "EMF") as second:
        for peer, token in zip((first, second), tokens, strict=True):
            partner = await peer.register_with(server.url("/ocpi/cpo/versions"), token)
            assert partner.registered and partner.token_out
        async with aiohttp.ClientSession() as http:
            for peer, expected in ((first, 400), (second, 200)):
                assert peer.partner is not None
                token = base64.b64encode((peer.partner.token_out or "").encode()).decode()
                async with http.get(server.url("/ocpi/cpo/2.2.1/locations"),
                                    headers={"Authorization": "Token " + token}) as resp:
                    assert resp.status == expected, await resp.text()
    # A token A is good for one registration only.
    async with EmspPeer("NL", "EMN") as late:
        with pytest.raises(Exception):  # noqa: B017 - the peer raises its own error type
            await late.register_with(server.url("/ocpi/cpo/versions"), tokens[0])
    with sqlite3.connect(tmp_path / "openv2x.db") as conn:
        assert conn.execute("SELECT count(*) FROM ocpi_partner").fetchone() == (2,)


async def test_register_with_a_partner_from_the_command_line(
        tmp_path: Path, openv2x_server: Any) -> None:
    server = await openv2x_server(db_url=db_url(tmp_path), plugins=PLUGINS)
    async with EmspPeer("DE", "EMS") as peer:
        done = await run(tmp_path, "ocpi", "register", "--role", "cpo",
                         "--url", peer.versions_url, "--token", peer.issue_token_a(),
                         "--allow-missing-request-ids",
                         OPENV2X_SERVER_PUBLIC_URL=server.base_url,
                         OPENV2X_PLUGINS_ENABLED=",".join(PLUGINS))
        assert done.returncode == 0, done.stderr
        assert "registered with" in done.stdout and "DE*EMS" in done.stdout
        assert peer.partner is not None and peer.partner.registered
    with sqlite3.connect(tmp_path / "openv2x.db") as conn:
        assert conn.execute("SELECT status, allow_missing_ids FROM ocpi_partner").fetchall() == [
            ("registered", 1)]
    refused = await run(tmp_path, "ocpi", "register", "--role", "cpo", "--url", "ftp://x",
                        "--token", "t")
    assert refused.returncode == 2 and "--url" in refused.stderr
