"""The cost of one transaction: the single entry point for the live estimate, CostUpdated,
OCPI sessions and the CDR, so all of them show the same figure for the same moment.

A session is pinned to its tariffs when it starts (``billing_session``); it is re-selected,
as of its start, only when it was never pinned or the token that authorised it changed
afterwards (OCPP 2.x may learn the token after the session began). Price adjustments that
overlap the session are applied to the wholesale tariff. The driver's price is the wholesale
cost, or for an eMSP token with a retail tariff that cost plus the retail tariff's
(``add``) or the retail tariff's alone (``replace``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import ChargingStation, Connector, Evse, IdToken, Location, Transaction
from plugins.billing import adjustments, engine, tariffs
from plugins.billing.config import BillingConfig
from plugins.billing.inputs import SessionInputs, session_inputs
from plugins.billing.model import (
    Price,
    PriceComponent,
    Tariff,
    TariffDimensionType,
    TariffElement,
)
from plugins.billing.selection import Selection, Site, TariffRef, select_tariffs
from plugins.billing.tables import PriceAdjustment, SessionTariff

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Context:
    """The rows a session's price depends on."""

    tx: Transaction
    station: ChargingStation | None
    evse: Evse | None
    connector: Connector | None
    location: Location | None
    token: IdToken | None

    @property
    def site(self) -> Site:
        return Site(self.tx.station_id, self.connector, self.location)


async def load_context(session: AsyncSession, tx: Transaction) -> Context:
    station = await session.get(ChargingStation, tx.station_id)
    location = await session.get(Location, station.location_id) \
        if station is not None and station.location_id else None
    evse = connector = None
    evse_number = tx.evse_number if tx.evse_number is not None else tx.connector_number
    if evse_number is not None:
        evse = (await session.execute(select(Evse).where(
            Evse.station_id == tx.station_id, Evse.evse_number == evse_number))).scalars().first()
    if evse is not None:
        stmt = select(Connector).where(Connector.evse_id == evse.id)
        if tx.connector_number is not None:
            stmt = stmt.where(Connector.connector_number == tx.connector_number)
        connector = (await session.execute(stmt.order_by(Connector.connector_number))
                     ).scalars().first()
    token = None
    if tx.id_token is not None:
        token = (await session.execute(select(IdToken).where(
            IdToken.id_token == tx.id_token))).scalars().first()
    return Context(tx, station, evse, connector, location, token)


async def choose(session: AsyncSession, context: Context) -> Selection:
    """The session's tariffs as of its start (reads only)."""
    return await select_tariffs(session, context.site, context.token, context.tx.started_at)


async def pin(session: AsyncSession, tx_id: int, id_token: str | None,
              chosen: Selection) -> SessionTariff:
    """Keep the tariffs chosen for a session (not committed)."""
    row = await session.get(SessionTariff, tx_id)
    if row is None:
        row = SessionTariff(transaction_id=tx_id)
        session.add(row)
    row.id_token = id_token
    row.source = chosen.source
    row.tariff_id, row.tariff_version = (chosen.tariff.tariff_id, chosen.tariff.version) \
        if chosen.tariff else (None, None)
    row.retail_tariff_id, row.retail_tariff_version = (
        (chosen.retail.tariff_id, chosen.retail.version) if chosen.retail else (None, None))
    row.retail_mode = chosen.retail_mode
    return row


async def selection(session: AsyncSession, context: Context) -> Selection:
    row = await session.get(SessionTariff, context.tx.id)
    if row is None or row.id_token != context.tx.id_token:
        return await select_tariffs(session, context.site, context.token,
                                    context.tx.started_at)
    ref = TariffRef(row.tariff_id, row.tariff_version) \
        if row.tariff_id is not None and row.tariff_version is not None else None
    retail = TariffRef(row.retail_tariff_id, row.retail_tariff_version) \
        if row.retail_tariff_id is not None and row.retail_tariff_version is not None else None
    return Selection(ref, row.source, retail, row.retail_mode)


@dataclass(frozen=True, slots=True)
class RetailPrice:
    """What an eMSP's driver pays under its retail tariff."""

    tariff: TariffRef
    mode: str
    currency: str
    total: Price


