"""Configuration: one schema per section drives validation, defaults, env overrides and docs.

Sources, later ones winning: built-in defaults, the TOML file, ``OPENV2X_<SECTION>_<KEY>``
environment variables, then explicit overrides (CLI flags). Any unknown section or key, and any
value of the wrong type, stops start-up with one line naming it (:class:`ConfigError`).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

BUNDLED_PLUGINS: tuple[str, ...] = (
    "ocpp16",
    "ocpp201",
    "ocpi_cpo",
    "ocpi_scsp",
    "billing",
    "weather",
    "routing",
)
ENV_PREFIX = "OPENV2X_"
DEFAULT_CONFIG_FILE = "openv2x.toml"


class ConfigError(Exception):
    """A configuration problem, phrased as the single line shown to the operator."""


class CommaList(fields.List[Any]):
    """A list that also accepts ``"a,b,c"`` so list settings work from environment variables."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        return super()._deserialize(value, attr, data, **kwargs)


class ServerSection(Schema):
    host = fields.String(load_default="127.0.0.1", metadata={"help": "Address to listen on."})
    port = fields.Integer(
        load_default=8080,
        validate=validate.Range(min=0, max=65535),
        metadata={"help": "TCP port (0 picks a free one)."},
    )
    public_url = fields.String(
        load_default="",
        metadata={"help": "Base URL partners and browsers use; derived from host/port if empty."},
    )
    max_body_bytes = fields.Integer(
        load_default=1_048_576,
        validate=validate.Range(min=1024),
        metadata={"help": "Largest accepted HTTP request body."},
    )
    tls_cert = fields.String(
        load_default="",
        metadata={"help": "PEM certificate chain; with tls_key the server speaks HTTPS/WSS "
                          "(OCPP Security Profile 2)."},
    )
    tls_key = fields.String(load_default="", metadata={"help": "PEM private key of tls_cert."})
    tls_client_ca = fields.String(
        load_default="",
        metadata={"help": "PEM CA bundle; stations may then authenticate with client "
                          "certificates whose CN is their id (Security Profile 3)."},
    )
    data_dir = fields.String(
        load_default=".",
        metadata={"help": "Where generated secrets are kept when not configured."},
    )


class DatabaseSection(Schema):
    url = fields.String(
        load_default="sqlite+aiosqlite:///openv2x.db",
        metadata={"help": "SQLAlchemy URL: sqlite+aiosqlite:///FILE or postgresql+asyncpg://…"},
    )
    echo = fields.Boolean(load_default=False, metadata={"help": "Log every SQL statement."})
    auto_migrate = fields.Boolean(
        load_default=True,
        metadata={"help": "Apply migrations on serve (SQLite; run `db upgrade` for PostgreSQL)."},
    )
    pool_size = fields.Integer(
        load_default=10, validate=validate.Range(min=1), metadata={"help": "PostgreSQL pool size."}
    )


class PluginsSection(Schema):
    enabled = CommaList(
        fields.String(),
        load_default=lambda: list(BUNDLED_PLUGINS),
        metadata={"help": "Entry-point names of the plugins to register."},
    )


class AuthSection(Schema):
    secret_key = fields.String(
        load_default="",
        validate=validate.Length(min=0),
        metadata={"help": "JWT signing key (≥ 32 chars). Generated into data_dir if empty."},
    )
    encryption_key = fields.String(
        load_default="",
        metadata={"help": "Fernet key for personal fields at rest. Generated if empty."},
    )
    access_token_ttl = fields.Integer(
        load_default=900, validate=validate.Range(min=30), metadata={"help": "Seconds."}
    )
    refresh_token_ttl = fields.Integer(
        load_default=7 * 86400, validate=validate.Range(min=60), metadata={"help": "Seconds."}
    )
    session_ttl = fields.Integer(
        load_default=12 * 3600,
        validate=validate.Range(min=60),
        metadata={"help": "Portal login lifetime in seconds."},
    )


class LoggingSection(Schema):
    level = fields.String(
        load_default="INFO",
        validate=validate.OneOf(["DEBUG", "INFO", "WARNING", "ERROR"]),
        metadata={"help": "Log level."},
    )
    format = fields.String(
        load_default="text",
        validate=validate.OneOf(["text", "json"]),
        metadata={"help": "text for people, json for log shippers."},
    )


class OcppSection(Schema):
    unknown_stations = fields.String(
        load_default="reject",
        validate=validate.OneOf(["reject", "accept", "pending"]),
        metadata={"help": "Stations not pre-registered: refuse, register as Accepted, or as "
                          "Pending (BootNotification answers Pending until an operator accepts)."},
    )
    heartbeat_interval = fields.Integer(
        load_default=300, validate=validate.Range(min=10, max=86400),
        metadata={"help": "Heartbeat interval (s) given to stations in BootNotification."},
    )
    ping_interval = fields.Integer(
        load_default=60, validate=validate.Range(min=0, max=3600),
        metadata={"help": "WebSocket ping interval (s); a station silent for 1.5x is dropped. "
                          "0 disables."},
    )
    call_timeout = fields.Integer(
        load_default=30, validate=validate.Range(min=1, max=600),
        metadata={"help": "Seconds to wait for a station's answer to a command."},
    )
    require_client_certificate = fields.Boolean(
        load_default=False,
        metadata={"help": "Refuse stations that do not present a client certificate "
                          "(Security Profile 3 only; needs [server] tls_client_ca)."},
    )
    max_message_bytes = fields.Integer(
        load_default=65536, validate=validate.Range(min=1024, max=16_777_216),
        metadata={"help": "Largest OCPP frame accepted; larger ones get a CALLERROR."},
    )
    ca_cert = fields.String(
        load_default="",
        metadata={"help": "PEM certificate of the CA that signs stations' certificates "
                          "(SignCertificate), optionally followed by its issuers; needs ca_key."},
    )
    ca_key = fields.String(load_default="", metadata={"help": "PEM private key of ca_cert."})
    certificate_days = fields.Integer(
        load_default=365, validate=validate.Range(min=1, max=3650),
        metadata={"help": "Validity (days) of the certificates signed for stations."},
    )


