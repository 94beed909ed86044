"""Benchmarks: commands that print figures, as ratios against baselines measured in the same run.

`carewatch bench ingest` starts its own private stack (fsync on, like production), publishes from a
separate process (simulators.loadgen), and measures:
  (a) relay: the broker's own delivery rate to a subscriber that only counts (and acknowledges),
      measured twice, with stock paho and with ingest's own receiver; vs_relay uses the faster;
  (b) CareWatch ingest end to end, until every message is committed; then the same number of
      messages of which 1 % are poison (a NUL character, a year-0001 clock), until the others are
      committed and the poison is dead-lettered: vs_clean_with_poison is that rate against (b)'s;
  (c) naive: one INSERT per message (autocommit), the common first attempt;
  (d) batched: gateway `batch` messages of 100 readings through ingest, rows/s, against a raw
      asyncpg COPY of the same rows.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import paho.mqtt.client as mqtt

from bench.common import (
    CountingSubscriber,
    Env,
    finish_loadgen,
    loadgen,
    log,
    prepare_db,
    rss_peak_mb,
    stored_count,
    wait_stored,
)
from contract.payloads import Telemetry, parse_payload
from contract.topics import parse_topic
from runtime.mqtt_source import MqttSource
from runtime.stack import LocalStack, free_port
from simulators.loadgen import batch_messages, poisoned

POISON = 0.01  # the figure: 1 % of the messages


def bench_relay(env: Env, n: int, facilities: int, devices: int) -> float:
    root = "bench-relay/cw/v1"
    counter = CountingSubscriber(env, f"{root}/+/+/+", n)
    time.sleep(0.3)
    try:
        proc = loadgen(env, root, "telemetry", n, facilities, devices, "relay")
        t0 = time.perf_counter()
        if not counter.done.wait(600):
            raise RuntimeError(f"relay: only {counter.n} of {n} delivered")
        finish_loadgen(proc)
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
        proc = await asyncio.to_thread(loadgen, env, root, "telemetry", n, facilities, devices, "relay-lean")
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
        await asyncio.to_thread(finish_loadgen, proc)
        return n / (last - t0)
    finally:
        await asyncio.to_thread(src.stop)


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
        proc = loadgen(env, root, "telemetry", n, facilities, devices, "naive")
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
        await asyncio.to_thread(finish_loadgen, proc)
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


async def run_ingest_bench(
    n: int = 200_000, naive_n: int = 20_000, batches: int = 2_000, facilities: int = 50, devices: int = 40
) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="carewatch-bench-"))
    state.chmod(0o755)
    stack = LocalStack(state, fsync=True)
    try:
        info = await asyncio.to_thread(stack.up, pg_port=free_port(), mqtt_port=free_port())
        db_url = await prepare_db(info.database_url, "bench", facilities, devices)
        env = Env(db_url, "127.0.0.1", info.mqtt_port)

        log(f"(a) broker relay, {n} messages, to a counting paho subscriber and to ingest's own receiver")
        relay_paho = await asyncio.to_thread(bench_relay, env, n, facilities, devices)
        relay_lean = await bench_relay_lean(env, n, facilities, devices)
        relay = max(relay_paho, relay_lean)

        log(f"(b) CareWatch ingest, {n} messages")
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
            while await stored_count(port) < 0:
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
            proc = loadgen(env, root, "telemetry", n, facilities, devices, "ingest")
            secs = await wait_stored(port, n)
            await asyncio.to_thread(finish_loadgen, proc)
            ingest_rate = n / secs
            conn = await asyncpg.connect(db_url)
            try:
                got = await conn.fetchval("SELECT count(*) FROM readings WHERE msg_id LIKE 'ingest-%'")
            finally:
                await conn.close()
            lost = n - int(got)

            log(f"(b) again, {n} messages of which {POISON:.0%} poison")
            bad = sum(poisoned(i, POISON) for i in range(n))
            proc = loadgen(env, root, "telemetry", n, facilities, devices, "poison", poison=POISON)
            secs_p = await wait_stored(port, 2 * n - bad)
            await asyncio.to_thread(finish_loadgen, proc)
            poison_rate = n / secs_p
            conn = await asyncpg.connect(db_url)
            try:
                dead = await conn.fetchval("SELECT count(*) FROM dead_letters")
                got_p = await conn.fetchval("SELECT count(*) FROM readings WHERE msg_id LIKE 'poison-%'")
            finally:
                await conn.close()
            lost += n - bad - int(got_p)
            if dead != bad:
                raise RuntimeError(f"{dead} dead letters for {bad} poison messages")

            log(f"(d) batched: {batches} gateway batches of 100 readings")
            proc = loadgen(env, root, "batch", batches, facilities, devices, "batched")
            secs_b = await wait_stored(port, 2 * n - bad + batches * 100)
            await asyncio.to_thread(finish_loadgen, proc)
            rows_batched = batches * 100 / secs_b
            rss = rss_peak_mb(ingest.pid)
        finally:
            ingest.terminate()
            ingest.wait(30)

        log(f"(c) naive per-message INSERT, {naive_n} messages")
        naive = await bench_naive(env, naive_n, facilities, devices)
        log(f"    raw COPY of the batched workload's {batches * 100} rows")
        copy_rate = await bench_copy(env, batches, facilities, devices)
    finally:
        await asyncio.to_thread(stack.destroy)
    return {
        "bench": "ingest",
        "msgs_per_s": round(ingest_rate),
        "lost": lost,
        "vs_relay": round(ingest_rate / relay, 3),
        "vs_naive": round(ingest_rate / naive, 2),
        "vs_clean_with_poison": round(poison_rate / ingest_rate, 3),
        "rows_per_s_batched": round(rows_batched),
        "vs_copy": round(rows_batched / copy_rate, 3),
        "rss_mb": round(rss, 1),
        "relay_msgs_per_s": round(relay),
        "relay_paho_msgs_per_s": round(relay_paho),
        "relay_lean_msgs_per_s": round(relay_lean),
        "naive_msgs_per_s": round(naive),
        "poison_msgs_per_s": round(poison_rate),
        "poison_dead_letters": bad,
        "copy_rows_per_s": round(copy_rate),
        "n": n,
    }
