"""`bench dedup`: claiming dedup keys in a full table."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import log
from carewatch.stack import LocalStack, free_port


async def run_dedup_bench(preloaded: int = 5_000_000, n: int = 200_000, batch: int = 5000) -> dict[str, Any]:
    """The cost of claiming a dedup key once msg_seen holds `preloaded` keys (steady state: a city's
    last hours or days), for the keys ingest uses (hour of the message, then a 96-bit digest) against
    random 16-byte keys with a received_at index (the earlier design), in the same run; and for the
    hour-prefixed keys, ingest's optimistic COPY claim against INSERT ... ON CONFLICT. Each round
    starts after a CHECKPOINT, so full-page WAL images count as they do in production."""
    import hashlib

    state = Path(tempfile.mkdtemp(prefix="carewatch-bench-"))
    state.chmod(0o755)
    stack = LocalStack(state, fsync=True)
    try:
        info = await asyncio.to_thread(stack.up, pg_port=free_port(), mqtt_port=free_port())
        conn = await asyncpg.connect(info.database_url)
        try:
            await conn.execute(
                "CREATE TABLE seen_random (key bytea PRIMARY KEY, received_at timestamptz NOT NULL DEFAULT now());"
                "CREATE INDEX ON seen_random (received_at);"
                "CREATE TABLE seen_hour (key bytea PRIMARY KEY)"
            )
            log(f"preloading {preloaded:,} keys into each table")
            await conn.execute(
                "INSERT INTO seen_random (key) SELECT substr(sha256(i::text::bytea), 1, 16)"
                " FROM generate_series(1, $1) i",
                preloaded,
            )
            # the last 14 days' hours, evenly
            await conn.execute(
                "INSERT INTO seen_hour (key) SELECT int4send(400000 + i % 336) || substr(sha256(i::text::bytea), 1, 12)"
                " FROM generate_series(1, $1) i",
                preloaded,
            )
            await conn.execute("VACUUM ANALYZE")
            us: dict[str, list[float]] = {"random": [], "hour": [], "hour_copy": []}
            for rnd in range(2):
                for variant in ("random", "hour", "hour_copy"):
                    if variant == "random":
                        keys = [hashlib.blake2b(f"{rnd}-{i}".encode(), digest_size=16).digest() for i in range(n)]
                    else:
                        prefix = (400336 + rnd).to_bytes(4, "big")  # the current hour
                        keys = [
                            prefix + hashlib.blake2b(f"{variant}-{rnd}-{i}".encode(), digest_size=12).digest()
                            for i in range(n)
                        ]
                    table = "seen_random" if variant == "random" else "seen_hour"
                    await conn.execute("CHECKPOINT")
                    t0 = time.perf_counter()
                    for j in range(0, n, batch):
                        chunk = sorted(keys[j : j + batch])
                        async with conn.transaction():
                            if variant == "hour_copy":  # what ingest does (writer._claim): COPY in a savepoint
                                async with conn.transaction():
                                    await conn.copy_records_to_table(
                                        table, records=[(k,) for k in chunk], columns=["key"]
                                    )
                            else:
                                await conn.fetch(
                                    f"INSERT INTO {table} (key) SELECT unnest($1::bytea[])"
                                    " ON CONFLICT DO NOTHING RETURNING key",
                                    chunk,
                                )
                    us[variant].append((time.perf_counter() - t0) / n * 1e6)
        finally:
            await conn.close()
    finally:
        await asyncio.to_thread(stack.destroy)
    random_us, hour_us, copy_us = min(us["random"]), min(us["hour"]), min(us["hour_copy"])
    return {
        "bench": "dedup",
        "preloaded_keys": preloaded,
        "us_per_key_random": round(random_us, 2),
        "us_per_key_hour_prefixed": round(hour_us, 2),
        "us_per_key_hour_prefixed_copy": round(copy_us, 2),
        "hour_prefixed_vs_random": round(random_us / hour_us, 1),
        "copy_vs_on_conflict": round(hour_us / copy_us, 1),
    }
