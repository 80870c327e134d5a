"""``/api/scsp/session/…``: what we asked a CPO to apply to a session, and what it applies.

- ``GET /api/scsp/session/{country_code}/{party_id}/{session_id}/profile/``: the
  SetChargingProfile we sent last and the CPO's result, and the session's active profile with
  when it arrived (the CPO's ActiveChargingProfile PUT or the answer to our request).
- ``POST …/profile/active/`` ``{"duration": seconds}`` (default 3600): a GetActiveChargingProfile
  to the CPO; its answer comes asynchronously and shows in the ``GET`` above.

Sessions of local contexts are steered directly (:mod:`.local_profiles`): they have no CPO to
ask and are answered 404 here.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core import appkeys
from core.ocpi import OUTBOX, Party, format_datetime
from core.ocpi.server import base_url
from core.rest.body import json_object
from core.rest.errors import bad_request, not_found
from core.rest.resource import json_response
from core.rest.routes import Route
from plugins.ocpi_scsp import charging_profiles
from plugins.ocpi_scsp.config import CONFIG
from plugins.ocpi_scsp.tables import ScspSession, SentProfile

READ, WRITE = "scsp:read", "scsp:write"
#: Default and longest schedule (seconds) asked of a CPO.
DURATION, DURATION_MAX = 3600, 7 * 86400
PROFILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The profile we sent (OCPI ChargingProfile, W) and the CPO's answers",
    "properties": {
        "session_id": {"type": "string"}, "profile": {"type": "object", "nullable": True},
        "result": {"type": "string", "nullable": True},
        "active_profile": {"type": "object", "nullable": True},
        "active_result": {"type": "string", "nullable": True},
        "active_at": {"type": "string", "format": "date-time", "nullable": True}},
}
ACTIVE_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object", "properties": {"duration": {
        "type": "integer", "minimum": 1, "maximum": DURATION_MAX, "default": DURATION}}}


def _key(request: web.Request) -> tuple[str, str, str]:
    info = request.match_info
    return info["country_code"].upper(), info["party_id"].upper(), info["session_id"]


def _dump(row: SentProfile) -> dict[str, Any]:
    return {"session_id": row.session_id, "profile": row.profile, "result": row.result,
            "active_profile": row.active_profile, "active_result": row.active_result,
            "active_at": format_datetime(row.active_at) if row.active_at else None}


async def get_profile(request: web.Request) -> web.Response:
    async with request.app[appkeys.DB].session() as session:
        row = await session.get(SentProfile, _key(request))
    if row is None:
        raise not_found("charging profile sent for this session")
    return json_response(_dump(row))


def _duration(body: dict[str, Any]) -> int:
    if set(body) - {"duration"}:
        raise bad_request("the body may only hold duration (seconds)")
    value = body.get("duration", DURATION)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= DURATION_MAX:
        raise bad_request(f"duration must be an integer from 1 to {DURATION_MAX} (seconds)")
    return value


async def request_active(request: web.Request) -> web.Response:
    """Ask the session's CPO for the profile its station applies."""
    duration = _duration(await json_object(request) if request.body_exists else {})
    key = _key(request)
    app = request.app
    async with app[appkeys.DB].transaction() as work:
        session = await work.session.get(ScspSession, key)
        if session is None or session.partner_id is None:
            raise not_found("session of a CPO partner")
        row = await charging_profiles.request_active(
            work, base=base_url(app, request), partner_id=session.partner_id,
            owner=Party(key[0], key[1]), us=app[CONFIG].party, session_id=key[2],
            duration_s=duration)
        if row is None:
            raise not_found("charging profile sent for this session")
        answer = _dump(row)
    app[OUTBOX].wake(session.partner_id)
    return json_response(answer, status=202)


def routes() -> list[Route]:
    tags = ("scsp",)
    one = "/api/scsp/session/{country_code}/{party_id}/{session_id}/profile/"
    return [
        Route("GET", one, get_profile, READ, "scsp-session-profile",
              "The charging profile sent for a session and the CPO's answers", tags,
              response_schema=PROFILE_SCHEMA),
        Route("POST", one + "active/", request_active, WRITE, "scsp-session-active-profile",
              "Ask the CPO for the session's active charging profile", tags,
              request_schema=ACTIVE_REQUEST_SCHEMA, response_schema=PROFILE_SCHEMA),
    ]
