"""CDRs: the OCPI 2.2.1 record of a finished session, issued once, corrected by crediting.

:func:`build` is pure: it turns a priced session into the OCPI CDR object. :func:`issue` runs
on ``transaction.ended``: it prices the session (:mod:`plugins.billing.pricing`), stores the
CDR, sets the transaction's cost and publishes ``cdr.created``. It is idempotent: a session
that already has a CDR gets no second one, unless the event says the session was
``corrected`` (a station's late stop replaced the CSMS's close) and the CDR was priced from
another state of it; then the CDR is credited (a copy with ``credit`` and negated
``total_cost``, OCPI's rule) and a new CDR is issued.

Authentication method (OCPI AuthMethod): ``COMMAND`` for a remote start (an OCPP 2.x
``remoteStartId``, whose value is the ``authorization_reference``, or an OCPP 1.6
RemoteStartTransaction task for the same token that succeeded shortly before the start);
otherwise ``WHITELIST`` for a token issued by another party (authorised from the copy held
here, without asking its eMSP) and ``AUTH_REQUEST`` for our own tokens (the CSMS, as their
issuer, authorised the request itself).

CdrLocation fields OCPI requires but the location, EVSE or connector does not record are
filled with neutral values (``IEC_62196_T2``/``SOCKET``/``AC_3_PHASE``, or the ``_COMBO``
/ ``CABLE`` / ``DC`` ones for a DC connector) and named in the CDR's ``remark``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web
from sqlalchemy import Row, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import appkeys
from core.db import Work
from core.db.models import Task, Transaction
from core.db.types import utcnow
from core.events import Event
from plugins.billing.config import BillingConfig, billing_config
from plugins.billing.model import Price, format_datetime, tariff_to_ocpi
from plugins.billing.pricing import Context, SessionCost, amount, load_context, price
from plugins.billing.tables import Cdr

log = logging.getLogger(__name__)

_TOKEN_TYPES = {"ISO14443": "RFID", "ISO15693": "RFID", "Central": "APP_USER"}
_NATURE = {"Transaction.Begin": "Start", "Transaction.End": "End"}
_REMOTE_START_WINDOW = dt.timedelta(minutes=10)
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")
REMARK_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Authorization:
    method: str
    reference: str | None = None


async def authorization(session: AsyncSession, context: Context,
                        config: BillingConfig) -> Authorization:
    tx = context.tx
    if tx.remote_start_id is not None:
        return Authorization("COMMAND", str(tx.remote_start_id))
    if tx.id_token is not None:
        tasks = (await session.execute(select(Task).where(
            Task.station_id == tx.station_id, Task.action == "RemoteStartTransaction",
            Task.status == "succeeded", Task.created_at <= tx.started_at,
            Task.created_at >= tx.started_at - _REMOTE_START_WINDOW))).scalars()
        if any(task.payload.get("id_tag") == tx.id_token for task in tasks):
            return Authorization("COMMAND")
    token = context.token
    if token is not None and token.country_code and token.party_id and (
            token.country_code.upper(), token.party_id.upper()) != (
            config.country_code, config.party_id):
        return Authorization("WHITELIST")
    return Authorization("AUTH_REQUEST")


def _cdr_token(context: Context, config: BillingConfig) -> dict[str, Any]:
    token, tx = context.token, context.tx
    uid = (tx.id_token or "#NA")[:36]
    return {
        "country_code": (token.country_code if token and token.country_code
                         else config.country_code).upper(),
        "party_id": (token.party_id if token and token.party_id else config.party_id).upper(),
        "uid": uid,
        "type": _TOKEN_TYPES.get(token.type, "OTHER") if token else "OTHER",
        "contract_id": ((token.visual_number if token else None) or uid)[:36],
    }


def _cdr_location(context: Context, config: BillingConfig, missing: list[str]
                  ) -> dict[str, Any]:
    location, evse, connector = context.location, context.evse, context.connector

    def known(value: str | None, name: str, fallback: str) -> str:
        if value:
            return value
        missing.append(name)
        return fallback

    dc = connector is not None and connector.power_type == "DC"
    out: dict[str, Any] = {"id": location.id if location else context.tx.station_id[:36]}
    if location is None:
        missing.append("location")
    if location is not None and location.name:
        out["name"] = location.name[:255]
    out["address"] = known(location.address if location else None, "address", "")
    out["city"] = known(location.city if location else None, "city", "")
    if location is not None and location.postal_code:
        out["postal_code"] = location.postal_code
    if location is not None and location.state:
        out["state"] = location.state
    out["country"] = known(location.country if location else None, "country", "ZZZ")
    if location is not None and location.latitude and location.longitude:
        out["coordinates"] = {"latitude": location.latitude, "longitude": location.longitude}
    else:
        missing.append("coordinates")
        out["coordinates"] = {"latitude": "0.000000", "longitude": "0.000000"}
    evse_number = context.tx.evse_number or context.tx.connector_number or 0
    out["evse_uid"] = known(evse.uid if evse else None, "EVSE", "#NA")
    generated = (f"{config.country_code}*{config.party_id}*E"
                 f"{_NOT_ALNUM.sub('', context.tx.station_id)}*{evse_number}")[:48]
    out["evse_id"] = evse.evse_id if evse and evse.evse_id else generated
    number = context.tx.connector_number
    out["connector_id"] = str(number) if number is not None else "#NA"
    out["connector_standard"] = known(connector.standard if connector else None,
                                      "connector standard",
                                      "IEC_62196_T2_COMBO" if dc else "IEC_62196_T2")
    out["connector_format"] = known(connector.format if connector else None,
                                    "connector format", "CABLE" if dc else "SOCKET")
    out["connector_power_type"] = known(connector.power_type if connector else None,
                                        "power type", "AC_3_PHASE")
    return out


def signed_data(rows: tuple[Row[Any], ...]) -> dict[str, Any] | None:
    """OCPI SignedData from the signed readings a meter sent (OCPP 2.x or 1.6 SignedData)."""
    values: list[dict[str, str]] = []
    encoding = public_key = None
    for row in rows:
        text = row.signed_data or ""
        plain = str(row.value) if row.value is not None else ""
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("signedMeterData"), str):
            blob = parsed["signedMeterData"]
            encoding = encoding or parsed.get("encodingMethod")
            public_key = public_key or parsed.get("publicKey")
        else:
            blob = text
            if text.startswith("OCMF|"):
                encoding = encoding or "OCMF"
                plain = plain or text.split("|")[1]
        if not blob or len(blob) > 5000 or len(plain) > 512:
            continue
        values.append({"nature": _NATURE.get(row.context or "", "Intermediate"),
                       "plain_data": plain, "signed_data": blob})
    if not values:
        return None
    out: dict[str, Any] = {"encoding_method": str(encoding or "OCPP-SignedData")[:36],
                           "signed_values": values}
    if isinstance(public_key, str) and public_key and len(public_key) <= 512:
        out["public_key"] = public_key
    return out


def _remark(parts: list[str]) -> str | None:
    text = "; ".join(p for p in parts if p)
    if not text:
        return None
    return text if len(text) <= REMARK_LENGTH else text[:REMARK_LENGTH - 1] + "…"


def build(cdr_id: str, context: Context, cost: SessionCost, auth: Authorization,
          config: BillingConfig, now: dt.datetime) -> dict[str, Any]:
    """The OCPI 2.2.1 CDR of a priced, finished session."""
    tx = context.tx
    missing: list[str] = []
    cdr: dict[str, Any] = {
        "country_code": config.country_code,
        "party_id": config.party_id,
        "id": cdr_id,
        "session_id": tx.transaction_uid[:36],
        "cdr_token": _cdr_token(context, config),
        "auth_method": auth.method,
    }
    if auth.reference is not None:
        cdr["authorization_reference"] = auth.reference[:36]
    cdr["cdr_location"] = _cdr_location(context, config, missing)
    if context.station is not None and context.station.meter_serial_number:
        cdr["meter_id"] = context.station.meter_serial_number
    costs = cost.breakdown.to_ocpi()
    if cost.tariff is None:
        for period in costs["charging_periods"]:
            period.pop("tariff_id", None)
    else:
        cdr["tariffs"] = [tariff_to_ocpi(cost.tariff)]
    signed = signed_data(cost.inputs.signed)
    if signed is not None:
        costs["signed_data"] = signed
    cdr.update(costs)
    remarks = []
    if tx.flagged:
        remarks.append(f"flagged for review: {tx.flag_reason or 'see the session'}")
    if tx.id_token is None:
        remarks.append("no token authorised the session")
    remarks.extend(cost.notes)
    if missing:
        remarks.append(f"not recorded, placeholder sent: {', '.join(missing)}")
    remark = _remark(remarks)
    if remark is not None:
        cdr["remark"] = remark
    cdr["last_updated"] = format_datetime(now)
    return cdr


def credit(original: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """OCPI credit CDR: the original's data, its total_cost negated, pointing back to it."""
    out = dict(original)
    out["id"] = f"{original['id']}-C"
    out["total_cost"] = {key: -value or 0.0 for key, value in original["total_cost"].items()}
    out["credit"] = True
    out["credit_reference_id"] = original["id"]
    out["last_updated"] = format_datetime(now)
    return out


