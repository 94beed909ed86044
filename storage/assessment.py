"""The annual assessment (考核评估), issue #16 item 4: per area (counties of the city, or townships of a
county) over a period of months, from what the other records already hold: the facilities' stored
monthly credit records (their mean score and its grade), lapse hours by class, rectification orders
(issued, accepted, answered by their date) and inspections (planned, signed). Totals per area and a
ranking by mean score."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import asyncpg

from contract.credit import LAPSE_CLASSES, CreditConfig
from storage.users import Scope

COLUMNS = [
    "rank",
    "area",
    "facilities",
    "mean_score",
    "grade_a",
    "grade_b",
    "grade_c",
    "grade_d",
    *[f"lapse_h_{rule}" for rule in LAPSE_CLASSES],
    "orders_issued",
    "orders_accepted",
    "orders_due",
    "orders_on_time_pct",
    "inspections_planned",
    "inspections_done",
]


async def assess(
    conn: asyncpg.Connection,
    scope: Scope,
    start: datetime,
    end: datetime,
    by: str,
    cfg: CreditConfig,
    county: str | None = None,
    *,
    now: datetime,
) -> list[dict[str, Any]]:
    """One row per area (`by`: county or township), ranked by the mean of its facilities' mean monthly
    score; closed months only count once their records are stored (storage.credit.month_report). A
    period not yet over counts up to `now` (a lapse still open, for one)."""
    end = min(end, now)
    where, args = scope.sql("f", start=3)
    if county:
        args.append(county)
        where += f" AND f.county = ${len(args) + 2}"
    col = "f.county" if by == "county" else "f.township"
    p = (start, end, *args)
    facs = {
        r["id"]: r["area"]
        for r in await conn.fetch(
            f"SELECT f.id, {col} AS area FROM facilities f WHERE $1::timestamptz <= $2::timestamptz AND {where}", *p
        )
    }
    scores: dict[str, list[float]] = defaultdict(list)
    for r in await conn.fetch(
        "SELECT c.facility_id, c.score FROM credit_records c JOIN facilities f ON f.id = c.facility_id"
        f" WHERE c.month >= $1::timestamptz::date AND c.month < $2::timestamptz::date AND {where}",
        *p,
    ):
        scores[r["facility_id"]].append(float(r["score"]))
    lapse_h: dict[tuple[str, str], float] = defaultdict(float)
    for r in await conn.fetch(
        "SELECT l.facility_id, l.rule, sum(extract(epoch FROM least(coalesce(l.ended_at, $2), $2)"
        " - greatest(l.started_at, $1))) / 3600 AS hours"
        " FROM lapse_intervals l JOIN facilities f ON f.id = l.facility_id"
        f" WHERE l.started_at < $2 AND coalesce(l.ended_at, $2) > $1 AND {where} GROUP BY 1, 2",
        *p,
    ):
        lapse_h[(r["facility_id"], r["rule"])] += float(r["hours"] or 0)
    orders = {
        r["facility_id"]: r
        for r in await conn.fetch(
            "SELECT o.facility_id, count(*) FILTER (WHERE o.issued_at >= $1 AND o.issued_at < $2) AS issued,"
            " count(*) FILTER (WHERE o.closed_at >= $1 AND o.closed_at < $2) AS accepted,"
            " count(*) FILTER (WHERE o.due_at >= $1 AND o.due_at < $2) AS due,"
            " count(*) FILTER (WHERE o.due_at >= $1 AND o.due_at < $2 AND EXISTS (SELECT 1 FROM"
            " rectification_history h WHERE h.order_id = o.id AND h.action = 'answered' AND h.at <= o.due_at))"
            " AS on_time FROM rectification_orders o JOIN facilities f ON f.id = o.facility_id"
            f" WHERE {where} GROUP BY 1",
            *p,
        )
    }
    insp = {
        r["facility_id"]: r
        for r in await conn.fetch(
            "SELECT i.facility_id, count(*) AS planned, count(*) FILTER (WHERE i.status = 'signed') AS done"
            " FROM inspections i JOIN facilities f ON f.id = i.facility_id"
            f" WHERE i.planned_for >= $1::timestamptz::date AND i.planned_for < $2::timestamptz::date AND {where}"
            " GROUP BY 1",
            *p,
        )
    }
    areas: dict[str, dict[str, Any]] = {}
    for fid, area in facs.items():
        a = areas.setdefault(area, {"area": area, "facilities": 0, "_means": []} | dict.fromkeys(COLUMNS[4:], 0))
        a["facilities"] += 1
        if scores[fid]:
            mean = sum(scores[fid]) / len(scores[fid])
            a["_means"].append(mean)
            grade = next((g for g, t in cfg.grades if mean >= t), cfg.grades[-1][0])
            key = f"grade_{grade.lower()}"
            if key in a:
                a[key] += 1
        for rule in LAPSE_CLASSES:
            a[f"lapse_h_{rule}"] = round(a[f"lapse_h_{rule}"] + lapse_h.get((fid, rule), 0.0), 1)
        if (o := orders.get(fid)) is not None:
            a["orders_issued"] += o["issued"]
            a["orders_accepted"] += o["accepted"]
            a["orders_due"] += o["due"]
            a["_on_time"] = a.get("_on_time", 0) + o["on_time"]
        if (i := insp.get(fid)) is not None:
            a["inspections_planned"] += i["planned"]
            a["inspections_done"] += i["done"]
    rows = []
    for a in areas.values():
        means = a.pop("_means")
        on_time = a.pop("_on_time", 0)
        a["mean_score"] = round(sum(means) / len(means), 1) if means else None
        a["orders_on_time_pct"] = round(100.0 * on_time / a["orders_due"], 1) if a["orders_due"] else None
        rows.append(a)
    rows.sort(key=lambda r: (r["mean_score"] is None, -(r["mean_score"] or 0), r["area"]))
    for i, r in enumerate(rows, start=1):
        r["rank"] = i if r["mean_score"] is not None else None
    return rows
