"""Benchmarks: commands that print figures, as ratios against baselines measured in the same run.

`carewatch bench ingest` starts its own private stack (fsync on, like production), publishes from a
separate process (simulators.loadgen), and measures:
  (a) relay: the broker's own delivery rate to a subscriber that only counts (and acknowledges),
      measured twice, with stock paho and with ingest's own receiver; vs_relay uses the faster;
  (b) CareWatch ingest end to end, until every message is committed;
  (c) naive: one INSERT per message (autocommit), the common first attempt;
  (d) batched: gateway `batch` messages of 100 readings through ingest, rows/s, against a raw
      asyncpg COPY of the same rows.
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
from datetime import UTC, datetime, timedelta
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
from ingest.mqtt_source import MqttSource
from ingest.registry_store import load_registry
from simulators.loadgen import batch_messages, device_ids, facility_ids


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


async def bench_relay_lean(env: Env, n: int, facilities: int, devices: int) -> float:
    """The same relay through ingest's own receiving side (MqttSource: buffered reads, plain-PUBLISH
    path, acks from its network thread), taking and acknowledging what arrives, nothing else. Since
    that receiver costs less per message than stock paho, this is the stricter baseline for ingest."""
    root = "bench-relay-lean/cw/v1"
    src = MqttSource(
        f"mqtt://{env.mqtt_host}:{env.mqtt_port}",
        "bench-relay-lean",
        f"{root}/+/+/+",
        receive_maximum=20000,
        session_expiry_s=0,
    )
    src.start(wake_at=5000)
    try:
        while not src.connected:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        proc = await asyncio.to_thread(_loadgen, env, root, "telemetry", n, facilities, devices, "relay-lean")
        t0 = time.perf_counter()
        got, last, deadline = 0, t0, time.monotonic() + 600
        while got < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"relay (lean): only {got} of {n} delivered")
            await src.wait(0.05)
            batch = src.take(20000, 1 << 30)
            if batch:
                got += len(batch)
                last = time.perf_counter()
                src.ack(batch)
        await asyncio.to_thread(_finish, proc)
        return n / (last - t0)
    finally:
        await asyncio.to_thread(src.stop)


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


def batched_rows(n: int, facilities: int, devices: int, run: str) -> list[tuple[object, ...]]:
    """The readings rows of the batched workload (n gateway batches of 100), as ingest stores them."""
    rows: list[tuple[object, ...]] = []
    for topic, body in batch_messages("bench/cw/v1", n, facilities, devices, run):
        facility = parse_topic(topic, "bench/cw/v1").facility_id
        for item in json.loads(body)["messages"]:
            p = item["payload"]
            ts = datetime.fromisoformat(p["ts"])
            rows.extend((ts, facility, item["device_id"], m, float(v), p["msg_id"]) for m, v in p["readings"].items())
    return rows


async def bench_copy(env: Env, batches: int, facilities: int, devices: int) -> float:
    """Raw asyncpg COPY into readings, in COPYs of 5,000, of the same rows as the batched workload
    (same facilities, devices, metric and times; msg_ids of their own). Rows built beforehand."""
    recs = batched_rows(batches, facilities, devices, "copy")
    conn = await asyncpg.connect(env.db_url)
    try:
        start = time.perf_counter()
        for i in range(0, len(recs), 5000):
            await conn.copy_records_to_table(
                "readings",
                records=recs[i : i + 5000],
                columns=["time", "facility_id", "device_id", "metric", "value", "msg_id"],
            )
        return len(recs) / (time.perf_counter() - start)
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

        _log(f"(a) broker relay, {n} messages, to a counting paho subscriber and to ingest's own receiver")
        relay_paho = await asyncio.to_thread(bench_relay, env, n, facilities, devices)
        relay_lean = await bench_relay_lean(env, n, facilities, devices)
        relay = max(relay_paho, relay_lean)

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
        _log(f"    raw COPY of the batched workload's {batches * 100} rows")
        copy_rate = await bench_copy(env, batches, facilities, devices)
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
        "relay_paho_msgs_per_s": round(relay_paho),
        "relay_lean_msgs_per_s": round(relay_lean),
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


# -- web --------------------------------------------------------------------------------------------
# readings: $2 env sensors per facility, co2/temperature every $1 minutes, 7 days
_WEEK_READINGS = """INSERT INTO readings (time, facility_id, device_id, metric, value, msg_id)
       SELECT t, d.facility_id, d.id, m, CASE m WHEN 'co2_ppm' THEN 600 + 300 * random() ELSE 18 + 6 * random() END,
              'w' || extract(epoch FROM t)::bigint
       FROM (SELECT facility_id, id, row_number() OVER (PARTITION BY facility_id ORDER BY id) AS k
               FROM devices WHERE type = 'env_sensor') d
       CROSS JOIN generate_series(now() - interval '7 days', now(), make_interval(mins => $1)) t
       CROSS JOIN unnest(ARRAY['co2_ppm', 'temp_c']) m
       WHERE d.k <= $2"""
_WEEK_SQL = [
    # access: every child in and out each weekday (with a guardian), every staff member in and out
    """INSERT INTO access_events (time, facility_id, device_id, msg_id, type, person_id, guardian_id, payload)
       SELECT day + interval '7 hours 40 minutes' + random() * interval '50 minutes' + (io * interval '9 hours'),
              c.facility_id, 'door-main', 'a' || c.id || extract(epoch FROM day)::bigint || io,
              CASE io WHEN 0 THEN 'child_in' ELSE 'child_out' END, c.id, 'g-' || c.id, '{}'
       FROM children c CROSS JOIN generate_series(date_trunc('day', now()) - interval '6 days',
                                                  date_trunc('day', now()), interval '1 day') day
       CROSS JOIN generate_series(0, 1) io
       WHERE extract(isodow FROM day) < 6""",
    """INSERT INTO access_events (time, facility_id, device_id, msg_id, type, person_id, payload)
       SELECT day + interval '7 hours' + random() * interval '30 minutes' + (io * interval '10 hours'),
              s.facility_id, 'door-main', 's' || s.id || extract(epoch FROM day)::bigint || io,
              CASE io WHEN 0 THEN 'staff_in' ELSE 'staff_out' END, s.id, '{}'
       FROM staff s CROSS JOIN generate_series(date_trunc('day', now()) - interval '6 days',
                                               date_trunc('day', now()), interval '1 day') day
       CROSS JOIN generate_series(0, 1) io
       WHERE extract(isodow FROM day) < 6 AND NOT s.banned""",
    # events: door and self-test events, about 20 a facility a day
    """INSERT INTO events (time, facility_id, device_id, msg_id, type, state, payload)
       SELECT now() - random() * interval '7 days', f.id, 'exit-1', 'e' || f.id || i,
              'exit_door', CASE WHEN i % 2 = 0 THEN 'open' ELSE 'closed' END, '{}'
       FROM facilities f CROSS JOIN generate_series(1, 140) i""",
    # alerts: five a facility a day, nearly all cleared and acknowledged; about 3 % of facilities
    # with an open one now
    """INSERT INTO alerts (rule, severity, facility_id, device_id, subject, status, acknowledged, opened_at,
                          last_seen_at, cleared_at, acknowledged_at, acknowledged_by, summary, summary_en)
       SELECT r.rule, r.sev, f.id, NULL, 'w' || i, 'cleared', true, t, t, t + interval '10 minutes',
              t + interval '12 minutes', 'bench', r.rule, r.rule
       FROM facilities f CROSS JOIN generate_series(1, 35) i
       CROSS JOIN LATERAL (SELECT now() - random() * interval '7 days' AS t) tt
       CROSS JOIN LATERAL (SELECT (ARRAY['low_battery', 'device_offline', 'environment_out_of_range', 'guard_absent',
                                         'exit_obstructed'])[1 + (i % 5)] AS rule,
                                  (ARRAY['warning', 'major', 'minor', 'major', 'major'])[1 + (i % 5)] AS sev) r""",
    """INSERT INTO alerts (rule, severity, facility_id, device_id, status, opened_at, last_seen_at, summary, summary_en)
       SELECT 'fire_alarm', 'critical', f.id, 'smoke-nap1', 'active', now() - interval '5 minutes', now(),
              '火警', 'fire'
       FROM facilities f WHERE abs(hashtext(f.id)) % 33 = 0""",
    """INSERT INTO alert_history (alert_id, at, action, actor, detail)
       SELECT id, opened_at, 'opened', 'engine', '{}'::jsonb FROM alerts
       UNION ALL SELECT id, acknowledged_at, 'acknowledged', 'bench', '{}'::jsonb FROM alerts WHERE acknowledged""",
    # every device seen a minute ago, gateways online
    """INSERT INTO device_state (facility_id, device_id, last_seen_at, online, battery_pct, heartbeat_s)
       SELECT facility_id, id, now() - interval '1 minute', true, 80, heartbeat_s FROM devices""",
]


async def _fill_week(url: str, facilities: int, every_min: int, sensors: int) -> dict[str, int]:
    from ingest.maintenance import refresh_rollup_range
    from simulators.registry_gen import generate_registry

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET synchronous_commit = off")
        await load_registry(conn, generate_registry(facilities, seed=2026))
        await conn.execute(_WEEK_READINGS, every_min, sensors)
        for sql in _WEEK_SQL:
            t0 = time.perf_counter()
            await conn.execute(sql)
            _log(f"  {sql.split()[2]}: {time.perf_counter() - t0:.1f} s")
        now = datetime.now(UTC)
        await refresh_rollup_range(conn, now - timedelta(days=8), now)
        await conn.execute("ANALYZE")
        counts = {}
        for table in ("readings", "readings_hourly", "access_events", "events", "alerts", "devices"):
            counts[table] = int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
        return counts
    finally:
        await conn.close()


async def run_web_bench(
    facilities: int = 1000, every_min: int = 15, sensors: int = 2, seconds: float = 15.0, concurrency: int = 4
) -> dict[str, Any]:
    """Overview and facility pages with `facilities` facilities and a week of data, under load from
    another process (carewatch.webload), against /healthz (one database round trip) in the same run."""
    from web.auth import create_user

    state = Path(tempfile.mkdtemp(prefix="carewatch-bench-"))
    state.chmod(0o755)
    stack = LocalStack(state, fsync=True)
    web_proc: subprocess.Popen[bytes] | None = None
    try:
        info = await asyncio.to_thread(stack.up, pg_port=free_port(), mqtt_port=free_port())
        admin = await asyncpg.connect(info.database_url)
        try:
            await admin.execute("CREATE DATABASE benchweb")
        finally:
            await admin.close()
        url = info.database_url.rsplit("/", 1)[0] + "/benchweb"
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn)
            _, city = await create_user(conn, "bench-city", "inspector", None)
        finally:
            await conn.close()
        _log(f"filling a week of data for {facilities} facilities")
        t0 = time.perf_counter()
        counts = await _fill_week(url, facilities, every_min, sensors)
        _log(f"filled in {time.perf_counter() - t0:.0f} s: {counts}")
        conn = await asyncpg.connect(url)
        try:
            fac = await conn.fetchval(
                "SELECT facility_id FROM alerts WHERE status = 'active' ORDER BY facility_id LIMIT 1"
            )
            county = await conn.fetchval("SELECT county FROM facilities WHERE id = $1", fac)
            _, county_tok = await create_user(conn, "bench-county", "inspector", None, county=county)
        finally:
            await conn.close()
        port = free_port()
        base = f"http://127.0.0.1:{port}"

        async def start_web(workers: int) -> subprocess.Popen[bytes]:
            proc = subprocess.Popen(
                [sys.executable, "-m", "carewatch.cli", "web", "--workers", str(workers)],
                env={
                    **os.environ,
                    "CAREWATCH_DATABASE_URL": url,
                    "CAREWATCH_MQTT_URL": info.mqtt_url,
                    "CAREWATCH_HTTP": f"127.0.0.1:{port}",
                    "CAREWATCH_STATE_DIR": str(state),
                },
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            import aiohttp

            async with aiohttp.ClientSession() as http:
                for _ in range(100):
                    try:
                        async with http.get(f"{base}/healthz") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.2)
            await asyncio.sleep(1.0 if workers > 1 else 0)  # the other workers bind a moment later
            return proc

        web_proc = await start_web(1)

        def load(token: str, paths: list[str], clients: int) -> dict[str, dict[str, float]]:
            cmd = [sys.executable, "-m", "carewatch.webload", base, token, *paths]
            cmd += ["--seconds", str(seconds), "--concurrency", str(clients)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            return json.loads(out.stdout.strip().splitlines()[-1])

        pages = ["/healthz", "/", f"/facilities/{fac}", "/api/v1/facilities"]
        city_r = await asyncio.to_thread(load, city, pages, 1)  # one inspector at a time: the page's own time
        busy_r = await asyncio.to_thread(load, city, pages[:2], concurrency)  # several at once: queueing too
        county_r = await asyncio.to_thread(load, county_tok, ["/"], 1)
        web_proc.terminate()
        web_proc.wait(10)
        web_proc = await start_web(2)  # the same load on two web processes (carewatch web --workers 2)
        busy2_r = await asyncio.to_thread(load, city, pages[:2], concurrency)
        _log(json.dumps({"city": city_r, "city_concurrent": busy_r, "county": county_r, "two_workers": busy2_r}))
        base_p95 = city_r["/healthz"]["p95_ms"]
        errors = sum(int(v["errors"]) for r in (city_r, busy_r, county_r, busy2_r) for v in r.values())
        return {
            "bench": "web",
            "facilities": facilities,
            "overview_p95_ms": city_r["/"]["p95_ms"],
            "facility_p95_ms": city_r[f"/facilities/{fac}"]["p95_ms"],
            "api_facilities_p95_ms": city_r["/api/v1/facilities"]["p95_ms"],
            "county_overview_p95_ms": county_r["/"]["p95_ms"],
            "healthz_p95_ms": base_p95,
            "overview_vs_healthz": round(city_r["/"]["p95_ms"] / base_p95, 1),
            "facility_vs_healthz": round(city_r[f"/facilities/{fac}"]["p95_ms"] / base_p95, 1),
            f"overview_p95_ms_{concurrency}_clients": busy_r["/"]["p95_ms"],
            f"overview_vs_healthz_{concurrency}_clients": round(
                busy_r["/"]["p95_ms"] / busy_r["/healthz"]["p95_ms"], 1
            ),
            f"overview_p95_ms_{concurrency}_clients_2_workers": busy2_r["/"]["p95_ms"],
            "two_workers_vs_one": round(busy_r["/"]["p95_ms"] / busy2_r["/"]["p95_ms"], 2),
            "errors": errors,
            "rows": counts,
        }
    finally:
        if web_proc is not None:
            web_proc.terminate()
            web_proc.wait(10)
        await asyncio.to_thread(stack.destroy)  # a week of data: ~2.3 GB left in /tmp otherwise


# -- dedup keys -------------------------------------------------------------------------------------
async def run_dedup_bench(preloaded: int = 5_000_000, n: int = 200_000, batch: int = 5000) -> dict[str, Any]:
    """The cost of claiming a dedup key once msg_seen holds `preloaded` keys (steady state: a city's
    last hours or days), for the keys ingest uses (hour of the message, then a 96-bit digest) against
    random 16-byte keys with a received_at index (the earlier design), in the same run; and for the
    hour-prefixed keys, ingest's optimistic COPY claim against INSERT ... ON CONFLICT. Each round
    starts after a CHECKPOINT, so full-page WAL images count as they do in production."""
    import hashlib

    state = Path(tempfile.mkdtemp(prefix="carewatch-bench-"))
    state.chmod(0o755)
    stack = LocalStack(state, fsync=True)
    try:
        info = await asyncio.to_thread(stack.up, pg_port=free_port(), mqtt_port=free_port())
        conn = await asyncpg.connect(info.database_url)
        try:
            await conn.execute(
                "CREATE TABLE seen_random (key bytea PRIMARY KEY, received_at timestamptz NOT NULL DEFAULT now());"
                "CREATE INDEX ON seen_random (received_at);"
                "CREATE TABLE seen_hour (key bytea PRIMARY KEY)"
            )
            _log(f"preloading {preloaded:,} keys into each table")
            await conn.execute(
                "INSERT INTO seen_random (key) SELECT substr(sha256(i::text::bytea), 1, 16)"
                " FROM generate_series(1, $1) i",
                preloaded,
            )
            # the last 14 days' hours, evenly
            await conn.execute(
                "INSERT INTO seen_hour (key) SELECT int4send(400000 + i % 336) || substr(sha256(i::text::bytea), 1, 12)"
                " FROM generate_series(1, $1) i",
                preloaded,
            )
            await conn.execute("VACUUM ANALYZE")
            us: dict[str, list[float]] = {"random": [], "hour": [], "hour_copy": []}
            for rnd in range(2):
                for variant in ("random", "hour", "hour_copy"):
                    if variant == "random":
                        keys = [hashlib.blake2b(f"{rnd}-{i}".encode(), digest_size=16).digest() for i in range(n)]
                    else:
                        prefix = (400336 + rnd).to_bytes(4, "big")  # the current hour
                        keys = [
                            prefix + hashlib.blake2b(f"{variant}-{rnd}-{i}".encode(), digest_size=12).digest()
                            for i in range(n)
                        ]
                    table = "seen_random" if variant == "random" else "seen_hour"
                    await conn.execute("CHECKPOINT")
                    t0 = time.perf_counter()
                    for j in range(0, n, batch):
                        chunk = sorted(keys[j : j + batch])
                        async with conn.transaction():
                            if variant == "hour_copy":  # what ingest does (writer._claim): COPY in a savepoint
                                async with conn.transaction():
                                    await conn.copy_records_to_table(
                                        table, records=[(k,) for k in chunk], columns=["key"]
                                    )
                            else:
                                await conn.fetch(
                                    f"INSERT INTO {table} (key) SELECT unnest($1::bytea[])"
                                    " ON CONFLICT DO NOTHING RETURNING key",
                                    chunk,
                                )
                    us[variant].append((time.perf_counter() - t0) / n * 1e6)
        finally:
            await conn.close()
    finally:
        await asyncio.to_thread(stack.destroy)
    random_us, hour_us, copy_us = min(us["random"]), min(us["hour"]), min(us["hour_copy"])
    return {
        "bench": "dedup",
        "preloaded_keys": preloaded,
        "us_per_key_random": round(random_us, 2),
        "us_per_key_hour_prefixed": round(hour_us, 2),
        "us_per_key_hour_prefixed_copy": round(copy_us, 2),
        "hour_prefixed_vs_random": round(random_us / hour_us, 1),
        "copy_vs_on_conflict": round(hour_us / copy_us, 1),
    }
