"""The intake's clock (migration 019, CONTRACT §4): how far the platform has stored what the broker
had, so that silence is judged as of what the platform could have heard.

Ingest reports every few seconds (`beat`): the time up to which it had stored everything the broker
had sent it, and the seconds of the hour it spent so. The web reads `state` and judges a gateway's or
a device's silence as of `as_of`; the credit evaluation reads `listened` and charges darkness only
for the part of an hour in which the platform listened.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

BEAT_S = 5.0  # how often an ingest worker reports
# Past this, the intake is shown as stopped (no worker reported) or behind (reporting, not caught up):
# a worker reconnects to the broker within seconds, and a batch is stored within a second or two.
STALE_S = 60.0


# The time silence may be judged at, from the workers' reports: the earliest caught-up time of the
# workers still reporting (one behind holds back all: with a shared subscription, any facility's
# messages may be in its backlog), else, with none reporting, the latest of any; plus one report's
# interval, never past `now`. A worker reporting that has never caught up yet counts as none. `now` is
# an SQL expression for the caller's one clock reading (contract.clock), usually a parameter `$N`.
def _as_of(now: str) -> str:
    return f"""CASE WHEN max(beat_at) IS NULL THEN {now}
     ELSE least({now}, coalesce(
         coalesce(min(caught_up_at) FILTER (WHERE beat_at > {now} - make_interval(secs => {STALE_S})),
                  max(caught_up_at)) + make_interval(secs => {BEAT_S}),
         max(beat_at))) END"""


def as_of_sql(now: str) -> str:
    """The same in a query that judges silence (storage.queries): `now` where no worker ever reported.
    An uncorrelated subquery: PostgreSQL evaluates it once per query (an InitPlan)."""
    return f"(SELECT {_as_of(now)} FROM intake_clock)"


# The platform's last gap (migration 020): from the latest time any worker still reporting had stored
# everything before it lost the broker (plus one report's interval, as `as_of` counts it), to the
# earliest time one of them was connected again. Empty (no shift) where the gaps of two workers do not
# overlap: one listened while the other could not.
def _live(now: str) -> str:
    return f"beat_at > {now} - make_interval(secs => {STALE_S})"


def _heard_again(now: str) -> str:
    return f"(SELECT min(listening_since) FROM intake_clock WHERE {_live(now)})"


def _deaf_from(now: str) -> str:
    return (
        f"(SELECT coalesce(max(deaf_from) + make_interval(secs => {BEAT_S}), min(listening_since))"
        f" FROM intake_clock WHERE {_live(now)})"
    )


def heard_sql(last_seen: str, heartbeat_s: str, now: str) -> str:
    """A device's last sign of life `last_seen` (an SQL expression) moved by the platform's last gap
    that came after it: its silence goes on from where it stood when the platform went deaf, or, after
    a gap longer than its heartbeat `heartbeat_s`, from one heartbeat before the platform heard again,
    whichever is earlier, as the alert engine counts it (alerts.engine.AlertEngine.resume). NULL stays
    NULL; with no gap, `last_seen` as it is. `now`: the caller's clock reading, as an SQL expression."""
    again = _heard_again(now)
    shifted = f"{last_seen} + greatest(interval '0', {again} - greatest({_deaf_from(now)}, {last_seen}))"
    restarted = f"greatest({last_seen}, {again} - make_interval(secs => {heartbeat_s}))"
    return f"least({shifted}, {restarted})"


# How long after the platform heard again its last gap (of a minute or more) is told on the pages: a device
# silent since before the gap shows online although its last report is older than its offline threshold.
GAP_NOTE_S = 3600.0


