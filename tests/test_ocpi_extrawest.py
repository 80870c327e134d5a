"""OCPI 2.2.1 roaming with a live eMSP that is somebody else's code: PyPI ``extrawest-ocpi``.

The package (FastAPI, pydantic 1) cannot share our virtualenv, so it gets its own, built once
in the user's cache directory and reused while it holds the pinned version. The harness
``tests/thirdparty/extrawest_emsp.py`` runs the library's eMSP application in a subprocess on a
free port; our server talks to it over real HTTP and a real OCPP 1.6 station charges at a
published location. Everything the eMSP stores went through the library's own pydantic models;
what failed them is in the harness's ``validation_errors`` and must stay empty.

As shipped, the library omits ``X-Request-ID``/``X-Correlation-ID`` and cannot complete our
registration (the first test shows how it fails); the other tests let the harness add them.
The library lower-cases every CiString; our server must treat those as the same ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ocpp.v16 import call
from ocpp16_station import connect, disconnect
from sqlalchemy import select
from test_billing_support import add_site

from core import appkeys
from core.db.models import OcpiOutbox, OcpiPartner

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

PACKAGE = "extrawest-ocpi==2025.7.16"
REQUIREMENTS = (PACKAGE, "uvicorn>=0.20")
HARNESS = Path(__file__).resolve().parent / "thirdparty" / "extrawest_emsp.py"
PYPI_PROBE = "https://pypi.org/simple/extrawest-ocpi/"
PLUGINS = ["ocpp16", "ocpp201", "billing", "ocpi_cpo"]
OURS = ("NL", "OVX")
THEIRS = ("DE", "EXW")
SETTINGS = {"billing": {"country_code": OURS[0], "party_id": OURS[1]},
            "ocpi": {"outbox_max_backoff": 1},
            "ocpi_cpo": {"session_update_interval": 0}}
# 0.50 to start, 0.25 per kWh, both with 20 % VAT.
TARIFF = {"id": "AC-STD", "currency": "EUR", "elements": [
    {"price_components": [{"type": "FLAT", "price": 0.5, "vat": 20, "step_size": 1}]},
    {"price_components": [{"type": "ENERGY", "price": 0.25, "vat": 20, "step_size": 1}]}]}


# ---- the library's virtualenv --------------------------------------------------------------


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "openv2x-test"


def _usable(python: Path, stamp: Path) -> bool:
    """The venv was completed for this pin and its interpreter still runs the library."""
    if not python.exists() or not stamp.is_file() or stamp.read_text() != "\n".join(
            REQUIREMENTS):
        return False
    check = subprocess.run([str(python), "-c", "import py_ocpi, uvicorn"],
                           capture_output=True, timeout=60)
    return check.returncode == 0


def _pypi_reachable() -> bool:
    try:
        with urllib.request.urlopen(PYPI_PROBE, timeout=10):
            return True
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One builder at a time (parallel test runs share the cache)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def extrawest_python() -> Path:
    """The interpreter of a virtualenv with the library: reused, or built (a one-time cost)."""
    root = cache_root() / "extrawest-venv"
    python, stamp = root / "bin" / "python", root / "openv2x-requirements.txt"
    with _locked(cache_root() / "extrawest-venv.lock"):
        if _usable(python, stamp):
            return python
        venv = subprocess.run([sys.executable, "-m", "venv", "--clear", str(root)],
                              capture_output=True, text=True, timeout=120)
        if venv.returncode != 0:
            pytest.fail(f"creating a virtualenv at {root} failed:\n{venv.stderr[-2000:]}")
        pip = subprocess.run(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check",
             "--retries", "2", "--timeout", "30", *REQUIREMENTS],
            capture_output=True, text=True, timeout=240)
        if pip.returncode != 0:
            tail = (pip.stdout + pip.stderr)[-2000:]
            if not _pypi_reachable():
                pytest.skip(f"PyPI is unreachable ({PYPI_PROBE}); {PACKAGE} cannot be "
                            f"installed:\n{tail}")
            pytest.fail(f"installing {PACKAGE} failed although PyPI is reachable:\n{tail}")
        stamp.write_text("\n".join(REQUIREMENTS))
        return python


# ---- the harness process -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Harness:
    """A running harness: its OCPI versions URL, control calls and what it received."""

    base_url: str
    process: asyncio.subprocess.Process
    log: Path
    http: aiohttp.ClientSession

    @property
    def versions_url(self) -> str:
        return f"{self.base_url}/ocpi/versions"

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(method, f"{self.base_url}/_harness/{path}",
                                     json=body) as resp:
            assert resp.status == 200, (path, resp.status, await resp.text(), self.tail())
            return await resp.json()

    async def state(self) -> dict[str, Any]:
        return dict(await self.control("GET", "state"))

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    async def wait_for(self, predicate: Callable[[dict[str, Any]], Any],
                       timeout: float = 15) -> Any:
        """The first truthy ``predicate(state)``; fails with the state after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            state = await self.state()
            found = predicate(state)
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"the harness never got there; incoming "
                                     f"{state['incoming']}, validation errors "
                                     f"{state['validation_errors']}\n{self.tail()}")
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def launch(python: Path, script: Path, party: tuple[str, str], workdir: Path,
                 http: aiohttp.ClientSession, args: list[str]) -> Harness:
    """Run a harness script with the library's interpreter on a free port, as ``party``, and
    wait until it answers."""
    port = free_port()
    log = workdir / f"extrawest-{port}.log"
    env = {**os.environ, "OCPI_HOST": f"127.0.0.1:{port}", "PROTOCOL": "http",
           "COUNTRY_CODE": party[0], "PARTY_ID": party[1], "ENVIRONMENT": "production"}
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            str(python), str(script), *args, env=env, cwd=workdir, stdout=out,
            stderr=subprocess.STDOUT)
    harness = Harness(f"http://127.0.0.1:{port}", process, log, http)
    deadline = time.monotonic() + 30
    while True:
        if process.returncode is not None:
            raise AssertionError(f"the harness exited early:\n{harness.tail()}")
        with contextlib.suppress(aiohttp.ClientError):
            await harness.state()
            return harness
        if time.monotonic() > deadline:
            await harness.stop()
            raise AssertionError(f"the harness did not start:\n{harness.tail()}")
        await asyncio.sleep(0.1)


