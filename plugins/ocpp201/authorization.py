"""Authorization (block C): Authorize with every IdToken type and the 2.x IdTokenInfo options,
local authorization lists, and EVs that identify themselves (MAC address / EVCCID).

How each IdToken type is decided:

- ``NoAuthorization`` and ``Local`` (the station authorized it itself): Accepted.
- ``Central`` (issued by the CSMS, e.g. for a remote start): the stored token's verdict if it is
  one of ours, else Accepted — only the CSMS hands such tokens out.
- ``MacAddress`` (Autocharge) and a vehicle's EVCCID: the vehicle's token or driver
  (``/api/vehicle/``).
- ``ISO14443``, ``ISO15693``, ``eMAID``, ``KeyCode``: the stored token (``/api/idtag/``); an
  unknown one is ``Unknown``.

The answer carries the token's 2.x options: group id token (a master pass stops any session of
its group), preferred language, personal message, charging priority and cache expiry.
"""

from __future__ import annotations

from typing import Any, ClassVar

from aiohttp import web
from ocpp.routing import on
from sqlalchemy import select

from core import stations
from core.db import Work
from core.db.models import ChargingStation, IdToken
from core.events import Event
from core.ocpp.times import iso
from core.rest.routes import Route
from plugins.ocpp201.base import Effect, HandlerBase

SELF_AUTHORIZED = ("NoAuthorization", "Local")


async def decide(work: Work, id_token: dict[str, Any], *, starting: bool = False,
                 remote: str | None = None) -> stations.TokenDecision:
    """The verdict on an OCPP 2.x IdToken (``{"id_token", "type"}``), by its type.

    ``remote`` is the token issuer's verdict (:func:`remote_verdict`), when it gave one.
    """
    value, kind = id_token["id_token"], id_token["type"]
    if kind in SELF_AUTHORIZED:
        return stations.TokenDecision("Accepted")
    if kind == "MacAddress":
        return await stations.authorize_vehicle(work, value, starting=starting)
    decision = await stations.authorize_token(work, value, starting=starting, remote=remote)
    if kind == "Central" and not decision.known:
        return stations.TokenDecision("Accepted")
    return decision


async def remote_verdict(app: web.Application, station_id: str, id_token: dict[str, Any] | None,
                         evse_number: int | None) -> str | None:
    """The issuer's verdict on a token a station presents; tokens the CSMS does not look up
    (self-authorised, vehicles) are not asked about."""
    if not id_token or id_token["type"] in (*SELF_AUTHORIZED, "MacAddress"):
        return None
    return await stations.remote_verdict(app, station_id, id_token["id_token"],
                                         id_token["type"], evse_number, "2.x")


async def id_token_info(work: Work, decision: stations.TokenDecision) -> dict[str, Any]:
    """IdTokenInfoType (snake_case) for a verdict."""
    info: dict[str, Any] = {"status": decision.status if decision.known else "Unknown"}
    if decision.cache_expiry_date is not None:
        info["cache_expiry_date_time"] = iso(decision.cache_expiry_date)
    if decision.charging_priority is not None:
        info["charging_priority"] = decision.charging_priority
    if decision.language:
        info["language1"] = decision.language
    if decision.personal_message:
        info["personal_message"] = {k: v for k, v in decision.personal_message.items()
                                    if v is not None}
    if decision.group_id_token:
        group_type = await work.session.scalar(
            select(IdToken.type).where(IdToken.id_token == decision.group_id_token))
        info["group_id_token"] = {"id_token": decision.group_id_token,
                                  "type": group_type or "Central"}
    return info


async def send_local_list(work: Work, station_id: str, request: dict[str, Any],
                          answer: dict[str, Any]) -> None:
    if answer["status"] == "Accepted":
        await stations.set_local_list_version(work, station_id, request["version_number"],
                                              sent=True)


async def get_local_list_version(work: Work, station_id: str, request: dict[str, Any],
                                 answer: dict[str, Any]) -> None:
    await stations.set_local_list_version(work, station_id, answer["version_number"],
                                          sent=False)


class AuthorizationHandlers(HandlerBase):
    OWN_EFFECTS: ClassVar[dict[str, Effect]] = {
        "SendLocalList": send_local_list, "GetLocalListVersion": get_local_list_version}

    @on("Authorize")
    async def on_authorize(self, id_token: dict[str, Any], **_: Any) -> dict[str, Any]:
        remote = await remote_verdict(self.app, self.id, id_token, None)

        async def store(work: Work) -> dict[str, Any]:
            decision = await decide(work, id_token, remote=remote)
            work.emit(Event("token.authorized", {
                "station_id": self.id, "id_token": id_token["id_token"],
                "type": id_token["type"], "status": decision.status}))
            return {"id_token_info": await id_token_info(work, decision)}

        return await self._write(store)


async def local_list(work: Work, station_id: str, update_type: str) -> dict[str, Any]:
    """A 2.x SendLocalList request built from the id tags, with the next version number.

    ``Full`` lists every token; ``Differential`` the tokens changed since the last list the
    station accepted. Each entry carries the token's IdTokenInfo with its options.
    """
    station = await work.session.get(ChargingStation, station_id)
    current = (station.local_list_version if station else None) or 0
    query = select(IdToken).order_by(IdToken.id_token)
    if update_type == "Differential" and station is not None and station.local_list_sent_at:
        query = query.where(IdToken.last_updated >= station.local_list_sent_at)
    entries = []
    for token in (await work.session.execute(query)).scalars():
        if len(token.id_token) > 36:  # IdTokenType.idToken is at most 36 characters
            continue
        decision = await stations.authorize_token(work, token.id_token)
        entries.append({"id_token": {"id_token": token.id_token, "type": token.type},
                        "id_token_info": await id_token_info(work, decision)})
    request: dict[str, Any] = {"version_number": current + 1, "update_type": update_type}
    if entries:
        request["local_authorization_list"] = entries
    return request


def routes() -> list[Route]:
    """REST routes of this block: none (tokens and vehicles are core resources)."""
    return []
