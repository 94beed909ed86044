"""双随机一公开 (migration 035): the published lists of a county, the recorded draws and their picks, the
inspectors' availability. SQL only: who may draw and how is supervision/draws.py; the algorithm is
supervision/draw.py."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import asyncpg


async def lock_county(conn: asyncpg.Connection, county: str) -> None:
    """Serialize the draws of one county (inside the caller's transaction): each takes the next number and
    the previous seed, and two at once would take the same."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('random_draw:' || $1))", county)


async def listed_facilities(conn: asyncpg.Connection, county: str) -> list[asyncpg.Record]:
    """The county's facilities as the registry has them: the published facility list."""
    return await conn.fetch(
        "SELECT id, name, township FROM facilities WHERE county = $1 ORDER BY id",
        county,
    )


async def listed_inspectors(conn: asyncpg.Connection, county: str) -> list[asyncpg.Record]:
    """The county's 卫健 inspector accounts (county and township level, not disabled; a draw plans 卫健's
    inspections, migration 043) with their availability: the published inspector list. Available unless
    marked otherwise."""
    return await conn.fetch(
        "SELECT u.username, u.display_name, coalesce(u.scope_township, '') AS township,"
        " coalesce(a.available, true) AS available, coalesce(a.reason, '') AS reason, a.changed_by, a.changed_at"
        " FROM users u LEFT JOIN draw_availability a ON a.username = u.username"
        " WHERE u.role = 'inspector' AND u.department = 'health' AND u.scope_county = $1 AND NOT u.disabled"
        " ORDER BY u.username",
        county,
    )


async def inspector_county(conn: asyncpg.Connection, username: str) -> str | None:
    """The county of an inspector account scoped below the city (None: no such account, or the city's)."""
    county: str | None = await conn.fetchval(
        "SELECT scope_county FROM users WHERE username = $1 AND role = 'inspector' AND NOT disabled", username
    )
    return county


async def set_availability(
    conn: asyncpg.Connection, username: str, available: bool, reason: str, actor: str, now: datetime
) -> None:
    await conn.execute(
        "INSERT INTO draw_availability (username, available, reason, changed_by, changed_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username) DO UPDATE SET available = $2, reason = $3,"
        " changed_by = $4, changed_at = $5",
        username,
        available,
        reason,
        actor,
        now,
    )


async def last_draw(conn: asyncpg.Connection, county: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, seq, seed FROM random_draws WHERE county = $1 ORDER BY seq DESC LIMIT 1", county
    )


async def last_in_period(conn: asyncpg.Connection, county: str, first: date, last: date) -> int | None:
    """The latest draw of the county planned within [first, last] (a month): a new one re-draws it."""
    found: int | None = await conn.fetchval(
        "SELECT id FROM random_draws WHERE county = $1 AND planned_for BETWEEN $2 AND $3 ORDER BY seq DESC LIMIT 1",
        county,
        first,
        last,
    )
    return found


async def insert_draw(conn: asyncpg.Connection, row: dict[str, Any]) -> int:
    draw_id: int = await conn.fetchval(
        "INSERT INTO random_draws (county, seq, algorithm, drawn_by, drawn_level, drawn_at, planned_for, count,"
        " inputs, inputs_sha256, previous_seed, seed, picks, redraw_of, reason)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
        row["county"],
        row["seq"],
        row["algorithm"],
        row["drawn_by"],
        row["drawn_level"],
        row["drawn_at"],
        row["planned_for"],
        row["count"],
        json.dumps(row["inputs"], ensure_ascii=False),
        row["inputs_sha256"],
        row["previous_seed"],
        row["seed"],
        json.dumps(row["picks"], ensure_ascii=False),
        row["redraw_of"],
        row["reason"],
    )
    return draw_id


async def insert_pick(
    conn: asyncpg.Connection, draw_id: int, facility_id: str, inspection_id: int, inspectors: tuple[str, str]
) -> None:
    await conn.execute(
        "INSERT INTO random_draw_picks (draw_id, facility_id, inspection_id, inspector_a, inspector_b)"
        " VALUES ($1, $2, $3, $4, $5)",
        draw_id,
        facility_id,
        inspection_id,
        *inspectors,
    )


def _json(v: Any) -> Any:
    return json.loads(v) if isinstance(v, str) else v


