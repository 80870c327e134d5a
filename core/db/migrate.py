"""Alembic migrations: the core's revisions plus one branch per plugin that ships tables."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from core.db import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(extra_dirs: Sequence[str] = ()) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    locations = [str(MIGRATIONS_DIR / "versions"), *map(str, extra_dirs)]
    cfg.set_main_option("version_locations", " ".join(locations))
    cfg.set_main_option("path_separator", "space")
    return cfg


def _upgrade(connection: Connection, cfg: AlembicConfig) -> None:
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "heads")


def _current(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


async def upgrade(db: Database, extra_dirs: Sequence[str] = ()) -> None:
    """Apply every pending revision of the core and the given plugin folders."""
    cfg = alembic_config(extra_dirs)
    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade, cfg)


async def pending(db: Database, extra_dirs: Sequence[str] = ()) -> list[str]:
    """Heads not yet applied (empty when the schema is current)."""
    script = ScriptDirectory.from_config(alembic_config(extra_dirs))
    async with db.engine.connect() as conn:
        current: Any = await conn.run_sync(_current)
    applied: set[str] = set()
    known = {r.revision for r in script.walk_revisions()}
    for rev in current & known:
        applied.update(r.revision for r in script.iterate_revisions(rev, "base"))
    return [head for head in script.get_heads() if head not in applied]