StartEmsp = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def start_emsp(extrawest_python: Path, tmp_path: Path) -> AsyncIterator[StartEmsp]:
    """Start harness processes (``token_a``: a token A it accepts from a registering CPO)."""
    running: list[Harness] = []
    http = aiohttp.ClientSession()

    async def start(*, token_a: str | None = None) -> Harness:
        args = ["--token-a", token_a] if token_a else []
        emsp = await launch(extrawest_python, HARNESS, THEIRS, tmp_path, http, args)
        running.append(emsp)
        return emsp

    yield start
    for emsp in running:
        await emsp.stop()
    await http.close()


# ---- our side ------------------------------------------------------------------------------


@pytest.fixture
async def cpo(openv2x_server: Any) -> Any:
    """Our CPO with a published site CP1 (location LOC1) and a tariff at its station."""
    server = await openv2x_server(plugins=PLUGINS, settings=SETTINGS)
    await add_site(server, station_id="CP1", location_id="LOC1")
    await rest(server, "POST", "/api/tariff/", "billing_manager", TARIFF, 201)
    await rest(server, "POST", "/api/tariffassignment/", "billing_manager",
               {"tariff_id": "AC-STD", "scope": "station", "station_id": "CP1"}, 201)
    return server


async def rest(server: Any, method: str, path: str, role: str, body: Any = None,
               expected: int = 200) -> Any:
    headers = await server.auth_headers(role)
    async with server.http.request(method, server.url(path), headers=headers,
                                   json=body) as resp:
        text = await resp.text()
        assert resp.status == expected, (method, path, resp.status, text)
        return await resp.json() if text else None


async def partners(server: Any) -> list[OcpiPartner]:
    async with server.app[appkeys.DB].session() as session:
        return list((await session.execute(select(OcpiPartner).order_by(OcpiPartner.id)))
                    .scalars())


async def outbox(server: Any) -> list[OcpiOutbox]:
    async with server.app[appkeys.DB].session() as session:
        return list((await session.execute(select(OcpiOutbox).order_by(OcpiOutbox.id)))
                    .scalars())


def stamp(minutes: float) -> str:
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def energy(when: str, wh: int) -> list[dict[str, Any]]:
    return [{"timestamp": when, "sampled_value": [
        {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh",
         "context": "Sample.Periodic"}]}]


