"""Configuration: defaults, TOML, environment overrides and one-line errors."""

import os
import stat

import pytest
from marshmallow import Schema, fields

from core.config import BUNDLED_PLUGINS, ConfigError, load_config
from core.plugins import PluginError, load_plugins
from core.secrets import SECRETS_FILE, load_keys


def load(tmp_path, text=None, environ=None, **kwargs):
    path = None
    if text is not None:
        path = tmp_path / "openv2x.toml"
        path.write_text(text)
    return load_config(path, environ=environ or {}, default_file=False, **kwargs)


def test_defaults_need_no_file(tmp_path):
    config = load(tmp_path)
    assert config["database"]["url"] == "sqlite+aiosqlite:///openv2x.db"
    assert (config["server"]["host"], config["server"]["port"]) == ("127.0.0.1", 8080)
    assert config.enabled_plugins == list(BUNDLED_PLUGINS)
    assert config.source is None


def test_default_file_in_working_directory_is_used(tmp_path, monkeypatch):
    (tmp_path / "openv2x.toml").write_text("[server]\nport = 9001\n")
    monkeypatch.chdir(tmp_path)
    config = load_config(environ={})
    assert config["server"]["port"] == 9001


def test_file_then_environment_then_overrides(tmp_path):
    text = '[server]\nport = 9000\nhost = "0.0.0.0"\n[plugins]\nenabled = ["ocpp16"]\n'
    environ = {"OPENV2X_SERVER_PORT": "9100", "OPENV2X_PLUGINS_ENABLED": "ocpp16, billing",
               "OPENV2X_DATABASE_ECHO": "true", "OPENV2X_AUTH_ACCESS_TOKEN_TTL": "60",
               "OPENV2X_TEST_POSTGRES_URL": "postgresql://ignored", "PATH": "/bin"}
    config = load(tmp_path, text, environ, overrides={"server": {"port": 9200}})
    assert config["server"]["host"] == "0.0.0.0"
    assert config["server"]["port"] == 9200
    assert config.enabled_plugins == ["ocpp16", "billing"]
    assert config["database"]["echo"] is True
    assert config["auth"]["access_token_ttl"] == 60


@pytest.mark.parametrize(
    ("text", "environ", "message"),
    [
        ("[sever]\nport = 1\n", {}, "[sever] is not a known config section"),
        ("[server]\nprot = 1\n", {}, "[server] prot: unknown key"),
        ('[server]\nport = "eighty"\n', {}, "[server] port: Not a valid integer."),
        ("[server]\nport = 70000\n", {}, "[server] port: Must be greater than or equal to 0"),
        ('[logging]\nlevel = "LOUD"\n', {}, "[logging] level: Must be one of"),
        ("[auth]\naccess_token_ttl = 1\n", {}, "[auth] access_token_ttl:"),
        ("server = 5\n", {}, "[server] must be a table"),
        ("[server\nport=1", {}, "is not valid TOML"),
        (None, {"OPENV2X_SERVER_PROT": "1"}, "[server] prot: unknown key"),
        (None, {"OPENV2X_DATABASE_ECHO": "perhaps"}, "[database] echo: Not a valid boolean."),
        (None, {"OPENV2X_SERVER_PORT": "-1"}, "[server] port:"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(tmp_path, text, environ, message):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, environ)
    text_of_error = str(info.value)
    assert message in text_of_error
    assert "\n" not in text_of_error


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", environ={})


class PluginSettings(Schema):
    colour = fields.String(load_default="green")
    size = fields.Integer(load_default=3)


def test_plugin_sections_are_validated_and_overridable(tmp_path):
    config = load(tmp_path, "[demo]\ncolour = \"red\"\n", {"OPENV2X_DEMO_SIZE": "7"},
                  plugin_sections={"demo": PluginSettings}, known_plugins=["demo"])
    assert dict(config["demo"]) == {"colour": "red", "size": 7}
    with pytest.raises(ConfigError, match=r"^\[demo\] shape: unknown key$"):
        load(tmp_path, "[demo]\nshape = 1\n", plugin_sections={"demo": PluginSettings},
             known_plugins=["demo"])


def test_section_of_a_disabled_plugin_is_accepted_and_ignored(tmp_path):
    config = load(tmp_path, "[hello]\ngreeting = \"x\"\n", known_plugins=["hello"])
    assert config.ignored_sections == ("hello",)
    assert "hello" not in config.sections


def test_enabling_a_plugin_that_is_not_installed_names_it():
    with pytest.raises(PluginError, match="'nosuch' is not installed"):
        load_plugins(["ocpp16", "nosuch"])


def test_secrets_are_generated_once_with_private_mode(tmp_path):
    config = load(tmp_path, f'[server]\ndata_dir = "{tmp_path}"\n')
    first = load_keys(config)
    path = tmp_path / SECRETS_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_keys(config) == first
    assert len(first.signing) >= 32


@pytest.mark.parametrize(
    ("auth", "message"),
    [({"secret_key": "short", "encryption_key": "x"}, "[auth] secret_key"),
     ({"secret_key": "s" * 40, "encryption_key": "not-a-fernet-key"}, "[auth] encryption_key")],
)
def test_bad_keys_are_config_errors(tmp_path, auth, message):
    config = load(tmp_path, overrides={"auth": auth})
    with pytest.raises(ConfigError) as info:
        load_keys(config)
    assert str(info.value).startswith(message)
