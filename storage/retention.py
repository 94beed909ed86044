"""Retention and the hourly rollup, done by ingest where the server lacks TimescaleDB policies.

On the Timescale-License edition, policies (set up by `migrate`) do this work and these
functions only prune CareWatch's own plain tables.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

import asyncpg

from contract.credit_facts import COUNT_METRIC, SLOT_S
from contract.retention import POLICY, RETENTION, ROLLUP_RETENTION
from storage.migrate import Features

logger = logging.getLogger(__name__)

# What maintenance prunes by a row's age, besides the hypertables' chunks: each table's rows older than
# its retention in contract.retention.POLICY (by="storage.retention"; the interval only there), as of the
# `now` handed in. {keep} is that interval; $1 is now.
PRUNE: dict[str, str] = {
    "device_activity": "DELETE FROM device_activity WHERE day < ($1::timestamptz - INTERVAL '{keep}')::date",
    "intake_hours": "DELETE FROM intake_hours WHERE hour < $1::timestamptz - INTERVAL '{keep}'",
    "counted_slots": "DELETE FROM counted_slots WHERE hour < $1::timestamptz - INTERVAL '{keep}'",
    "dead_letters": "DELETE FROM dead_letters WHERE received_at < $1::timestamptz - INTERVAL '{keep}'",
    # a delivery still pending is not history yet (the alert service gives up on it and marks it failed)
    "notification_deliveries": "DELETE FROM notification_deliveries"
    " WHERE created_at < $1::timestamptz - INTERVAL '{keep}' AND status <> 'pending'",
}
ROLLUP_JOB = "readings_hourly"
SLOTS_JOB = "counted_slots"
SLOT = f"{SLOT_S} seconds"  # a constant, in SQL text


async def maintain(
    conn: asyncpg.Connection, features: Features, now: datetime, late: Mapping[str, datetime] | None = None
) -> tuple[int, int]:
    """One round of maintenance: the rollup first, then retention; return (rollup rows upserted,
    chunks dropped). In that order, a sample stored late in its last minutes of retention (the door
    refuses older ones, contract.retention) is in its hour's rollup before its chunk goes."""
    upserted = await refresh_rollup(conn, features, now, late)
    upserted += await refresh_slots(conn, now, late)
    dropped = await apply_retention(conn, features, now)
    return upserted, dropped


async def apply_retention(conn: asyncpg.Connection, features: Features, now: datetime) -> int:
    """Drop expired chunks and rows as of `now`; return the number of chunks dropped. The chunks go by
    `carewatch_drop_chunks`, which judges by the database's own clock on purpose: it is the guard that
    no caller (nor a clock handed to one) can make drop anything younger than its retention."""
    dropped = 0
    if not features.community:
        tables = {**RETENTION, "readings_hourly": ROLLUP_RETENTION}
        for table in tables:
            # a function of the schema's owner: ingest's own role may drop chunks, but never younger ones
            dropped += await conn.fetchval("SELECT carewatch_drop_chunks($1)", table)
    for table, sql in PRUNE.items():
        keep = POLICY[table].keep
        if keep is None:  # tests/test_retention.py: never, PRUNE is exactly the policy's
            raise ValueError(f"{table} has no retention to prune by")
        await conn.execute(sql.format(keep=keep), now)
    return dropped


