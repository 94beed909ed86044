"""An HTTP load process for `carewatch bench web`: closed-loop clients on keep-alive connections.

Runs as its own process (`python -m bench.webload ...`) so that the web app is measured, not a
client sharing its interpreter. For each path in turn: a warm-up, then `--seconds` of requests from
`--concurrency` clients; every response must be 200 (anything else is counted as an error).
Prints one JSON line: {path: {"n", "errors", "p50_ms", "p95_ms", "p99_ms", "rps", "slow"}}, where
"slow" is where the slowest 5 % of requests spent their time, from the server's `Server-Timing`
(mean ms of each phase; "app" the server's whole handling, "outside" the rest: waiting for the event
loop, the transfer).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import aiohttp


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


async def hammer(base: str, token: str, path: str, seconds: float, concurrency: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    lat: list[float] = []
    timings: list[dict[str, float]] = []
    errors = 0
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base, headers=headers, connector=conn) as s:

        async def one() -> None:
            nonlocal errors
            t0 = time.perf_counter()
            async with s.get(path) as r:
                await r.read()
                if r.status != 200:
                    errors += 1
            lat.append((time.perf_counter() - t0) * 1000)
            timings.append(server_timing(r.headers.get("Server-Timing", "")))

        for _ in range(3):  # warm-up: connections, prepared statements, template cache
            await one()
        lat.clear()
        timings.clear()
        stop = time.perf_counter() + seconds

        async def client() -> None:
            while time.perf_counter() < stop:
                await one()

        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        took = time.perf_counter() - t0
    return {
        "n": len(lat),
        "errors": errors,
        "p50_ms": round(pct(lat, 50), 2),
        "p95_ms": round(pct(lat, 95), 2),
        "p99_ms": round(pct(lat, 99), 2),
        "rps": round(len(lat) / took, 1),
        "slow": slowest(lat, timings),
    }


def server_timing(header: str) -> dict[str, float]:
    """`auth;dur=1.2, app;dur=80.1` → {"auth": 1.2, "app": 80.1} (phases without a duration skipped)."""
    phases = {}
    for part in header.split(","):
        name, _, dur = part.strip().partition(";dur=")
        try:
            phases[name] = float(dur)
        except ValueError:
            continue
    return phases


def slowest(lat: list[float], timings: list[dict[str, float]], share: float = 0.05) -> dict[str, float]:
    """The mean of each phase over the slowest `share` of requests, with "outside" = latency − app."""
    order = sorted(range(len(lat)), key=lat.__getitem__, reverse=True)[: max(1, round(len(lat) * share))]
    if not lat:
        return {}
    sums: dict[str, float] = {}
    for i in order:
        phases = {**timings[i], "outside": lat[i] - timings[i].get("app", 0.0)}
        for name, ms in phases.items():
            sums[name] = sums.get(name, 0.0) + ms
    return {name: round(total / len(order), 1) for name, total in sums.items()}


async def main_async(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    return {p: await hammer(args.base, args.token, p, args.seconds, args.concurrency) for p in args.paths}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("token")
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--concurrency", type=int, default=4)
    print(json.dumps(asyncio.run(main_async(ap.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
