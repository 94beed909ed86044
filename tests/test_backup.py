"""Backups and point-in-time restore (issue #43), through the commands an operator runs: the local stack
with pgBackRest archiving its WAL, `carewatch backup now`, the data directory lost, `carewatch restore
--to T`, and exactly what was committed before T there again, nothing after it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from runtime.stack import LocalStack
from simulators.registry_gen import generate_registry
from storage.inspections import countersign, plan, record
from storage.rectification import Evidence
from storage.registry import load_registry

DAY0 = datetime(2026, 3, 2, tzinfo=UTC)  # readings over three days: three chunks of the hypertable


@pytest.fixture
def state() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="cw-backup-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        LocalStack(path).destroy()


def _cli(state: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"CAREWATCH_DATABASE_URL", "CAREWATCH_MQTT_URL"}}
    env["CAREWATCH_STATE_DIR"] = str(state)  # the stack of this state directory, nothing else
    res = subprocess.run(
        [sys.executable, "-m", "carewatch.cli", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and res.returncode != 0:
        raise AssertionError(f"carewatch {' '.join(args)}: {res.returncode}\n{res.stdout}\n{res.stderr}")
    return res


async def _write_readings(conn: asyncpg.Connection, facility: str, tag: str, start: datetime, n: int) -> None:
    rows = [
        (start + timedelta(minutes=10 * i), facility, "env-1", "co2_ppm", 400.0 + i, f"{tag}-{i}") for i in range(n)
    ]
    await conn.copy_records_to_table(
        "readings", records=rows, columns=["time", "facility_id", "device_id", "metric", "value", "msg_id"]
    )


async def _signed_inspection(conn: asyncpg.Connection, facility: str, photo: bytes, now: datetime) -> int:
    iid = await plan(conn, facility, "visit", now.date(), "county-a", "county")
    files = [Evidence("exit.png", "image/png", photo)]
    await record(conn, iid, "county-a", {}, "消防通道畅通", files, sign=True, now=now, second="county-b")
    assert await countersign(conn, iid, "county-b", now)  # two officers (migration 037)
    return iid


async def _facts(conn: asyncpg.Connection) -> dict[str, object]:
    return {
        "readings": sorted(r["msg_id"] for r in await conn.fetch("SELECT msg_id FROM readings")),
        "chunks": sorted(
            r["range_start"].isoformat()
            for r in await conn.fetch(
                "SELECT range_start FROM timescaledb_information.chunks WHERE hypertable_name = 'readings'"
            )
        ),
        "evidence": sorted(
            (r["inspection_id"], hashlib.sha256(bytes(r["data"])).hexdigest(), r["sha256"])
            for r in await conn.fetch("SELECT inspection_id, data, sha256 FROM evidence_files")
        ),
        "signed": sorted(r["id"] for r in await conn.fetch("SELECT id FROM inspections WHERE status = 'signed'")),
    }


async def test_a_lost_data_directory_is_restored_to_a_moment_between_two_writes(state: Path) -> None:
    _cli(state, "stack", "up")
    info = json.loads((state / "stack.json").read_text())
    _cli(state, "migrate")
    reg = generate_registry(3)
    facility = reg.facilities[0].id
    photo_before, photo_after = os.urandom(300_000), os.urandom(200_000)  # not compressible: real bytes
    conn = await asyncpg.connect(info["database_url"])
    try:
        await load_registry(conn, reg)
        await _write_readings(conn, facility, "base", DAY0, 144)  # day 1
        await _signed_inspection(conn, facility, photo_before, DAY0 + timedelta(hours=10))
        _cli(state, "backup", "now")
        await conn.execute("SELECT pg_sleep(1.1)")  # pgBackRest keeps a backup's end to the second
        # after the backup: only the archived WAL has these
        await _write_readings(conn, facility, "kept", DAY0 + timedelta(days=1), 144)  # day 2: a new chunk
        inspection_kept = await _signed_inspection(conn, facility, photo_before[::-1], DAY0 + timedelta(days=1))
        expected = await _facts(conn)
        moment = await conn.fetchval("SELECT clock_timestamp()")
        await conn.execute("SELECT pg_sleep(1.2)")
        await _write_readings(conn, facility, "lost", DAY0 + timedelta(days=2), 144)  # day 3: after the moment
        await _signed_inspection(conn, facility, photo_after, DAY0 + timedelta(days=2))
        everything = await _facts(conn)
    finally:
        await conn.close()
    assert everything != expected and inspection_kept in expected["signed"]  # type: ignore[operator]
    _cli(state, "backup", "check")  # the last writes' WAL is in the archive too: the moment is inside it
    _cli(state, "stack", "down")
    lost = state / "pg" / "data"
    refused = _cli(state, "restore", "--to", moment.isoformat(), check=False)
    assert refused.returncode != 0 and "not empty" in refused.stderr + refused.stdout  # never over data
    lost.rename(state / "pg" / "data.lost")

    out = _cli(state, "restore", "--to", moment.isoformat()).stdout
    assert "restored to" in out
    conn = await asyncpg.connect(info["database_url"])
    try:
        assert await _facts(conn) == expected  # every committed row before the moment, none after
        assert not await conn.fetchval("SELECT pg_is_in_recovery()")
        await _write_readings(conn, facility, "after-restore", DAY0 + timedelta(days=5), 1)  # open for writing
    finally:
        await conn.close()
    backups = _cli(state, "backup", "list", "--json").stdout.splitlines()
    assert len(backups) == 1 and json.loads(backups[0])["kind"] == "full"


def test_restore_refuses_a_time_without_its_offset(state: Path) -> None:
    res = _cli(state, "restore", "--to", "2026-12-06 10:00", check=False)
    assert res.returncode == 2 and "offset" in res.stderr


def test_a_stack_without_backups_says_so(state: Path) -> None:
    os.environ["CAREWATCH_BACKUPS"] = "false"
    try:
        res = _cli(state, "backup", "list", check=False)
    finally:
        del os.environ["CAREWATCH_BACKUPS"]
    assert res.returncode == 1 and "backups are off" in res.stderr
