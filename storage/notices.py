"""The rows behind messages about supervision that are neither an alert's nor an order's (migration 046): who
inspects an area, and the deadlines of complaints and filings told to the level above once. What is late and
what is said is supervision/notices.py's; the outbox is storage/notifications.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from storage.notifications import _COLUMNS, Subscription

_TABLES = {"complaint": "complaints", "filing": "filings"}


async def area_subscriptions(conn: asyncpg.Connection, area: str) -> list[Subscription]:
    """Enabled subscriptions of the active inspectors of exactly `area`: a county's code, its county inspectors;
    a township's, its township inspectors (the department a circular names)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM notification_subscriptions s JOIN users u ON u.id = s.user_id"
        " WHERE s.enabled AND NOT u.disabled AND u.role = 'inspector' AND CASE WHEN length($1) = 9"
        " THEN u.scope_township = $1 ELSE u.scope_county = $1 AND u.scope_township IS NULL END ORDER BY s.id",
        area,
    )
    return [Subscription.of(r) for r in rows]


async def flag_overdue(
    conn: asyncpg.Connection,
    kind: str,
    statuses: Sequence[str],
    level: str,
    now: datetime,
    facilities: list[str] | None = None,
) -> list[asyncpg.Record]:
    """Mark each complaint or filing (`kind`) in one of `statuses` whose deadline is at or before `now` as told
    to `level`, once per deadline (the table's key); returns only those marked now (kind, subject_id, due_at,
    facility_id)."""
    table = _TABLES[kind]
    return list(
        await conn.fetch(
            "INSERT INTO overdue_notices (kind, subject_id, due_at, facility_id, level, told_at)"
            f" SELECT $1, x.id, x.due_at, x.facility_id, $3, $4 FROM {table} x"
            " WHERE x.status = ANY($2::text[]) AND x.due_at <= $4 AND NOT EXISTS (SELECT 1 FROM overdue_notices n"
            " WHERE n.kind = $1 AND n.subject_id = x.id AND n.due_at = x.due_at)"
            + ("" if facilities is None else " AND x.facility_id = ANY($5::text[])")
            + " ON CONFLICT DO NOTHING RETURNING kind, subject_id, due_at, facility_id",
            kind,
            list(statuses),
            level,
            now,
            *([] if facilities is None else [facilities]),
        )
    )
