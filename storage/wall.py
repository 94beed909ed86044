"""The rows the duty-room wall (值班大屏, issue #41 item 4) shows beyond the overview's: the critical alerts of
the last hour, today's alerts and lapses by hour, and the orders waiting for 督办. SQL only: every bound
(`since`, the day's start, `now`) is the caller's, from the one clock the request carries; which severity
is life-safety is the alert's own (the rule configuration set it when the alert opened)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from storage.queries import OPEN_SQL, SUSPENDED_SQL, alert_json
from storage.statistics import area_where
from storage.users import Scope


async def critical_since(
    conn: asyncpg.Connection, scope: Scope, county: str | None, since: datetime, limit: int
) -> list[dict[str, Any]]:
    """Critical alerts in scope with evidence since `since` (opened, repeated or reopened), and every critical
    alert still open however old: an alarm nobody acknowledged never leaves the wall because an hour passed,
    and one the facility cleared stays listed (marked cleared) for its hour. Newest evidence first."""
    where, args = area_where(scope, county)
    args += [since, limit]
    rows = await conn.fetch(
        f"SELECT a.*, f.name AS facility_name, {SUSPENDED_SQL} AS facility_suspended FROM alerts a"
        f" JOIN facilities f ON f.id = a.facility_id WHERE {where} AND a.severity = 'critical'"
        f" AND (a.last_seen_at >= ${len(args) - 1} OR a.opened_at >= ${len(args) - 1} OR {OPEN_SQL})"
        f" ORDER BY a.last_seen_at DESC, a.id DESC LIMIT ${len(args)}",
        *args,
    )
    return [alert_json(r) | {"facility_suspended": r["facility_suspended"]} for r in rows]


async def by_hour(
    conn: asyncpg.Connection, scope: Scope, county: str | None, start: datetime, now: datetime
) -> dict[str, dict[int, int]]:
    """Alerts opened and lapses begun in [start, now), counted by whole hours since `start` (0 = the first
    hour): {"alerts": {hour: n}, "lapses": {hour: n}}. A lapse is a span the credit evaluation charges
    (lapse_intervals), whether or not it lasted long enough to raise an alert."""
    where, args = area_where(scope, county)
    args += [start, now]
    s, e = f"${len(args) - 1}", f"${len(args)}"
    out: dict[str, dict[int, int]] = {}
    for key, table, column in (("alerts", "alerts", "opened_at"), ("lapses", "lapse_intervals", "started_at")):
        rows = await conn.fetch(
            f"SELECT floor(extract(epoch FROM x.{column} - {s}) / 3600)::int AS hour, count(*) AS n"
            f" FROM {table} x JOIN facilities f ON f.id = x.facility_id"
            f" WHERE {where} AND x.{column} >= {s} AND x.{column} < {e} GROUP BY 1",
            *args,
        )
        out[key] = {int(r["hour"]): int(r["n"]) for r in rows}
    return out


async def followups(
    conn: asyncpg.Connection, scope: Scope, county: str | None, now: datetime, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    """督办 waiting: the open rectification orders in scope that are unanswered past their due date in force
    at `now`, or whose supervision has gone up from the issuing level. Their number, and the `limit` most
    urgent (the longest overdue first)."""
    where, args = area_where(scope, county)
    args.append(now)
    p = f"${len(args)}"
    cond = (
        f"o.status <> 'accepted' AND ((o.status IN ('issued', 'returned') AND o.due_at < {p})"
        " OR o.supervision_level <> o.issued_level)"
    )
    base = f"FROM rectification_orders o JOIN facilities f ON f.id = o.facility_id WHERE {where} AND {cond}"
    total: int = await conn.fetchval(f"SELECT count(*) {base}", *args)
    args.append(limit)
    rows = await conn.fetch(
        f"SELECT o.id, o.facility_id, f.name AS facility_name, o.title, o.status, o.due_at, o.supervision_level,"
        f" o.issued_level, (o.status IN ('issued', 'returned') AND o.due_at < {p}) AS overdue"
        f" {base} ORDER BY o.due_at, o.id LIMIT ${len(args)}",
        *args,
    )
    return total, [dict(r) for r in rows]
