"""The OCPP 2.0.1 and 2.1 simulated charging station, built on ``ocpp.v201`` / ``ocpp.v21``.

Each EVSE has one connector. A session starts when the cable is plugged in (TransactionEvent
Started, CablePluggedIn), an ISO 15118 EV states its charging needs (NotifyEVChargingNeeds:
departure time, energy and, with OCPP 2.1, how far it may discharge), the driver authorizes
(Authorize, then Updated with the idToken) and energy flows: Updated events carry meter values
every ``SampledDataCtrlr.TxUpdatedInterval`` seconds, and at once when the power the charging
profiles ask for changes (:mod:`.profiles`; on OCPP 2.1 a CentralSetpoint period is followed,
discharging when negative). Every CSMS request of the version is answered the way a careful
charger answers it; what an answer sets in motion (status notifications, reports, reboots)
starts once the answer is sent.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import uuid
import zlib
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from ocpp.charge_point import ChargePoint as OcppChargePoint
from ocpp.v21 import ChargePoint as ChargePoint21
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from core.db.types import utcnow
from core.ocpp.times import iso, parse_time
from core.simulator import pki
from core.simulator.base import Counters, SimConfig, now_iso, on
from core.simulator.device_model import DeviceModel, Variable, key_of, standard_model
from core.simulator.profiles import Electrical, Profiles, Setting, composite

log = logging.getLogger(__name__)
VOLTAGE = 230.0
CONNECTOR = 1
# OCPP 2.0.1 carries AC charging parameters as integers.
EV_MIN_CURRENT = 6
EV_MAX_VOLTAGE = 400
TARGET_SOC = 80
# An EV lends its battery to the grid down to this state of charge, never below; it arrives
# with more.
V2X_MIN_SOC = 20.0
ARRIVAL_SOC = (30.0, 60.0)
RETRY_BOOT_S = 10.0
CERTIFICATE_CN = {"ChargingStationCertificate": "{id}", "V2GCertificate": "SECC-{id}",
                  "V2G20Certificate": "SECC-{id}"}


@dataclass
class Meter:
    imported_wh: float
    exported_wh: float = 0.0


@dataclass
class Reservation:
    id: int
    evse: int
    id_token: str
    expiry: dt.datetime


@dataclass
class Tx:
    id: str
    evse: Evse
    started_at: dt.datetime
    soc: float
    ticked: float
    seq: int = 0
    plugged: bool = False
    authorized: bool = False
    ended: bool = False
    id_token: dict[str, Any] | None = None
    remote_start_id: int | None = None
    reservation_id: int | None = None
    charging_state: str = "EVConnected"
    operation_mode: str | None = None
    target_w: float = 0.0
    power_w: float = 0.0
    priority: bool = False
    reported: float = 0.0
    next_change_at: float | None = None

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq - 1


@dataclass
class Evse:
    id: int
    meter: Meter
    operative: bool = True
    # ChangeAvailability Inoperative during a session: applied when the session ends.
    inoperative_when_idle: bool = False
    tx: Tx | None = None


@dataclass
class Charger:
    """What a station keeps across connections and reboots (its non-volatile memory)."""

    station_id: str
    cfg: SimConfig
    device: DeviceModel
    evses: dict[int, Evse]
    profiles: Profiles = field(default_factory=Profiles)
    boot_reason: str = "PowerUp"
    booted: bool = False
    reset_when_idle: bool = False
    local_list_version: int = 0
    reservations: dict[int, Reservation] = field(default_factory=dict)
    installed: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    csr_keys: list[ec.EllipticCurvePrivateKey] = field(default_factory=list)
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    monitors: dict[int, dict[str, Any]] = field(default_factory=dict)
    tariffs: dict[str, int] = field(default_factory=dict)

    @classmethod
    def new(cls, station_id: str, cfg: SimConfig) -> Charger:
        ids = range(1, cfg.connectors + 1)
        device = standard_model(station_id, ids, meter_interval=round(cfg.meter_interval),
                                power_w=cfg.power_w, phases=cfg.phases, v2x=cfg.ocpp == "2.1")
        return cls(station_id, cfg, device,
                   {i: Evse(i, Meter(random.uniform(0, 1_000_000))) for i in ids})

    def sampled_data(self, name: str) -> str:
        return self.device.value("SampledDataCtrlr", name)


def _earliest(*moments: float | None) -> float | None:
    known = [m for m in moments if m is not None]
    return min(known) if known else None


class Station2x(OcppChargePoint):  # type: ignore[misc]  # ocpp ships no type hints
    """Behaviour and answers shared by both versions; :class:`Station21` adds OCPP 2.1's."""

    calls: Any
    results: Any
    v2x = False

    def __init__(self, charger: Charger, connection: Any, counters: Counters) -> None:
        super().__init__(charger.station_id, connection, response_timeout=30)
        self.charger, self.cfg, self.counters = charger, charger.cfg, counters
        self.electrical = Electrical(VOLTAGE, charger.cfg.phases)
        self.reboot = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._followups: list[Coroutine[Any, Any, Any]] = []
        self._nudge = asyncio.Event()

    # ---- plumbing ------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("%s: %s stopped: %r", self.id,
                        getattr(task.get_coro(), "__qualname__", "a task"), task.exception())

    async def cancel_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def after_answer(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` once the answer to the request being handled is on the wire."""
        self._followups.append(coro)

    async def route_message(self, raw_msg: str) -> None:
        try:
            await super().route_message(raw_msg)
        finally:
            followups, self._followups = self._followups, []
            for coro in followups:
                self.spawn(coro)

    async def send(self, request: Any) -> Any | None:
        """Send a request and count it; a CALLERROR answer is counted by action and gives
        ``None`` (the flow goes on as a charger's would)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            answer = await self.call(request)
        except Exception:
            self.counters.failed += 1
            raise
        self.counters.sent += 1
        if answer is None:
            self.counters.refused[type(request).__name__] += 1
        else:
            self.counters.latencies.append(loop.time() - started)
        return answer

    def nudge(self) -> None:
        """Wake every loop waiting in :meth:`pause`: a setting or a profile changed."""
        self._nudge.set()
        self._nudge = asyncio.Event()

    async def pause(self, seconds: float | None) -> None:
        """Sleep ``seconds`` (None: until nudged), or less when :meth:`nudge` is called."""
        try:
            await asyncio.wait_for(self._nudge.wait(), seconds)
        except TimeoutError:
            return

    def restart(self, reason: str) -> None:
        self.charger.booted, self.charger.boot_reason = False, reason
        self.reboot.set()

    # ---- provisioning --------------------------------------------------------------------

    def identity(self) -> dict[str, Any]:
        digits = f"{zlib.crc32(self.id.encode()):010d}"
        return {"model": "Simulator", "vendor_name": "OpenV2X",
                "serial_number": self.id[:25], "firmware_version": "sim-2.0",
                "modem": {"iccid": f"893510{digits}", "imsi": f"26801{digits}"}}

    async def boot(self) -> None:
        """Register unless only the connection was lost (a station boots after a reboot, not
        after a reconnection), then report every connector and go on with open sessions."""
        if not self.charger.booted:
            await self.register()
        for evse in self.charger.evses.values():
            if evse.tx is not None and not evse.tx.authorized:
                # Its start was cut short by the lost connection: it ends as it never began.
                await self.end(evse.tx, "AbnormalCondition", "Other")
                continue
            await self.report(evse)
            if evse.tx is not None:
                self.spawn(self.meter_loop(evse.tx))

    async def register(self) -> None:
        """BootNotification until accepted; Pending and Rejected are retried after the
        interval the CSMS gives."""
        while True:
            answer = await self.send(self.calls.BootNotification(
                charging_station=self.identity(), reason=self.charger.boot_reason))
            if answer is not None and answer.status == "Accepted":
                break
            await asyncio.sleep(answer.interval if answer is not None and answer.interval > 0
                                else RETRY_BOOT_S)
        if answer.interval > 0:
            self.charger.device.update("OCPPCommCtrlr", "HeartbeatInterval", str(answer.interval))
        self.charger.booted = True

    def connector_status(self, evse: Evse) -> str:
        if not evse.operative:
            return "Unavailable"
        if evse.tx is not None and evse.tx.plugged:
            return "Occupied"
        if any(r.evse == evse.id for r in self.charger.reservations.values()):
            return "Reserved"
        return "Available"

    async def report(self, evse: Evse) -> None:
        status = self.connector_status(evse)
        self.charger.device.update("EVSE", "AvailabilityState", status, evse.id)
        await self.send(self.calls.StatusNotification(
            timestamp=now_iso(), connector_status=status, evse_id=evse.id,
            connector_id=CONNECTOR))

    async def each(self, action: Callable[[Evse], Awaitable[None]],
                   evses: Iterable[Evse]) -> None:
        for evse in evses:
            await action(evse)

    async def heartbeats(self) -> None:
        """A Heartbeat every ``HeartbeatInterval`` seconds; a new interval applies at once."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            interval = int(self.charger.device.value("OCPPCommCtrlr", "HeartbeatInterval"))
            remaining = last + interval - loop.time()
            if remaining > 0:
                await self.pause(remaining)
                continue
            await self.send(self.calls.Heartbeat())
            last = loop.time()

    async def notify_report(self, request_id: int, variables: list[Variable]) -> None:
        """NotifyReport in two parts (``tbc`` on the first), as stations split long reports."""
        half = (len(variables) + 1) // 2
        parts = [part for part in (variables[:half], variables[half:]) if part]
        for seq_no, part in enumerate(parts):
            await self.send(self.calls.NotifyReport(
                request_id=request_id, generated_at=now_iso(), seq_no=seq_no,
                report_data=[v.report() for v in part], tbc=seq_no < len(parts) - 1))

    # ---- transactions --------------------------------------------------------------------

    def free_evse(self, evse: Evse, id_token: str | None = None) -> bool:
        """Whether a session may start here (a reserved EVSE only for its reservation's
        token)."""
        reserved = [r for r in self.charger.reservations.values() if r.evse == evse.id]
        return evse.operative and evse.tx is None and (
            not reserved or any(r.id_token == id_token for r in reserved))

    def new_tx(self, evse: Evse, id_token: str | None) -> Tx:
        tx = Tx(str(uuid.uuid4()), evse, utcnow(), random.uniform(*ARRIVAL_SOC),
                asyncio.get_running_loop().time())
        for reservation in list(self.charger.reservations.values()):
            if reservation.evse == evse.id and reservation.id_token == id_token:
                tx.reservation_id = reservation.id
                del self.charger.reservations[reservation.id]
        evse.tx = tx
        return tx

    async def charging_cycle(self) -> None:
        """Drivers arrive, charge for ``session_s`` and unplug, on every EVSE."""
        while True:
            for evse in self.charger.evses.values():
                if self.free_evse(evse):
                    await self.plug_in(evse)
            await asyncio.sleep(self.cfg.session_s)
            for evse in self.charger.evses.values():
                if evse.tx is not None:
                    await self.end(evse.tx, "EVCommunicationLost", "EVDisconnected")
            await asyncio.sleep(self.cfg.pause_s)

    async def plug_in(self, evse: Evse) -> None:
        """Cable first: the session starts at plug-in and charges once the driver's card is
        accepted."""
        tx = self.new_tx(evse, None)
        tx.plugged = True
        await self.report(evse)
        await self.event(tx, "Started", "CablePluggedIn", context="Transaction.Begin",
                         charging_state="EVConnected")
        await self.charging_needs(tx)
        token = {"id_token": self.cfg.id_tag, "type": "ISO14443"}
        answer = await self.send(self.calls.Authorize(id_token=token))
        if tx.authorized:
            return  # a RequestStartTransaction authorized it meanwhile
        if answer is None or answer.id_token_info["status"] != "Accepted":
            await self.end(tx, "Deauthorized", "DeAuthorized")
            return
        await self.start_charging(tx, "Authorized", id_token=token)

    async def remote_start(self, tx: Tx, id_token: dict[str, Any], remote_start_id: int) -> None:
        """RequestStartTransaction on an idle EVSE: the session starts, then the EV is plugged
        in."""
        if tx.ended:
            return  # reset before it began
        if self.charger.device.value("AuthCtrlr", "AuthorizeRemoteStart") == "true":
            answer = await self.send(self.calls.Authorize(id_token=id_token))
            if answer is None or answer.id_token_info["status"] != "Accepted":
                tx.ended, tx.evse.tx = True, None
                return
        tx.id_token, tx.remote_start_id = id_token, remote_start_id
        if not await self.event(tx, "Started", "RemoteStart", context="Transaction.Begin",
                                id_token=id_token, remote_start_id=remote_start_id):
            return
        tx.plugged = True
        await self.report(tx.evse)
        await self.event(tx, "Updated", "CablePluggedIn", charging_state="EVConnected")
        await self.charging_needs(tx)
        await self.start_charging(tx, None)

    async def start_charging(self, tx: Tx, trigger: str | None, *,
                             id_token: dict[str, Any] | None = None,
                             remote_start_id: int | None = None) -> None:
        if tx.ended or tx.authorized:
            return
        tx.authorized = True
        if trigger is not None:
            tx.id_token = id_token
            if not await self.event(tx, "Updated", trigger, id_token=id_token,
                                    remote_start_id=remote_start_id):
                return
        tx.ticked = tx.reported = asyncio.get_running_loop().time()
        self.advance(tx)
        await self.event(tx, "Updated", "ChargingStateChanged", context="Sample.Periodic",
                         charging_state=tx.charging_state)
        self.spawn(self.meter_loop(tx))

    async def charging_needs(self, tx: Tx) -> None:
        """What an ISO 15118 EV states at plug-in; with OCPP 2.1 also its V2X limits."""
        battery, phases = self.cfg.battery_wh, self.cfg.phases

        def wh_to(soc: float) -> int:
            return round(battery * (soc - tx.soc) / 100)

        needs: dict[str, Any] = {
            "requested_energy_transfer": "AC_BPT" if self.v2x else "AC_three_phase",
            "departure_time": iso(utcnow().replace(microsecond=0)
                                  + dt.timedelta(seconds=self.cfg.session_s)),
            "ac_charging_parameters": {
                "energy_amount": max(0, wh_to(TARGET_SOC)), "ev_min_current": EV_MIN_CURRENT,
                "ev_max_current": round(self.cfg.power_w / (VOLTAGE * phases)),
                "ev_max_voltage": EV_MAX_VOLTAGE}}
        if self.v2x:
            minimum = EV_MIN_CURRENT * VOLTAGE * phases
            needs |= {"available_energy_transfer": ["AC_three_phase", "AC_BPT"],
                      "control_mode": "DynamicControl", "mobility_needs_mode": "EVCC_SECC",
                      "v2x_charging_parameters": {
                          "min_charge_power": minimum, "max_charge_power": self.cfg.power_w,
                          "min_discharge_power": minimum,
                          "max_discharge_power": self.cfg.power_w,
                          "ev_target_energy_request": max(0, wh_to(TARGET_SOC)),
                          "ev_min_energy_request": max(0, wh_to(V2X_MIN_SOC)),
                          "ev_max_energy_request": wh_to(100),
                          "ev_min_v2x_energy_request": wh_to(V2X_MIN_SOC),
                          "ev_max_v2x_energy_request": wh_to(100),
                          "target_soc": TARGET_SOC}}
        await self.send(self.calls.NotifyEVChargingNeeds(evse_id=tx.evse.id,
                                                         charging_needs=needs))

    def operating_point(self, tx: Tx) -> tuple[float, str, str | None, Setting]:
        """The power the EV takes now (negative: gives), its charging state, the operation
        mode, and the profile setting they come from."""
        setting = self.charger.profiles.setting(tx.evse.id, tx.id, tx.started_at, utcnow(),
                                                self.electrical, priority=tx.priority)
        most = self.cfg.power_w
        if setting.setpoint and setting.power_w is not None:
            wanted = max(-most if self.v2x else 0.0, min(most, setting.power_w))
        else:
            wanted = max(0.0, most if setting.power_w is None else min(most, setting.power_w))
        battery_allows = (wanted > 0 and tx.soc < 100) or (wanted < 0 and tx.soc > V2X_MIN_SOC)
        power = wanted if battery_allows else 0.0
        state = "Charging" if power else ("SuspendedEV" if wanted else "SuspendedEVSE")
        mode = (setting.operation_mode or "ChargingOnly") if self.v2x else None
        return power, state, mode, setting

    def advance(self, tx: Tx) -> str | None:
        """Meter the energy since the last call, then move to what the profiles ask now.

        Returns the trigger reason of a change worth an Updated event, if any.
        """
        now = asyncio.get_running_loop().time()
        energy = tx.power_w * (now - tx.ticked) / 3600
        tx.ticked = now
        if energy >= 0:
            tx.evse.meter.imported_wh += energy
        else:
            tx.evse.meter.exported_wh -= energy
        tx.soc = min(100.0, max(0.0, tx.soc + 100 * energy / self.cfg.battery_wh))
        if not tx.authorized or tx.ended:
            return None
        target, state, mode, setting = self.operating_point(tx)
        trigger = None
        if mode != tx.operation_mode and tx.operation_mode is not None:
            trigger = "OperationModeChanged"
        elif state != tx.charging_state:
            trigger = "ChargingStateChanged"
        elif target != tx.target_w:
            trigger = "ChargingRateChanged"
        tx.target_w, tx.charging_state, tx.operation_mode = target, state, mode
        # Following a setpoint is exact; a charger left to itself wanders a little.
        jitter = 1.0 if setting.setpoint else random.uniform(0.95, 1.0)
        tx.power_w = target * jitter
        tx.next_change_at = (None if setting.next_change_s is None
                             else now + setting.next_change_s)
        return trigger

    async def meter_loop(self, tx: Tx) -> None:
        """Updated events: meter values every ``TxUpdatedInterval`` seconds (0: none), and at
        once when the power, the charging state or the operation mode changes."""
        loop = asyncio.get_running_loop()
        while True:
            interval = int(self.charger.sampled_data("TxUpdatedInterval"))
            due = tx.reported + interval if interval > 0 else None
            wake_at = _earliest(due, tx.next_change_at)
            if wake_at is None or wake_at > loop.time():
                await self.pause(None if wake_at is None else wake_at - loop.time())
            if tx.ended:
                return
            trigger = self.advance(tx)
            if trigger is not None:
                await self.event(tx, "Updated", trigger, context="Other",
                                 charging_state=tx.charging_state)
            elif due is not None and loop.time() >= due:
                tx.reported = loop.time()
                await self.event(tx, "Updated", "MeterValuePeriodic", context="Sample.Periodic")

    async def end(self, tx: Tx, trigger: str, reason: str) -> None:
        """Ended with the final register reading; then the EVSE's status, and what waited for
        it to be idle (an availability change, a reset)."""
        if tx.ended:
            return
        self.advance(tx)
        tx.ended, tx.evse.tx = True, None
        self.nudge()
        await self.event(tx, "Ended", trigger, context="Transaction.End", stopped_reason=reason,
                         charging_state="Idle")
        for profile in self.charger.profiles.matching(tx.evse.id,
                                                      {"charging_profile_purpose": "TxProfile"}):
            del self.charger.profiles.by_id[profile.data["id"]]
        evse = tx.evse
        if evse.inoperative_when_idle:
            evse.operative, evse.inoperative_when_idle = False, False
        await self.report(evse)
        if self.charger.reset_when_idle and all(e.tx is None for e in self.charger.evses.values()):
            self.charger.reset_when_idle = False
            self.restart("RemoteReset")

    def readings(self, evse: Evse, tx: Tx | None) -> dict[str, tuple[float, str, dict[str, str]]]:
        """Every measurand this meter can sample: value, unit, phase or location."""
        power = tx.power_w if tx is not None else 0.0
        values: dict[str, tuple[float, str, dict[str, str]]] = {
            "Energy.Active.Import.Register": (round(evse.meter.imported_wh), "Wh",
                                              {"location": "Outlet"}),
            "Energy.Active.Export.Register": (round(evse.meter.exported_wh), "Wh",
                                              {"location": "Outlet"}),
            "Power.Active.Import": (round(power), "W", {}),
            "Current.Import": (round(power / (VOLTAGE * self.cfg.phases), 1), "A",
                               {"phase": "L1"}),
            "Voltage": (round(VOLTAGE + random.uniform(-3, 3), 1), "V", {"phase": "L1-N"}),
        }
        if tx is not None:
            values["SoC"] = (round(tx.soc, 1), "Percent", {"location": "EV"})
        return values

    def samples(self, evse: Evse, tx: Tx | None, context: str,
                measurands: str) -> list[dict[str, Any]] | None:
        """One MeterValue with the measurands the device model's ``measurands`` variable
        lists."""
        readings = self.readings(evse, tx)
        values = [{"value": readings[name][0], "context": context, "measurand": name,
                   "unit_of_measure": {"unit": readings[name][1]}, **readings[name][2]}
                  for name in self.charger.sampled_data(measurands).split(",") if name in readings]
        return [{"timestamp": now_iso(), "sampled_value": values}] if values else None

    async def event(self, tx: Tx, event_type: str, trigger: str, *, context: str | None = None,
                    id_token: dict[str, Any] | None = None, **info: Any) -> bool:
        """One TransactionEvent with the next seqNo; returns whether the session goes on (an
        idToken the CSMS does not accept ends it)."""
        measurands = {"Started": "TxStartedMeasurands",
                      "Ended": "TxEndedMeasurands"}.get(event_type, "TxUpdatedMeasurands")
        transaction_info = {"transaction_id": tx.id,
                            **{k: v for k, v in info.items() if v is not None}}
        if tx.operation_mode is not None:
            transaction_info["operation_mode"] = tx.operation_mode
        answer = await self.send(self.calls.TransactionEvent(
            event_type=event_type, timestamp=now_iso(), trigger_reason=trigger,
            seq_no=tx.next_seq(), transaction_info=transaction_info,
            evse={"id": tx.evse.id, "connector_id": CONNECTOR}, id_token=id_token,
            meter_value=self.samples(tx.evse, tx, context, measurands) if context else None,
            reservation_id=tx.reservation_id if event_type == "Started" else None))
        verdict = getattr(answer, "id_token_info", None)
        if id_token and verdict and verdict["status"] != "Accepted" and event_type != "Ended":
            await self.end(tx, "Deauthorized", "DeAuthorized")
        return not tx.ended

    def transaction(self, transaction_id: str) -> Tx | None:
        return next((e.tx for e in self.charger.evses.values()
                     if e.tx is not None and e.tx.id == transaction_id), None)

    # ---- CSMS requests: provisioning -----------------------------------------------------

    @on("GetVariables")
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        return self.results.GetVariables(
            get_variable_result=[self.charger.device.get(item) for item in get_variable_data])

    @on("SetVariables")
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        results = [self.charger.device.set(item) for item in set_variable_data]
        self.nudge()
        return self.results.SetVariables(set_variable_result=results)

    @on("GetBaseReport")
    def on_get_base_report(self, request_id: int, report_base: str, **_: Any) -> Any:
        variables = self.charger.device.base_report(report_base)
        if not variables:
            return self.results.GetBaseReport(status="EmptyResultSet")
        self.after_answer(self.notify_report(request_id, variables))
        return self.results.GetBaseReport(status="Accepted")

    @on("GetReport")
    def on_get_report(self, request_id: int, component_variable: list[dict[str, Any]] | None = None,
                      component_criteria: list[str] | None = None, **_: Any) -> Any:
        device = self.charger.device
        variables = (device.select(component_variable) if component_variable
                     else device.base_report("FullInventory"))
        if component_criteria == ["Problem"] or not variables:
            return self.results.GetReport(status="EmptyResultSet")
        self.after_answer(self.notify_report(request_id, variables))
        return self.results.GetReport(status="Accepted")

    @on("Reset")
    def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> Any:
        """Immediate: sessions end and the station reboots; OnIdle: once the last one ends."""
        if evse_id:
            return self._reset_evse(type, evse_id)
        busy = any(e.tx is not None for e in self.charger.evses.values())
        if type == "OnIdle" and busy:
            self.charger.reset_when_idle = True
            return self.results.Reset(status="Scheduled")
        self.after_answer(self._reset())
        return self.results.Reset(status="Accepted")

    def _reset_evse(self, kind: str, evse_id: int) -> Any:
        evse = self.charger.evses.get(evse_id)
        if evse is None:
            return self.results.Reset(status="Rejected")
        if evse.tx is not None and kind == "OnIdle":
            return self.results.Reset(status="Scheduled")
        if evse.tx is not None:
            self.after_answer(self.end(evse.tx, "ResetCommand", "ImmediateReset"))
        else:
            self.after_answer(self.report(evse))
        return self.results.Reset(status="Accepted")

    async def _reset(self) -> None:
        for evse in self.charger.evses.values():
            if evse.tx is not None:
                await self.end(evse.tx, "ResetCommand", "ImmediateReset")
        self.restart("RemoteReset")

    @on("SetNetworkProfile")
    def on_set_network_profile(self, configuration_slot: int, connection_data: dict[str, Any],
                               **_: Any) -> Any:
        return self.results.SetNetworkProfile(status="Accepted")

    # ---- CSMS requests: availability -----------------------------------------------------

    @on("ChangeAvailability")
    def on_change_availability(self, operational_status: str,
                               evse: dict[str, Any] | None = None, **_: Any) -> Any:
        """Each EVSE concerned reports its status; one in a session changes when it ends."""
        evses = self.charger.evses
        if evse and evse.get("id"):
            target = evses.get(evse["id"])
            if target is None or evse.get("connector_id", CONNECTOR) != CONNECTOR:
                return self.results.ChangeAvailability(status="Rejected")
            targets = [target]
        else:
            targets = list(evses.values())
        operative = operational_status == "Operative"
        at_once = [e for e in targets if operative or e.tx is None]
        for later in (e for e in targets if e not in at_once):
            later.inoperative_when_idle = True
        for each in at_once:
            each.operative, each.inoperative_when_idle = operative, False
        self.charger.device.update("ChargingStation", "Available", str(any(
            e.operative for e in evses.values())).lower())
        self.after_answer(self.each(self.report, at_once))
        status = "Accepted" if len(at_once) == len(targets) else "Scheduled"
        return self.results.ChangeAvailability(status=status)

    @on("UnlockConnector")
    def on_unlock_connector(self, evse_id: int, connector_id: int, **_: Any) -> Any:
        evse = self.charger.evses.get(evse_id)
        if evse is None or connector_id != CONNECTOR:
            return self.results.UnlockConnector(status="UnknownConnector")
        if evse.tx is not None and evse.tx.authorized:
            return self.results.UnlockConnector(status="OngoingAuthorizedTransaction")
        if evse.tx is not None:
            self.after_answer(self.end(evse.tx, "UnlockCommand", "Other"))
        return self.results.UnlockConnector(status="Unlocked")

    @on("TriggerMessage")
    def on_trigger_message(self, requested_message: str, evse: dict[str, Any] | None = None,
                           **_: Any) -> Any:
        evse_id = (evse or {}).get("id")
        if evse_id and evse_id not in self.charger.evses:
            return self.results.TriggerMessage(status="Rejected")
        targets = [self.charger.evses[evse_id]] if evse_id else list(self.charger.evses.values())
        if requested_message == "BootNotification" and self.charger.booted:
            # A station whose boot was accepted refuses to boot again (OCPP 2.x F06).
            return self.results.TriggerMessage(status="Rejected")
        if requested_message == "TransactionEvent" and not any(e.tx for e in targets):
            return self.results.TriggerMessage(status="Rejected")
        action = self.triggers(targets).get(requested_message)
        if action is None:
            return self.results.TriggerMessage(status="NotImplemented")
        self.after_answer(action())
        return self.results.TriggerMessage(status="Accepted")

    def triggers(self, targets: list[Evse]) -> dict[str, Callable[[], Coroutine[Any, Any, Any]]]:
        return {
            "BootNotification": self.boot,
            "Heartbeat": lambda: self.send(self.calls.Heartbeat()),
            "StatusNotification": lambda: self.each(self.report, targets),
            "MeterValues": lambda: self.each(self.meter_values, targets),
            "TransactionEvent": lambda: self.each(self.triggered_event, targets),
            "FirmwareStatusNotification": lambda: self.send(
                self.calls.FirmwareStatusNotification(status="Idle")),
            "LogStatusNotification": lambda: self.send(
                self.calls.LogStatusNotification(status="Idle")),
            "SignChargingStationCertificate": lambda: self.sign("ChargingStationCertificate"),
            "SignV2GCertificate": lambda: self.sign("V2GCertificate"),
        }

    async def meter_values(self, evse: Evse) -> None:
        samples = self.samples(evse, evse.tx, "Trigger", "TxUpdatedMeasurands")
        if samples:
            await self.send(self.calls.MeterValues(evse_id=evse.id, meter_value=samples))

    async def triggered_event(self, evse: Evse) -> None:
        if evse.tx is not None:
            self.advance(evse.tx)
            await self.event(evse.tx, "Updated", "Trigger", context="Trigger",
                             charging_state=evse.tx.charging_state)

    # ---- CSMS requests: transactions and reservations ------------------------------------

    @on("RequestStartTransaction")
    def on_request_start_transaction(self, id_token: dict[str, Any], remote_start_id: int,
                                     evse_id: int | None = None,
                                     charging_profile: dict[str, Any] | None = None,
                                     **_: Any) -> Any:
        """An EV already plugged in is authorized (its transaction id is answered); otherwise
        a session starts on the EVSE asked for, or the first free one."""
        evses = self.charger.evses
        waiting = next((e.tx for e in evses.values() if e.tx is not None
                        and not e.tx.authorized and e.tx.plugged
                        and evse_id in (None, e.id)), None)
        if charging_profile and charging_profile["charging_profile_purpose"] != "TxProfile":
            return self.results.RequestStartTransaction(status="Rejected")
        if waiting is not None:
            self._adopt(waiting, charging_profile)
            self.after_answer(self.start_charging(waiting, "RemoteStart", id_token=id_token,
                                                  remote_start_id=remote_start_id))
            return self.results.RequestStartTransaction(status="Accepted",
                                                        transaction_id=waiting.id)
        if evse_id:
            candidates = [evses[evse_id]] if evse_id in evses else []
        else:
            candidates = list(evses.values())
        chosen = next((e for e in candidates if self.free_evse(e, id_token["id_token"])), None)
        if chosen is None:
            return self.results.RequestStartTransaction(status="Rejected")
        tx = self.new_tx(chosen, id_token["id_token"])
        self._adopt(tx, charging_profile)
        self.after_answer(self.remote_start(tx, id_token, remote_start_id))
        return self.results.RequestStartTransaction(status="Accepted")

    def _adopt(self, tx: Tx, profile: dict[str, Any] | None) -> None:
        if profile is not None:
            self.charger.profiles.install(tx.evse.id, {**profile, "transaction_id": tx.id},
                                          utcnow())

    @on("RequestStopTransaction")
    def on_request_stop_transaction(self, transaction_id: str, **_: Any) -> Any:
        tx = self.transaction(transaction_id)
        if tx is None:
            return self.results.RequestStopTransaction(status="Rejected")
        self.after_answer(self.end(tx, "RemoteStop", "Remote"))
        return self.results.RequestStopTransaction(status="Accepted")

    @on("GetTransactionStatus")
    def on_get_transaction_status(self, transaction_id: str | None = None, **_: Any) -> Any:
        ongoing = None if transaction_id is None else self.transaction(transaction_id) is not None
        return self.results.GetTransactionStatus(messages_in_queue=False,
                                                 ongoing_indicator=ongoing)

    @on("CostUpdated")
    def on_cost_updated(self, total_cost: float, transaction_id: str, **_: Any) -> Any:
        return self.results.CostUpdated()

    @on("ReserveNow")
    def on_reserve_now(self, id: int, expiry_date_time: str, id_token: dict[str, Any],
                       evse_id: int | None = None, **_: Any) -> Any:
        evses = self.charger.evses
        self.charger.reservations.pop(id, None)
        if evse_id and evse_id not in evses:
            return self.results.ReserveNow(status="Rejected")
        candidates = [evses[evse_id]] if evse_id else list(evses.values())
        chosen = next((e for e in candidates if self.free_evse(e)), None)
        if chosen is None:
            unavailable = all(not e.operative for e in candidates)
            return self.results.ReserveNow(status="Unavailable" if unavailable else "Occupied")
        reservation = Reservation(id, chosen.id, id_token["id_token"],
                                  parse_time(expiry_date_time))
        self.charger.reservations[id] = reservation
        self.after_answer(self.report(chosen))
        self.after_answer(self.expire(reservation))
        return self.results.ReserveNow(status="Accepted")

    async def expire(self, reservation: Reservation) -> None:
        await asyncio.sleep(max(0.0, (reservation.expiry - utcnow()).total_seconds()))
        if self.charger.reservations.get(reservation.id) is reservation:
            del self.charger.reservations[reservation.id]
            await self.send(self.calls.ReservationStatusUpdate(
                reservation_id=reservation.id, reservation_update_status="Expired"))
            await self.report(self.charger.evses[reservation.evse])

    @on("CancelReservation")
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        reservation = self.charger.reservations.pop(reservation_id, None)
        if reservation is None:
            return self.results.CancelReservation(status="Rejected")
        self.after_answer(self.report(self.charger.evses[reservation.evse]))
        return self.results.CancelReservation(status="Accepted")

    # ---- CSMS requests: smart charging ---------------------------------------------------

    @on("SetChargingProfile")
    def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any],
                                **_: Any) -> Any:
        """Kept and obeyed at once; a TxProfile needs a session on its EVSE."""
        purpose = charging_profile["charging_profile_purpose"]
        evse = self.charger.evses.get(evse_id)
        tx = evse.tx if evse is not None else None
        refused = (
            (evse_id != 0 and evse is None)
            or (purpose == "ChargingStationMaxProfile" and evse_id != 0)
            or (purpose == "TxProfile" and (tx is None or charging_profile.get(
                "transaction_id") not in (None, tx.id))))
        if refused:
            return self.results.SetChargingProfile(status="Rejected")
        self.charger.profiles.install(evse_id, charging_profile, utcnow())
        self.nudge()
        return self.results.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, charging_profile_id: int | None = None,
                                  charging_profile_criteria: dict[str, Any] | None = None,
                                  **_: Any) -> Any:
        criteria = dict(charging_profile_criteria or {})
        if charging_profile_id is not None:
            criteria["charging_profile_id"] = [charging_profile_id]
        profiles = self.charger.profiles
        cleared = profiles.matching(criteria.get("evse_id"), criteria)
        for profile in cleared:
            del profiles.by_id[profile.data["id"]]
        self.nudge()
        return self.results.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    @on("GetChargingProfiles")
    def on_get_charging_profiles(self, request_id: int, charging_profile: dict[str, Any],
                                 evse_id: int | None = None, **_: Any) -> Any:
        sources = charging_profile.get("charging_limit_source")
        found = [] if sources and "CSO" not in sources else self.charger.profiles.matching(
            evse_id, charging_profile)
        if not found:
            return self.results.GetChargingProfiles(status="NoProfiles")
        by_evse: dict[int, list[dict[str, Any]]] = {}
        for profile in found:
            by_evse.setdefault(profile.evse_id, []).append(profile.data)
        self.after_answer(self.report_profiles(request_id, by_evse))
        return self.results.GetChargingProfiles(status="Accepted")

    async def report_profiles(self, request_id: int,
                              by_evse: dict[int, list[dict[str, Any]]]) -> None:
        for n, (evse_id, profiles) in enumerate(sorted(by_evse.items())):
            await self.send(self.calls.ReportChargingProfiles(
                request_id=request_id, charging_limit_source="CSO", evse_id=evse_id,
                charging_profile=profiles, tbc=n < len(by_evse) - 1))

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(self, duration: int, evse_id: int,
                                  charging_rate_unit: str | None = None, **_: Any) -> Any:
        if evse_id != 0 and evse_id not in self.charger.evses:
            return self.results.GetCompositeSchedule(status="Rejected")
        unit = charging_rate_unit or "W"
        most = self.cfg.power_w * (len(self.charger.evses) if evse_id == 0 else 1)
        tx = self.charger.evses[evse_id].tx if evse_id else None
        plan = composite(self.charger.profiles, evse_id, utcnow(), duration, self.electrical,
                         tx.id if tx else None, tx.started_at if tx else None)
        periods = [self._composite_period(offset, setting, unit, most)
                   for offset, setting in plan]
        return self.results.GetCompositeSchedule(status="Accepted", schedule={
            "evse_id": evse_id, "duration": duration, "schedule_start": now_iso(),
            "charging_rate_unit": unit, "charging_schedule_period": periods})

    def _composite_period(self, offset: int, setting: Setting, unit: str,
                          most: float) -> dict[str, Any]:
        per_unit = 1.0 if unit == "W" else VOLTAGE * self.cfg.phases
        cap = most if setting.setpoint or setting.power_w is None else setting.power_w
        period: dict[str, Any] = {"start_period": offset, "limit": round(cap / per_unit, 1)}
        if self.v2x and setting.operation_mode:
            period["operation_mode"] = setting.operation_mode
        if self.v2x and setting.setpoint and setting.power_w is not None:
            period["setpoint"] = round(setting.power_w / per_unit, 1)
        return period

    # ---- CSMS requests: authorization ----------------------------------------------------

    @on("ClearCache")
    def on_clear_cache(self, **_: Any) -> Any:
        return self.results.ClearCache(status="Accepted")

    @on("SendLocalList")
    def on_send_local_list(self, version_number: int, update_type: str, **_: Any) -> Any:
        if update_type == "Differential" and version_number <= self.charger.local_list_version:
            return self.results.SendLocalList(status="VersionMismatch")
        self.charger.local_list_version = version_number
        return self.results.SendLocalList(status="Accepted")

    @on("GetLocalListVersion")
    def on_get_local_list_version(self, **_: Any) -> Any:
        return self.results.GetLocalListVersion(version_number=self.charger.local_list_version)

    # ---- CSMS requests: maintenance ------------------------------------------------------

    @on("UpdateFirmware")
    def on_update_firmware(self, request_id: int, firmware: dict[str, Any], **_: Any) -> Any:
        self.after_answer(self.statuses(self.calls.FirmwareStatusNotification, request_id,
                                        ("Downloading", "Downloaded", "Installing",
                                         "Installed")))
        return self.results.UpdateFirmware(status="Accepted")

    @on("GetLog")
    def on_get_log(self, log: dict[str, Any], log_type: str, request_id: int,
                   **_: Any) -> Any:
        self.after_answer(self.statuses(self.calls.LogStatusNotification, request_id,
                                        ("Uploading", "Uploaded")))
        return self.results.GetLog(status="Accepted", filename=f"{self.id}-{log_type}.log")

    async def statuses(self, message: Any, request_id: int, steps: Iterable[str]) -> None:
        for status in steps:
            await self.send(message(status=status, request_id=request_id))

    @on("PublishFirmware")
    def on_publish_firmware(self, **_: Any) -> Any:
        """Only local controllers publish firmware to other stations."""
        return self.results.PublishFirmware(status="Rejected")

    @on("UnpublishFirmware")
    def on_unpublish_firmware(self, checksum: str, **_: Any) -> Any:
        return self.results.UnpublishFirmware(status="NoFirmware")

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return self.results.DataTransfer(status="UnknownVendorId")

    @on("CustomerInformation")
    def on_customer_information(self, request_id: int, report: bool, clear: bool,
                                customer_identifier: str | None = None,
                                id_token: dict[str, Any] | None = None,
                                customer_certificate: dict[str, Any] | None = None,
                                **_: Any) -> Any:
        who = customer_identifier or (id_token or {}).get("id_token") or (
            "certificate" if customer_certificate else None)
        if who is None:
            return self.results.CustomerInformation(status="Invalid")
        if report:
            self.after_answer(self.send(self.calls.NotifyCustomerInformation(
                data=f"No data is kept for {who}.", seq_no=0, generated_at=now_iso(),
                request_id=request_id, tbc=False)))
        return self.results.CustomerInformation(status="Accepted")

    @on("SetDisplayMessage")
    def on_set_display_message(self, message: dict[str, Any], **_: Any) -> Any:
        if message.get("transaction_id") and self.transaction(message["transaction_id"]) is None:
            return self.results.SetDisplayMessage(status="UnknownTransaction")
        self.charger.messages[message["id"]] = message
        return self.results.SetDisplayMessage(status="Accepted")

    @on("GetDisplayMessages")
    def on_get_display_messages(self, request_id: int, id: list[int] | None = None,
                                priority: str | None = None, state: str | None = None,
                                **_: Any) -> Any:
        found = [m for m in self.charger.messages.values()
                 if (not id or m["id"] in id) and priority in (None, m["priority"])
                 and state in (None, m.get("state"))]
        if not found:
            return self.results.GetDisplayMessages(status="Unknown")
        self.after_answer(self.send(self.calls.NotifyDisplayMessages(
            request_id=request_id, message_info=found, tbc=False)))
        return self.results.GetDisplayMessages(status="Accepted")

    @on("ClearDisplayMessage")
    def on_clear_display_message(self, id: int, **_: Any) -> Any:
        found = self.charger.messages.pop(id, None)
        return self.results.ClearDisplayMessage(status="Accepted" if found else "Unknown")

    # ---- CSMS requests: monitoring -------------------------------------------------------

    @on("SetVariableMonitoring")
    def on_set_variable_monitoring(self, set_monitoring_data: list[dict[str, Any]],
                                   **_: Any) -> Any:
        return self.results.SetVariableMonitoring(
            set_monitoring_result=[self._monitor(item) for item in set_monitoring_data])

    def _monitor(self, item: dict[str, Any]) -> dict[str, Any]:
        status, variable = self.charger.device.lookup(key_of(item["component"],
                                                             item["variable"]))
        result = {"status": status, "type": item["type"], "severity": item["severity"],
                  "component": item["component"], "variable": item["variable"]}
        if variable is None:
            return result
        monitor_id = item.get("id") or max(self.charger.monitors, default=0) + 1
        self.charger.monitors[monitor_id] = {**item, "id": monitor_id}
        return {**result, "id": monitor_id}

    @on("ClearVariableMonitoring")
    def on_clear_variable_monitoring(self, id: list[int], **_: Any) -> Any:
        return self.results.ClearVariableMonitoring(clear_monitoring_result=[
            {"id": n, "status": "Accepted" if self.charger.monitors.pop(n, None) else "NotFound"}
            for n in id])

    @on("GetMonitoringReport")
    def on_get_monitoring_report(self, request_id: int, **_: Any) -> Any:
        if not self.charger.monitors:
            return self.results.GetMonitoringReport(status="EmptyResultSet")
        self.after_answer(self.send(self.calls.NotifyMonitoringReport(
            request_id=request_id, seq_no=0, generated_at=now_iso(), tbc=False,
            monitor=[self._monitoring_data(m) for m in self.charger.monitors.values()])))
        return self.results.GetMonitoringReport(status="Accepted")

    def _monitoring_data(self, monitor: dict[str, Any]) -> dict[str, Any]:
        entry = {"id": monitor["id"], "transaction": bool(monitor.get("transaction")),
                 "value": monitor["value"], "type": monitor["type"],
                 "severity": monitor["severity"]}
        if self.v2x:
            entry["event_notification_type"] = "CustomMonitor"
        return {"component": monitor["component"], "variable": monitor["variable"],
                "variable_monitoring": [entry]}

    @on("SetMonitoringBase")
    def on_set_monitoring_base(self, monitoring_base: str, **_: Any) -> Any:
        return self.results.SetMonitoringBase(status="Accepted")

    @on("SetMonitoringLevel")
    def on_set_monitoring_level(self, severity: int, **_: Any) -> Any:
        return self.results.SetMonitoringLevel(status="Accepted")

    # ---- CSMS requests: certificates -----------------------------------------------------

    async def sign(self, certificate_type: str) -> None:
        """SignCertificate with a CSR for a new key, kept until its certificate arrives."""
        common_name = CERTIFICATE_CN[certificate_type].format(id=self.id)
        key, csr = pki.signing_request(common_name)
        self.charger.csr_keys.append(key)
        await self.send(self.calls.SignCertificate(csr=csr, certificate_type=certificate_type))

    @on("CertificateSigned")
    def on_certificate_signed(self, certificate_chain: str, **_: Any) -> Any:
        key = pki.signed_key(certificate_chain, self.charger.csr_keys)
        if key is None:
            return self.results.CertificateSigned(status="Rejected")
        self.charger.csr_keys.remove(key)
        return self.results.CertificateSigned(status="Accepted")

    @on("InstallCertificate")
    def on_install_certificate(self, certificate_type: str, certificate: str,
                               **_: Any) -> Any:
        hash_data = pki.root_hash_data(certificate)
        if hash_data is None:
            return self.results.InstallCertificate(status="Rejected")
        self.charger.installed = [(kind, data) for kind, data in self.charger.installed
                                  if not pki.same_hash_data(data, hash_data)]
        self.charger.installed.append((certificate_type, hash_data))
        return self.results.InstallCertificate(status="Accepted")

    @on("GetInstalledCertificateIds")
    def on_get_installed_certificate_ids(self, certificate_type: list[str] | None = None,
                                         **_: Any) -> Any:
        chains = [{"certificate_type": kind, "certificate_hash_data": data}
                  for kind, data in self.charger.installed
                  if not certificate_type or kind in certificate_type]
        if not chains:
            return self.results.GetInstalledCertificateIds(status="NotFound")
        return self.results.GetInstalledCertificateIds(status="Accepted",
                                                       certificate_hash_data_chain=chains)

    @on("DeleteCertificate")
    def on_delete_certificate(self, certificate_hash_data: dict[str, str], **_: Any) -> Any:
        kept = [(kind, data) for kind, data in self.charger.installed
                if not pki.same_hash_data(data, certificate_hash_data)]
        found = len(kept) < len(self.charger.installed)
        self.charger.installed = kept
        return self.results.DeleteCertificate(status="Accepted" if found else "NotFound")


class Station201(Station2x, ChargePoint201):  # type: ignore[misc]
    calls, results = call201, result201


class Station21(Station2x, ChargePoint21):  # type: ignore[misc]
    """OCPP 2.1 adds bidirectional power (V2X), tariffs, priority charging and DER control."""

    calls, results = call21, result21
    v2x = True

    def triggers(self, targets: list[Evse]) -> dict[str, Callable[[], Coroutine[Any, Any, Any]]]:
        return {**super().triggers(targets),
                "SignV2G20Certificate": lambda: self.sign("V2G20Certificate")}

    @on("UpdateDynamicSchedule")
    def on_update_dynamic_schedule(self, charging_profile_id: int,
                                   schedule_update: dict[str, Any], **_: Any) -> Any:
        profile = self.charger.profiles.by_id.get(charging_profile_id)
        if profile is None or profile.data["charging_profile_kind"] != "Dynamic":
            return self.results.UpdateDynamicSchedule(status="Rejected")
        profile.update = schedule_update
        self.nudge()
        return self.results.UpdateDynamicSchedule(status="Accepted")

    @on("UsePriorityCharging")
    def on_use_priority_charging(self, transaction_id: str, activate: bool, **_: Any) -> Any:
        tx = self.transaction(transaction_id)
        if tx is None:
            return self.results.UsePriorityCharging(status="Rejected")
        if activate and not self.charger.profiles.matching(
                tx.evse.id, {"charging_profile_purpose": "PriorityCharging"}):
            return self.results.UsePriorityCharging(status="NoProfile")
        tx.priority = activate
        self.nudge()
        self.after_answer(self.send(self.calls.NotifyPriorityCharging(
            transaction_id=transaction_id, activated=activate)))
        return self.results.UsePriorityCharging(status="Accepted")

    @on("NotifyAllowedEnergyTransfer")
    def on_notify_allowed_energy_transfer(self, transaction_id: str,
                                          allowed_energy_transfer: list[str],
                                          **_: Any) -> Any:
        found = self.transaction(transaction_id) is not None
        return self.results.NotifyAllowedEnergyTransfer(
            status="Accepted" if found else "Rejected")

    @on("ChangeTransactionTariff")
    def on_change_transaction_tariff(self, transaction_id: str, tariff: dict[str, Any],
                                     **_: Any) -> Any:
        found = self.transaction(transaction_id) is not None
        return self.results.ChangeTransactionTariff(status="Accepted" if found else "TxNotFound")

    @on("SetDefaultTariff")
    def on_set_default_tariff(self, evse_id: int, tariff: dict[str, Any], **_: Any) -> Any:
        if evse_id != 0 and evse_id not in self.charger.evses:
            return self.results.SetDefaultTariff(status="Rejected")
        self.charger.tariffs[tariff["tariff_id"]] = evse_id
        return self.results.SetDefaultTariff(status="Accepted")

    @on("GetTariffs")
    def on_get_tariffs(self, evse_id: int, **_: Any) -> Any:
        assignments = [{"tariff_id": tariff_id, "tariff_kind": "DefaultTariff",
                        "evse_ids": [evse]}
                       for tariff_id, evse in self.charger.tariffs.items()
                       if evse_id in (0, evse)]
        if not assignments:
            return self.results.GetTariffs(status="NoTariff")
        return self.results.GetTariffs(status="Accepted", tariff_assignments=assignments)

    @on("ClearTariffs")
    def on_clear_tariffs(self, tariff_ids: list[str] | None = None, evse_id: int | None = None,
                         **_: Any) -> Any:
        tariffs = self.charger.tariffs
        chosen = [t for t, evse in tariffs.items()
                  if (not tariff_ids or t in tariff_ids) and evse_id in (None, evse)]
        for tariff_id in chosen:
            del tariffs[tariff_id]
        results = [{"tariff_id": t, "status": "Accepted"} for t in chosen]
        results += [{"tariff_id": t, "status": "NoTariff"} for t in tariff_ids or ()
                    if t not in chosen]
        return self.results.ClearTariffs(clear_tariffs_result=results or [{"status": "NoTariff"}])

    @on("AFRRSignal")
    def on_afrr_signal(self, timestamp: str, signal: int, **_: Any) -> Any:
        return self.results.AFRRSignal(status="Accepted")

    @on("GetPeriodicEventStream")
    def on_get_periodic_event_stream(self, **_: Any) -> Any:
        return self.results.GetPeriodicEventStream()

    @on("AdjustPeriodicEventStream")
    def on_adjust_periodic_event_stream(self, id: int, params: dict[str, Any],
                                        **_: Any) -> Any:
        """This station opens no periodic event streams, so there is none to adjust."""
        return self.results.AdjustPeriodicEventStream(status="Rejected")

    @on("RequestBatterySwap")
    def on_request_battery_swap(self, id_token: dict[str, Any], request_id: int,
                                **_: Any) -> Any:
        return self.results.RequestBatterySwap(status="Rejected")

    @on("NotifyWebPaymentStarted")
    def on_notify_web_payment_started(self, evse_id: int, timeout: int, **_: Any) -> Any:
        return self.results.NotifyWebPaymentStarted()

    # An EV charger's inverter is not a DER controller: DER control is declined.
    @on("SetDERControl")
    def on_set_der_control(self, **_: Any) -> Any:
        return self.results.SetDERControl(status="NotSupported")

    @on("GetDERControl")
    def on_get_der_control(self, **_: Any) -> Any:
        return self.results.GetDERControl(status="NotSupported")

    @on("ClearDERControl")
    def on_clear_der_control(self, **_: Any) -> Any:
        return self.results.ClearDERControl(status="NotSupported")


def station_class(version: str) -> type[Station2x]:
    return Station21 if version == "2.1" else Station201
