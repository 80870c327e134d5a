"""Database layer: migrations match the models, types keep invariants, units of work."""

import datetime as dt
from decimal import Decimal

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text

from core import appkeys
from core.app import plugin_migration_dirs
from core.config import BUNDLED_PLUGINS
from core.db import Database, DatabaseError, migrate, validate_url
from core.db.models import (
    Base,
    ChargingStation,
    Connector,
    Evse,
    Location,
    OcpiPartner,
    ProtocolDeviation,
    User,
)
from core.events import Event
from core.plugins import hookimpl, installed_migration_dirs, load_plugins
from core.testing import reset_postgres


@pytest.fixture
async def db(openv2x_db_url):
    if openv2x_db_url.startswith("postgresql"):
        await reset_postgres(openv2x_db_url)
    database = Database(openv2x_db_url)
    yield database
    await database.dispose()


def _diff(connection):
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


async def test_migrations_produce_exactly_the_models(db):
    # The bundled plugins' tables are on the same metadata: their branches are applied too.
    bundled = plugin_migration_dirs(load_plugins(list(BUNDLED_PLUGINS)))
    assert await migrate.pending(db) == ["0009"]
    await migrate.upgrade(db, bundled)
    assert await migrate.pending(db, bundled) == []
    async with db.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_0002_upgrades_a_0001_database_in_use_and_downgrades(db):
    cfg = migrate.alembic_config()

    def run(connection, step, target):
        cfg.attributes["connection"] = connection
        step(cfg, target)

    async with db.engine.begin() as conn:
        await conn.run_sync(run, command.upgrade, "0001")
    async with db.transaction() as work:
        work.session.add(ChargingStation(id="CP1", lenient=True))
    await migrate.upgrade(db)
    async with db.transaction() as work:
        work.session.add(ProtocolDeviation(station_id="CP1", action="MeterValues", unique_id="1",
                                           error="e", fixes=["a", "b"]))
    async with db.session() as session:
        row = (await session.execute(select(ProtocolDeviation))).scalar_one()
        assert row.fixes == ["a", "b"] and row.received_at.tzinfo == dt.UTC
        assert (await session.get(ChargingStation, "CP1")).lenient is True
    async with db.engine.begin() as conn:
        await conn.run_sync(run, command.downgrade, "0001")
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
    assert "protocol_deviation" not in tables and "charging_station" in tables
    assert await migrate.pending(db) == ["0009"]


async def test_hub_client_info_moves_from_the_cpo_table_to_the_core_and_back(db):
    """ocpi_cpo_0004: the CPO's ClientInfo rows move to the core's table (shared by every OCPI
    platform); its downgrade takes the CPO platform's rows back and leaves the others."""
    cfg = migrate.alembic_config(plugin_migration_dirs(load_plugins(["ocpi_cpo"])))

    def run(connection, step, target):
        cfg.attributes["connection"] = connection
        step(cfg, target)

    def client_info(table):
        return text(f"SELECT partner_id, country_code, party_id, role, status FROM {table}")

    async with db.engine.begin() as conn:
        await conn.run_sync(run, command.upgrade, "ocpi_cpo_0003")
        await conn.run_sync(run, command.upgrade, "0009")
    async with db.transaction() as work:
        work.session.add_all([OcpiPartner(id=1, platform="cpo", versions_url="https://hub.a/"),
                              OcpiPartner(id=2, platform="scsp", versions_url="https://hub.b/")])
    async with db.engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO ocpi_cpo_client_info (partner_id, country_code, party_id, role, status,"
            " last_updated, received_at) VALUES (1, 'NL', 'EMA', 'EMSP', 'OFFLINE',"
            " '2026-11-27 10:00:00+00:00', '2026-11-27 10:00:01+00:00')"))
        await conn.run_sync(run, command.upgrade, "ocpi_cpo_0004")
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        assert "ocpi_cpo_client_info" not in tables
        assert (await conn.execute(client_info("ocpi_client_info"))).all() == [
            (1, "NL", "EMA", "EMSP", "OFFLINE")]
        await conn.execute(text(
            "INSERT INTO ocpi_client_info (partner_id, country_code, party_id, role, status,"
            " last_updated, received_at) VALUES (2, 'NL', 'CPO', 'CPO', 'CONNECTED',"
            " '2026-11-27 11:00:00+00:00', '2026-11-27 11:00:01+00:00')"))
        await conn.run_sync(run, command.downgrade, "ocpi_cpo_0003")
        assert (await conn.execute(client_info("ocpi_cpo_client_info"))).all() == [
            (1, "NL", "EMA", "EMSP", "OFFLINE")]
        assert (await conn.execute(client_info("ocpi_client_info"))).all() == [
            (2, "NL", "CPO", "CPO", "CONNECTED")]


