"""Our SCSP role with a live CPO that is somebody else's code: PyPI ``extrawest-ocpi``.

The CPO counterpart of :mod:`test_ocpi_extrawest` (same virtualenv, built once, and the same
way of running the library): ``tests/thirdparty/extrawest_cpo.py`` serves the library's CPO
application with its chargingprofiles RECEIVER. The CPO registers with our SCSP, or we with it;
it PUTs an optimisation context (our custom module, plain HTTP) and pushes a Session with the
library's sender; our SCSP computes a schedule and sends SetChargingProfile to the library,
which validates it with its own models and answers; the library's own background task POSTs
the ChargingProfileResult to our ``response_url``, and our SCSP records it.

Tolerated on our side and checked here: the library's endpoint URLs end with ``/`` (our PUT goes
to ``…/chargingprofiles/{session_id}``, not ``…//…``), and its Session body carries lower-cased
CiStrings while its URL names the session as the caller wrote it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from test_ocpi_extrawest import Harness, extrawest_python, launch, partners, rest

from core import appkeys
from core.db.models import OcpiOutbox
from plugins.ocpi_scsp import background
from plugins.ocpi_scsp.tables import SentProfile

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

HARNESS = Path(__file__).resolve().parent / "thirdparty" / "extrawest_cpo.py"
OURS = ("DE", "SCS")
THEIRS = ("NL", "EXC")
SETTINGS = {"ocpi": {"outbox_max_backoff": 1},
            "ocpi_scsp": {"country_code": OURS[0], "party_id": OURS[1], "slots": 8}}
PROFILES = "/ocpi/cpo/2.2.1/chargingprofiles"
TOKEN_A = "token-a-for-openv2x"
__all__ = ["extrawest_python"]  # a session fixture: the library's virtualenv

StartCpo = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def start_cpo(extrawest_python: Path, tmp_path: Path) -> AsyncIterator[StartCpo]:
    """Start CPO harnesses (``token_a``: one it accepts from a registering SCSP)."""
    running: list[Harness] = []
    http = aiohttp.ClientSession()

    async def start(*, token_a: str | None = None, spec_profiles: bool = True) -> Harness:
        args = (["--token-a", token_a] if token_a else []) + (
            ["--spec-profiles"] if spec_profiles else [])
        cpo = await launch(extrawest_python, HARNESS, THEIRS, tmp_path, http, args)
        running.append(cpo)
        return cpo

    yield start
    for cpo in running:
        await cpo.stop()
    await http.close()


@pytest.fixture
async def scsp(openv2x_server: Any) -> Any:
    return await openv2x_server(plugins=["ocpi_scsp"], settings=SETTINGS)


def stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def context() -> dict[str, Any]:
    """A context naming the EVSE as the library holds its ids (lower case)."""
    now = dt.datetime.now(dt.UTC)
    start = now.replace(minute=0, second=0, microsecond=0)
    return {"country_code": THEIRS[0], "party_id": THEIRS[1], "id": "site-1",
            "evses": [{"location_id": "loc1", "evse_uid": "evse1",
                       "connectors": [{"connector_id": "1", "power": 11000}]}],
            "max_power": 15000, "min_power": 0,
            "price": [{"time_slot": stamp(start + dt.timedelta(hours=h)), "value": v}
                      for h, v in enumerate((0.40, 0.10, 0.30))],
            "last_updated": stamp(now)}


def session() -> dict[str, Any]:
    """A Session as the CPO's caller writes it; the library's model lower-cases its ids."""
    now = dt.datetime.now(dt.UTC)
    return {"object_id": "S1", "country_code": THEIRS[0], "party_id": THEIRS[1], "id": "S1",
            "start_date_time": stamp(now - dt.timedelta(minutes=5)), "kwh": 0,
            "cdr_token": {"country_code": "NL", "party_id": "EMS", "uid": "TOK1",
                          "type": "RFID", "contract_id": "NL-EMS-C1"},
            "auth_method": "WHITELIST", "location_id": "LOC1", "evse_uid": "EVSE1",
            "connector_id": "1", "currency": "EUR", "status": "ACTIVE",
            "charging_periods": [{"start_date_time": stamp(now - dt.timedelta(minutes=5)),
                                  "dimensions": [{"type": "ENERGY", "volume": 0}]}],
            "last_updated": stamp(now)}


async def sent(scsp: Any) -> SentProfile | None:
    async with scsp.app[appkeys.DB].session() as db:
        return await db.get(SentProfile, (*THEIRS, "S1"))


async def outbox(scsp: Any) -> list[OcpiOutbox]:
    async with scsp.app[appkeys.DB].session() as db:
        return list((await db.execute(select(OcpiOutbox).order_by(OcpiOutbox.id))).scalars())


async def push_context_and_session(scsp: Any, cpo: Harness) -> None:
    """The CPO's context (plain HTTP) and its session (the library's sender), both taken."""
    put = await cpo.control("POST", "context", context())
    assert (put["status"], put["envelope"]["status_code"]) == (200, 1000), put
    [pushed] = await cpo.control("POST", "sessions", session())
    # The URL names the session as written, the body as the library holds it.
    assert pushed["url"].endswith("/ocpi/scsp/2.2.1/sessions/NL/EXC/S1"), pushed
    assert pushed["status"] == 200 and '"status_code":1000' in pushed["body"], pushed
    await background.idle(scsp.app)


async def profile_round_trip(scsp: Any, cpo: Harness) -> None:
    """Our SetChargingProfile passes the library's models; its result comes back to us."""
    await push_context_and_session(scsp, cpo)
    [taken] = await cpo.wait_for(lambda s: s["profiles"][-1:])
    assert taken["action"] == "SendUpdateChargingProfile" and taken["session_id"] == "s1"
    profile = taken["request"]["charging_profile"]
    assert profile["charging_rate_unit"] == "W" and profile["charging_profile_period"]
    row = await sent(scsp)
    assert row is not None and taken["response_url"].endswith(row.reference)
    state = await cpo.state()
    puts = [e for e in state["incoming"] if e["path"].startswith(PROFILES)]
    # The library's endpoint ends with "/": ours is joined without doubling it.
    assert puts and {(e["method"], e["path"], e["status"]) for e in puts} == {
        ("PUT", f"{PROFILES}/S1", 200)}
    assert {(tuple(e["to"]), tuple(e["from"])) for e in puts} == {(THEIRS, OURS)}
    # The library's own sender POSTs the Charge Point's result to our response_url.
    await cpo.wait_for(lambda s: [e for e in s["outgoing"]
                                  if e["url"] == taken["response_url"]
                                  and e.get("status") == 200])
    row = await sent(scsp)
    assert row is not None and row.result == "ACCEPTED"
    assert {r.state for r in await outbox(scsp)} == {"done"}
    state = await cpo.state()
    assert state["validation_errors"] == [], state["validation_errors"]


