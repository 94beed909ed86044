"""信息统计监测 (issue #40 item 8): the month's figures per area, counted from the rows storage/statistics.py
reads, as pure functions. The plan's targets are statistics: 托位 per 1,000 people, 托育率 of 2–3-year-olds,
the 普惠 share; beside them what the supervision did in the month.

What counts in a month [start, end) of the city's time (Asia/Shanghai), judged at `as_of` (the month's end, or
the app's `now` in the month in progress):

- **facilities**: registered before `as_of`; *filed* (已备案) when a filing of theirs was accepted before it,
  whatever is pending since; by type (contract.registry.Facility.kind: 普惠 inclusive, 营利 for_profit, 单位办
  employer, 托幼一体 kindergarten_class, 家庭托育点 home).
- **托位**: the capacity of the facilities' classes by age group and by the facility's type, as the registry
  holds them now (it keeps no history): only an accepted filing or an administrator's load reaches it, never a
  filing awaiting review, so a facility cannot add places by declaring them; of those, the places of filed
  facilities. **Occupancy**: the children
  enrolled in those classes against their places.
- **staff** by the register's certificates valid on the month's last day (or `as_of`'s): each kind held, none
  valid, and staff not linked to the register (their certificates unknown; of those, how many the registry's
  own record marks `qualified`, a flag nobody checked against a certificate).
- **inspections**: planned for a day of the month; of those, drawn (双随机); signed (both officers) in the month.
- **orders**: issued in the month; falling due in it (the original due date) and, of those, on time or late
  (contract.rectification.is_late, as the credit evaluation judges); 督办: orders escalated in the month.
- **alerts** opened in the month, by rule.
- **托位 per 1,000 people** = 托位 × 1000 / the area's population (contract/population.py, each with its
  source); **托育率** = children enrolled in 托大班 (24–36 months) / the area's children aged 2–3, unknown without
  that figure (a 混合班's children's ages are not known: they are left out). An area without a population
  figure has neither.

`area_figures` is the one entry point (the assessment may call it for the targets, issue #40 item 9).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from contract.people import Qualification
from contract.population import CITY_CODE, AreaPopulation
from contract.registry import AgeGroup
from contract.rules import RuleId

KINDS = ("inclusive", "for_profit", "employer", "kindergarten_class", "home")
AGE_GROUPS = tuple(g.value for g in AgeGroup)
QUALIFICATIONS = tuple(q.value for q in Qualification)
RULES = tuple(r.value for r in RuleId)
# 每千人口拥有3岁以下婴幼儿托位数 4.5 by 2025: 《中华人民共和国国民经济和社会发展第十四个五年规划和2035年远景
# 目标纲要》(2021), 主要指标 (docs/contract.md names it)
TARGET_PLACES_PER_1000 = 4.5

Row = Mapping[str, Any]

# The figures of an area, in the order of the CSV (web/statistics.py) and the page's tables.
COLUMNS: list[str] = [
    "area",
    "facilities",
    "filed",
    "unfiled",
    *[f"facilities_{k}" for k in KINDS],
    "places",
    "places_filed",
    *[f"places_{g}" for g in AGE_GROUPS],
    *[f"places_{k}" for k in KINDS],
    "inclusive_share_pct",
    "enrolled",
    *[f"enrolled_{g}" for g in AGE_GROUPS],
    "occupancy_pct",
    "staff",
    *[f"staff_{q}" for q in QUALIFICATIONS],
    "staff_no_valid_certificate",
    "staff_not_in_register",
    "staff_not_in_register_qualified",
    "inspections_planned",
    "inspections_drawn",
    "inspections_signed",
    "orders_issued",
    "orders_due",
    "orders_on_time",
    "orders_late",
    "orders_escalated",
    "alerts",
    *[f"alerts_{r}" for r in RULES],
    "population",
    "population_2_3",
    "population_year",
    "population_source",
    "places_per_1000",
    "care_rate_pct",
]


@dataclass(frozen=True, slots=True)
class Period:
    """The month asked for and the moment it is judged at."""

    month: date  # its first day
    start: datetime
    end: datetime
    as_of: datetime  # min(end, now)

    @property
    def complete(self) -> bool:
        return self.as_of >= self.end

    @property
    def last_day(self) -> date:
        """The day certificates must still be valid on: the month's last, or `as_of`'s in the month in progress."""
        return (self.as_of - timedelta(microseconds=1)).astimezone(self.start.tzinfo).date()


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _valid_kinds(raw: object, on: date) -> set[str]:
    """The certificate kinds of a register entry still valid `on` that day."""
    items = json.loads(raw) if isinstance(raw, str) else raw or []
    out = set()
    for c in items if isinstance(items, list) else []:
        expires = c.get("expires")
        if expires is None or date.fromisoformat(str(expires)) >= on:
            out.add(str(c.get("kind")))
    return out


def level_of_area(code: str) -> str:
    """city (140900), county (6 digits) or township (9)."""
    if code == CITY_CODE:
        return "city"
    return "township" if len(code) == 9 else "county"


def _sub_area(level: str, facility: Row) -> str:
    """The area one level down a facility counts in: a county in the city's view, a township in a county's,
    the township itself in a township's."""
    return str(facility["county"] if level == "city" else facility["township"])


