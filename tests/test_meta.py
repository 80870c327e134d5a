"""Keep the contracts honest: hooks documented and tested, plugins registered, README current."""

import configparser
import inspect
from pathlib import Path

import pytest

from core import hookspecs
from core.config import BUNDLED_PLUGINS, CORE_SECTIONS

ROOT = Path(__file__).resolve().parent.parent
HOOKS = sorted(
    name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith("openv2x_")
)
README = (ROOT / "README.md").read_text()


def test_there_are_hooks():
    assert len(HOOKS) >= 10


@pytest.mark.parametrize("hook", HOOKS)
def test_hookspec_has_a_docstring_saying_when_it_is_called(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert "Called" in doc, hook


@pytest.mark.parametrize("hook", HOOKS)
def test_hookspec_is_implemented_by_a_real_plugin_and_exercised(hook):
    tests = [p for p in (ROOT / "tests").glob("test_*.py") if p.name != "test_meta.py"]
    plugins = [*(ROOT / "examples").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]
    in_tests = any(hook in p.read_text() for p in tests)
    in_plugins = any(f"def {hook}(" in p.read_text() for p in plugins)
    assert in_tests or in_plugins, f"no plugin or test implements {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_readme_documents_every_hook(hook):
    assert f"`{hook}(" in README


def test_every_bundled_plugin_is_a_documented_registered_package():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    entry_points = cfg["options.entry_points"]["openv2x.plugins"]
    registered = dict(
        (part.strip() for part in line.split("=")) for line in entry_points.strip().splitlines()
    )
    assert registered == {name: f"plugins.{name}" for name in BUNDLED_PLUGINS}
    for name in BUNDLED_PLUGINS:
        init = ROOT / "plugins" / name / "__init__.py"
        assert init.read_text().startswith('"""'), name


def test_readme_documents_every_core_setting():
    for section, schema in CORE_SECTIONS.items():
        for key in schema().fields:
            assert f"`{section}.{key}`" in README, f"{section}.{key}"
