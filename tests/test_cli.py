"""The ``openv2x`` command line, run as real subprocesses."""

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from core.testing import POSTGRES_ENV, TEST_ENCRYPTION_KEY, reset_postgres


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENV2X_")}
    return {**env, **extra}


def cli(tmp_path, *args, **env):
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *args], cwd=tmp_path, env=clean_env(**env),
        capture_output=True, text=True, timeout=120,
    )


def one_error_line(result):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("openv2x: error: ")
    return lines[0]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    "args",
    [["--help"], ["serve", "--help"], ["user", "create", "--help"], ["station", "add", "--help"],
     ["plugins", "--help"], ["db", "upgrade", "--help"], ["--version"],
     ["simulate", "--help"]],
)
def test_help(tmp_path, args):
    result = cli(tmp_path, *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout


def test_plugins_lists_bundled_ones_enabled(tmp_path):
    result = cli(tmp_path, "plugins")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[1:]}
    for name in ("ocpp16", "ocpp201", "ocpi_cpo", "ocpi_scsp", "billing", "weather", "routing"):
        assert rows[name] == "yes"


def test_db_upgrade_is_idempotent(tmp_path):
    first = cli(tmp_path, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert "5 branch head(s) upgraded" in first.stdout  # core + 4 plugin branches
    second = cli(tmp_path, "db", "upgrade")
    assert second.returncode == 0 and "0 branch head(s) upgraded" in second.stdout
    with sqlite3.connect(tmp_path / "openv2x.db") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"location", "charging_station", "user_account", "task",
            "ocpp201_device_variable"} <= tables


def test_user_create_and_errors(tmp_path):
    ok = cli(tmp_path, "user", "create", "--email", "admin@example.test", "--password",
             "long enough pw", "--role", "platform_manager", "--username", "admin")
    assert ok.returncode == 0, ok.stderr
    assert "created platform_manager 'admin'" in ok.stdout
    with sqlite3.connect(tmp_path / "openv2x.db") as conn:
        assert conn.execute("SELECT username, role FROM user_account").fetchall() == [
            ("admin", "platform_manager")]
    assert "is already registered" in one_error_line(
        cli(tmp_path, "user", "create", "--email", "ADMIN@example.test", "--password",
            "long enough pw", "--role", "driver"))
    assert "email" in one_error_line(
        cli(tmp_path, "user", "create", "--email", "nope", "--password", "long enough pw",
            "--role", "driver"))
    assert "password" in one_error_line(
        cli(tmp_path, "user", "create", "--email", "x@example.test", "--password", "short",
            "--role", "driver"))
    bad_role = cli(tmp_path, "user", "create", "--email", "x@example.test", "--password",
                   "long enough pw", "--role", "emperor")
    assert bad_role.returncode == 2 and "invalid choice" in bad_role.stderr


def test_station_add_and_errors(tmp_path):
    ok = cli(tmp_path, "station", "add", "CP-1", "--password", "0123456789abcdef", "--ocpp", "1.6")
    assert ok.returncode == 0, ok.stderr
    with sqlite3.connect(tmp_path / "openv2x.db") as conn:
        row = conn.execute("SELECT id, ocpp_version, password_hash, registration_status "
                           "FROM charging_station").fetchone()
    assert row[:2] == ("CP-1", "1.6") and row[2].startswith("$argon2id$") and row[3] == "Accepted"
    assert "already exists" in one_error_line(cli(tmp_path, "station", "add", "CP-1"))
    assert "station id" in one_error_line(cli(tmp_path, "station", "add", "bad id/with slash"))
    assert "--password" in one_error_line(
        cli(tmp_path, "station", "add", "CP-2", "--password", "short"))
    assert cli(tmp_path, "station", "add", "CP-3", "--ocpp", "1.5").returncode == 2


def test_bad_config_stops_with_one_line_naming_the_key(tmp_path):
    (tmp_path / "bad.toml").write_text("[server]\nprot = 80\n")
    assert one_error_line(cli(tmp_path, "--config", "bad.toml", "plugins")) == (
        "openv2x: error: [server] prot: unknown key")
    (tmp_path / "openv2x.toml").write_text("[server]\nport = 99999\n")
    assert "[server] port" in one_error_line(cli(tmp_path, "plugins"))
    (tmp_path / "openv2x.toml").unlink()
    assert "[database] echo" in one_error_line(
        cli(tmp_path, "plugins", OPENV2X_DATABASE_ECHO="perhaps"))
    assert "[plugins] enabled" in one_error_line(
        cli(tmp_path, "--db", "sqlite:///x.db", "plugins", OPENV2X_PLUGINS_ENABLED="nosuch"))
    assert "[database] url" in one_error_line(cli(tmp_path, "--db", "mysql://x/y", "db", "upgrade"))


def test_serve_answers_health_and_login_page(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "serve", "--port", str(port)], cwd=tmp_path,
        env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as resp:
                    assert resp.status == 200
                    break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.1)
        with urllib.request.urlopen(f"{base}/login", timeout=5) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/html")
            assert b'action="/login"' in resp.read()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"listening on http://127.0.0.1:{port}" in out
    assert f"REST API   http://127.0.0.1:{port}/api/" in out
    assert (tmp_path / "openv2x.db").exists() and (tmp_path / ".openv2x-secrets.toml").exists()


def test_serve_refuses_a_busy_port(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert "cannot listen" in one_error_line(cli(tmp_path, "serve", "--port", str(port)))
    assert cli(tmp_path, "serve", "--port", "70000").returncode == 2


def test_db_upgrade_on_postgresql(tmp_path):
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"PostgreSQL not configured: set {POSTGRES_ENV}")
    asyncio.run(reset_postgres(url))
    (tmp_path / ".openv2x-secrets.toml").write_text(
        f'secret_key = "{"s" * 40}"\nencryption_key = "{TEST_ENCRYPTION_KEY}"\n'
    )
    outdated = one_error_line(cli(tmp_path, "serve", "--port", "0", "--db", url))
    assert "database schema is not current" in outdated and "openv2x db upgrade" in outdated
    result = cli(tmp_path, "--db", url, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    again = cli(tmp_path, "db", "upgrade", "--db", url)
    assert again.returncode == 0 and "0 branch head(s)" in again.stdout


def test_simulate_validates_its_arguments(tmp_path):
    assert "--url must start with ws://" in one_error_line(
        cli(tmp_path, "simulate", "--url", "http://x/ocpp"))
    bad = cli(tmp_path, "simulate", "--url", "ws://127.0.0.1:9/ocpp", "--stations", "0")
    assert bad.returncode == 2 and "must be at least 1" in bad.stderr
    bad = cli(tmp_path, "simulate", "--url", "ws://127.0.0.1:9/ocpp", "--ocpp", "3.0")
    assert bad.returncode == 2 and "invalid choice: '3.0'" in bad.stderr
