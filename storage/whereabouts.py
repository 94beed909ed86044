"""Where a child left on site after closing is (issue #42 item 3, migration 030): recorded by a person
with a note against the child's `child_not_collected` alert, read by the alert engine, which clears the
alert as a badge-out at that time would. The record acknowledges the alert with the note, so that the
alert stays on the record, for the inspectors, as resolved by it. Only ever added."""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg

from storage.alerts import notify_acknowledged
from storage.users import Scope, audit

RULE = "child_not_collected"


class NotAChildAlert(Exception):
    """The alert is not an active alert about a child left on site."""


async def record(
    conn: asyncpg.Connection, scope: Scope, alert_id: int, actor: str, note: str, now: datetime
) -> asyncpg.Record | None:
    """Record where the child of an active `child_not_collected` alert in scope is; None when there is no
    such alert in scope (NotAChildAlert when there is an alert, of another kind or no longer active)."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT a.*, f.county, f.township FROM alerts a JOIN facilities f ON f.id = a.facility_id WHERE a.id = $1",
            alert_id,
        )
        if row is None or not scope.allows(
            {"id": row["facility_id"], "county": row["county"], "township": row["township"]}
        ):
            return None
        if row["rule"] != RULE or row["status"] != "active" or not row["subject"]:
            raise NotAChildAlert(f"alert {alert_id} is not an active alert about a child still on site")
        await conn.execute(
            "INSERT INTO child_whereabouts (facility_id, child_id, alert_id, note, recorded_by, recorded_at)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            row["facility_id"],
            row["subject"],
            alert_id,
            note,
            actor,
            now,
        )
        updated = await conn.fetchrow(
            "UPDATE alerts SET acknowledged = true, acknowledged_at = coalesce(acknowledged_at, $4),"
            " acknowledged_by = $2, note = $3 WHERE id = $1 RETURNING *",
            alert_id,
            actor,
            note,
            now,
        )
        await conn.execute(
            "INSERT INTO alert_history (alert_id, action, actor, detail, at) VALUES ($1, 'whereabouts', $2, $3, $4)",
            alert_id,
            actor,
            json.dumps({"note": note}, ensure_ascii=False),
            now,
        )
        await audit(conn, actor, "alert.whereabouts", str(alert_id), {"child": row["subject"], "note": note}, at=now)
        await notify_acknowledged(conn, alert_id, row)
    return updated


async def recorded(
    conn: asyncpg.Connection, since: datetime, facilities: list[str] | None = None
) -> list[asyncpg.Record]:
    """The records since `since` (of those facilities; None: all), oldest first."""
    where = "" if facilities is None else " AND facility_id = ANY($2::text[])"
    args = [] if facilities is None else [facilities]
    return list(
        await conn.fetch(
            f"SELECT facility_id, child_id, recorded_at FROM child_whereabouts WHERE recorded_at > $1{where}"
            " ORDER BY recorded_at",
            since,
            *args,
        )
    )