def hour_start(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


async def refresh_rollup(
    conn: asyncpg.Connection, features: Features, now: datetime, late: Mapping[str, datetime] | None = None
) -> int:
    """Aggregate each completed hour once; return rows upserted.

    Every facility's hours from the watermark to the start of the current hour, then, for the
    facilities that sent samples of hours already aggregated (`late`: a replayed spool, a device
    clock behind; ingest keeps them), those facilities' hours only. The current hour is not in the
    rollup: charts read it from the raw readings (storage.queries.readings). Measured (bench
    province): re-aggregating a fixed two hours of every facility every five minutes stalled ingest
    for a hundred seconds at 5,000 facilities.
    """
    if features.community:
        return 0
    return await _by_watermark(conn, ROLLUP_JOB, now, late, refresh_rollup_range)


Refresh = Callable[[asyncpg.Connection, datetime, datetime, list[str] | None], Awaitable[int]]


async def _by_watermark(
    conn: asyncpg.Connection, job: str, now: datetime, late: Mapping[str, datetime] | None, refresh: Refresh
) -> int:
    """Run `refresh` over the completed hours since `job`'s watermark (every facility), then over the hours
    already done of the facilities that sent late samples (`late`, each facility's earliest); move the
    watermark to the start of the current hour. Rows upserted."""
    end = hour_start(now)
    n = 0
    async with conn.transaction():
        wm = await conn.fetchval("SELECT watermark FROM job_state WHERE name = $1 FOR UPDATE", job)
        start = wm if wm is not None else await conn.fetchval("SELECT min(time) FROM readings")
        if start is None:
            return 0
        start = hour_start(start)
        if start < end:
            n += await refresh(conn, start, end, None)
        older = {f: t for f, t in (late or {}).items() if t < start}
        if older:
            n += await refresh(conn, hour_start(min(older.values())), start, list(older))
        await conn.execute(
            "INSERT INTO job_state (name, watermark, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name)"
            " DO UPDATE SET watermark = greatest(job_state.watermark, $2), updated_at = $3",
            job,
            end,
            now,
        )
    return n


async def refresh_rollup_range(
    conn: asyncpg.Connection, start: datetime, end: datetime, facilities: list[str] | None = None
) -> int:
    """(Re)aggregate the hours from start to end (of those facilities only, when given).

    An hour is never recomputed from fewer raw rows than it had (issue #35): raw rows only ever go by
    retention, so fewer means its chunk has gone, and what the rollup holds is the whole hour."""
    result = await conn.execute(
        """INSERT INTO readings_hourly (bucket, facility_id, device_id, metric, n, sum, min, max)
           SELECT time_bucket(INTERVAL '1 hour', time), facility_id, device_id, metric,
                  count(*), sum(value), min(value), max(value)
           FROM readings
           WHERE time >= time_bucket(INTERVAL '1 hour', $1::timestamptz) AND time < $2
             AND ($3::text[] IS NULL OR facility_id = ANY($3::text[]))
           GROUP BY 1, 2, 3, 4
           ON CONFLICT (facility_id, device_id, metric, bucket)
           DO UPDATE SET n = EXCLUDED.n, sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max
           WHERE EXCLUDED.n >= readings_hourly.n""",
        start,
        end,
        facilities,
    )
    return int(result.split()[-1])


async def refresh_slots(conn: asyncpg.Connection, now: datetime, late: Mapping[str, datetime] | None = None) -> int:
    """The counting cameras' slots (counted_slots, migration 042) of each completed hour, on every edition
    (a continuous aggregate cannot count distinct slots): from the watermark to the start of the current
    hour, then the hours already done of the facilities that sent late samples; return rows upserted.
    An hour is never recomputed to fewer slots than it had (its raw rows only ever go by retention)."""
    return await _by_watermark(conn, SLOTS_JOB, now, late, _slots_range)


async def _slots_range(
    conn: asyncpg.Connection, start: datetime, end: datetime, facilities: list[str] | None = None
) -> int:
    result = await conn.execute(
        f"""INSERT INTO counted_slots (facility_id, device_id, hour, slots)
           SELECT facility_id, device_id, time_bucket(INTERVAL '1 hour', time),
                  count(DISTINCT time_bucket(INTERVAL '{SLOT}', time))
           FROM readings
           WHERE metric = $4 AND time >= time_bucket(INTERVAL '1 hour', $1::timestamptz) AND time < $2
             AND ($3::text[] IS NULL OR facility_id = ANY($3::text[]))
           GROUP BY 1, 2, 3
           ON CONFLICT (facility_id, device_id, hour)
           DO UPDATE SET slots = EXCLUDED.slots WHERE EXCLUDED.slots >= counted_slots.slots""",
        start,
        end,
        facilities,
        COUNT_METRIC,
    )
    return int(result.split()[-1])
