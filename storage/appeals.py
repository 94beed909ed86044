"""Appeals against a month's credit record (申诉), migration 024: filed, listed, decided. SQL only; who may
file or decide, and what a decision may say, is supervision/credit.py's.

A decision is written once: the database's trigger (migration 024) refuses to change a decided appeal,
copies the record's score and grade before the decision into the appeal, and, for an accepted appeal, sets
the record's score and grade to the corrected ones. The web's role cannot write a record's score itself.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg

from storage.users import Scope

_COLUMNS = (
    "a.id, a.facility_id, f.name AS facility_name, a.month, a.note, a.filed_by, a.filed_at, a.status,"
    " a.decided_by, a.decided_at, a.reason, a.score_before, a.grade_before, a.corrected_score, a.corrected_grade"
)


def appeal_json(r: asyncpg.Record) -> dict[str, Any]:
    def num(v: object) -> float | None:
        return None if v is None else float(v)  # type: ignore[arg-type]

    return {
        "id": r["id"],
        "facility_id": r["facility_id"],
        "facility_name": r["facility_name"],
        "month": r["month"].isoformat()[:7],
        "note": r["note"],
        "filed_by": r["filed_by"],
        "filed_at": r["filed_at"].isoformat(),
        "status": r["status"],
        "decided_by": r["decided_by"],
        "decided_at": r["decided_at"].isoformat() if r["decided_at"] else None,
        "reason": r["reason"],
        "score_before": num(r["score_before"]),
        "grade_before": r["grade_before"],
        "corrected_score": num(r["corrected_score"]),
        "corrected_grade": r["corrected_grade"],
    }


async def record(conn: asyncpg.Connection, facility_id: str, month: date) -> asyncpg.Record | None:
    """The stored month (score, grade); None when not stored. (Not locked: the web may not write it, and the
    one pending appeal per month is the database's unique index.)"""
    return await conn.fetchrow(
        "SELECT facility_id, month, score, grade FROM credit_records WHERE facility_id = $1 AND month = $2",
        facility_id,
        month.replace(day=1),
    )


async def pending(conn: asyncpg.Connection, facility_id: str, month: date) -> int | None:
    """The id of the month's appeal awaiting a decision, if any."""
    found: int | None = await conn.fetchval(
        "SELECT id FROM credit_appeals WHERE facility_id = $1 AND month = $2 AND status = 'pending'",
        facility_id,
        month.replace(day=1),
    )
    return found


async def insert(conn: asyncpg.Connection, facility_id: str, month: date, actor: str, note: str, now: datetime) -> int:
    """A new pending appeal (asyncpg.UniqueViolationError when one is pending already)."""
    aid: int = await conn.fetchval(
        "INSERT INTO credit_appeals (facility_id, month, note, filed_by, filed_at) VALUES ($1, $2, $3, $4, $5)"
        " RETURNING id",
        facility_id,
        month.replace(day=1),
        note,
        actor,
        now,
    )
    return aid


async def locked(conn: asyncpg.Connection, scope: Scope, appeal_id: int) -> asyncpg.Record | None:
    """An appeal in the user's scope, locked for the caller's transaction; None outside it."""
    where, args = scope.sql("f", start=2)
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM credit_appeals a JOIN facilities f ON f.id = a.facility_id"
        f" WHERE a.id = $1 AND {where} FOR UPDATE OF a",
        appeal_id,
        *args,
    )


async def decide(
    conn: asyncpg.Connection,
    appeal_id: int,
    status: str,
    actor: str,
    reason: str,
    now: datetime,
    corrected: tuple[float, str] | None,
) -> None:
    """Write the decision (the trigger keeps the figures before it and, when accepted, corrects the record)."""
    await conn.execute(
        "UPDATE credit_appeals SET status = $2, decided_by = $3, reason = $4, decided_at = $5,"
        " corrected_score = $6, corrected_grade = $7 WHERE id = $1",
        appeal_id,
        status,
        actor,
        reason,
        now,
        None if corrected is None else corrected[0],
        None if corrected is None else corrected[1],
    )


async def appeals(
    conn: asyncpg.Connection,
    scope: Scope,
    *,
    month: date | None = None,
    facility_id: str | None = None,
    status: str | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Appeals in scope, newest first, every one kept (decided ones with their before and after)."""
    where, args = scope.sql("f", start=1)
    conds: list[str] = [where]
    params: list[Any] = list(args)
    for column, value in (("a.month", month), ("a.facility_id", facility_id), ("a.status", status)):
        if value is not None:
            params.append(value)
            conds.append(f"{column} = ${len(params)}")
    params.append(limit)
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM credit_appeals a JOIN facilities f ON f.id = a.facility_id"
        f" WHERE {' AND '.join(conds)} ORDER BY a.id DESC LIMIT ${len(params)}",
        *params,
    )
    return [appeal_json(r) for r in rows]


async def appeal_detail(conn: asyncpg.Connection, scope: Scope, appeal_id: int) -> dict[str, Any] | None:
    where, args = scope.sql("f", start=2)
    r = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM credit_appeals a JOIN facilities f ON f.id = a.facility_id"
        f" WHERE a.id = $1 AND {where}",
        appeal_id,
        *args,
    )
    return None if r is None else appeal_json(r)
