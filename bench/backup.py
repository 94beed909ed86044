"""`carewatch bench backup`: how long a backup and a point-in-time restore take for a database of a
given size (issue #43), against a plain copy of the same data directory measured in the same run.

A private stack with pgBackRest archiving (runtime/backup.py), migrated, the registry of `facilities`
loaded and `days` of readings written (each facility's devices every minute, as the simulators report:
readings are most of a real database). Then a full backup; a minute of further writes that only the WAL
archive holds; `backup check`; the server stopped, the data directory moved aside and restored to the
moment between the two last writes, with the server started and recovered. The baseline is `cp -a` of
the data directory (what copying the files off the machine costs, with nothing checked or compressed).
Printed as one JSON line: sizes, seconds, throughput, and both ratios to the copy.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import bench_registry, log
from runtime.backup import Backups
from runtime.stack import LocalStack, free_port
from storage.migrate import migrate
from storage.registry import load_registry

METRICS = ("temperature_c", "humidity_pct", "co2_ppm", "pm25_ugm3")


async def _fill(url: str, facilities: int, devices: int, days: int) -> int:
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        await load_registry(conn, bench_registry(facilities, devices))
        start = datetime(2026, 11, 1, tzinfo=UTC)
        for d in range(days):  # a day at a time: one chunk each, as ingest writes them
            day = start + timedelta(days=d)
            await conn.execute(
                """INSERT INTO readings (time, facility_id, device_id, metric, value, msg_id)
                   SELECT $1::timestamptz + make_interval(mins => m), f.id, 'env-' || dv, ($2::text[])[1 + m % 4],
                          20 + random() * 5, f.id || '-' || dv || '-' || $3::int || '-' || m
                   FROM facilities f, generate_series(0, 1439) m, generate_series(1, $4::int) dv""",
                day,
                list(METRICS),
                d,
                devices,
            )
        return int(await conn.fetchval("SELECT count(*) FROM readings"))
    finally:
        await conn.close()


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


async def run_backup_bench(facilities: int = 100, devices: int = 10, days: int = 1) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="carewatch-bench-"))
    state.chmod(0o755)
    stack = LocalStack(state, fsync=True, backups=True)
    try:
        info = await asyncio.to_thread(stack.up, pg_port=free_port(), mqtt_port=free_port())
        rows = await _fill(info.database_url, facilities, devices, days)
        archive = Backups(stack)
        data_bytes = await asyncio.to_thread(_du, stack.pg_data)
        log(f"{rows} readings, data directory {data_bytes / 1e6:.0f} MB")

        t0 = time.perf_counter()
        await asyncio.to_thread(subprocess.run, ["cp", "-a", str(stack.pg_data), str(state / "copy")], check=True)
        copy_s = time.perf_counter() - t0
        shutil.rmtree(state / "copy")

        t0 = time.perf_counter()
        full = await asyncio.to_thread(archive.backup, "full")
        backup_s = time.perf_counter() - t0

        conn = await asyncpg.connect(info.database_url)
        try:
            await conn.execute("SELECT pg_sleep(1.1)")
            await conn.execute("CREATE TABLE bench_marks (n int)")
            await conn.execute("INSERT INTO bench_marks VALUES (1)")
            moment = await conn.fetchval("SELECT clock_timestamp()")
            await conn.execute("SELECT pg_sleep(0.5)")
            await conn.execute("INSERT INTO bench_marks VALUES (2)")
        finally:
            await conn.close()
        await asyncio.to_thread(archive.check)
        await asyncio.to_thread(stack.down)
        stack.pg_data.rename(state / "lost")

        t0 = time.perf_counter()
        await asyncio.to_thread(archive.restore, moment, stack.pg_data)
        await asyncio.to_thread(stack.up)
        restore_s = time.perf_counter() - t0
        conn = await asyncpg.connect(info.database_url)
        try:
            marks = [r["n"] for r in await conn.fetch("SELECT n FROM bench_marks ORDER BY n")]
            restored_rows = int(await conn.fetchval("SELECT count(*) FROM readings"))
        finally:
            await conn.close()
        return {
            "bench": "backup",
            "facilities": facilities,
            "readings": rows,
            "data_mb": round(data_bytes / 1e6, 1),
            "repo_mb": round(full.repo_bytes / 1e6, 1),
            "copy_s": round(copy_s, 2),
            "backup_s": round(backup_s, 2),
            "restore_s": round(restore_s, 2),
            "backup_mb_per_s": round(data_bytes / 1e6 / backup_s, 1),
            "restore_mb_per_s": round(data_bytes / 1e6 / restore_s, 1),
            "backup_to_copy": round(backup_s / copy_s, 2),
            "restore_to_copy": round(restore_s / copy_s, 2),
            "restored_exactly": marks == [1] and restored_rows == rows,
        }
    finally:
        await asyncio.to_thread(stack.destroy)
