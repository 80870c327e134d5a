"""Plugin discovery and registration.

Bundled and third-party plugins are found the same way: entry points in the ``openv2x.plugins``
group. Only the names listed in ``[plugins] enabled`` are imported; the rest are blocked before
import, so a disabled plugin's code never runs.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import inspect
import logging
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pluggy

from core import hookspecs

PROJECT = "openv2x"
ENTRY_POINT_GROUP = "openv2x.plugins"

hookimpl = pluggy.HookimplMarker(PROJECT)
log = logging.getLogger(__name__)
T = TypeVar("T")


class PluginError(Exception):
    """A plugin could not be found, loaded or registered (shown as one line at start-up)."""


@dataclass(frozen=True)
class PluginInfo:
    """What ``openv2x plugins`` shows for one discovered plugin."""

    name: str
    module: str
    distribution: str
    version: str
    enabled: bool
    hooks: tuple[str, ...]


def discover() -> dict[str, importlib.metadata.EntryPoint]:
    """All installed plugin entry points by name, without importing any of them."""
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return found


def installed_migration_dirs() -> list[str]:
    """Each installed plugin's ``migrations`` folder, enabled or not, without importing it.

    A disabled plugin's revisions stay known, so a database it once migrated is still readable
    by the migration machinery (and its tables are kept current for when it is enabled again).
    """
    dirs = []
    for ep in discover().values():
        try:
            spec = importlib.util.find_spec(ep.module)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            folder = Path(location) / "migrations"
            if folder.is_dir():
                dirs.append(str(folder))
    return dirs


def new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def load_plugins(
    enabled: Iterable[str],
    *,
    extra: Iterable[tuple[str, object]] = (),
    entry_points: dict[str, importlib.metadata.EntryPoint] | None = None,
) -> pluggy.PluginManager:
    """Register the enabled plugins (in the order given) and check their hook names.

    ``extra`` registers already-imported plugin objects under a name (tests and embedding use it,
    exactly like an installed plugin).
    """
    eps = discover() if entry_points is None else entry_points
    pm = new_manager()
    wanted = list(dict.fromkeys(enabled))
    for name in set(eps) - set(wanted):
        pm.set_blocked(name)
    extra_names = {name for name, _ in extra}
    for name in wanted:
        if name in extra_names:
            continue
        if name not in eps:
            known = ", ".join(sorted(eps)) or "none"
            raise PluginError(
                f"[plugins] enabled: plugin {name!r} is not installed (installed: {known})"
            )
        try:
            plugin = eps[name].load()
        except Exception as exc:
            raise PluginError(f"plugin {name!r} failed to import: {exc!r}") from exc
        pm.register(plugin, name=name)
    for name, plugin in extra:
        pm.register(plugin, name=name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc)) from exc
    return pm


def registration_order(pm: pluggy.PluginManager) -> list[str]:
    """Plugin names in the order they were registered (start-up order)."""
    return [name for name, plugin in pm.list_name_plugin() if plugin is not None]


def hooks_of(pm: pluggy.PluginManager, name: str) -> tuple[str, ...]:
    plugin = pm.get_plugin(name)
    if plugin is None:
        return ()
    return tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or ()))


def describe_plugins(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Every discovered plugin (enabled or not) plus anything registered directly."""
    eps = discover()
    names = sorted(set(eps) | set(registration_order(pm)))
    rows = []
    for name in names:
        ep = eps.get(name)
        dist = ep.dist if ep is not None else None
        plugin = pm.get_plugin(name)
        module = ep.value if ep is not None else getattr(plugin, "__name__", repr(plugin))
        rows.append(
            PluginInfo(
                name=name,
                module=module,
                distribution=dist.metadata["Name"] if dist is not None else "-",
                version=dist.version if dist is not None else "-",
                enabled=plugin is not None,
                hooks=hooks_of(pm, name),
            )
        )
    return rows


async def await_me_maybe(value: T | Awaitable[T]) -> T:
    """The one convention for async hooks: a hook may return a value or an awaitable."""
    if inspect.isawaitable(value):
        return await value
    return value


def flatten(results: Iterable[Any]) -> list[Any]:
    """Flatten list-returning hook results, skipping ``None``."""
    out: list[Any] = []
    for result in results:
        if result is None:
            continue
        if isinstance(result, list | tuple):
            out.extend(result)
        else:
            out.append(result)
    return out
