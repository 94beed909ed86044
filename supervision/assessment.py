"""督导评估 (issue #40 item 9; first built for issue #37 item 5): the city assessing its counties' work, a county
its townships', over a year or a quarter. The figures are storage/assessment.py's; this module decides what
counts as in time, computes each indicator and ranks the areas by their *work index*.

An area's rank must never fall because its inspectors found things, nor rise because they looked away.
The index is the weighted mean (WEIGHTS) of the indicators the area has cases for:

- **inspection coverage**: the share of its facilities with a signed inspection in the period;
- **against the plan**: the inspections planned by hand (and 复查) for a day of the period before today, done
  and signed;
- **against the draw**: the inspections a 双随机 draw planned for a day of the period before today (a
  re-drawn draw's picks replaced by the re-draw's), done and signed by two officers;
- **reviews in time**: the answers to orders a supervisor accepted, sent back or sent to 复查 within
  REVIEW_WITHIN; an answer still waiting past it counts as late, one whose time has not run out is not
  counted yet;
- **complaints answered in time**: parents' complaints answered by their due date (15 days,
  supervision/complaints.py), the same way;
- **filings reviewed in time**: each (re)submission reviewed within 5 working days (supervision/filing.py);
- **against the plan's targets** (规划目标, contract/targets.py): the area's statistics at the period's end held
  against the plan's targets, each attained at most 100 % (above the target counts as the target), their mean:
  每千人口托位数 (places × 1000 / the area's population, contract/population.py; unknown without one), the
  普惠 share of places, and the 备案率 (facilities filed / facilities registered). For the index the 备案率 counts
  a facility whose filing the county sent back (退回补正) or refused (不予备案) as dealt with, like a filed one: a
  county that refuses a filing found wanting must not rank below one that accepts it; a facility that never
  filed, or whose filing waits for review, counts against the area. A township is not held to the 备案率 (the
  county reviews filings). No finding, order or 督办 changes places, types or filings.

Shown with their figures and not weighed: the 督办 (orders that climbed above the area and how they ended:
an order climbs when the facility does not answer, which is the facility's failure, and the area's own
delay is already in "reviews in time"), the facilities' conduct (their credit before findings), their
plain mean score and grades, lapse hours, orders. The number of findings and orders enters nowhere: a
finding adds nothing to a denominator the area is judged on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from statistics import median
from typing import Any

from contract.credit import LAPSE_CLASSES, CreditConfig
from contract.population import AreaPopulation
from contract.targets import INDICATORS as TARGET_INDICATORS
from contract.targets import Target
from storage.users import Scope
from supervision.filing import review_due
from supervision.orders import REVIEW_PERIOD, level_of

REVIEW_WITHIN = REVIEW_PERIOD  # an answer waits at most a week for its review (the orders' own 督办 step)

# Each indicator of the index with its weight (points of 100). An indicator an area has no case of (no
# complaint filed, no draw) is left out and the others' weights scale up: no case is neither good nor bad.
WEIGHTS: dict[str, int] = {
    "inspected_pct": 20,
    "plan_done_pct": 15,
    "draw_done_pct": 15,
    "reviews_in_time_pct": 15,
    "complaints_in_time_pct": 15,
    "filings_in_time_pct": 10,
    "targets_pct": 10,
}
# What a county's department does itself, not its townships: complaints reach the county's inspectors
# (supervision/complaints.py) and filings are reviewed by the county (supervision/filing.py). A township is
# not ranked on them (their figures are shown; the county is ranked on them by the city).
COUNTY_ONLY = frozenset({"complaints_in_time_pct", "filings_in_time_pct"})
# each indicator's figure and the counts it is computed from (numerator, denominator), and its median
INDICATORS: dict[str, tuple[str, str, str | None]] = {
    "inspected_pct": ("facilities_inspected", "facilities", None),
    "plan_done_pct": ("plan_done", "plan_due", None),
    "draw_done_pct": ("draw_done", "draw_due", None),
    "reviews_in_time_pct": ("reviews_in_time", "reviews_counted", "review_median_days"),
    "complaints_in_time_pct": ("complaints_in_time", "complaints_counted", "complaint_median_days"),
    "filings_in_time_pct": ("filings_in_time", "filings_counted", "filing_median_days"),
    "targets_pct": ("targets_met", "targets_known", None),
}
# the statistics held against the plan's targets (contract/targets.py INDICATORS), each with its figure, the
# target, its attainment and the counts it is computed from
TARGETS = tuple(TARGET_INDICATORS)
TARGET_COLUMNS = [
    "plan_places",
    "plan_places_inclusive",
    "plan_population",
    "plan_registered",
    "plan_filed",
    "plan_sent_back",
    *[c for k in TARGETS for c in (f"plan_{k}", f"plan_{k}_target", f"plan_{k}_attain_pct")],
    "plan_filed_dealt_pct",
]

COLUMNS = [
    "rank",
    "area",
    "work_index",
    "facilities",
    *[c for key, (num, den, med) in INDICATORS.items() for c in (key, num, den, med) if c and c != "facilities"],
    *TARGET_COLUMNS,  # (before the details the page lists from mean_score on: they have a table of their own)
    "escalated",
    "escalated_closed",
    "escalated_open",
    "escalated_review",
    "mean_score",
    "conduct_score",
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
_COUNTS = [
    "facilities_inspected",
    "plan_done",
    "plan_due",
    "draw_done",
    "draw_due",
    "escalated",
    "escalated_closed",
    "escalated_open",
    "escalated_review",
    "grade_a",
    "grade_b",
    "grade_c",
    "grade_d",
    "orders_issued",
    "orders_accepted",
    "orders_due",
    "inspections_planned",
    "inspections_done",
]

Case = tuple[datetime, datetime, datetime | None]  # (came, due, dealt with or None)


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _mean(xs: list[float]) -> float | None:
    return round(sum(xs) / len(xs), 1) if xs else None


def timeliness(cases: Iterable[Case], now: datetime) -> tuple[int, int, float | None]:
    """(in time, counted, median days taken) of cases each due by a time: one dealt with by its due time is
    in time; one not dealt with past it counts as late, with the time it has waited so far; one whose time
    has not run out is not counted yet (neither way)."""
    in_time, waits = 0, []
    for came, due, done in cases:
        if done is None and now <= due:
            continue
        in_time += done is not None and done <= due
        waits.append(((done or now) - came).total_seconds() / 86400)
    return in_time, len(waits), (round(median(waits), 1) if waits else None)


def _cases(pairs: Iterable[tuple[datetime, datetime | None]], due: Callable[[datetime], datetime]) -> list[Case]:
    return [(came, due(came), done) for came, done in pairs]


def work_index(row: dict[str, Any]) -> float | None:
    """The weighted mean of the indicators the area has cases for (WEIGHTS); None with none."""
    known = {k: w for k, w in WEIGHTS.items() if row.get(k) is not None}
    total = sum(known.values())
    return round(sum(row[k] * w for k, w in known.items()) / total, 1) if total else None


def against_targets(
    row: dict[str, Any],
    facs: list[dict[str, Any]],
    population: AreaPopulation | None,
    targets: Mapping[str, Target],
    by: str,
) -> None:
    """The area's statistics at the period's end against the plan's targets (module doc): each figure, its
    target, its attainment (at most 100), and `targets_pct` their mean (None with no target known)."""
    registered = [f for f in facs if f.get("registered", True)]
    places = sum(int(f.get("places", 0)) for f in registered)
    filed = sum(1 for f in registered if f.get("filed"))
    sent_back = sum(1 for f in registered if not f.get("filed") and f.get("last_filing") in {"returned", "refused"})
    people = population.population if population else None
    row |= {
        "plan_places": places,
        "plan_places_inclusive": sum(int(f.get("places", 0)) for f in registered if f.get("kind") == "inclusive"),
        "plan_population": people,
        "plan_registered": len(registered),
        "plan_filed": filed,
        "plan_sent_back": sent_back,
    }
    row["plan_places_per_1000"] = round(places * 1000 / people, 2) if people else None
    row["plan_inclusive_share_pct"] = _pct(row["plan_places_inclusive"], places)
    row["plan_filed_pct"] = _pct(filed, len(registered))
    # the index's 备案率: a filing sent back or refused is dealt with (a finding must not lower the area)
    row["plan_filed_dealt_pct"] = _pct(filed + sent_back, len(registered))
    attained = []
    for key in TARGETS:
        target = targets.get(key)
        row[f"plan_{key}_target"] = target.target if target else None
        figure = row["plan_filed_dealt_pct" if key == "filed_pct" else f"plan_{key}"]
        attain = None if target is None or figure is None else min(100.0, round(100.0 * figure / target.target, 1))
        row[f"plan_{key}_attain_pct"] = attain
        if attain is not None and not (by == "township" and key == "filed_pct"):  # filings are the county's
            attained.append(attain)
    row["targets_known"], row["targets_met"] = len(attained), sum(1 for a in attained if a >= 100.0)
    row["targets_pct"] = _mean(attained)


def rank(
    facilities: list[dict[str, Any]],
    cfg: CreditConfig,
    now: datetime,
    by: str = "county",
    population: Mapping[str, AreaPopulation] | None = None,
    targets: Mapping[str, Target] | None = None,
) -> list[dict[str, Any]]:
    """One row per area (`by`: county or township), ranked by its work index (areas with nothing known last).
    `population` (by area code) and `targets` (by indicator): what the area's statistics are held against;
    without them the targets are unknown and left out of the index."""
    areas: dict[str, list[dict[str, Any]]] = {}
    for f in facilities:
        areas.setdefault(f["area"], []).append(f)
    rows = []
    for area, facs in areas.items():
        row: dict[str, Any] = {"area": area} | dict.fromkeys(_COUNTS, 0) | {"facilities": len(facs)}
        row |= {f"lapse_h_{rule}": 0.0 for rule in LAPSE_CLASSES}
        means, conduct = [], []
        answers: list[Case] = []
        complaints: list[Case] = []
        filings: list[Case] = []
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
            row["facilities_inspected"] += 1 if f["signed"] else 0
            row["plan_due"] += f["hand_planned"]
            row["plan_done"] += f["hand_done"]
            row["draw_due"] += f["drawn"]
            row["draw_done"] += f["drawn_done"]
            for _order, late, closed in f["escalated"]:
                row["escalated"] += 1
                row["escalated_closed" if closed else "escalated_open"] += 1
                row["escalated_review"] += late == "review"
            answers += _cases(f["answers"], lambda t: t + REVIEW_WITHIN)
            complaints += f["complaints"]
            filings += _cases(f["filings"], review_due)
        on_time = sum(f["due"] - f["late"] for f in facs)
        row["orders_on_time_pct"] = _pct(on_time, row["orders_due"])
        row["mean_score"] = _mean(means)
        row["conduct_score"] = _mean(conduct)
        for prefix, cases in (("review", answers), ("complaint", complaints), ("filing", filings)):
            in_time, counted, days = timeliness(cases, now)
            row[f"{prefix}s_in_time"], row[f"{prefix}s_counted"] = in_time, counted
            row[f"{prefix}_median_days"] = days
        against_targets(row, facs, (population or {}).get(area), targets or {}, by)
        for key, (num, den, _med) in INDICATORS.items():
            if key != "targets_pct":  # a mean of attainments, not a share of cases
                row[key] = None if by == "township" and key in COUNTY_ONLY else _pct(row[num], row[den])
        row["work_index"] = work_index(row)
        rows.append(row)
    rows.sort(key=lambda r: (r["work_index"] is None, -(r["work_index"] or 0), r["area"]))
    _number(rows)
    return rows


def _number(rows: list[dict[str, Any]]) -> None:
    """Ranks in order, equal work equal rank (competition ranking: 1, 1, 3): areas that did the same are not
    ordered by their codes (a newcomer's demo: every county at 0.0 ranked 1 to 14 in list order)."""
    for i, r in enumerate(rows, start=1):
        if r["work_index"] is None:
            r["rank"] = None
        elif i > 1 and rows[i - 2]["work_index"] == r["work_index"]:
            r["rank"] = rows[i - 2]["rank"]
        else:
            r["rank"] = i


# -- 约谈 of a lagging area ------------------------------------------------------------------------------------
def may_summon(scope: Scope, level: str, county: str) -> bool:
    """The level above an area summons it: the city (a city inspector, an admin) a county or a township, a
    county inspector the townships of its own county. Nobody else (the trigger of migration 041 agrees)."""
    who = level_of(scope)
    if who == "city" and scope.role in {"inspector", "admin"}:
        return True
    return who == "county" and level == "township" and scope.county == county
