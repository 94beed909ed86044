"""Stops that always work (README, "Stopping"): SIGTERM stops ingest and the alert engine within
10 s even while the database is out of reach, and what they had not stored is stored after a
restart (the broker redelivers what was never acknowledged)."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from runtime.service import STOP_DEADLINE_S
from runtime.stack import free_port
from storage.registry import load_registry
from tests.conftest import Services
from tests.helpers import FAC, Publisher, payload, registry_obj, wait_for
from tests.test_ingest_faults import (
    DEVICES,
    _at_least,
    _via,
    assert_exactly_once,
    healthy,
    publish_stream,
    start_cli,
    start_ingest,
    stored,
)

pytestmark = [pytest.mark.slow, pytest.mark.clock]


def stop_within(proc: subprocess.Popen[bytes], sig: signal.Signals) -> float:
    """Send `sig`; return how long the process took to exit (fails past the promised deadline)."""
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        proc.wait(STOP_DEADLINE_S + 5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"still running {STOP_DEADLINE_S + 5:.0f} s after {sig.name}")
    return time.monotonic() - t0


@pytest.mark.parametrize("outage", ["cut", "stall"])
async def test_sigterm_during_a_database_outage_stops_ingest_and_loses_nothing(
    outage: str,
    services: Services,
    db_url: str,
    db: asyncpg.Connection,
    topic_root: str,
    tmp_path: Path,
    fault_proxy_factory: object,
) -> None:
    await load_registry(db, registry_obj(extra_devices=DEVICES))
    u = urlsplit(db_url)
    proxy = await fault_proxy_factory(u.hostname, u.port)  # type: ignore[operator]
    log = tmp_path / "ingest.log"
    n = 3_000
    client_id = f"ingest-stop-{topic_root.split('/', maxsplit=1)[0]}"
    port = free_port()
    proc = start_ingest(services, _via(db_url, proxy.port), topic_root, client_id, port, log)
    try:
        await wait_for(lambda: healthy(port), 30, "ingest up")
        await asyncio.sleep(0.3)
        publisher = asyncio.create_task(asyncio.to_thread(publish_stream, services, topic_root, n, 1000.0))
        await wait_for(lambda: _at_least(db, 500), 30, "some stored before the outage")
        # refused (a restart) or silent (a partition: the write in hand waits for an answer that
        # never comes, and only the stop deadline ends it); away for the rest of the first half
        if outage == "cut":
            proxy.cut()
        else:
            proxy.stall()
        await asyncio.sleep(0.5)  # a commit already on its way lands
        cut_at = await stored(db)
        await asyncio.sleep(1.5)  # batches arrive; their writes retry, or wait for an answer
        took = await asyncio.to_thread(stop_within, proc, signal.SIGTERM)
        assert took < STOP_DEADLINE_S, f"ingest took {took:.1f} s to stop during the outage"
        assert proc.returncode == 0, log.read_text(errors="replace")[-3000:]
        assert await stored(db) == cut_at, "nothing can be stored while the database is away"
        assert cut_at < n, "the stop must land mid-stream"
        await publisher
        proxy.restore()
        proc = start_ingest(services, _via(db_url, proxy.port), topic_root, client_id, port, log)
        await wait_for(lambda: _at_least(db, n), 60, "every message stored after the restart")
        await asyncio.sleep(0.5)  # let a late duplicate land before counting
    finally:
        if proc.poll() is None:
            stop_within(proc, signal.SIGTERM)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
    await assert_exactly_once(db, n)


def start_alerts(
    services: Services, db_url: str, root: str, client_id: str, port: int, log: Path
) -> subprocess.Popen[bytes]:
    return start_cli(
        services, db_url, root, ["alerts", "--client-id", client_id, "--metrics", f"127.0.0.1:{port}"], log
    )


async def _fire_alarms(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM alerts WHERE rule = 'fire_alarm'"))


async def test_sigterm_during_a_database_outage_stops_alerts_and_the_alarm_is_raised_after_restart(
    services: Services,
    db_url: str,
    db: asyncpg.Connection,
    topic_root: str,
    tmp_path: Path,
    fault_proxy_factory: object,
) -> None:
    await load_registry(db, registry_obj())
    u = urlsplit(db_url)
    proxy = await fault_proxy_factory(u.hostname, u.port)  # type: ignore[operator]
    log = tmp_path / "alerts.log"
    client_id = f"alerts-stop-{topic_root.split('/', maxsplit=1)[0]}"
    port = free_port()
    proc = start_alerts(services, _via(db_url, proxy.port), topic_root, client_id, port, log)
    pub = Publisher(*services.mqtt_host_port)
    try:
        await wait_for(lambda: healthy(port), 30, "alerts up")
        await asyncio.sleep(0.5)  # subscribed
        proxy.cut()
        ts = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        fire = {"msg_id": "fire-1", "ts": ts, "type": "fire_alarm", "state": "active"}
        pub.publish_all([(f"{topic_root}/{FAC}/smoke-nap1/event", payload(fire))])
        pub.flush()
        await asyncio.sleep(2.0)  # the alarm is evaluated; storing it retries against the cut database
        took = await asyncio.to_thread(stop_within, proc, signal.SIGTERM)
        assert took < STOP_DEADLINE_S, f"the alert engine took {took:.1f} s to stop during the outage"
        assert proc.returncode == 0, log.read_text(errors="replace")[-3000:]
        assert await _fire_alarms(db) == 0, "nothing can be stored while the database is away"
        proxy.restore()
        proc = start_alerts(services, _via(db_url, proxy.port), topic_root, client_id, port, log)
        await wait_for(lambda: _one_alarm(db), 30, "the fire alarm raised after the restart")
    finally:
        pub.close()
        if proc.poll() is None:
            stop_within(proc, signal.SIGTERM)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]


async def _one_alarm(db: asyncpg.Connection) -> bool:
    return await _fire_alarms(db) == 1


def test_a_connection_lost_on_its_way_back_to_the_pool_is_a_warning_not_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """asyncpg's shielded release task failing on a lost connection after a stop: one warning line.
    Any other unheard error keeps asyncio's default report (with its traceback)."""

    from runtime.service import _lost_connection_released

    loop = asyncio.new_event_loop()
    try:
        handle = _lost_connection_released("alerts")

        async def release() -> None:  # the name asyncpg's task carries
            raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")

        task = loop.create_task(release())
        loop.run_until_complete(asyncio.wait([task]))
        lost = asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")
        defaults: list[dict[str, object]] = []
        loop.default_exception_handler = defaults.append  # type: ignore[method-assign]
        with caplog.at_level(logging.WARNING):
            handle(loop, {"message": "Task exception was never retrieved", "exception": lost, "future": task})
            bug = {"message": "Task exception was never retrieved", "exception": ValueError("a bug")}
            handle(loop, bug)
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "lost while it went back to the pool" in warnings[0].getMessage()
        assert defaults == [bug], "another error: asyncio's own report"
        task.exception()  # retrieved: the test's own task leaves no report behind
    finally:
        loop.close()
