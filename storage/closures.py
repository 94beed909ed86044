"""Closures (table closures, migration 032): stored and read here, decided in supervision/closures.py. Only an
approved closure has any effect: its days are closed in the opening hours of the facilities it covers
(`APPROVED_FOR_FACILITY`, read by storage.registry.fetch_registry and storage.queries.opening_hours)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import asyncpg

from storage.users import Scope

# A facility row `f`'s approved closures as JSON (contract.registry.Closure's fields), for a SELECT list
APPROVED_FOR_FACILITY = (
    "(SELECT coalesce(json_agg(json_build_object('kind', c.kind, 'first', c.first_day, 'last', c.last_day,"
    " 'reason', c.reason) ORDER BY c.first_day), '[]') FROM closures c WHERE c.status = 'approved'"
    " AND c.county = f.county AND (c.facility_ids IS NULL OR f.id = ANY(c.facility_ids)))"
)


def closures_of(value: object) -> list[dict[str, Any]]:
    """The JSON of APPROVED_FOR_FACILITY as a list (None: none)."""
    if value is None:
        return []
    return list(json.loads(value) if isinstance(value, str) else value)  # type: ignore[arg-type]


def closure_json(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": r["id"],
        "kind": r["kind"],
        "county": r["county"],
        "facility_ids": list(r["facility_ids"]) if r["facility_ids"] is not None else None,
        "first_day": r["first_day"].isoformat(),
        "last_day": r["last_day"].isoformat(),
        "reason": r["reason"],
        "status": r["status"],
        "requested_by": r["requested_by"],
        "requested_at": r["requested_at"].isoformat(),
        "decided_by": r["decided_by"],
        "decided_at": r["decided_at"].isoformat() if r["decided_at"] else None,
        "decision_reason": r["decision_reason"],
    }


async def create(
    conn: asyncpg.Connection,
    kind: str,
    county: str,
    facility_ids: list[str] | None,
    first: date,
    last: date,
    reason: str,
    author: str,
    at: datetime,
    *,
    status: str = "requested",
) -> asyncpg.Record:
    """Store a closure `requested` by `author`, or `approved` at once (a county's declaration: its author is
    its decider). Decides nothing itself."""
    return await conn.fetchrow(
        "INSERT INTO closures (kind, county, facility_ids, first_day, last_day, reason, status, requested_by,"
        " requested_at, decided_by, decided_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
        " CASE WHEN $7 = 'requested' THEN NULL ELSE $8::text END,"
        " CASE WHEN $7 = 'requested' THEN NULL ELSE $9::timestamptz END)"
        " RETURNING *",
        kind,
        county,
        facility_ids,
        first,
        last,
        reason,
        status,
        author,
        at,
    )


async def closure(conn: asyncpg.Connection, closure_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM closures WHERE id = $1", closure_id)


async def decide(
    conn: asyncpg.Connection, closure_id: int, status: str, actor: str, reason: str | None, at: datetime
) -> asyncpg.Record | None:
    """Move a pending request to `status`; None when it is no longer pending (decided meanwhile)."""
    return await conn.fetchrow(
        "UPDATE closures SET status = $2, decided_by = $3, decision_reason = $4, decided_at = $5"
        " WHERE id = $1 AND status = 'requested' RETURNING *",
        closure_id,
        status,
        actor,
        reason,
        at,
    )


async def facilities_in_county(conn: asyncpg.Connection, county: str, ids: list[str]) -> list[str]:
    """Which of `ids` are facilities of the county."""
    rows = await conn.fetch("SELECT id FROM facilities WHERE county = $1 AND id = ANY($2::text[])", county, ids)
    return sorted(r["id"] for r in rows)


async def in_scope(conn: asyncpg.Connection, scope: Scope, since: date, limit: int = 200) -> list[dict[str, Any]]:
    """Closures that touch the scope's facilities and end on or after `since`, newest first; each with the
    names of the facilities it names (a county's for all: none)."""
    where, args = scope.sql("f", start=2)
    rows = await conn.fetch(
        "SELECT c.*, (SELECT coalesce(json_agg(json_build_object('id', f2.id, 'name', f2.name) ORDER BY f2.id), '[]')"
        " FROM facilities f2 WHERE f2.id = ANY(c.facility_ids)) AS named FROM closures c"
        " WHERE c.last_day >= $1 AND EXISTS (SELECT 1 FROM facilities f WHERE f.county = c.county"
        f" AND (c.facility_ids IS NULL OR f.id = ANY(c.facility_ids)) AND {where})"
        f" ORDER BY c.first_day DESC, c.id DESC LIMIT {int(limit)}",
        since,
        *args,
    )
    return [closure_json(r) | {"facilities": closures_of(r["named"])} for r in rows]