def _negated(price_value: Decimal | None) -> Decimal | None:
    return None if price_value is None else -price_value


def basis(tx: Transaction) -> str:
    """The state of the session a CDR is priced from; a correction changes it."""
    stopped = format_datetime(tx.stopped_at) if tx.stopped_at else "-"
    return f"{stopped}|{tx.meter_stop_wh}|{tx.energy_wh}|{tx.closed_by}"[:100]


def _row(cdr: dict[str, Any], context: Context, cost: SessionCost, revision: int,
         state: str, now: dt.datetime) -> Cdr:
    tx, breakdown = context.tx, cost.breakdown
    driver: Price = cost.driver_total
    return Cdr(
        id=cdr["id"], transaction_id=tx.id, revision=revision, basis=state,
        station_id=tx.station_id, location_id=context.location.id if context.location else None,
        id_token=tx.id_token, user_id=tx.user_id,
        start_date_time=breakdown.start_date_time, end_date_time=breakdown.end_date_time,
        currency=breakdown.currency, total_cost_excl_vat=breakdown.total_cost.excl_vat,
        total_cost_incl_vat=breakdown.total_cost.incl_vat,
        energy_wh=breakdown.total_energy * 1000,
        tariff_id=cost.ref.tariff_id if cost.ref else None,
        tariff_version=cost.ref.version if cost.ref else None,
        retail_tariff_id=cost.retail.tariff.tariff_id if cost.retail else None,
        retail_tariff_version=cost.retail.tariff.version if cost.retail else None,
        driver_currency=cost.driver_currency, driver_cost_excl_vat=driver.excl_vat,
        driver_cost_incl_vat=driver.incl_vat, credit=False, data=cdr, last_updated=now)


