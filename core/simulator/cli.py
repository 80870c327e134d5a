"""``openv2x simulate``: a fleet of simulated charging stations against a CSMS."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from core.rest.schemas import OCPP_VERSIONS
from core.simulator.base import Counters, SimConfig


def add_command(subparsers: argparse._SubParsersAction[Any]) -> None:
    sim = subparsers.add_parser(
        "simulate", help="run simulated OCPP charging stations against a CSMS",
        description="Simulated charging stations (OCPP 1.6, 2.0.1 or 2.1): boot, status, "
                    "heartbeats, optional transactions with meter values; every CSMS request "
                    "answered.")
    sim.add_argument("--url", required=True, help="CSMS OCPP base URL, e.g. ws://host:8080/ocpp")
    sim.add_argument("--stations", type=_positive, default=1, help="how many stations")
    sim.add_argument("--ocpp", choices=OCPP_VERSIONS, default="1.6", help="protocol version")
    sim.add_argument("--prefix", default="SIM", help="station ids are PREFIX0001, PREFIX0002…")
    sim.add_argument("--password", help="HTTP Basic password of every station")
    sim.add_argument("--connectors", type=_positive, default=1,
                     help="connectors per station (OCPP 2.x: EVSEs of one connector each)")
    sim.add_argument("--meter-interval", type=_positive, default=60, metavar="S",
                     help="seconds between meter values during a transaction")
    sim.add_argument("--transactions", action="store_true", help="run charging sessions")
    sim.add_argument("--id-tag", default="SIMTAG01", help="id tag the simulated drivers use")
    sim.add_argument("--session-seconds", type=_positive, default=300, metavar="S")
    sim.add_argument("--duration", type=_positive, metavar="S",
                     help="stop after S seconds (default: run until interrupted)")
    sim.set_defaults(func=simulate)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} must be at least 1")
    return number


def simulate(args: argparse.Namespace) -> int:
    if not args.url.startswith(("ws://", "wss://")):
        print("openv2x: error: --url must start with ws:// or wss://", file=sys.stderr)
        return 2
    # Imported here: the stations load every OCPP version's messages, which other commands
    # do not need.
    from core.simulator.fleet import run_fleet

    cfg = SimConfig(url=args.url, ocpp=args.ocpp, password=args.password,
                    connectors=args.connectors, meter_interval=args.meter_interval,
                    transactions=args.transactions, id_tag=args.id_tag,
                    session_s=args.session_seconds)
    ids = [f"{args.prefix}{i:04d}" for i in range(1, args.stations + 1)]
    print(f"simulating {len(ids)} OCPP {args.ocpp} station(s) against {args.url}", flush=True)
    try:
        counters = asyncio.run(run_fleet(cfg, ids, args.duration,
                                         lambda line: print(line, flush=True)))
    except KeyboardInterrupt:
        return 130
    print(summary(counters), flush=True)
    return 0 if counters.failed == 0 else 1


def summary(counters: Counters) -> str:
    """The closing line; CALLERROR answers are named by action (a CSMS may lack a handler)."""
    refused = ""
    if counters.refused:
        by_action = ", ".join(f"{action} {n}" for action, n in sorted(counters.refused.items()))
        refused = f" ({sum(counters.refused.values())} with a CALLERROR: {by_action})"
    return (f"done: {counters.sent} messages answered{refused}, {counters.failed} failed, "
            f"{counters.reconnects} reconnects")
