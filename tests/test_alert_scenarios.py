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
    until = (
        max(at + timedelta(hours=2), close + timedelta(hours=1))
        if sc.expect[0].rule == "child_not_collected"
        else at + timedelta(hours=2)
    )
    decisions = drive_engine(sim, reg, until)
    opened = {(fid, d.key.rule, d.key.device_id, d.key.subject) for fid, d in decisions if d.action == "open"}
    expected = {(fs.facility.id, e.rule, e.device, e.subject) for e in sc.expect}
    assert opened == expected
