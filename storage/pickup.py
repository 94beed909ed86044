"""Pick-up delegates (table pickup_delegates, migration 027): stored and read here, decided in
supervision/pickup.py. A record is written once and may be revoked once (the migration's trigger refuses
anything else); nothing is deleted. Each change notifies `registry_changed`, so the alert engine reloads
them as it reloads the registry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from contract.pickup import Delegate

# Delegates that ended this long ago are still handed to the engine, so that a pick-up by one says
# "expired" rather than "unknown"; older ones only cost memory (both are the same critical alert).
RECENT = timedelta(days=31)

# a one-off's first valid pick-up, from the stored access events (the engine adds what it sees live)
_FIRST_USE = """
    CASE WHEN d.kind = 'one_off' THEN (
        SELECT min(a.time) FROM access_events a
        WHERE a.facility_id = d.facility_id AND a.type = 'child_out' AND a.person_id = d.child_id
          AND a.guardian_id = d.person_id AND a.time >= greatest(d.valid_from, d.created_at)
          AND a.time < least(d.valid_until, coalesce(d.revoked_at, d.valid_until))
    ) END AS first_used_at"""
_COLUMNS = (
    "d.id, d.facility_id, d.child_id, d.person_id, d.name, d.relation, d.kind, d.valid_from, d.valid_until,"
    " d.consent_by, d.consent_method, d.consent_at, d.consent_note, d.consent_file_name, d.created_by,"
    " d.created_at, d.revoked_by, d.revoked_at, d.revoke_reason, d.photo IS NOT NULL AS has_photo,"
    " d.consent_file IS NOT NULL AS has_consent_file," + _FIRST_USE
)


@dataclass(frozen=True, slots=True)
class StoredFile:
    data: bytes
    content_type: str
    filename: str


def _delegate(r: asyncpg.Record) -> Delegate:
    return Delegate(
        id=r["id"],
        facility_id=r["facility_id"],
        child_id=r["child_id"],
        person_id=r["person_id"],
        name=r["name"],
        relation=r["relation"],
        kind=r["kind"],
        valid_from=r["valid_from"],
        valid_until=r["valid_until"],
        created_at=r["created_at"],
        revoked_at=r["revoked_at"],
        first_used_at=r["first_used_at"],
    )


async def current(conn: asyncpg.Connection, facility_ids: list[str] | None, now: datetime) -> list[Delegate]:
    """The delegates the engine judges pick-ups by: not ended more than RECENT before `now` (revoked
    ones included: a pick-up by one says so), of the facilities named (None: all)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM pickup_delegates d WHERE d.valid_until > $1"
        " AND ($2::text[] IS NULL OR d.facility_id = ANY($2::text[])) ORDER BY d.id",
        now - RECENT,
        facility_ids,
    )
    return [_delegate(r) for r in rows]


def delegate_json(r: asyncpg.Record, now: datetime) -> dict[str, Any]:
    """A delegate as the pages and the API show it (no file's bytes), with its state at `now`."""
    if r["revoked_at"] is not None:
        state = "revoked"
    elif r["valid_until"] <= now:
        state = "expired"
    elif r["kind"] == "one_off" and r["first_used_at"] is not None:
        state = "used"
    elif max(r["valid_from"], r["created_at"]) > now:
        state = "pending"
    else:
        state = "valid"

    def iso(v: datetime | None) -> str | None:
        return v.isoformat() if v is not None else None

    return {
        "id": r["id"],
        "facility_id": r["facility_id"],
        "child_id": r["child_id"],
        "person_id": r["person_id"],
        "name": r["name"],
        "relation": r["relation"],
        "kind": r["kind"],
        "valid_from": r["valid_from"].isoformat(),
        "valid_until": r["valid_until"].isoformat(),
        "state": state,
        "first_used_at": iso(r["first_used_at"]),
        "has_photo": r["has_photo"],
        "consent": {
            "by": r["consent_by"],
            "method": r["consent_method"],
            "at": r["consent_at"].isoformat(),
            "note": r["consent_note"],
            "file": r["consent_file_name"] if r["has_consent_file"] else None,
        },
        "created_by": r["created_by"],
        "created_at": r["created_at"].isoformat(),
        "revoked_by": r["revoked_by"],
        "revoked_at": iso(r["revoked_at"]),
        "revoke_reason": r["revoke_reason"],
    }


