"""Benchmarks: commands that print figures, as ratios against baselines measured in the same run.

`carewatch bench ingest` starts its own private stack (fsync on, like production), publishes from a
separate process (simulators.loadgen), and measures:
  (a) relay: the broker's own delivery rate to a subscriber that only counts;
  (b) CareWatch ingest end to end, until every message is committed;
  (c) naive: one INSERT per message (autocommit), the common first attempt;
  (d) batched: gateway `batch` messages of 100 readings through ingest, rows/s, against a raw
      asyncpg COPY of the same number of rows.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

import asyncpg
import paho.mqtt.client as mqtt

from carewatch.stack import LocalStack, free_port
from gateway.payloads import Telemetry, parse_payload
from gateway.registry import Device, DeviceType, Facility, OpeningHours, Registry
from gateway.topics import parse_topic
from ingest.migrate import migrate
from ingest.registry_store import load_registry
from simulators.loadgen import device_ids, facility_ids


@dataclass(frozen=True)
class Env:
    db_url: str
    mqtt_host: str
    mqtt_port: int


def _log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _loadgen(
    env: Env, root: str, kind: str, n: int, facilities: int, devices: int, run: str, rate: float | None = None
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
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None  # noqa: S101
    ready = proc.stdout.readline()
    if '"ready"' not in ready:
        raise RuntimeError(f"load generator did not start: {ready!r}")
    return proc


def _finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode})")
    return dict(json.loads(out.strip().splitlines()[-1]))


class _Counter:
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


def bench_relay(env: Env, n: int, facilities: int, devices: int) -> float:
    root = "bench-relay/cw/v1"
    counter = _Counter(env, f"{root}/+/+/+", n)
    time.sleep(0.3)
    try:
        proc = _loadgen(env, root, "telemetry", n, facilities, devices, "relay")
        t0 = time.perf_counter()
        if not counter.done.wait(600):
            raise RuntimeError(f"relay: only {counter.n} of {n} delivered")
        _finish(proc)
        # from the publisher's start: the same clock the ingest measurement uses
        return n / (counter.last - t0)
    finally:
        counter.close()


async def _stored(port: int) -> int:
    def get() -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return -1
        m = re.search(r"^carewatch_ingest_stored_total (\S+)$", text, re.M)
        return int(float(m.group(1))) if m else 0

    return await asyncio.to_thread(get)


async def _wait_stored(port: int, target: int, stall_s: float = 60) -> float:
    """Seconds until ingest reports target messages stored (fails after stall_s without progress)."""
    t0 = time.perf_counter()
    last, last_change = -1, time.monotonic()
    while True:
        n = await _stored(port)
        if n >= target:
            return time.perf_counter() - t0
        if n != last:
            last, last_change = n, time.monotonic()
        elif time.monotonic() - last_change > stall_s:
            raise RuntimeError(f"ingest stalled at {n} of {target}")
        await asyncio.sleep(0.02)


def _rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def bench_naive(env: Env, n: int, facilities: int, devices: int) -> float:
    """One INSERT per message, autocommit, after the same validation ingest does."""
    root = "bench-naive/cw/v1"
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)

    def on_message(_c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, (m.topic, bytes(m.payload)))

    c.on_message = on_message
    c.connect(env.mqtt_host, env.mqtt_port)
    c.subscribe(f"{root}/+/+/+", qos=1)
    c.loop_start()
    conn = await asyncpg.connect(env.db_url)
    try:
        await asyncio.sleep(0.3)
        proc = _loadgen(env, root, "telemetry", n, facilities, devices, "naive")
        t0 = time.perf_counter()
        for _ in range(n):
            topic, raw = await asyncio.wait_for(queue.get(), 120)
            t = parse_topic(topic, root)
            p = parse_payload(t.channel, raw)
            assert isinstance(p, Telemetry)  # noqa: S101 - the load generator sends telemetry
            for ts, readings in p.iter_samples():
                for metric, value in readings.items():
                    await conn.execute(
                        "INSERT INTO readings (time, facility_id, device_id, metric, value, msg_id)"
                        " VALUES ($1, $2, $3, $4, $5, $6)",
                        ts,
                        t.facility_id,
                        t.device_id,
                        metric,
                        value,
                        p.msg_id,
                    )
        elapsed = time.perf_counter() - t0
        await asyncio.to_thread(_finish, proc)
        return n / elapsed
    finally:
        await conn.close()
        c.disconnect()
        c.loop_stop()


async def bench_copy(env: Env, rows: int) -> float:
    """Raw asyncpg COPY of pre-built rows into readings, in batches of 5,000."""
    t0 = datetime(2026, 11, 29, tzinfo=UTC)
    recs = [(t0, "load-0000", "dev-001", "co2_ppm", float(i), f"copy-{i // 100}") for i in range(rows)]
    conn = await asyncpg.connect(env.db_url)
    try:
        start = time.perf_counter()
        for i in range(0, rows, 5000):
            await conn.copy_records_to_table(
                "readings",
                records=recs[i : i + 5000],
                columns=["time", "facility_id", "device_id", "metric", "value", "msg_id"],
            )
        return rows / (time.perf_counter() - start)
    finally:
        await conn.close()


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


async def _prepare_db(admin_url: str, name: str, facilities: int, devices: int) -> str:
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
        await load_registry(conn, bench_registry(facilities, devices))
    finally:
        await conn.close()
    return url


async def run_ingest_bench(
    n: int = 200_000, naive_n: int = 20_000, batches: int = 2_000, facilities: int = 50, devices: int = 40
) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="carewatch-bench-"))
    state.chmod(0o755)
    stack = LocalStack(state, fsync=True)
    try:
        info = await asyncio.to_thread(stack.up, pg_port=free_port(), mqtt_port=free_port())
        db_url = await _prepare_db(info.database_url, "bench", facilities, devices)
        env = Env(db_url, "127.0.0.1", info.mqtt_port)

        _log(f"(a) broker relay, {n} messages")
        relay = await asyncio.to_thread(bench_relay, env, n, facilities, devices)

        _log(f"(b) CareWatch ingest, {n} messages")
        root = "bench-ingest/cw/v1"
        port = free_port()
        ingest_env = {
            **os.environ,
            "CAREWATCH_DATABASE_URL": db_url,
            "CAREWATCH_MQTT_URL": info.mqtt_url,
            "CAREWATCH_TOPIC_ROOT": root,
        }
        ingest = subprocess.Popen(
            [sys.executable, "-m", "carewatch.cli", "ingest", "--metrics", f"127.0.0.1:{port}"],
            env=ingest_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while await _stored(port) < 0:
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
            proc = _loadgen(env, root, "telemetry", n, facilities, devices, "ingest")
            secs = await _wait_stored(port, n)
            await asyncio.to_thread(_finish, proc)
            ingest_rate = n / secs
            conn = await asyncpg.connect(db_url)
            try:
                got = await conn.fetchval("SELECT count(*) FROM readings WHERE msg_id LIKE 'ingest-%'")
            finally:
                await conn.close()
            lost = n - int(got)

            _log(f"(d) batched: {batches} gateway batches of 100 readings")
            proc = _loadgen(env, root, "batch", batches, facilities, devices, "batched")
            secs_b = await _wait_stored(port, n + batches * 100)
            await asyncio.to_thread(_finish, proc)
            rows_batched = batches * 100 / secs_b
            rss = _rss_peak_mb(ingest.pid)
        finally:
            ingest.terminate()
            ingest.wait(30)

        _log(f"(c) naive per-message INSERT, {naive_n} messages")
        naive = await bench_naive(env, naive_n, facilities, devices)
        _log(f"    raw COPY of {batches * 100} rows")
        copy_rate = await bench_copy(env, batches * 100)
    finally:
        await asyncio.to_thread(stack.destroy)
    return {
        "bench": "ingest",
        "msgs_per_s": round(ingest_rate),
        "lost": lost,
        "vs_relay": round(ingest_rate / relay, 3),
        "vs_naive": round(ingest_rate / naive, 2),
        "rows_per_s_batched": round(rows_batched),
        "vs_copy": round(rows_batched / copy_rate, 3),
        "rss_mb": round(rss, 1),
        "relay_msgs_per_s": round(relay),
        "naive_msgs_per_s": round(naive),
        "copy_rows_per_s": round(copy_rate),
        "n": n,
    }


def run_simulate_bench(facilities: int = 1000, minutes: float = 5.0) -> dict[str, Any]:
    """The simulator in as-fast-as-possible mode against a bare paho loop of pre-built messages.

    Both publish the same number of messages to the same private broker, over the same number
    of shared connections, in the same run.
    """
    from datetime import timedelta

    from simulators.engine import CitySim
    from simulators.loadgen import publish
    from simulators.registry_gen import generate_registry
    from simulators.runner import MqttSink, drive

    state = Path(tempfile.mkdtemp(prefix="carewatch-bench-"))
    state.chmod(0o755)
    stack = LocalStack(state, fsync=False)
    try:
        info = stack.up(pg_port=free_port(), mqtt_port=free_port())
        reg = generate_registry(facilities, seed=1)
        start = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # 09:00 in Xinzhou: people about
        sim = CitySim(reg, 1, start)
        # warm up past the start so every device is past its first heartbeat phase
        for _ in sim.run(start + timedelta(minutes=5)):
            pass
        sink = MqttSink("127.0.0.1", info.mqtt_port, reg, root="bench-sim/cw/v1", per_facility=False, connections=1)
        try:
            t0 = time.perf_counter()
            n = drive(sim, sim.now + timedelta(minutes=minutes), sink, speed=None, step=timedelta(seconds=10))
            sink.flush()
            sim_secs = time.perf_counter() - t0
        finally:
            sink.close()
        _log(f"simulator: {n} messages in {sim_secs:.2f}s")
        msgs = list(telemetry_messages_for_bench(n))
        bare_secs = publish("127.0.0.1", info.mqtt_port, msgs)
        _log(f"bare paho loop: {len(msgs)} messages in {bare_secs:.2f}s")
    finally:
        stack.destroy()
    return {
        "bench": "simulate",
        "msgs_per_s": round(n / sim_secs),
        "facilities": facilities,
        "devices": sum(len(f.devices) for f in reg.facilities),
        "bare_msgs_per_s": round(n / bare_secs),
        "vs_bare": round((n / sim_secs) / (n / bare_secs), 3),
    }


def telemetry_messages_for_bench(n: int) -> list[tuple[str, bytes]]:
    from simulators.loadgen import telemetry_messages

    return list(telemetry_messages("bench-bare/cw/v1", n, 1000, 40, "bare"))


async def run_alerts_bench(facilities: int = 50, events: int = 40, background_rate: float = 4000.0) -> dict[str, Any]:
    """Publish → alert committed (NOTIFY after commit) and publish → event on the web stream, under load.

    Ingest, the alert engine and the web app run as separate processes on a private stack while a
    load generator publishes telemetry in the background; critical events are injected one by one.
    """
    import aiohttp

    from web.auth import create_user

    state = Path(tempfile.mkdtemp(prefix="carewatch-bench-"))
    state.chmod(0o755)
    stack = LocalStack(state, fsync=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        info = await asyncio.to_thread(stack.up, pg_port=free_port(), mqtt_port=free_port())
        db_url = await _prepare_db(info.database_url, "bench", facilities, 40)
        conn = await asyncpg.connect(db_url)
        _, token = await create_user(conn, "bench", "admin", None)
        web_port, root = free_port(), "bench-alerts/cw/v1"
        env = {
            **os.environ,
            "CAREWATCH_DATABASE_URL": db_url,
            "CAREWATCH_MQTT_URL": info.mqtt_url,
            "CAREWATCH_TOPIC_ROOT": root,
            "CAREWATCH_HTTP": f"127.0.0.1:{web_port}",
            "CAREWATCH_STATE_DIR": str(state),
        }
        for cmd in (["ingest", "--metrics", f"127.0.0.1:{free_port()}"], ["alerts", "--metrics", ""], ["web"]):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "carewatch.cli", *cmd],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        await asyncio.sleep(4)
        committed: dict[str, float] = {}
        await conn.add_listener("carewatch_alerts", lambda *a: _note(committed, a[3], time.perf_counter()))
        streamed: dict[str, float] = {}
        session = aiohttp.ClientSession()
        sse = asyncio.create_task(
            _follow_stream(session, f"http://127.0.0.1:{web_port}/api/v1/stream", token, streamed)
        )
        background_n = int(background_rate * (events * 1.2 + 10))
        env_load = Env(db_url, "127.0.0.1", info.mqtt_port)
        load = await asyncio.to_thread(_loadgen_paced, env_load, root, background_n, facilities, background_rate)
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        pub.connect("127.0.0.1", info.mqtt_port)
        pub.loop_start()
        lat, stream_lat = [], []
        try:
            await asyncio.sleep(2)
            for i in range(events):
                fac = facility_ids(facilities)[i % facilities]
                topic = f"{root}/{fac}/dev-001/event"
                for state_ in ("active", "cleared"):
                    body = json.dumps(
                        {
                            "msg_id": f"crit-{i}-{state_}",
                            "ts": datetime.now(UTC).isoformat(),
                            "type": "fire_alarm",
                            "state": state_,
                        }
                    ).encode()
                    t0 = time.perf_counter()
                    pub.publish(topic, body, qos=1)
                    key = f"{fac}:{'opened' if state_ == 'active' else 'cleared'}"
                    for _ in range(500):
                        if key in committed and (state_ == "cleared" or key in streamed):
                            break
                        await asyncio.sleep(0.005)
                    if state_ == "active":
                        lat.append(committed.pop(key, float("nan")) - t0)
                        stream_lat.append(streamed.pop(key, float("nan")) - t0)
                    committed.pop(key, None)
                    streamed.pop(key, None)
                await asyncio.sleep(0.5)
            published = await asyncio.to_thread(_finish, load)
        finally:
            pub.disconnect()
            pub.loop_stop()
            sse.cancel()
            await asyncio.gather(sse, return_exceptions=True)
            await session.close()
            await conn.close()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        await asyncio.to_thread(stack.destroy)
    return {
        "bench": "alerts",
        "p50_ms": round(_pct(lat, 50) * 1000, 1),
        "p99_ms": round(_pct(lat, 99) * 1000, 1),
        "stream_p99_ms": round(_pct(stream_lat, 99) * 1000, 1),
        "background_msgs_per_s": round(published["published"] / published["seconds"]),
        "events": events,
    }


def _note(target: dict[str, float], payload: str, at: float) -> None:
    change = json.loads(payload)
    target.setdefault(f"{change['facility_id']}:{change['action']}", at)


async def _follow_stream(session: Any, url: str, token: str, seen: dict[str, float]) -> None:
    async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as r:
        event = ""
        async for raw in r.content:
            line = raw.decode().strip()
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "alert":
                _note(seen, line.split(":", 1)[1], time.perf_counter())


def _loadgen_paced(env: Env, root: str, n: int, facilities: int, rate: float) -> subprocess.Popen[str]:
    return _loadgen(env, root, "telemetry", n, facilities, 40, "bg", rate=rate)


def _pct(values: list[float], p: float) -> float:
    vals = sorted(v for v in values if not math.isnan(v))  # NaN: timed out
    if len(vals) < len(values):
        return float("inf")
    k = min(len(vals) - 1, max(0, round(p / 100 * (len(vals) - 1))))
    return vals[k]
