"""The credit evaluation (诚信评价, issue #16 item 3): a month of 60 facilities with known lapses injected
into TimescaleDB gives the expected grades, and no way of gaming it raises a grade: going dark, never
acknowledging, acknowledging without fixing, splitting a lapse into short pieces. Also the tracker's
short lapses, the stored record and the appeal."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.tracker import Tracker
from contract.credit import CLASSES, LAPSE_CLASSES, CreditConfig, Facts, evaluate
from contract.credit_facts import HOUR, Month, measure, minutes_in, open_by_hour, open_spans
from contract.places import county_name_zh
from contract.registry import Closure
from contract.rules import Condition, Key
from simulators.registry_gen import generate_registry
from storage.credit import month_bounds, month_facts, month_report
from storage.inspections import countersign, plan, record
from storage.rectification import issue
from storage.registry import load_registry
from storage.retention import refresh_slots
from storage.users import Scope
from supervision.orders import answer

pytestmark = pytest.mark.clock  # run again a year ahead by scripts/test (issue #35)

MONTH = date(2026, 10, 1)  # a closed month (the suite's clock is 2026-11 or later)
START, END = month_bounds(MONTH)
CITY = Scope("inspector", None, None, None)
REG = generate_registry(60, seed=21)


# -- the method (pure) ----------------------------------------------------------------------------------------
def test_a_clean_month_is_an_a_and_lapses_cost_by_their_share() -> None:
    base = Facts(period_minutes=44640, open_minutes=9000)
    assert evaluate(base)["score"] == 100.0 and evaluate(base)["grade"] == "A"
    guard = evaluate(Facts(44640, 9000, {"guard_absent": 900}))  # 10 % of the opening time
    assert guard["score"] == 90.0 and guard["lapse_points"]["guard_absent"] == 10.0
    # the same share costs the same in a short month and a long one, a big facility and a small one
    assert evaluate(Facts(40320, 4500, {"guard_absent": 450}))["score"] == 90.0
    cfg = CreditConfig.from_mapping({"grades": {"A": 95, "B": 80, "C": 60, "D": 0}})
    assert evaluate(Facts(44640, 9000, {"guard_absent": 900}), cfg)["grade"] == "B"


minutes = st.floats(min_value=0, max_value=3000, allow_nan=False)


@given(
    hidden=st.dictionaries(st.sampled_from(sorted(LAPSE_CLASSES)), minutes, max_size=6),
    dark_open=minutes,
    dark_rest=minutes,
    seen=st.dictionaries(st.sampled_from(sorted(LAPSE_CLASSES)), minutes, max_size=6),
)
def test_going_dark_never_scores_better_than_showing_the_lapses(
    hidden: dict[str, float], dark_open: float, dark_rest: float, seen: dict[str, float]
) -> None:
    """Any lapses that could have happened during the dark time (each at most as long as it, within
    opening hours for the open-time classes) cost no more than the darkness itself."""
    period, opening = 44640.0, 9000.0
    dark_all = dark_open + dark_rest
    capped = {rule: min(m, dark_open if LAPSE_CLASSES[rule][0] == "open" else dark_all) for rule, m in hidden.items()}
    shown = Facts(period, opening, {r: seen.get(r, 0) + capped.get(r, 0) for r in set(seen) | set(capped)})
    # going dark: every class silent for the dark time (contract.credit_facts charges it so)
    silent = {rule: dark_open if base == "open" else dark_all for rule, (base, _w) in CLASSES.items()}
    dark = Facts(period, opening, dict(seen), silent_minutes=silent, dark_minutes=dark_all, dark_open_minutes=dark_open)
    assert evaluate(dark)["score"] <= evaluate(shown)["score"]


@given(
    tz=st.sampled_from(["Asia/Shanghai", "Asia/Kolkata", "UTC"]),
    opens=st.lists(st.tuples(st.integers(0, 24 * 60 * 9), st.integers(1, 60 * 30)), max_size=12),
)
def test_an_hours_open_minutes_are_those_of_the_spans(tz: str, opens: list[tuple[int, int]]) -> None:
    """contract.credit_facts.open_by_hour (each span visited once, for speed) gives every UTC hour the minutes
    minutes_in gives it (each hour against every span), spans of any length, overlapping or not, in zones a
    whole or a half hour from UTC."""
    z = ZoneInfo(tz)
    t0 = datetime(2026, 10, 1, tzinfo=z)
    spans = [(t0 + timedelta(minutes=a), t0 + timedelta(minutes=a + n)) for a, n in opens]
    got = open_by_hour(spans)
    first = t0.astimezone(UTC).replace(minute=0) - HOUR
    for k in range(24 * 11):
        h = first + k * HOUR
        assert got.get(h, 0.0) == pytest.approx(minutes_in(spans, (h, h + HOUR))), h


def test_never_acknowledging_never_pays() -> None:
    on_time = evaluate(Facts(44640, 9000, alerts_to_answer=5))
    late = evaluate(Facts(44640, 9000, alerts_to_answer=5, late_acks=5))
    never = evaluate(Facts(44640, 9000, alerts_to_answer=5, unacked=5))
    assert on_time["score"] > late["score"] > never["score"]


def test_a_short_lapse_is_still_a_lapse_and_a_long_one_counts_from_its_start() -> None:
    """Splitting: a guard absence broken into 9-minute pieces (the rule needs 10 to alert) is reported
    piece by piece; an absence that does alert reports when it began, not when the alert opened."""
    key = Key("guard_absent")
    cond = Condition("major", "保安缺岗", "no guard", for_s=600)
    t0 = datetime(2026, 10, 12, 9, 0, tzinfo=UTC)
    tracker = Tracker(lapse_rules=frozenset(LAPSE_CLASSES))
    lapses = []
    for i in range(3):
        start = t0 + timedelta(minutes=10 * i)
        tracker.step({key: cond}, start)
        lapses += tracker.step({}, start + timedelta(minutes=9))
    assert [(d.action, (d.at - d.since).total_seconds()) for d in lapses] == [("lapse", 540.0)] * 3
    assert tracker.step({key: cond}, t0 + timedelta(hours=1)) == []
    [opened] = tracker.step({key: cond}, t0 + timedelta(hours=1, minutes=10))
    assert opened.action == "open" and opened.since == t0 + timedelta(hours=1)
    assert Tracker().step({}, t0) == [], "without lapse rules (the engine's tests) nothing new is reported"


def test_a_lapse_on_a_closed_day_that_children_were_brought_in_is_charged() -> None:
    """A day closed by an approved closure (停课) with children badged in is open in fact: the engine judges
    guards and the carer ratio as on any open day (alerts.people.hours_in_fact) and records their lapses. The
    credit charged them nothing, since the calendar said closed: a facility that opened on its closure day with
    no guard looked as good as one that stayed shut (#42). Now such a lapse is charged for its whole span."""
    tz = ZoneInfo("Asia/Shanghai")
    f = REG.facilities[0]
    closed = date(2026, 10, 14)  # a Wednesday
    hours = f.opening_hours.model_copy(
        update={"closures": [Closure(kind="facility", first=closed, last=closed, reason="停水")]}
    )
    assert hours.hours_on(closed) is None and f.opening_hours.hours_on(closed) is not None
    away = (datetime(2026, 10, 14, 9, 0, tzinfo=tz), datetime(2026, 10, 14, 10, 30, tzinfo=tz))

    def guard_minutes(h: Any, lapses: list[tuple[str, tuple[datetime, datetime]]]) -> float:
        m = Month((START, END), tz, h, [], {}, lapses=lapses)
        return measure(m).lapse_minutes.get("guard_absent", 0.0)

    assert guard_minutes(f.opening_hours, [("guard_absent", away)]) == 90.0, "an open day's lapse"
    assert guard_minutes(hours, [("guard_absent", away)]) == 90.0, "the same lapse on the closure day"
    assert guard_minutes(hours, []) == 0.0
    # an open day's lapse is still counted within its opening hours only
    late = (datetime(2026, 10, 15, 17, 0, tzinfo=tz), datetime(2026, 10, 15, 23, 0, tzinfo=tz))
    _, close = f.opening_hours.usual_hours(date(2026, 10, 15))
    expected = (datetime.combine(date(2026, 10, 15), close, tz) - late[0]).total_seconds() / 60
    assert guard_minutes(hours, [("guard_absent", late)]) == expected


# -- a month of 60 facilities in TimescaleDB ----------------------------------------------------------------
def _open_day(f: Any, n: int) -> datetime:
    """The n-th opening day of the month for the facility, at its opening time (local)."""
    day, seen = MONTH, 0
    while True:
        h = f.opening_hours.hours_on(day)
        if h is not None:
            if seen == n:
                return datetime.combine(day, h[0], START.tzinfo)
            seen += 1
        day += timedelta(days=1)


async def _dark(db: asyncpg.Connection, fid: str, start: datetime, end: datetime) -> None:
    """Nothing heard from the facility's devices in the hours from start to end."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while hour < end:
        await db.execute(
            "UPDATE device_activity SET hours = hours & ~(1 << $3) WHERE facility_id = $1 AND day = $2",
            fid,
            hour.date(),
            hour.hour,
        )
        await db.execute("DELETE FROM counted_slots WHERE facility_id = $1 AND hour = $2", fid, hour)
        hour += timedelta(hours=1)


async def _seed(db: asyncpg.Connection) -> dict[str, str]:
    """Known lapses per group of facilities; returns facility id -> the grade a person would expect."""
    await load_registry(db, REG)
    await db.execute("UPDATE facilities SET registered_at = $1", START)  # registered as the month began
    # every device is heard from every hour of the month (as ingest marks device_activity), unless a
    # group below goes dark
    await db.execute(
        "INSERT INTO device_activity (facility_id, day, device_id, hours)"
        " SELECT d.facility_id, (h AT TIME ZONE 'UTC')::date, d.id,"
        " bit_or(1 << extract(hour FROM h AT TIME ZONE 'UTC')::int)"
        " FROM devices d, generate_series($1::timestamptz, $2::timestamptz - interval '1 hour', interval '1 hour') h"
        " GROUP BY 1, 2, 3",
        START,
        END,
    )
    # and every counting camera's count in each of an hour's 60 slots, as ingest's maintenance keeps them
    # (issue #37, migration 042)
    await db.execute(
        "INSERT INTO counted_slots (hour, facility_id, device_id, slots)"
        " SELECT h, d.facility_id, d.id, 60 FROM devices d,"
        " generate_series($1::timestamptz, $2::timestamptz - interval '1 hour', interval '1 hour') h"
        " WHERE d.counts_adults",
        START,
        END,
    )
    facs = REG.facilities
    expect: dict[str, str] = {}
    groups = {
        "clean": facs[0:20],
        "guard20": facs[20:30],
        "exits10": facs[30:40],
        "dark3days": facs[40:45],
        "unacked": facs[45:50],
        "orders_inspection": facs[50:55],
        "maintenance_limited": facs[55:60],
    }

    async def lapse(fid: str, rule: str, start: datetime, end: datetime) -> None:
        await db.execute(
            "INSERT INTO lapse_intervals (facility_id, rule, started_at, ended_at) VALUES ($1, $2, $3, $4)",
            fid,
            rule,
            start,
            end,
        )

    for f in groups["clean"]:
        expect[f.id] = "A"
        # correct use: a panic press acknowledged with a note within the minute
        opened = _open_day(f, 3) + timedelta(hours=2)
        await db.execute(
            "INSERT INTO alerts (rule, severity, facility_id, device_id, opened_at, last_seen_at, status, cleared_at,"
            " acknowledged, acknowledged_at, note) VALUES ('panic_button', 'critical', $1, 'panic-office', $2, $2,"
            " 'cleared', $3, true, $4, '误触，已核实')",
            f.id,
            opened,
            opened + timedelta(minutes=15),
            opened + timedelta(seconds=40),
        )
    for f in groups["guard20"]:
        expect[f.id] = "B"  # 20 % of the opening time without a guard: 80
        for i in range(31):  # every opening day, the first fifth of its hours
            d = MONTH + timedelta(days=i)
            if (h := f.opening_hours.hours_on(d)) is not None:
                opens, closes = (datetime.combine(d, t, START.tzinfo) for t in h)
                await lapse(f.id, "guard_absent", opens, opens + (closes - opens) / 5)
    for f in groups["exits10"]:
        expect[f.id] = "B"  # exits obstructed 10 % of the month: 85
        start = START + timedelta(days=10)
        await lapse(f.id, "exit_obstructed", start, start + timedelta(minutes=0.1 * 44640))
    for f in groups["dark3days"]:
        expect[f.id] = "D"  # three opening days with nothing at all from the facility
        first = _open_day(f, 5).replace(hour=0, minute=0)
        await _dark(db, f.id, first, _open_day(f, 7).replace(hour=23, minute=59))
    for f in groups["unacked"]:
        expect[f.id] = "B"  # five major alerts never acknowledged: 85
        for i in range(5):
            opened = _open_day(f, i) + timedelta(hours=3)
            await db.execute(
                "INSERT INTO alerts (rule, severity, facility_id, device_id, opened_at, last_seen_at)"
                " VALUES ('door_forced', 'major', $1, $2, $3, $3)",
                f.id,
                f"door-{i}",
                opened,
            )
    for f in groups["orders_inspection"]:
        expect[f.id] = "B"  # two orders answered after their date (6) and three failed items (6): 88
        for i in range(2):
            due = START + timedelta(days=5 + i)
            change = await issue(
                db,
                f.id,
                source="manual",
                alert_id=None,
                title="整改",
                detail="",
                due_at=due,
                actor="t",
                level="county",
                now=START,
            )
            await answer(db, change.order_id, "op", "已整改", [], due + timedelta(days=2))
            await db.execute(
                "UPDATE rectification_history SET at = $2 WHERE order_id = $1 AND action = 'answered'",
                change.order_id,
                due + timedelta(days=2),
            )
        iid = await plan(db, f.id, "visit", MONTH + timedelta(days=14), "t", "county")
        findings = {c: {"result": "pass", "note": ""} for c in ("ratio", "exits")}
        findings |= {c: {"result": "fail", "note": "x"} for c in ("patrols", "extinguishers", "pickup")}
        signed_at = START + timedelta(days=14, hours=3)
        await record(db, iid, "t", findings, "", [], True, signed_at, second="t2")
        assert await countersign(db, iid, "t2", signed_at + timedelta(hours=1))  # two officers (migration 037)
    for f in groups["maintenance_limited"]:
        expect[f.id] = "B"  # an 80 h repair window over an 80 h lapse excuses nothing: 10.75 % x 1.5, 83.9
        start = START + timedelta(days=3)
        await lapse(f.id, "exit_obstructed", start, start + timedelta(hours=80))
        await db.execute(
            "INSERT INTO maintenance_windows (facility_id, starts_at, ends_at, reason, author, requested_by, status)"
            " VALUES ($1, $2, $3, '消防通道改造', 'op', 'op', 'approved')",  # as stored before the limits (023)
            f.id,
            start,
            start + timedelta(hours=80),
        )
    return expect


async def test_a_month_of_60_facilities_gets_the_grades_a_person_expects(db: asyncpg.Connection) -> None:
    expect = await _seed(db)
    now = datetime.now(UTC)
    rows = await month_report(db, CITY, MONTH, now, CreditConfig())
    got = {r["facility_id"]: r for r in rows}
    wrong = {fid: (g, got[fid]["grade"], got[fid]["score"]) for fid, g in expect.items() if got[fid]["grade"] != g}
    assert wrong == {}, wrong
    assert all(not r["provisional"] for r in rows)
    limited = got[REG.facilities[55].id]
    assert limited["facts"]["maintenance_minutes"] == 4800.0, "the window is on the record"
    assert limited["facts"]["lapse_minutes"]["exit_obstructed"] == 4800.0, "and excuses nothing"
    assert got[REG.facilities[40].id]["facts"]["dark_minutes"] >= 3 * 1440 - 60
    # the record is stored: later data for the month changes nothing, the appeal is kept beside it
    stored = await db.fetchval("SELECT count(*) FROM credit_records WHERE month = $1", MONTH)
    assert stored == 60
    await db.execute("DELETE FROM lapse_intervals")
    again = {r["facility_id"]: r["score"] for r in await month_report(db, CITY, MONTH, now, CreditConfig())}
    assert again == {fid: r["score"] for fid, r in got.items()}


async def test_gaming_never_raises_a_grade(db: asyncpg.Connection) -> None:
    """Pairs of facilities over the same month: the honest one of each pair never scores lower."""
    await _seed(db)
    f = REG.facilities[0:8]  # clean facilities of the seed, used in pairs here

    def day(x: Any) -> datetime:
        return _open_day(x, 9) + timedelta(hours=1)  # three hours from here lie within anyone's opening hours

    async def lapse(fid: str, start: datetime, end: datetime) -> None:
        await db.execute(
            "INSERT INTO lapse_intervals (facility_id, rule, started_at, ended_at) VALUES ($1, 'guard_absent', $2, $3)",
            fid,
            start,
            end,
        )

    # 1. going dark while the guard is away, against showing it
    await lapse(f[0].id, day(f[0]), day(f[0]) + timedelta(hours=3))
    await _dark(db, f[1].id, day(f[1]), day(f[1]) + timedelta(hours=3))
    # 2. one three-hour absence against the same three hours in six 30-minute pieces
    await lapse(f[2].id, day(f[2]), day(f[2]) + timedelta(hours=3))
    for i in range(6):
        await lapse(f[3].id, day(f[3]) + timedelta(minutes=30 * i), day(f[3]) + timedelta(minutes=30 * i + 30))
    # 3. acknowledging in time and fixing, against acknowledging and leaving it
    for x, hours in ((f[4], 1), (f[5], 3)):
        await lapse(x.id, day(x), day(x) + timedelta(hours=hours))
        await db.execute(
            "INSERT INTO alerts (rule, severity, facility_id, opened_at, last_seen_at, acknowledged, acknowledged_at,"
            " note) VALUES ('guard_absent', 'major', $1, $2, $2, true, $3, '已安排')",
            x.id,
            day(x) + timedelta(minutes=10),
            day(x) + timedelta(minutes=12),
        )
    # an alert opened a moment ago is not yet unacknowledged (the month in progress)
    await db.execute(
        "INSERT INTO alerts (rule, severity, facility_id, opened_at, last_seen_at) VALUES ('door_forced', 'major', $1,"
        " now() - interval '1 minute', now() - interval '1 minute')",
        f[4].id,
    )
    today = datetime.now(START.tzinfo).date()  # the city's month in progress
    current = {fr["id"]: fa for fr, fa in await month_facts(db, CITY, today, datetime.now(UTC), CreditConfig())}
    assert (current[f[4].id].unacked, current[f[4].id].alerts_to_answer) == (0, 1)
    # 4. acknowledging against never acknowledging the same alert
    for x, acked in ((f[6], True), (f[7], False)):
        await db.execute(
            "INSERT INTO alerts (rule, severity, facility_id, opened_at, last_seen_at, acknowledged, acknowledged_at)"
            " VALUES ('exit_obstructed', 'major', $1, $2, $2, $3, $4)",
            x.id,
            day(x),
            acked,
            day(x) + timedelta(minutes=2) if acked else None,
        )
    facts = {fr["id"]: fa for fr, fa in await month_facts(db, CITY, MONTH, datetime.now(UTC), CreditConfig())}
    score = {fid: evaluate(fa)["score"] for fid, fa in facts.items()}
    assert score[f[1].id] < score[f[0].id], "dark is worse than a guard's absence shown"
    assert facts[f[3].id].lapse_minutes["guard_absent"] == facts[f[2].id].lapse_minutes["guard_absent"] == 180.0
    assert score[f[5].id] < score[f[4].id], "an acknowledgement does not stop the minutes"
    assert score[f[7].id] < score[f[6].id], "never acknowledging costs more"


def test_month_bounds_are_the_citys_calendar_month() -> None:
    start, end = month_bounds(MONTH)
    assert start.isoformat() == "2026-10-01T00:00:00+08:00" and end.isoformat() == "2026-11-01T00:00:00+08:00"
    assert month_bounds(date(2026, 2, 14))[1].isoformat() == "2026-03-01T00:00:00+08:00"


async def test_a_facility_is_evaluated_from_its_registration(db: asyncpg.Connection) -> None:
    """Registered on the 21st: its month starts then (no darkness before it existed); registered after
    the month: no record for that month at all."""
    await _seed(db)
    late, never = REG.facilities[0], REG.facilities[1]
    await db.execute("UPDATE facilities SET registered_at = $2 WHERE id = $1", late.id, START + timedelta(days=20))
    await db.execute("UPDATE facilities SET registered_at = $2 WHERE id = $1", never.id, END + timedelta(days=3))
    facts = {f["id"]: fa for f, fa in await month_facts(db, CITY, MONTH, datetime.now(UTC), CreditConfig())}
    assert never.id not in facts
    assert facts[late.id].period_minutes == 11 * 1440 and facts[late.id].dark_minutes == 0
    assert evaluate(facts[late.id])["grade"] == "A"


async def test_the_credit_api_in_scope_with_an_appeal(db: asyncpg.Connection, db_url: str) -> None:
    import secrets

    import aiohttp
    from aiohttp.test_utils import TestServer

    from storage.users import create_user
    from tests.conftest import as_role
    from web.app import create_app

    await _seed(db)
    a, b = REG.facilities[20], next(f for f in REG.facilities if f.county != REG.facilities[20].county)
    _, county = await create_user(db, "county", "inspector", None, county=a.county)
    _, oper = await create_user(db, "oper", "operator", None, facility=a.id)
    _, oper_b = await create_user(db, "oper_b", "operator", None, facility=b.id)
    server = TestServer(create_app(as_role(db_url, "web"), secrets.token_bytes(32)), host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")

    async def call(method: str, path: str, token: str, body: object = None) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as s,
            s.request(method, f"{url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}) as r,
        ):
            return r.status, await r.json()

    try:
        status, body = await call("GET", "/api/v1/credit?month=2026-10", county)
        assert status == 200 and {r["county"] for r in body["facilities"]} == {a.county}
        mine = next(r for r in body["facilities"] if r["facility_id"] == a.id)
        assert (mine["grade"], mine["provisional"]) == ("B", False), "the guard group: 80"
        status, body = await call("GET", "/api/v1/credit?month=2026-13", county)
        assert status == 400
        status, now = await call("GET", "/api/v1/credit", oper)
        assert [r["facility_id"] for r in now["facilities"]] == [a.id] and now["facilities"][0]["provisional"]
        appeal = f"/api/v1/facilities/{a.id}/credit/2026-10/appeal"
        status, _ = await call("POST", appeal, county, {"note": "x"})
        assert status == 403, "the facility appeals, not its inspector"
        status, _ = await call("POST", appeal, oper_b, {"note": "x"})
        assert status == 404, "another facility's operator"
        status, _ = await call("POST", appeal, oper, {"note": "  "})
        assert status == 400
        status, body = await call("POST", appeal, oper, {"note": "10月保安因病请假，已补充人员"})
        assert status == 201
        status, body = await call("GET", "/api/v1/credit?month=2026-10", oper)
        assert body["facilities"][0]["appeal_note"] == "10月保安因病请假，已补充人员"
        assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'credit.appeal'") == 1
        # the annual assessment: per county for the city, per township for a county, ranked; CSV for Excel
        _, city = await create_user(db, "city", "inspector", None)
        status, body = await call("GET", "/api/v1/assessment?year=2026", city)
        assert status == 200 and body["by"] == "county", body
        areas = {x["area"]: x for x in body["areas"]}
        # a facility's year: the mean of its stored months (October here, and November once it has ended
        # in Xinzhou: the suite may run after 16:00 UTC on the 30th), graded by the default thresholds
        means: dict[str, list[float]] = {}
        for rec in await db.fetch("SELECT facility_id, score FROM credit_records WHERE month >= '2026-01-01'"):
            means.setdefault(rec["facility_id"], []).append(float(rec["score"]))

        def grade(scores: list[float]) -> str:
            m = sum(scores) / len(scores)
            return "A" if m >= 90 else "B" if m >= 75 else "C" if m >= 60 else "D"

        for code, area in areas.items():
            mine = [f.id for f in REG.facilities if f.county == code]
            assert area["facilities"] == len(mine)
            counts = [area[f"grade_{g.lower()}"] for g in "ABCD"]
            assert counts == [sum(grade(means[f]) == g for f in mine) for g in "ABCD"], area
        ranked = [x["work_index"] for x in body["areas"]]
        assert ranked == sorted(ranked, reverse=True) and body["areas"][0]["rank"] == 1
        status, body = await call("GET", f"/api/v1/assessment?year=2026&county={a.county}", city)
        assert body["by"] == "township" and {x["area"][:6] for x in body["areas"]} == {a.county}
        async with aiohttp.ClientSession() as s:
            r = await s.get(
                f"{url}/api/v1/assessment?year=2026&format=csv", headers={"Authorization": f"Bearer {city}"}
            )
            text = await r.text()
        assert text.startswith("\ufeff排名,区域,监管工作指数,机构数,检查覆盖率（%）,已检查机构")
        assert county_name_zh(REG.facilities[0].county) in text
        status, _ = await call("GET", "/api/v1/assessment?year=1999", city)
        assert status == 400
    finally:
        await server.close()


def test_a_restart_neither_drops_a_window_timer_nor_clears_a_window_alert() -> None:
    """Just started, the engine waits for late data before judging guards and ratios: until then a
    restored guard timer runs on and an active guard alert stays (before, the first tick dropped the
    timer and cleared the alert, which re-opened and re-notified a moment later)."""
    from alerts.engine import AlertEngine
    from contract.rules import load_rules

    fac = generate_registry(1, seed=5).facilities[0]
    t0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 10:00 in Xinzhou, a Monday: open
    guard, ratio = Key("guard_absent"), Key("ratio_breach")
    engine = AlertEngine(
        [fac],
        load_rules(None),
        t0,
        {fac.id: {guard: t0 - timedelta(minutes=3)}},
        {fac.id: {ratio}},
        lapse_rules=frozenset(LAPSE_CLASSES),
    )
    first = engine.on_tick(t0 + timedelta(seconds=1))
    assert [(d.action, d.key.rule) for _, d in first if d.key in {guard, ratio}] == []
    assert engine.trackers[fac.id].pending.get(guard) == t0 - timedelta(minutes=3)
    assert ratio in engine.trackers[fac.id].firing


async def test_the_platforms_own_outage_is_not_a_facilitys_darkness(db: asyncpg.Connection) -> None:
    """Ingest reports the seconds of each hour it listened (storage.intake). Three hours in which the
    platform heard nothing from anyone — two with ingest down, one half down — cost a facility that sent
    nothing then only the half hour in which the platform listened; the same three silent hours at a time
    the platform listened cost another facility all three. Hours before ingest first reported are
    charged when anyone at all was heard in them (the platform was running, before its reports), and not
    when nobody was (it was not running: a new deployment, a demo whose clock starts ahead)."""
    await _seed(db)
    quiet, dark, before = REG.facilities[0], REG.facilities[1], REG.facilities[2]
    outage = _open_day(quiet, 4).astimezone(UTC).replace(minute=0)
    listening_from = START + timedelta(days=2)  # ingest's reports begin on the month's third day
    hours, h = [], listening_from.astimezone(UTC)
    while h < END:
        up = 0.0 if outage <= h < outage + timedelta(hours=2) else 1800.0 if h == outage + timedelta(hours=2) else 3600
        hours.append((h, "ingest-1", up))
        h += timedelta(hours=1)
    # a second worker listened a little in the outage's first hour: the greatest of the workers counts
    hours.append((outage, "ingest-2", 900.0))
    await db.executemany("INSERT INTO intake_hours (hour, worker, up_s) VALUES ($1, $2, $3)", hours)
    await _dark(db, quiet.id, outage, outage + timedelta(hours=3))
    elsewhere = _open_day(dark, 6).astimezone(UTC).replace(minute=0)
    await _dark(db, dark.id, elsewhere, elsewhere + timedelta(hours=3))
    early = START.astimezone(UTC).replace(minute=0) + timedelta(hours=30)  # before the first report
    await _dark(db, before.id, early, early + timedelta(hours=3))
    nobody = START.astimezone(UTC).replace(minute=0) + timedelta(hours=40)  # before it, and nobody heard
    for f in REG.facilities:
        await _dark(db, f.id, nobody, nobody + timedelta(hours=2))
    facts = {fr["id"]: fa for fr, fa in await month_facts(db, CITY, MONTH, datetime.now(UTC), CreditConfig())}
    assert facts[REG.facilities[3].id].dark_minutes == 0.0, "nobody was heard: the platform was not running"
    assert facts[REG.facilities[3].id].silent_minutes == {}
    assert facts[quiet.id].dark_minutes == 15.0 + 30.0
    assert facts[dark.id].dark_minutes == 180.0
    assert facts[before.id].dark_minutes == 180.0
    assert evaluate(facts[quiet.id])["score"] > evaluate(facts[dark.id])["score"]


async def test_a_counting_cameras_count_missing_for_a_day_is_charged_to_the_ratio(db: asyncpg.Connection) -> None:
    """Issue #37: the hours of a counting camera's count come from the readings' rollup. Its count missing on
    an opening day (video and statuses still heard) charges the carer ratio that day; a facility whose
    cameras do not count is charged nothing for it and is told its ratio rests on badges."""
    await _seed(db)
    counting = next(f for f in REG.facilities[:20] if any(d.counts_adults for d in f.devices))
    plain = next(f for f in REG.facilities[:20] if not any(d.counts_adults for d in f.devices))
    cam = next(d.id for d in counting.devices if d.counts_adults)
    day = _open_day(counting, 2)
    await db.execute(
        "DELETE FROM counted_slots WHERE facility_id = $1 AND device_id = $2 AND hour >= $3 AND hour < $4",
        counting.id,
        cam,
        day.replace(hour=0),
        day.replace(hour=0) + timedelta(days=1),
    )
    facts = {f["id"]: fa for f, fa in await month_facts(db, CITY, MONTH, datetime.now(UTC), CreditConfig())}
    day_open = facts[counting.id].open_minutes / sum(
        1 for i in range(31) if counting.opening_hours.hours_on(MONTH + timedelta(days=i)) is not None
    )
    assert facts[counting.id].silent_minutes.get("ratio_breach") == pytest.approx(day_open)
    assert "camera_coverage" not in facts[counting.id].silent_minutes
    assert not facts[counting.id].ratio_by_badges_only
    assert facts[plain.id].ratio_by_badges_only and facts[plain.id].silent_minutes == {}


async def test_a_count_kept_a_few_minutes_an_hour_never_beats_counting_all_along(db: asyncpg.Connection) -> None:
    """Issue #37: an hour with one count counted as a counted hour. A facility whose counting cameras count
    5 minutes of every hour (5 one-minute slots of the hour's 60; a camera sends a count every 30 s), video
    on, carers away unseen the rest of it, must not score better than the same facility counted all along that shows its
    carers away an hour every opening day. A camera losing a few samples an hour is not charged."""
    await _seed(db)
    f = next(f for f in REG.facilities[:20] if any(d.counts_adults for d in f.devices))
    cams = [d.id for d in f.devices if d.counts_adults]
    cfg = CreditConfig()

    async def facts() -> Facts:
        return {fr["id"]: fa for fr, fa in await month_facts(db, CITY, MONTH, datetime.now(UTC), cfg)}[f.id]

    # counting noise: every hour a camera misses up to 4 of its 60 slots (both counts of a minute lost)
    await db.execute(
        "UPDATE counted_slots SET slots = 56 + (extract(hour FROM hour)::int % 5)"
        " WHERE facility_id = $1 AND device_id = ANY($2)",
        f.id,
        cams,
    )
    noisy = await facts()
    assert noisy.silent_minutes == {} and evaluate(noisy)["score"] == 100.0
    # honest: counted all along, an hour of carers away every opening day recorded as the ratio's lapse
    opened = [_open_day(f, i) for i in range(20) if _open_day(f, i) < END]
    await db.executemany(
        "INSERT INTO lapse_intervals (facility_id, rule, started_at, ended_at) VALUES ($1, 'ratio_breach', $2, $3)",
        [(f.id, t, t + timedelta(hours=1)) for t in opened],
    )
    honest = evaluate(await facts(), cfg)
    assert honest["score"] < 100.0
    # gaming: the same absences unseen, the counting on for 5 minutes of every hour
    await db.execute("DELETE FROM lapse_intervals WHERE facility_id = $1", f.id)
    await db.execute("UPDATE counted_slots SET slots = 5 WHERE facility_id = $1 AND device_id = ANY($2)", f.id, cams)
    gamed = await facts()
    assert evaluate(gamed, cfg)["score"] <= honest["score"]
    assert gamed.silent_minutes["ratio_breach"] == pytest.approx(gamed.open_minutes * 110 / 120, rel=0.05)


async def test_the_last_hours_counts_are_read_from_the_readings_by_their_number(db: asyncpg.Connection) -> None:
    """The rollup lags behind the hour: a month in progress reads its last hours' counts from the readings,
    and a camera that counted 4 minutes of an open hour there is charged the rest of it; one sending every
    30 s, a few samples lost, is not."""
    await _seed(db)
    counting = [f for f in REG.facilities[:20] if any(d.counts_adults for d in f.devices)]
    sparse = counting[0]
    now = _open_day(sparse, 10) + timedelta(hours=3)
    hour = now.astimezone(UTC).replace(minute=0) - timedelta(hours=1)  # the last whole hour, an open one

    def open_all_hour(f: Any) -> bool:
        span = (hour, hour + timedelta(hours=1))
        return minutes_in(open_spans(f.opening_hours, ZoneInfo(f.timezone), span), span) == 60

    steady = next(f for f in counting[1:] if open_all_hour(f))
    assert open_all_hour(sparse)
    rows = []
    for f, every in ((sparse, 60), (steady, 30)):
        for d in (d for d in f.devices if d.counts_adults):
            await db.execute(
                "DELETE FROM counted_slots WHERE facility_id = $1 AND device_id = $2 AND hour >= $3",
                f.id,
                d.id,
                hour,
            )
            stamps = [hour + timedelta(seconds=s) for s in range(0, 3600, every)]
            if f is sparse:
                stamps = stamps[:4]  # 4 counts, a minute apart, then nothing
            rows += [(t, f.id, d.id, 2.0, f"m{i}") for i, t in enumerate(stamps) if i % 20 != 7]  # a few lost
    await db.executemany(
        "INSERT INTO readings (time, facility_id, device_id, metric, value, msg_id)"
        " VALUES ($1, $2, $3, 'adults_count', $4, $5)",
        rows,
    )
    facts = {fr["id"]: fa for fr, fa in await month_facts(db, CITY, MONTH, now, CreditConfig())}
    assert facts[steady.id].silent_minutes == {}
    assert facts[sparse.id].silent_minutes["ratio_breach"] == pytest.approx(60 * (1 - 4 / 60))


async def test_a_count_sent_in_a_burst_each_hour_is_charged_by_the_slots_it_covered(db: asyncpg.Connection) -> None:
    """Issue #37, the burst gap: a camera switched on two minutes an hour that sends 120 counts in them (one
    a second) sent an hour's number of samples, but covered 2 of the hour's 60 one-minute slots: the
    rest of the hour is charged to the ratio as uncounted. Ingest's maintenance keeps the slots
    (storage.retention.refresh_slots) from the readings, so the hour stays charged after they are gone; an
    honest camera (one count every 30 s, a few lost) covers its slots and is charged nothing."""
    await _seed(db)
    counting = [f for f in REG.facilities[:20] if any(d.counts_adults for d in f.devices)]
    bursty, steady = counting[0], counting[1]
    days = {f.id: _open_day(f, 3) for f in (bursty, steady)}
    rows = []
    for f in (bursty, steady):
        day = days[f.id]
        tz = ZoneInfo(f.timezone)
        midnight = datetime.combine(day.date(), datetime.min.time(), tz)
        hours = [midnight + timedelta(hours=h) for h in range(24)]
        for d in (d for d in f.devices if d.counts_adults):
            await db.execute(
                "DELETE FROM counted_slots WHERE facility_id = $1 AND device_id = $2 AND hour >= $3 AND hour < $4",
                f.id,
                d.id,
                hours[0],
                hours[-1] + timedelta(hours=1),
            )
            for h in hours:
                if f is bursty:
                    stamps = [h + timedelta(seconds=s) for s in range(120)]  # 120 counts in the first 2 minutes
                else:
                    stamps = [h + timedelta(seconds=s) for s in range(0, 3600, 30) if s % 600 != 300]  # a few lost
                rows += [(t, f.id, d.id, 2.0, f"b{t.timestamp()}") for t in stamps]
    await db.executemany(
        "INSERT INTO readings (time, facility_id, device_id, metric, value, msg_id)"
        " VALUES ($1, $2, $3, 'adults_count', $4, $5)",
        rows,
    )
    await db.execute("DELETE FROM job_state WHERE name = 'counted_slots'")
    assert await refresh_slots(db, END) > 0
    await db.execute("DELETE FROM readings WHERE metric = 'adults_count'")  # the readings' 7 days are over
    for f, expected in ((bursty, 2), (steady, 60)):  # a count lost now and then: its minute's other one
        day = datetime.combine(days[f.id].date(), datetime.min.time(), ZoneInfo(f.timezone))
        kept = await db.fetch(
            "SELECT DISTINCT slots FROM counted_slots WHERE facility_id = $1 AND hour >= $2 AND hour < $3",
            f.id,
            day,
            day + timedelta(days=1),
        )
        assert [r["slots"] for r in kept] == [expected], f.id
    facts = {fr["id"]: fa for fr, fa in await month_facts(db, CITY, MONTH, datetime.now(UTC), CreditConfig())}
    assert facts[steady.id].silent_minutes == {}, "an honest camera missing a sample now and then"
    midnight = datetime.combine(days[bursty.id].date(), datetime.min.time(), ZoneInfo(bursty.timezone))
    span = (midnight, midnight + timedelta(days=1))
    day_open = minutes_in(open_spans(bursty.opening_hours, ZoneInfo(bursty.timezone), span), span)
    assert day_open > 0
    assert facts[bursty.id].silent_minutes["ratio_breach"] == pytest.approx(day_open * (1 - 2 / 60), rel=0.02)
    assert evaluate(facts[bursty.id])["score"] < evaluate(facts[steady.id])["score"]


async def test_hours_whose_readings_were_gone_before_the_slots_existed_read_the_rollup(db: asyncpg.Connection) -> None:
    """Upgrading to migration 042: the hours before the first whose readings still existed have no slots;
    the credit reads the rollup's samples for them (as before), never 'uncounted', and slots after."""
    await _seed(db)
    f = next(f for f in REG.facilities[:20] if any(d.counts_adults for d in f.devices))
    cams = [d.id for d in f.devices if d.counts_adults]
    cutoff = _open_day(f, 5).replace(minute=0)  # an hour, as the migration sets it
    await db.execute(
        "INSERT INTO job_state (name, watermark) VALUES ('counted_slots_from', $1)"
        " ON CONFLICT (name) DO UPDATE SET watermark = $1",
        cutoff,
    )
    await db.execute("DELETE FROM counted_slots WHERE facility_id = $1 AND hour < $2", f.id, cutoff)

    async def rollup(start: datetime, end: datetime) -> None:
        """The cameras' 120 samples an hour in the rollup, as ingest kept them before migration 042."""
        await db.execute(
            "INSERT INTO readings_hourly (bucket, facility_id, device_id, metric, n, sum, min, max)"
            " SELECT h, $1, d, 'adults_count', 120, 240, 1, 3 FROM unnest($2::text[]) d,"
            " generate_series($3::timestamptz, $4::timestamptz - interval '1 hour', interval '1 hour') h",
            f.id,
            cams,
            start,
            end,
        )

    await rollup(START, cutoff)
    facts = {fr["id"]: fa for fr, fa in await month_facts(db, CITY, MONTH, datetime.now(UTC), CreditConfig())}
    assert facts[f.id].silent_minutes == {}
    # an hour after the cutoff with no slots is uncounted, whatever the rollup says
    await db.execute("DELETE FROM counted_slots WHERE facility_id = $1 AND hour >= $2", f.id, cutoff)
    await rollup(cutoff, END)
    facts = {fr["id"]: fa for fr, fa in await month_facts(db, CITY, MONTH, datetime.now(UTC), CreditConfig())}
    assert facts[f.id].silent_minutes["ratio_breach"] > 0
