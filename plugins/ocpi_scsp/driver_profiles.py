"""Battery capacities from the drivers' own data, for sessions whose CPO sends none.

A session names its token (``cdr_token.uid``). When that token is one of ours, the driver's EV
is known: a vehicle registered with the token, or else the battery capacity in the driver's
profile. The vehicle is the more specific of the two and wins.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import IdToken, User, Vehicle


def token_uid(data: dict[str, Any]) -> str | None:
    token = data.get("cdr_token")
    uid = token.get("uid") if isinstance(token, dict) else None
    return uid.upper() if isinstance(uid, str) and uid else None


async def battery_capacities_kwh(session: AsyncSession, uids: set[str]) -> dict[str, float]:
    """kWh per upper-cased token uid, for the uids whose driver's battery is known."""
    if not uids:
        return {}
    found: dict[str, float] = {}
    profiles = await session.execute(
        select(func.upper(IdToken.id_token), User.battery_capacity_wh)
        .join(User, User.id == IdToken.user_id)
        .where(func.upper(IdToken.id_token).in_(uids), User.battery_capacity_wh.is_not(None)))
    for uid, wh in profiles.all():
        found[uid] = wh / 1000
    vehicles = await session.execute(
        select(func.upper(Vehicle.id_token), Vehicle.battery_capacity_wh)
        .where(func.upper(Vehicle.id_token).in_(uids), Vehicle.battery_capacity_wh.is_not(None))
        .order_by(Vehicle.last_seen.desc().nulls_last()))
    for uid, wh in reversed(vehicles.all()):  # the most recently seen vehicle last, so it wins
        found[uid] = wh / 1000
    return found
