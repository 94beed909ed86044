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
- **Silence, charged to the rules it blinds** (issue #37). Each class names the device types it judges
  by (`WATCHED_BY`: the staffing classes the door and badge controllers, exits their sensors, the
  extinguishers their gauges, and two classes that only silence can breach: child-area and entrance
  cameras, and fire detection). For every hour in which the platform was listening, the share of a
  class's devices that sent nothing is charged as if the class had lapsed for that share of the hour
  (at its weight, on its base), less the minutes of that class already recorded as lapses in that hour:
  a device switched off costs what its rule could have found, whatever the other devices do, so a
  facility never scores better with a device off than with it on and honest. A class with no device
  registered at all is silent all the time. A facility that goes dark altogether is silent in every
  class at once. Single devices outside these classes (environment sensors, panic buttons, lights)
  cost a little per missing device-hour.
- **Silent days are unanswered alerts.** A class silent for at least `silent_day_min` share-minutes of
  an opening day counts as one alert left unanswered that day (its rules could not raise theirs, so
  nobody could answer them): a facility does not escape the response part by switching off what
  would have alerted.
- **Split lapses are unanswered alerts too.** Pieces of one lapse class less than 5 minutes apart are one
  episode; an episode as long as its rule's alert window whose pieces were each too short to alert
  counts as one alert left unanswered (the minutes count anyway, as every piece is recorded).
- **Absences that raised no alert are unanswered alerts too.** A guard badged in but not patrolling is
  not guarding (the patrol gap counts as `guard_absent` minutes); each such gap with no guard absence
  recorded over it counts as one alert left unanswered, since the absence's own alert never opened (issue
  #37: carers and guards who stay badged in while away). Carers are seen by the counting cameras over the
  child areas where the registry declares them (`WATCHED_BY_SIGNAL`): their absence then raises the ratio
  alert itself; without them the ratio rests on the badges alone, which the credit page says.
- **Response.** Critical and major alerts are acknowledged before their first escalation step; later
  costs a point, never costs three. An acknowledgement does not end the lapse's minutes. The time
  counts from when CareWatch knew of the alert (`opened_at`), not from when it happened (`occurred_at`,
  contract/occurred.py): nobody answers an alert before it is known, and a platform's delay is not the
  facility's. A facility that holds its gateway offline and replays its spool later gains nothing here:
  the alarm replayed is held and climbs the ladder from its arrival as a live one does (alerts/facility.py
  `pulse`), its time to acknowledge is a live one's, the gateway's own offline alert (major) has to be
  answered too, and every page shows when the alarm happened and that it came late.
- **Rectification.** An order the facility did not answer by its due date costs three points.
- **Inspections.** Each failed checklist item of a signed inspection in the month costs two points.

Correct use costs nothing: a panic press, fire or gas alarm acknowledged in time (with the note the
acknowledgement requires) is not a lapse; self-tests raise no alert. A maintenance window excuses
nothing in the grade (since method 2026-12b): it keeps device-health alerts of the devices under work
from the people notified, and that is all; a repair of a few hours costs a small share of one class
(measured in `carewatch bench gaming`), while an excuse would be a way to hide lapses.

Each part is capped so that one bad week cannot hide everything else; the score is 100 minus the
parts, never below 0; grades come from thresholds (A ≥ 90, B ≥ 75, C ≥ 60, else D by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from contract.registry import DeviceType

# 2026-12: darkness only while the platform's intake was listening (storage.intake, migration 019)
# 2026-12b: silence charged per class to the rules it blinds; silent days are unanswered alerts;
#           maintenance windows excuse nothing (issue #37)
# 2026-12c: counting cameras over the child areas bound the carers counted to the adults they see; an hour
#           of a counting camera counts by the share of its expected counts that came (issue #37)
# 2026-12d: a counting camera's hour counts by the 30-s slots its counts covered, not their number (a burst
#           of counts in a few minutes covers a few slots: issue #37, migration 042)
# 2026-12e: a guard or carer-ratio lapse on a day the calendar closes, which the engine raises only when children
#           were brought in (open in fact), is charged for its whole span (issue #42)
METHOD_VERSION = "2026-12e"

# rule -> (base, points per 1 % of the base). base "open": the month's opening minutes; "all": every minute.
# The rules the alert engine records as lapses (alerts.tracker), however short.
LAPSE_CLASSES: dict[str, tuple[str, float]] = {
    "guard_absent": ("open", 1.0),
    "ratio_breach": ("open", 1.0),
    "unqualified_staff_on_site": ("open", 1.5),
    "banned_staff_on_site": ("open", 1.5),
    "exit_obstructed": ("all", 1.5),
    "extinguisher_pressure": ("all", 0.25),
}
# Classes that only silence can breach: what the standards require watched, charged when it is not.
# Cameras over the children's rooms, the entrance and the play yard (托育机构设置标准（试行）and
# GB 50348 video surveillance of entrances); fire detection in every room (GB 50116).
SILENCE_CLASSES: dict[str, tuple[str, float]] = {
    "camera_coverage": ("open", 1.0),
    "fire_detection": ("all", 1.0),
}
CLASSES: dict[str, tuple[str, float]] = LAPSE_CLASSES | SILENCE_CLASSES

_DOORS = frozenset({DeviceType.ACCESS_CONTROLLER})
# class -> the device types its rules judge by: when they are silent, the class cannot be judged
WATCHED_BY: dict[str, frozenset[DeviceType]] = {
    "guard_absent": _DOORS,
    "ratio_breach": _DOORS,
    "unqualified_staff_on_site": _DOORS,
    "banned_staff_on_site": _DOORS,
    "exit_obstructed": frozenset({DeviceType.EXIT_DOOR}),
    "extinguisher_pressure": frozenset({DeviceType.EXTINGUISHER_GAUGE}),
    "camera_coverage": frozenset({DeviceType.CAMERA}),
    "fire_detection": frozenset({DeviceType.SMOKE_DETECTOR, DeviceType.HEAT_DETECTOR}),
}
assert set(WATCHED_BY) == set(CLASSES)  # noqa: S101 - every class says what watches it
# class -> a signal some devices declare they send (the registry's capability, not their type) that its rules
# judge by as well: the adults the counting cameras over the child areas see (CONTRACT §2 adults_count; the
# carers who stay badged in while away, issue #37). The rule needs every such device's signal at once, so a
# class is as silent as the silentest of them (and at least as silent as its devices by type). A facility
# whose cameras declare no counting is not charged for it: its carer ratio rests on the badges alone, which
# the credit page says (Facts.ratio_by_badges_only).
WATCHED_BY_SIGNAL: dict[str, str] = {"ratio_breach": "adults_count"}


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
    silent_day_min: float = 60.0  # share-minutes of a class's silence in an opening day that count as an alert

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> CreditConfig:
        """`credit:` settings (a YAML mapping): numbers by name, `grades: {A: 90, B: 75, C: 60, D: 0}`."""
        out = cls()
        for name, value in data.items():
            if name == "grades":
                pairs = sorted(((str(g), float(t)) for g, t in dict(value).items()), key=lambda p: -p[1])
                out = replace(out, grades=tuple(pairs))
            elif name == "maintenance_allowance_min":
                raise ValueError(
                    "credit settings: maintenance_allowance_min is gone since method 2026-12b:"
                    " maintenance windows excuse nothing in the grade (issue #37); remove the key"
                )
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
    lapse_minutes: dict[str, float] = field(default_factory=dict)
    # per class: minutes charged for its devices' silence (share of the class silent x the minutes of its
    # base), less what was recorded as that class's lapses in the same hours
    silent_minutes: dict[str, float] = field(default_factory=dict)
    silent_days: int = 0  # (class, opening day) pairs silent long enough to count as an unanswered alert
    split_episodes: int = 0  # lapses split into pieces too short to alert: each an unanswered alert
    unalerted_absences: int = 0  # a guard badged in but not patrolling (a patrol gap): each an unanswered alert
    unwatched: tuple[str, ...] = ()  # classes with no device registered: silent all the time
    missing_devices: dict[str, int] = field(default_factory=dict)  # required devices not registered, per class
    # no camera over a child area counts adults: carers are known from their badges only (weaker evidence)
    ratio_by_badges_only: bool = False
    dark_minutes: float = 0.0  # shown: minutes with nothing from any device (charged through silent_minutes)
    dark_open_minutes: float = 0.0
    device_gap_pct: float = 0.0
    maintenance_minutes: float = 0.0  # shown: every window stays on the record; it excuses nothing
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
    exact = {
        rule: Fraction(weight) * _pct(facts.lapse_minutes.get(rule, 0.0), bases[base])
        for rule, (base, weight) in CLASSES.items()
    }
    silent_exact = {
        rule: Fraction(weight) * _pct(facts.silent_minutes.get(rule, 0.0), bases[base])
        for rule, (base, weight) in CLASSES.items()
    }
    lapses = {rule: round(float(v), 2) for rule, v in exact.items()}
    silent_points = {rule: round(float(v), 2) for rule, v in silent_exact.items()}
    lapse_total = min(
        Fraction(cfg.lapse_cap), sum(exact.values(), Fraction(0)) + sum(silent_exact.values(), Fraction(0))
    )
    unanswered = facts.unacked + facts.silent_days + facts.split_episodes + facts.unalerted_absences
    parts = {
        "lapses": round(float(lapse_total), 2),
        "devices": round(min(cfg.device_gap_cap, cfg.device_gap_weight * facts.device_gap_pct), 2),
        "response": round(
            min(cfg.response_cap, cfg.late_ack_points * facts.late_acks + cfg.unacked_points * unanswered), 2
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
        "silent_points": silent_points,
        "facts": {
            "period_minutes": round(facts.period_minutes, 1),
            "open_minutes": round(facts.open_minutes, 1),
            "lapse_minutes": {k: round(v, 1) for k, v in facts.lapse_minutes.items()},
            "silent_minutes": {k: round(v, 1) for k, v in facts.silent_minutes.items() if v},
            "silent_days": facts.silent_days,
            "split_episodes": facts.split_episodes,
            "unalerted_absences": facts.unalerted_absences,
            "unwatched": list(facts.unwatched),
            "missing_devices": dict(facts.missing_devices),
            "ratio_by_badges_only": facts.ratio_by_badges_only,
            "dark_minutes": round(facts.dark_minutes, 1),
            "dark_open_minutes": round(facts.dark_open_minutes, 1),
            "device_gap_pct": round(facts.device_gap_pct, 2),
            "maintenance_minutes": round(facts.maintenance_minutes, 1),
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
