"""Ingest under faults: SIGKILL mid-stream, database cut mid-stream. Nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from runtime.stack import free_port
from storage.registry import load_registry
from tests.conftest import Services
from tests.helpers import FAC, Publisher, ago, id_ranges, iso_z, payload, registry_obj, wait_for
from tests.test_ingest import make_service, running

pytestmark = [pytest.mark.slow, pytest.mark.clock]
DEVICES = 20


def stream(root: str, n: int, rate: float) -> Iterator[tuple[str, bytes]]:
    """n telemetry messages spread over DEVICES devices, paced at about `rate` per second, stamped in
    the hour before the clock the test runs on (a fixed date would meet the retention one day)."""
    base = ago(hours=1)
    start = time.monotonic()
    for i in range(n):
        if i % 100 == 0:
            ahead = i / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
        dev = f"env-{i % DEVICES}"
        ts = iso_z(base + timedelta(minutes=(i // 1000) % 60, seconds=(i // 10) % 60))
        yield f"{root}/{FAC}/{dev}/telemetry", payload({"msg_id": f"m{i}", "ts": ts, "readings": {"co2_ppm": i}})


def publish_stream(services: Services, root: str, n: int, rate: float) -> None:
    pub = Publisher(*services.mqtt_host_port)
    try:
        pub.publish_all(stream(root, n, rate))
        pub.flush()
    finally:
        pub.close()


async def stored(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(DISTINCT msg_id) FROM readings"))


async def assert_exactly_once(db: asyncpg.Connection, n: int) -> None:
    """Every message m0…m{n-1} stored exactly once; a failure names the ids missing and doubled (as
    ranges), and how many rows the dead letters hold, so that it tells its cause at once."""
    rows = await db.fetch("SELECT msg_id, count(*) AS c FROM readings GROUP BY msg_id")
    counts = {int(r["msg_id"][1:]): int(r["c"]) for r in rows}
    missing = [i for i in range(n) if i not in counts]
    doubled = [i for i, c in counts.items() if c > 1]
    strange = [i for i in counts if not 0 <= i < n]
    dead = await db.fetch("SELECT reason, count(*) AS c FROM dead_letters GROUP BY reason")
    reasons = {r["reason"]: r["c"] for r in dead}
    why = f"; dead letters: {reasons}"
    assert not missing, f"{len(missing)} of {n} messages lost: {id_ranges(missing, 'm')}{why}"
    assert not doubled, f"{len(doubled)} messages stored more than once: {id_ranges(doubled, 'm')}"
    assert not strange, f"rows of messages never sent: {id_ranges(strange, 'm')}"


def start_cli(services: Services, db_url: str, root: str, args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """`carewatch ARGS…` as its own process against these servers, its stderr appended to `log`."""
    env = {
        **os.environ,
        "CAREWATCH_DATABASE_URL": db_url,
        "CAREWATCH_MQTT_URL": services.mqtt_url,
        "CAREWATCH_TOPIC_ROOT": root,
    }
    with log.open("ab") as f:
        return subprocess.Popen(
            [sys.executable, "-m", "carewatch.cli", *args], env=env, stdout=subprocess.DEVNULL, stderr=f
        )


def stop_processes(*procs: subprocess.Popen[bytes]) -> None:
    """SIGTERM all at once, then wait for each (20 s, then SIGKILL): no process outlives its test."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def start_ingest(
    services: Services, db_url: str, root: str, client_id: str, port: int, log: Path
) -> subprocess.Popen[bytes]:
    args = ["ingest", "--client-id", client_id, "--metrics", f"127.0.0.1:{port}"]
    args += ["--flush-interval", "0.05", "--batch-size", "1000"]
    return start_cli(services, db_url, root, args, log)


async def healthy(port: int) -> bool:
    def get() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    return await asyncio.to_thread(get)


async def test_sigkill_mid_stream_loses_nothing(
    services: Services, db_url: str, db: asyncpg.Connection, topic_root: str, tmp_path: Path
) -> None:
    log = tmp_path / "ingest.log"
    await load_registry(db, registry_obj(extra_devices=DEVICES))
    n = 20_000
    client_id = f"ingest-kill-{topic_root.split('/', maxsplit=1)[0]}"
    port = free_port()
    proc = start_ingest(services, db_url, topic_root, client_id, port, log)
    try:
        await wait_for(lambda: healthy(port), 30, "ingest up")
        await asyncio.sleep(0.3)
        publisher = asyncio.create_task(asyncio.to_thread(publish_stream, services, topic_root, n, 4000.0))
        await wait_for(lambda: _at_least(db, n // 4), 60, "a quarter stored")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        at_kill = await stored(db)
        assert at_kill < n, "the kill must land mid-stream"
        await asyncio.sleep(1.0)  # the broker queues for the dead session meanwhile
        proc = start_ingest(services, db_url, topic_root, client_id, port, log)
        await publisher
        await wait_for(lambda: _at_least(db, n), 90, "every message stored")
        await asyncio.sleep(0.5)  # let any late duplicate land before counting
    finally:
        stop_processes(proc)
    stderr = log.read_text(errors="replace")
    assert "Traceback" not in stderr, stderr[-3000:]
    await assert_exactly_once(db, n)


async def _at_least(db: asyncpg.Connection, n: int) -> bool:
    return await stored(db) >= n


def _via(url: str, port: int) -> str:
    u = urlsplit(url)
    netloc = u.netloc.rsplit(":", 1)[0] + f":{port}"
    return urlunsplit(u._replace(netloc=netloc))


async def test_database_cut_for_10s_loses_nothing(
    services: Services, db_url: str, db: asyncpg.Connection, topic_root: str, fault_proxy_factory: object
) -> None:
    await load_registry(db, registry_obj(extra_devices=DEVICES))
    u = urlsplit(db_url)
    proxy = await fault_proxy_factory(u.hostname, u.port)  # type: ignore[operator]
    n, window = 12_000, 2_000
    service = make_service(
        services, _via(db_url, proxy.port), topic_root, receive_maximum=window, batch_size=500, backoff_max_s=1.0
    )
    max_pending = 0
    async with running(service):
        publisher = asyncio.create_task(asyncio.to_thread(publish_stream, services, topic_root, n, 1000.0))
        await wait_for(lambda: _at_least(db, 1000), 30, "some stored before the cut")
        proxy.cut()
        cut_at = await stored(db)
        t_end = time.monotonic() + 10
        while time.monotonic() < t_end:
            assert service.source is not None
            max_pending = max(max_pending, service.source.pending())
            await asyncio.sleep(0.05)
        during = await stored(db)
        proxy.restore()
        await publisher
        await wait_for(lambda: _at_least(db, n), 60, "every message stored after the outage")
        await asyncio.sleep(0.5)
    assert during == cut_at, "nothing can be stored while the database is cut"
    assert service.metrics.db_errors._value.get() > 0
    # memory stays bounded: the broker holds the backlog, ingest at most its receive window
    assert 0 < max_pending <= window
    await assert_exactly_once(db, n)
