"""The one clock (contract.clock, issue #36): pure logic, no servers."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from datetime import UTC, datetime, timedelta

import pytest

from carewatch.demo import CITY_TZ, demo_clock
from contract.clock import SYSTEM, ManualClock, ScaledClock, clock_from_spec

T0 = datetime(2031, 5, 4, 23, 7, tzinfo=UTC)  # any date: nothing here reads today's


async def test_a_manual_clock_wakes_its_sleepers_in_order_and_only_when_moved() -> None:
    clock = ManualClock(T0)
    woke: list[str] = []

    async def sleeper(name: str, s: float) -> None:
        await clock.sleep(s)
        woke.append(f"{name}@{(clock.now() - T0).total_seconds():g}")

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("b", 20), ("a", 5), ("c", 20))]
    await asyncio.sleep(0.05)
    assert woke == [], "nothing wakes while the clock stands still"
    clock.advance(4.9)
    await asyncio.sleep(0)
    assert woke == []
    clock.advance(0.1)
    await asyncio.sleep(0)
    assert woke == ["a@5"]
    clock.set(T0 + timedelta(seconds=60))
    await asyncio.gather(*tasks)
    assert woke == ["a@5", "b@60", "c@60"], "equal times wake in the order they went to sleep"
    assert clock.monotonic() == 60.0
    with pytest.raises(ValueError, match="never goes back"):
        clock.advance(-1)


async def test_waiting_for_an_event_ends_with_the_event_or_the_clocks_time() -> None:
    clock = ManualClock(T0)
    ev = asyncio.Event()
    waiting = asyncio.create_task(clock.wait(ev, 30))
    await asyncio.sleep(0.01)  # the waiter is asleep on the clock
    clock.advance(29)
    await asyncio.sleep(0.01)
    assert not waiting.done()
    ev.set()
    assert await asyncio.wait_for(waiting, 5) is True
    ev.clear()
    waiting = asyncio.create_task(clock.wait(ev, 30))
    await asyncio.sleep(0.01)
    clock.advance(30)
    assert await asyncio.wait_for(waiting, 5) is False


def test_a_scaled_clock_runs_at_its_speed_and_two_processes_agree_from_its_spec() -> None:
    anchor = time.time() - 10.0  # started ten real seconds ago
    clock = ScaledClock(T0, 60.0, anchor)
    ahead = (clock.now() - T0).total_seconds()
    assert 600 <= ahead < 600 + 60 * 5, "ten real seconds are ten minutes at 60x"
    again = clock_from_spec(clock.spec())
    assert isinstance(again, ScaledClock) and again.speed == 60.0
    assert abs((again.now() - clock.now()).total_seconds()) < 60 * 0.5, "the same anchor: the same time"
    assert clock_from_spec(None) is SYSTEM and clock_from_spec("system") is SYSTEM
    for bad, why in (("sundial", "unknown clock"), ("scaled:fast:1:x", "clock 'scaled:fast:1:x'")):
        with pytest.raises(ValueError, match=why):
            clock_from_spec(bad)
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(T0, 0)
    with pytest.raises(ValueError, match="time zone"):
        ScaledClock(T0.replace(tzinfo=None), 2)


def test_the_demo_starts_at_the_next_hh_mm_after_the_machine_and_after_what_a_run_left_ahead() -> None:
    """`carewatch demo --speed 60 --from 07:00` at an awkward hour (23:07 local): tomorrow 07:00, never a
    time before anything stored, so that no reading lies in the demo's future."""
    real = datetime(2031, 5, 4, 23, 7, tzinfo=CITY_TZ)
    seven = dt.time(7, 0)
    c = demo_clock(60, seven, None, real)
    assert isinstance(c, ScaledClock) and c.speed == 60
    start = c.start.astimezone(CITY_TZ)
    assert start.date() == dt.date(2031, 5, 5) and (start.hour, start.minute) == (7, 0)
    early = datetime(2031, 5, 4, 6, 30, tzinfo=CITY_TZ)  # before 07:00: today's
    assert demo_clock(60, seven, None, early).start.astimezone(CITY_TZ).date() == dt.date(2031, 5, 4)  # type: ignore[attr-defined]
    left = datetime(2031, 5, 5, 21, 0, tzinfo=CITY_TZ)  # an earlier accelerated run got to 21:00 tomorrow
    assert demo_clock(60, seven, left, real).start.astimezone(CITY_TZ).date() == dt.date(2031, 5, 6)  # type: ignore[attr-defined]
    assert demo_clock(1.0, None, left, real) is SYSTEM, "no --speed and no --from: the machine's clock"
    sped = demo_clock(30, None, left, real).start  # type: ignore[attr-defined]
    assert left <= sped < left + timedelta(minutes=5), "no --from: from where the stored data ends"


def test_a_whole_start_date_is_taken_as_it_is_unless_stored_data_lies_after_it() -> None:
    from carewatch.demo import DemoStartError

    real = datetime(2031, 5, 4, 23, 7, tzinfo=CITY_TZ)
    tuesday = datetime(2031, 5, 13, 16, 40)  # naive: the facilities' local time
    c = demo_clock(60, tuesday, None, real)
    assert isinstance(c, ScaledClock) and c.start.astimezone(CITY_TZ).replace(tzinfo=None) == tuesday
    with pytest.raises(DemoStartError, match="2031-05-14 09:00"):
        demo_clock(60, tuesday, datetime(2031, 5, 14, 9, 0, tzinfo=CITY_TZ), real)


def test_a_scaled_clock_keeps_the_machines_pace_until_its_anchor_then_runs_at_its_speed() -> None:
    """The demo's warm-up (carewatch.demo.WARMUP_S): before its anchor the clock reads its start less the
    real seconds still to go; after it, its start plus the seconds since at its speed. The simulator
    waits exactly until the clock reaches a time (`real_seconds_until`), on either side."""
    before = ScaledClock(T0, 60.0, time.time() + 10.0)
    ahead = (T0 - before.now()).total_seconds()
    assert 9.0 <= ahead <= 10.0, "ten real seconds to go read as ten seconds, not ten minutes"
    assert 9.0 <= before.real_seconds_until(T0) <= 10.0
    assert 10.0 <= before.real_seconds_until(T0 + timedelta(minutes=1)) <= 11.0, "a minute after: a second more"
    after = ScaledClock(T0, 60.0, time.time() - 10.0)
    assert 600 <= (after.now() - T0).total_seconds() < 600 + 60 * 5
    assert -10.5 <= after.real_seconds_until(T0) <= -9.0
