"""Maintenance windows (table maintenance_windows): while one is open, a device's or a facility's
alerts are recorded as muted and notify nobody."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg


async def in_maintenance(conn: asyncpg.Connection, facility_id: str, device_id: str | None, at: datetime) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM maintenance_windows WHERE facility_id = $1"
            " AND (device_id IS NULL OR device_id = $2) AND starts_at <= $3 AND ends_at > $3)",
            facility_id,
            device_id,
            at,
        )
    )


def window_json(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": r["id"],
        "facility_id": r["facility_id"],
        "device_id": r["device_id"],
        "starts_at": r["starts_at"].isoformat(),
        "ends_at": r["ends_at"].isoformat(),
        "reason": r["reason"],
        "author": r["author"],
        "created_at": r["created_at"].isoformat(),
    }


async def windows(
    conn: asyncpg.Connection, facility_id: str, now: datetime, include_past: bool = False
) -> list[dict[str, Any]]:
    """The facility's maintenance windows not yet ended at `now` (every one with `include_past`)."""
    rows = await conn.fetch(
        "SELECT * FROM maintenance_windows WHERE facility_id = $1"
        + ("" if include_past else " AND ends_at > $2")
        + " ORDER BY starts_at DESC LIMIT 200",
        facility_id,
        *(() if include_past else (now,)),
    )
    return [window_json(r) for r in rows]


async def create_window(
    conn: asyncpg.Connection,
    facility_id: str,
    device_id: str | None,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    author: str,
) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO maintenance_windows (facility_id, device_id, starts_at, ends_at, reason, author)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
        facility_id,
        device_id,
        starts_at,
        ends_at,
        reason,
        author,
    )
