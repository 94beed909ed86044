"""Maintenance windows (table maintenance_windows, migrations 003 and 023): stored and read here, decided
in supervision/maintenance.py. Only an approved window has any effect: while one is open, the health of
the devices under it is recorded as muted (alerts.lifecycle.may_mute says which rules): kept from the
supervisors, still sent to the facility. It excuses nothing in the credit evaluation. A requested,
rejected or withdrawn window is a record and nothing more."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from storage.users import Scope

APPROVED = "approved"


async def in_maintenance(conn: asyncpg.Connection, facility_id: str, device_id: str | None, at: datetime) -> bool:
    """Whether an approved window over the device (or the whole facility) is open at `at`."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM maintenance_windows WHERE facility_id = $1 AND status = 'approved'"
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
        "status": r["status"],
        "requested_by": r["requested_by"],
        "decided_by": r["decided_by"],
        "decided_at": r["decided_at"].isoformat() if r["decided_at"] else None,
        "decision_reason": r["decision_reason"],
    }


async def windows(
    conn: asyncpg.Connection, facility_id: str, now: datetime, include_past: bool = False
) -> list[dict[str, Any]]:
    """The facility's maintenance windows, of every status, not yet ended at `now` (every one with
    `include_past`)."""
    rows = await conn.fetch(
        "SELECT * FROM maintenance_windows WHERE facility_id = $1"
        + ("" if include_past else " AND ends_at > $2")
        + " ORDER BY starts_at DESC LIMIT 200",
        facility_id,
        *(() if include_past else (now,)),
    )
    return [window_json(r) for r in rows]


async def window(conn: asyncpg.Connection, facility_id: str, window_id: int) -> asyncpg.Record | None:
    """One window of the facility (None: not this facility's)."""
    return await conn.fetchrow(
        "SELECT * FROM maintenance_windows WHERE facility_id = $1 AND id = $2", facility_id, window_id
    )


async def lock_facility(conn: asyncpg.Connection, facility_id: str) -> None:
    """Serialise the window decisions of one facility until the transaction ends, so two approvals at
    once cannot both fit the same monthly total."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('maintenance_windows'), hashtext($1))", facility_id)


async def spans(
    conn: asyncpg.Connection, facility_id: str, start: datetime, end: datetime, statuses: tuple[str, ...]
) -> list[asyncpg.Record]:
    """The facility's windows in the given states that overlap [start, end)."""
    return list(
        await conn.fetch(
            "SELECT id, device_id, starts_at, ends_at, status FROM maintenance_windows WHERE facility_id = $1"
            " AND status = ANY($2) AND starts_at < $4 AND ends_at > $3 ORDER BY starts_at",
            facility_id,
            list(statuses),
            start,
            end,
        )
    )


async def create_window(
    conn: asyncpg.Connection,
    facility_id: str,
    device_id: str | None,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    author: str,
    *,
    status: str = "requested",
    decided_at: datetime | None = None,
) -> asyncpg.Record:
    """Store a window as `requested` by `author`; `approved` (with `decided_at`) when the author is an
    inspector setting it directly, who is then its decider too. Decides nothing itself."""
    return await conn.fetchrow(
        "INSERT INTO maintenance_windows (facility_id, device_id, starts_at, ends_at, reason, author, status,"
        " requested_by, decided_by, decided_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $6,"
        " CASE WHEN $7 = 'requested' THEN NULL ELSE $6 END, $8) RETURNING *",
        facility_id,
        device_id,
        starts_at,
        ends_at,
        reason,
        author,
        status,
        decided_at,
    )


async def decide(
    conn: asyncpg.Connection, window_id: int, status: str, actor: str, reason: str | None, at: datetime
) -> asyncpg.Record | None:
    """Move a pending request to `status` (approved, rejected, withdrawn); None when it is no longer
    pending (someone else decided first)."""
    return await conn.fetchrow(
        "UPDATE maintenance_windows SET status = $2, decided_by = $3, decision_reason = $4, decided_at = $5"
        " WHERE id = $1 AND status = 'requested' RETURNING *",
        window_id,
        status,
        actor,
        reason,
        at,
    )


async def pending(conn: asyncpg.Connection, scope: Scope, now: datetime, limit: int = 100) -> list[dict[str, Any]]:
    """Requests awaiting a decision in the scope's facilities, not yet ended at `now`, soonest first."""
    where, args = scope.sql("f", start=2)
    rows = await conn.fetch(
        "SELECT m.*, f.name AS facility_name, f.timezone FROM maintenance_windows m"
        f" JOIN facilities f ON f.id = m.facility_id WHERE m.status = 'requested' AND m.ends_at > $1 AND {where}"
        f" ORDER BY m.starts_at LIMIT {int(limit)}",
        now,
        *args,
    )
    return [window_json(r) | {"facility_name": r["facility_name"], "timezone": r["timezone"]} for r in rows]