@dataclass(frozen=True, slots=True)
class SessionCost:
    """A priced session. ``tariff`` is the wholesale tariff as applied (price adjustments
    written in); None when no tariff applies and the session costs nothing."""

    breakdown: engine.CostBreakdown
    tariff: Tariff | None
    ref: TariffRef | None
    source: str
    retail: RetailPrice | None
    inputs: SessionInputs
    notes: tuple[str, ...]

    @property
    def driver_currency(self) -> str:
        return self.retail.currency if self.retail else self.breakdown.currency

    @property
    def driver_total(self) -> Price:
        return self.retail.total if self.retail else self.breakdown.total_cost


def amount(price: Price) -> Decimal:
    """The single figure a session's cost is shown as: including VAT when it is known."""
    return price.incl_vat if price.incl_vat is not None else price.excl_vat


def unpriced(config: BillingConfig) -> Tariff:
    """A free-of-charge tariff (OCPI's definition) to measure a session no tariff prices."""
    return Tariff(country_code=config.country_code, party_id=config.party_id, id="",
                  currency=config.currency, last_updated=EPOCH,
                  elements=(TariffElement((PriceComponent(TariffDimensionType.FLAT,
                                                          Decimal(0), 0),)),))


async def active_adjustments(session: AsyncSession, location: Location | None,
                             start: dt.datetime, end: dt.datetime
                             ) -> list[adjustments.Adjustment]:
    """Adjustments covering the location and overlapping ``[start, end]``."""
    if location is None:
        return []
    rows = (await session.execute(select(PriceAdjustment).where(
        PriceAdjustment.start_date_time <= end, PriceAdjustment.end_date_time > start)
        .order_by(PriceAdjustment.id))).scalars()
    return [adjustments.Adjustment(row.start_date_time, row.end_date_time, row.factor, row.delta)
            for row in rows if covers(row, location)]


def covers(row: PriceAdjustment, location: Location) -> bool:
    if row.location_ids:
        return location.id in row.location_ids
    if row.country is None or not location.country \
            or row.country.upper() != location.country.upper():
        return False
    return row.city is None or (location.city is not None
                                and row.city.casefold() == location.city.casefold())


def _added(a: Price, b: Price) -> Price:
    incl = None if a.incl_vat is None or b.incl_vat is None else a.incl_vat + b.incl_vat
    return Price(a.excl_vat + b.excl_vat, incl)


async def price(session: AsyncSession, context: Context, end: dt.datetime,
                config: BillingConfig) -> SessionCost:
    """The session's cost from its start until ``end``."""
    chosen = await selection(session, context)
    inputs = await session_inputs(session, context.tx, context.location, end)
    notes: list[str] = []
    base = None
    if chosen.tariff is not None:
        row = await tariffs.version(session, chosen.tariff.tariff_id, chosen.tariff.version)
        base = tariffs.parsed(row) if row is not None else None
    effective: Tariff | None = None
    if base is not None:
        found = await active_adjustments(session, context.location, inputs.start, inputs.end)
        effective = adjustments.apply(base, found, inputs.zone, inputs.start, inputs.end)
    else:
        notes.append("no tariff applies to this connector: the session is not charged")
    breakdown = await _cost(effective or unpriced(config), inputs)
    retail = None
    if chosen.retail is not None and chosen.retail_mode is not None:
        row = await tariffs.version(session, chosen.retail.tariff_id, chosen.retail.version)
        if row is not None:
            retail_tariff = tariffs.parsed(row)
            retail_cost = await _cost(retail_tariff, inputs)
            if chosen.retail_mode == "replace":
                retail = RetailPrice(chosen.retail, "replace", retail_tariff.currency,
                                     retail_cost.total_cost)
            elif retail_tariff.currency == breakdown.currency:
                retail = RetailPrice(chosen.retail, "add", retail_tariff.currency,
                                     _added(breakdown.total_cost, retail_cost.total_cost))
            else:
                notes.append(f"retail tariff {retail_tariff.id} is in "
                             f"{retail_tariff.currency}, not {breakdown.currency}: not added")
    return SessionCost(breakdown, effective, chosen.tariff if effective else None,
                       chosen.source if effective else "none", retail, inputs, tuple(notes))


async def _cost(tariff: Tariff, inputs: SessionInputs) -> engine.CostBreakdown:
    """Run the engine in a worker thread: a long session takes it tens of milliseconds, during
    which the event loop keeps answering stations."""
    return await asyncio.to_thread(
        engine.compute_cost, tariff, start=inputs.start, end=inputs.end,
        observations=inputs.observations, reservation=inputs.reservation,
        time_zone=inputs.zone)
