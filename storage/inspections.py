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

from storage.rectification import Evidence, StateError
from storage.users import Scope


async def plan(conn: asyncpg.Connection, facility_id: str, kind: str, planned_for: date, actor: str, level: str) -> int:
    iid: int = await conn.fetchval(
        "INSERT INTO inspections (facility_id, kind, planned_for, planned_by, level) VALUES ($1, $2, $3, $4, $5)"
        " RETURNING id",
        facility_id,
        kind,
        planned_for,
        actor,
        level,
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
) -> None:
    """Save the findings (a draft can be saved again); with `sign`, the record is closed for good."""
    async with conn.transaction():
        row = await conn.fetchrow("SELECT status FROM inspections WHERE id = $1 FOR UPDATE", inspection_id)
        if row is None:
            raise StateError("no such inspection")
        if row["status"] == "signed":
            raise StateError("the inspection is signed: its record does not change")
        await conn.execute(
            "UPDATE inspections SET findings = $2, notes = $3, inspected_at = $4,"
            " status = CASE WHEN $5 THEN 'signed' ELSE status END, signed_by = CASE WHEN $5 THEN $6 END"
            " WHERE id = $1",
            inspection_id,
            json.dumps(findings, ensure_ascii=False),
            notes,
            now,
            sign,
            actor,
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
        "status": r["status"],
        "findings": findings,
        "failed": sorted(code for code, f in findings.items() if f.get("result") == "fail"),
        "notes": r["notes"],
        "inspected_at": r["inspected_at"].isoformat() if r["inspected_at"] else None,
        "signed_by": r["signed_by"],
    }


async def inspections(
    conn: asyncpg.Connection, scope: Scope, *, facility_id: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    where, args = scope.sql("f", start=1)
    extra = ""
    if facility_id is not None:
        args.append(facility_id)
        extra = f" AND i.facility_id = ${len(args)}"
    rows = await conn.fetch(
        "SELECT i.*, f.name AS facility_name FROM inspections i JOIN facilities f ON f.id = i.facility_id"
        f" WHERE {where}{extra} ORDER BY i.planned_for DESC, i.id DESC LIMIT {int(limit)}",
        *args,
    )
    return [inspection_json(r) for r in rows]


async def inspection_detail(conn: asyncpg.Connection, scope: Scope, inspection_id: int) -> dict[str, Any] | None:
    where, args = scope.sql("f", start=2)
    r = await conn.fetchrow(
        "SELECT i.*, f.name AS facility_name FROM inspections i JOIN facilities f ON f.id = i.facility_id"
        f" WHERE i.id = $1 AND {where}",
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
    return inspection_json(r) | {
        "files": [dict(f) for f in files],
        "orders": [dict(o) for o in orders],
    }
