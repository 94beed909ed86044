"""The assessment's figures (督导评估; the ranking is supervision/assessment.py): per facility over a period,
from what the other records already hold: its stored monthly credit records (score, and the part its
inspections' findings took), lapse hours by class, rectification orders (issued, accepted, on time by
contract.rectification), the answers with when a supervisor reviewed them, inspections (planned by hand,
drawn by a 双随机 draw, done), the orders that climbed above the area (督办) and how they ended, parents'
complaints with when they were answered, filings with when they were reviewed, its type, places and filing
status at the period's end (the statistics held against the plan's targets); and the 约谈 of areas
(migration 041). Times are returned as they are: what counts as in time is decided above."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime
from typing import Any

import asyncpg

from contract.credit import LAPSE_CLASSES
from storage.credit import orders_late
from storage.users import Scope

# the levels above an area of each kind: an order that climbed to one of them was 督办'd above the area
ABOVE = {"county": ["city"], "township": ["county", "city"]}


async def gather(
    conn: asyncpg.Connection,
    scope: Scope,
    start: datetime,
    end: datetime,
    by: str,
    county: str | None = None,
    *,
    now: datetime,
) -> list[dict[str, Any]]:
    """One dict per facility in scope: its area (`by`: county or township) and its figures for the period
    (up to `now`: a lapse still open counts so far, an inspection counts once the day it was planned for
    has passed)."""
    end = min(end, now)
    where, args = scope.sql("f", start=3)
    if county:
        args.append(county)
        where += f" AND f.county = ${len(args) + 2}"
    col = "f.county" if by == "county" else "f.township"
    p = (start, end, *args)
    facs: dict[str, dict[str, Any]] = {
        r["id"]: {
            "id": r["id"],
            "area": r["area"],
            "months": [],  # (score as it stands, points its inspections' findings took)
            "lapse_h": defaultdict(float),
            "issued": 0,
            "accepted": 0,
            "due": 0,
            "late": 0,
            "answers": [],  # (answered at, first accepted / returned / sent to 复查 after it, or None)
            "planned": 0,
            "signed": 0,
            "hand_planned": 0,
            "hand_done": 0,
            "drawn": 0,
            "drawn_done": 0,
            "escalated": [],  # (order id, whose delay: answer | review, closed)
            "complaints": [],  # (filed at, due at, answered at or None)
            "filings": [],  # ((re)submitted at, reviewed at or None)
        }
        for r in await conn.fetch(
            f"SELECT f.id, {col} AS area FROM facilities f WHERE $1::timestamptz <= $2::timestamptz AND {where}", *p
        )
    }
    for r in await conn.fetch(
        "SELECT c.facility_id, c.score, c.figures FROM credit_records c JOIN facilities f ON f.id = c.facility_id"
        # months and days by the facility's own calendar (a bare ::date is the session's UTC day: from midnight to
        # 08:00 in Xinzhou it was the day before, and yesterday's inspections did not count yet; seen in CI at 00:09)
        " WHERE c.month >= ($1::timestamptz AT TIME ZONE f.timezone)::date"
        f" AND c.month < ($2::timestamptz AT TIME ZONE f.timezone)::date AND {where}",
        *p,
    ):
        figures = json.loads(r["figures"]) if isinstance(r["figures"], str) else r["figures"]
        facs[r["facility_id"]]["months"].append((float(r["score"]), float(figures["parts"].get("inspections", 0))))
    for r in await conn.fetch(
        "SELECT l.facility_id, l.rule, sum(extract(epoch FROM least(coalesce(l.ended_at, $2), $2)"
        " - greatest(l.started_at, $1))) / 3600 AS hours"
        " FROM lapse_intervals l JOIN facilities f ON f.id = l.facility_id"
        f" WHERE l.started_at < $2 AND coalesce(l.ended_at, $2) > $1 AND {where} GROUP BY 1, 2",
        *p,
    ):
        if r["rule"] in LAPSE_CLASSES:
            facs[r["facility_id"]]["lapse_h"][r["rule"]] += float(r["hours"] or 0)
    for r in await conn.fetch(
        "SELECT o.facility_id, count(*) FILTER (WHERE o.issued_at >= $1 AND o.issued_at < $2) AS issued,"
        " count(*) FILTER (WHERE o.closed_at >= $1 AND o.closed_at < $2) AS accepted"
        f" FROM rectification_orders o JOIN facilities f ON f.id = o.facility_id WHERE {where} GROUP BY 1",
        *p,
    ):
        facs[r["facility_id"]] |= {"issued": r["issued"], "accepted": r["accepted"]}
    for fid, (due, late) in (await orders_late(conn, list(facs), start, end)).items():
        facs[fid] |= {"due": due, "late": late}
    # each answer of the period with the supervisor's first step on it after it came (accept, return, or
    # accept pending a 复查)
    for r in await conn.fetch(
        "SELECT o.facility_id, h.at, (SELECT min(v.at) FROM rectification_history v WHERE v.order_id = h.order_id"
        " AND v.action IN ('accepted', 'returned', 'recheck') AND v.at >= h.at AND v.at < $2) AS reviewed"
        " FROM rectification_history h JOIN rectification_orders o ON o.id = h.order_id"
        " JOIN facilities f ON f.id = o.facility_id"
        f" WHERE h.action = 'answered' AND h.at >= $1 AND h.at < $2 AND {where} ORDER BY h.at",
        *p,
    ):
        facs[r["facility_id"]]["answers"].append((r["at"], r["reviewed"]))
    # inspections planned for a day of the period before today: by hand (and 复查), or by a draw that was not
    # drawn again (a re-draw's picks replace the draw it follows); done = signed, a drawn one by two officers
    for r in await conn.fetch(
        "SELECT i.facility_id, count(*) AS planned, count(*) FILTER (WHERE i.status = 'signed') AS signed,"
        " count(*) FILTER (WHERE p.draw_id IS NULL) AS hand_planned,"
        " count(*) FILTER (WHERE p.draw_id IS NULL AND i.status = 'signed') AS hand_done,"
        " count(*) FILTER (WHERE p.draw_id IS NOT NULL AND NOT x.redrawn) AS drawn,"
        " count(*) FILTER (WHERE p.draw_id IS NOT NULL AND NOT x.redrawn AND i.status = 'signed'"
        " AND i.countersigned_by IS NOT NULL) AS drawn_done"
        # a joint inspection (联合检查) once, led by its lead's row and done when every department's part is
        " FROM (SELECT coalesce(joint_id, id) AS id, facility_id, min(planned_for) AS planned_for,"
        " CASE WHEN bool_and(status = 'signed') THEN 'signed' ELSE 'planned' END AS status,"
        " CASE WHEN bool_and(countersigned_by IS NOT NULL) THEN 'both' END AS countersigned_by"
        # (its parts are of its day: migration 043)
        # (a day either side: any zone's day of the bounds; the facility's own below)
        " FROM inspections WHERE planned_for >= $1::timestamptz::date - 1 AND planned_for < $2::timestamptz::date + 2"
        " GROUP BY 1, 2) i JOIN facilities f ON f.id = i.facility_id"
        " LEFT JOIN random_draw_picks p ON p.inspection_id = i.id"
        " CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM random_draws d WHERE d.redraw_of = p.draw_id) AS redrawn) x"
        " WHERE i.planned_for >= ($1::timestamptz AT TIME ZONE f.timezone)::date"
        f" AND i.planned_for < ($2::timestamptz AT TIME ZONE f.timezone)::date AND {where} GROUP BY 1",
        *p,
    ):
        facs[r["facility_id"]] |= {k: r[k] for k in ("planned", "signed", "hand_planned", "hand_done")}
        facs[r["facility_id"]] |= {"drawn": r["drawn"], "drawn_done": r["drawn_done"]}
    # 督办: the orders that climbed above the area in the period, whose delay it was, and whether they closed
    above = len(args) + 3
    for r in await conn.fetch(
        "SELECT o.facility_id, o.id, bool_or(h.detail->>'late' = 'review') AS review,"
        " o.status = 'accepted' AND o.closed_at < $2 AS closed"
        " FROM rectification_history h JOIN rectification_orders o ON o.id = h.order_id"
        " JOIN facilities f ON f.id = o.facility_id"
        f" WHERE h.action = 'escalated' AND h.at >= $1 AND h.at < $2 AND h.detail->>'to' = ANY(${above}::text[])"
        f" AND {where} GROUP BY o.facility_id, o.id, o.status, o.closed_at ORDER BY o.id",
        *p,
        ABOVE[by],
    ):
        facs[r["facility_id"]]["escalated"].append((r["id"], "review" if r["review"] else "answer", r["closed"]))
    for r in await conn.fetch(
        "SELECT c.facility_id, c.filed_at, c.due_at, CASE WHEN c.answered_at < $2 THEN c.answered_at END AS answered"
        " FROM complaints c JOIN facilities f ON f.id = c.facility_id"
        f" WHERE c.filed_at >= $1 AND c.filed_at < $2 AND {where} ORDER BY c.filed_at",
        *p,
    ):
        facs[r["facility_id"]]["complaints"].append((r["filed_at"], r["due_at"], r["answered"]))
    # each (re)submission of a filing in the period with the review that followed it
    for r in await conn.fetch(
        "SELECT fi.facility_id, h.at, (SELECT min(v.at) FROM filing_history v WHERE v.filing_id = h.filing_id"
        " AND v.action IN ('returned', 'accepted', 'refused') AND v.at >= h.at AND v.at < $2) AS reviewed"
        " FROM filing_history h JOIN filings fi ON fi.id = h.filing_id JOIN facilities f ON f.id = fi.facility_id"
        f" WHERE h.action IN ('submitted', 'resubmitted') AND h.at >= $1 AND h.at < $2 AND {where} ORDER BY h.at",
        *p,
    ):
        facs[r["facility_id"]]["filings"].append((r["at"], r["reviewed"]))
    # the statistics the plan's targets are about (supervision/assessment.py TARGETS), at the period's end: the
    # facility's type and places (the registry as it stands: it keeps no history), whether it was registered
    # and filed (备案: a filing accepted) by then, and the last step of its filings before then
    for r in await conn.fetch(
        "SELECT f.id, f.kind, f.registered_at < $2 AS registered,"
        " (SELECT coalesce(sum(c.capacity), 0) FROM classes c WHERE c.facility_id = f.id) AS places,"
        " EXISTS (SELECT 1 FROM filings x WHERE x.facility_id = f.id AND x.status = 'accepted'"
        "  AND x.reviewed_at < $2) AS filed,"
        " (SELECT h.action FROM filing_history h JOIN filings x ON x.id = h.filing_id"
        "  WHERE x.facility_id = f.id AND h.at < $2 ORDER BY h.at DESC, h.id DESC LIMIT 1) AS last_filing"
        f" FROM facilities f WHERE $1::timestamptz <= $2::timestamptz AND {where}",
        *p,
    ):
        facs[r["id"]] |= {
            "kind": r["kind"],
            "registered": r["registered"],
            "places": int(r["places"]),
            "filed": r["filed"],
            "last_filing": r["last_filing"],
        }
    return list(facs.values())


# -- 约谈 of an area (migration 041) -------------------------------------------------------------------------
async def area_exists(conn: asyncpg.Connection, level: str, area: str) -> bool:
    """An area the registry knows: a county or a township with a facility."""
    col = "county" if level == "county" else "township"
    return bool(await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM facilities WHERE {col} = $1)", area))


async def record_summons(conn: asyncpg.Connection, row: dict[str, Any]) -> int:
    sid: int = await conn.fetchval(
        "INSERT INTO area_summons (level, county, area, period, held_on, people, minutes, recorded_by, recorded_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        row["level"],
        row["county"],
        row["area"],
        row["period"],
        row["held_on"],
        row["people"],
        row["minutes"],
        row["recorded_by"],
        row["recorded_at"],
    )
    return sid


def _summons_scope(scope: Scope, start: int) -> tuple[str, list[str]]:
    """Which 约谈 `scope` reads, as a WHERE fragment over `area_summons`: the city's people all; a county
    inspector those of its county (its own and its townships'); a township inspector its own; an operator
    none (the 约谈 are the departments')."""
    if scope.role == "operator":
        return "FALSE", []
    if scope.role == "inspector" and scope.township:
        return f"area = ${start}", [scope.township]
    if scope.role == "inspector" and scope.county:
        return f"county = ${start}", [scope.county]
    return "TRUE", []


def _summons_json(r: asyncpg.Record) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, date | datetime) else v) for k, v in dict(r).items()}


async def summonses_in(
    conn: asyncpg.Connection, scope: Scope, year: int | None, county: str | None, limit: int = 500
) -> list[dict[str, Any]]:
    """The 约谈 `scope` reads, newest first: of a year's assessments (`year`), of one county and its townships
    (`county`), or all."""
    where, args = _summons_scope(scope, 3)
    rows = await conn.fetch(
        "SELECT * FROM area_summons WHERE ($1::text IS NULL OR period LIKE $1) AND ($2::text IS NULL OR county = $2)"
        f" AND {where} ORDER BY held_on DESC, id DESC LIMIT {int(limit)}",
        None if year is None else f"{year}%",
        county,
        *args,
    )
    return [_summons_json(r) for r in rows]


async def summons(conn: asyncpg.Connection, scope: Scope, sid: int) -> dict[str, Any] | None:
    """One 约谈, if `scope` reads it."""
    where, args = _summons_scope(scope, 2)
    r = await conn.fetchrow(f"SELECT * FROM area_summons WHERE id = $1 AND {where}", sid, *args)
    return None if r is None else _summons_json(r)
