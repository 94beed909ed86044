"""Inspection records (检查记录), migration 011: planned, then recorded against the checklist of
contract/inspection.py and signed. A signed record does not change (its findings are evidence for the
facility's credit evaluation and for the orders issued from them)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import asyncpg

from contract.inspection import DEFAULT_DEPARTMENT
from storage.rectification import Evidence, StateError
from storage.suspensions import IN_FORCE_SQL as SUSPENDED_SQL
from storage.users import Scope


async def plan(
    conn: asyncpg.Connection,
    facility_id: str,
    kind: str,
    planned_for: date,
    actor: str,
    level: str,
    department: str = DEFAULT_DEPARTMENT,
    joint_id: int | None = None,
) -> int:
    """A planned inspection of `department` (部门: its checklist, its officers; migration 043); with
    `joint_id`, that department's part of the joint inspection (联合检查) the inspection `joint_id` leads."""
    iid: int = await conn.fetchval(
        "INSERT INTO inspections (facility_id, kind, planned_for, planned_by, level, department, joint_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        facility_id,
        kind,
        planned_for,
        actor,
        level,
        department,
        joint_id,
    )
    return iid


async def record(
    conn: asyncpg.Connection,
    inspection_id: int,
    actor: str,
    findings: dict[str, dict[str, str]],
    notes: str,
    files: Sequence[Evidence],
    sign: bool,
    now: datetime,
    second: str | None = None,
) -> None:
    """Save the findings (a draft can be saved again); with `sign`, the record is closed for good and
    waits for `second`, the second officer, to confirm it (status `countersign`, 待会签)."""
    async with conn.transaction():
        row = await conn.fetchrow("SELECT status FROM inspections WHERE id = $1 FOR UPDATE", inspection_id)
        if row is None:
            raise StateError("no such inspection")
        if row["status"] != "planned":
            raise StateError("the inspection is signed: its record does not change")
        await conn.execute(
            "UPDATE inspections SET findings = $2, notes = $3, inspected_at = $4,"
            " status = CASE WHEN $5 THEN 'countersign' ELSE status END, signed_by = CASE WHEN $5 THEN $6 END,"
            " second_inspector = CASE WHEN $5 THEN $7 END"
            " WHERE id = $1",
            inspection_id,
            json.dumps(findings, ensure_ascii=False),
            notes,
            now,
            sign,
            actor,
            second,
        )
        for f in files:
            await conn.execute(
                "INSERT INTO evidence_files (inspection_id, filename, content_type, size_bytes, sha256, data,"
                " uploaded_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                inspection_id,
                f.filename,
                f.content_type,
                len(f.data),
                hashlib.sha256(f.data).hexdigest(),
                f.data,
                actor,
            )


async def record_row(conn: asyncpg.Connection, inspection_id: int, *, lock: bool = False) -> asyncpg.Record | None:
    """The inspection with its facility's id, county and township and, when a draw (双随机) planned it, the
    two inspectors drawn (`lock`: for update, in a transaction)."""
    return await conn.fetchrow(
        "SELECT i.id, i.status, i.signed_by, i.second_inspector, i.department, f.id AS facility_id, f.county,"
        " f.township,"
        " p.inspector_a AS drawn_a, p.inspector_b AS drawn_b"
        " FROM inspections i JOIN facilities f ON f.id = i.facility_id"
        " LEFT JOIN random_draw_picks p ON p.inspection_id = i.id WHERE i.id = $1"
        + (" FOR UPDATE OF i" if lock else ""),
        inspection_id,
    )


async def account(conn: asyncpg.Connection, username: str) -> asyncpg.Record | None:
    """The users row that decides whether `username` may be a record's second officer."""
    return await conn.fetchrow(
        "SELECT username, role, scope_county, scope_township, scope_facility, disabled, department FROM users"
        " WHERE username = $1",
        username,
    )


async def candidate_seconds(conn: asyncpg.Connection, inspection_id: int, author: str) -> list[str]:
    """Inspector accounts of the record's department whose area holds the record's facility, other than
    `author`: the form's choice of second officer (supervision/countersign.py decides; this only lists)."""
    rows = await conn.fetch(
        "SELECT u.username FROM inspections i JOIN facilities f ON f.id = i.facility_id JOIN users u"
        " ON u.role = 'inspector' AND NOT u.disabled AND u.username <> $2 AND u.department = i.department"
        " AND (u.scope_county IS NULL OR (u.scope_county = f.county"
        " AND (u.scope_township IS NULL OR u.scope_township = f.township)))"
        " WHERE i.id = $1 ORDER BY u.scope_township NULLS LAST, u.scope_county NULLS LAST, u.username LIMIT 200",
        inspection_id,
        author,
    )
    return [r["username"] for r in rows]


async def countersign(conn: asyncpg.Connection, inspection_id: int, actor: str, now: datetime) -> bool:
    """The second officer's confirmation: `countersign` -> `signed`. False when the record no longer
    waits for `actor` (the caller checked it under the lock; this is the last word)."""
    done = await conn.execute(
        "UPDATE inspections SET status = 'signed', countersigned_by = $2, countersigned_at = $3"
        " WHERE id = $1 AND status = 'countersign' AND second_inspector = $2 AND signed_by <> $2",
        inspection_id,
        actor,
        now,
    )
    return bool(done.endswith(" 1"))


