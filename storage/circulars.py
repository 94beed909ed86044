"""通报 (circulars, migration 039): the rows, who may read which, and the facts a subject's statement is
drafted from. Who may write and when is supervision/circulars.py's (and the table's triggers')."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from storage.users import Scope


@dataclass(frozen=True, slots=True)
class Subject:
    """A facility (`facility_id`) or a lower department (`area`: a county's or a township's code), and what
    the circular says of it."""

    facility_id: str | None
    area: str | None
    statement: str


def _visible(scope: Scope, start: int = 1) -> tuple[str, list[str]]:
    """Which circulars `scope` reads, as a WHERE fragment over `circulars c`: the city's people all; a county
    inspector their county's (drafts too) and the issued ones naming the county, a township or a facility of
    it; a township inspector the issued ones naming the township, its county or a facility of it; a
    facility's operator the issued ones naming the facility. Drafts stay within their department."""
    p = f"${start}"
    named_facility = "EXISTS (SELECT 1 FROM circular_subjects s JOIN facilities f ON f.id = s.facility_id"
    named_area = "EXISTS (SELECT 1 FROM circular_subjects s WHERE s.circular_id = c.id AND "
    if scope.role == "operator":
        return f"c.status = 'issued' AND {named_facility} WHERE s.circular_id = c.id AND f.id = {p})", [
            scope.facility or ""
        ]
    if scope.role == "inspector" and scope.township:
        return (
            f"c.status = 'issued' AND ({named_area}s.area IN ({p}, left({p}, 6)))"
            f" OR {named_facility} WHERE s.circular_id = c.id AND f.township = {p}))",
            [scope.township],
        )
    if scope.role == "inspector" and scope.county:
        return (
            f"(c.department = {p} OR (c.status = 'issued' AND ({named_area}left(s.area, 6) = {p})"
            f" OR {named_facility} WHERE s.circular_id = c.id AND f.county = {p}))))",
            [scope.county],
        )
    return "TRUE", []


async def create(
    conn: asyncpg.Connection,
    department: str,
    kind: str,
    title: str,
    body: str,
    public: bool,
    subjects: Sequence[Subject],
    actor: str,
    now: datetime,
) -> int:
    async with conn.transaction():
        cid: int = await conn.fetchval(
            "INSERT INTO circulars (department, kind, title, body, public, drafted_by, drafted_at, updated_by,"
            " updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $7) RETURNING id",
            department,
            kind,
            title,
            body,
            public,
            actor,
            now,
        )
        await _subjects(conn, cid, subjects)
    return cid


async def _subjects(conn: asyncpg.Connection, cid: int, subjects: Sequence[Subject]) -> None:
    await conn.execute("DELETE FROM circular_subjects WHERE circular_id = $1", cid)
    await conn.executemany(
        "INSERT INTO circular_subjects (circular_id, position, facility_id, area, statement)"
        " VALUES ($1, $2, $3, $4, $5)",
        [(cid, i, s.facility_id, s.area, s.statement) for i, s in enumerate(subjects)],
    )


