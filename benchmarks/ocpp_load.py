"""OCPP load: OpenV2X (``openv2x serve``, SQLite) against a bare central system, one run.

The load generator runs in its own process and speaks raw OCPP-J frames (so the client side
costs little), OCPP 1.6 or 2.0.1 (``--ocpp``): N stations connect, boot, report status and
start a transaction (1.6 StartTransaction; 2.0.1 TransactionEvent Started), then send meter
values with 5 sampled values each (1.6 MeterValues; 2.0.1 TransactionEvent Updated). Two
measurements per target:

- saturation: every station sends its next meter values as soon as the previous ones are
  answered, for D seconds -> answers/s and latency percentiles;
- paced: the total rate is fixed at half the baseline's saturation rate -> p99 latency.

- idle fleet: N more stations connect and boot (a connection storm, 200 at a time) and stay
  idle -> how long the storm took and the server's RSS per connection, marginal (growth from
  the first 500 to N, divided by the stations added) and total (RSS at N / N).

Also printed: server CPU per answered message at saturation and messages lost (sent but never
answered).

    python benchmarks/ocpp_load.py [--ocpp 1.6|2.0.1] [--stations 100] [--duration 8]
                                   [--idle 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def samples_16(n: int) -> list[dict]:
    return [{"value": str(1000 + n * 10), "measurand": "Energy.Active.Import.Register",
             "unit": "Wh"},
            {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
            {"value": "16.0", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
            {"value": "230.0", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
            {"value": "55", "measurand": "SoC", "unit": "Percent"}]


def samples_201(n: int) -> list[dict]:
    """The same five readings as OCPP 2.0.1 numbers with their unit of measure."""
    return [{"value": 1000 + n * 10, "measurand": "Energy.Active.Import.Register",
             "unitOfMeasure": {"unit": "Wh"}},
            {"value": 11000, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}},
            {"value": 16.0, "measurand": "Current.Import", "phase": "L1",
             "unitOfMeasure": {"unit": "A"}},
            {"value": 230.0, "measurand": "Voltage", "phase": "L1-N",
             "unitOfMeasure": {"unit": "V"}},
            {"value": 55, "measurand": "SoC", "unitOfMeasure": {"unit": "Percent"}}]


def meter_message(version: str, tx_id: int | str, n: int) -> tuple[str, dict]:
    """The n-th meter reading of a transaction, as the version sends it."""
    if version == "1.6":
        return "MeterValues", {"connectorId": 1, "transactionId": tx_id, "meterValue": [
            {"timestamp": now(), "sampledValue": samples_16(n)}]}
    return "TransactionEvent", {
        "eventType": "Updated", "timestamp": now(), "triggerReason": "MeterValuePeriodic",
        "seqNo": n + 1, "transactionInfo": {"transactionId": tx_id, "chargingState": "Charging"},
        "meterValue": [{"timestamp": now(), "sampledValue": samples_201(n)}]}


class Station:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def call(self, action: str, payload: dict) -> dict:
        unique = uuid.uuid4().hex[:16]
        await self.ws.send_str(json.dumps([2, unique, action, payload]))
        while True:
            frame = json.loads(await self.ws.receive_str())
            if frame[1] == unique:
                if frame[0] != 3:
                    raise RuntimeError(f"{action}: {frame}")
                return frame[2]


async def boot(station: Station, version: str, vendor: str, status: str) -> None:
    """BootNotification and the connector's StatusNotification."""
    if version == "1.6":
        await station.call("BootNotification", {"chargePointVendor": vendor,
                                                "chargePointModel": "Gen"})
        await station.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                                  "status": status})
        return
    await station.call("BootNotification", {"chargingStation": {"vendorName": vendor,
                                                                "model": "Gen"},
                                            "reason": "PowerUp"})
    await station.call("StatusNotification", {
        "timestamp": now(), "connectorStatus": "Occupied" if status == "Charging" else status,
        "evseId": 1, "connectorId": 1})