def _empty(area: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS, 0)
    row["area"] = area
    return row


def _add(totals: dict[str, Any], part: Mapping[str, Any]) -> None:
    for k in COLUMNS:
        if k != "area" and isinstance(part.get(k), int):
            totals[k] += part[k]


def _facility_counts(rows: Mapping[str, Sequence[Row]], period: Period) -> dict[str, dict[str, Any]]:
    """Each facility counted in the month, with its own counts (the areas sum them)."""
    facs = {str(f["id"]): f for f in rows["facilities"] if f["registered_at"] < period.as_of}
    out: dict[str, dict[str, Any]] = {}
    for fid, f in facs.items():
        own = _empty(fid)
        own["facilities"] = 1
        filed = f["filed_at"] is not None and f["filed_at"] < period.as_of
        own["filed" if filed else "unfiled"] = 1
        if f["kind"] in KINDS:
            own[f"facilities_{f['kind']}"] = 1
        out[fid] = own
    for c in rows["classes"]:
        row = out.get(str(c["facility_id"]))
        if row is None:
            continue
        kind = facs[str(c["facility_id"])]["kind"]
        row["places"] += c["capacity"]
        row["places_filed"] += c["capacity"] if row["filed"] else 0
        row[f"places_{c['age_group']}"] += c["capacity"]
        if kind in KINDS:
            row[f"places_{kind}"] += c["capacity"]
        row["enrolled"] += c["enrolled"]
        row[f"enrolled_{c['age_group']}"] += c["enrolled"]
    _count_staff(out, rows["staff"], period.last_day)
    zone = period.start.tzinfo
    first, after = period.start.astimezone(zone).date(), period.end.astimezone(zone).date()
    for i in rows["inspections"]:
        row = out.get(str(i["facility_id"]))
        if row is None:
            continue
        if first <= i["planned_for"] < after:
            row["inspections_planned"] += 1
            row["inspections_drawn"] += bool(i["drawn"])
        signed_at = i["signed_at"]
        if i["status"] == "signed" and signed_at is not None and period.start <= signed_at < period.as_of:
            row["inspections_signed"] += 1
    for o in rows["issued"]:
        if (row := out.get(str(o["facility_id"]))) is not None and period.start <= o["issued_at"] < period.as_of:
            row["orders_issued"] += 1
    for o in rows["escalated"]:
        if (row := out.get(str(o["facility_id"]))) is not None:
            row["orders_escalated"] += 1
    for d in rows["due"]:
        if (row := out.get(str(d["facility_id"]))) is not None:
            row["orders_due"] += d["due"]
            row["orders_late"] += d["late"]
            row["orders_on_time"] += d["due"] - d["late"]
    for a in rows["alerts"]:
        if (row := out.get(str(a["facility_id"]))) is not None and a["rule"] in RULES:
            row["alerts"] += a["n"]
            row[f"alerts_{a['rule']}"] += a["n"]
    return out


def _count_staff(out: dict[str, dict[str, Any]], staff: Sequence[Row], on: date) -> None:
    """Each facility's staff by the register's certificates valid `on` that day."""
    for s in staff:
        row = out.get(str(s["facility_id"]))
        if row is None:
            continue
        row["staff"] += 1
        if s["person_key"] is None:
            row["staff_not_in_register"] += 1
            row["staff_not_in_register_qualified"] += bool(s["qualified"])
            continue
        held = _valid_kinds(s["qualifications"], on) & set(QUALIFICATIONS)
        for q in held:
            row[f"staff_{q}"] += 1
        if not held:
            row["staff_no_valid_certificate"] += 1


