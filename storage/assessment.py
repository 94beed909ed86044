"""The annual assessment's figures (考核评估; the ranking is supervision/assessment.py): per facility over
a period, from what the other records already hold: its stored monthly credit records (score, and the
part its inspections' findings took), lapse hours by class, rectification orders (issued, accepted, on
time by contract.rectification), answers and how soon the supervisors reviewed them, inspections
(planned, signed)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from contract.credit import LAPSE_CLASSES
from storage.credit import orders_late
from storage.users import Scope


async def gather(
    conn: asyncpg.Connection,
    scope: Scope,
    start: datetime,
    end: datetime,
    by: str,
    review_within: timedelta,
    county: str | None = None,
    *,
    now: datetime,
) -> list[dict[str, Any]]:
    """One dict per facility in scope: its area (`by`: county or township) and its figures for the period
    (up to `now`: a lapse still open counts so far)."""
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
            "answers": 0,
            "reviewed_in_time": 0,
            "planned": 0,
            "signed": 0,
        }
        for r in await conn.fetch(
            f"SELECT f.id, {col} AS area FROM facilities f WHERE $1::timestamptz <= $2::timestamptz AND {where}", *p
        )
    }
    for r in await conn.fetch(
        "SELECT c.facility_id, c.score, c.figures FROM credit_records c JOIN facilities f ON f.id = c.facility_id"
        f" WHERE c.month >= $1::timestamptz::date AND c.month < $2::timestamptz::date AND {where}",
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
    # an answer is reviewed in time when the supervisor accepted or returned it within review_within; one
    # whose time has not run out yet and is still waiting is not counted either way
    for r in await conn.fetch(
        "SELECT o.facility_id, count(*) AS answers, count(*) FILTER (WHERE EXISTS (SELECT 1 FROM"
        " rectification_history v WHERE v.order_id = h.order_id AND v.action IN ('accepted', 'returned')"
        f" AND v.at >= h.at AND v.at <= h.at + ${len(args) + 3})) AS in_time"
        " FROM rectification_history h JOIN rectification_orders o ON o.id = h.order_id"
        " JOIN facilities f ON f.id = o.facility_id"
        f" WHERE h.action = 'answered' AND h.at >= $1 AND h.at < $2 AND {where}"
        f" AND (h.at + ${len(args) + 3} <= $2 OR EXISTS (SELECT 1 FROM rectification_history v"
        " WHERE v.order_id = h.order_id AND v.action IN ('accepted', 'returned') AND v.at >= h.at))"
        " GROUP BY 1",
        *p,
        review_within,
    ):
        facs[r["facility_id"]] |= {"answers": r["answers"], "reviewed_in_time": r["in_time"]}
    for r in await conn.fetch(
        "SELECT i.facility_id, count(*) AS planned, count(*) FILTER (WHERE i.status = 'signed') AS signed"
        " FROM inspections i JOIN facilities f ON f.id = i.facility_id"
        f" WHERE i.planned_for >= $1::timestamptz::date AND i.planned_for < $2::timestamptz::date AND {where}"
        " GROUP BY 1",
        *p,
    ):
        facs[r["facility_id"]] |= {"planned": r["planned"], "signed": r["signed"]}
    return list(facs.values())
