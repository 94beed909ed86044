"""The demo at any hour (issue #13): the demo's city, started at four local times through the
simulator's and the engine's injectable clock, shows no false alert, and its injected scenarios fire
as the demo announces them. Started at 19:30, the day so far is backfilled with its own times."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bench.truth import drive_engine
from carewatch.demo import ALARM_AFTER_S, FACILITIES, INJECT, SEED
from simulators.engine import CitySim, SimMessage
from simulators.registry_gen import generate_registry
from simulators.scenarios import builtin_scenarios, inject_at

SHANGHAI = ZoneInfo("Asia/Shanghai")
TUESDAY = date(2026, 12, 1)


@pytest.mark.parametrize("hhmm", ["03:00", "08:00", "12:00", "19:30"])
def test_demo_city_at_any_hour(hhmm: str) -> None:
    start = datetime.combine(TUESDAY, time.fromisoformat(hhmm), SHANGHAI)
    reg = generate_registry(FACILITIES, SEED)
    sim = CitySim(reg, SEED, start, gateway_share=0.3)
    expected = set()
    for name, after in INJECT:  # as `carewatch demo` injects them by default
        sc = builtin_scenarios()[name]
        inject_at(sim, sc, start + timedelta(seconds=ALARM_AFTER_S + after))
        expected |= {(reg.facilities[0].id, e.rule, e.device, e.subject) for e in sc.expect}
    decisions = drive_engine(sim, reg, start + timedelta(minutes=10))
    opened = {(fid, d.key.rule, d.key.device_id, d.key.subject) for fid, d in decisions if d.action == "open"}
    truth = {(t.facility_id, t.rule, t.device_id, t.subject) for t in sim.truth}
    assert sorted(opened - truth) == sorted(expected)


def test_started_in_the_evening_the_day_is_backfilled_with_its_own_times() -> None:
    start = datetime.combine(TUESDAY, time(19, 30), SHANGHAI)
    reg = generate_registry(5, SEED)
    sim = CitySim(reg, SEED, start, gateway_share=0.0)
    access = [
        ev for ev in sim.run(start + timedelta(seconds=1)) if isinstance(ev, SimMessage) and ev.channel == "access"
    ]
    assert len(access) > 5 * 40, "the day's arrivals and departures"
    assert all(ev.at < start for ev in access), "stamped when they happened, not when the simulator started"
    assert {ev.at.astimezone(SHANGHAI).hour for ev in access} >= {7, 8, 16, 17}
