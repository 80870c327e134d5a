"""Which tariff prices a session: one function, one documented order.

For the CPO's (wholesale) price, the first of these that yields a tariff valid at the
session's start wins:

1. the connector's own ``tariff_ids`` (OCPI Connector.tariff_ids), in their order;
2. an assignment to the connector,
3. to its station,
4. to the station's location,
5. to the location's region: country and city first, then the country alone,
6. a network-wide (``default``) assignment.

Within one level, an assignment for the driver's group (``IdToken.group_id_token``; the
group's own token belongs to it) wins over a general one, then one for the connector's power
type (``AC`` or ``DC``) over one for both, then the newest. An assignment for another group or
power type never applies. Only tariffs without a type or of type ``REGULAR`` price token
sessions (the others are for ad-hoc payment or charging preferences), and a tariff whose own
``start_date_time``/``end_date_time`` excludes the session start is skipped.

For a token issued by an eMSP (``IdToken.country_code``/``party_id``), the eMSP's retail
assignments are searched in the same order (levels 2-6); the first one found gives the retail
tariff and its mode (``add`` to the CPO's cost, or ``replace`` it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Connector, IdToken, Location
from plugins.billing import tariffs
from plugins.billing.tables import TariffAssignment, TariffVersion

LEVELS = ("connector", "station", "location", "city", "country", "default")


@dataclass(frozen=True, slots=True)
class TariffRef:
    tariff_id: str
    version: int


@dataclass(frozen=True, slots=True)
class Selection:
    """The chosen tariffs; ``source`` says where the wholesale one came from (or ``none``)."""

    tariff: TariffRef | None
    source: str
    retail: TariffRef | None = None
    retail_mode: str | None = None


def power_class(power_type: str | None) -> str | None:
    """``AC`` or ``DC`` for an OCPI power type; None when unknown."""
    if power_type is None:
        return None
    return "DC" if power_type == "DC" else "AC"


@dataclass(frozen=True, slots=True)
class Site:
    """Where the session takes place, as far as tariffs are concerned."""

    station_id: str
    connector: Connector | None
    location: Location | None

    @property
    def power(self) -> str | None:
        return power_class(self.connector.power_type) if self.connector else None


async def select_tariffs(session: AsyncSession, site: Site, token: IdToken | None,
                         at: dt.datetime) -> Selection:
    """The wholesale and, for eMSP tokens, retail tariff of a session starting at ``at``."""
    wholesale: _Found | None = None
    if site.connector is not None:
        for tariff_id in site.connector.tariff_ids or ():
            ref = await _usable(session, tariff_id, at) if isinstance(tariff_id, str) else None
            if ref is not None:
                wholesale = _Found(ref, "connector.tariff_ids", None)
                break
    if wholesale is None:
        wholesale = await _assigned(session, site, token, at, role="cpo")
    retail = None
    if token is not None and token.country_code and token.party_id:
        retail = await _assigned(session, site, token, at, role="emsp",
                                 emsp=(token.country_code, token.party_id))
    return Selection(wholesale.ref if wholesale else None,
                     wholesale.source if wholesale else "none",
                     retail.ref if retail else None, retail.mode if retail else None)


@dataclass(frozen=True, slots=True)
class _Found:
    ref: TariffRef
    source: str
    mode: str | None


async def _usable(session: AsyncSession, tariff_id: str, at: dt.datetime) -> TariffRef | None:
    row: TariffVersion | None = await tariffs.as_of(session, tariff_id, at)
    if row is None:
        return None
    tariff = tariffs.parsed(row)
    if tariff.type not in tariffs.REGULAR_TYPES or not tariffs.valid_at(tariff, at):
        return None
    return TariffRef(row.tariff_id, row.version)


def _level(assignment: TariffAssignment, site: Site) -> int | None:
    """The assignment's precedence level for this site; None when it does not cover it."""
    connector, location = site.connector, site.location
    scope = assignment.scope
    if scope == "connector":
        return 0 if connector is not None and assignment.connector_id == connector.id else None
    if scope == "station":
        return 1 if assignment.station_id == site.station_id else None
    if scope == "location":
        return 2 if location is not None and assignment.location_id == location.id else None
    if scope == "region":
        if location is None or not location.country or assignment.country is None \
                or assignment.country.upper() != location.country.upper():
            return None
        if assignment.city is None:
            return 4
        same_city = location.city is not None \
            and assignment.city.casefold() == location.city.casefold()
        return 3 if same_city else None
    return 5 if scope == "default" else None


def _in_group(assignment: TariffAssignment, token: IdToken | None) -> bool | None:
    """True for the driver's group, None for everyone, False for another group."""
    if assignment.group_id_token is None:
        return None
    if token is None:
        return False
    return assignment.group_id_token in (token.group_id_token, token.id_token)


async def _assigned(session: AsyncSession, site: Site, token: IdToken | None, at: dt.datetime,
                    *, role: str, emsp: tuple[str, str] | None = None
                    ) -> _Found | None:
    covers = [TariffAssignment.scope == "default",
              TariffAssignment.station_id == site.station_id]
    if site.connector is not None:
        covers.append(TariffAssignment.connector_id == site.connector.id)
    if site.location is not None:
        covers.append(TariffAssignment.location_id == site.location.id)
        if site.location.country:
            covers.append(and_(TariffAssignment.scope == "region",
                               TariffAssignment.country == site.location.country.upper()))
    stmt = select(TariffAssignment).where(TariffAssignment.role == role, or_(*covers))
    if emsp is not None:
        stmt = stmt.where(TariffAssignment.emsp_country_code == emsp[0].upper(),
                          TariffAssignment.emsp_party_id == emsp[1].upper())
    ranked: list[tuple[int, int, int, int, TariffAssignment]] = []
    for assignment in (await session.execute(stmt)).scalars():
        level = _level(assignment, site)
        group = _in_group(assignment, token)
        if level is None or group is False:
            continue
        if assignment.power_type is not None and assignment.power_type != site.power:
            continue
        ranked.append((level, 0 if group else 1, 0 if assignment.power_type else 1,
                       -assignment.id, assignment))
    ranked.sort(key=lambda item: item[:4])
    for level, *_, assignment in ranked:
        ref = await _usable(session, assignment.tariff_id, at)
        if ref is not None:
            return _Found(ref, LEVELS[level], assignment.mode)
    return None
