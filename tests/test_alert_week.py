"""False alarms make inspectors stop looking: a realistic simulated week — National Day inside, each
facility's own hours, staff before opening, late pick-ups, and a fleet's background faults (missed
heartbeats, duplicates, skewed clocks, forgotten badge-outs, gateway outages with spool replay) —
yields no alert the simulated world did not deserve. `carewatch bench truth` runs the month."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bench.truth import run_truth_bench
from contract.registry import DeviceType
from simulators.engine import UTC_WALL_TIME, wrong_clock
from simulators.registry_gen import generate_registry

HOLIDAY_WEEK = datetime(2026, 9, 28, tzinfo=ZoneInfo("Asia/Shanghai"))  # Mon; 1-7 Oct off


@pytest.mark.slow
def test_realistic_holiday_week_has_no_false_alert() -> None:
    # among the faults, devices whose clocks run slow (simulators.engine.wrong_clock): smoke detectors
    # and a patrol point minutes slow, and the door controller of one facility set up in UTC wall time
    seed = 112
    registry = generate_registry(8, seed=seed)
    wrong = {(d.type, wrong_clock(seed, f.id, d)) for f in registry.facilities for d in f.devices}
    assert (DeviceType.ACCESS_CONTROLLER, UTC_WALL_TIME) in wrong, "a door controller 8 hours slow"
    assert {t for t, slow in wrong if slow} >= {DeviceType.SMOKE_DETECTOR, DeviceType.PATROL_POINT}
    r = run_truth_bench(facilities=8, days=7, seed=seed, workers=2, start=HOLIDAY_WEEK, scenarios=False)
    assert r["false_by_rule"] == {}, r["false_examples"]
    assert r["true_background_by_rule"], "the faults happened and were seen (the check can tell them apart)"
