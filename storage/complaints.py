"""Parents' complaints (tables complaints, complaint_history: migration 034): stored and read here; who may
take which step, the deadline and 督办 are supervision/complaints.py. Every step is a history row dated by
the caller's `now`. The follow-up code is never stored: only its SHA-256 (`code_digest`)."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

import asyncpg

from storage.users import Scope

OPEN = ("received", "handling")


def code_digest(code: str) -> str:
    """What is kept of a follow-up code, and looked up by (upper-cased: it is typed from paper)."""
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


async def create(
    conn: asyncpg.Connection,
    facility_id: str,
    code: str,
    what: str,
    happened_on: date,
    contact: str | None,
    now: datetime,
    due_at: datetime,
) -> int:
    """A new complaint, filed at `now` (its history's first row, by `public`)."""
    async with conn.transaction():
        cid: int = await conn.fetchval(
            "INSERT INTO complaints (facility_id, code_sha256, what, happened_on, contact, filed_at, due_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            facility_id,
            code_digest(code),
            what,
            happened_on,
            contact,
            now,
            due_at,
        )
        await _history(conn, cid, "public", "filed", "", now)
    return cid


async def _history(conn: asyncpg.Connection, cid: int, actor: str, action: str, note: str, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO complaint_history (complaint_id, at, actor, action, note) VALUES ($1, $2, $3, $4, $5)",
        cid,
        at,
        actor,
        action,
        note,
    )


async def by_code(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    """What the complainant may read with the code: the facility's name, the dates, status and the answer.
    Never the contact, nor who handled it."""
    return await conn.fetchrow(
        "SELECT c.id, c.status, c.filed_at, c.due_at, c.happened_on, c.answer, c.answered_at, c.closed_at,"
        " f.name AS facility_name, f.timezone FROM complaints c JOIN facilities f ON f.id = c.facility_id"
        " WHERE c.code_sha256 = $1",
        code_digest(code),
    )


async def in_scope(
    conn: asyncpg.Connection, scope: Scope, now: datetime, status: str | None = None, limit: int = 200
) -> list[asyncpg.Record]:
    """Newest first, in `scope`. `status`: 'open' (received or handling), 'overdue' (open past its due date at
    `now`), or one status; None: all."""
    where, args = scope.sql("f", start=1)
    conds: list[str] = [where]
    params: list[Any] = list(args)
    if status == "open":
        conds.append("c.status IN ('received', 'handling')")
    elif status == "overdue":
        params.append(now)
        conds.append(f"c.status IN ('received', 'handling') AND c.due_at <= ${len(params)}")
    elif status is not None:
        params.append(status)
        conds.append(f"c.status = ${len(params)}")
    params.append(limit)
    return list(
        await conn.fetch(
            "SELECT c.*, f.name AS facility_name, f.county, f.township, f.timezone"
            " FROM complaints c JOIN facilities f ON f.id = c.facility_id"
            f" WHERE {' AND '.join(conds)} ORDER BY c.id DESC LIMIT ${len(params)}",
            *params,
        )
    )


async def one(conn: asyncpg.Connection, scope: Scope, cid: int, *, lock: bool = False) -> asyncpg.Record | None:
    """The complaint `cid` if in `scope` (None otherwise); `lock`: for the rest of the caller's transaction."""
    where, args = scope.sql("f", start=2)
    return await conn.fetchrow(
        "SELECT c.*, f.name AS facility_name, f.county, f.township, f.timezone"
        " FROM complaints c JOIN facilities f ON f.id = c.facility_id"
        f" WHERE c.id = $1 AND {where}" + (" FOR UPDATE OF c" if lock else ""),
        cid,
        *args,
    )


async def history(conn: asyncpg.Connection, cid: int) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT at, actor, action, note FROM complaint_history WHERE complaint_id = $1 ORDER BY at, id", cid
        )
    )


async def record_step(conn: asyncpg.Connection, cid: int, step: str, actor: str, now: datetime, text: str = "") -> None:
    """Take `step` (handle, answer with `text`, close) on complaint `cid` (the caller checked it may, in its
    transaction, with the row locked), and its history row."""
    if step == "handle":
        await conn.execute(
            "UPDATE complaints SET status = 'handling', handled_by = $2, handled_at = $3 WHERE id = $1", cid, actor, now
        )
        await _history(conn, cid, actor, "handling", text, now)
    elif step == "answer":
        await conn.execute(
            "UPDATE complaints SET status = 'answered', answer = $2, answered_by = $3, answered_at = $4,"
            " handled_by = coalesce(handled_by, $3), handled_at = coalesce(handled_at, $4) WHERE id = $1",
            cid,
            text,
            actor,
            now,
        )
        await _history(conn, cid, actor, "answered", text, now)
    elif step == "close":
        await conn.execute(
            "UPDATE complaints SET status = 'closed', closed_by = $2, closed_at = $3 WHERE id = $1", cid, actor, now
        )
        await _history(conn, cid, actor, "closed", text, now)
    else:
        raise ValueError(f"no such step: {step}")


async def waiting_count(conn: asyncpg.Connection, scope: Scope, kind: str, now: datetime) -> int:
    """The open complaints in `scope` ('open'), or those of them past their due date at `now` ('overdue')."""
    where, args = scope.sql("f", start=2)
    late = " AND c.due_at <= $1" if kind == "overdue" else " AND $1::timestamptz IS NOT NULL"
    n: int = await conn.fetchval(
        "SELECT count(*) FROM complaints c JOIN facilities f ON f.id = c.facility_id"
        f" WHERE c.status IN ('received', 'handling'){late} AND {where}",
        now,
        *args,
    )
    return n
