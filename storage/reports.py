"""Per-facility alert totals over a period (the facility report's numbers; the score is the web's)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from contract.rules import RuleId, Severity
from storage.users import Scope


async def alert_totals(
    conn: asyncpg.Connection,
    scope: Scope,
    start: datetime,
    end: datetime,
    county: str | None = None,
    township: str | None = None,
    *,
    now: datetime,
) -> list[asyncpg.Record]:
    """Per facility in scope: alerts opened in [start, end) by severity, mean minutes to acknowledge,
    and the minutes (clipped to the period, and to `now` for a period not yet over) of guard absence,
    ratio breach and devices offline."""
    end = min(end, now)  # an alert still open counts up to now, never into the future
    where, scope_args = scope.sql("f", start=3)
    args: list[Any] = [start, end, *scope_args]
    conds = [where]
    for col, val in (("f.county", county), ("f.township", township)):
        if val:
            args.append(val)
            conds.append(f"{col} = ${len(args)}")
    overlap = "greatest(0, extract(epoch FROM least(coalesce(a.cleared_at, $2), $2) - greatest(a.opened_at, $1)) / 60)"
    guard, ratio, offline, camera = (
        RuleId.GUARD_ABSENT,
        RuleId.RATIO_BREACH,
        RuleId.DEVICE_OFFLINE,
        RuleId.CAMERA_BLIND_SPOT,
    )
    in_period = "a.opened_at >= $1 AND a.opened_at < $2"
    by_severity = ", ".join(
        f"count(a.id) FILTER (WHERE {in_period} AND a.severity = '{s.value}') AS {s.value}" for s in Severity
    )
    return list(
        await conn.fetch(
            f"""SELECT f.id, f.name, f.county, f.township,
                   count(a.id) FILTER (WHERE a.opened_at >= $1 AND a.opened_at < $2) AS alerts,
                   {by_severity},
                   avg(extract(epoch FROM a.acknowledged_at - a.opened_at) / 60)
                     FILTER (WHERE a.acknowledged AND a.opened_at >= $1 AND a.opened_at < $2) AS mean_ack_minutes,
                   coalesce(sum({overlap}) FILTER (WHERE a.rule = '{guard}'), 0) AS minutes_without_guard,
                   coalesce(sum({overlap}) FILTER (WHERE a.rule = '{ratio}'), 0) AS minutes_below_ratio,
                   coalesce(sum({overlap}) FILTER (WHERE a.rule IN ('{offline}', '{camera}')), 0)
                     AS offline_minutes,
                   (SELECT count(*) FROM devices d WHERE d.facility_id = f.id) AS devices
            FROM facilities f
            LEFT JOIN alerts a ON a.facility_id = f.id AND a.opened_at < $2
                 AND coalesce(a.cleared_at, greatest($2, a.opened_at)) > $1
            WHERE {" AND ".join(conds)}
            GROUP BY f.id ORDER BY f.county, f.township, f.id""",
            *args,
        )
    )
