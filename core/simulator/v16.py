"""The OCPP 1.6 simulated charge point, built on ``ocpp.v16``.

It boots, reports its connectors, sends heartbeats at the interval the CSMS gave, optionally
runs transactions with realistic meter values (energy, power, current, voltage, SoC), and
answers every CSMS request the way a well-behaved charger does.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ocpp.v16 import ChargePoint, call, call_result

from core.simulator.base import Counters, SimConfig, now_iso, on

VOLTAGE = 230.0


@dataclass
class Session:
    connector_id: int
    transaction_id: int
    meter_wh: float
    soc: float
    started: float


class Station16(ChargePoint):  # type: ignore[misc]  # ocpp ships no type hints
    """One charger. Its handlers keep the state a real charger would keep."""

    def __init__(self, station_id: str, connection: Any, cfg: SimConfig,
                 counters: Counters) -> None:
        super().__init__(station_id, connection, response_timeout=30)
        self.cfg, self.counters = cfg, counters
        self.configuration: dict[str, str] = {
            "HeartbeatInterval": "300", "MeterValueSampleInterval": str(int(cfg.meter_interval)),
            "MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import,"
                                      "Current.Import,Voltage,SoC",
            "NumberOfConnectors": str(cfg.connectors), "AuthorizeRemoteTxRequests": "false",
        }
        self.readonly = {"NumberOfConnectors"}
        self.meter_wh = random.uniform(0, 1_000_000)
        self.sessions: dict[int, Session] = {}
        self.available = {c: True for c in range(1, cfg.connectors + 1)}
        self.local_list_version = 0
        self.reboot = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def send(self, request: Any) -> Any:
        """Send a request and count it (latency measured to the answer)."""
        started = asyncio.get_running_loop().time()
        try:
            answer = await self.call(request)
        except Exception:
            self.counters.failed += 1
            raise
        self.counters.sent += 1
        self.counters.latencies.append(asyncio.get_running_loop().time() - started)
        return answer

    # ---- behaviour -----------------------------------------------------------------------

    async def boot(self) -> int:
        answer = await self.send(call.BootNotification(
            charge_point_vendor="OpenV2X", charge_point_model="Simulator",
            charge_point_serial_number=self.id, firmware_version="sim-1.0",
            meter_type="SimMeter", meter_serial_number=f"M-{self.id}"))
        interval = int(answer.interval) or 300
        self.configuration["HeartbeatInterval"] = str(interval)
        await self.send(call.StatusNotification(connector_id=0, error_code="NoError",
                                                status="Available", timestamp=now_iso()))
        for connector in self.available:
            await self.report(connector)
        return interval

    async def report(self, connector: int) -> None:
        if not self.available[connector]:
            status = "Unavailable"
        elif connector in self.sessions:
            status = "Charging"
        else:
            status = "Available"
        await self.send(call.StatusNotification(connector_id=connector, error_code="NoError",
                                                status=status, timestamp=now_iso()))

    async def heartbeats(self) -> None:
        while True:
            await asyncio.sleep(float(self.configuration["HeartbeatInterval"]))
            await self.send(call.Heartbeat())

    def sample(self, session: Session, context: str = "Sample.Periodic") -> dict[str, Any]:
        power = self.cfg.power_w * random.uniform(0.95, 1.0) if session.soc < 100 else 0.0
        current = power / (VOLTAGE * self.cfg.phases)
        return {"timestamp": now_iso(), "sampledValue": [
            {"value": f"{session.meter_wh:.0f}", "context": context,
             "measurand": "Energy.Active.Import.Register", "unit": "Wh", "location": "Outlet"},
            {"value": f"{power:.0f}", "context": context, "measurand": "Power.Active.Import",
             "unit": "W"},
            {"value": f"{current:.1f}", "context": context, "measurand": "Current.Import",
             "unit": "A", "phase": "L1"},
            {"value": f"{VOLTAGE + random.uniform(-3, 3):.1f}", "context": context,
             "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
            {"value": f"{session.soc:.0f}", "context": context, "measurand": "SoC",
             "unit": "Percent", "location": "EV"},
        ]}

    async def start_transaction(self, connector: int, id_tag: str) -> Session | None:
        if connector in self.sessions or not self.available[connector]:
            return None
        authorized = await self.send(call.Authorize(id_tag=id_tag))
        if authorized.id_tag_info["status"] != "Accepted":
            return None
        await self.send(call.StatusNotification(connector_id=connector, error_code="NoError",
                                                status="Preparing", timestamp=now_iso()))
        answer = await self.send(call.StartTransaction(
            connector_id=connector, id_tag=id_tag, meter_start=int(self.meter_wh),
            timestamp=now_iso()))
        session = Session(connector, answer.transaction_id, self.meter_wh,
                          random.uniform(10, 60), asyncio.get_running_loop().time())
        self.sessions[connector] = session
        if answer.id_tag_info["status"] != "Accepted":
            await self.stop_transaction(connector, "DeAuthorized")
            return None
        await self.report(connector)
        self.spawn(self.meter_loop(session))
        return session

    async def meter_loop(self, session: Session) -> None:
        while self.sessions.get(session.connector_id) is session:
            await asyncio.sleep(float(self.configuration["MeterValueSampleInterval"]))
            if self.sessions.get(session.connector_id) is not session:
                return
            interval_h = float(self.configuration["MeterValueSampleInterval"]) / 3600
            energy = self.cfg.power_w * interval_h if session.soc < 100 else 0.0
            session.meter_wh += energy
            session.soc = min(100.0, session.soc + 100 * energy / self.cfg.battery_wh)
            self.meter_wh = session.meter_wh
            await self.send(call.MeterValues(connector_id=session.connector_id,
                                             transaction_id=session.transaction_id,
                                             meter_value=[self.sample(session)]))

    async def stop_transaction(self, connector: int, reason: str = "Local") -> None:
        session = self.sessions.pop(connector, None)
        if session is None:
            return
        await self.send(call.StopTransaction(
            meter_stop=int(session.meter_wh), timestamp=now_iso(),
            transaction_id=session.transaction_id, reason=reason,
            transaction_data=[self.sample(session, "Transaction.End")]))
        await self.report(connector)

    async def charging_cycle(self) -> None:
        """Drivers arrive, charge for ``session_s`` and leave, on every connector."""
        while True:
            for connector in self.available:
                if connector not in self.sessions:
                    await self.start_transaction(connector, self.cfg.id_tag)
            await asyncio.sleep(self.cfg.session_s)
            for connector in list(self.sessions):
                await self.stop_transaction(connector, "EVDisconnected")
            await asyncio.sleep(self.cfg.pause_s)

    # ---- CSMS requests -------------------------------------------------------------------

    @on("Reset")
    def on_reset(self, type: str) -> call_result.Reset:
        self.spawn(self._reset(type))
        return call_result.Reset(status="Accepted")

    async def _reset(self, kind: str) -> None:
        await asyncio.sleep(0.05)
        for connector in list(self.sessions):
            await self.stop_transaction(connector, "HardReset" if kind == "Hard" else "SoftReset")
        self.reboot.set()

    @on("ChangeAvailability")
    def on_change_availability(self, connector_id: int,
                               type: str) -> call_result.ChangeAvailability:
        targets = list(self.available) if connector_id == 0 else [connector_id]
        if any(t not in self.available for t in targets):
            return call_result.ChangeAvailability(status="Rejected")
        busy = any(t in self.sessions for t in targets) and type == "Inoperative"
        for target in targets:
            self.available[target] = type == "Operative"
            if not busy:
                self.spawn(self.report(target))
        return call_result.ChangeAvailability(status="Scheduled" if busy else "Accepted")

    @on("GetConfiguration")
    def on_get_configuration(self, key: list[str] | None = None) -> call_result.GetConfiguration:
        wanted = key or list(self.configuration)
        known = [{"key": k, "readonly": k in self.readonly, "value": self.configuration[k]}
                 for k in wanted if k in self.configuration]
        unknown = [k for k in wanted if k not in self.configuration]
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on("ChangeConfiguration")
    def on_change_configuration(self, key: str, value: str) -> call_result.ChangeConfiguration:
        if key not in self.configuration:
            return call_result.ChangeConfiguration(status="NotSupported")
        if key in self.readonly:
            return call_result.ChangeConfiguration(status="Rejected")
        if key in ("HeartbeatInterval", "MeterValueSampleInterval") and not value.isdigit():
            return call_result.ChangeConfiguration(status="Rejected")
        self.configuration[key] = value
        return call_result.ChangeConfiguration(status="Accepted")

    @on("RemoteStartTransaction")
    def on_remote_start(self, id_tag: str, connector_id: int | None = None,
                        charging_profile: dict[str, Any] | None = None
                        ) -> call_result.RemoteStartTransaction:
        connector = connector_id or next(
            (c for c in self.available if c not in self.sessions and self.available[c]), None)
        if connector is None or connector not in self.available or connector in self.sessions:
            return call_result.RemoteStartTransaction(status="Rejected")
        self.spawn(self.start_transaction(connector, id_tag))
        return call_result.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    def on_remote_stop(self, transaction_id: int) -> call_result.RemoteStopTransaction:
        for connector, session in self.sessions.items():
            if session.transaction_id == transaction_id:
                self.spawn(self.stop_transaction(connector, "Remote"))
                return call_result.RemoteStopTransaction(status="Accepted")
        return call_result.RemoteStopTransaction(status="Rejected")

    @on("UnlockConnector")
    def on_unlock(self, connector_id: int) -> call_result.UnlockConnector:
        if connector_id not in self.available:
            return call_result.UnlockConnector(status="NotSupported")
        if connector_id in self.sessions:
            self.spawn(self.stop_transaction(connector_id, "UnlockCommand"))
        return call_result.UnlockConnector(status="Unlocked")

    @on("ClearCache")
    def on_clear_cache(self) -> call_result.ClearCache:
        return call_result.ClearCache(status="Accepted")

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **_: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status="UnknownVendorId")

    @on("GetDiagnostics")
    def on_get_diagnostics(self, location: str, **_: Any) -> call_result.GetDiagnostics:
        return call_result.GetDiagnostics(file_name=f"{self.id}-diagnostics.log")

    @on("UpdateFirmware")
    def on_update_firmware(self, location: str, retrieve_date: str,
                           **_: Any) -> call_result.UpdateFirmware:
        self.spawn(self.send(call.FirmwareStatusNotification(status="Downloading")))
        return call_result.UpdateFirmware()

    @on("TriggerMessage")
    def on_trigger(self, requested_message: str,
                   connector_id: int | None = None) -> call_result.TriggerMessage:
        actions: dict[str, Callable[[], Any]] = {
            "BootNotification": self.boot,
            "Heartbeat": lambda: self.send(call.Heartbeat()),
            "StatusNotification": lambda: self.report(connector_id or 1),
            "DiagnosticsStatusNotification": lambda: self.send(
                call.DiagnosticsStatusNotification(status="Idle")),
            "FirmwareStatusNotification": lambda: self.send(
                call.FirmwareStatusNotification(status="Idle")),
            "MeterValues": lambda: self._trigger_meter_values(connector_id or 1),
        }
        action = actions.get(requested_message)
        if action is None:
            return call_result.TriggerMessage(status="NotImplemented")
        self.spawn(action())
        return call_result.TriggerMessage(status="Accepted")

    async def _trigger_meter_values(self, connector: int) -> None:
        session = self.sessions.get(connector) or Session(connector, 0, self.meter_wh, 0, 0)
        await self.send(call.MeterValues(connector_id=connector, meter_value=[
            self.sample(session, "Trigger")], transaction_id=session.transaction_id or None))

    @on("ReserveNow")
    def on_reserve_now(self, connector_id: int, **_: Any) -> call_result.ReserveNow:
        if connector_id not in self.available:
            return call_result.ReserveNow(status="Rejected")
        status = "Occupied" if connector_id in self.sessions else "Accepted"
        return call_result.ReserveNow(status=status)

    @on("CancelReservation")
    def on_cancel_reservation(self, reservation_id: int) -> call_result.CancelReservation:
        return call_result.CancelReservation(status="Accepted")

    @on("SetChargingProfile")
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any]
                                ) -> call_result.SetChargingProfile:
        return call_result.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, **_: Any) -> call_result.ClearChargingProfile:
        return call_result.ClearChargingProfile(status="Accepted")

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(self, connector_id: int, duration: int,
                                  charging_rate_unit: str | None = None
                                  ) -> call_result.GetCompositeSchedule:
        return call_result.GetCompositeSchedule(
            status="Accepted", connector_id=connector_id, schedule_start=now_iso(),
            charging_schedule={"duration": duration, "chargingRateUnit": charging_rate_unit
                               or "W", "chargingSchedulePeriod": [
                                   {"startPeriod": 0, "limit": self.cfg.power_w}]})

    @on("SendLocalList")
    def on_send_local_list(self, list_version: int, update_type: str,
                           **_: Any) -> call_result.SendLocalList:
        self.local_list_version = list_version
        return call_result.SendLocalList(status="Accepted")

    @on("GetLocalListVersion")
    def on_get_local_list_version(self) -> call_result.GetLocalListVersion:
        return call_result.GetLocalListVersion(list_version=self.local_list_version)
