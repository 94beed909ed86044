"""The duty-room wall's rows (storage/wall.py, web/pages/wall.py; issue #41 item 4), on a fixed clock: which
alerts are life-safety for the last hour, today's alerts and lapses by the city's hours, and 督办 waiting.
The facility is the adversary here: clearing its own alarm must not take it off the wall."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from contract.rules import Condition, Key
from storage import rectification
from storage import wall as wall_store
from storage.alerts import acknowledge, clear_alert, open_alert
from storage.registry import load_registry
from storage.users import Scope
from tests.test_browser import REG, A
from web.pages.wall import day_start, hourly_series

NOW = datetime(2026, 12, 7, 3, 30, tzinfo=UTC)  # 11:30 in Xinzhou
CITY = Scope("inspector", None, None, None)
COUNTY = Scope("inspector", A.county, None, None)


async def test_life_safety_is_critical_only_and_a_cleared_alarm_stays_its_hour(db: asyncpg.Connection) -> None:
    await load_registry(db, REG)
    crit = Condition("critical", "火灾", "fire")
    fire = await open_alert(db, A.id, Key("fire_alarm", "smoke-nap1"), crit, NOW - timedelta(minutes=20))
    await open_alert(db, A.id, Key("guard_absent"), Condition("major", "保安", "guard"), NOW - timedelta(minutes=10))
    # the facility clears its own alarm ten minutes later and its operator acknowledges it at once: still on
    # the wall for the hour, marked cleared (the duty room sees that there was a fire alarm)
    await clear_alert(db, A.id, Key("fire_alarm", "smoke-nap1"), NOW - timedelta(minutes=10))
    operator = Scope("operator", None, None, A.id)
    assert await acknowledge(db, operator, fire.alert_id, "op", "已复位", NOW - timedelta(minutes=9)) is not None
    # an old panic, cleared and acknowledged two hours ago: no longer the last hour's
    panic = await open_alert(db, A.id, Key("panic_button", "panic-gate"), crit, NOW - timedelta(hours=3))
    await clear_alert(db, A.id, Key("panic_button", "panic-gate"), NOW - timedelta(hours=2, minutes=50))
    await acknowledge(db, CITY, panic.alert_id, "insp", "误按，已核实", NOW - timedelta(hours=2))
    # a gas alarm from yesterday nobody acknowledged: open, so it stays however old
    gas = await open_alert(db, A.id, Key("gas_alarm", "gas-kitchen"), crit, NOW - timedelta(hours=20))
    rows = await wall_store.critical_since(db, COUNTY, None, NOW - timedelta(hours=1), 10)
    assert [r["id"] for r in rows] == [fire.alert_id, gas.alert_id]
    assert rows[0]["status"] == "cleared"
    assert {r["severity"] for r in rows} == {"critical"}
    other = next(f for f in REG.facilities if f.county != A.county)
    assert await wall_store.critical_since(db, COUNTY, other.county, NOW - timedelta(hours=1), 10) == []


async def test_today_by_the_citys_hours_and_followups(db: asyncpg.Connection) -> None:
    await load_registry(db, REG)
    start = day_start(NOW)
    assert start == datetime(2026, 12, 6, 16, 0, tzinfo=UTC), "midnight in Xinzhou"
    cond = Condition("major", "保安", "guard")
    await open_alert(db, A.id, Key("guard_absent"), cond, start - timedelta(minutes=1))  # yesterday's
    await open_alert(db, A.id, Key("exit_obstructed", "door-1"), cond, start + timedelta(hours=8, minutes=59))
    await open_alert(db, A.id, Key("ratio_breach", "toddler-1"), cond, start + timedelta(hours=9, minutes=1))
    hours = await wall_store.by_hour(db, COUNTY, None, start, NOW)
    assert hours["alerts"] == {8: 1, 9: 1}
    series = hourly_series(hours["alerts"], NOW)
    assert len(series) == 24 and series[8] == 1 and series[9] == 1 and series[11] == 0 and series[12] is None
    assert hours["lapses"] == {8: 1, 9: 1}  # both are lapse classes (contract.credit); yesterday's is not today's
    kw = {"source": "inspection", "alert_id": None, "detail": "-", "actor": "insp", "level": "county"}
    late = await rectification.issue(db, A.id, title="逾期", due_at=NOW - timedelta(days=1), now=NOW, **kw)
    await rectification.issue(db, A.id, title="未到期", due_at=NOW + timedelta(days=3), now=NOW, **kw)
    n, rows = await wall_store.followups(db, COUNTY, None, NOW, 5)
    assert n == 1 and [r["id"] for r in rows] == [late.order_id] and rows[0]["overdue"]
