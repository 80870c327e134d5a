"""ChargingProfiles, SCSP side: send SetChargingProfile to the CPO, take its answers.

For every computed schedule the session's CPO (the partner that pushed the session) gets
``PUT {its chargingprofiles RECEIVER url}/{session_id}`` with ``{charging_profile,
response_url}``; the profile is in W, one period per run of equal slot powers (negative = the
discharge setpoint). It is sent through the OCPI outbox, so it survives a CPO that is down and a
restart, and only when it differs from the last one sent, so a recompute that changes nothing
sends nothing. A session that ends gets ``DELETE {url}/{session_id}?response_url=…``. An
operator may ask what the station really applies: ``GET {url}/{session_id}?duration=…&
response_url=…`` (GetActiveChargingProfile, :func:`request_active`).

We host the ``response_url`` on our chargingprofiles SENDER interface: the CPO POSTs the
asynchronous ChargingProfileResult / ClearProfileResult / ActiveChargingProfileResult there,
and may PUT an ActiveChargingProfile on ``{url}/{session_id}``.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import appkeys
from core.db import Work
from core.db.types import utcnow
from core.ocpi import (
    SENDER,
    OcpiModule,
    OcpiReply,
    OcpiRequest,
    OcpiRoute,
    Party,
    enqueue,
    format_datetime,
)
from core.ocpi.status import invalid, not_found
from plugins.ocpi_scsp import checks
from plugins.ocpi_scsp.tables import SentProfile

MODULE = "chargingprofiles"
RESULTS = {"ACCEPTED", "REJECTED", "UNKNOWN"}
RATE_UNITS = {"A", "W"}
#: Watts are sent with this many decimals: enough for any charger, stable across recomputes.
_DECIMALS = 1


def build_profile(start: dt.datetime, slot_minutes: int, power_w: Sequence[float]
                  ) -> dict[str, Any]:
    """An OCPI ChargingProfile (unit W) whose periods follow the slot powers."""
    periods: list[dict[str, Any]] = []
    for slot, power in enumerate(power_w):
        limit = round(float(power), _DECIMALS) + 0.0  # no "-0.0" on the wire
        if not periods or periods[-1]["limit"] != limit:
            periods.append({"start_period": slot * slot_minutes * 60, "limit": limit})
    return {"start_date_time": format_datetime(start), "charging_rate_unit": "W",
            "duration": len(power_w) * slot_minutes * 60,
            "charging_profile_period": periods}


def response_url(base: str, reference: str) -> str:
    """Where the CPO POSTs the result: ``{our chargingprofiles url}/result/{reference}``, a
    path apart from ``{url}/{session_id}`` (the OpenAPI description's pattern too)."""
    return f"{base}/ocpi/scsp/2.2.1/{MODULE}/result/{reference}"


async def send(work: Work, *, base: str, partner_id: int, owner: Party, us: Party,
               session_id: str, profile: dict[str, Any]) -> bool:
    """Queue a SetChargingProfile unless the same profile was sent last and not refused (a
    REJECTED one is tried again at every recompute); True when queued."""
    session: AsyncSession = work.session
    row = await session.get(SentProfile, (owner.country_code, owner.party_id, session_id))
    if row is not None and row.profile == profile and row.result != "REJECTED":
        return False
    reference = str(uuid.uuid4())
    if row is None:
        row = SentProfile(country_code=owner.country_code, party_id=owner.party_id,
                          session_id=session_id, reference=reference)
        session.add(row)
    row.profile, row.reference, row.result = profile, reference, None
    enqueue(work, partner_id, MODULE, "PUT", f"/{session_id}",
            {"charging_profile": profile, "response_url": response_url(base, reference)},
            to_party=owner, from_party=us, object_key=session_id)
    return True


async def clear(work: Work, *, base: str, partner_id: int, owner: Party, us: Party,
                session_id: str) -> bool:
    """Queue a ClearProfile for a session that had a profile; True when queued."""
    row = await work.session.get(SentProfile, (owner.country_code, owner.party_id, session_id))
    if row is None or row.profile is None:
        return False
    row.profile, row.reference, row.result = None, str(uuid.uuid4()), None
    enqueue(work, partner_id, MODULE, "DELETE",
            f"/{session_id}?response_url="
            f"{urllib.parse.quote(response_url(base, row.reference), safe='')}", None,
            to_party=owner, from_party=us, object_key=session_id)
    return True


_PERIOD = checks.obj({"start_period": checks.integer, "limit": checks.number},
                     required=("start_period", "limit"))
_PROFILE = checks.obj({"start_date_time": checks.datetime, "duration": checks.integer,
                       "charging_rate_unit": checks.one_of(RATE_UNITS),
                       "min_charging_rate": checks.number,
                       "charging_profile_period": checks.array(_PERIOD)},
                      required=("charging_rate_unit",))
#: ActiveChargingProfile (mod_charging_profiles.asciidoc).
ACTIVE_PROFILE = {"start_date_time": checks.datetime, "charging_profile": _PROFILE}
ACTIVE_REQUIRED = ("start_date_time", "charging_profile")
#: ChargingProfileResult and ClearProfileResult; an ActiveChargingProfileResult adds ``profile``.
RESULT = {"result": checks.one_of(RESULTS), "profile": checks.obj(ACTIVE_PROFILE,
                                                                  ACTIVE_REQUIRED)}


async def request_active(work: Work, *, base: str, partner_id: int, owner: Party, us: Party,
                         session_id: str, duration_s: int) -> SentProfile | None:
    """Queue a GetActiveChargingProfile for a session we sent a profile; None when we never
    did. The CPO answers at once and POSTs an ActiveChargingProfileResult to the response_url,
    a reference of its own so it never passes for the result of a SetChargingProfile."""
    row = await work.session.get(SentProfile, (owner.country_code, owner.party_id, session_id))
    if row is None:
        return None
    row.active_reference, row.active_result = str(uuid.uuid4()), None
    url = urllib.parse.quote(response_url(base, row.active_reference), safe="")
    enqueue(work, partner_id, MODULE, "GET",
            f"/{session_id}?duration={duration_s}&response_url={url}", None,
            to_party=owner, from_party=us, object_key=session_id)
    return row


async def _post_result(request: OcpiRequest) -> OcpiReply:
    """A ChargingProfileResult, ClearProfileResult or ActiveChargingProfileResult."""
    body = checks.fields_of(await request.json(), RESULT, required=("result",))
    reference = request.params["reference"]
    async with request.app[appkeys.DB].transaction() as work:
        row = (await work.session.execute(select(SentProfile).where(
            (SentProfile.reference == reference)
            | (SentProfile.active_reference == reference)))).scalars().first()
        if row is None:
            raise not_found("no charging profile request with this reference")
        if row.active_reference == reference:
            row.active_result = body["result"]
        else:
            row.result = body["result"]
        if isinstance(body.get("profile"), dict):
            row.active_profile, row.active_at = body["profile"], utcnow()
    return OcpiReply()


async def _put_active(request: OcpiRequest) -> OcpiReply:
    """An ActiveChargingProfile the CPO pushes for one of its sessions."""
    body = checks.fields_of(await request.json(), ACTIVE_PROFILE, ACTIVE_REQUIRED)
    sender = request.sender
    if sender is None:
        raise invalid("OCPI-from headers are required")
    async with request.app[appkeys.DB].transaction() as work:
        row = await work.session.get(
            SentProfile, (sender.country_code, sender.party_id, request.params["session_id"]))
        if row is None:
            raise not_found("no charging profile was sent for this session")
        row.active_profile, row.active_at = body, utcnow()
    return OcpiReply()


def module() -> OcpiModule:
    """Our chargingprofiles SENDER: results at the response_url, active profiles by PUT."""
    return OcpiModule(MODULE, SENDER, (OcpiRoute("POST", "/result/{reference}", _post_result),
                                       OcpiRoute("PUT", "/{session_id}", _put_active)))


__all__ = ["MODULE", "build_profile", "clear", "module", "request_active", "send"]