def _rates(row: dict[str, Any], pop: AreaPopulation | None) -> None:
    """The shares and the per-population figures of an area's summed counts."""
    row["inclusive_share_pct"] = _pct(row["places_inclusive"], row["places"])
    row["occupancy_pct"] = _pct(row["enrolled"], row["places"])
    row["population"] = pop.population if pop else None
    row["population_2_3"] = pop.age_2_3 if pop else None
    row["population_year"] = pop.year if pop else None
    row["population_source"] = pop.source if pop else None
    people = pop.population if pop else None
    row["places_per_1000"] = round(row["places"] * 1000 / people, 2) if people else None
    row["care_rate_pct"] = _pct(row["enrolled_older"], pop.age_2_3) if pop and pop.age_2_3 else None


def area_figures(
    rows: Mapping[str, Sequence[Row]],
    area: str,
    period: Period,
    population: Mapping[str, AreaPopulation],
    known_areas: Sequence[str] = (),
) -> dict[str, Any]:
    """The month's figures of `area` (its total) and of each area one level down (`areas`, every one that has
    a facility, a population figure or is named in `known_areas`), from storage.statistics.gather's rows of the
    facilities of `area`. `population`: by area code (contract/population.py)."""
    level = level_of_area(area)
    per_facility = _facility_counts(rows, period)
    facs = {str(f["id"]): f for f in rows["facilities"]}
    subs: dict[str, dict[str, Any]] = {}
    if level != "township":
        for code in (*known_areas, *population):
            below = len(code) == 6 and code != CITY_CODE if level == "city" else len(code) == 9
            if below and code.startswith(area if level == "county" else ""):
                subs.setdefault(code, _empty(code))
        for fid, counts in per_facility.items():
            code = _sub_area(level, facs[fid])
            _add(subs.setdefault(code, _empty(code)), counts)
    total = _empty(area)
    for counts in per_facility.values():
        _add(total, counts)
    _rates(total, _population_of(area, population, subs))
    for code, row in subs.items():
        _rates(row, population.get(code))
    return {
        "area": area,
        "level": level,
        "month": period.month.isoformat()[:7],
        "as_of": period.as_of.isoformat(),
        "complete": period.complete,
        "target_places_per_1000": TARGET_PLACES_PER_1000,
        "total": total,
        "areas": [subs[c] for c in sorted(subs)],
    }


def _population_of(
    area: str, population: Mapping[str, AreaPopulation], subs: Mapping[str, Any]
) -> AreaPopulation | None:
    """The area's own figure; else, for the city or a county, the sum of the areas one level down when every
    one of them has a figure (sources joined), never a guess."""
    own = population.get(area)
    if own is not None or not subs:
        return own
    parts = [population.get(c) for c in subs]
    if any(p is None or p.population is None for p in parts):
        return None
    known = [p for p in parts if p is not None]
    ages = [p.age_2_3 for p in known]
    return AreaPopulation(
        code=area,
        name="",
        population=sum(p.population or 0 for p in known),
        age_2_3=sum(a or 0 for a in ages) if all(a is not None for a in ages) else None,
        year=max((p.year for p in known if p.year is not None), default=None),
        source="；".join(sorted({p.source for p in known})) + "（下级合计 / sum of the areas below）",
    )


def chart_series(figures: Mapping[str, Any]) -> dict[str, Any]:
    """What the page's charts draw (web/static/statistics.js): per area one level down (or the area itself)."""
    rows = figures["areas"] or [figures["total"]]
    alerts: Counter[str] = Counter()
    for r in rows:
        for rule in RULES:
            alerts[rule] += r[f"alerts_{rule}"]
    by_kind: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        for k in KINDS:
            by_kind[k].append(r[f"places_{k}"])
    return {
        "areas": [r["area"] for r in rows],
        # [name, values] pairs, in the order the legend shows them (a JSON object's keys get sorted)
        "places_by_kind": [[k, by_kind[k]] for k in KINDS],
        "places_per_1000": [r["places_per_1000"] for r in rows],
        "occupancy_pct": [r["occupancy_pct"] for r in rows],
        "inspections": [[k, [r[f"inspections_{k}"] for r in rows]] for k in ("planned", "drawn", "signed")],
        "orders": [[k, [r[f"orders_{k}"] for r in rows]] for k in ("on_time", "late", "escalated")],
        "alerts": [[rule, n] for rule, n in alerts.most_common() if n],
        "target": figures.get("target_places_per_1000", TARGET_PLACES_PER_1000),
    }
