"""REST API throughput and latency against a bare-aiohttp baseline, in one run.

Starts OpenV2X in-process on 127.0.0.1 (SQLite, and PostgreSQL when OPENV2X_TEST_POSTGRES_URL is
set), seeds locations, then drives each endpoint with C concurrent clients for N requests and
prints a table: requests/s, p50/p95/p99 latency and the process's peak RSS. The baseline is an
aiohttp handler returning the same JSON document without auth, database or validation: the
distance between the two is what the framework costs.

    python benchmarks/rest_api.py [--requests 2000] [--concurrency 20] [--seed 500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import appkeys
from core.app import create_app, plugin_migration_dirs
from core.db import migrate
from core.db.models import Location
from core.testing import DEFAULT_PASSWORD, config_for_tests, reset_postgres
from core.users import NewUser, create_user

Call = Callable[[aiohttp.ClientSession], Awaitable[int]]


async def measure(call: Call, requests: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    remaining = requests
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency)
    ) as http:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                status = await call(http)
                latencies.append(time.perf_counter() - started)
                if status >= 400:
                    raise RuntimeError(f"request failed with {status}")

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return requests / elapsed, latencies


def row(name: str, rps: float, lat: list[float]) -> str:
    q = statistics.quantiles(lat, n=100)
    p50, p95, p99 = (q[i] * 1e3 for i in (49, 94, 98))
    return f"| {name:<38} | {rps:>8.0f} | {p50:>7.2f} | {p95:>7.2f} | {p99:>7.2f} |"


async def baseline_server(document: bytes) -> TestServer:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(body=document, content_type="application/json")

    app = web.Application()
    app.router.add_get("/", handler)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    return server


async def bench_backend(label: str, url: str, args: argparse.Namespace, data_dir: Path) -> None:
    if url.startswith("postgresql"):
        await reset_postgres(url)
    app = create_app(config_for_tests(url, data_dir, plugins=()))
    if url.startswith("postgresql"):
        await migrate.upgrade(app[appkeys.DB], plugin_migration_dirs(app[appkeys.PLUGINS]))
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    db = app[appkeys.DB]
    async with db.transaction() as work:
        await create_user(
            work.session,
            app[appkeys.CIPHER],
            NewUser(email="bench@example.test", password=DEFAULT_PASSWORD,
                    role="platform_manager", username="bench"),
        )
        for i in range(args.seed):
            work.session.add(Location(name=f"Site {i}", city="Lisbon" if i % 2 else "Porto",
                                      country="PRT"))
    base = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/token/",
                             json={"username": "bench", "password": DEFAULT_PASSWORD}) as resp:
            token = (await resp.json())["access"]
        async with http.get(f"{base}/api/location/?limit=20",
                            headers={"Authorization": f"Bearer {token}"}) as resp:
            page = await resp.read()
    headers = {"Authorization": f"Bearer {token}"}
    baseline = await baseline_server(page)
    base_url = str(baseline.make_url("/"))

    async def get(http: aiohttp.ClientSession, url: str) -> int:
        async with http.get(url, headers=headers) as resp:
            await resp.read()
            return resp.status

    counter = iter(range(10**9))

    async def post(http: aiohttp.ClientSession) -> int:
        body = {"name": f"New {next(counter)}", "city": "Faro", "country": "PRT"}
        async with http.post(f"{base}/api/location/", json=body, headers=headers) as resp:
            await resp.read()
            return resp.status

    cases: list[tuple[str, Call, int]] = [
        ("baseline: bare aiohttp, same JSON", lambda h: get(h, base_url), args.requests),
        ("GET /health", lambda h: get(h, f"{base}/health"), args.requests),
        ("GET /api/location/?limit=20", lambda h: get(h, f"{base}/api/location/?limit=20"),
         args.requests),
        ("GET /api/location/?city=Lisbon&limit=20",
         lambda h: get(h, f"{base}/api/location/?city=Lisbon&limit=20"), args.requests),
        ("POST /api/location/", post, args.requests // 2),
    ]
    print(f"\n{label}: {args.seed} locations, concurrency {args.concurrency}")
    print("| case                                   |    req/s | p50 ms  | p95 ms  | p99 ms  |")
    print("|----------------------------------------|---------:|--------:|--------:|--------:|")
    for name, call, n in cases:
        rps, lat = await measure(call, n, args.concurrency)
        print(row(name, rps, lat), flush=True)
    await baseline.close()
    await server.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--seed", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        await bench_backend("SQLite", f"sqlite+aiosqlite:///{data_dir / 'bench.db'}", args,
                            data_dir)
        pg = os.environ.get("OPENV2X_TEST_POSTGRES_URL")
        if pg:
            await bench_backend("PostgreSQL", pg, args, data_dir)
        else:
            print("\nPostgreSQL: skipped (set OPENV2X_TEST_POSTGRES_URL)")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the benchmark process (server and clients): {peak_mib:.0f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