async def test_utc_datetimes_and_exact_money_round_trip(db):
    await migrate.upgrade(db)
    local = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    async with db.transaction() as work:
        work.session.add(ChargingStation(id="CP1", last_seen=local))
        for i, amount in enumerate([Decimal("0.1234"), Decimal("12345678.000001"),
                                    Decimal("0.30")]):
            work.session.add(User(username=f"u{i}", email_digest=str(i), email_enc=b"x",
                                  password_hash="h", role="driver", tariff_preference=amount))
    async with db.session() as session:
        station = await session.get(ChargingStation, "CP1")
        prefs = (await session.execute(select(User.tariff_preference).order_by(User.id))
                 ).scalars().all()
    assert station.last_seen == local and station.last_seen.tzinfo == dt.UTC
    assert prefs == [Decimal("0.1234"), Decimal("12345678.000001"), Decimal("0.30")]
    assert all(isinstance(p, Decimal) for p in prefs)


async def test_naive_datetimes_are_refused(db):
    await migrate.upgrade(db)
    with pytest.raises(Exception, match="naive datetime"):
        async with db.transaction() as work:
            work.session.add(ChargingStation(id="CP1", last_seen=dt.datetime(2026, 1, 1)))
    async with db.session() as session:
        assert await session.get(ChargingStation, "CP1") is None


async def test_deleting_a_station_cascades_to_evses_and_connectors(db):
    await migrate.upgrade(db)
    async with db.transaction() as work:
        work.session.add(ChargingStation(id="CP1"))
        await work.session.flush()
        evse = Evse(station_id="CP1", evse_number=1)
        work.session.add(evse)
        await work.session.flush()
        work.session.add(Connector(evse_id=evse.id, station_id="CP1", connector_number=1))
    async with db.transaction() as work:
        await work.session.execute(text("DELETE FROM charging_station WHERE id = 'CP1'"))
    async with db.session() as session:
        assert (await session.execute(select(Evse))).first() is None
        assert (await session.execute(select(Connector))).first() is None


async def test_sqlite_pragmas(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        async with database.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
    finally:
        await database.dispose()


async def test_events_are_published_only_after_commit(db):
    await migrate.upgrade(db)
    published = []

    async def on_commit(events):
        async with db.session() as session:
            visible = await session.get(Location, "L1") is not None
        published.extend((e.name, visible) for e in events)

    db.on_commit = on_commit
    with pytest.raises(RuntimeError):
        async with db.transaction() as work:
            work.session.add(Location(id="L0"))
            work.emit(Event("location.created", {"id": "L0"}))
            raise RuntimeError("boom")
    async with db.transaction() as work:
        work.session.add(Location(id="L1"))
        work.emit(Event("location.created", {"id": "L1"}))
    assert published == [("location.created", True)]
    async with db.session() as session:
        assert await session.get(Location, "L0") is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [("sqlite:///a.db", "sqlite+aiosqlite:///a.db"),
     ("postgresql://u@h/d", "postgresql+asyncpg://u@h/d")],
)
def test_urls_get_async_drivers(url, expected):
    assert validate_url(url) == expected


@pytest.mark.parametrize("url", ["mysql://u@h/d", "not a url", ""])
def test_unsupported_urls_are_refused(url):
    with pytest.raises(DatabaseError, match=r"^\[database\] url"):
        validate_url(url)


REVISION = '''
import sqlalchemy as sa
from alembic import op

revision = "tp0001"
down_revision = None
branch_labels = ("testplugin",)
depends_on = None


def upgrade():
    op.create_table("testplugin_note", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("text", sa.String(50)))


def downgrade():
    op.drop_table("testplugin_note")
'''


async def test_plugins_contribute_their_own_migrations(openv2x_server, openv2x_db_url, tmp_path):
    versions = tmp_path / "plugin_versions"
    versions.mkdir()
    (versions / "tp0001_notes.py").write_text(REVISION)

    class TablePlugin:
        @hookimpl
        def openv2x_migrations(self):
            return str(versions)

    server = await openv2x_server(extra_plugins=[("testplugin", TablePlugin())])
    db = server.app[appkeys.DB]
    async with db.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        heads = set((await conn.execute(text("SELECT version_num FROM alembic_version"))
                     ).scalars())
    assert "testplugin_note" in tables and "location" in tables
    # The core's head 0009 is implied by ocpi_cpo_0004, which depends on it: only with the
    # installed plugins' revisions known (as the server always has them) is it seen applied.
    assert heads == {"o201_0001", "billing_0001", "ocpi_cpo_0004", "ocpi_scsp_0004", "tp0001"}
    assert await migrate.pending(db, [*installed_migration_dirs(), str(versions)]) == []
