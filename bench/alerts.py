"""`bench alerts`: publish → alert committed → web stream, under background telemetry."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import paho.mqtt.client as mqtt

from bench.common import Env, finish_loadgen, follow_alert_stream, loadgen, pct, prepare_db
from runtime.stack import LocalStack, free_port
from simulators.loadgen import facility_ids


async def run_alerts_bench(facilities: int = 50, events: int = 40, background_rate: float = 4000.0) -> dict[str, Any]:
    """Publish → alert committed (NOTIFY after commit) and publish → event on the web stream, under load.

    Ingest, the alert engine and the web app run as separate processes on a private stack while a
    load generator publishes telemetry in the background; critical events are injected one by one.
    """
    import aiohttp

    from storage.users import create_user

    state = Path(tempfile.mkdtemp(prefix="carewatch-bench-"))
    state.chmod(0o755)
    stack = LocalStack(state, fsync=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        info = await asyncio.to_thread(stack.up, pg_port=free_port(), mqtt_port=free_port())
        db_url = await prepare_db(info.database_url, "bench", facilities, 40)
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
            follow_alert_stream(
                session,
                f"http://127.0.0.1:{web_port}/api/v1/stream",
                token,
                lambda d: _note(streamed, d, time.perf_counter()),
            )
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
            published = await asyncio.to_thread(finish_loadgen, load)
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
        "p50_ms": round(pct(lat, 50) * 1000, 1),
        "p99_ms": round(pct(lat, 99) * 1000, 1),
        "stream_p99_ms": round(pct(stream_lat, 99) * 1000, 1),
        "background_msgs_per_s": round(published["published"] / published["seconds"]),
        "events": events,
    }


def _note(target: dict[str, float], payload: str, at: float) -> None:
    change = json.loads(payload)
    target.setdefault(f"{change['facility_id']}:{change['action']}", at)


def _loadgen_paced(env: Env, root: str, n: int, facilities: int, rate: float) -> subprocess.Popen[str]:
    return loadgen(env, root, "telemetry", n, facilities, 40, "bg", rate=rate)
