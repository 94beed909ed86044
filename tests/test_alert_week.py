"""False alarms make inspectors stop looking: a normal simulated week for 20 facilities yields none."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from simulators.engine import CitySim
from simulators.registry_gen import generate_registry
from tests.alert_harness import MONDAY, drive_engine


@pytest.mark.slow
def test_normal_week_zero_alerts() -> None:
    reg = generate_registry(20, seed=21)
    sim = CitySim(reg, 21, MONDAY, gateway_share=0.3)
    decisions = drive_engine(sim, reg, MONDAY + timedelta(days=7), tick=timedelta(seconds=30))
    assert Counter((fid, d.key.rule) for fid, d in decisions if d.action == "open") == Counter()
