"""`bench truth`'s field situations (issue #42's acceptance, bench/field.py): each placed inside the run on a
day its facility really opens (or shut, for the calendar ones), with what must be raised and at which
occurred time, and where nothing may be. Fast: the placement and the bookkeeping, not the month (the lead
runs `carewatch bench truth`; a short run is `--start 2026-02-20 --days 7 --only ...`, docs/benchmarks.md).
Before this, the bench had none of these situations: every test here fails on the main of 2026-12-07
(bench.field does not exist there)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts.tracker import Decision
from bench.field import (
    FIELD_NAMES,
    OCCURRED_TOL,
    PANIC_AFTER_MIN,
    RESTART_AFTER,
    SPOOL_FROM,
    SPOOL_MIN,
    FieldPlan,
    place_field,
    with_closures,
)
from bench.truth import MONTH_START, RESTARTS, _score, hosts, plan
from contract.calendar import DayKind, day_kind
from contract.registry import DeviceType
from contract.rules import Condition, Key
from simulators.engine import CitySim, SimMessage
from simulators.registry_gen import generate_registry, with_register

SHANGHAI = ZoneInfo("Asia/Shanghai")
SPRING = datetime(2026, 2, 16, tzinfo=SHANGHAI)  # Mon; the Spring Festival block is 15-23 Feb


def _by_name(plans: list[FieldPlan]) -> dict[str, FieldPlan]:
    return {p.name: p for p in plans}


@pytest.mark.parametrize(
    ("start", "days"), [(MONTH_START, 30), (SPRING, 10), (datetime(2026, 2, 20, tzinfo=SHANGHAI), 7)]
)
def test_each_field_situation_is_placed_with_what_it_must_and_must_not_raise(start: datetime, days: int) -> None:
    """The month (Mid-Autumn's Saturday 26 Sep inside) and the Spring Festival runs play all four: would fail
    if a situation were dropped, placed outside the run, on a day its facility is shut, or without its
    expectations (the panic's occurred time, the gateway's outage, the quiet windows)."""
    reg = generate_registry(60, seed=1)
    plans = place_field(reg, days, start)
    assert sorted(p.name for p in plans) == sorted(FIELD_NAMES)
    by = _by_name(plans)
    assert all(p.played for p in plans), [(p.name, p.why_not) for p in plans if not p.played]
    first, last = start.date(), start.date() + timedelta(days=days - 1)  # the last day is left for consequences
    shut = {(i, d) for p in plans for i, ds in p.closed.items() for d in ds}

    r = by["engine_restart_mid_day"]
    assert r.facility is not None and r.day is not None and first <= r.day < last
    assert r.compare_restarts and (r.facility, r.day) not in shut
    ((fi, press, at),) = r.injections
    assert press.fault == "panic" and reg.facilities[fi].opening_hours.is_open_at(at)
    (e,) = r.expect
    assert (e.rule, e.occurred) == ("panic_button", at)
    assert r.restarts == (at + RESTART_AFTER,) and at < r.restarts[0] < at + timedelta(minutes=15), "inside the hold"

    s = by["spool_over_pickup"]
    assert s.facility is not None and s.day is not None and first <= s.day < last and (s.facility, s.day) not in shut
    f = reg.facilities[s.facility]
    hours = f.opening_hours.hours_on(s.day)
    assert hours is not None
    down = datetime.combine(s.day, SPOOL_FROM, SHANGHAI)
    back = down + timedelta(minutes=SPOOL_MIN)
    close = datetime.combine(s.day, hours[1], SHANGHAI)
    assert down < close and close + timedelta(minutes=30) <= back, "pick-up and its judgement inside the outage"
    assert s.spooling == {s.facility} and any(d.type is DeviceType.GATEWAY for d in f.devices)
    press_at = down + timedelta(minutes=PANIC_AFTER_MIN)
    assert [(e.rule, e.occurred) for e in s.expect] == [("device_offline", None), ("panic_button", press_at)]
    assert [sc.fault for _, sc, _ in s.injections] == ["gateway_uplink_drop", "panic"]
    (q,) = s.quiet
    assert q.rules == {"child_not_collected", "unauthorized_pickup"} and q.first == down

    b = by["holiday_block_saturday"]
    assert b.day is not None and b.day.weekday() == 5 and day_kind(b.day) is DayKind.HOLIDAY
    openers = {i for i, f in enumerate(reg.facilities) if "sat" in f.opening_hours.weekly}
    assert openers and set(b.closed) == openers and all(b.day in ds for ds in b.closed.values())
    assert {q.facility for q in b.quiet} == openers and all(q.rules is None for q in b.quiet)

    c = by["county_closure"]
    assert c.facility is not None and c.day is not None and first <= c.day < last
    county = reg.facilities[c.facility].county
    members = {i for i, f in enumerate(reg.facilities) if f.county == county}
    assert set(c.closed) == members == set(c.closures) == {q.facility for q in c.quiet}
    assert day_kind(c.day) is not DayKind.HOLIDAY and (c.day.weekday() < 5 or day_kind(c.day) is DayKind.MAKEUP)
    declared = with_closures(reg, plans)
    # the register of people stays with the facilities: without it the month's engine heard of no certificate
    # and missed the planted certificate_expiring and unqualified_staff_on_site (2026-12-07)
    registered = with_register(reg, first, 1)
    assert registered.people and with_closures(registered, plans).people == registered.people
    for i in members:  # the engine reads the closure from the facility's opening hours, as storage fills them
        assert not declared.facilities[i].opening_hours.opens_on(c.day)
        assert reg.facilities[i].opening_hours.opens_on(c.day), "a working day the closure shuts"
    # the built-in scenarios' faults avoid the shut days (placed against the registry with the closure)
    for p in plan(60, days, start, 1, declared):
        if p.scenario.fault is not None and p.at is not None:
            assert (p.facility, p.at.date()) not in shut, f"{p.scenario.name} on a closed day"


def test_a_run_without_the_days_says_why_it_does_not_play_them() -> None:
    """Three days from Monday 21 Sep hold no holiday block's Saturday: not played, and why (would fail if it
    were placed anyway and counted as missed, or silently dropped)."""
    plans = _by_name(place_field(generate_registry(60, seed=1), 3, MONTH_START))
    assert not plans["holiday_block_saturday"].played
    assert plans["holiday_block_saturday"].why_not == "no Saturday of a holiday block in the run"
    assert all(plans[n].played for n in ("engine_restart_mid_day", "spool_over_pickup", "county_closure"))


def test_only_runs_the_facilities_that_play_the_named_situations() -> None:
    """`bench truth --only`: the hosts of a situation (a county closure: the whole county); an unknown name is
    refused before any simulation (would fail if the option ran everything or ignored a typo)."""
    reg = generate_registry(60, seed=1)
    by = _by_name(place_field(reg, 10, SPRING))
    assert hosts(60, 10, 1, SPRING, ["county_closure"]) == sorted(by["county_closure"].facilities())
    assert hosts(60, 10, 1, SPRING, ["spool_over_pickup"]) == [by["spool_over_pickup"].facility]
    with pytest.raises(ValueError, match="unknown scenarios"):
        hosts(60, 10, 1, SPRING, ["spool_over_pickpu"])


def test_the_world_keeps_a_shut_day_shut_and_a_spooling_gateway_forwards() -> None:
    """The calendar situations are judged against the world's own closed days, not the calendar code the
    engine shares (a Saturday opener on a holiday block's Saturday would otherwise come in if the shared
    calendar were wrong, and the engine would look right); a spool needs a forwarding gateway whatever the
    share drew. Would fail without CitySim(closed=, spooling=)."""
    reg = generate_registry(60, seed=1)
    fi = next(i for i, f in enumerate(reg.facilities) if "sat" in f.opening_hours.weekly)
    f = reg.facilities[fi]
    saturday = date(2026, 9, 19)  # an ordinary Saturday: the facility opens
    assert f.opening_hours.opens_on(saturday)
    start = datetime.combine(saturday, datetime.min.time(), SHANGHAI).astimezone(UTC)
    until = start + timedelta(hours=14)

    def people(closed: frozenset[date]) -> int:
        sim = CitySim(reg.model_copy(update={"facilities": [f]}), 1, start, closed={f.id: closed})
        return sum(1 for ev in sim.run(until) if isinstance(ev, SimMessage) and ev.channel == "access")

    assert people(frozenset()) > 10, "open: people come"
    assert people(frozenset({saturday})) == 0, "shut by the situation: nobody comes"
    gw = next(i for i, x in enumerate(reg.facilities) if any(d.type is DeviceType.GATEWAY for d in x.devices))
    g = reg.facilities[gw].id
    one = reg.model_copy(update={"facilities": [reg.facilities[gw]]})
    assert not CitySim(one, 1, start, gateway_share=0.0).facilities[g].gateway_mode
    assert CitySim(one, 1, start, gateway_share=0.0, spooling=frozenset({g})).facilities[g].gateway_mode


def test_a_replayed_panic_alerted_at_its_receipt_time_is_missed() -> None:
    """The spool's panic must carry its press time (issue #42 item 2): an alert whose occurred time is the
    replay's, or none, is reported missed with the time it carried; the press time is a hit. Would fail if
    the bench only matched the rule and device, as it did for every scenario before."""
    start = MONTH_START.astimezone(UTC)
    press = start + timedelta(hours=17, minutes=10)
    known = press + timedelta(minutes=80)
    expected = [("f1", "panic_button", "panic-office", None, press)]

    def scored(at: datetime | None) -> dict[str, object]:
        cond = Condition("critical", "一键报警", "panic", at=at, cause="gateway_offline" if at else None)
        d = Decision("open", Key("panic_button", "panic-office"), cond, known, since=at)
        return _score([("f1", d)], [], expected, start, 2, None, {0: press})

    assert scored(press + OCCURRED_TOL / 2)["hit"] == 1
    late = scored(known)
    assert late["hit"] == 0 and late["false"] == {}, "a true alert, missed for its time, not a false one"
    assert late["missed"] == [f"f1 panic_button panic-office  (occurred {known.astimezone(SHANGHAI):%m-%d %H:%M:%S})"]
    assert scored(None)["missed"] == ["f1 panic_button panic-office  (no occurred time)"]


def test_the_months_daily_restarts_are_not_the_situations_own() -> None:
    """The situation's restart is its own, inside its panic's hold, not one of the run's daily restarts (would
    fail if the situation only relied on RESTARTS, which a change of those times would silently move)."""
    r = _by_name(place_field(generate_registry(60, seed=1), 30, MONTH_START))["engine_restart_mid_day"]
    assert r.restarts[0].astimezone(SHANGHAI).time() not in RESTARTS
