"""The rows the statistics (信息统计监测, issue #40 item 8) are counted from: SQL only. Which row counts in which
figure of which month is supervision/statistics.py's; here each query reads the facilities in scope (and in
the area asked for) and what their records hold for a month, [start, as_of), bounds given by the caller.

The registry keeps no history of classes, children or staff: those rows are as they stand (the page says so);
a facility's registration time and its first accepted filing (登记备案) are dated, as are inspections, orders
and alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from storage.credit import CITY_TZ, orders_late
from storage.users import Scope


def area_where(scope: Scope, area: str | None, start: int = 1) -> tuple[str, list[Any]]:
    """The scope's WHERE over facilities `f`, narrowed to a county (6 digits) or a township (9) when given."""
    where, args = scope.sql("f", start=start)
    out: list[Any] = list(args)
    if area:
        out.append(area)
        where += f" AND f.{'township' if len(area) == 9 else 'county'} = ${start + len(out) - 1}"
    return where, out


async def gather(
    conn: asyncpg.Connection, scope: Scope, area: str | None, start: datetime, end: datetime, as_of: datetime
) -> dict[str, list[dict[str, Any]]]:
    """Every row the month's figures need, as plain dicts: facilities (with their registration and first
        acceptance time), classes (with the children enrolled in each), staff (with the register's certificates),
        inspections planned or signed in the month, orders issued, falling due (and how many of those are late, as
        judged at `as_of`: contract.rectification.is_late) or escalated (督办) in the month, alerts opened. Dated acts
    count in [start, as_of); inspections planned for a day of [start, end) in the city's time."""
    where, args = area_where(scope, area)
    facilities = [
        dict(r)
        for r in await conn.fetch(
            "SELECT f.id, f.county, f.township, f.kind, f.registered_at,"
            " (SELECT min(x.reviewed_at) FROM filings x WHERE x.facility_id = f.id AND x.status = 'accepted')"
            f" AS filed_at FROM facilities f WHERE {where} ORDER BY f.id",
            *args,
        )
    ]
    ids = [f["id"] for f in facilities]
    classes = [
        dict(r)
        for r in await conn.fetch(
            # one pass over the children (a subquery per class read them all again for each: 0.4 s for 2,000
            # facilities)
            "SELECT c.facility_id, c.id, c.age_group, c.capacity, count(k.id) AS enrolled FROM classes c"
            " LEFT JOIN children k ON k.facility_id = c.facility_id AND k.class_id = c.id"
            " WHERE c.facility_id = ANY($1::text[]) GROUP BY c.facility_id, c.id ORDER BY 1, 2",
            ids,
        )
    ]
    staff = [
        dict(r)
        for r in await conn.fetch(
            "SELECT s.facility_id, s.id, s.role, s.qualified, s.person_key,"
            " coalesce(p.qualifications, '[]'::jsonb)::text AS qualifications"
            " FROM staff s LEFT JOIN people p ON p.key = s.person_key"
            " WHERE s.facility_id = ANY($1::text[]) ORDER BY 1, 2",
            ids,
        )
    ]
    inspections = [
        dict(r)
        for r in await conn.fetch(
            # a joint inspection (联合检查, migration 043) is one inspection however many departments' parts it
            # has: planned once, signed when its last part is (its parts counted apiece, three departments
            # visiting together counted three inspections, and a joint one with a part open counted as done)
            "SELECT coalesce(i.joint_id, i.id) AS id, i.facility_id, min(i.planned_for) AS planned_for,"
            " CASE WHEN bool_and(i.status = 'signed') THEN 'signed' ELSE 'planned' END AS status,"
            " max(coalesce(i.countersigned_at, i.inspected_at)) AS signed_at,"
            " bool_or(EXISTS (SELECT 1 FROM random_draw_picks d WHERE d.inspection_id = i.id)) AS drawn"
            " FROM inspections i WHERE i.facility_id = ANY($1::text[])"
            " GROUP BY coalesce(i.joint_id, i.id), i.facility_id"
            " HAVING (min(i.planned_for) >= $4 AND min(i.planned_for) < $5)"
            "  OR (bool_and(i.status = 'signed') AND max(coalesce(i.countersigned_at, i.inspected_at)) >= $2"
            "      AND max(coalesce(i.countersigned_at, i.inspected_at)) < $3)"
            " ORDER BY 1",
            ids,
            start,
            as_of,
            start.astimezone(CITY_TZ).date(),
            end.astimezone(CITY_TZ).date(),
        )
    ]
    issued = [
        dict(r)
        for r in await conn.fetch(
            "SELECT o.id, o.facility_id, o.issued_at FROM rectification_orders o"
            " WHERE o.facility_id = ANY($1::text[]) AND o.issued_at >= $2 AND o.issued_at < $3 ORDER BY o.id",
            ids,
            start,
            as_of,
        )
    ]
    escalated = [
        dict(r)
        for r in await conn.fetch(
            "SELECT DISTINCT o.id, o.facility_id FROM rectification_orders o"
            " JOIN rectification_history h ON h.order_id = o.id"
            " WHERE o.facility_id = ANY($1::text[]) AND h.action = 'escalated' AND h.at >= $2 AND h.at < $3"
            " ORDER BY o.id",
            ids,
            start,
            as_of,
        )
    ]
    due = [
        {"facility_id": fid, "due": n, "late": late}
        for fid, (n, late) in sorted((await orders_late(conn, ids, start, as_of)).items())
    ]
    alerts = [
        dict(r)
        for r in await conn.fetch(
            "SELECT a.facility_id, a.rule, count(*) AS n FROM alerts a WHERE a.facility_id = ANY($1::text[])"
            " AND a.opened_at >= $2 AND a.opened_at < $3 GROUP BY 1, 2 ORDER BY 1, 2",
            ids,
            start,
            as_of,
        )
    ]
    return {
        "facilities": facilities,
        "classes": classes,
        "staff": staff,
        "inspections": inspections,
        "issued": issued,
        "escalated": escalated,
        "due": due,
        "alerts": alerts,
    }
