"""`carewatch bench web --login-flood`: a token's API call while failed logins flood the web (issue #38 B).

A flood of 12 addresses × 19 parallel failed logins (each address and each name under the login
throttle's limits, so every one of them is a real attempt) once made a token's `GET /api/v1/facilities`
take 61.3 s (3 ms before): each login held a database connection while argon2 ran. Here: a private
stack, `carewatch web` (one process) with `CAREWATCH_TRUSTED_PROXIES=127.0.0.1`, so that the flood's
`X-Forwarded-For` stands for its 12 client addresses as a reverse proxy's would. A city inspector's
token asks for the facility list at a steady 15 a second (under its own rate limit, web/ratelimit.py)
for a quiet spell, then during `rounds` floods of 228 logins sent from another process (new addresses
each round, so the throttle counts each as a first-time guess). Printed: both p99s and their ratio
(target: ≤ 5× and < 500 ms), with how the web answered the flood (401 wrong password, 503 beyond this
process's hash slots, 429 throttled), and where the machine's CPU went during the floods: the web's, the
flood client's (on the same cores here, as an attacker's would not be), this sampler's, and everything
else's (the database, other work on a shared machine), with the load average at the start and end.

Run as `python -m bench.loginflood BASE` it is the flood's own process: it reads a line from stdin,
sends one round and prints its answers as one JSON line, until stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import wait_healthy

ADDRESSES = 12
PER_ADDRESS = 19  # under the throttle's 30 per address (web/throttle.py): each is checked, none refused
PACE_S = 1 / 15  # the token's requests: under its rate limit of 20 a second, so none is a 429
TARGET_MS = 500.0
TARGET_RATIO = 5.0


async def _login(base: str, name: str, address: str) -> int:
    """One failed login as a browser behind the proxy: the form, then the post."""
    headers = {"X-Forwarded-For": address}
    async with aiohttp.ClientSession(headers=headers, cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        try:
            async with s.get(f"{base}/login") as r:
                csrf = re.search(r'name="csrf" value="([^"]+)"', await r.text())
            if csrf is None:
                return r.status
            form = {"username": name, "password": "wrong-guess", "csrf": csrf.group(1)}
            async with s.post(f"{base}/login", data=form, allow_redirects=False) as r:
                await r.read()
                return 401 if r.status == 200 else r.status  # the form again: a wrong password
        except aiohttp.ClientError:
            return 0


async def _flood_child(base: str, addresses: int, per: int) -> None:
    round_no = 0
    while await asyncio.to_thread(sys.stdin.readline):
        t0 = time.perf_counter()
        logins = [
            _login(base, f"flood-{round_no}-{a}-{i}", f"198.51.{100 + round_no}.{1 + a}")
            for a in range(addresses)
            for i in range(per)
        ]
        answers = Counter(str(code) for code in await asyncio.gather(*logins))
        print(json.dumps({"answers": answers, "s": round(time.perf_counter() - t0, 2)}), flush=True)
        round_no += 1


async def _sample(s: aiohttp.ClientSession, url: str, until: asyncio.Future[Any] | float) -> list[float]:
    """The token's GETs at a steady pace until `until` (a future done, or a count of requests)."""
    lat: list[float] = []
    while (len(lat) < until) if isinstance(until, float) else not until.done():
        t0 = time.perf_counter()
        async with s.get(url) as r:
            await r.read()
            if r.status != 200:
                raise RuntimeError(f"the token's request answered {r.status}")
        took = time.perf_counter() - t0
        lat.append(took * 1000)
        await asyncio.sleep(max(0.0, PACE_S - took))
    return lat