# an inspection with its facility's name and, when a draw planned it, the two inspectors drawn
_SELECT = (
    "SELECT i.*, f.name AS facility_name, d.inspector_a AS drawn_a, d.inspector_b AS drawn_b,"
    f" {SUSPENDED_SQL} AS facility_suspended FROM inspections i JOIN facilities f ON f.id = i.facility_id"
    " LEFT JOIN random_draw_picks d ON d.inspection_id = i.id"
)


def _visible(scope: Scope, drawn_for: str | None, start: int) -> tuple[str, list[str]]:
    """A WHERE fragment over inspections `i` joined to facilities `f`: the facility in `scope`, or, with
    `drawn_for`, an inspection a draw (双随机) assigned to that inspector (supervision/countersign.py:
    the draw, not the inspector's area, decides who inspects a drawn facility)."""
    where, args = scope.sql("f", start=start)
    if drawn_for is None:
        return where, args
    n = start + len(args)
    picked = f"i.id IN (SELECT p.inspection_id FROM random_draw_picks p WHERE ${n} IN (p.inspector_a, p.inspector_b))"
    return f"({where} OR {picked})", [*args, drawn_for]


async def awaiting(conn: asyncpg.Connection, scope: Scope, username: str, limit: int = 100) -> list[dict[str, Any]]:
    """The records waiting for `username`'s confirmation as second officer, oldest first: in scope, or
    drawn for them."""
    where, args = _visible(scope, username, 2)
    rows = await conn.fetch(
        _SELECT + f" WHERE i.status = 'countersign' AND i.second_inspector = $1 AND {where}"
        f" ORDER BY i.inspected_at, i.id LIMIT {int(limit)}",
        username,
        *args,
    )
    return [inspection_json(r) for r in rows]


async def awaiting_count(conn: asyncpg.Connection, scope: Scope, username: str) -> int:
    """How many records `awaiting` holds for `username` (the navigation's 待会签 badge)."""
    where, args = scope.sql("f", start=2)
    n: int = await conn.fetchval(
        "SELECT count(*) FROM inspections i JOIN facilities f ON f.id = i.facility_id"
        f" WHERE i.status = 'countersign' AND i.second_inspector = $1 AND {where}",
        username,
        *args,
    )
    return n


def inspection_json(r: asyncpg.Record) -> dict[str, Any]:
    findings = json.loads(r["findings"]) if isinstance(r["findings"], str) else dict(r["findings"])
    return {
        "id": r["id"],
        "facility_id": r["facility_id"],
        "facility_name": r["facility_name"],
        "kind": r["kind"],
        "planned_for": r["planned_for"].isoformat(),
        "planned_by": r["planned_by"],
        "level": r["level"],
        "department": r["department"],
        "joint_id": r["joint_id"],
        "status": r["status"],
        "findings": findings,
        "failed": sorted(code for code, f in findings.items() if f.get("result") == "fail"),
        "notes": r["notes"],
        "inspected_at": r["inspected_at"].isoformat() if r["inspected_at"] else None,
        "signed_by": r["signed_by"],
        "second_inspector": r["second_inspector"],
        "countersigned_by": r["countersigned_by"],
        "countersigned_at": r["countersigned_at"].isoformat() if r["countersigned_at"] else None,
        "drawn": [r["drawn_a"], r["drawn_b"]] if r["drawn_a"] else [],
    }


async def inspections(
    conn: asyncpg.Connection,
    scope: Scope,
    *,
    facility_id: str | None = None,
    limit: int = 200,
    drawn_for: str | None = None,
) -> list[dict[str, Any]]:
    """Inspections of facilities in `scope` and, with `drawn_for`, those a draw assigned to that inspector."""
    where, args = _visible(scope, drawn_for, 1)
    extra = ""
    if facility_id is not None:
        args.append(facility_id)
        extra = f" AND i.facility_id = ${len(args)}"
    rows = await conn.fetch(
        _SELECT + f" WHERE {where}{extra} ORDER BY i.planned_for DESC, i.id DESC LIMIT {int(limit)}",
        *args,
    )
    return [inspection_json(r) | {"facility_suspended": r["facility_suspended"]} for r in rows]


async def inspection_detail(
    conn: asyncpg.Connection, scope: Scope, inspection_id: int, drawn_for: str | None = None
) -> dict[str, Any] | None:
    """One inspection with its files and orders, if its facility is in `scope` or (with `drawn_for`) a
    draw assigned it to that inspector; None otherwise."""
    where, args = _visible(scope, drawn_for, 2)
    r = await conn.fetchrow(
        _SELECT + f" WHERE i.id = $1 AND {where}",
        inspection_id,
        *args,
    )
    if r is None:
        return None
    files = await conn.fetch(
        "SELECT id, filename, content_type, size_bytes FROM evidence_files WHERE inspection_id = $1 ORDER BY id",
        inspection_id,
    )
    orders = await conn.fetch(
        "SELECT id, title, status FROM rectification_orders WHERE inspection_id = $1 ORDER BY id", inspection_id
    )
    parts = await conn.fetch(  # a joint inspection's parts (联合检查, migration 043): the lead first
        "SELECT id, department, status FROM inspections WHERE id = $1 OR joint_id = $1 ORDER BY joint_id NULLS FIRST,"
        " id",
        r["joint_id"] or r["id"],
    )
    joint = [dict(p) for p in parts] if len(parts) > 1 else []
    return inspection_json(r) | {
        "files": [dict(f) for f in files],
        "orders": [dict(o) for o in orders],
        "joint": joint,
        "joint_signed": bool(joint) and all(p["status"] == "signed" for p in joint),
    }
