"""Login attempts (table login_attempts): the login throttle's counts, shared by every web process.

`reserve` takes the attempt before the password is hashed, in one transaction that holds a lock per
name and per address: two processes (or two requests) racing for the last allowed try of a name
cannot both have it. Whether the attempt may go ahead is the caller's decision (web.throttle), taken
inside that transaction from the counts read here; storage only reads and writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg


@dataclass(frozen=True, slots=True)
class Counts:
    """Failures (and attempts still being checked) within the window, each with its oldest time."""

    pair: int  # this name from this address
    pair_oldest: datetime | None
    address: int  # any name from this address
    address_oldest: datetime | None
    name: int  # this name from anywhere
    name_oldest: datetime | None
    known: bool  # this name has logged in from this address before (within `known_for`)
    now: datetime


_COUNTS = """
WITH p AS (SELECT $1::text AS name, $2::text AS addr, $3::timestamptz - $4::interval AS since,
                  $3::timestamptz - $5::interval AS known_since)
SELECT
    count(*) FILTER (WHERE pair AND fail AND at > p.since) AS pair,
    min(at) FILTER (WHERE pair AND fail AND at > p.since) AS pair_oldest,
    count(*) FILTER (WHERE address = p.addr AND fail AND at > p.since) AS address,
    min(at) FILTER (WHERE address = p.addr AND fail AND at > p.since) AS address_oldest,
    count(*) FILTER (WHERE username = p.name AND fail AND at > p.since) AS name,
    min(at) FILTER (WHERE username = p.name AND fail AND at > p.since) AS name_oldest,
    coalesce(bool_or(pair AND outcome = 'ok' AND at > p.known_since), false) AS known
FROM p, LATERAL (
    SELECT username, address, at, outcome, username = p.name AND address = p.addr AS pair, outcome <> 'ok' AS fail
    FROM login_attempts
    WHERE (username = p.name OR address = p.addr) AND at > least(p.since, p.known_since)
) a
"""


async def reserve(
    conn: asyncpg.Connection,
    username: str,
    address: str,
    now: datetime,
    window: timedelta,
    known_for: timedelta,
    decide: Callable[[Counts], float],
) -> tuple[int | None, float]:
    """(the attempt's id, 0) when `decide` allows it (0 s to wait), else (None, seconds to wait).
    The attempt counts as a failure until `finish` says otherwise."""
    async with conn.transaction():
        for key in sorted({f"name:{username}", f"address:{address}"}):
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 38))", key)
        r = await conn.fetchrow(_COUNTS, username, address, now, window, known_for)
        wait = decide(Counts(**dict(r), now=now))
        if wait > 0:
            return None, wait
        attempt: int = await conn.fetchval(
            "INSERT INTO login_attempts (username, address, at) VALUES ($1, $2, $3) RETURNING id",
            username,
            address,
            now,
        )
    return attempt, 0.0


async def finish(
    conn: asyncpg.Connection, attempt: int, ok: bool, now: datetime, window: timedelta, known_for: timedelta
) -> None:
    """The attempt's outcome. A success forgives that name's failures from that address; rows past
    their use (failures after the window, successes after `known_for`) are pruned, a few at a time."""
    row = await conn.fetchrow(
        "UPDATE login_attempts SET outcome = $2 WHERE id = $1 RETURNING username, address, at",
        attempt,
        "ok" if ok else "failed",
    )
    if row is not None and ok:
        await conn.execute(
            "DELETE FROM login_attempts WHERE username = $1 AND address = $2 AND outcome = 'failed'",
            row["username"],
            row["address"],
        )
    await conn.execute(
        "DELETE FROM login_attempts WHERE id IN (SELECT id FROM login_attempts"
        " WHERE at < $1::timestamptz - $2::interval AND (outcome <> 'ok' OR at < $1::timestamptz - $3::interval)"
        " ORDER BY at LIMIT 100)",
        now,
        window,
        known_for,
    )
