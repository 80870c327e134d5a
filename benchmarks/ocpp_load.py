"""OCPP 1.6 load: OpenV2X (``openv2x serve``, SQLite) against a bare central system, one run.

The load generator runs in its own process and speaks raw OCPP-J frames (so the client side
costs little): N stations connect and boot, start a transaction, then send MeterValues
(5 sampled values each). Two measurements per target:

- saturation: every station sends its next MeterValues as soon as the previous one is
  answered, for D seconds -> answers/s and latency percentiles;
- paced: the total rate is fixed at half the baseline's saturation rate -> p99 latency.

Also printed: server RSS per idle connection and messages lost (sent but never answered).

    python benchmarks/ocpp_load.py [--stations 200] [--duration 10]
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


def meter_values(tx_id: int, n: int) -> dict:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"connectorId": 1, "transactionId": tx_id, "meterValue": [{
        "timestamp": stamp, "sampledValue": [
            {"value": str(1000 + n * 10), "measurand": "Energy.Active.Import.Register",
             "unit": "Wh"},
            {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
            {"value": "16.0", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
            {"value": "230.0", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
            {"value": "55", "measurand": "SoC", "unit": "Percent"}]}]}


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


async def generator(url: str, stations: int, duration: float, rate: float,
                    wait: bool) -> dict:
    """Run in the load process; returns the measurements as a dict."""
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    fleet: list[tuple[Station, int]] = []

    async def join(i: int) -> None:
        ws = await http.ws_connect(f"{url}/LOAD{i:05d}", protocols=("ocpp1.6",),
                                   heartbeat=None, timeout=aiohttp.ClientWSTimeout(ws_close=5))
        station = Station(ws)
        await station.call("BootNotification", {"chargePointVendor": "Load",
                                                "chargePointModel": "Gen"})
        await station.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                                  "status": "Charging"})
        started = await station.call("StartTransaction", {
            "connectorId": 1, "idTag": "LOAD", "meterStart": 0,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        fleet.append((station, started["transactionId"]))

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

    async def drive(station: Station, tx_id: int, offset: float) -> None:
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
                await asyncio.wait_for(station.call("MeterValues", meter_values(tx_id, n)), 30)
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


def run_generator(url: str, stations: int, duration: float, rate: float,
                  server_pid: int | None = None) -> dict:
    """Start the generator process; measure the server's RSS once all stations are idle."""
    cmd = [sys.executable, __file__, "--generator", url, str(stations), str(duration),
           str(rate), "wait"]
    before = rss_kib(server_pid) if server_pid else 0
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError("load generator failed before connecting")
    time.sleep(0.5)
    after = rss_kib(server_pid) if server_pid else 0
    out, _ = proc.communicate("go\n", timeout=duration + 300)
    result = json.loads(out.strip().splitlines()[-1])
    result["rss_per_conn_kib"] = (after - before) / stations if server_pid else 0.0
    return result


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
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--duration", type=float, default=10.0)
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
                sat = run_generator(url, args.stations, args.duration, 0.0, proc.pid)
                if workdir is None:
                    baseline_rate = sat["rate"]
                paced = run_generator(url, args.stations, args.duration, baseline_rate / 2)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            rows.append((name, sat, paced))
    print(f"\n{args.stations} stations, {args.duration:g} s per measurement, "
          f"paced rate = half the baseline's saturation ({baseline_rate / 2:.0f}/s)")
    print("| target | connected | saturation msg/s | p50 / p95 / p99 ms at saturation "
          "| p99 ms paced | RSS/conn KiB | lost |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, sat, paced in rows:
        lost = sat["sent"] - sat["answered"] + paced["sent"] - paced["answered"]
        print(f"| {name} | {sat['connected']} | {sat['rate']:.0f} | "
              f"{sat['p50']:.1f} / {sat['p95']:.1f} / {sat['p99']:.1f} | {paced['p99']:.1f} | "
              f"{sat['rss_per_conn_kib']:.1f} | {lost} |")
    ratio = rows[1][1]["rate"] / rows[0][1]["rate"] if rows[0][1]["rate"] else 0
    print(f"\nOpenV2X saturation / baseline saturation = {ratio:.2f}x")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--generator":
        url, n, duration, rate, ready = sys.argv[2:7]
        stats = asyncio.run(generator(url, int(n), float(duration), float(rate),
                                      ready == "wait"))
        print(json.dumps(stats))
    else:
        main()
