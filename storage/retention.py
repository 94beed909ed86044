"""Retention and the hourly rollup, done by ingest where the server lacks TimescaleDB policies.

On the Timescale-License edition, policies (set up by `migrate`) do this work and these
functions only prune CareWatch's own plain tables.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import asyncpg

from storage.migrate import RETENTION, ROLLUP_RETENTION, Features

logger = logging.getLogger(__name__)

DEAD_LETTER_RETENTION = "90 days"
ACTIVITY_RETENTION = "400 days"  # device-hours: the credit evaluation's year, and its appeals
ROLLUP_JOB = "readings_hourly"
ROLLUP_OVERLAP = timedelta(hours=2)  # re-aggregate this much before the watermark: late samples


async def apply_retention(conn: asyncpg.Connection, features: Features) -> int:
    """Drop expired chunks and rows; return the number of chunks dropped."""
    dropped = 0
    if not features.community:
        tables = {**RETENTION, "readings_hourly": ROLLUP_RETENTION}
        for table in tables:
            # a function of the schema's owner: ingest's own role may drop chunks, but never younger ones
            dropped += await conn.fetchval("SELECT carewatch_drop_chunks($1)", table)
    await conn.execute(f"DELETE FROM device_activity WHERE day < current_date - INTERVAL '{ACTIVITY_RETENTION}'")
    await conn.execute(f"DELETE FROM dead_letters WHERE received_at < now() - INTERVAL '{DEAD_LETTER_RETENTION}'")
    return dropped


async def refresh_rollup(conn: asyncpg.Connection, features: Features, now: datetime) -> int:
    """Incrementally (re)aggregate hourly buckets since the watermark; return rows upserted.

    Samples that arrive more than ROLLUP_OVERLAP behind the watermark are in `readings` but not
    in the rollup until a full refresh (`refresh_rollup_range`).
    """
    if features.community:
        return 0
    async with conn.transaction():
        wm = await conn.fetchval("SELECT watermark FROM job_state WHERE name = $1 FOR UPDATE", ROLLUP_JOB)
        start = (wm - ROLLUP_OVERLAP) if wm else await conn.fetchval("SELECT min(time) FROM readings")
        if start is None:
            return 0
        n = await refresh_rollup_range(conn, start, now)
        await conn.execute(
            "INSERT INTO job_state (name, watermark) VALUES ($1, $2)"
            " ON CONFLICT (name) DO UPDATE SET watermark = $2, updated_at = now()",
            ROLLUP_JOB,
            now,
        )
    return n


async def refresh_rollup_range(conn: asyncpg.Connection, start: datetime, end: datetime) -> int:
    result = await conn.execute(
        """INSERT INTO readings_hourly (bucket, facility_id, device_id, metric, n, sum, min, max)
           SELECT time_bucket(INTERVAL '1 hour', time), facility_id, device_id, metric,
                  count(*), sum(value), min(value), max(value)
           FROM readings
           WHERE time >= time_bucket(INTERVAL '1 hour', $1::timestamptz) AND time < $2
           GROUP BY 1, 2, 3, 4
           ON CONFLICT (facility_id, device_id, metric, bucket)
           DO UPDATE SET n = EXCLUDED.n, sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max""",
        start,
        end,
    )
    return int(result.split()[-1])