async def locked(conn: asyncpg.Connection, cid: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM circulars WHERE id = $1 FOR UPDATE", cid)


async def update(
    conn: asyncpg.Connection,
    cid: int,
    kind: str,
    title: str,
    body: str,
    public: bool,
    subjects: Sequence[Subject],
    actor: str,
    now: datetime,
) -> None:
    """A draft rewritten with its subjects (the caller holds its lock: `locked`)."""
    await conn.execute(
        "UPDATE circulars SET kind = $2, title = $3, body = $4, public = $5, updated_by = $6, updated_at = $7"
        " WHERE id = $1",
        cid,
        kind,
        title,
        body,
        public,
        actor,
        now,
    )
    await _subjects(conn, cid, subjects)


async def mark_issued(conn: asyncpg.Connection, cid: int, actor: str, now: datetime) -> None:
    await conn.execute(
        "UPDATE circulars SET status = 'issued', issued_by = $2, issued_at = $3, updated_by = $2, updated_at = $3"
        " WHERE id = $1",
        cid,
        actor,
        now,
    )


def _json(r: asyncpg.Record) -> dict[str, Any]:
    return {
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k, v in dict(r).items()
        if k not in {"seq", "year", "number_department"}
    } | ({"number": (r["number_department"], r["year"], r["seq"])} if r["seq"] is not None else {"number": None})


_SELECT = (
    "SELECT c.*, n.department AS number_department, n.year, n.seq FROM circulars c"
    " LEFT JOIN document_numbers n ON n.circular_id = c.id AND n.kind = 'circular'"
)


async def visible(conn: asyncpg.Connection, scope: Scope, limit: int = 200) -> list[dict[str, Any]]:
    """The circulars `scope` reads, newest first."""
    where, args = _visible(scope)
    rows = await conn.fetch(f"{_SELECT} WHERE {where} ORDER BY c.id DESC LIMIT {int(limit)}", *args)
    return [_json(r) for r in rows]


async def detail(conn: asyncpg.Connection, scope: Scope | None, cid: int) -> dict[str, Any] | None:
    """One circular with its subjects (the facility's name and area), if `scope` reads it; `scope` None: a
    public one only (issued and public)."""
    args: list[str] = []
    if scope is None:
        where = "c.status = 'issued' AND c.public"
    else:
        where, args = _visible(scope, start=2)
    r = await conn.fetchrow(f"{_SELECT} WHERE c.id = $1 AND {where}", cid, *args)
    if r is None:
        return None
    subjects = await conn.fetch(
        "SELECT s.position, s.facility_id, s.area, s.statement, f.name AS facility_name, f.county, f.township"
        " FROM circular_subjects s LEFT JOIN facilities f ON f.id = s.facility_id"
        " WHERE s.circular_id = $1 ORDER BY s.position",
        cid,
    )
    return _json(r) | {"subjects": [dict(s) for s in subjects]}


async def public(conn: asyncpg.Connection, limit: int = 50) -> list[asyncpg.Record]:
    """The public circulars, newest first: what the public list shows (never who drafted or issued them)."""
    return list(
        await conn.fetch(
            "SELECT c.id, c.department, c.kind, c.title, c.issued_at, n.department AS number_department, n.year,"
            " n.seq FROM circulars c JOIN document_numbers n ON n.circular_id = c.id AND n.kind = 'circular'"
            " WHERE c.status = 'issued' AND c.public ORDER BY c.issued_at DESC, c.id DESC LIMIT $1",
            limit,
        )
    )


async def open_orders(conn: asyncpg.Connection, facility_id: str | None, area: str | None) -> list[asyncpg.Record]:
    """The open orders of a facility, or of the facilities of an area (a county's or a township's code), with
    their latest answer's time: what a subject's statement is drafted from (supervision.orders decides which
    are late)."""
    return list(
        await conn.fetch(
            "SELECT o.id, o.facility_id, f.name AS facility_name, o.title, o.status, o.due_at, o.issued_level,"
            " (SELECT max(h.at) FROM rectification_history h WHERE h.order_id = o.id AND h.action = 'answered')"
            " AS answered_at FROM rectification_orders o JOIN facilities f ON f.id = o.facility_id"
            " WHERE o.status <> 'accepted' AND (f.id = $1 OR f.county = $2 OR f.township = $2)"
            " ORDER BY o.due_at, o.id",
            facility_id,
            area,
        )
    )


async def facilities_in(conn: asyncpg.Connection, scope: Scope) -> list[asyncpg.Record]:
    """The facilities a writer may name (id, name), by area and name."""
    where, args = scope.sql("f")
    sql = f"SELECT id, name FROM facilities f WHERE {where} ORDER BY county, township, name"
    return list(await conn.fetch(sql, *args))


async def lapses(conn: asyncpg.Connection, facility_id: str, since: datetime, now: datetime) -> list[asyncpg.Record]:
    """The facility's monitoring lapses (the credit evaluation's spans) between `since` and `now`, each cut to
    that window (an open one ends at `now`)."""
    return list(
        await conn.fetch(
            "SELECT rule, greatest(started_at, $2) AS started_at, least(coalesce(ended_at, $3), $3) AS ended_at"
            " FROM lapse_intervals WHERE facility_id = $1 AND started_at < $3 AND coalesce(ended_at, $3) > $2",
            facility_id,
            since,
            now,
        )
    )


async def alerts_opened(conn: asyncpg.Connection, facility_id: str, since: datetime, now: datetime) -> dict[str, int]:
    """The facility's alerts opened between `since` and `now`, counted by rule."""
    rows = await conn.fetch(
        "SELECT rule, count(*) AS n FROM alerts WHERE facility_id = $1 AND opened_at >= $2 AND opened_at < $3"
        " GROUP BY rule ORDER BY count(*) DESC, rule",
        facility_id,
        since,
        now,
    )
    return {r["rule"]: int(r["n"]) for r in rows}


async def facility_count(conn: asyncpg.Connection, area: str) -> int:
    n: int = await conn.fetchval("SELECT count(*) FROM facilities WHERE county = $1 OR township = $1", area)
    return n


async def personal_names(conn: asyncpg.Connection, text: str) -> list[str]:
    """The names of people the registers know (the register of people: staff and the banned; pick-up
    delegates; users' display names) that occur in `text`: a public circular must name none of them."""
    rows = await conn.fetch(
        "SELECT DISTINCT name FROM ("
        " SELECT name FROM people UNION ALL SELECT name FROM pickup_delegates"
        " UNION ALL SELECT display_name FROM users) x"
        " WHERE length(name) >= 2 AND strpos($1, name) > 0 ORDER BY name",
        text,
    )
    return [r["name"] for r in rows]
