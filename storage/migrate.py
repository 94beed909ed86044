"""Schema migrations: numbered SQL files in ingest/migrations, tracked in `schema_migrations`.

Each file is applied once, in its own transaction, under an advisory lock so that several
services starting together never race. After the SQL files, TimescaleDB features that only the
Timescale-License edition has (compression, continuous aggregates, policies) are set up when the
server has them; the Apache edition gets the same results from ingest's maintenance job.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources

import asyncpg

from contract.retention import RETENTION, ROLLUP_RETENTION, retention_days

__all__ = ["RETENTION", "ROLLUP_RETENTION", "Features", "detect_features", "migrate", "retention_days"]

logger = logging.getLogger(__name__)

MIGRATION_LOCK = 7_240_001  # advisory lock id, arbitrary but fixed


@dataclass(frozen=True, slots=True)
class Features:
    """What the connected TimescaleDB can do."""

    version: str
    license: str  # 'apache' or 'timescale'

    @property
    def community(self) -> bool:
        """Compression, continuous aggregates and policies need the Timescale License."""
        return self.license == "timescale"


async def detect_features(conn: asyncpg.Connection) -> Features:
    version = await conn.fetchval("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
    lic = await conn.fetchval("SELECT current_setting('timescaledb.license', true)")
    return Features(version=version or "", license=lic or "apache")


def _migration_files() -> list[tuple[int, str, str]]:
    files = []
    for entry in resources.files("storage.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            files.append((int(name[:3]), name, entry.read_text(encoding="utf-8")))
    return sorted(files)


# Called inside each migration's transaction, after its SQL and before its commit: what it holds then
# it holds until the commit (tests/test_upgrade.py looks at its locks).
BeforeCommit = Callable[[asyncpg.Connection, str], Awaitable[None]]


async def migrate(
    conn: asyncpg.Connection, upto: int | None = None, before_commit: BeforeCommit | None = None
) -> list[str]:
    """Apply pending migrations (up to version `upto`, when given: the rollup, the policies and the
    services' grants only with the last); return the names applied (empty when up to date)."""
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        files = _migration_files()
        for version, name, sql in files:
            if version in done or (upto is not None and version > upto):
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name)
                if before_commit is not None:
                    await before_commit(conn, name)
            logger.info("applied migration %s", name)
            applied.append(name)
        if upto is not None and upto < files[-1][0]:
            return applied
        await _ensure_rollup_and_policies(conn, await detect_features(conn))
        from storage.roles import grant_service_roles  # here: storage.roles reads this module

        await grant_service_roles(conn)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    return applied


async def _ensure_rollup_and_policies(conn: asyncpg.Connection, features: Features) -> None:
    """readings_hourly (bucket, facility_id, device_id, metric, n, sum, min, max), either way."""
    exists = await conn.fetchval("SELECT to_regclass('readings_hourly') IS NOT NULL")
    if features.community:
        if not exists:
            await conn.execute(
                "CREATE MATERIALIZED VIEW readings_hourly WITH (timescaledb.continuous) AS"
                " SELECT time_bucket(INTERVAL '1 hour', time) AS bucket, facility_id, device_id, metric,"
                " count(*) AS n, sum(value) AS sum, min(value) AS min, max(value) AS max"
                " FROM readings GROUP BY 1, 2, 3, 4 WITH NO DATA"
            )
            await conn.execute(
                "SELECT add_continuous_aggregate_policy('readings_hourly', start_offset => INTERVAL '3 days',"
                " end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes', if_not_exists => true)"
            )
        # the rollup too (a continuous aggregate takes a retention policy like a hypertable): 800 days
        for table, keep in {**RETENTION, "readings_hourly": ROLLUP_RETENTION}.items():
            await conn.execute(f"SELECT add_retention_policy('{table}', INTERVAL '{keep}', if_not_exists => true)")
        await conn.execute(
            "ALTER TABLE readings SET (timescaledb.compress,"
            " timescaledb.compress_segmentby = 'facility_id, device_id, metric')"
        )
        await conn.execute("SELECT add_compression_policy('readings', INTERVAL '7 days', if_not_exists => true)")
        return
    if not exists:
        await conn.execute(
            "CREATE TABLE readings_hourly ("
            " bucket timestamptz NOT NULL, facility_id text NOT NULL, device_id text NOT NULL, metric text NOT NULL,"
            " n bigint NOT NULL, sum double precision NOT NULL, min double precision NOT NULL,"
            " max double precision NOT NULL, PRIMARY KEY (facility_id, device_id, metric, bucket))"
        )
        await conn.execute("SELECT create_hypertable('readings_hourly', by_range('bucket', INTERVAL '30 days'))")
