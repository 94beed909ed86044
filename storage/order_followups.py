"""复查 and extensions of rectification orders (migration 035): the rows; who may and when is
supervision/followups.py."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg


async def set_recheck(conn: asyncpg.Connection, order_id: int) -> None:
    """The order waits for its 复查 (status 'recheck')."""
    await conn.execute("UPDATE rectification_orders SET status = 'recheck' WHERE id = $1", order_id)


async def link_recheck(conn: asyncpg.Connection, order_id: int, inspection_id: int, actor: str, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO order_rechecks (order_id, inspection_id, planned_by, planned_at) VALUES ($1, $2, $3, $4)",
        order_id,
        inspection_id,
        actor,
        now,
    )


async def order_of_recheck(conn: asyncpg.Connection, inspection_id: int) -> int | None:
    """The order an inspection is the 复查 of; None for an inspection of its own."""
    oid: int | None = await conn.fetchval("SELECT order_id FROM order_rechecks WHERE inspection_id = $1", inspection_id)
    return oid


async def latest_recheck(conn: asyncpg.Connection, order_id: int) -> dict[str, Any] | None:
    """The order's latest 复查 with its inspection's state and the items it failed (None: never asked for)."""
    r = await conn.fetchrow(
        "SELECT k.inspection_id, k.planned_by, k.planned_at, i.planned_for, i.status, i.findings"
        " FROM order_rechecks k JOIN inspections i ON i.id = k.inspection_id WHERE k.order_id = $1"
        " ORDER BY k.planned_at DESC, k.inspection_id DESC LIMIT 1",
        order_id,
    )
    if r is None:
        return None
    findings = json.loads(r["findings"]) if isinstance(r["findings"], str) else dict(r["findings"])
    return {
        "inspection_id": r["inspection_id"],
        "planned_by": r["planned_by"],
        "planned_at": r["planned_at"].isoformat(),
        "planned_for": r["planned_for"].isoformat(),
        "status": r["status"],
        "failed": sorted(code for code, f in findings.items() if f.get("result") == "fail"),
    }


async def extension(conn: asyncpg.Connection, order_id: int, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM order_extensions WHERE order_id = $1" + (" FOR UPDATE" if lock else ""), order_id
    )


async def request_extension(
    conn: asyncpg.Connection,
    order_id: int,
    actor: str,
    reason: str,
    previous_due: datetime,
    requested_due: datetime,
    now: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO order_extensions (order_id, requested_by, requested_at, reason, previous_due, requested_due)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        order_id,
        actor,
        now,
        reason,
        previous_due,
        requested_due,
    )


async def decide_extension(
    conn: asyncpg.Connection, order_id: int, status: str, actor: str, reason: str, now: datetime
) -> None:
    await conn.execute(
        "UPDATE order_extensions SET status = $2, decided_by = $3, decided_at = $4, decision_reason = $5"
        " WHERE order_id = $1",
        order_id,
        status,
        actor,
        now,
        reason,
    )


async def set_due(conn: asyncpg.Connection, order_id: int, due: datetime) -> None:
    """The due date in force (what 督办 and 'overdue' judge by); the original stays in first_due_at."""
    await conn.execute("UPDATE rectification_orders SET due_at = $2 WHERE id = $1", order_id, due)


def extension_json(r: asyncpg.Record | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {
        "requested_by": r["requested_by"],
        "requested_at": r["requested_at"].isoformat(),
        "reason": r["reason"],
        "previous_due": r["previous_due"].isoformat(),
        "requested_due": r["requested_due"].isoformat(),
        "status": r["status"],
        "decided_by": r["decided_by"],
        "decided_at": r["decided_at"].isoformat() if r["decided_at"] else None,
        "decision_reason": r["decision_reason"],
    }