@dataclass(frozen=True)
class IntakeState:
    as_of: datetime  # everything the broker had by then is stored (AS_OF_SQL)
    beat_at: datetime  # the newest report of any worker
    now: datetime  # the caller's clock reading it was judged at
    deaf_from: datetime | None = None  # the platform's last gap (heard_sql): from, as the web counts it
    heard_again: datetime | None = None  # ... to

    @property
    def gap(self) -> tuple[datetime, datetime] | None:
        """The platform's last gap, while it is recent (GAP_NOTE_S) and a minute or longer (shorter, it
        changes no device's state by more than that), else None."""
        g, h = self.deaf_from, self.heard_again
        if g is None or h is None or (h - g).total_seconds() < STALE_S or (self.now - h).total_seconds() > GAP_NOTE_S:
            return None
        return g, h

    @property
    def condition(self) -> str:
        """One of ok, behind (a worker reports but is reading a backlog) or stopped (none reports)."""
        if (self.now - self.beat_at).total_seconds() > STALE_S:
            return "stopped"
        if (self.now - self.as_of).total_seconds() > STALE_S:
            return "behind"
        return "ok"

    def as_json(self) -> dict[str, object]:
        gap = self.gap
        return {
            "state": self.condition,
            "as_of": self.as_of.isoformat(),
            "behind_s": round(max(0.0, (self.now - self.as_of).total_seconds())),
            # the platform's last gap, within the last hour: not counted as any device's silence
            "gap": {"from": gap[0].isoformat(), "to": gap[1].isoformat()} if gap else None,
        }


async def state(conn: asyncpg.Connection, now: datetime) -> IntakeState | None:
    """The intake's state at `now`, or None where no ingest worker has ever reported (judged by the
    clock alone, as before migration 019)."""
    n = "$1::timestamptz"
    r = await conn.fetchrow(
        f"SELECT {_as_of(n)} AS a, max(beat_at) AS b, {_deaf_from(n)} AS g, {_heard_again(n)} AS h FROM intake_clock",
        now,
    )
    if r is None or r["b"] is None:
        return None
    return IntakeState(r["a"], r["b"], now, r["g"], r["h"])


def split_hours(start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    """[start, end) as (UTC hour, seconds of it)."""
    out = []
    t = start
    while t < end:
        hour = t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        nxt = min(end, hour + timedelta(hours=1))
        out.append((hour, (nxt - t).total_seconds()))
        t = nxt
    return out


async def beat(
    conn: asyncpg.Connection,
    worker: str,
    caught_up_at: datetime | None,
    listened: Iterable[tuple[datetime, float]],
    listening_since: datetime | None = None,
    deaf_from: datetime | None = None,
    *,
    now: datetime,
) -> None:
    """One worker's report at `now`, by its clock: caught up to `caught_up_at` (None: not yet since it
    started), the seconds of each hour it listened since its last report, since when it has been connected (None: it is
    not), and up to when it had stored everything before it last lost the broker (None: this process
    never has; then a new connection takes the last caught-up time its previous run reported)."""
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO intake_clock (worker, caught_up_at, beat_at, listening_since, deaf_from)"
            " VALUES ($1, $2, $5, $3, $4)"
            " ON CONFLICT (worker) DO UPDATE SET beat_at = EXCLUDED.beat_at,"
            " caught_up_at = greatest(intake_clock.caught_up_at, EXCLUDED.caught_up_at),"
            " deaf_from = CASE WHEN EXCLUDED.listening_since IS DISTINCT FROM intake_clock.listening_since"
            "   AND EXCLUDED.listening_since IS NOT NULL"
            "   THEN coalesce(EXCLUDED.deaf_from, intake_clock.caught_up_at) ELSE intake_clock.deaf_from END,"
            " listening_since = EXCLUDED.listening_since",
            worker,
            caught_up_at,
            listening_since,
            deaf_from,
            now,
        )
        rows = [(h, worker, s) for h, s in listened if s > 0]
        if rows:
            await conn.executemany(
                "INSERT INTO intake_hours (hour, worker, up_s) VALUES ($1, $2, least($3::real, 3600))"
                " ON CONFLICT (hour, worker) DO UPDATE SET up_s = least(intake_hours.up_s + EXCLUDED.up_s, 3600)",
                rows,
            )


async def listened(
    conn: asyncpg.Connection, start: datetime, end: datetime
) -> tuple[datetime | None, dict[datetime, float]]:
    """(the first hour any worker ever reported, or None; the platform's listening seconds per UTC hour
    of [start, end), the greatest over the workers). Hours before the first report are unknown."""
    first = await conn.fetchval("SELECT min(hour) FROM intake_hours")
    rows = await conn.fetch(
        "SELECT hour, max(up_s) AS up FROM intake_hours WHERE hour >= date_trunc('hour', $1::timestamptz)"
        " AND hour < $2 GROUP BY hour",
        start,
        end,
    )
    return first, {r["hour"]: float(r["up"]) for r in rows}