def _credit_row(original: Cdr, now: dt.datetime) -> Cdr:
    data = credit(original.data, now)
    return Cdr(
        id=data["id"], transaction_id=original.transaction_id, revision=original.revision,
        basis=original.basis, station_id=original.station_id,
        location_id=original.location_id, id_token=original.id_token,
        user_id=original.user_id, start_date_time=original.start_date_time,
        end_date_time=original.end_date_time, currency=original.currency,
        total_cost_excl_vat=-original.total_cost_excl_vat,
        total_cost_incl_vat=_negated(original.total_cost_incl_vat),
        energy_wh=original.energy_wh, tariff_id=original.tariff_id,
        tariff_version=original.tariff_version, retail_tariff_id=original.retail_tariff_id,
        retail_tariff_version=original.retail_tariff_version,
        driver_currency=original.driver_currency,
        driver_cost_excl_vat=-original.driver_cost_excl_vat,
        driver_cost_incl_vat=_negated(original.driver_cost_incl_vat), credit=True,
        credit_reference_id=original.id, data=data, last_updated=now)


def _standing(existing: list[Cdr]) -> Cdr | None:
    """The session's CDR in force: the newest one no credit CDR cancels."""
    credited = {row.credit_reference_id for row in existing if row.credit}
    standing = [row for row in existing if not row.credit and row.id not in credited]
    return max(standing, key=lambda row: row.revision, default=None)


async def issue(app: web.Application, transaction_id: int, *, corrected: bool) -> list[str]:
    """Issue the session's CDR (and a credit CDR for a corrected one); returns the new ids.

    Pricing reads a whole session's samples, so it runs on a read connection; only the CDR rows
    go through the group commit, which never waits for pricing. If another CDR of the session
    was stored meanwhile, nothing is added.
    """
    config = billing_config(app)
    now = utcnow().replace(microsecond=0)
    db = app[appkeys.DB]
    async with db.session() as session:
        tx = await session.get(Transaction, transaction_id)
        if tx is None or tx.stopped_at is None or tx.status == "Active":
            return []
        existing = list((await session.execute(
            select(Cdr).where(Cdr.transaction_id == tx.id))).scalars())
        standing = _standing(existing)
        state = basis(tx)
        if standing is not None and (not corrected or standing.basis == state):
            return []
        context = await load_context(session, tx)
        cost = await price(session, context, tx.stopped_at, config)
        auth = await authorization(session, context, config)
    revision = max((row.revision for row in existing), default=-1) + 1
    data = build(str(uuid.uuid4()), context, cost, auth, config, now)

    async def keep(work: Work) -> list[str]:
        latest = await work.session.scalar(
            select(func.max(Cdr.revision)).where(Cdr.transaction_id == transaction_id))
        current = await work.session.get(Transaction, transaction_id)
        if current is None or (-1 if latest is None else latest) != revision - 1:
            return []
        created = [_credit_row(standing, now)] if standing is not None else []
        created.append(_row(data, context, cost, revision, state, now))
        work.session.add_all(created)
        current.cost, current.currency = amount(cost.driver_total), cost.driver_currency
        for row in created:
            work.emit(Event("cdr.created", {
                "id": row.id, "transaction_id": current.id, "station_id": current.station_id,
                "credit": row.credit, "credit_reference_id": row.credit_reference_id,
                "currency": row.currency, "total_cost": row.data["total_cost"]}))
        return [row.id for row in created]

    try:
        return await db.write(keep, preload=[(Transaction, transaction_id)])
    except IntegrityError:
        # Another node issued it first (the unique revision constraint): nothing to add.
        log.info("CDR for transaction %s was issued concurrently", transaction_id)
        return []
