"""An HTTP load process for `carewatch bench web`: closed-loop clients on keep-alive connections.

Runs as its own process (`python -m bench.webload ...`) so that the web app is measured, not a
client sharing its interpreter. For each path in turn: a warm-up, then `--seconds` of requests from
`--concurrency` clients; every response must be 200 (anything else is counted as an error).
Prints one JSON line: {path: {"n", "errors", "p50_ms", "p95_ms", "p99_ms", "rps"}}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


async def hammer(base: str, token: str, path: str, seconds: float, concurrency: int) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {token}"}
    lat: list[float] = []
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

        for _ in range(3):  # warm-up: connections, prepared statements, template cache
            await one()
        lat.clear()
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
    }


async def main_async(args: argparse.Namespace) -> dict[str, dict[str, float]]:
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
