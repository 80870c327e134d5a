"""What a station's answer to a CSMS command changes in our records.

Run after every successful command, whoever sent it (REST, a task, another plugin), so the
reservation, profile, configuration and local-list state never depends on the caller.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select, update

from core import stations
from core.db import Work
from core.db.models import (
    ChargingProfile,
    ChargingStation,
    IdToken,
    StationSetting,
)
from core.db.types import utcnow
from core.events import Event


def _time(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed


async def reserve_now(work: Work, station_id: str, request: dict[str, Any],
                      answer: dict[str, Any]) -> None:
    await stations.record_reservation(
        work, station_id, request["reservation_id"], evse_number=request["connector_id"] or None,
        connector_number=request["connector_id"], id_token=request["id_tag"],
        expiry=_time(request["expiry_date"]), station_answer=answer["status"])


async def cancel_reservation(work: Work, station_id: str, request: dict[str, Any],
                             answer: dict[str, Any]) -> None:
    if answer["status"] == "Accepted":
        await stations.cancel_reservation(work, station_id, request["reservation_id"])


async def set_charging_profile(work: Work, station_id: str, request: dict[str, Any],
                               answer: dict[str, Any]) -> None:
    profile = request["cs_charging_profiles"]
    work.session.add(ChargingProfile(
        station_id=station_id, evse_number=request["connector_id"],
        transaction_id=profile.get("transaction_id"),
        stack_level=profile["stack_level"], purpose=profile["charging_profile_purpose"],
        kind=profile["charging_profile_kind"], recurrency_kind=profile.get("recurrency_kind"),
        valid_from=_time(profile["valid_from"]) if profile.get("valid_from") else None,
        valid_to=_time(profile["valid_to"]) if profile.get("valid_to") else None,
        schedule=profile["charging_schedule"], status=answer["status"], sent_at=utcnow(),
        ocpp_profile_id=profile["charging_profile_id"],
    ))
    work.emit(Event("charging_profile.sent", {"station_id": station_id,
                                              "profile_id": profile["charging_profile_id"],
                                              "status": answer["status"]}))


async def clear_charging_profile(work: Work, station_id: str, request: dict[str, Any],
                                 answer: dict[str, Any]) -> None:
    if answer["status"] != "Accepted":
        return
    conditions = [ChargingProfile.station_id == station_id,
                  ChargingProfile.status == "Accepted"]
    if request.get("id") is not None:
        conditions.append(ChargingProfile.ocpp_profile_id == request["id"])
    if request.get("connector_id") is not None:
        conditions.append(ChargingProfile.evse_number == request["connector_id"])
    if request.get("charging_profile_purpose") is not None:
        conditions.append(ChargingProfile.purpose == request["charging_profile_purpose"])
    if request.get("stack_level") is not None:
        conditions.append(ChargingProfile.stack_level == request["stack_level"])
    await work.session.execute(update(ChargingProfile).where(*conditions).values(
        status="Cleared"))


async def _set_setting(work: Work, station_id: str, key: str, value: str | None,
                       readonly: bool | None) -> None:
    setting = (await work.session.execute(select(StationSetting).where(
        StationSetting.station_id == station_id, StationSetting.key == key))).scalars().first()
    if setting is None:
        work.session.add(StationSetting(station_id=station_id, key=key, value=value,
                                        readonly=readonly))
    else:
        setting.value = value
        if readonly is not None:
            setting.readonly = readonly


async def get_configuration(work: Work, station_id: str, request: dict[str, Any],
                            answer: dict[str, Any]) -> None:
    if not request.get("key"):
        # The whole configuration was read: keys the station no longer has are dropped.
        await work.session.execute(delete(StationSetting).where(
            StationSetting.station_id == station_id))
        await work.session.flush()
    for item in answer.get("configuration_key", []):
        await _set_setting(work, station_id, item["key"], item.get("value"), item["readonly"])


async def change_configuration(work: Work, station_id: str, request: dict[str, Any],
                               answer: dict[str, Any]) -> None:
    if answer["status"] in ("Accepted", "RebootRequired"):
        await _set_setting(work, station_id, request["key"], request["value"], None)


async def send_local_list(work: Work, station_id: str, request: dict[str, Any],
                          answer: dict[str, Any]) -> None:
    if answer["status"] == "Accepted":
        await stations.set_local_list_version(work, station_id, request["list_version"],
                                              sent=True)


async def get_local_list_version(work: Work, station_id: str, request: dict[str, Any],
                                 answer: dict[str, Any]) -> None:
    await stations.set_local_list_version(work, station_id, answer["list_version"], sent=False)


EFFECTS = {
    "ReserveNow": reserve_now,
    "CancelReservation": cancel_reservation,
    "SetChargingProfile": set_charging_profile,
    "ClearChargingProfile": clear_charging_profile,
    "GetConfiguration": get_configuration,
    "ChangeConfiguration": change_configuration,
    "SendLocalList": send_local_list,
    "GetLocalListVersion": get_local_list_version,
}


async def local_list(work: Work, station_id: str, update_type: str) -> dict[str, Any]:
    """A SendLocalList request built from the id tags, with the next version number.

    ``Full`` lists every token; ``Differential`` lists the tokens changed since the last list
    the station accepted (blocked and expired ones too, so it updates them). Tokens longer than
    OCPP 1.6's 20 characters cannot be in a 1.6 list and are left out.
    """
    station = await work.session.get(ChargingStation, station_id)
    current = (station.local_list_version if station else None) or 0
    query = select(IdToken).order_by(IdToken.id_token)
    if update_type == "Differential" and station is not None and station.local_list_sent_at:
        query = query.where(IdToken.last_updated >= station.local_list_sent_at)
    entries = []
    for token in (await work.session.execute(query)).scalars():
        if len(token.id_token) > 20:
            continue
        info: dict[str, Any] = {"status": token.status}
        if token.expiry_date is not None:
            info["expiry_date"] = token.expiry_date.isoformat()
        if token.group_id_token and len(token.group_id_token) <= 20:
            info["parent_id_tag"] = token.group_id_token
        entries.append({"id_tag": token.id_token, "id_tag_info": info})
    return {"list_version": current + 1, "update_type": update_type,
            "local_authorization_list": entries}
