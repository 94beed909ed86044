"""Filings (登记备案, migration 036): stored and read here, decided in supervision/filing.py. An accepted filing
reaches the registry through storage.registry.load_registry, called by the web in the transaction that
accepts it; nothing here writes the registry."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg

from storage.users import Scope


def _obj(value: object) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def filing_json(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": r["id"],
        "facility_id": r["facility_id"],
        "county": r["county"],
        "kind": r["kind"],
        "particulars": _obj(r["particulars"]),
        "declared": _obj(r["declared"]),
        "status": r["status"],
        "submitted_by": r["submitted_by"],
        "submitted_at": r["submitted_at"],
        "due_at": r["due_at"],
        "reviewed_by": r["reviewed_by"],
        "reviewed_at": r["reviewed_at"],
        "reasons": r["reasons"],
        "filing_no": r["filing_no"],
    }


async def open_filing(conn: asyncpg.Connection, facility_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    """The facility's filing that is submitted or returned, if any."""
    return await conn.fetchrow(
        "SELECT * FROM filings WHERE facility_id = $1 AND status IN ('submitted', 'returned')"
        + (" FOR UPDATE" if lock else ""),
        facility_id,
    )


async def accepted(conn: asyncpg.Connection, facility_id: str) -> asyncpg.Record | None:
    """The facility's last accepted filing; its number is the initial filing's (an amendment keeps it)."""
    return await conn.fetchrow(
        "SELECT f.*, (SELECT i.filing_no FROM filings i WHERE i.facility_id = f.facility_id AND i.kind = 'initial'"
        " AND i.status = 'accepted' ORDER BY i.id LIMIT 1) AS number FROM filings f"
        " WHERE f.facility_id = $1 AND f.status = 'accepted' ORDER BY f.reviewed_at DESC, f.id DESC LIMIT 1",
        facility_id,
    )


