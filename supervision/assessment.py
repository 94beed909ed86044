"""The annual assessment (考核评估) of areas (counties of the city, or townships of a county): what the
government side did, ranked (issue #37 item 5). The figures are storage/assessment.py's.

An area's rank must never fall because its inspectors found things, nor rise because they looked away.
Its work index is the mean of what is known of:

- **its facilities' conduct**: the mean of their monthly credit scores *before* the points their
  inspections' findings took (a finding counts on the facility's own record, not against the area that
  made it);
- **inspection coverage**: the share of its facilities with at least one signed inspection in the period;
- **reviews in time**: the share of facilities' answers to rectification orders that a supervisor
  accepted or sent back within REVIEW_WITHIN.

The count of findings enters nowhere; the facilities' plain mean score is shown, not ranked on.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from contract.credit import LAPSE_CLASSES, CreditConfig

REVIEW_WITHIN = timedelta(days=7)  # an answer waits at most a week for its review (the orders' own step)

COLUMNS = [
    "rank",
    "area",
    "work_index",
    "facilities",
    "mean_score",
    "conduct_score",
    "inspected_pct",
    "reviews_in_time_pct",
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


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _mean(xs: list[float]) -> float | None:
    return round(sum(xs) / len(xs), 1) if xs else None


def rank(facilities: list[dict[str, Any]], cfg: CreditConfig) -> list[dict[str, Any]]:
    """One row per area, ranked by its work index (areas with nothing known last)."""
    areas: dict[str, list[dict[str, Any]]] = {}
    for f in facilities:
        areas.setdefault(f["area"], []).append(f)
    rows = []
    for area, facs in areas.items():
        row: dict[str, Any] = {"area": area, "facilities": len(facs)} | dict.fromkeys(COLUMNS[8:], 0)
        means, conduct = [], []
        for f in facs:
            if f["months"]:
                mean = sum(s for s, _ in f["months"]) / len(f["months"])
                means.append(mean)
                conduct.append(sum(min(100.0, s + found) for s, found in f["months"]) / len(f["months"]))
                grade = next((g for g, t in cfg.grades if mean >= t), cfg.grades[-1][0])
                if f"grade_{grade.lower()}" in row:
                    row[f"grade_{grade.lower()}"] += 1
            for rule in LAPSE_CLASSES:
                row[f"lapse_h_{rule}"] = round(row[f"lapse_h_{rule}"] + f["lapse_h"].get(rule, 0.0), 1)
            row["orders_issued"] += f["issued"]
            row["orders_accepted"] += f["accepted"]
            row["orders_due"] += f["due"]
            row["inspections_planned"] += f["planned"]
            row["inspections_done"] += f["signed"]
        on_time = sum(f["due"] - f["late"] for f in facs)
        row["orders_on_time_pct"] = _pct(on_time, row["orders_due"])
        row["mean_score"] = _mean(means)
        row["conduct_score"] = _mean(conduct)
        row["inspected_pct"] = _pct(sum(1 for f in facs if f["signed"]), len(facs))
        row["reviews_in_time_pct"] = _pct(sum(f["reviewed_in_time"] for f in facs), sum(f["answers"] for f in facs))
        parts = [row[k] for k in ("conduct_score", "inspected_pct", "reviews_in_time_pct") if row[k] is not None]
        row["work_index"] = _mean(parts) if row["conduct_score"] is not None else None
        rows.append(row)
    rows.sort(key=lambda r: (r["work_index"] is None, -(r["work_index"] or 0), r["area"]))
    for i, r in enumerate(rows, start=1):
        r["rank"] = i if r["work_index"] is not None else None
    return rows
