"""OCPI ChargingProfiles Receiver of our CPO over real HTTP, with real OCPP stations.

A real server with the OCPP and OCPI CPO plugins; an SCSP (the independent OCPI test peer of
``tests/ocpi_peers`` registered in role SCSP, hosting the chargingprofiles Sender interface and
the ``response_url``s) and real OCPP 1.6, 2.0.1 and 2.1 stations with an ongoing transaction.
The SCSP's profile must reach the station as SetChargingProfile with its limits, and every
result must arrive at the SCSP checked against the OCPI OpenAPI schemas.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from ocpi_peers import EmspPeer
from ocpi_peers.common import CLIENT_ERROR, OcpiResponse, envelope, join_url, shared_schemas
from ocpi_peers.emsp import ReceivedRequest, Reply, _Context, _ok
from ocpp.routing import on
from ocpp.v16 import call, call_result
from ocpp.v201 import call_result as result201
from ocpp16_station import TestStation
from ocpp16_station import connect as connect16
from ocpp201_station import Station21, Station201
from ocpp201_station import connect as connect2x
from sqlalchemy import select

from core import appkeys
from core.db.models import ChargingProfile, ChargingStation, IdToken, OcpiPartner, Transaction
from core.db.types import utcnow
from core.ocpi.registration import issue_token_a
from plugins.ocpi_cpo import chargingprofiles
from plugins.ocpi_cpo.chargingprofile_models import OcpiProfileRequest, OcpiSessionProfile

pytestmark = pytest.mark.skipif(not shared_schemas().available(),
                                reason="the OCPI 2.2.1 OpenAPI description is not available")

CPO = {"country_code": "NL", "party_id": "CPO", "command_timeout": 5}
T0 = "2026-11-24T10:00:00Z"
RESULT_SCHEMAS = {"set": "ChargingProfileResult", "active": "ActiveChargingProfileResult",
                  "clear": "ClearProfileResult"}
PROFILE = {"charging_rate_unit": "W", "min_charging_rate": 1400.0,
           "charging_profile_period": [{"start_period": 0, "limit": 11000},
                                       {"start_period": 900, "limit": 3700.5}]}


# ---- the SCSP -------------------------------------------------------------------------------


@dataclass
class ProfileCall:
    """A request the SCSP sent: the immediate ChargingProfileResponse and the later result."""

    kind: str
    uid: str
    response_url: str
    response: OcpiResponse | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def answer(self) -> Any:
        return self.response.data if self.response is not None else None


class ScspPeer(EmspPeer):
    """A Smart Charging Service Provider: role SCSP, chargingprofiles Sender interface."""

    ROLE: ClassVar[str] = "SCSP"
    ENDPOINTS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("credentials", "RECEIVER"), ("chargingprofiles", "SENDER"))

    def __init__(self, country_code: str = "NL", party_id: str = "SCS", **kwargs: Any) -> None:
        super().__init__(country_code, party_id, **kwargs)
        self.profile_calls: dict[str, ProfileCall] = {}
        self.active_profiles: dict[str, list[dict[str, Any]]] = {}

    def _new_call(self, kind: str) -> ProfileCall:
        uid = uuid.uuid4().hex
        url = join_url(self.endpoint_url("chargingprofiles"), "result", uid)
        self.profile_calls[uid] = ProfileCall(kind, uid, url)
        return self.profile_calls[uid]

    async def set_profile(self, session_id: str, profile: Any = None, *,
                          body: Any = None) -> ProfileCall:
        """PUT a SetChargingProfile ``{profile, response_url}`` (or ``body`` as it is)."""
        request = self._new_call("set")
        payload = body if body is not None else {
            "charging_profile": profile if profile is not None else PROFILE,
            "response_url": request.response_url}
        request.response = await self.call("PUT", "chargingprofiles", session_id,
                                           json=payload, role="RECEIVER")
        return request

    async def get_active(self, session_id: str, duration: int = 900) -> ProfileCall:
        request = self._new_call("active")
        request.response = await self.call(
            "GET", "chargingprofiles", session_id, role="RECEIVER",
            params={"duration": str(duration), "response_url": request.response_url})
        return request

    async def clear(self, session_id: str) -> ProfileCall:
        request = self._new_call("clear")
        request.response = await self.call("DELETE", "chargingprofiles", session_id,
                                           role="RECEIVER",
                                           params={"response_url": request.response_url})
        return request

    async def result(self, request: ProfileCall, timeout: float = 10.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            await request.arrived.wait()
        return request.results[0]

    async def _route(self, request: Any, record: ReceivedRequest, module: str | None,
                     args: list[str], body: Any) -> Reply:
        if module != "chargingprofiles":
            return await super()._route(request, record, module, args, body)
        token, partner = self._authenticate(request, record)
        record.partner = partner
        if partner is None or token is None:
            return Reply(401, envelope(status_code=CLIENT_ERROR, status_message="who?"))
        self._check_transport(request, record)
        ctx = _Context(request, record, token, partner, args, body)
        if request.method == "POST" and len(args) == 2 and args[0] == "result":
            found = self.profile_calls.get(args[1])
            if found is None:
                return self._not_found(f"no request {args[1]}")
            self._validate(ctx, "chargingprofiles", RESULT_SCHEMAS[found.kind], body)
            found.results.append(body)
            found.arrived.set()
            return _ok()
        if request.method == "PUT" and len(args) == 1:
            self._validate(ctx, "chargingprofiles", "ActiveChargingProfile", body)
            self.active_profiles.setdefault(args[0], []).append(body)
            return _ok()
        return self._method_not_allowed()


# ---- the stations ---------------------------------------------------------------------------


def _composite(profile: dict[str, Any] | None, duration: int) -> dict[str, Any]:
    """What a station plans: the last profile it took, else 11 kW."""
    schedule = (profile or {}).get("charging_schedule")
    if isinstance(schedule, list):
        schedule = schedule[0]
    periods = [{"start_period": p["start_period"],
                "limit": float(p.get("limit", p.get("setpoint")))}
               for p in (schedule or {}).get("charging_schedule_period", [])] \
        or [{"start_period": 0, "limit": 11000}]
    return {"duration": duration, "charging_rate_unit": (schedule or {}).get(
        "charging_rate_unit", "W"), "charging_schedule_period": periods}


class Station16(TestStation):
    """A 1.6 charger taking (or, with ``answer``, refusing) profiles and planning with them."""

    __test__ = False

    def __init__(self, station_id: str, connection: Any) -> None:
        super().__init__(station_id, connection)
        self.answer = "Accepted"
        self.profile: dict[str, Any] | None = None

    @on("SetChargingProfile")
    def on_set_charging_profile(self, connector_id, cs_charging_profiles):
        self.received.append(("SetChargingProfile", {"connector_id": connector_id,
                                                     **cs_charging_profiles}))
        if self.answer == "Accepted":
            self.profile = cs_charging_profiles
        return call_result.SetChargingProfile(status=self.answer)

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, **criteria):
        self.received.append(("ClearChargingProfile", criteria))
        known = self.profile is not None and \
            criteria.get("id") == self.profile["charging_profile_id"]
        self.profile = None if known else self.profile
        return call_result.ClearChargingProfile(status="Accepted" if known else "Unknown")

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(self, connector_id, duration, charging_rate_unit=None):
        self.received.append(("GetCompositeSchedule", {"connector_id": connector_id,
                                                       "duration": duration}))
        return call_result.GetCompositeSchedule(
            status="Accepted", connector_id=connector_id, schedule_start=T0,
            charging_schedule={**_composite(self.profile, duration), "start_schedule": T0})


class SmartHandlers2x:
    """2.x answers: profiles taken, cleared by id and planned with."""

    answer = "Accepted"
    profile: dict[str, Any] | None = None

    @on("SetChargingProfile")
    def on_set_charging_profile(self, evse_id, charging_profile, **_):
        self.received.append(("SetChargingProfile", {"evse_id": evse_id,
                                                     "charging_profile": charging_profile}))
        if self.answer == "Accepted":
            self.profile = charging_profile
        return result201.SetChargingProfile(status=self.answer)

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, charging_profile_id=None, **criteria):
        self.received.append(("ClearChargingProfile", {"charging_profile_id":
                                                       charging_profile_id, **criteria}))
        known = self.profile is not None and charging_profile_id == self.profile["id"]
        self.profile = None if known else self.profile
        return result201.ClearChargingProfile(status="Accepted" if known else "Unknown")

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(self, duration, evse_id, charging_rate_unit=None, **_):
        self.received.append(("GetCompositeSchedule", {"evse_id": evse_id,
                                                       "duration": duration}))
        return result201.GetCompositeSchedule(status="Accepted", schedule={
            "evse_id": evse_id, "schedule_start": T0, **_composite(self.profile, duration)})


class Smart201(SmartHandlers2x, Station201):
    __test__ = False


class Smart21(SmartHandlers2x, Station21):
    __test__ = False


# ---- the world ------------------------------------------------------------------------------


async def registered(server: Any, peer: EmspPeer) -> EmspPeer:
    await peer.start()
    await peer.register_with(server.url("/ocpi/cpo/versions"),
                             await issue_token_a(server.app, "cpo"))
    return peer


@pytest.fixture
async def cpo(openv2x_server):
    server = await openv2x_server(plugins=["ocpp16", "ocpp201", "billing", "ocpi_cpo"],
                                  settings={"ocpi_cpo": CPO})
    async with server.app[appkeys.DB].transaction() as work:
        for uid in ("EMS-1", "EMS-2", "EMS-3"):
            work.session.add(IdToken(id_token=uid, type="ISO14443", country_code="NL",
                                     party_id="EMS"))
    return server


@pytest.fixture
async def scsp(cpo):
    peer = await registered(cpo, ScspPeer())
    yield peer
    await peer.stop()


async def add_station(server: Any, station_id: str) -> None:
    async with server.app[appkeys.DB].transaction() as work:
        work.session.add(ChargingStation(id=station_id, registration_status="Accepted"))


async def charging16(server: Any, station_id: str = "CP1", id_tag: str = "EMS-1"
                     ) -> tuple[Station16, str]:
    """A 1.6 station charging: (station, OCPI session id)."""
    await add_station(server, station_id)
    station = await connect16(server, station_id, station_cls=Station16)
    started = await station.call(call.StartTransaction(
        connector_id=1, id_tag=id_tag, meter_start=0,
        timestamp=utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")))
    return station, str(started.transaction_id)


async def charging2x(server: Any, version: str, station_id: str = "CS1",
                     uid: str = "TX-201") -> Any:
    """A 2.x station charging on EVSE 1 (OCPI session id ``uid``)."""
    await add_station(server, station_id)
    cls = Smart201 if version == "2.0.1" else Smart21
    station = await connect2x(server, station_id, version=version, station_cls=cls)
    await station.call(station.calls.TransactionEvent(
        event_type="Started", timestamp=utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
        trigger_reason="Authorized", seq_no=0, transaction_info={"transaction_id": uid},
        evse={"id": 1, "connector_id": 1}, id_token={"id_token": "EMS-2", "type": "ISO14443"}))
    return station


def sent(station: Any, action: str) -> list[dict[str, Any]]:
    return [payload for name, payload in station.received if name == action]


async def rows(server: Any, model: Any, *where: Any) -> list[Any]:
    async with server.app[appkeys.DB].session() as session:
        return list((await session.execute(select(model).where(*where).order_by(model.id))
                     ).scalars())


async def transaction(server: Any, uid: str) -> Transaction:
    [tx] = await rows(server, Transaction, Transaction.transaction_uid == uid)
    return tx


def accepted(request: ProfileCall) -> None:
    assert request.response is not None and request.response.status_code == 1000
    assert request.answer == {"result": "ACCEPTED", "timeout": 5}


# ---- OCPP 1.6 -------------------------------------------------------------------------------


async def test_scsp_profile_reaches_a_16_station_and_the_result_the_scsp(cpo, scsp):
    station, session_id = await charging16(cpo)
    tx = await transaction(cpo, session_id)

    request = await scsp.set_profile(session_id)
    accepted(request)
    assert await scsp.result(request) == {"result": "ACCEPTED"}
    [profile] = sent(station, "SetChargingProfile")
    assert profile["connector_id"] == 1
    assert profile["transaction_id"] == tx.id
    assert profile["charging_profile_purpose"] == "TxProfile"
    assert profile["charging_profile_kind"] == "Relative"
    assert profile["charging_profile_id"] == chargingprofiles.PROFILE_ID_BASE + tx.id
    schedule = profile["charging_schedule"]
    assert schedule["charging_rate_unit"] == "W" and schedule["min_charging_rate"] == 1400
    assert schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 11000},
                                                    {"start_period": 900, "limit": 3700.5}]
    # The OCPP plugin recorded it like any profile it sends.
    [row] = await rows(cpo, ChargingProfile, ChargingProfile.station_id == "CP1")
    assert (row.status, row.transaction_id, row.purpose) == ("Accepted", tx.id, "TxProfile")
    # The party that set it now gets the session's ActiveChargingProfile.
    [update] = await scsp.wait_for(lambda: scsp.active_profiles.get(session_id))
    assert update["charging_profile"]["charging_profile_period"][1]["limit"] == 3700.5
    [push] = scsp.requests("chargingprofiles", "PUT")
    assert (push.to_party.key(), push.from_party.key()) == (("NL", "SCS"), ("NL", "CPO"))
    assert scsp.rejected == [] and scsp.violations == []

    # The result was routed to the SCSP party, from ours.
    [post] = scsp.requests("chargingprofiles", "POST")
    assert (post.to_party.key(), post.from_party.key()) == (("NL", "SCS"), ("NL", "CPO"))


async def test_active_profile_is_the_stations_composite_schedule(cpo, scsp):
    station, session_id = await charging16(cpo)
    accepted(set_call := await scsp.set_profile(session_id))
    await scsp.result(set_call)

    request = await scsp.get_active(session_id, duration=1800)
    accepted(request)
    result = await scsp.result(request)
    assert sent(station, "GetCompositeSchedule")[-1] == {"connector_id": 1, "duration": 1800}
    assert result["result"] == "ACCEPTED"
    assert result["profile"]["start_date_time"] == T0
    assert result["profile"]["charging_profile"] == {
        "start_date_time": T0, "duration": 1800, "charging_rate_unit": "W",
        "charging_profile_period": [{"start_period": 0, "limit": 11000},
                                    {"start_period": 900, "limit": 3700.5}]}
    assert scsp.rejected == []


async def test_clear_removes_the_scsps_profile_from_the_station(cpo, scsp):
    station, session_id = await charging16(cpo)
    tx = await transaction(cpo, session_id)
    await scsp.result(await scsp.set_profile(session_id))

    request = await scsp.clear(session_id)
    accepted(request)
    assert await scsp.result(request) == {"result": "ACCEPTED"}
    assert sent(station, "ClearChargingProfile") == [
        {"id": chargingprofiles.PROFILE_ID_BASE + tx.id}]
    [row] = await rows(cpo, ChargingProfile, ChargingProfile.station_id == "CP1")
    assert row.status == "Cleared"
    [entry] = await rows(cpo, OcpiSessionProfile)
    assert entry.active is False and entry.cleared_at is not None

    # Nothing of this party is in force any more: UNKNOWN, without bothering the station.
    again = await scsp.clear(session_id)
    accepted(again)
    assert await scsp.result(again) == {"result": "UNKNOWN"}
    assert len(sent(station, "ClearChargingProfile")) == 1


async def test_a_station_refusing_the_profile_gives_rejected(cpo, scsp):
    station, session_id = await charging16(cpo)
    station.answer = "Rejected"
    request = await scsp.set_profile(session_id)
    accepted(request)
    assert await scsp.result(request) == {"result": "REJECTED"}
    assert len(sent(station, "SetChargingProfile")) == 1
    assert await rows(cpo, OcpiSessionProfile) == []
    # The SCSP never set a profile successfully: no ActiveChargingProfile updates for it.
    await cpo.app[chargingprofiles.RUNNER].wait()
    assert scsp.active_profiles == {}


async def test_unknown_and_ended_sessions(cpo, scsp):
    station, session_id = await charging16(cpo)
    for answer in (await scsp.set_profile("999999"), await scsp.get_active("999999"),
                   await scsp.clear("999999")):
        assert answer.response.status_code == 1000
        assert answer.answer == {"result": "UNKNOWN_SESSION", "timeout": 5}
    await station.call(call.StopTransaction(
        meter_stop=1000, timestamp=utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
        transaction_id=int(session_id)))
    ended = await scsp.set_profile(session_id)
    assert ended.answer["result"] == "UNKNOWN_SESSION"
    assert sent(station, "SetChargingProfile") == []
    assert await rows(cpo, OcpiProfileRequest) == []


@pytest.mark.parametrize("body", [
    {"charging_profile": {**PROFILE, "charging_rate_unit": "kW"}},
    {"charging_profile": {**PROFILE, "charging_profile_period": []}},
    {"charging_profile": {**PROFILE, "charging_profile_period": [
        {"start_period": 60, "limit": 11000}]}},
    {"charging_profile": {**PROFILE, "charging_profile_period": [
        {"start_period": 0, "limit": "fast"}]}},
    {"charging_profile": {**PROFILE, "start_date_time": "tomorrow"}},
    {"charging_profile": {**PROFILE, "duration": -5}},
    {"charging_profile": PROFILE, "response_url": "not a url"},
    {"response_url": "https://scsp.example.com/result/1"},
    ["not", "an", "object"],
])
async def test_a_bad_body_is_2001_and_nothing_reaches_the_station(cpo, scsp, body):
    station, session_id = await charging16(cpo)
    if isinstance(body, dict) and "response_url" not in body:
        body = {**body, "response_url": "https://scsp.example.com/result/1"}
    answer = await scsp.set_profile(session_id, body=body)
    assert answer.response.status_code == 2001
    assert sent(station, "SetChargingProfile") == []
    assert await rows(cpo, OcpiProfileRequest) == []


async def test_bad_queries_are_2001(cpo, scsp):
    _, session_id = await charging16(cpo)
    for params in ({"response_url": "https://scsp.example.com/r/1"},
                   {"duration": "ten", "response_url": "https://scsp.example.com/r/1"},
                   {"duration": "60"}):
        answer = await scsp.call("GET", "chargingprofiles", session_id, role="RECEIVER",
                                 params=params)
        assert answer.status_code == 2001
    answer = await scsp.call("DELETE", "chargingprofiles", session_id, role="RECEIVER")
    assert answer.status_code == 2001


async def test_only_scsps_and_the_sessions_emsp_may_act(cpo, scsp):
    station, session_id = await charging16(cpo)
    foreign = await registered(cpo, EmspPeer("DE", "OTH"))
    owner = await registered(cpo, EmspPeer("NL", "EMS"))
    try:
        body = {"charging_profile": PROFILE,
                "response_url": join_url(owner.endpoint_url("commands"), "none")}
        for method, params, json in (("PUT", None, body),
                                     ("GET", {"duration": "60",
                                              "response_url": "https://x.example.com/r"},
                                      None),
                                     ("DELETE", {"response_url": "https://x.example.com/r"},
                                      None)):
            answer = await foreign.call(method, "chargingprofiles", session_id, json=json,
                                        params=params, role="RECEIVER")
            assert answer.http_status == 404, method
        assert sent(station, "SetChargingProfile") == []
        # The eMSP whose token started the session may.
        answer = await owner.call("PUT", "chargingprofiles", session_id, json=body,
                                  role="RECEIVER")
        assert answer.data == {"result": "ACCEPTED", "timeout": 5}
        await cpo.app[chargingprofiles.RUNNER].wait()
        assert len(sent(station, "SetChargingProfile")) == 1
    finally:
        await foreign.stop()
        await owner.stop()


async def test_discharging_needs_an_ocpp21_station(cpo, scsp):
    station, session_id = await charging16(cpo)
    discharge = {**PROFILE, "charging_profile_period": [{"start_period": 0, "limit": -3000}]}
    request = await scsp.set_profile(session_id, discharge)
    accepted(request)
    assert await scsp.result(request) == {"result": "REJECTED"}
    assert sent(station, "SetChargingProfile") == []


async def test_a_profile_sent_another_way_updates_the_scsp(cpo, scsp):
    _, session_id = await charging16(cpo)
    await scsp.result(await scsp.set_profile(session_id))
    await scsp.wait_for(lambda: scsp.active_profiles.get(session_id))
    await cpo.app[chargingprofiles.RUNNER].wait()
    scsp.active_profiles.clear()

    # The operator caps the whole station (a ChargePointMaxProfile, over the dispatcher).
    await cpo.app[appkeys.DISPATCHER].call("CP1", "SetChargingProfile", {
        "connector_id": 0, "cs_charging_profiles": {
            "charging_profile_id": 7, "stack_level": 0,
            "charging_profile_purpose": "ChargePointMaxProfile",
            "charging_profile_kind": "Absolute", "charging_schedule": {
                "start_schedule": T0, "charging_rate_unit": "W",
                "charging_schedule_period": [{"start_period": 0, "limit": 5000}]}}})
    [update] = await scsp.wait_for(lambda: scsp.active_profiles.get(session_id))
    assert update["charging_profile"]["charging_profile_period"] == [
        {"start_period": 0, "limit": 5000}]
    assert scsp.rejected == []


async def test_a_restart_delivers_what_a_previous_run_left(cpo, scsp):
    _, session_id = await charging16(cpo)
    [partner] = await rows(cpo, OcpiPartner, OcpiPartner.name.like("%scsp%"))
    left = scsp._new_call("set")
    answered = scsp._new_call("active")
    past = utcnow() - dt.timedelta(seconds=1)
    async with cpo.app[appkeys.DB].transaction() as work:
        for request, state, result in ((left, "pending", None),
                                       (answered, "result", {"result": "UNKNOWN"})):
            work.session.add(OcpiProfileRequest(
                partner_id=partner.id, kind=request.kind, session_id=session_id,
                country_code="NL", party_id="SCS", our_country_code="NL", our_party_id="CPO",
                response_url=request.response_url, request={}, station_id="CP1",
                ocpp_version="1.6", action="GetCompositeSchedule", payload={}, state=state,
                result=result, attempts=0, deadline=past))
    runner = chargingprofiles.ProfileRunner(cpo.app)
    await runner.recover()
    await runner.wait()
    assert await scsp.result(left) == {"result": "REJECTED"}
    assert await scsp.result(answered) == {"result": "UNKNOWN"}
    states = {row.state for row in await rows(cpo, OcpiProfileRequest)}
    assert states == {"delivered"}


# ---- OCPP 2.x -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
async def test_scsp_profile_reaches_a_2x_station(cpo, scsp, version):
    station = await charging2x(cpo, version)
    tx = await transaction(cpo, "TX-201")
    start = "2026-11-24T11:00:00Z"
    request = await scsp.set_profile("TX-201", {**PROFILE, "start_date_time": start,
                                                "duration": 3600})
    accepted(request)
    assert await scsp.result(request) == {"result": "ACCEPTED"}
    [sent_profile] = sent(station, "SetChargingProfile")
    assert sent_profile["evse_id"] == 1
    profile = sent_profile["charging_profile"]
    assert (profile["id"], profile["transaction_id"], profile["charging_profile_purpose"],
            profile["charging_profile_kind"]) == (
        chargingprofiles.PROFILE_ID_BASE + tx.id, "TX-201", "TxProfile", "Absolute")
    [schedule] = profile["charging_schedule"]
    assert (schedule["start_schedule"], schedule["duration"]) == (start, 3600)
    assert schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 11000},
                                                    {"start_period": 900, "limit": 3700.5}]
    [row] = await rows(cpo, ChargingProfile, ChargingProfile.station_id == "CS1")
    assert (row.status, row.transaction_id) == ("Accepted", tx.id)

    active = await scsp.get_active("TX-201", duration=600)
    accepted(active)
    result = await scsp.result(active)
    assert result["result"] == "ACCEPTED"
    assert result["profile"]["charging_profile"]["charging_profile_period"][0]["limit"] == 11000
    assert sent(station, "GetCompositeSchedule")[-1] == {"evse_id": 1, "duration": 600}

    cleared = await scsp.clear("TX-201")
    accepted(cleared)
    assert await scsp.result(cleared) == {"result": "ACCEPTED"}
    assert sent(station, "ClearChargingProfile")[-1]["charging_profile_id"] == profile["id"]
    await scsp.wait_for(lambda: len(scsp.active_profiles.get("TX-201", [])) >= 2)
    assert scsp.rejected == [] and scsp.violations == []


async def test_a_21_station_takes_discharging_limits(cpo, scsp):
    station = await charging2x(cpo, "2.1")
    discharge = {**PROFILE, "charging_profile_period": [{"start_period": 0, "limit": 7000},
                                                        {"start_period": 600, "limit": -3000}]}
    request = await scsp.set_profile("TX-201", discharge)
    accepted(request)
    assert await scsp.result(request) == {"result": "ACCEPTED"}
    [sent_profile] = sent(station, "SetChargingProfile")
    [schedule] = sent_profile["charging_profile"]["charging_schedule"]
    assert schedule["charging_schedule_period"] == [
        {"start_period": 0, "limit": 7000},
        {"start_period": 600, "operation_mode": "CentralSetpoint", "setpoint": -3000,
         "discharge_limit": -3000}]


async def test_a_2x_station_refusing_gives_rejected(cpo, scsp):
    station = await charging2x(cpo, "2.0.1")
    station.answer = "Rejected"
    request = await scsp.set_profile("TX-201")
    accepted(request)
    assert await scsp.result(request) == {"result": "REJECTED"}
    assert len(sent(station, "SetChargingProfile")) == 1
