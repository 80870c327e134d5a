"""Billing's public interface for other plugins (OCPI roaming, smart charging, portals).

Other plugins read prices, CDRs and tariffs through these functions instead of billing's
tables and engine, so billing can change those without breaking them. Everything here is
read-only and runs on a read connection; nothing is written and no event is published.

Objects are ready for the OCPI wire: DateTimes carry at most milliseconds, since OCPI's
DateTime is a string of at most 25 characters and strict partners refuse longer ones (billing
keeps microseconds, which its own tables and exports need).

The figures are billing's own: :func:`session_cost` runs the same computation as the live
estimate and the CDR (:func:`plugins.billing.pricing.price`), so a session's running
``total_cost`` at its stop time equals its CDR's ``total_cost`` to the cent.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web
from sqlalchemy import Select, and_, false, func, or_, select

from core import appkeys
from core.db.models import IdToken, Transaction
from plugins.billing import cdrs
from plugins.billing.config import billing_config
from plugins.billing.pricing import amount, load_context, price
from plugins.billing.tables import Cdr, TariffVersion

Owner = tuple[str, str]
_PRECISE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.(\d{4,})Z$")


def _wire(value: Any) -> Any:
    """``value`` with every DateTime string cut to milliseconds (a copy; never rounded up,
    so a moment never moves past a ``date_to`` it was before)."""
    if isinstance(value, dict):
        return {key: _wire(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_wire(item) for item in value]
    if isinstance(value, str):
        found = _PRECISE.match(value)
        if found is not None:
            return f"{found.group(1)}.{found.group(2)[:3]}Z"
    return value


@dataclass(frozen=True, slots=True)
class SessionPrice:
    """What a session costs up to a moment.

    ``excl_vat``/``incl_vat`` in ``currency`` are the CPO's price, what the eMSP pays (OCPI
    ``total_cost`` of the Session and the CDR); ``total_cost`` is that price as the OCPI
    ``Price`` object the CDR carries (same rounding). ``driver_amount`` in
    ``driver_currency`` is what the driver pays (an eMSP retail tariff may change it).
    ``charging_periods`` are the OCPI ChargingPeriods the price was computed from.
    """

    currency: str
    excl_vat: Decimal
    incl_vat: Decimal | None
    total_cost: dict[str, float]
    driver_amount: Decimal
    driver_currency: str
    energy_kwh: Decimal
    tariff_id: str | None
    charging_periods: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class SessionAuthorization:
    """How a session was authorised, exactly as its CDR states it (OCPI CdrToken,
    AuthMethod and authorization_reference)."""

    cdr_token: dict[str, Any]
    auth_method: str
    authorization_reference: str | None


async def session_cost(app: web.Application, transaction_id: int,
                       at: dt.datetime) -> SessionPrice | None:
    """The session's cost from its start until ``at``; None for an unknown transaction.

    For a finished session pass its ``stopped_at`` to get the figure its CDR has.
    """
    config = billing_config(app)
    async with app[appkeys.DB].session() as session:
        tx = await session.get(Transaction, transaction_id)
        if tx is None:
            return None
        context = await load_context(session, tx)
        cost = await price(session, context, at, config)
    breakdown = cost.breakdown
    ocpi = breakdown.to_ocpi()
    periods = _wire(ocpi["charging_periods"])
    if cost.tariff is None:
        for period in periods:
            period.pop("tariff_id", None)
    return SessionPrice(
        currency=breakdown.currency, excl_vat=breakdown.total_cost.excl_vat,
        incl_vat=breakdown.total_cost.incl_vat, total_cost=ocpi["total_cost"],
        driver_amount=amount(cost.driver_total), driver_currency=cost.driver_currency,
        energy_kwh=breakdown.total_energy,
        tariff_id=cost.ref.tariff_id if cost.ref else None, charging_periods=tuple(periods))


async def session_authorization(app: web.Application,
                                transaction_id: int) -> SessionAuthorization | None:
    """The session's CdrToken, AuthMethod and authorization reference; None when unknown."""
    config = billing_config(app)
    async with app[appkeys.DB].session() as session:
        tx = await session.get(Transaction, transaction_id)
        if tx is None:
            return None
        context = await load_context(session, tx)
        auth = await cdrs.authorization(session, context, config)
    # The CDR's own builder, so the Session and its CDR name the token identically.
    token = cdrs._cdr_token(context, config)
    reference = auth.reference[:36] if auth.reference is not None else None
    return SessionAuthorization(token, auth.method, reference)


