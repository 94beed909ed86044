"""A restart of the alert engine changes no alert (issue #42 item 1): for every rule a scenario makes fire,
the engine is restarted inside the rule's `for` window, inside its hold (a one-off's 15 minutes) and after
it fired, as alerts.service restarts it (bench.truth.restart_engine: timers and active alerts as stored,
the day replayed, then what the rules remember); the alerts open and clear at the same times as without
the restart. Pure engine, simulated time."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from simulators.engine import CitySim
from simulators.registry_gen import generate_registry
from simulators.scenarios import apply_registry_patch, builtin_scenarios, first_open_day, inject
from tests.alert_harness import MONDAY, drive_engine

MORNING = MONDAY + timedelta(hours=7)
Decisions = list[tuple[str, str, object, datetime]]  # (facility, action, key, at)


def _run(name: str, restarts: list[datetime] | None = None) -> tuple[Decisions, datetime]:
    sc = builtin_scenarios()[name]
    reg = apply_registry_patch(generate_registry(2, seed=5), sc)
    sim = CitySim(reg, 5, MORNING, gateway_share=0.0)
    fs, at = inject(sim, sc)
    close = datetime.combine(first_open_day(sim, fs), fs.facility.opening_hours.close, fs.tz)
    until = max(at + timedelta(hours=3), close + timedelta(hours=1))
    if sc.expect[0].rule == "badge_out_missing":  # judged at the facility's day end
        until = datetime.combine(close.date() + timedelta(days=1), close.time(), fs.tz) - timedelta(hours=8)
    decisions = drive_engine(sim, reg, until, restarts=restarts or [])
    return [(fid, d.action, d.key, d.at) for fid, d in decisions], at


def _restart_points(name: str, base: Decisions, at: datetime) -> list[tuple[str, datetime]]:
    """Inside the expected alert's `for` window (when it has one), inside its hold, after it fired."""
    sc = builtin_scenarios()[name]
    rule = sc.expect[0].rule
    sc_decisions = [d for d in base if d[1] == "open" and d[2].rule == rule]  # type: ignore[attr-defined]
    assert sc_decisions, f"{name}: the scenario's alert never opened"
    opened = sc_decisions[0][3]
    points = []
    if opened - at > timedelta(seconds=30):
        points.append(("for window", at + (opened - at) / 2))
    points += [("hold", opened + timedelta(minutes=3)), ("after", opened + timedelta(minutes=20))]
    return points


@pytest.mark.parametrize("name", sorted(builtin_scenarios()))
def test_a_restart_changes_no_alert(name: str) -> None:
    base, at = _run(name)
    points = _restart_points(name, base, at)
    # one run restarted at every point (a run each took the suite four minutes on one worker): any of the
    # restarts that changed an alert shows as a decision missing or extra, at its time
    restarted, _ = _run(name, [r for _, r in points])
    missing = sorted(set(base) - set(restarted), key=lambda d: d[3])
    extra = sorted(set(restarted) - set(base), key=lambda d: d[3])
    assert (missing, extra) == ([], []), f"restarted at {points}"
