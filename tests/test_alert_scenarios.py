"""For every rule: its scenario fires exactly the expected alert (pure engine, simulated time)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from simulators.engine import CitySim
from simulators.registry_gen import generate_registry
from simulators.scenarios import apply_registry_patch, builtin_scenarios, first_open_day, inject
from tests.alert_harness import MONDAY, drive_engine

MORNING = MONDAY + timedelta(hours=7)  # 07:00 in Xinzhou: devices and the engine start together


@pytest.mark.parametrize("name", sorted(builtin_scenarios()))
def test_scenario_fires_exactly_its_alert(name: str) -> None:
    sc = builtin_scenarios()[name]
    reg = apply_registry_patch(generate_registry(2, seed=5), sc)
    sim = CitySim(reg, 5, MORNING, gateway_share=0.0)
    fs, at = inject(sim, sc)
    close = datetime.combine(first_open_day(sim, fs), fs.facility.opening_hours.close, fs.tz)
    until = at + timedelta(hours=2)
    if sc.expect[0].rule == "child_not_collected":
        until = max(until, close + timedelta(hours=1))
    elif sc.expect[0].rule == "attendance_missing":  # judged 90 min after opening
        until = at + timedelta(hours=3)
    elif sc.expect[0].rule == "badge_out_missing":  # judged at the facility's day end
        until = datetime.combine(close.date() + timedelta(days=1), close.time(), fs.tz) - timedelta(hours=8)
    decisions = drive_engine(sim, reg, until)
    opened = {(fid, d.key.rule, d.key.device_id, d.key.subject) for fid, d in decisions if d.action == "open"}
    expected = {(fs.facility.id, e.rule, e.device, e.subject) for e in sc.expect}
    assert opened == expected
