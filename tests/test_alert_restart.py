"""For every rule: its scenario fires exactly the expected alert, and a restart of the alert engine changes no
alert (issue #42 item 1): the engine is restarted inside the rule's `for` window, inside its hold (a one-off's
15 minutes) and after it fired, as alerts.service restarts it (bench.truth.restart_engine: timers and active
alerts as stored, the day replayed, then what the rules remember); the alerts open and clear at the same times
as without the restart. Pure engine, simulated time."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bench.truth import Recording, record
from contract.registry import Registry
from contract.rules import Key
from simulators.engine import CitySim
from simulators.registry_gen import generate_registry
from simulators.scenarios import apply_registry_patch, builtin_scenarios, first_open_day, inject
from tests.alert_harness import MONDAY, drive_engine

MORNING = MONDAY + timedelta(hours=7)
Decisions = list[tuple[str, str, Key, datetime]]  # (facility, action, key, at)


def _played(name: str) -> tuple[Registry, Recording, str, datetime, datetime]:
    """The scenario's day, simulated once (with and without restarts the messages are the same): the
    registry, the recording, the facility at fault, when the fault is injected, and until when its alert is
    judged (the run goes on past it, for the restarts after the alert)."""
    sc = builtin_scenarios()[name]
    reg = apply_registry_patch(generate_registry(2, seed=5), sc)
    sim = CitySim(reg, 5, MORNING, gateway_share=0.0)
    fs, at = inject(sim, sc)
    close = datetime.combine(first_open_day(sim, fs), fs.facility.opening_hours.close, fs.tz)
    judged = at + timedelta(hours=2)
    if sc.expect[0].rule == "child_not_collected":
        judged = max(judged, close + timedelta(hours=1))
    elif sc.expect[0].rule == "attendance_missing":  # judged 90 min after opening
        judged = at + timedelta(hours=3)
    until = max(at + timedelta(hours=3), close + timedelta(hours=1))
    if sc.expect[0].rule == "badge_out_missing":  # judged at the facility's day end
        until = judged = datetime.combine(close.date() + timedelta(days=1), close.time(), fs.tz) - timedelta(hours=8)
    return reg, record(sim, reg, until), fs.facility.id, at, judged


def _run(reg: Registry, played: Recording, restarts: list[datetime] | None = None) -> Decisions:
    decisions = drive_engine(played, reg, played.until, restarts=restarts or [])
    return [(fid, d.action, d.key, d.at) for fid, d in decisions]


def _restart_points(name: str, base: Decisions, at: datetime) -> list[tuple[str, datetime]]:
    """Inside the expected alert's `for` window (when it has one), inside its hold, after it fired."""
    sc = builtin_scenarios()[name]
    rule = sc.expect[0].rule
    sc_decisions = [d for d in base if d[1] == "open" and d[2].rule == rule]
    assert sc_decisions, f"{name}: the scenario's alert never opened"
    opened = sc_decisions[0][3]
    points = []
    if opened - at > timedelta(seconds=30):
        points.append(("for window", at + (opened - at) / 2))
    points += [("hold", opened + timedelta(minutes=3)), ("after", opened + timedelta(minutes=20))]
    return points


@pytest.mark.parametrize("name", sorted(builtin_scenarios()))
def test_a_scenario_fires_exactly_its_alert_and_a_restart_changes_none(name: str) -> None:
    reg, played, facility, at, judged = _played(name)
    base = _run(reg, played)
    opened = {
        (fid, key.rule, key.device_id, key.subject) for fid, action, key, t in base if action == "open" and t <= judged
    }
    assert opened == {(facility, e.rule, e.device, e.subject) for e in builtin_scenarios()[name].expect}
    points = _restart_points(name, base, at)
    # one run restarted at every point (a run each took the suite four minutes on one worker): any of the
    # restarts that changed an alert shows as a decision missing or extra, at its time
    restarted = _run(reg, played, [r for _, r in points])
    missing = sorted(set(base) - set(restarted), key=lambda d: d[3])
    extra = sorted(set(restarted) - set(base), key=lambda d: d[3])
    assert (missing, extra) == ([], []), f"restarted at {points}"