async def draws(conn: asyncpg.Connection, county: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The draws (of a county, or all), newest first, with what each picked and how far it has got."""
    rows = await conn.fetch(
        "SELECT d.id, d.county, d.seq, d.drawn_by, d.drawn_level, d.drawn_at, d.planned_for, d.count,"
        " d.redraw_of, d.reason, count(i.id) FILTER (WHERE i.status = 'signed')::int AS signed"
        " FROM random_draws d LEFT JOIN random_draw_picks p ON p.draw_id = d.id"
        " LEFT JOIN inspections i ON i.id = p.inspection_id"
        " WHERE $1::text IS NULL OR d.county = $1 GROUP BY d.id ORDER BY d.drawn_at DESC, d.id DESC"
        f" LIMIT {int(limit)}",
        county,
    )
    return [dict(r) for r in rows]


async def draw_row(conn: asyncpg.Connection, draw_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM random_draws WHERE id = $1", draw_id)


async def results(conn: asyncpg.Connection, draw_id: int) -> list[dict[str, Any]]:
    """Each pick with its facility's name, its planned inspection's state and an outcome summary (items
    failed, orders issued from it and how many are accepted): what is published of the draw's results."""
    rows = await conn.fetch(
        "SELECT p.facility_id, f.name AS facility_name, f.township, p.inspection_id, p.inspector_a, p.inspector_b,"
        " i.planned_for, i.status, i.inspected_at, i.findings,"
        " (SELECT count(*) FROM rectification_orders o WHERE o.inspection_id = i.id)::int AS orders,"
        " (SELECT count(*) FROM rectification_orders o WHERE o.inspection_id = i.id AND o.status = 'accepted')::int"
        " AS orders_accepted"
        " FROM random_draw_picks p JOIN facilities f ON f.id = p.facility_id"
        " JOIN inspections i ON i.id = p.inspection_id"
        " WHERE p.draw_id = $1 ORDER BY p.inspection_id",
        draw_id,
    )
    out = []
    for r in rows:
        findings = _json(r["findings"]) or {}
        signed = r["status"] == "signed"
        out.append(
            {
                "facility_id": r["facility_id"],
                "facility_name": r["facility_name"],
                "township": r["township"],
                "inspection_id": r["inspection_id"],
                "inspectors": [r["inspector_a"], r["inspector_b"]],
                "planned_for": r["planned_for"].isoformat(),
                "status": r["status"],
                "inspected_on": r["inspected_at"].date().isoformat() if signed and r["inspected_at"] else None,
                "failed_items": sum(1 for f in findings.values() if f.get("result") == "fail") if signed else None,
                "orders": r["orders"],
                "orders_accepted": r["orders_accepted"],
            }
        )
    return out


async def public_record(conn: asyncpg.Connection, draw_id: int) -> dict[str, Any] | None:
    """A draw's public record (for 信息公示 pages and `carewatch draw verify`): everything needed to re-run it
    (supervision.draw.verify) and its results, and nothing about people beyond the inspector accounts named
    in the published list. Not the account that drew (only its level)."""
    d = await draw_row(conn, draw_id)
    if d is None:
        return None
    return {
        "id": d["id"],
        "county": d["county"],
        "seq": d["seq"],
        "algorithm": d["algorithm"],
        "drawn_level": d["drawn_level"],
        "drawn_at": d["drawn_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),  # as in its seed
        "planned_for": d["planned_for"].isoformat(),
        "count": d["count"],
        "inputs": _json(d["inputs"]),
        "inputs_sha256": d["inputs_sha256"],
        "previous_seed": d["previous_seed"],
        "seed": d["seed"],
        "picks": _json(d["picks"]),
        "redraw_of": d["redraw_of"],
        "reason": d["reason"],
        "results": [
            {k: v for k, v in r.items() if k not in {"inspection_id", "inspectors"}}
            for r in await results(conn, draw_id)
        ],
    }


async def stored_picks(conn: asyncpg.Connection, draw_id: int) -> list[dict[str, Any]]:
    """The picks as the planned inspections hold them (to compare with the draw's recorded result)."""
    rows = await conn.fetch(
        "SELECT p.facility_id, p.inspector_a, p.inspector_b, i.facility_id AS inspected"
        " FROM random_draw_picks p JOIN inspections i ON i.id = p.inspection_id WHERE p.draw_id = $1",
        draw_id,
    )
    return [dict(r) for r in rows]
