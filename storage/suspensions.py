"""责令停业整改 (table facility_suspensions, migration 038): stored and read here, decided in
supervision/suspensions.py. A suspension in force is shown wherever the facility is (IN_FORCE_SQL, in the
SELECT lists of the pages' queries); it closes no day: nothing here reaches the opening hours the alert
engine and the credit evaluation read (storage.closures.APPROVED_FOR_FACILITY is the only way a day closes).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import asyncpg

from storage.users import Scope

# whether facility row `f` is under a suspension in force, for a SELECT list (… AS suspended)
IN_FORCE_SQL = "EXISTS (SELECT 1 FROM facility_suspensions s WHERE s.facility_id = f.id AND s.lifted_at IS NULL)"
# children badged in during a suspension `s` (in force or up to its lift): the count and the first one
_CHILDREN_DURING = (
    "SELECT count(*) AS n, min(a.time) AS first FROM access_events a WHERE a.facility_id = s.facility_id"
    " AND a.type = 'child_in' AND a.time >= s.issued_at AND (s.lifted_at IS NULL OR a.time < s.lifted_at)"
)


def suspension_json(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": r["id"],
        "facility_id": r["facility_id"],
        "facility_name": r["facility_name"],
        "reasons": r["reasons"],
        "order_ids": list(r["order_ids"]),
        "issued_by": r["issued_by"],
        "issued_level": r["issued_level"],
        "issued_at": r["issued_at"].isoformat(),
        "in_force": r["lifted_at"] is None,
        "lifted_by": r["lifted_by"],
        "lifted_at": r["lifted_at"].isoformat() if r["lifted_at"] else None,
        "lift_reason": r["lift_reason"],
        "recheck_inspection_id": r["recheck_inspection_id"],
        # 停业整改期间有幼儿在园: the supervision side's flag (the engine judges those days as open days)
        "children_badged_in": r["children_n"],
        "first_child_in": r["children_first"].isoformat() if r["children_first"] else None,
    }


_SELECT = (
    "SELECT s.*, f.name AS facility_name, k.n AS children_n, k.first AS children_first FROM facility_suspensions s"
    f" JOIN facilities f ON f.id = s.facility_id CROSS JOIN LATERAL ({_CHILDREN_DURING}) k"
)


async def suspensions(
    conn: asyncpg.Connection, scope: Scope, *, facility_id: str | None = None, in_force: bool = False
) -> list[dict[str, Any]]:
    """The suspensions of the facilities in scope (or of one), newest first; `in_force`: only those."""
    where, args = scope.sql("f", start=1)
    conds = [where]
    if facility_id is not None:
        args.append(facility_id)
        conds.append(f"s.facility_id = ${len(args)}")
    if in_force:
        conds.append("s.lifted_at IS NULL")
    rows = await conn.fetch(f"{_SELECT} WHERE {' AND '.join(conds)} ORDER BY s.id DESC LIMIT 500", *args)
    return [suspension_json(r) for r in rows]


async def suspension(conn: asyncpg.Connection, scope: Scope, suspension_id: int) -> dict[str, Any] | None:
    where, args = scope.sql("f", start=2)
    r = await conn.fetchrow(f"{_SELECT} WHERE s.id = $1 AND {where}", suspension_id, *args)
    return None if r is None else suspension_json(r)


async def locked(conn: asyncpg.Connection, suspension_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM facility_suspensions WHERE id = $1 FOR UPDATE", suspension_id)


async def in_force_among(conn: asyncpg.Connection, facility_ids: Iterable[str]) -> set[str]:
    """Of `facility_ids`, those under a suspension in force: the 停业整改中 tag of a page's list."""
    rows = await conn.fetch(
        "SELECT DISTINCT facility_id FROM facility_suspensions"
        " WHERE lifted_at IS NULL AND facility_id = ANY($1::text[])",
        list(facility_ids),
    )
    return {r["facility_id"] for r in rows}


async def in_force(conn: asyncpg.Connection, facility_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM facility_suspensions WHERE facility_id = $1 AND lifted_at IS NULL", facility_id
    )


async def record(
    conn: asyncpg.Connection,
    facility_id: str,
    reasons: str,
    order_ids: list[int],
    actor: str,
    level: str,
    now: datetime,
) -> int:
    sid: int = await conn.fetchval(
        "INSERT INTO facility_suspensions (facility_id, reasons, order_ids, issued_by, issued_level, issued_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        facility_id,
        reasons,
        order_ids,
        actor,
        level,
        now,
    )
    return sid


async def record_lift(
    conn: asyncpg.Connection, suspension_id: int, actor: str, reason: str, inspection_id: int, now: datetime
) -> None:
    await conn.execute(
        "UPDATE facility_suspensions SET lifted_by = $2, lifted_at = $3, lift_reason = $4, recheck_inspection_id = $5"
        " WHERE id = $1",
        suspension_id,
        actor,
        now,
        reason,
        inspection_id,
    )


async def in_force_since(conn: asyncpg.Connection, facilities: list[str] | None = None) -> dict[str, datetime]:
    """The facilities (of `facilities`, or all) under a suspension in force, with when it was ordered: what the
    alert engine reads (its `children_during_suspension`), on every registry_changed notification."""
    rows = await conn.fetch(
        "SELECT facility_id, issued_at FROM facility_suspensions WHERE lifted_at IS NULL"
        " AND ($1::text[] IS NULL OR facility_id = ANY($1::text[]))",
        facilities,
    )
    return {r["facility_id"]: r["issued_at"] for r in rows}


async def orders_of(conn: asyncpg.Connection, facility_id: str, order_ids: list[int]) -> set[int]:
    """Which of `order_ids` are the facility's orders."""
    rows = await conn.fetch(
        "SELECT id FROM rectification_orders WHERE facility_id = $1 AND id = ANY($2::bigint[])", facility_id, order_ids
    )
    return {r["id"] for r in rows}
