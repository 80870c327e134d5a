"""From a config file path to validated settings plus the registered plugins, in two phases.

Phase one reads the core sections (which plugins are enabled?); phase two registers those plugins
and validates the whole file again with their config schemas, so a plugin's settings are checked
exactly like the core's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import pluggy
from marshmallow import Schema

from core.config import Config, load_config
from core.plugins import discover, load_plugins


def plugin_schemas(pm: pluggy.PluginManager) -> dict[str, type[Schema]]:
    schemas: dict[str, type[Schema]] = {}
    for impl in pm.hook.openv2x_config_schema.get_hookimpls():
        schema = cast("type[Schema] | None", impl.function())
        if schema is not None:
            schemas[impl.plugin_name] = schema
    return schemas


def bootstrap(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    extra_plugins: Sequence[tuple[str, object]] = (),
) -> tuple[Config, pluggy.PluginManager]:
    eps = discover()
    known = set(eps) | {name for name, _ in extra_plugins}
    first = load_config(path, environ=environ, overrides=overrides, known_plugins=known)
    pm = load_plugins(first.enabled_plugins, extra=extra_plugins, entry_points=eps)
    config = load_config(
        path,
        environ=environ,
        overrides=overrides,
        plugin_sections=plugin_schemas(pm),
        known_plugins=known,
    )
    return config, pm