def pushed(state: dict[str, Any], module: str) -> list[tuple[str, str, int]]:
    """(method, path, HTTP status) of the requests our server made to one of its modules."""
    marker = f"/ocpi/emsp/2.2.1/{module}"
    return [(e["method"], e["path"], e["status"]) for e in state["incoming"]
            if e["path"].startswith(marker)]


def clean(state: dict[str, Any]) -> None:
    """Everything we sent passed the library's models, and it refused nothing."""
    assert state["validation_errors"] == [], state["validation_errors"]
    refused = [e for e in state["incoming"] if e.get("status", 0) >= 400]
    assert refused == [], refused


async def we_register(cpo: Any, emsp: Harness, token_a: str, expected: int = 201, *,
                      lenient: bool = False) -> Any:
    body = {"url": emsp.versions_url, "token": token_a}
    if lenient:
        body["allow_missing_request_ids"] = True
    return await rest(cpo, "POST", "/api/ocpi/cpo/register/", "emsp_manager", body, expected)


async def connected(cpo: Any, start_emsp: StartEmsp) -> Harness:
    """An eMSP as shipped (no request ids), registered by us with allow_missing_request_ids,
    that holds our location."""
    emsp = await start_emsp(token_a="token-a-for-openv2x")
    answer = await we_register(cpo, emsp, "token-a-for-openv2x", lenient=True)
    assert answer["allow_missing_request_ids"] is True
    await emsp.wait_for(lambda s: s["objects"].get("locations", {}).get("nl/ovx/loc1"))
    return emsp


async def test_as_shipped_the_library_cannot_complete_our_registration(
        cpo: Any, start_emsp: StartEmsp) -> None:
    """The library calls our versions without X-Request-ID / X-Correlation-ID, which OCPI
    2.2.1 requires on every request and we refuse (HTTP 400, 2001): it gives up with 3001,
    our registration fails with that reason, and nothing of it is kept on either side."""
    emsp = await start_emsp(token_a="token-a-for-openv2x")
    failed = await we_register(cpo, emsp, "token-a-for-openv2x", 502)
    assert "OCPI 3001" in failed["error"]["message"]
    state = await emsp.state()
    [call_back] = state["outgoing"]
    assert call_back["url"] == cpo.url("/ocpi/cpo/versions")
    assert (call_back["request_ids"], call_back["status"]) == (False, 400)
    assert "X-Request-ID header required" in call_back["response"]
    assert state["partners"] == [] and await partners(cpo) == []
    assert state["validation_errors"] == []


async def test_it_registers_with_us_pulls_our_lists_and_unregisters(
        cpo: Any, start_emsp: StartEmsp) -> None:
    """The eMSP starts the handshake (the library has no client for it: the harness makes
    the calls and checks our versions, details and credentials with the library's models),
    takes our location and tariff pushes, pulls our lists and ends the registration."""
    emsp = await start_emsp()
    token_a = await rest(cpo, "POST", "/api/ocpi/cpo/token-a/", "emsp_manager", None, 201)
    answer = await emsp.control("POST", "register", {"versions_url": token_a["versions_url"],
                                                     "token": token_a["token"]})
    assert answer["ok"], answer
    assert [(r["role"], r["country_code"], r["party_id"]) for r in
            answer["credentials"]["roles"]] == [("CPO", "nl", "ovx")]
    [row] = await partners(cpo)
    assert row.status == "registered" and row.name == "Extrawest OCPI test eMSP"
    assert [(r["country_code"], r["party_id"], r["role"]) for r in row.roles] == [
        (*THEIRS, "EMSP")]
    assert {e["identifier"] for e in row.endpoints} >= {"locations", "sessions", "cdrs",
                                                        "tariffs", "tokens", "commands"}

    location = await emsp.wait_for(
        lambda s: s["objects"].get("locations", {}).get("nl/ovx/loc1"))
    assert (location["id"], location["country"], location["time_zone"]) == (
        "loc1", "NLD", "Europe/Amsterdam")
    [evse] = location["evses"]
    assert evse["connectors"][0]["standard"] == "IEC_62196_T2"
    await rest(cpo, "POST", "/api/tariff/", "billing_manager", {**TARIFF, "id": "AC-NIGHT"},
               201)
    tariff = await emsp.wait_for(lambda s: s["objects"].get("tariffs", {}).get(
        "nl/ovx/ac-night"))
    assert tariff["elements"][1]["price_components"][0]["price"] == 0.25

    for module, ids in (("locations", ["loc1"]), ("tariffs", ["ac-std", "ac-night"]),
                        ("sessions", []), ("cdrs", [])):
        pulled = await emsp.control("GET", f"pull/{module}")
        assert [item["id"] for item in pulled["items"]] == ids, (module, pulled)
        assert [p["status"] for p in pulled["pages"]] == [200]

    assert (await emsp.control("POST", "unregister"))["status"] == 200
    [row] = await partners(cpo)
    assert row.status == "unregistered" and row.token_digest is None
    state = await emsp.state()
    assert state["partners"] == []
    clean(state)


