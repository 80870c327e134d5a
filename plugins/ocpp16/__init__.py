"""OCPP 1.6J central system.

Serves the ``ocpp1.6`` subprotocol on ``/ocpp/{station_id}``: every station-initiated message of
the core profile is validated, persisted and acknowledged after commit (BootNotification,
Heartbeat, StatusNotification, Authorize, StartTransaction, StopTransaction, MeterValues,
DataTransfer, DiagnosticsStatusNotification, FirmwareStatusNotification). Every CSMS-initiated
request of ``ocpp.v16`` can be sent from Python through the dispatcher and from REST at
``POST /api/ocpp16/{command}/{chargepoint_id}/``. ``openv2x simulate`` runs simulated stations.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from aiohttp import web

from core.ocpp.protocol import OcppProtocol, StationContext
from core.plugins import hookimpl
from core.rest.routes import Route
from plugins.ocpp16.commands import command_routes
from plugins.ocpp16.session import SUBPROTOCOL, Ocpp16Session
from plugins.ocpp16.simulator import SimConfig, run_fleet


def _open(ctx: StationContext) -> Ocpp16Session:
    return Ocpp16Session(ctx)


@hookimpl
def openv2x_ocpp_protocols(app: web.Application) -> list[OcppProtocol]:
    return [OcppProtocol(SUBPROTOCOL, "1.6", _open)]


@hookimpl
def openv2x_routes(app: web.Application) -> list[Route]:
    return command_routes()


@hookimpl
def openv2x_cli(subparsers: argparse._SubParsersAction[Any]) -> None:
    sim = subparsers.add_parser(
        "simulate", help="run simulated OCPP charge points against a CSMS",
        description="Simulated charge points built on ocpp.v16: boot, status, heartbeats, "
                    "optional transactions with meter values; every CSMS command answered.")
    sim.add_argument("--url", required=True, help="CSMS OCPP base URL, e.g. ws://host:8080/ocpp")
    sim.add_argument("--stations", type=_positive, default=1, help="how many stations")
    sim.add_argument("--ocpp", choices=["1.6"], default="1.6", help="protocol version")
    sim.add_argument("--prefix", default="SIM", help="station ids are PREFIX0001, PREFIX0002…")
    sim.add_argument("--password", help="HTTP Basic password of every station")
    sim.add_argument("--connectors", type=_positive, default=1, help="connectors per station")
    sim.add_argument("--meter-interval", type=_positive, default=60, metavar="S",
                     help="seconds between meter values during a transaction")
    sim.add_argument("--transactions", action="store_true", help="run charging sessions")
    sim.add_argument("--id-tag", default="SIMTAG01", help="id tag the simulated drivers use")
    sim.add_argument("--session-seconds", type=_positive, default=300, metavar="S")
    sim.add_argument("--duration", type=_positive, metavar="S",
                     help="stop after S seconds (default: run until interrupted)")
    sim.set_defaults(func=_simulate)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} must be at least 1")
    return number


def _simulate(args: argparse.Namespace) -> int:
    if not args.url.startswith(("ws://", "wss://")):
        print("openv2x: error: --url must start with ws:// or wss://", file=sys.stderr)
        return 2
    cfg = SimConfig(url=args.url, password=args.password, connectors=args.connectors,
                    meter_interval=args.meter_interval, transactions=args.transactions,
                    id_tag=args.id_tag, session_s=args.session_seconds)
    ids = [f"{args.prefix}{i:04d}" for i in range(1, args.stations + 1)]
    print(f"simulating {len(ids)} OCPP 1.6 station(s) against {args.url}", flush=True)
    try:
        counters = asyncio.run(run_fleet(cfg, ids, args.duration,
                                         lambda line: print(line, flush=True)))
    except KeyboardInterrupt:
        return 130
    print(f"done: {counters.sent} messages answered, {counters.failed} failed, "
          f"{counters.reconnects} reconnects", flush=True)
    return 0 if counters.failed == 0 else 1
