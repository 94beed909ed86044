"""Scale-out on one box (issue #18): two ingest workers on a shared subscription and two alert workers
sharded by facility, on the local Mosquitto; one of each is killed (SIGKILL) mid-stream and started
again. Every message stored once, every alert raised once, by the worker that owns its facility."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from carewatch.stack import free_port
from contract.registry import DeviceType
from contract.shards import Shard, shard_of
from simulators.registry_gen import generate_registry
from storage.registry import load_registry
from tests.conftest import Services
from tests.helpers import Publisher, payload, wait_for
from tests.test_ingest_faults import healthy, start_cli, start_ingest

pytestmark = pytest.mark.slow


def test_shards_split_a_province_evenly_and_stably() -> None:
    ids = [f.id for f in generate_registry(400, seed=1).facilities]
    counts = [sum(Shard(k, 4).owns(f) for f in ids) for k in range(4)]
    assert sum(counts) == 400 and min(counts) > 70, counts  # each facility exactly once, none starved
    assert [shard_of(f, 4) for f in ids[:5]] == [shard_of(f, 4) for f in ids[:5]]
    with pytest.raises(ValueError, match="k/M"):
        Shard.parse("2")
    with pytest.raises(ValueError, match="below M"):
        Shard.parse("2/2")


def _telemetry(root: str, sensors: list[tuple[str, str]], n: int, stop: threading.Event, pub: Publisher) -> int:
    """Readings round the facilities' environment sensors, ~2,000 a second, until n or stop."""
    sent = 0
    while sent < n and not stop.is_set():
        for _ in range(100):
            fac, dev = sensors[sent % len(sensors)]
            ts = datetime.now(UTC).isoformat()
            body = {"msg_id": f"r-{sent}", "ts": ts, "readings": {"co2_ppm": 600 + sent % 50, "temperature_c": 22.5}}
            pub.publish(f"{root}/{fac}/{dev}/telemetry", payload(body))
            sent += 1
        stop.wait(0.05)
    return sent


def _alarms(root: str, wave: list[tuple[str, str]], pub: Publisher, tag: str) -> None:
    """A fire alarm from one smoke detector of each facility (and, as a device may, the same message twice)."""
    for fac, dev in wave:
        body = payload(
            {"msg_id": f"fire-{tag}", "ts": datetime.now(UTC).isoformat(), "type": "fire_alarm", "state": "active"}
        )
        pub.publish(f"{root}/{fac}/{dev}/event", body)
        pub.publish(f"{root}/{fac}/{dev}/event", body)


async def test_two_ingest_and_two_alert_workers_survive_a_kill_each(
    services: Services, db_url: str, db: asyncpg.Connection, topic_root: str, tmp_path: Path
) -> None:
    reg = generate_registry(12, seed=18)
    await load_registry(db, reg)
    smoke = {f.id: [d.id for d in f.devices if d.type is DeviceType.SMOKE_DETECTOR][:3] for f in reg.facilities}
    assert all(len(v) == 3 for v in smoke.values()), "three smoke detectors a facility: one for each wave"
    sensors = [(f.id, d.id) for f in reg.facilities for d in f.devices if d.type is DeviceType.ENV_SENSOR]
    tag = topic_root.split("/", maxsplit=1)[0]
    log = tmp_path / "workers.log"
    ingest_ports, alert_ports = [free_port(), free_port()], [free_port(), free_port()]

    def start_alerts(k: int) -> subprocess.Popen[bytes]:
        args = ["alerts", "--client-id", f"alerts-{k}-{tag}", "--shard", f"{k}/2", "--metrics"]
        return start_cli(services, db_url, topic_root, [*args, f"127.0.0.1:{alert_ports[k]}"], log)

    ingest = [start_ingest(services, db_url, topic_root, f"ingest-{k}-{tag}", ingest_ports[k], log) for k in (0, 1)]
    alerts = [start_alerts(k) for k in (0, 1)]
    pub = Publisher(*services.mqtt_host_port, window=2000)
    stop = threading.Event()
    n = 24_000
    try:
        for port in ingest_ports + alert_ports:
            await wait_for(lambda port=port: healthy(port), 60, f"worker on {port} up")
        await asyncio.sleep(0.5)
        stream = asyncio.create_task(asyncio.to_thread(_telemetry, topic_root, sensors, n, stop, pub))
        await asyncio.sleep(2)
        _alarms(topic_root, [(f, ds[0]) for f, ds in smoke.items()], pub, "1")
        await wait_for(lambda: _count(db, "SELECT count(*) FROM alerts WHERE rule = 'fire_alarm'", 12), 30, "wave 1")
        ingest[0].send_signal(signal.SIGKILL)  # mid-stream, batches in flight
        alerts[1].send_signal(signal.SIGKILL)
        ingest[0].wait(10)
        alerts[1].wait(10)
        _alarms(topic_root, [(f, ds[1]) for f, ds in smoke.items()], pub, "2")  # shard 1's wait in its session
        await asyncio.sleep(1.5)
        ingest[0] = start_ingest(services, db_url, topic_root, f"ingest-0-{tag}", ingest_ports[0], log)
        alerts[1] = start_alerts(1)
        await wait_for(lambda: healthy(alert_ports[1]), 60, "alert worker 1 back")
        _alarms(topic_root, [(f, ds[2]) for f, ds in smoke.items()], pub, "3")
        sent = await stream
        pub.flush()
        await wait_for(lambda: _count(db, "SELECT count(*) FROM readings WHERE metric = 'co2_ppm'", sent), 90, "stored")
        await wait_for(lambda: _count(db, "SELECT count(*) FROM alerts WHERE rule = 'fire_alarm'", 36), 60, "alerts")
        await asyncio.sleep(1.0)  # anything doubled would land now
        opened_by = [await asyncio.to_thread(_opened, port) for port in alert_ports]
    finally:
        stop.set()
        pub.close()
        for p in ingest + alerts:
            p.terminate()
        for p in ingest + alerts:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
    rows = await db.fetchrow("SELECT count(*) AS rows, count(DISTINCT (device_id, msg_id)) AS ids FROM readings")
    assert (rows["rows"], rows["ids"]) == (2 * sent, sent), "each reading stored once (two metrics a message)"
    assert await db.fetchval("SELECT count(*) FROM events") == 36, "each alarm stored once, its copy not"
    opened = await db.fetch(
        "SELECT a.facility_id, a.device_id, count(*) AS n FROM alert_history h JOIN alerts a ON a.id = h.alert_id"
        " WHERE h.action = 'opened' GROUP BY 1, 2"
    )
    assert len(opened) == 36 and all(r["n"] == 1 for r in opened), [dict(r) for r in opened if r["n"] != 1]
    assert await db.fetchval("SELECT count(*) FROM alerts WHERE status = 'active' AND rule = 'fire_alarm'") == 36
    # each worker opened its own facilities' alerts and no other's: worker 0 all three waves, worker 1
    # (its counter new since the restart) waves 2 and 3, which waited for it in its session
    own = [sum(Shard(k, 2).owns(f) for f in smoke) for k in (0, 1)]
    assert min(own) > 0, "both shards own facilities of the twelve"
    assert opened_by == [3 * own[0], 2 * own[1]], (opened_by, own)


def _opened(port: int) -> int:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("carewatch_alerts_opened_total{")
        )
    )


async def _count(db: asyncpg.Connection, sql: str, n: int) -> bool:
    return int(await db.fetchval(sql)) >= n
