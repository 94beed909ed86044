"""Upgrades on live data (issue #43): the migrations applied one by one to a database holding a month of
a small city's data while a writer keeps storing readings, as ingest would through `carewatch migrate`.

The rule, checked on what each migration holds just before its commit (and so until it): no migration
may take a lock on a hypertable or one of its chunks that blocks writes (SHARE or stronger: a CREATE
INDEX without CONCURRENTLY, most ALTER TABLEs, a table rewrite). On a province's tables such a lock
holds ingest for as long as the migration scans the data, minutes to hours; a migration that needs such
a change must be written online (an index per chunk, concurrently; a column without a volatile default;
a backfill in batches) or go in `HOLDS_WRITES` with its reason. Each migration's time on the filled
database is printed, and every row written meanwhile must be there at the end."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from storage.migrate import _migration_files, migrate
from tests.conftest import Services

# Migrations before the rule, with why their lock was acceptable when they ran.
HOLDS_WRITES = {
    "008_calendars_arrival.sql": "ADD COLUMN and a default: catalogue changes only, no rewrite (PostgreSQL 11+)",
    "013_storage_budget.sql": "one-time dedup and unique indexes, applied in 2026-11 on days of data",
}
FILLED_AT = 13  # the fill is written in the schema as it stood after this migration
BLOCKS_WRITES = {"ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"}
MONTH = datetime(2026, 11, 1, tzinfo=UTC)
FACILITIES = 12


@pytest.fixture
async def empty_db(services: Services) -> AsyncIterator[str]:
    name = f"cw_up_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(services.database_url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        yield services.db_url(name)
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


async def _fill_a_month(conn: asyncpg.Connection) -> None:
    """A month of 12 facilities as the schema stood after migration 013: readings for the 7 days they are
    kept (4 sensors × 3 metrics every 5 minutes), badges and events all month, device status changes."""
    await conn.execute(
        """INSERT INTO facilities (id, name, county, township, kind, open_days, open_time, close_time)
           SELECT 'fac-' || i, '托育' || i, '140902', '140902001', 'nursery',
                  ARRAY['mon','tue','wed','thu','fri'], '07:30', '17:30'
           FROM generate_series(1, $1::int) i""",
        FACILITIES,
    )
    await conn.execute(
        """INSERT INTO readings (time, facility_id, device_id, metric, value, msg_id)
           SELECT $1::timestamptz + make_interval(mins => 5 * m), 'fac-' || f, 'env-' || d, metric,
                  20 + random() * 5, 'r-' || f || '-' || d || '-' || m
           FROM generate_series(1, $2::int) f, generate_series(1, 4) d, generate_series(0, 7 * 288 - 1) m,
                unnest(ARRAY['temperature_c', 'humidity_pct', 'co2_ppm']) metric""",
        MONTH + timedelta(days=23),
        FACILITIES,
    )
    await conn.execute(
        """INSERT INTO access_events (time, facility_id, device_id, msg_id, type, person_id, payload)
           SELECT $1::timestamptz + make_interval(days => day, mins => 450 + p), 'fac-' || f, 'door-1',
                  'a-' || f || '-' || day || '-' || p, 'badge_in', 'c-' || p, '{}'::jsonb
           FROM generate_series(1, $2::int) f, generate_series(0, 29) day, generate_series(1, 40) p""",
        MONTH,
        FACILITIES,
    )
    await conn.execute(
        """INSERT INTO events (time, facility_id, device_id, msg_id, type, state, payload)
           SELECT $1::timestamptz + make_interval(hours => h), 'fac-' || f, 'door-1', 'e-' || f || '-' || h,
                  'door', CASE WHEN h % 2 = 0 THEN 'open' ELSE 'closed' END, '{}'::jsonb
           FROM generate_series(1, $2::int) f, generate_series(0, 30 * 24 - 1) h""",
        MONTH,
        FACILITIES,
    )
    await conn.execute(
        """INSERT INTO device_status (time, facility_id, device_id, online, payload)
           SELECT $1::timestamptz + make_interval(days => day), 'fac-' || f, 'env-1', day % 7 <> 3, '{}'::jsonb
           FROM generate_series(1, $2::int) f, generate_series(0, 29) day""",
        MONTH,
        FACILITIES,
    )


async def _locks_blocking_writes(conn: asyncpg.Connection, name: str) -> list[str]:
    rows = await conn.fetch(
        """SELECT coalesce(h.table_name, c.relname) AS hypertable, l.mode
           FROM pg_locks l
           JOIN pg_class c ON c.oid = l.relation
           LEFT JOIN _timescaledb_catalog.chunk ch
                  ON ch.table_name = c.relname AND ch.schema_name = c.relnamespace::regnamespace::text
           LEFT JOIN _timescaledb_catalog.hypertable h ON h.id = ch.hypertable_id
           WHERE l.pid = pg_backend_pid() AND l.granted AND l.mode = ANY($1::text[])
             AND (ch.id IS NOT NULL OR c.relname IN (SELECT table_name FROM _timescaledb_catalog.hypertable))""",
        sorted(BLOCKS_WRITES),
    )
    return sorted({f"{name}: {r['mode']} on {r['hypertable']}" for r in rows})


async def _writer(url: str, stop: asyncio.Event, written: list[int]) -> None:
    """Ingest's part: a reading a few milliseconds apart, each in its own transaction, all through."""
    conn = await asyncpg.connect(url)
    try:
        n = 0
        while not stop.is_set():
            await conn.execute(
                "INSERT INTO readings (time, facility_id, device_id, metric, value, msg_id)"
                " VALUES ($1, 'fac-1', 'env-9', 'co2_ppm', 600, $2)",
                MONTH + timedelta(days=29, seconds=n),
                f"live-{n}",
            )
            written.append(n)
            n += 1
            await asyncio.sleep(0.005)
    finally:
        await conn.close()


