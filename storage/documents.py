"""Document numbers (文号), migrations 028 and 039: allocated once per order issued, inspection signed,
复查 signed, 督办 step taken or 通报 issued, per department, kind and year, never reused. How a number reads
is supervision/documents.py's; what the documents show is read here too (the facility's particulars, an
inspection's photos)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True, slots=True)
class DocumentNumber:
    department: str
    kind: str  # order | inspection | recheck | supervision | circular
    year: int
    seq: int


@dataclass(frozen=True, slots=True)
class Photo:
    filename: str
    content_type: str
    data: bytes


# the column naming what a number was given to, per kind (migrations 028 and 039)
OF = {
    "order": "order_id",
    "inspection": "inspection_id",
    "recheck": "recheck_id",  # a 复查意见书: its re-inspection
    "supervision": "supervision_id",  # a 督办通知: the order's 催办 or 约谈 step (rectification_history)
    "circular": "circular_id",  # a 通报
}


async def allocate(
    conn: asyncpg.Connection,
    department: str,
    kind: str,
    year: int,
    now: datetime,
    *,
    order_id: int | None = None,
    inspection_id: int | None = None,
    of: int | None = None,
) -> DocumentNumber:
    """The next number of `department`'s `kind` in `year`, recorded for the order, the inspection or (`of`)
    the thing of the kind (OF). Call it inside the transaction that issues the order or signs the record:
    the sequence's row stays locked until it ends, so concurrent allocations queue, and a rolled-back issue
    takes its number back with it (nothing was printed)."""
    target = of if of is not None else order_id if kind == "order" else inspection_id
    async with conn.transaction():
        seq: int = await conn.fetchval(
            "INSERT INTO document_sequences (department, kind, year, last_no) VALUES ($1, $2, $3, 1)"
            " ON CONFLICT (department, kind, year) DO UPDATE SET last_no = document_sequences.last_no + 1"
            " RETURNING last_no",
            department,
            kind,
            year,
        )
        await conn.execute(
            f"INSERT INTO document_numbers (department, kind, year, seq, {OF[kind]}, allocated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            department,
            kind,
            year,
            seq,
            target,
            now,
        )
    return DocumentNumber(department, kind, year, seq)


async def number_of(
    conn: asyncpg.Connection,
    *,
    order_id: int | None = None,
    inspection_id: int | None = None,
    kind: str | None = None,
    of: int | None = None,
) -> DocumentNumber | None:
    """The number of an order, an inspection or (`kind`, `of`) another document; None when it has none (an
    inspection not signed yet)."""
    if kind is None:
        kind, of = ("order", order_id) if order_id is not None else ("inspection", inspection_id)
    r = await conn.fetchrow(
        f"SELECT department, kind, year, seq FROM document_numbers WHERE {OF[kind]} = $1 AND kind = $2", of, kind
    )
    return None if r is None else DocumentNumber(r["department"], r["kind"], r["year"], r["seq"])


async def particulars(conn: asyncpg.Connection, facility_id: str) -> asyncpg.Record:
    """What a document says of a facility: its registry row with its places (托位: the classes' capacity)
    and classes. The caller checked the scope."""
    r = await conn.fetchrow(
        "SELECT f.*, COALESCE(sum(c.capacity), 0)::int AS places, count(c.id)::int AS class_count"
        " FROM facilities f LEFT JOIN classes c ON c.facility_id = f.id WHERE f.id = $1 GROUP BY f.id",
        facility_id,
    )
    if r is None:
        raise LookupError(facility_id)
    return r


async def inspection_photos(conn: asyncpg.Connection, inspection_id: int, limit: int = 12) -> list[Photo]:
    """The inspection's photos (JPEG, PNG; PDF scans are listed by name only), oldest first. The caller
    checked the scope."""
    rows = await conn.fetch(
        "SELECT filename, content_type, data FROM evidence_files WHERE inspection_id = $1 ORDER BY id LIMIT $2",
        inspection_id,
        limit,
    )
    return [Photo(r["filename"], r["content_type"], bytes(r["data"])) for r in rows]
