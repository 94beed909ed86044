"""What every benchmark shares: the environment, the load generator process, counters, a registry."""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import time as dtime
from pathlib import Path
from typing import Any

import asyncpg
import paho.mqtt.client as mqtt

from contract.registry import Device, DeviceType, Facility, OpeningHours, Registry
from simulators.loadgen import device_ids, facility_ids
from storage.migrate import migrate
from storage.registry import load_registry


@dataclass(frozen=True)
class Env:
    db_url: str
    mqtt_host: str
    mqtt_port: int


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def loadgen(
    env: Env,
    root: str,
    kind: str,
    n: int,
    facilities: int,
    devices: int,
    run: str,
    rate: float | None = None,
    poison: float = 0.0,
) -> subprocess.Popen[str]:
    """Start the publisher process; return once its messages are built and it starts publishing."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulators.loadgen",
            "--port",
            str(env.mqtt_port),
            "--root",
            root,
            "--kind",
            kind,
            "-n",
            str(n),
            "--facilities",
            str(facilities),
            "--devices",
            str(devices),
            "--run",
            run,
            *(["--rate", str(rate)] if rate else []),
            *(["--poison", str(poison)] if poison else []),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None  # noqa: S101
    ready = proc.stdout.readline()
    if '"ready"' not in ready:
        raise RuntimeError(f"load generator did not start: {ready!r}")
    return proc


def finish_loadgen(proc: subprocess.Popen[str]) -> dict[str, Any]:
    try:
        out, _ = proc.communicate(timeout=900)
    except BaseException:  # interrupted (Ctrl-C, kill) or timed out: the publisher goes too
        proc.kill()
        proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode})")
    return dict(json.loads(out.strip().splitlines()[-1]))


class CountingSubscriber:
    """A subscriber that only counts (QoS 1, acks on receipt)."""

    def __init__(self, env: Env, topic: str, expect: int) -> None:
        self.expect, self.n, self.first, self.last = expect, 0, 0.0, 0.0
        self.done = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.c.on_message = self._on_message
        self.c.connect(env.mqtt_host, env.mqtt_port)
        self.c.subscribe(topic, qos=1)
        self.c.loop_start()

    def _on_message(self, *_a: object) -> None:
        now = time.perf_counter()
        if self.n == 0:
            self.first = now
        self.n += 1
        self.last = now
        if self.n >= self.expect:
            self.done.set()

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def healthy(port: int, timeout: float = 1) -> bool:
    """A service's /healthz on loopback answers 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as r:
            return bool(r.status == 200)
    except OSError:
        return False


async def wait_healthy(port: int, limit_s: float = 30.0) -> bool:
    """Until the service on `port` answers /healthz with 200 (True), or `limit_s` pass (False)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if await asyncio.to_thread(healthy, port):
            return True
        await asyncio.sleep(0.2)
    return False


async def stored_count(port: int) -> int:
    def get() -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return -1
        m = re.search(r"^carewatch_ingest_stored_total (\S+)$", text, re.M)
        return int(float(m.group(1))) if m else 0

    return await asyncio.to_thread(get)


async def wait_stored(port: int, target: int, stall_s: float = 60) -> float:
    """Seconds until ingest reports target messages stored (fails after stall_s without progress)."""
    t0 = time.perf_counter()
    last, last_change = -1, time.monotonic()
    while True:
        n = await stored_count(port)
        if n >= target:
            return time.perf_counter() - t0
        if n != last:
            last, last_change = n, time.monotonic()
        elif time.monotonic() - last_change > stall_s:
            raise RuntimeError(f"ingest stalled at {n} of {target}")
        await asyncio.sleep(0.02)


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, ValueError):
                continue
    return out


def tree_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds of a server and each of its child processes (PostgreSQL: a backend a connection)."""
    return {p: cpu_seconds(p) for p in [pid, *children(pid)]}


def rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def bench_registry(facilities: int, devices: int) -> Registry:
    hours = OpeningHours(days=["mon", "tue", "wed", "thu", "fri"], open=dtime(7, 30), close=dtime(17, 30))
    return Registry(
        facilities=[
            Facility(
                id=f,
                name=f"压测托育园 {i}",
                county="140902",
                township="140902001",
                opening_hours=hours,
                devices=[
                    Device(id=d, type=DeviceType.GATEWAY if j == 0 else DeviceType.ENV_SENSOR)
                    for j, d in enumerate(device_ids(devices))
                ],
            )
            for i, f in enumerate(facility_ids(facilities))
        ]
    )


async def prepare_db(admin_url: str, name: str, facilities: int, devices: int, registry: Registry | None = None) -> str:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        await load_registry(conn, registry or bench_registry(facilities, devices))
    finally:
        await conn.close()
    return url


def pct(values: list[float], p: float) -> float:
    vals = sorted(v for v in values if not math.isnan(v))  # NaN: timed out
    if len(vals) < len(values):
        return float("inf")
    k = min(len(vals) - 1, max(0, round(p / 100 * (len(vals) - 1))))
    return vals[k]


async def follow_alert_stream(session: Any, url: str, token: str, on_alert: Callable[[str], None]) -> None:
    """Read the web's SSE stream and hand each `alert` event's data to on_alert, until cancelled."""
    async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as r:
        event = ""
        async for raw in r.content:
            line = raw.decode().strip()
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "alert":
                on_alert(line.split(":", 1)[1])
