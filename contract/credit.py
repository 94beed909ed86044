"""The credit evaluation (诚信评价) of a facility for a month: the method, as a pure function of the
month's facts (storage/credit.py gathers them; the README's Supervision section and the credit page
show the method to people).

What a facility controls, and nothing else, costs points:

- **Lapses, by duration.** Minutes each lapse condition held (minutes without a guard, below the carer
  ratio, unqualified or banned staff on site, exits obstructed, extinguishers out of range), however
  the condition came and went: short pieces that never lasted long enough to open an alert are
  recorded too, so splitting a lapse gains nothing. Each class has a weight in points per 1 % of its
  base: the month's opening minutes for lapses that only exist while open, all the month's minutes
  for the others. So a facility's size and the month's length do not change what a lapse costs.
- **Going dark.** Minutes in which the facility sent nothing at all are charged as if every lapse class
  held during them (the same weights, the same bases): a facility that unplugs its monitoring can never
  score better than one that shows its lapses. Only minutes in which the platform itself was receiving
  count: an outage of the platform's intake is not the facility's darkness (storage/credit.py).
  Single devices that fall silent while the rest report cost a little per missing device-hour.
- **Response.** Critical and major alerts are acknowledged before their first escalation step; later
  costs a point, never costs three. An acknowledgement does not end the lapse's minutes.
- **Rectification.** An order the facility did not answer by its due date costs three points.
- **Inspections.** Each failed checklist item of a signed inspection in the month costs two points.

Correct use costs nothing: a panic press, fire or gas alarm acknowledged in time (with the note the
acknowledgement requires) is not a lapse; self-tests raise no alert; a drill or repair registered in
advance as a maintenance window is excused, up to `maintenance_allowance_min` a month (the rest of the
window counts as usual, and every window stays on the record).

Each part is capped so that one bad week cannot hide everything else; the score is 100 minus the
parts, never below 0; grades come from thresholds (A ≥ 90, B ≥ 75, C ≥ 60, else D by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

# 2026-12: darkness only while the platform's intake was listening (storage.intake, migration 019)
METHOD_VERSION = "2026-12"

# rule -> (base, points per 1 % of the base). base "open": the month's opening minutes; "all": every minute.
LAPSE_CLASSES: dict[str, tuple[str, float]] = {
    "guard_absent": ("open", 1.0),
    "ratio_breach": ("open", 1.0),
    "unqualified_staff_on_site": ("open", 1.5),
    "banned_staff_on_site": ("open", 1.5),
    "exit_obstructed": ("all", 1.5),
    "extinguisher_pressure": ("all", 0.25),
}


@dataclass(frozen=True, slots=True)
class CreditConfig:
    grades: tuple[tuple[str, float], ...] = (("A", 90.0), ("B", 75.0), ("C", 60.0), ("D", 0.0))
    lapse_cap: float = 60.0  # lapses and darkness together
    device_gap_weight: float = 0.5  # points per 1 % of device-hours missing while the facility reports
    device_gap_cap: float = 15.0
    late_ack_points: float = 1.0
    unacked_points: float = 3.0
    response_cap: float = 20.0
    late_order_points: float = 3.0
    orders_cap: float = 20.0
    failed_item_points: float = 2.0
    inspections_cap: float = 20.0
    maintenance_allowance_min: float = 8 * 60.0

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> CreditConfig:
        """`credit:` settings (a YAML mapping): numbers by name, `grades: {A: 90, B: 75, C: 60, D: 0}`."""
        out = cls()
        for name, value in data.items():
            if name == "grades":
                pairs = sorted(((str(g), float(t)) for g, t in dict(value).items()), key=lambda p: -p[1])
                out = replace(out, grades=tuple(pairs))
            elif name in cls.__dataclass_fields__:
                numbers: dict[str, Any] = {name: float(value)}
                out = replace(out, **numbers)
            else:
                raise ValueError(f"credit settings: unknown key {name!r}")
        return out


@dataclass(frozen=True, slots=True)
class Facts:
    """One facility's month, measured (storage/credit.py)."""

    period_minutes: float
    open_minutes: float
    lapse_minutes: dict[str, float] = field(default_factory=dict)  # maintenance allowance already taken off
    dark_minutes: float = 0.0
    dark_open_minutes: float = 0.0
    device_gap_pct: float = 0.0
    maintenance_minutes: float = 0.0
    excused_minutes: float = 0.0
    alerts_to_answer: int = 0
    late_acks: int = 0
    unacked: int = 0
    orders_due: int = 0
    orders_late: int = 0
    inspections: int = 0
    failed_items: int = 0