async def delegates(
    conn: asyncpg.Connection, facility_id: str, now: datetime, limit: int = 200
) -> list[dict[str, Any]]:
    """The facility's delegates, newest first: every state (a revoked or expired one stays on record)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM pickup_delegates d WHERE d.facility_id = $1 ORDER BY d.id DESC LIMIT $2",
        facility_id,
        limit,
    )
    return [delegate_json(r, now) for r in rows]


async def delegate(conn: asyncpg.Connection, facility_id: str, delegate_id: int) -> asyncpg.Record | None:
    """One delegate of the facility (None: not this facility's)."""
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM pickup_delegates d WHERE d.facility_id = $1 AND d.id = $2", facility_id, delegate_id
    )


async def create(
    conn: asyncpg.Connection,
    facility_id: str,
    fields: dict[str, Any],
    created_by: str,
    created_at: datetime,
    photo: StoredFile | None,
    consent_file: StoredFile | None,
) -> asyncpg.Record:
    """Record a delegate (already judged by supervision.pickup.check_new)."""
    new_id = await conn.fetchval(
        "INSERT INTO pickup_delegates (facility_id, child_id, person_id, name, relation, kind, valid_from,"
        " valid_until, consent_by, consent_method, consent_at, consent_note, photo, photo_type, consent_file,"
        " consent_file_type, consent_file_name, created_by, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) RETURNING id",
        facility_id,
        fields["child_id"],
        fields["person_id"],
        fields["name"],
        fields["relation"],
        fields["kind"],
        fields["valid_from"],
        fields["valid_until"],
        fields["consent_by"],
        fields["consent_method"],
        fields["consent_at"],
        fields["consent_note"],
        photo.data if photo else None,
        photo.content_type if photo else None,
        consent_file.data if consent_file else None,
        consent_file.content_type if consent_file else None,
        consent_file.filename if consent_file else None,
        created_by,
        created_at,
    )
    row = await delegate(conn, facility_id, new_id)
    assert row is not None  # noqa: S101 - inserted above, in this transaction
    return row


async def revoke(
    conn: asyncpg.Connection, facility_id: str, delegate_id: int, by: str, reason: str | None, at: datetime
) -> asyncpg.Record | None:
    """Revoke a delegate not yet revoked (None: revoked meanwhile, or not this facility's)."""
    done = await conn.fetchval(
        "UPDATE pickup_delegates SET revoked_by = $3, revoked_at = $4, revoke_reason = $5"
        " WHERE facility_id = $1 AND id = $2 AND revoked_at IS NULL RETURNING id",
        facility_id,
        delegate_id,
        by,
        at,
        reason,
    )
    return None if done is None else await delegate(conn, facility_id, delegate_id)


async def stored_file(conn: asyncpg.Connection, facility_id: str, delegate_id: int, what: str) -> StoredFile | None:
    """A delegate's photo (`photo`) or signed consent form (`consent`), if it has one."""
    if what == "photo":
        r = await conn.fetchrow(
            "SELECT photo AS data, photo_type AS type, 'photo' AS name FROM pickup_delegates"
            " WHERE facility_id = $1 AND id = $2 AND photo IS NOT NULL",
            facility_id,
            delegate_id,
        )
    else:
        r = await conn.fetchrow(
            "SELECT consent_file AS data, consent_file_type AS type, consent_file_name AS name FROM pickup_delegates"
            " WHERE facility_id = $1 AND id = $2 AND consent_file IS NOT NULL",
            facility_id,
            delegate_id,
        )
    return None if r is None else StoredFile(bytes(r["data"]), r["type"], r["name"] or what)


async def child_guardians(conn: asyncpg.Connection, facility_id: str, child_id: str) -> list[str] | None:
    """The child's registered guardians (None: no such child in the facility's registry)."""
    known = await conn.fetchval("SELECT 1 FROM children WHERE facility_id = $1 AND id = $2", facility_id, child_id)
    if known is None:
        return None
    rows = await conn.fetch(
        "SELECT guardian_id FROM guardians WHERE facility_id = $1 AND child_id = $2", facility_id, child_id
    )
    return [r["guardian_id"] for r in rows]


async def staff_ids(conn: asyncpg.Connection, facility_id: str) -> list[str]:
    """The ids of the facility's staff (a delegate is never one of them)."""
    return [r["id"] for r in await conn.fetch("SELECT id FROM staff WHERE facility_id = $1", facility_id)]


async def children_of(conn: asyncpg.Connection, facility_id: str) -> list[asyncpg.Record]:
    """The facility's children and their guardians, for the operator's form."""
    return await conn.fetch(
        "SELECT c.id, coalesce(array_agg(g.guardian_id ORDER BY g.guardian_id)"
        " FILTER (WHERE g.guardian_id IS NOT NULL), '{}') AS guardians"
        " FROM children c LEFT JOIN guardians g ON g.facility_id = c.facility_id AND g.child_id = c.id"
        " WHERE c.facility_id = $1 GROUP BY c.id ORDER BY c.id",
        facility_id,
    )
