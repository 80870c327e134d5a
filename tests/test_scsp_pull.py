"""The SCSP pull model over real HTTP: a CPO peer serves its SmartChargingOptimisation objects
on a SENDER interface (pages of 2, date filters, ``Link`` headers) and we read them: in full when
the CPO registers or updates its credentials (every page), incrementally afterwards (only what
changed), in full now and then (what the CPO dropped is deleted), skipping invalid objects and
surviving a CPO that is down. Pulls are started directly rather than waited for."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from marshmallow import ValidationError
from ocpi_peers.cpo_sender import CpoSenderPeer
from sqlalchemy import func, select

from core import appkeys
from core.ocpi import Partner
from plugins.ocpi_scsp import background, pull
from plugins.ocpi_scsp.config import ScspSettings
from plugins.ocpi_scsp.tables import OptimisationContext, OptimisationResult

PLUGINS = ["ocpi_scsp"]
SETTINGS = {"ocpi": {"outbox_max_backoff": 1},
            "ocpi_scsp": {"country_code": "DE", "party_id": "SCS", "slots": 8}}
CPO = ("NL", "CPO")


@pytest.fixture
async def scsp(openv2x_server: Any) -> Any:
    return await openv2x_server(plugins=PLUGINS, settings=SETTINGS)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def optimisation(object_id: str, *, age_minutes: int = 10, **changes: Any) -> dict[str, Any]:
    """A valid SCOptimisation of the CPO, last updated ``age_minutes`` ago."""
    start = now().replace(minute=0, second=0, microsecond=0)
    body = {
        "country_code": CPO[0], "party_id": CPO[1], "id": object_id,
        "evses": [{"location_id": f"LOC-{object_id}", "evse_uid": "EVSE1",
                   "connectors": [{"connector_id": "1", "power": 11000}]}],
        "max_power": 15000,
        "price": [{"time_slot": stamp(start + dt.timedelta(hours=h)), "value": v}
                  for h, v in enumerate((0.40, 0.10, 0.30))],
        "last_updated": stamp(now() - dt.timedelta(minutes=age_minutes)),
    }
    return {**body, **changes}


def serve(peer: CpoSenderPeer, *objects: dict[str, Any]) -> None:
    for obj in objects:
        peer.optimisations[str(obj["id"])] = obj


async def registered(server: Any, peer: CpoSenderPeer) -> Partner:
    """The peer registers with our SCSP platform; the pull this starts has finished."""
    headers = await server.auth_headers("emsp_manager")
    async with server.http.post(server.url("/api/ocpi/scsp/token-a/"),
                                headers=headers) as resp:
        assert resp.status == 201, await resp.text()
        token = (await resp.json())["token"]
    assert (await peer.register_with(server.url("/ocpi/scsp/versions"), token)).registered
    await background.idle(server.app)
    [partner] = await pull.senders(server.app)
    return partner


async def stored(server: Any) -> dict[str, dict[str, Any]]:
    """Our contexts by id."""
    async with server.app[appkeys.DB].session() as db:
        rows = (await db.execute(select(OptimisationContext))).scalars().all()
    return {row.id: row.data for row in rows}


async def results(server: Any) -> int:
    async with server.app[appkeys.DB].session() as db:
        return int((await db.execute(select(func.count()).select_from(OptimisationResult)))
                   .scalar_one())


async def pulled(server: Any, partner: Partner, full: bool | None = None) -> pull.PullReport:
    report = await pull.pull_partner(server.app, partner, full=full)
    assert report is not None
    await background.idle(server.app)
    return report


async def test_registration_pulls_every_page_and_solves(scsp: Any) -> None:
    async with CpoSenderPeer(*CPO) as peer:
        serve(peer, *(optimisation(f"site-{n}") for n in range(1, 6)))
        await registered(scsp, peer)

        assert set(await stored(scsp)) == {f"site-{n}" for n in range(1, 6)}
        assert await results(scsp) == 5
        pages = peer.requests("smartChargingOptimisation", "GET")
        assert [r.query.get("offset") for r in pages] == [None, "2", "4"]
        assert all("date_from" not in r.query for r in pages)
        first = pages[0]
        assert tuple(first.to_party) == CPO and tuple(first.from_party) == ("DE", "SCS")
        # The official schema enumerates the standard module identifiers only; custom modules
        # (OCPI 2.2.1 "Custom Modules") are allowed by the specification text.
        others = [v for v in peer.violations if "smartChargingOptimisation" not in v]
        assert not others, others
        headers = await scsp.auth_headers("cpo_manager")
        async with scsp.http.get(scsp.url("/api/scsp/context/NL/CPO/site-4/result/"),
                                 headers=headers) as resp:
            assert resp.status == 200
            assert (await resp.json())["method"] in ("lp", "milp")


async def test_incremental_pull_takes_what_changed_since_the_last_pull(scsp: Any) -> None:
    async with CpoSenderPeer(*CPO) as peer:
        serve(peer, *(optimisation(f"site-{n}") for n in range(1, 4)))
        partner = await registered(scsp, peer)
        registration_pull = scsp.app[pull.PULLS][partner.id].since
        assert registration_pull is not None

        serve(peer, optimisation("site-2", age_minutes=0, max_power=9000),
              optimisation("site-4", age_minutes=0))
        [report] = await pull.pull_all(scsp.app)
        await background.idle(scsp.app)
        assert report is not None and not report.full
        assert sorted(report.stored) == [(*CPO, "site-2"), (*CPO, "site-4")]
        assert report.deleted == () and report.skipped == 0
        assert peer.pulls()[-1].query["date_from"] == stamp(registration_pull)
        contexts = await stored(scsp)
        assert contexts["site-2"]["max_power"] == 9000 and "site-4" in contexts
        assert await results(scsp) == 4

        # What we hold already is not written again, even when listed in full.
        again = await pulled(scsp, partner, full=True)
        assert again.full and again.stored == () and again.unchanged == 4
        # An older copy never replaces a newer one.
        serve(peer, optimisation("site-2", age_minutes=30, max_power=1000))
        assert (await pulled(scsp, partner, full=True)).stored == ()
        assert (await stored(scsp))["site-2"]["max_power"] == 9000


async def test_full_pull_deletes_what_the_cpo_no_longer_lists(scsp: Any) -> None:
    async with CpoSenderPeer(*CPO) as peer:
        serve(peer, *(optimisation(f"site-{n}") for n in range(1, 5)))
        partner = await registered(scsp, peer)
        del peer.optimisations["site-3"]

        # An incremental pull cannot tell a dropped object from an unchanged one.
        assert (await pulled(scsp, partner)).deleted == ()
        assert "site-3" in await stored(scsp)

        # A full pull is due once pull_full_interval passed since the last one.
        state = scsp.app[pull.PULLS][partner.id]
        assert state.last_full is not None
        state.last_full -= dt.timedelta(hours=2)
        [report] = await pull.pull_all(scsp.app)
        await background.idle(scsp.app)
        assert report is not None and report.full
        assert report.deleted == ((*CPO, "site-3"),)
        assert set(await stored(scsp)) == {"site-1", "site-2", "site-4"}
        assert await results(scsp) == 3


async def test_a_credentials_update_pulls_in_full(scsp: Any) -> None:
    async with CpoSenderPeer(*CPO) as peer:
        serve(peer, optimisation("site-1"), optimisation("site-2"))
        await registered(scsp, peer)
        del peer.optimisations["site-1"]
        assert (await peer.update_credentials()).ok
        await background.idle(scsp.app)
        assert "date_from" not in peer.pulls()[-1].query
        assert set(await stored(scsp)) == {"site-2"}


async def test_invalid_objects_are_skipped_and_the_rest_stored(scsp: Any) -> None:
    async with CpoSenderPeer(*CPO) as peer:
        serve(peer, optimisation("site-1"), optimisation("site-2", max_power="lots"),
              optimisation("site-3", country_code="BE", party_id="XYZ"),
              optimisation("site-4"), optimisation("site-5", evses=[]))
        partner = await registered(scsp, peer)
        assert set(await stored(scsp)) == {"site-1", "site-4"}

        # A listed object whose new version is invalid keeps the copy we hold.
        serve(peer, optimisation("site-1", age_minutes=0, max_power="lots"))
        report = await pulled(scsp, partner, full=True)
        assert report.skipped == 4 and report.stored == () and report.deleted == ()
        assert (await stored(scsp))["site-1"]["max_power"] == 15000


async def test_a_cpo_that_is_down_is_pulled_later(scsp: Any) -> None:
    async with CpoSenderPeer(*CPO) as peer:
        serve(peer, optimisation("site-1"))
        partner = await registered(scsp, peer)
        since = scsp.app[pull.PULLS][partner.id].since

        peer.down = True
        serve(peer, optimisation("site-2", age_minutes=0))
        assert await pull.pull_all(scsp.app) == [None]
        assert scsp.app[pull.PULLS][partner.id].since == since
        assert not scsp.app[pull.LOOP].done()

        peer.down = False
        [report] = await pull.pull_all(scsp.app)
        await background.idle(scsp.app)
        assert report is not None and report.stored == ((*CPO, "site-2"),)
        assert peer.pulls()[-1].query["date_from"] == stamp(since)
        assert set(await stored(scsp)) == {"site-1", "site-2"}


def test_pull_intervals_are_validated() -> None:
    loaded = ScspSettings().load({})
    assert (loaded["pull_interval"], loaded["pull_full_interval"]) == (300, 3600)
    with pytest.raises(ValidationError, match="pull_interval"):
        ScspSettings().load({"pull_interval": 5})
    with pytest.raises(ValidationError, match="pull_full_interval"):
        ScspSettings().load({"pull_interval": 600, "pull_full_interval": 60})
