"""One OCPP 1.6J connection: every station-initiated message handled and persisted.

Each handler hands its unit of work to the database's group commit and answers only after the
commit, so the CALLRESULT that acknowledges a message is sent once what it acknowledges is
stored. Parsing and checks that can refuse a message run before the work is queued.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ocpp.exceptions import PropertyConstraintViolationError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call_result

from core import appkeys, stations
from core.db import Work
from core.db.models import ChargingStation, SecurityEvent, Transaction
from core.db.types import utcnow
from core.events import Event
from core.ocpp.guard import GuardedChargePoint
from core.ocpp.protocol import StationContext
from core.ocpp.times import iso, parse_time
from plugins.ocpp16.certificates import (
    send_certificate_signed,
    sign_for_station,
)
from plugins.ocpp16.effects import EFFECTS

log = logging.getLogger(__name__)
SUBPROTOCOL = "ocpp1.6"
T = TypeVar("T")


def id_tag_info(decision: stations.TokenDecision) -> dict[str, Any]:
    info: dict[str, Any] = {"status": decision.status}
    if decision.expiry_date is not None:
        info["expiryDate"] = iso(decision.expiry_date)
    if decision.group_id_token is not None:
        info["parentIdTag"] = decision.group_id_token
    return info


def samples_from(meter_values: list[dict[str, Any]]) -> list[stations.Sample]:
    """OCPP 1.6 MeterValue objects (snake_case) as version-neutral samples, numbers parsed.

    Runs before anything is queued for the database, so a bad value is refused on its own.
    """
    out = []
    for entry in meter_values:
        when = parse_time(entry["timestamp"])
        for sv in entry["sampled_value"]:
            measurand = sv.get("measurand", stations.ENERGY_REGISTER)
            signed = sv.get("format") == "SignedData"
            try:
                number = None if signed else stations.parse_decimal(sv["value"])
            except ValueError as exc:
                raise PropertyConstraintViolationError(details={"cause": str(exc)}) from None
            out.append(stations.Sample(
                timestamp=when, value=sv["value"], measurand=measurand,
                unit=sv.get("unit", "Wh") if measurand.startswith("Energy") else sv.get("unit"),
                phase=sv.get("phase"), context=sv.get("context", "Sample.Periodic"),
                location=sv.get("location"), number=number,
                signed_data=sv["value"] if signed else None,
            ))
    return out


class Ocpp16Session(GuardedChargePoint, ChargePoint):  # type: ignore[misc]
    protocol = SUBPROTOCOL
    EFFECTS = EFFECTS

    def __init__(self, ctx: StationContext) -> None:
        super().__init__(ctx, response_timeout=3600)
        self.unsent_chain: str | None = None

    async def _write(self, job: Callable[[Work], Awaitable[T]], *,
                     station: bool = False, transaction_id: int | None = None) -> T:
        """Store what a message says; the answer goes out only after this returns (committed).

        The rows the job will ``get`` (the station's, the transaction a message names) are
        loaded batch-wide.
        """
        preload: list[tuple[type, Any]] = [(ChargingStation, self.id)] if station else []
        if transaction_id is not None:
            preload.append((Transaction, transaction_id))
        return await self.app[appkeys.DB].write(job, preload)

    @on("BootNotification")
    async def on_boot(self, charge_point_vendor: str, charge_point_model: str,
                      **fields: Any) -> call_result.BootNotification:
        async def store(work: Work) -> str:
            station = await stations.station(work, self.id)
            station.vendor, station.model = charge_point_vendor, charge_point_model
            station.serial_number = fields.get("charge_point_serial_number")
            station.charge_box_serial_number = fields.get("charge_box_serial_number")
            station.firmware_version = fields.get("firmware_version")
            station.iccid, station.imsi = fields.get("iccid"), fields.get("imsi")
            station.meter_type = fields.get("meter_type")
            station.meter_serial_number = fields.get("meter_serial_number")
            station.last_boot = station.last_seen = utcnow()
            work.emit(Event("station.booted", {"id": self.id,
                                               "status": station.registration_status,
                                               "vendor": charge_point_vendor,
                                               "model": charge_point_model}))
            return station.registration_status

        status = await self._write(store, station=True)
        interval = self.app[appkeys.CONFIG]["ocpp"]["heartbeat_interval"]
        return call_result.BootNotification(current_time=iso(utcnow()), interval=interval,
                                            status=status)

    @on("Heartbeat")
    async def on_heartbeat(self) -> call_result.Heartbeat:
        now = utcnow()

        async def store(work: Work) -> None:
            (await stations.station(work, self.id)).last_seen = now

        await self._write(store, station=True)
        return call_result.Heartbeat(current_time=iso(now))

    @on("StatusNotification")
    async def on_status(self, connector_id: int, error_code: str, status: str,
                        **fields: Any) -> call_result.StatusNotification:
        if connector_id < 0:
            raise PropertyConstraintViolationError(
                details={"cause": f"connectorId {connector_id} is negative"})
        timestamp = parse_time(fields.get("timestamp"))

        async def store(work: Work) -> None:
            await stations.record_status(
                work, self.id, evse_number=connector_id if connector_id else None,
                connector_number=connector_id, status=status, error_code=error_code,
                timestamp=timestamp, info=fields.get("info"),
                vendor_id=fields.get("vendor_id"),
                vendor_error_code=fields.get("vendor_error_code"),
            )
            await stations.close_ghosts_on_status(work, self.id, connector_id, status, timestamp)

        await self._write(store)
        return call_result.StatusNotification()

    async def _remote_verdict(self, id_tag: str, connector_id: int | None) -> str | None:
        return await stations.remote_verdict(self.app, self.id, id_tag, "ISO14443",
                                             connector_id, "1.6")

    @on("Authorize")
    async def on_authorize(self, id_tag: str) -> call_result.Authorize:
        remote = await self._remote_verdict(id_tag, None)

        async def store(work: Work) -> stations.TokenDecision:
            decision = await stations.authorize_token(work, id_tag, remote=remote)
            work.emit(Event("token.authorized", {"station_id": self.id, "id_token": id_tag,
                                                 "status": decision.status}))
            return decision

        decision = await self._write(store)
        return call_result.Authorize(id_tag_info=id_tag_info(decision))

    @on("StartTransaction")
    async def on_start(self, connector_id: int, id_tag: str, meter_start: int, timestamp: str,
                       reservation_id: int | None = None) -> call_result.StartTransaction:
        if connector_id < 1:
            raise PropertyConstraintViolationError(
                details={"cause": f"a transaction needs a connector > 0, not {connector_id}"})
        started = parse_time(timestamp)
        remote = await self._remote_verdict(id_tag, connector_id)

        async def store(work: Work) -> tuple[int, stations.TokenDecision]:
            current = await stations.active_transaction(work, self.id, connector_id)
            if current is not None and (current.id_token, current.meter_start_wh,
                                        current.started_at) == (id_tag, meter_start, started):
                # The station retried a StartTransaction we already stored: same id, no new row.
                return current.id, await stations.authorize_token(work, id_tag)
            decision = await stations.authorize_token(work, id_tag, starting=True, remote=remote)
            if current is not None:
                stations.close_unconfirmed(
                    work, current, at=started, closed_by="csms",
                    reason="closed by the CSMS: a new transaction started on its connector "
                           "without a StopTransaction")
            await stations.ensure_connector(work, self.id, connector_id, connector_id)
            tx = Transaction(
                station_id=self.id, evse_number=connector_id, connector_number=connector_id,
                id_token=id_tag, user_id=decision.user_id, started_at=started,
                meter_start_wh=meter_start, energy_wh=0, status="Active",
                reservation_id=await stations.link_reservation(work, self.id, reservation_id,
                                                               id_tag),
            )
            if decision.status != "Accepted":
                tx.flagged, tx.flag_reason = True, f"id tag {decision.status} at start"
            work.session.add(tx)
            await work.session.flush()
            tx.transaction_uid = str(tx.id)
            work.emit(Event("transaction.started", {
                "id": tx.id, "station_id": self.id, "connector_number": connector_id,
                "id_token": id_tag, "meter_start_wh": meter_start, "started_at": iso(started),
                "authorized": decision.status == "Accepted"}))
            return tx.id, decision

        tx_id, decision = await self._write(store)
        return call_result.StartTransaction(transaction_id=tx_id,
                                            id_tag_info=id_tag_info(decision))

    @on("StopTransaction")
    async def on_stop(self, meter_stop: int, timestamp: str, transaction_id: int,
                      **fields: Any) -> call_result.StopTransaction:
        stopped = parse_time(timestamp)
        id_tag = fields.get("id_tag")
        samples = samples_from(fields.get("transaction_data") or [])

        async def store(work: Work) -> stations.TokenDecision | None:
            tx = await stations.station_transaction(work, self.id, transaction_id)
            if tx is None:
                tx = Transaction(
                    station_id=self.id, id_token=id_tag, started_at=stopped, status="Active",
                    flagged=True,
                    flag_reason=f"StopTransaction for unknown transaction {transaction_id}")
                work.session.add(tx)
                await work.session.flush()
                tx.transaction_uid = f"unknown-{transaction_id}-{tx.id}"
            # A retried StopTransaction finds the session stopped and changes nothing.
            if stations.takes_stop(tx):
                await stations.record_samples(work, self.id, samples, transaction=tx,
                                              evse_number=tx.evse_number,
                                              connector_number=tx.connector_number)
                stations.finish_transaction(work, tx, at=stopped, meter_stop_wh=meter_stop,
                                            reason=fields.get("reason", "Local"))
            return await stations.authorize_token(work, id_tag) if id_tag else None

        decision = await self._write(store, transaction_id=transaction_id)
        if decision is None:
            return call_result.StopTransaction()
        return call_result.StopTransaction(id_tag_info=id_tag_info(decision))

    @on("MeterValues")
    async def on_meter_values(self, connector_id: int, meter_value: list[dict[str, Any]],
                              transaction_id: int | None = None) -> call_result.MeterValues:
        samples = samples_from(meter_value)

        async def store(work: Work) -> None:
            tx = None
            if transaction_id is not None:
                tx = await stations.station_transaction(work, self.id, transaction_id)
                if tx is None:
                    log.warning("%s: MeterValues for unknown transaction %s kept unlinked",
                                self.id, transaction_id)
            stored = await stations.record_samples(work, self.id, samples, transaction=tx,
                                                   evse_number=connector_id,
                                                   connector_number=connector_id)
            work.emit(Event("meter.sampled", {
                "station_id": self.id, "connector_number": connector_id,
                "transaction_id": tx.id if tx else None, "samples": stored,
                "energy_wh": tx.energy_wh if tx else None,
                "soc": tx.soc_last if tx else None}))

        await self._write(store, transaction_id=transaction_id)
        return call_result.MeterValues()

    @on("DataTransfer")
    async def on_data_transfer(self, vendor_id: str, message_id: str | None = None,
                               data: str | None = None) -> call_result.DataTransfer:
        reply = await stations.data_transfer(self.app, self.id, vendor_id, message_id, data)
        return call_result.DataTransfer(status=reply.status, data=reply.data)

    async def _station_status(self, kind: str, status: str,
                              request_id: int | None = None) -> None:
        """Keep the latest firmware / diagnostics / log upload status on the station."""
        async def store(work: Work) -> None:
            station = await stations.station(work, self.id)
            setattr(station, f"{kind}_status", status)
            setattr(station, f"{kind}_status_at", utcnow())
            work.emit(Event(f"station.{kind}_status", {"id": self.id, "status": status,
                                                       "request_id": request_id}))

        await self._write(store, station=True)

    @on("DiagnosticsStatusNotification")
    async def on_diagnostics_status(self, status: str
                                    ) -> call_result.DiagnosticsStatusNotification:
        await self._station_status("diagnostics", status)
        return call_result.DiagnosticsStatusNotification()

    @on("FirmwareStatusNotification")
    async def on_firmware_status(self, status: str) -> call_result.FirmwareStatusNotification:
        await self._station_status("firmware", status)
        return call_result.FirmwareStatusNotification()

    # ---- OCPP 1.6 security extension, station to CSMS ---------------------------------------

    @on("SecurityEventNotification")
    async def on_security_event(self, type: str, timestamp: str,
                                tech_info: str | None = None
                                ) -> call_result.SecurityEventNotification:
        when = parse_time(timestamp)

        async def store(work: Work) -> None:
            work.session.add(SecurityEvent(station_id=self.id, type=type, timestamp=when,
                                           tech_info=tech_info))
            work.emit(Event("station.security_event", {"id": self.id, "type": type}))

        await self._write(store)
        return call_result.SecurityEventNotification()

    @on("LogStatusNotification")
    async def on_log_status(self, status: str, request_id: int | None = None
                            ) -> call_result.LogStatusNotification:
        await self._station_status("log", status, request_id)
        return call_result.LogStatusNotification()

    @on("SignedFirmwareStatusNotification")
    async def on_signed_firmware_status(self, status: str, request_id: int | None = None
                                        ) -> call_result.SignedFirmwareStatusNotification:
        await self._station_status("firmware", status, request_id)
        return call_result.SignedFirmwareStatusNotification()

    @on("SignCertificate")
    async def on_sign_certificate(self, csr: str) -> call_result.SignCertificate:
        # Kept until the answer is out; a newer CSR replaces an undelivered chain, since the
        # station only holds the key of its latest request.
        self.unsent_chain = sign_for_station(self.app, self.id, csr)
        status = "Rejected" if self.unsent_chain is None else "Accepted"
        return call_result.SignCertificate(status=status)

    @after("SignCertificate")
    async def after_sign_certificate(self, csr: str) -> None:
        # Runs once the CALLRESULT is sent: the station now expects the chain.
        chain, self.unsent_chain = self.unsent_chain, None
        if chain is not None:
            await send_certificate_signed(self.app, self.id, chain)
