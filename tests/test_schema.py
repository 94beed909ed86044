"""The database schema: hypertables, time_bucket, the one-active-alert index, migrations."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest

from contract.registry import parse_registry
from storage.migrate import detect_features, migrate
from storage.registry import load_registry
from tests.test_registry import with_


async def test_hypertables_exist(db: asyncpg.Connection) -> None:
    rows = await db.fetch("SELECT hypertable_name FROM timescaledb_information.hypertables")
    names = {r["hypertable_name"] for r in rows}
    assert {"readings", "events", "access_events", "device_status"} <= names


async def test_migrate_is_idempotent(db: asyncpg.Connection) -> None:
    assert await migrate(db) == []
    versions = await db.fetchval("SELECT count(*) FROM schema_migrations")
    assert versions >= 3


async def test_features_detected(db: asyncpg.Connection) -> None:
    f = await detect_features(db)
    assert f.version.startswith("2.")
    assert f.license in {"apache", "timescale"}
    # the rollup exists either as a continuous aggregate or as CareWatch's own table
    assert await db.fetchval("SELECT to_regclass('readings_hourly') IS NOT NULL")


async def test_time_bucket_works(db: asyncpg.Connection) -> None:
    t0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    rows = [(t0.replace(minute=m), "f-1", "d-1", "co2_ppm", float(600 + m), f"m{m}") for m in range(0, 20)]
    await db.copy_records_to_table(
        "readings", records=rows, columns=["time", "facility_id", "device_id", "metric", "value", "msg_id"]
    )
    buckets = await db.fetch(
        "SELECT time_bucket(INTERVAL '5 minutes', time) AS b, min(value), avg(value), max(value)"
        " FROM readings GROUP BY b ORDER BY b"
    )
    assert len(buckets) == 4
    assert buckets[0]["min"] == 600 and buckets[0]["max"] == 604 and buckets[0]["avg"] == 602


async def _insert_alert(url: str, barrier: asyncio.Event) -> str:
    conn = await asyncpg.connect(url)
    try:
        await barrier.wait()
        try:
            await conn.execute(
                "INSERT INTO alerts (rule, severity, facility_id, device_id, opened_at, last_seen_at)"
                " VALUES ('fire_alarm', 'critical', 'xz-140902-0001', 'smoke-nap1', now(), now())"
            )
        except asyncpg.UniqueViolationError:
            return "duplicate"
        return "inserted"
    finally:
        await conn.close()


async def test_one_active_alert_per_key(db: asyncpg.Connection, db_url: str) -> None:
    await load_registry(db, parse_registry(with_()))
    barrier = asyncio.Event()
    tasks = [asyncio.create_task(_insert_alert(db_url, barrier)) for _ in range(4)]
    await asyncio.sleep(0.2)
    barrier.set()
    results = sorted(await asyncio.gather(*tasks))
    assert results == ["duplicate", "duplicate", "duplicate", "inserted"]
    assert await db.fetchval("SELECT count(*) FROM alerts WHERE status = 'active'") == 1
    # once cleared, the same key may open again
    await db.execute("UPDATE alerts SET status = 'cleared', cleared_at = now()")
    await db.execute(
        "INSERT INTO alerts (rule, severity, facility_id, device_id, opened_at, last_seen_at)"
        " VALUES ('fire_alarm', 'critical', 'xz-140902-0001', 'smoke-nap1', now(), now())"
    )
    assert await db.fetchval("SELECT count(*) FROM alerts") == 2


async def test_registry_load_is_idempotent(db: asyncpg.Connection) -> None:
    reg = parse_registry(with_())
    await load_registry(db, reg)
    await load_registry(db, reg)
    assert await db.fetchval("SELECT count(*) FROM devices") == len(reg.facilities[0].devices)
    assert await db.fetchval("SELECT count(*) FROM guardians") == 2
    smaller = parse_registry(with_(devices=[{"id": "smoke-nap1", "type": "smoke_detector"}]))
    await load_registry(db, smaller)
    assert await db.fetchval("SELECT count(*) FROM devices") == 1


async def test_township_must_be_in_county(db: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute(
            "INSERT INTO facilities (id, name, county, township, kind, open_days, open_time, close_time)"
            " VALUES ('x', 'x', '140902', '140981001', 'home', '{mon}', '07:30', '17:30')"
        )