async def we_register(scsp: Any, cpo: Harness) -> None:
    """Register with the CPO, which sends no request ids (the library's own requests)."""
    answer = await rest(scsp, "POST", "/api/ocpi/scsp/register/", "emsp_manager",
                        {"url": cpo.versions_url, "token": TOKEN_A,
                         "allow_missing_request_ids": True}, 201)
    assert answer["allow_missing_request_ids"] is True


async def test_as_shipped_the_library_refuses_a_conforming_profile(
        scsp: Any, start_cpo: StartCpo) -> None:
    """The library's ChargingProfile model wants ``min_charge_rate`` and one period object;
    OCPI 2.2.1 has an optional ``min_charging_rate`` and a list of periods. Our profile is
    refused with HTTP 422, our outbox drops it as refused, and no result is recorded."""
    cpo = await start_cpo(token_a=TOKEN_A, spec_profiles=False)
    await we_register(scsp, cpo)
    await push_context_and_session(scsp, cpo)
    state = await cpo.wait_for(lambda s: s if s["validation_errors"] else None)
    [refusal] = state["validation_errors"]
    assert refusal["where"] == f"PUT {PROFILES}/S1"
    places = [".".join(error["loc"]) for error in refusal["errors"]]
    # A missing field, and our list of periods read as one period without its fields.
    assert "body.charging_profile.min_charge_rate" in places, places
    assert {"body.charging_profile.charging_profile_period.start_period",
            "body.charging_profile.charging_profile_period.limit"} <= set(places), places
    assert state["profiles"] == []
    row = await sent(scsp)
    assert row is not None and row.result is None
    [failed] = [r for r in await outbox(scsp) if r.module == "chargingprofiles"]
    assert failed.state == "failed" and "HTTP 422" in (failed.last_error or "")


async def test_we_register_with_it_and_take_back_our_profile(scsp: Any,
                                                             start_cpo: StartCpo) -> None:
    """We start the handshake (the library's own flow), the profile round trip follows, and
    our unregistration reaches the library."""
    cpo = await start_cpo(token_a=TOKEN_A)
    await we_register(scsp, cpo)
    [row] = await partners(scsp)
    assert row.version_url == f"{cpo.base_url}/ocpi/2.2.1/details"
    assert [(r["role"], r["country_code"], r["party_id"]) for r in row.roles] == [
        ("CPO", *THEIRS)]
    await profile_round_trip(scsp, cpo)
    await rest(scsp, "DELETE", f"/api/ocpipartner/{row.id}/", "emsp_manager", None, 204)
    assert (await cpo.state())["partners"] == []


async def test_it_registers_with_us_and_takes_our_profile(scsp: Any,
                                                          start_cpo: StartCpo) -> None:
    """The CPO starts the handshake (its calls made by the harness and checked with the
    library's models; our custom module's endpoint is outside its closed ModuleID enum). The
    library never sends request ids, so its token A lets it omit them."""
    cpo = await start_cpo()
    token_a = await rest(scsp, "POST", "/api/ocpi/scsp/token-a/", "emsp_manager",
                         {"allow_missing_request_ids": True}, 201)
    answer = await cpo.control("POST", "register", {"versions_url": token_a["versions_url"],
                                                    "token": token_a["token"]})
    assert answer["ok"], answer
    assert [(r["role"], r["country_code"], r["party_id"]) for r in
            answer["credentials"]["roles"]] == [("SCSP", "de", "scs")]
    [row] = await partners(scsp)
    assert row.status == "registered" and row.name == "Extrawest OCPI test CPO"
    assert [(r["role"], r["country_code"], r["party_id"]) for r in row.roles] == [
        ("CPO", *THEIRS)]
    assert {(e["identifier"], e["role"]) for e in row.endpoints} >= {
        ("credentials", "RECEIVER"), ("chargingprofiles", "RECEIVER")}
    [theirs] = (await cpo.state())["partners"]
    assert "smartChargingOptimisation" in {e["identifier"] for e in theirs["endpoints"]}
    await profile_round_trip(scsp, cpo)