class OcpiSection(Schema):
    request_timeout = fields.Float(
        load_default=10.0, validate=validate.Range(min=0.5, max=300),
        metadata={"help": "Seconds to wait for an OCPI partner's answer."},
    )
    outbox_max_backoff = fields.Float(
        load_default=300.0, validate=validate.Range(min=1, max=86400),
        metadata={"help": "Longest wait (s) between two attempts to reach a partner that is "
                          "down; waits double from 1 s up to this."},
    )
    page_limit = fields.Integer(
        load_default=100, validate=validate.Range(min=1, max=10000),
        metadata={"help": "Most objects per page of an OCPI list we serve."},
    )


CORE_SECTIONS: dict[str, type[Schema]] = {
    "server": ServerSection,
    "database": DatabaseSection,
    "plugins": PluginsSection,
    "auth": AuthSection,
    "logging": LoggingSection,
    "ocpp": OcppSection,
    "ocpi": OcpiSection,
}


@dataclass(frozen=True)
class Config:
    """Validated settings: ``config["server"]["port"]``; plugin sections keyed by plugin name."""

    sections: Mapping[str, Mapping[str, Any]]
    source: Path | None = None
    ignored_sections: tuple[str, ...] = field(default=())

    def __getitem__(self, section: str) -> Mapping[str, Any]:
        return self.sections[section]

    def get(self, section: str) -> Mapping[str, Any]:
        return self.sections.get(section, {})

    @property
    def enabled_plugins(self) -> list[str]:
        return list(self.sections["plugins"]["enabled"])

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]]) -> Config:
        """Return a copy with already-validated values replaced (used by CLI flags and tests)."""
        merged = {name: dict(values) for name, values in self.sections.items()}
        for name, values in overrides.items():
            merged.setdefault(name, {}).update(values)
        return Config(merged, self.source, self.ignored_sections)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def env_values(
    environ: Mapping[str, str], section_names: Iterable[str]
) -> dict[str, dict[str, str]]:
    """Map ``OPENV2X_<SECTION>_<KEY>`` variables onto known sections.

    Section names may contain underscores (``ocpi_cpo``), so the longest matching section wins.
    Variables whose prefix names no known section (``OPENV2X_TEST_…``) are not settings and are
    left alone; an unknown key inside a known section is reported by validation.
    """
    names = sorted(section_names, key=len, reverse=True)
    found: dict[str, dict[str, str]] = {}
    for var, value in environ.items():
        if not var.startswith(ENV_PREFIX):
            continue
        rest = var[len(ENV_PREFIX) :].lower()
        for name in names:
            if rest.startswith(name + "_"):
                found.setdefault(name, {})[rest[len(name) + 1 :]] = value
                break
    return found


def _first_error(section: str, messages: Any, prefix: str = "") -> str:
    if isinstance(messages, dict):
        key, inner = next(iter(messages.items()))
        return _first_error(section, inner, f"{prefix}{key}" if prefix == "" else f"{prefix}.{key}")
    if isinstance(messages, list) and messages:
        return f"[{section}] {prefix}: {messages[0]}"
    return f"[{section}] {prefix}: {messages}"


def _validate_section(name: str, schema_cls: type[Schema], raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"[{name}] must be a table, not {type(raw).__name__}")
    try:
        loaded: dict[str, Any] = schema_cls().load(raw)
    except ValidationError as exc:
        message = _first_error(name, exc.messages)
        if "Unknown field" in message:
            message = message.replace(": Unknown field.", ": unknown key")
        raise ConfigError(message) from None
    return loaded


def load_config(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    plugin_sections: Mapping[str, type[Schema]] | None = None,
    known_plugins: Iterable[str] = (),
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    default_file: bool = True,
) -> Config:
    """Load and validate configuration.

    ``path`` None means ``./openv2x.toml`` if present, otherwise defaults only.
    ``plugin_sections`` are the schemas enabled plugins declare; sections named after
    ``known_plugins`` that are not enabled are accepted and ignored, so disabling a plugin never
    forces an operator to delete its settings.
    """
    environ = os.environ if environ is None else environ
    source: Path | None = None
    raw: dict[str, Any] = {}
    if path is not None:
        source = Path(path)
        raw = read_toml(source)
    elif default_file and Path(DEFAULT_CONFIG_FILE).is_file():
        source = Path(DEFAULT_CONFIG_FILE)
        raw = read_toml(source)

    schemas: dict[str, type[Schema]] = dict(CORE_SECTIONS)
    schemas.update(plugin_sections or {})
    ignored = tuple(sorted(set(known_plugins) - set(schemas)))
    for name, env_section in env_values(environ, list(schemas)).items():
        section = raw.setdefault(name, {})
        if isinstance(section, dict):
            section.update(env_section)
    for name, values in (overrides or {}).items():
        raw.setdefault(name, {}).update(values)

    sections: dict[str, dict[str, Any]] = {}
    for name in raw:
        if name not in schemas and name not in ignored:
            raise ConfigError(f"[{name}] is not a known config section")
    for name, schema_cls in schemas.items():
        sections[name] = _validate_section(name, schema_cls, raw.get(name, {}))
    return Config(sections, source, ignored)
