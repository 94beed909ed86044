"""`carewatch bench notify`: a critical alert's delivery time behind a backlog (issue #38 D).

An operator once queued 300 test messages in 0.9 s; against a WeCom robot that answers in 150 ms and
takes 20 messages a minute, a fire alarm then reached the city's robot after 75.7 s. Here: a private
PostgreSQL, the alert service's outbox (alerts.notify.Outbox, as the service runs it) and a WeCom robot
on loopback (bench.wecom: 150 ms, 20 a minute per robot, 45009 beyond). A fire alarm is queued through
the outbox's own path with nothing else queued (the baseline), then 20,000 test messages for the same
robot are queued and sent at the robot's pace, and a second fire alarm is queued a few seconds into
them. Printed: both delivery times, their ratio, and what the robot refused (it never should).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.common import log, prepare_db
from bench.wecom import FakeWeCom
from contract.rules import Condition, Key
from runtime.stack import LocalStack, free_port
from storage import notifications as store
from storage.alerts import Change, open_alert
from storage.users import create_user

ROBOT = "city-robot"
TARGET_S = 5.0
TEST = store.PRIORITY_TEST


async def run_notify_bench(backlog: int = 20_000, settle_s: float = 3.0) -> dict[str, Any]:
    from alerts.notify import NotifyConfig, Outbox
    from contract.config import Channels

    state = Path(tempfile.mkdtemp(prefix="carewatch-bench-"))
    state.chmod(0o755)
    stack = LocalStack(state, fsync=False)
    fake = FakeWeCom()
    try:
        info = await asyncio.to_thread(stack.up, pg_port=free_port(), mqtt_port=free_port())
        db_url = await prepare_db(info.database_url, "bench_notify", 1, 8)
        conn = await asyncpg.connect(db_url)
        pool = await asyncpg.create_pool(db_url, min_size=1, max_size=4)
        http = aiohttp.ClientSession()
        await fake.start()
        try:
            fid = str(await conn.fetchval("SELECT id FROM facilities LIMIT 1"))
            uid, _ = await create_user(conn, "city", "inspector", None)
            sid = await store.add_subscription(conn, uid, "wecom", ROBOT, None, None, "warning", None, "zh")
            sub = next(s for s in await store.subscriptions_of(conn, uid) if s.id == sid)
            outbox = Outbox(NotifyConfig(channels=Channels(wecom_url=fake.url)), pool, http, lambda _c: None)
            stop = asyncio.Event()
            runner = asyncio.create_task(outbox.run(stop), name="bench-outbox")
            try:
                quiet_s = await _alarm(conn, outbox, fake, fid, "smoke-1")
                log(f"no backlog: {quiet_s:.3f} s; queueing {backlog} test messages")
                t = time.perf_counter()
                async with conn.transaction():
                    for i in range(backlog):
                        test = store.Outgoing(sub, None, None, "test", f"测试 {i}", "测试", priority=TEST)
                        await store.enqueue(conn, [test], _now())
                queued_s = time.perf_counter() - t
                await asyncio.sleep(settle_s)  # the robot's minute taken by the backlog
                backlog_sent_before = sum(1 for k, _, c in fake.received if k == ROBOT and "测试" in c)
                busy_s = await _alarm(conn, outbox, fake, fid, "smoke-2")
                log(f"behind the backlog: {busy_s:.3f} s")
            finally:
                stop.set()
                await asyncio.wait_for(runner, 30)
            pending = await conn.fetchval("SELECT count(*) FROM notification_deliveries WHERE status = 'pending'")
        finally:
            await fake.stop()
            await http.close()
            await pool.close()
            await conn.close()
    finally:
        await asyncio.to_thread(stack.destroy)
    return {
        "bench": "notify",
        "backlog": backlog,
        "backlog_queued_s": round(queued_s, 2),
        "robot_delay_s": fake.delay_s,
        "robot_limit_per_min": fake.per_minute,
        "critical_no_backlog_s": round(quiet_s, 3),
        "critical_behind_backlog_s": round(busy_s, 3),
        "ratio": round(busy_s / quiet_s, 2) if quiet_s else None,
        "target_s": TARGET_S,
        "target_met": busy_s < TARGET_S,
        "backlog_sent_before_alarm": backlog_sent_before,
        "backlog_still_pending": int(pending),
        "robot_refused_45009": len(fake.refused),
    }


def _now() -> datetime:
    return datetime.now(UTC)


async def _alarm(conn: asyncpg.Connection, outbox: Any, fake: FakeWeCom, fid: str, device: str) -> float:
    """A fire alarm opened and queued as the alert service does; seconds until the robot has it."""
    alert = await open_alert(conn, fid, Key("fire_alarm", device), Condition("critical", "火警", "fire"), _now())
    change = Change(alert.alert_id, "opened", fid, "fire_alarm", "critical", "facility", False, "火警")
    t0 = time.monotonic()
    if await outbox.queue(change, _now()) != 1:
        raise RuntimeError("the fire alarm was not queued for the city's robot")
    while (at := fake.arrived(ROBOT, "火灾报警")) is None or at < t0:
        if time.monotonic() - t0 > 180:
            return float("inf")
        await asyncio.sleep(0.01)
    fake.received = [r for r in fake.received if "火灾报警" not in r[2]]  # the next alarm is timed afresh
    return at - t0