async def latest(conn: asyncpg.Connection, facility_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM filings WHERE facility_id = $1 ORDER BY id DESC LIMIT 1", facility_id)


async def filing(conn: asyncpg.Connection, filing_id: int, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM filings WHERE id = $1" + (" FOR UPDATE" if lock else ""), filing_id)


async def of_facility(conn: asyncpg.Connection, facility_id: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM filings WHERE facility_id = $1 ORDER BY id DESC", facility_id)


async def history(conn: asyncpg.Connection, filing_ids: list[int]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM filing_history WHERE filing_id = ANY($1::bigint[]) ORDER BY filing_id DESC, id", filing_ids
    )


async def submit(
    conn: asyncpg.Connection,
    facility: asyncpg.Record,
    kind: str,
    particulars: dict[str, Any],
    declared: dict[str, Any],
    actor: str,
    at: datetime,
    due: datetime,
) -> asyncpg.Record:
    """A new filing, submitted, with its first history step."""
    row = await conn.fetchrow(
        "INSERT INTO filings (facility_id, county, kind, particulars, declared, submitted_by, submitted_at, due_at)"
        " VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, $8) RETURNING *",
        facility["id"],
        facility["county"],
        kind,
        json.dumps(particulars, ensure_ascii=False),
        json.dumps(declared, ensure_ascii=False),
        actor,
        at,
        due,
    )
    await _step(conn, row["id"], "submitted", actor, at, None, particulars, declared)
    return row


async def resubmit(
    conn: asyncpg.Connection,
    filing_id: int,
    particulars: dict[str, Any],
    declared: dict[str, Any],
    actor: str,
    at: datetime,
    due: datetime,
) -> asyncpg.Record | None:
    """A returned filing submitted again, corrected (None unless it was returned); the deadline starts again."""
    row = await conn.fetchrow(
        "UPDATE filings SET status = 'submitted', particulars = $2::jsonb, declared = $3::jsonb, submitted_by = $4,"
        " submitted_at = $5, due_at = $6, reviewed_by = NULL, reviewed_at = NULL"
        " WHERE id = $1 AND status = 'returned' RETURNING *",
        filing_id,
        json.dumps(particulars, ensure_ascii=False),
        json.dumps(declared, ensure_ascii=False),
        actor,
        at,
        due,
    )
    if row is not None:
        await _step(conn, filing_id, "resubmitted", actor, at, None, particulars, declared)
    return row


async def review(
    conn: asyncpg.Connection,
    filing_id: int,
    status: str,
    actor: str,
    reasons: str | None,
    at: datetime,
    number: str | None,
) -> asyncpg.Record | None:
    """Accept, return or refuse a submitted filing (None when it is no longer submitted)."""
    row = await conn.fetchrow(
        "UPDATE filings SET status = $2, reviewed_by = $3, reviewed_at = $4, reasons = $5, filing_no = $6"
        " WHERE id = $1 AND status = 'submitted' RETURNING *",
        filing_id,
        status,
        actor,
        at,
        reasons,
        number,
    )
    if row is not None:
        action = {"accepted": "accepted", "returned": "returned", "refused": "refused"}[status]
        await _step(conn, filing_id, action, actor, at, reasons, None, None)
    return row


async def next_number(conn: asyncpg.Connection, county: str, year: int) -> int:
    """The county's next 备案 number of the year; the row stays locked until the accepting transaction ends."""
    seq: int = await conn.fetchval(
        "INSERT INTO filing_sequences (county, year, last_no) VALUES ($1, $2, 1) ON CONFLICT (county, year)"
        " DO UPDATE SET last_no = filing_sequences.last_no + 1 RETURNING last_no",
        county,
        year,
    )
    return seq


async def _step(
    conn: asyncpg.Connection,
    filing_id: int,
    action: str,
    actor: str,
    at: datetime,
    note: str | None,
    particulars: dict[str, Any] | None,
    declared: dict[str, Any] | None,
) -> None:
    await conn.execute(
        "INSERT INTO filing_history (filing_id, action, actor, at, note, particulars, declared)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb)",
        filing_id,
        action,
        actor,
        at,
        note,
        None if particulars is None else json.dumps(particulars, ensure_ascii=False),
        None if declared is None else json.dumps(declared, ensure_ascii=False),
    )


async def in_scope(conn: asyncpg.Connection, scope: Scope) -> list[asyncpg.Record]:
    """Each facility in scope with its latest filing and whether it has an accepted one (its number)."""
    where, args = scope.sql("f", start=1)
    return await conn.fetch(
        "SELECT f.id AS facility_id, f.name, f.county, f.township, l.id, l.kind, l.status, l.submitted_at, l.due_at,"
        " l.submitted_by, a.accepted_id, a.number"
        " FROM facilities f"
        " LEFT JOIN LATERAL (SELECT * FROM filings x WHERE x.facility_id = f.id ORDER BY x.id DESC LIMIT 1) l ON true"
        " LEFT JOIN LATERAL (SELECT max(x.id) AS accepted_id, max(x.filing_no) AS number FROM filings x"
        "   WHERE x.facility_id = f.id AND x.status = 'accepted') a ON true"
        f" WHERE {where} ORDER BY f.county, f.township, f.id",
        *args,
    )


async def waiting_count(conn: asyncpg.Connection, scope: Scope, level: str | None, now: datetime) -> int:
    """Filings waiting for a user (the navigation's badge): for a county inspector the submitted filings of
    their county, for a city inspector those past their deadline (督办); for an operator, their facility's
    returned filing to correct. Township inspectors and admins review none."""
    where, args = scope.sql("f", start=1)
    if level is None:
        cond = "x.status = 'returned'"
    elif level == "county":
        cond = "x.status = 'submitted'"
    elif level == "city" and scope.role == "inspector":
        args.append(now)  # type: ignore[arg-type]
        cond = f"x.status = 'submitted' AND x.due_at <= ${len(args)}"
    else:
        return 0
    n: int = await conn.fetchval(
        f"SELECT count(*) FROM filings x JOIN facilities f ON f.id = x.facility_id WHERE {where} AND {cond}", *args
    )
    return n


async def import_accepted(
    conn: asyncpg.Connection,
    facility_id: str,
    county: str,
    particulars: dict[str, Any],
    number: str,
    accepted_at: datetime,
    authority: str,
    source: str,
    actor: str,
    sequence: tuple[int, int] | None,
) -> int:
    """A filing accepted before CareWatch (supervision.filing_import), as an accepted initial filing with its
    steps: submitted and accepted on the day it was, by `authority`, noted with its `source`. `sequence`
    (year, number): the county's 备案 sequence moves past it, so that no later number repeats it."""
    declared = {"imported_from": source, "imported_by": actor}
    row = await conn.fetchrow(
        "INSERT INTO filings (facility_id, county, kind, particulars, declared, status, submitted_by, submitted_at,"
        " due_at, reviewed_by, reviewed_at, reasons, filing_no)"
        " VALUES ($1, $2, 'initial', $3::jsonb, $4::jsonb, 'accepted', $5, $6, $6, $7, $6, NULL, $8) RETURNING id",
        facility_id,
        county,
        json.dumps(particulars, ensure_ascii=False),
        json.dumps(declared, ensure_ascii=False),
        actor,
        accepted_at,
        authority,
        number,
    )
    await _step(conn, row["id"], "submitted", actor, accepted_at, f"导入：{source}", particulars, declared)
    await _step(conn, row["id"], "accepted", authority, accepted_at, f"导入：{source}", None, None)
    if sequence is not None:
        year, seq = sequence
        await conn.execute(
            "INSERT INTO filing_sequences (county, year, last_no) VALUES ($1, $2, $3) ON CONFLICT (county, year)"
            " DO UPDATE SET last_no = greatest(filing_sequences.last_no, $3)",
            county,
            year,
            seq,
        )
    return int(row["id"])


async def with_filings(conn: asyncpg.Connection) -> tuple[set[str], set[str]]:
    """The facilities that have a filing of any state, and the 备案 numbers given."""
    rows = await conn.fetch("SELECT facility_id, filing_no FROM filings")
    return {r["facility_id"] for r in rows}, {r["filing_no"] for r in rows if r["filing_no"]}


async def counties(conn: asyncpg.Connection) -> dict[str, str]:
    """Each registered facility's county, by facility id (in id order)."""
    return {r["id"]: r["county"] for r in await conn.fetch("SELECT id, county FROM facilities ORDER BY id")}