async def test_we_register_with_it_and_a_session_roams_to_it(
        cpo: Any, start_emsp: StartEmsp) -> None:
    """We start the handshake (the library's own flow, as shipped), it pushes a
    token with the library's sender, a real OCPP 1.6 station charges with it, and the
    eMSP's receivers take the EVSE status, the session (start, progress, end) and the CDR,
    each through the library's models. We unregister at the end and tell it."""
    emsp = await connected(cpo, start_emsp)
    [row] = await partners(cpo)
    assert [(r["country_code"], r["party_id"]) for r in row.roles] == [THEIRS]
    assert row.version_url == f"{emsp.base_url}/ocpi/2.2.1/details"

    # Digits only: the library lower-cases CiStrings (see the case tests below).
    uid = "04123456789012"
    [push] = await emsp.control("POST", "tokens", {"uid": uid})
    assert push["url"] == cpo.url(f"/ocpi/cpo/2.2.1/tokens/DE/EXW/{uid}")
    assert push["status"] == 200 and '"status_code":1000' in push["body"]
    never = "04999999999999"
    await emsp.control("POST", "tokens", {"uid": never, "whitelist": "NEVER"})

    station = await connect(cpo, "CP1")
    await station.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                               status="Preparing"))
    evse = await emsp.wait_for(lambda s: next(
        (e for e in s["objects"]["locations"]["nl/ovx/loc1"]["evses"]
         if e["status"] == "CHARGING"), None))

    # A NEVER token is authorized by its eMSP in real time; the library checks our request.
    await station.call(call.Authorize(id_tag=never))
    [asked] = await emsp.wait_for(lambda s: s["authorizations"])
    assert asked["token_uid"] == never and asked["token_type"] == "RFID"
    # An OCPP 1.6 Authorize names no connector: the location only.
    assert asked["location_reference"] == {"location_id": "loc1", "evse_uids": []}

    started = await station.call(call.StartTransaction(
        connector_id=1, id_tag=uid, meter_start=1000, timestamp=stamp(-30)))
    assert started.id_tag_info["status"] == "Accepted"
    session_id = str(started.transaction_id)
    key = f"nl/ovx/{session_id}"
    first = await emsp.wait_for(lambda s: s["objects"].get("sessions", {}).get(key))
    assert (first["status"], first["kwh"], first["auth_method"]) == ("ACTIVE", 0, "WHITELIST")
    assert first["cdr_token"] == {"country_code": "de", "party_id": "exw", "uid": uid,
                                  "type": "RFID", "contract_id": uid}
    assert (first["location_id"], first["evse_uid"], first["connector_id"]) == (
        "loc1", evse["uid"], "1")
    assert first["total_cost"] == {"excl_vat": 0.5, "incl_vat": 0.6}

    await station.call(call.MeterValues(connector_id=1, transaction_id=int(session_id),
                                        meter_value=energy(stamp(-20), 4000)))
    progress = await emsp.wait_for(lambda s: [w["data"] for w in s["writes"]
                                              if w["module"] == "sessions"][1:])
    assert (progress[0]["kwh"], progress[0]["status"]) == (3.0, "ACTIVE")
    assert progress[0]["total_cost"] == {"excl_vat": 1.25, "incl_vat": 1.5}
    await station.call(call.StopTransaction(meter_stop=8000, timestamp=stamp(-10),
                                            transaction_id=int(session_id),
                                            reason="EVDisconnected"))

    [cdr] = await emsp.wait_for(lambda s: list(s["objects"].get("cdrs", {}).values()))
    state = await emsp.state()
    final = state["objects"]["sessions"][key]
    assert (final["status"], final["kwh"]) == ("COMPLETED", 7.0)
    # 7 kWh x 0.25 + 0.50 = 2.25 excluding VAT, 2.70 including 20 %.
    assert final["total_cost"] == cdr["total_cost"] == {"excl_vat": 2.25, "incl_vat": 2.7}
    assert (cdr["session_id"], cdr["total_energy"], cdr["cdr_token"]) == (
        session_id, 7.0, final["cdr_token"])
    assert cdr["end_date_time"] == final["end_date_time"]
    assert cdr["cdr_location"]["id"] == "loc1" and cdr["tariffs"][0]["id"] == "ac-std"
    sessions = f"/ocpi/emsp/2.2.1/sessions/NL/OVX/{session_id}"
    assert pushed(state, "sessions") == [("PUT", sessions, 200), ("PATCH", sessions, 200),
                                         ("PUT", sessions, 200)]
    # The library serves POST …/cdrs/ only; ours to …/cdrs follows its redirect.
    assert pushed(state, "cdrs") == [("POST", "/ocpi/emsp/2.2.1/cdrs", 307),
                                     ("POST", "/ocpi/emsp/2.2.1/cdrs/", 200)]
    assert {e["request_ids"] for e in state["incoming"]} == {True}
    assert {(tuple(e["to"]), tuple(e["from"])) for e in state["incoming"]
            if "/locations/" in e["path"] or "/sessions/" in e["path"]} == {(THEIRS, OURS)}
    assert state["validation_errors"] == []
    assert [e for e in state["incoming"] if e["status"] >= 400] == []
    assert {row.state for row in await outbox(cpo)} == {"done"}
    await disconnect(station)

    await rest(cpo, "DELETE", f"/api/ocpipartner/{row.id}/", "emsp_manager", None, 204)
    state = await emsp.state()
    assert state["partners"] == []
    assert ("DELETE", "/ocpi/emsp/2.2.1/credentials/", 200) in pushed(state, "credentials")