async def start_transaction(station: Station, version: str) -> int | str:
    if version == "1.6":
        started = await station.call("StartTransaction", {
            "connectorId": 1, "idTag": "LOAD", "meterStart": 0, "timestamp": now()})
        return int(started["transactionId"])
    tx_id = str(uuid.uuid4())
    await station.call("TransactionEvent", {
        "eventType": "Started", "timestamp": now(), "triggerReason": "CablePluggedIn",
        "seqNo": 0, "transactionInfo": {"transactionId": tx_id, "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1}, "idToken": {"idToken": "LOAD", "type": "ISO14443"},
        "meterValue": [{"timestamp": now(), "sampledValue": [{
            "value": 0, "context": "Transaction.Begin",
            "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}}]}]})
    return tx_id


async def generator(version: str, url: str, stations: int, duration: float, rate: float,
                    wait: bool) -> dict:
    """Run in the load process; returns the measurements as a dict."""
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    fleet: list[tuple[Station, int | str]] = []

    async def join(i: int) -> None:
        ws = await http.ws_connect(f"{url}/LOAD{i:05d}", protocols=(f"ocpp{version}",),
                                   heartbeat=None, timeout=aiohttp.ClientWSTimeout(ws_close=5))
        station = Station(ws)
        await boot(station, version, "Load", "Charging")
        fleet.append((station, await start_transaction(station, version)))

    for chunk in range(0, stations, 50):
        await asyncio.gather(*(join(i) for i in range(chunk, min(stations, chunk + 50))))
    if wait:
        # The parent reads the server's RSS while every station is connected and idle.
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)

    latencies: list[float] = []
    sent = answered = 0
    deadline = time.perf_counter() + duration
    interval = len(fleet) / rate if rate else 0.0

    async def drive(station: Station, tx_id: int | str, offset: float) -> None:
        nonlocal sent, answered
        n = 0
        next_at = time.perf_counter() + offset
        while time.perf_counter() < deadline:
            if interval:
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                next_at += interval
            began = time.perf_counter()
            sent += 1
            try:
                await asyncio.wait_for(station.call(*meter_message(version, tx_id, n)), 30)
            except (TimeoutError, RuntimeError, aiohttp.ClientError):
                continue
            answered += 1
            latencies.append(time.perf_counter() - began)
            n += 1

    began = time.perf_counter()
    await asyncio.gather(*(drive(s, tx, i * interval / max(1, len(fleet)))
                           for i, (s, tx) in enumerate(fleet)))
    elapsed = time.perf_counter() - began
    for station, _ in fleet:
        await station.ws.close()
    await http.close()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 2 else [0.0] * 99
    return {"connected": len(fleet), "sent": sent, "answered": answered,
            "rate": answered / elapsed, "p50": q[49] * 1e3, "p95": q[94] * 1e3,
            "p99": q[98] * 1e3}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_generator(version: str, url: str, stations: int, duration: float, rate: float,
                  server_pid: int) -> dict:
    """Start the generator process; measure the server's CPU while it drives the load."""
    cmd = [sys.executable, __file__, "--generator", version, url, str(stations), str(duration),
           str(rate), "wait"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError("load generator failed before connecting")
    cpu_before = cpu_seconds(server_pid)
    out, _ = proc.communicate("go\n", timeout=duration + 300)
    result = json.loads(out.strip().splitlines()[-1])
    cpu = cpu_seconds(server_pid) - cpu_before
    result["cpu_us_per_msg"] = cpu / result["answered"] * 1e6 if result["answered"] else 0.0
    return result


async def idle_fleet(version: str, url: str, total: int, report: int) -> None:
    """Connect ``total`` stations 200 at a time; print a line at ``report`` and at ``total``."""
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    sockets: list[aiohttp.ClientWebSocketResponse] = []

    async def join(i: int) -> None:
        ws = await http.ws_connect(f"{url}/IDLE{i:05d}", protocols=(f"ocpp{version}",),
                                   heartbeat=None, timeout=aiohttp.ClientWSTimeout(ws_close=5))
        await boot(Station(ws), version, "Idle", "Available")
        sockets.append(ws)

    began = time.perf_counter()
    for target in (report, total):
        while len(sockets) < target:
            start = len(sockets)
            await asyncio.gather(*(join(i) for i in range(start, min(target, start + 200))))
        print(json.dumps({"connected": len(sockets),
                          "seconds": time.perf_counter() - began}), flush=True)
        await asyncio.to_thread(sys.stdin.readline)
    for ws in sockets:
        await ws.close()
    await http.close()


def run_idle(version: str, url: str, total: int, server_pid: int) -> dict:
    """Marginal and total server RSS per idle connection, and the storm's duration."""
    first = min(500, total // 2)
    cmd = [sys.executable, __file__, "--idle", version, url, str(total), str(first)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    readings = []
    for _ in range(2):
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("idle fleet failed while connecting")
        state = json.loads(line)
        time.sleep(1.0)
        readings.append((state["connected"], rss_kib(server_pid), state["seconds"]))
        proc.stdin.write("next\n")
        proc.stdin.flush()
    proc.wait(timeout=120)
    (n0, rss0, _), (n1, rss1, seconds) = readings
    return {"idle": n1, "storm_s": seconds, "marginal_kib": (rss1 - rss0) / (n1 - n0),
            "total_kib": rss1 / n1}


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start_openv2x(tmp: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "OPENV2X_OCPP_UNKNOWN_STATIONS": "accept",
           "OPENV2X_LOGGING_LEVEL": "WARNING", "OPENV2X_OCPP_PING_INTERVAL": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "core.cli", "serve", "--port", str(port)],
                            cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    wait_http(f"http://127.0.0.1:{port}/health", proc)
    return proc


def start_baseline(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(HERE / "baseline_central.py"), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.1)
    raise RuntimeError("baseline did not come up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ocpp", choices=["1.6", "2.0.1"], default="1.6",
                        help="protocol the stations speak")
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--idle", type=int, default=10000,
                        help="stations of the idle fleet (0 skips that phase)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("baseline (ocpp example, no persistence)", None),
                   ("OpenV2X serve, SQLite", Path(tmp))]
        baseline_rate = 0.0
        for name, workdir in targets:
            port = free_port()
            proc = start_openv2x(workdir, port) if workdir else start_baseline(port)
            try:
                url = f"ws://127.0.0.1:{port}/ocpp"
                sat = run_generator(args.ocpp, url, args.stations, args.duration, 0.0, proc.pid)
                if workdir is None:
                    baseline_rate = sat["rate"]
                paced = run_generator(args.ocpp, url, args.stations, args.duration,
                                      baseline_rate / 2, proc.pid)
                idle = run_idle(args.ocpp, url, args.idle, proc.pid) if args.idle else None
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            rows.append((name, sat, paced, idle))
    print(f"\nOCPP {args.ocpp}, {args.stations} stations, {args.duration:g} s per measurement, "
          f"paced rate = half the baseline's saturation ({baseline_rate / 2:.0f}/s)")
    print("| target | saturation msg/s | p50 / p95 / p99 ms at saturation | p99 ms paced "
          "| server CPU µs/msg | lost |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, sat, paced, _ in rows:
        lost = sat["sent"] - sat["answered"] + paced["sent"] - paced["answered"]
        print(f"| {name} | {sat['rate']:.0f} | "
              f"{sat['p50']:.1f} / {sat['p95']:.1f} / {sat['p99']:.1f} | {paced['p99']:.1f} | "
              f"{sat['cpu_us_per_msg']:.0f} | {lost} |")
    if args.idle:
        print("\n| target | idle stations | storm s | RSS KiB/conn marginal | RSS KiB/conn total |")
        print("|---|---:|---:|---:|---:|")
        for name, _, _, idle in rows:
            print(f"| {name} | {idle['idle']} | {idle['storm_s']:.1f} | "
                  f"{idle['marginal_kib']:.1f} | {idle['total_kib']:.1f} |")
    ratio = rows[1][1]["rate"] / rows[0][1]["rate"] if rows[0][1]["rate"] else 0
    print(f"\nOpenV2X saturation / baseline saturation = {ratio:.2f}x")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--idle":
        asyncio.run(idle_fleet(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
    elif len(sys.argv) > 1 and sys.argv[1] == "--generator":
        version, url, n, duration, rate, ready = sys.argv[2:8]
        stats = asyncio.run(generator(version, url, int(n), float(duration), float(rate),
                                      ready == "wait"))
        print(json.dumps(stats))
    else:
        main()