def _pct(minutes: float, base: float) -> Fraction:
    """Exact (floats converted without loss): a comparison the method promises, such as darkness never
    costing less than the lapses it could hide, must not be turned by a rounding error."""
    return Fraction(100) * Fraction(minutes) / Fraction(base) if base > 0 else Fraction(0)


def evaluate(facts: Facts, cfg: CreditConfig | None = None) -> dict[str, Any]:
    """The score, the grade and the figures behind them (what the record stores and the page shows)."""
    cfg = cfg or CreditConfig()
    bases = {"open": facts.open_minutes, "all": facts.period_minutes}
    dark = {"open": facts.dark_open_minutes, "all": facts.dark_minutes}
    exact = {
        rule: Fraction(weight) * _pct(facts.lapse_minutes.get(rule, 0.0), bases[base])
        for rule, (base, weight) in LAPSE_CLASSES.items()
    }
    dark_exact = sum(
        (Fraction(weight) * _pct(dark[base], bases[base]) for base, weight in LAPSE_CLASSES.values()), Fraction(0)
    )
    lapses = {rule: round(float(v), 2) for rule, v in exact.items()}
    dark_points = round(float(dark_exact), 2)
    lapse_total = min(Fraction(cfg.lapse_cap), sum(exact.values(), Fraction(0)) + dark_exact)
    parts = {
        "lapses": round(float(lapse_total), 2),
        "devices": round(min(cfg.device_gap_cap, cfg.device_gap_weight * facts.device_gap_pct), 2),
        "response": round(
            min(cfg.response_cap, cfg.late_ack_points * facts.late_acks + cfg.unacked_points * facts.unacked), 2
        ),
        "orders": round(min(cfg.orders_cap, cfg.late_order_points * facts.orders_late), 2),
        "inspections": round(min(cfg.inspections_cap, cfg.failed_item_points * facts.failed_items), 2),
    }
    score = round(max(0.0, 100.0 - sum(parts.values())), 1)
    grade = next((g for g, threshold in cfg.grades if score >= threshold), cfg.grades[-1][0])
    return {
        "score": score,
        "grade": grade,
        "parts": parts,
        "lapse_points": lapses,
        "dark_points": dark_points,
        "facts": {
            "period_minutes": round(facts.period_minutes, 1),
            "open_minutes": round(facts.open_minutes, 1),
            "lapse_minutes": {k: round(v, 1) for k, v in facts.lapse_minutes.items()},
            "dark_minutes": round(facts.dark_minutes, 1),
            "dark_open_minutes": round(facts.dark_open_minutes, 1),
            "device_gap_pct": round(facts.device_gap_pct, 2),
            "maintenance_minutes": round(facts.maintenance_minutes, 1),
            "excused_minutes": round(facts.excused_minutes, 1),
            "alerts_to_answer": facts.alerts_to_answer,
            "late_acks": facts.late_acks,
            "unacked": facts.unacked,
            "orders_due": facts.orders_due,
            "orders_late": facts.orders_late,
            "inspections": facts.inspections,
            "failed_items": facts.failed_items,
        },
        "method": METHOD_VERSION,
    }


def load_credit(path: Path | None) -> CreditConfig:
    """The settings file (CAREWATCH_CREDIT), e.g. `grades: {A: 92, B: 80, C: 65, D: 0}`; defaults when None."""
    if path is None:
        return CreditConfig()
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(  # noqa: TRY004 - a settings error, reported as one
            f"{path}: credit settings must be a mapping"
        )
    return CreditConfig.from_mapping(data)