# ---- lower-cased CiStrings ------------------------------------------------------------------


async def test_a_token_uid_differing_only_in_case_is_the_same_token(
        cpo: Any, start_emsp: StartEmsp) -> None:
    """The library's push names the object as its caller does (here as printed on the card)
    and sends the body as its model holds it, lower-cased."""
    emsp = await connected(cpo, start_emsp)
    [push] = await emsp.control("POST", "tokens", {"uid": "04A2B3C4D5E6F7",
                                                   "object_id": "04A2B3C4D5E6F7"})
    assert push["status"] == 200 and '"status_code":1000' in push["body"], push


async def test_a_card_matches_its_token_whatever_the_case(cpo: Any,
                                                          start_emsp: StartEmsp) -> None:
    """The eMSP pushed the card's token lower-cased; the station reads it in upper case. A
    token we hold (whitelist ALWAYS) is accepted locally; were it taken for an unknown one,
    the eMSP asked in real time says NOT_ALLOWED, so only a local match passes."""
    emsp = await connected(cpo, start_emsp)
    [push] = await emsp.control("POST", "tokens", {"uid": "04A2B3C4D5E6F7",
                                                   "allowed": "NOT_ALLOWED"})
    assert push["url"].endswith("/DE/EXW/04a2b3c4d5e6f7") and push["status"] == 200
    station = await connect(cpo, "CP1")
    try:
        answer = await station.call(call.Authorize(id_tag="04A2B3C4D5E6F7"))
    finally:
        await disconnect(station)
    assert answer.id_tag_info["status"] == "Accepted"


async def test_start_session_with_a_lowercased_location_id(cpo: Any,
                                                           start_emsp: StartEmsp) -> None:
    """The eMSP starts a session at the location it holds (ids lower-cased by the library);
    the CommandResponse and the CommandResult reach it through its models."""
    emsp = await connected(cpo, start_emsp)
    uid = "04123456789012"
    await emsp.control("POST", "tokens", {"uid": uid})
    state = await emsp.state()
    location = state["objects"]["locations"]["nl/ovx/loc1"]
    station = await connect(cpo, "CP1")
    try:
        sent = await emsp.control("POST", "command/START_SESSION", {
            "token": state["tokens"][uid], "location_id": location["id"],
            "evse_uid": location["evses"][0]["uid"]})
        assert sent["envelope"]["status_code"] == 1000, sent
        assert sent["envelope"]["data"]["result"] == "ACCEPTED"
        [result] = await emsp.wait_for(lambda s: s["command_results"].get(sent["uid"]))
        assert result["result"] == "ACCEPTED"
        assert station.received[0][0] == "RemoteStartTransaction"
    finally:
        await disconnect(station)
    clean(await emsp.state())
