"""Tariff versions: saving a change as a new version, and reading the one a session ran under.

A version row is never rewritten. The tariff a session is priced with is the version that was
current when the session started (OCPI: a CDR preserves what was valid at the start); one that
started before the tariff's first version existed (a station's clock, an offline queue) is
priced with that first version rather than with nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Work
from plugins.billing.model import (
    Tariff,
    TariffType,
    format_datetime,
    tariff_from_ocpi,
    tariff_to_ocpi,
)
from plugins.billing.tables import TariffVersion

# Types a session authorised by a token, without charging preferences, may be priced with.
REGULAR_TYPES = (None, TariffType.REGULAR)

# Keyed with the creation time too: a version number is only unique within one database.
_PARSED: OrderedDict[tuple[str, int, dt.datetime], Tariff] = OrderedDict()
_PARSED_LIMIT = 1024


def parsed(row: TariffVersion) -> Tariff:
    """The row's tariff, one object per version so the engine's compiled form is reused."""
    key = (row.tariff_id, row.version, row.created_at)
    found = _PARSED.get(key)
    if found is not None:
        _PARSED.move_to_end(key)
        return found
    tariff = tariff_from_ocpi(row.data)
    _PARSED[key] = tariff
    if len(_PARSED) > _PARSED_LIMIT:
        _PARSED.popitem(last=False)
    return tariff


def valid_at(tariff: Tariff, at: dt.datetime) -> bool:
    """Whether ``at`` is inside the tariff's own start/end date-time."""
    if tariff.start_date_time is not None and at < tariff.start_date_time:
        return False
    return tariff.end_date_time is None or at < tariff.end_date_time


async def current(session: AsyncSession, tariff_id: str) -> TariffVersion | None:
    stmt = select(TariffVersion).where(TariffVersion.tariff_id == tariff_id,
                                       TariffVersion.is_current.is_(True))
    return (await session.execute(stmt)).scalars().first()


async def version(session: AsyncSession, tariff_id: str, number: int) -> TariffVersion | None:
    stmt = select(TariffVersion).where(TariffVersion.tariff_id == tariff_id,
                                       TariffVersion.version == number)
    return (await session.execute(stmt)).scalars().first()


async def as_of(session: AsyncSession, tariff_id: str, at: dt.datetime) -> TariffVersion | None:
    """The version current at ``at``; the first version if the tariff is younger than that."""
    stmt = (select(TariffVersion).where(TariffVersion.tariff_id == tariff_id,
                                        TariffVersion.created_at <= at)
            .order_by(TariffVersion.version.desc()).limit(1))
    found = (await session.execute(stmt)).scalars().first()
    if found is not None:
        return found
    first = (select(TariffVersion).where(TariffVersion.tariff_id == tariff_id)
             .order_by(TariffVersion.version).limit(1))
    return (await session.execute(first)).scalars().first()


def prepare(body: dict[str, Any], *, country_code: str, party_id: str,
            at: dt.datetime) -> Tariff:
    """Validate an OCPI Tariff from a client; our party fills in what it leaves out.

    ``last_updated`` is ours to set: it is the moment this version is saved.
    Raises :class:`plugins.billing.model.TariffError` naming the offending field.
    """
    data = dict(body)
    data.setdefault("country_code", country_code)
    data.setdefault("party_id", party_id)
    data["last_updated"] = format_datetime(at)
    return tariff_from_ocpi(data)


def same_terms(a: Tariff, b: Tariff) -> bool:
    """Equal apart from ``last_updated``: saving it again would not be a change."""
    left, right = tariff_to_ocpi(a), tariff_to_ocpi(b)
    left.pop("last_updated")
    right.pop("last_updated")
    return left == right


async def save(work: Work, tariff: Tariff, *, user_id: int | None) -> TariffVersion:
    """Store ``tariff`` as the next version of its id and make it the current one."""
    session = work.session
    latest = (await session.execute(
        select(func.max(TariffVersion.version)).where(TariffVersion.tariff_id == tariff.id)
    )).scalar_one()
    await session.execute(update(TariffVersion).where(
        TariffVersion.tariff_id == tariff.id, TariffVersion.is_current.is_(True)
    ).values(is_current=False))
    row = TariffVersion(
        tariff_id=tariff.id, version=(latest or 0) + 1, is_current=True,
        country_code=tariff.country_code, party_id=tariff.party_id, currency=tariff.currency,
        type=tariff.type.value if tariff.type is not None else None,
        start_date_time=tariff.start_date_time, end_date_time=tariff.end_date_time,
        data=tariff_to_ocpi(tariff), created_at=tariff.last_updated, created_by=user_id)
    session.add(row)
    await session.flush()
    return row
