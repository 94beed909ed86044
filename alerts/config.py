"""The rule catalogue's defaults (CONTRACT §4) and the per-deployment overrides file.

Overrides (`CAREWATCH_RULES=path`, YAML): `{rule_id: {for: 10s, severity: major, threshold: ..., hold: 1m}}`.
`threshold` is a number for rules with one threshold, or a mapping of named thresholds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

SEVERITIES = ("critical", "major", "minor", "warning")


class RulesConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class RuleConfig:
    severity: str
    for_s: float = 0.0
    thresholds: dict[str, float] = field(default_factory=dict)
    hold_s: float = 900.0  # how long a one-off event's alert stays active before it clears


def _r(severity: str, for_s: float = 0, **thresholds: float) -> RuleConfig:
    return RuleConfig(severity, for_s, dict(thresholds))


DEFAULTS: dict[str, RuleConfig] = {
    "fire_alarm": _r("critical"),
    "gas_alarm": _r("critical", gas_lel_pct=10, co_ppm=50),
    "panic_button": _r("critical"),
    "unauthorized_pickup": _r("critical"),
    "banned_staff_on_site": _r("critical"),
    "unqualified_staff_on_site": _r("major"),
    "guard_absent": _r("major", 600),
    "ratio_breach": _r("major", 600, infant=3, toddler=5, older=7, mixed=5),
    "class_over_capacity": _r("minor"),
    "child_not_collected": _r("major", after_close_min=30),
    "device_offline": _r("major", heartbeats=3),  # major for life-safety types, minor otherwise
    "camera_blind_spot": _r("major", 120, heartbeats=3),
    "device_fault": _r("major"),
    "low_battery": _r("warning", battery_pct=20),
    "extinguisher_pressure": _r("major", min_mpa=1.0, max_mpa=1.4),
    "exit_obstructed": _r("major", held_open_s=300),
    "door_forced": _r("major"),
    "repeated_access_denied": _r("minor", count=3, window_s=300),
    "after_hours_entry": _r("minor"),
    "patrol_missed": _r("warning", interval_s=7200),
    "environment_out_of_range": _r("warning", 900, co2_ppm=1000, temp_min=18, temp_max=28, rh_min=30, rh_max=70),
    "equipment_missing": _r("major"),
}

# Escalation delays from the alert's opening: facility → township → county → city (CONTRACT §5).
ESCALATION_S = {"default": (300.0, 900.0, 1800.0), "critical": (60.0, 180.0, 300.0)}
LEVELS = ("facility", "township", "county", "city")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(v: Any) -> float:
    """`10s`, `5m`, `2h`, `1d` or a number of seconds."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    m = _DURATION.match(str(v))
    if not m:
        raise RulesConfigError(f"not a duration: {v!r} (use e.g. 10s, 5m, 2h)")
    return float(m.group(1)) * _UNITS[m.group(2)]


def load_rules(path: Path | None) -> dict[str, RuleConfig]:
    """Defaults with the overrides file applied; raises RulesConfigError naming what is wrong."""
    rules = dict(DEFAULTS)
    if path is None:
        return rules
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise RulesConfigError(f"{path}: {err}") from err
    if not isinstance(data, dict):
        raise RulesConfigError(f"{path}: expected a mapping of rule ids")
    for rule, over in data.items():
        if rule not in rules:
            raise RulesConfigError(f"{path}: unknown rule {rule!r}")
        if not isinstance(over, dict):
            raise RulesConfigError(f"{path}: {rule}: expected a mapping")
        rules[rule] = _apply(rule, rules[rule], over, path)
    return rules


def _apply(rule: str, base: RuleConfig, over: dict[str, Any], path: Path) -> RuleConfig:
    unknown = set(over) - {"for", "severity", "threshold", "hold"}
    if unknown:
        raise RulesConfigError(f"{path}: {rule}: unknown key(s) {', '.join(sorted(unknown))}")
    cfg = base
    if "for" in over:
        cfg = replace(cfg, for_s=parse_duration(over["for"]))
    if "hold" in over:
        cfg = replace(cfg, hold_s=parse_duration(over["hold"]))
    if "severity" in over:
        if over["severity"] not in SEVERITIES:
            raise RulesConfigError(f"{path}: {rule}: severity must be one of {', '.join(SEVERITIES)}")
        cfg = replace(cfg, severity=over["severity"])
    if "threshold" in over:
        t = over["threshold"]
        if isinstance(t, dict):
            bad = set(t) - set(base.thresholds)
            if bad:
                raise RulesConfigError(
                    f"{path}: {rule}: unknown threshold(s) {', '.join(sorted(bad))}; "
                    f"known: {', '.join(base.thresholds) or 'none'}"
                )
            merged = {**base.thresholds, **{k: _num(v, path, rule) for k, v in t.items()}}
        elif len(base.thresholds) == 1:
            merged = {next(iter(base.thresholds)): _num(t, path, rule)}
        else:
            raise RulesConfigError(f"{path}: {rule}: give threshold as a mapping of {', '.join(base.thresholds)}")
        cfg = replace(cfg, thresholds=merged)
    return cfg


def _num(v: Any, path: Path, rule: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise RulesConfigError(f"{path}: {rule}: threshold {v!r} is not a number")
    try:
        return parse_duration(v) if isinstance(v, str) else float(v)
    except RulesConfigError as err:
        raise RulesConfigError(f"{path}: {rule}: threshold {v!r} is not a number") from err