def _cpu_s(pid: int) -> float:
    """A process's CPU seconds so far (user + system, all its threads), from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (every core), from /proc/stat."""
    try:
        cpu = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return float("nan")
    return (sum(cpu[:8]) - cpu[3] - cpu[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


async def run_login_flood_bench(rounds: int = 15, quiet_n: int = 150, facilities: int = 200) -> dict[str, Any]:
    from bench.common import log, pct, prepare_db
    from runtime.stack import LocalStack, free_port
    from storage.users import create_user

    state = Path(tempfile.mkdtemp(prefix="carewatch-bench-"))
    state.chmod(0o755)
    stack = LocalStack(state, fsync=True)
    web: subprocess.Popen[bytes] | None = None
    flood: asyncio.subprocess.Process | None = None
    try:
        info = await asyncio.to_thread(stack.up, pg_port=free_port(), mqtt_port=free_port())
        db_url = await prepare_db(info.database_url, "bench_flood", facilities, 4)
        import asyncpg

        conn = await asyncpg.connect(db_url)
        try:
            _, token = await create_user(conn, "bench-city", "inspector", None)
        finally:
            await conn.close()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "CAREWATCH_DATABASE_URL": db_url,
            "CAREWATCH_MQTT_URL": info.mqtt_url,
            "CAREWATCH_HTTP": f"127.0.0.1:{port}",
            "CAREWATCH_STATE_DIR": str(state),
            "CAREWATCH_TRUSTED_PROXIES": "127.0.0.1",  # the flood's X-Forwarded-For: 12 clients behind a proxy
        }
        cmd = [sys.executable, "-m", "carewatch.cli", "web"]
        web = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await wait_healthy(port, 30.0)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
            url = f"{base}/api/v1/facilities"
            await _sample(s, url, 10.0)  # warm-up: the pool, prepared statements
            quiet = await _sample(s, url, float(quiet_n))
            log(f"quiet: p99 {pct(quiet, 99):.1f} ms over {len(quiet)}")
            flood = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.loginflood",
                base,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            if flood.stdin is None or flood.stdout is None:
                raise RuntimeError("the flood's pipes did not open")
            during: list[float] = []
            answers: Counter[str] = Counter()
            flood_s = []
            pids = {"web": web.pid, "flood_client": flood.pid, "bench_sampler": os.getpid()}
            load_start = os.getloadavg()[0]
            cpu0 = {k: _cpu_s(p) for k, p in pids.items()} | {"machine": _machine_busy_s()}
            t_flood = time.perf_counter()
            for _ in range(rounds):
                flood.stdin.write(b"go\n")
                await flood.stdin.drain()
                done = asyncio.ensure_future(flood.stdout.readline())
                during += await _sample(s, url, done)
                result = json.loads(await done)
                answers.update(result["answers"])
                flood_s.append(result["s"])
                log(f"flood round: {result}; p99 so far {pct(during, 99):.1f} ms over {len(during)}")
                await asyncio.sleep(2.0)  # the last hashes finish before the next round
            cpu = {k: round(_cpu_s(p) - cpu0[k], 2) for k, p in pids.items()}
            cpu["everything_else"] = round(_machine_busy_s() - cpu0["machine"] - sum(cpu.values()), 2)
            flood_wall = round(time.perf_counter() - t_flood, 1)
            load_end = os.getloadavg()[0]
            flood.stdin.close()
            await flood.wait()
        quiet_p99, flood_p99 = pct(quiet, 99), pct(during, 99)
        ratio = flood_p99 / quiet_p99
        return {
            "bench": "web_login_flood",
            "logins_per_round": ADDRESSES * PER_ADDRESS,
            "rounds": rounds,
            "flood_answers": dict(sorted(answers.items())),
            "flood_round_s": flood_s,
            "quiet_p50_ms": round(pct(quiet, 50), 1),
            "quiet_p99_ms": round(quiet_p99, 1),
            "flood_p50_ms": round(pct(during, 50), 1),
            "flood_p99_ms": round(flood_p99, 1),
            "flood_max_ms": round(max(during), 1),
            "p99_ratio": round(ratio, 2),
            "quiet_n": len(quiet),
            "flood_n": len(during),
            "target_met": ratio <= TARGET_RATIO and flood_p99 < TARGET_MS,
            # the floods' CPU seconds over `flood_wall_s` on `cores` cores (the 2 s pauses included)
            "flood_wall_s": flood_wall,
            "cores": os.cpu_count(),
            "cpu_s": cpu,
            "load_avg_start_end": [round(load_start, 1), round(load_end, 1)],
        }
    finally:
        if flood is not None and flood.returncode is None:
            flood.kill()
            await flood.wait()
        if web is not None:
            web.terminate()
            web.wait(10)
        await asyncio.to_thread(stack.destroy)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("--addresses", type=int, default=ADDRESSES)
    ap.add_argument("--per", type=int, default=PER_ADDRESS)
    args = ap.parse_args()
    asyncio.run(_flood_child(args.base, args.addresses, args.per))


if __name__ == "__main__":
    main()
