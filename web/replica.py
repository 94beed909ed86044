"""Reads from a hot standby (issue #43 item 4): the report pages' heavy, read-only queries may go to the
streaming-replication standby (runtime/standby.py) instead of the primary that ingest and the alert engine
write to.

Only reads that may lag the primary by a moment go there: the statistics (信息统计监测, page, API and CSV) and
the public pages. Anything that shows live state, decides, or reads what the same request or the one before it
wrote (the overview, an alert, an order) stays on the primary: under synchronous replication a standby has a
commit on disk when the primary returns, but may not have applied it yet.

A standby that cannot be reached costs no page: the read falls back to the primary at once, and the standby is
not tried again for `RETRY_S` seconds (each fallback is logged and counted: `carewatch_web_replica_fallbacks`).
Connections to it are read-only by their session settings, so a query that would write fails there rather than
writing to the wrong place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import asyncpg
from prometheus_client import Counter

from contract.clock import Clock

log = logging.getLogger(__name__)
RETRY_S = 30.0
CONNECT_TIMEOUT_S = 2.0
FALLBACKS = Counter(
    "carewatch_web_replica_fallbacks", "report reads served by the primary: the standby was out of reach"
)


class Replica:
    """The standby's pool, if one is configured (`CAREWATCH_READ_DATABASE_URL`)."""

    def __init__(self, url: str | None, clock: Clock) -> None:
        self.url = url
        self.clock = clock
        self.pool: asyncpg.Pool | None = None
        self.down_until = 0.0

    async def start(self) -> None:
        if self.url:
            # min_size=0: nothing is connected at start, so a standby that is down delays no start-up
            self.pool = await asyncpg.create_pool(
                self.url,
                min_size=0,
                max_size=4,
                timeout=CONNECT_TIMEOUT_S,
                server_settings={"default_transaction_read_only": "on", "application_name": "carewatch-web-reports"},
            )

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    @contextlib.asynccontextmanager
    async def acquire(self, primary: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
        """A connection for a report's reads: the standby's when it is configured and reachable, else the primary's."""
        conn = await self._standby_conn()
        if conn is None:
            async with primary.acquire() as conn:
                yield conn
            return
        assert self.pool is not None  # noqa: S101 - a standby connection comes from its pool
        try:
            yield conn
        finally:
            await self.pool.release(conn)

    async def _standby_conn(self) -> asyncpg.Connection | None:
        if self.pool is None or self.clock.monotonic() < self.down_until:
            return None
        try:
            return await asyncio.wait_for(self.pool.acquire(), CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            self.down_until = self.clock.monotonic() + RETRY_S
            FALLBACKS.inc()
            log.warning("the standby for reports is out of reach (%s): the primary serves for %.0f s", err, RETRY_S)
            return None