def _in_window(stmt: Select[Any], column: Any, date_from: dt.datetime | None,
               date_to: dt.datetime | None) -> Select[Any]:
    """OCPI's list filter: ``date_from`` inclusive, ``date_to`` exclusive."""
    if date_from is not None:
        stmt = stmt.where(column >= date_from)
    if date_to is not None:
        stmt = stmt.where(column < date_to)
    return stmt


def _owned_by(stmt: Select[Any], owners: Collection[Owner] | None,
              exclude_owner: Owner | None) -> Select[Any]:
    """Only rows whose token (``Cdr.id_token``) was issued by one of ``owners``, and not by
    ``exclude_owner``; the issuer is the token's OCPI party."""
    if owners is None and exclude_owner is None:
        return stmt
    cc, pid = func.upper(IdToken.country_code), func.upper(IdToken.party_id)
    stmt = stmt.join(IdToken, IdToken.id_token == Cdr.id_token)
    if owners is not None:
        wanted = [and_(cc == c.upper(), pid == p.upper()) for c, p in owners]
        stmt = stmt.where(or_(*wanted) if wanted else false())
    if exclude_owner is not None:
        stmt = stmt.where(IdToken.country_code.is_not(None), IdToken.party_id.is_not(None),
                          or_(cc != exclude_owner[0].upper(), pid != exclude_owner[1].upper()))
    return stmt


async def cdr_page(app: web.Application, date_from: dt.datetime | None,
                   date_to: dt.datetime | None, offset: int, limit: int, *,
                   owners: Collection[Owner] | None = None,
                   exclude_owner: Owner | None = None) -> tuple[list[dict[str, Any]], int]:
    """(OCPI CDRs of one page, how many match in all), ordered by ``last_updated`` then id.

    ``owners`` limits them to CDRs of tokens those parties issued (an eMSP sees its own);
    ``exclude_owner`` leaves out those of one party's tokens (ours, for a hub).
    """
    stmt = _owned_by(_in_window(select(Cdr), Cdr.last_updated, date_from, date_to),
                     owners, exclude_owner)
    async with app[appkeys.DB].session() as session:
        total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = (await session.execute(stmt.order_by(Cdr.last_updated, Cdr.id)
                                      .offset(offset).limit(limit))).scalars().all()
    return [_wire(row.data) for row in rows], int(total or 0)


async def cdr_by_id(app: web.Application, cdr_id: str) -> dict[str, Any] | None:
    """One OCPI CDR (a credit CDR too) by its id."""
    async with app[appkeys.DB].session() as session:
        row = await session.get(Cdr, cdr_id)
    return _wire(row.data) if row is not None else None


async def cdr_for_transaction(app: web.Application, transaction_id: int
                              ) -> list[dict[str, Any]]:
    """Every CDR of a session, oldest first: the CDR, and after a correction its credit CDR
    and the replacement."""
    async with app[appkeys.DB].session() as session:
        rows = (await session.execute(select(Cdr).where(Cdr.transaction_id == transaction_id)
                                      .order_by(Cdr.last_updated, Cdr.revision, Cdr.credit)
                                      )).scalars().all()
    return [_wire(row.data) for row in rows]


async def tariff_page(app: web.Application, date_from: dt.datetime | None,
                      date_to: dt.datetime | None, offset: int, limit: int, *,
                      party: Owner | None = None) -> tuple[list[dict[str, Any]], int]:
    """(current version of each tariff as an OCPI Tariff, how many match), ordered by
    ``last_updated`` then id; ``party`` keeps only the tariffs that party owns."""
    stmt = _in_window(select(TariffVersion).where(TariffVersion.is_current.is_(True)),
                      TariffVersion.created_at, date_from, date_to)
    if party is not None:
        stmt = stmt.where(TariffVersion.country_code == party[0].upper(),
                          TariffVersion.party_id == party[1].upper())
    async with app[appkeys.DB].session() as session:
        total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = (await session.execute(stmt.order_by(TariffVersion.created_at,
                                                    TariffVersion.tariff_id)
                                      .offset(offset).limit(limit))).scalars().all()
    return [_wire(row.data) for row in rows], int(total or 0)


async def tariff_by_id(app: web.Application, tariff_id: str) -> dict[str, Any] | None:
    """The current version of one tariff as an OCPI Tariff."""
    async with app[appkeys.DB].session() as session:
        row = (await session.execute(select(TariffVersion).where(
            TariffVersion.tariff_id == tariff_id, TariffVersion.is_current.is_(True))
        )).scalars().first()
    return _wire(row.data) if row is not None else None


__all__ = ["SessionAuthorization", "SessionPrice", "cdr_by_id", "cdr_for_transaction",
           "cdr_page", "session_authorization", "session_cost", "tariff_by_id", "tariff_page"]