async def test_every_migration_after_the_rule_runs_on_a_filled_database_without_holding_writes(
    empty_db: str,
) -> None:
    conn = await asyncpg.connect(empty_db)
    try:
        await migrate(conn, upto=FILLED_AT)
        await _fill_a_month(conn)
        base = await conn.fetchval("SELECT count(*) FROM readings")
        stop, written = asyncio.Event(), list[int]()
        writer = asyncio.create_task(_writer(empty_db, stop, written), name="writer")
        took: dict[str, float] = {}
        held: list[str] = []

        async def look(c: asyncpg.Connection, name: str) -> None:
            if name not in HOLDS_WRITES:
                held.extend(await _locks_blocking_writes(c, name))

        try:
            for version, name, _ in _migration_files():
                if version <= FILLED_AT:
                    continue
                t0 = time.perf_counter()
                assert await migrate(conn, upto=version, before_commit=look) == [name]
                took[name] = round(time.perf_counter() - t0, 3)
            await asyncio.sleep(0.2)  # the writer goes on after the last migration too
        finally:
            stop.set()
            await writer
        print("migration times on a filled month (s):", took)
        assert held == [], "a migration holds writes to a hypertable until its commit: write it online"
        assert await migrate(conn) == []  # up to date: the rollup, the policies and the grants ran with the last
        assert await conn.fetchval("SELECT count(*) FROM readings") == base + len(written)  # nothing lost
        assert len(written) > len(took)  # the writer really wrote throughout
    finally:
        await conn.close()


async def test_the_rule_sees_a_migration_that_would_hold_writes(empty_db: str) -> None:
    """The check itself: an index built the blocking way on a filled hypertable is caught."""
    conn = await asyncpg.connect(empty_db)
    try:
        await migrate(conn, upto=FILLED_AT)
        await _fill_a_month(conn)
        async with conn.transaction():
            await conn.execute("CREATE INDEX readings_by_value ON readings (value)")
            found = await _locks_blocking_writes(conn, "999_example.sql")
        assert "999_example.sql: ShareLock on readings" in found
    finally:
        await conn.close()
