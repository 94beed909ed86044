"""Calendars (issue #42 item 4): holiday blocks with their weekends, the national calendar's data file
checked against the `holidays` package, and closures (a county's 停课, a facility's own approved days) —
which close a day for the rules without hiding children who are there."""

from __future__ import annotations

from datetime import date, time, timedelta
from pathlib import Path

import pytest

from contract import calendar
from contract.calendar import DayKind, day_kind, holiday_name, load_calendar_file, parse_calendar
from contract.errors import ContractError
from contract.registry import Closure, Hours, OpeningHours, StaffRole, parse_registry
from contract.rules import Key
from tests.test_field_truth import World, facility, local

SATURDAY_OPENER = OpeningHours(days=["mon", "tue", "wed", "thu", "fri", "sat"])
RULES_OF_AN_OPEN_DAY = ("guard_absent", "ratio_breach", "attendance_missing", "patrol_missed")


def opened(w: World) -> set[str]:
    return {d.key.rule for d in w.decisions if d.action == "open"}


# -- weekends inside a holiday block ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("day", "closed", "why"),
    [
        (date(2026, 2, 21), True, "Saturday inside the Spring Festival block (2月15日至23日)"),
        (date(2026, 9, 26), True, "Saturday inside the Mid-Autumn block (9月25日至27日)"),
        (date(2026, 2, 14), False, "make-up working Saturday (调休) before the block"),
        (date(2026, 3, 7), False, "an ordinary Saturday"),
    ],
)
def test_a_saturday_opener_is_closed_on_the_weekends_of_a_holiday_block(day: date, closed: bool, why: str) -> None:
    assert SATURDAY_OPENER.opens_on(day) is not closed, why
    w = World(facility(opening_hours=SATURDAY_OPENER), start=local(day, 5, 0))
    w.run_until(local(day, 18, 0))  # nobody comes: a day off, or every lapse of an open day
    got = opened(w) & set(RULES_OF_AN_OPEN_DAY)
    assert got == (set() if closed else {"guard_absent", "ratio_breach", "attendance_missing", "patrol_missed"}), why


def test_holiday_blocks_have_their_names_and_makeup_days() -> None:
    assert holiday_name(date(2026, 2, 21)) == "春节"
    assert holiday_name(date(2026, 10, 4)) == "国庆节"  # the Sunday inside the block
    assert day_kind(date(2026, 10, 10)) is DayKind.MAKEUP
    assert day_kind(date(2026, 2, 24)) is DayKind.ORDINARY  # the Tuesday after the block


# -- the national calendar's data file -------------------------------------------------------------------
@pytest.mark.parametrize("year", sorted(calendar.national()))
def test_the_data_file_agrees_with_the_holidays_package_where_it_has_the_year(year: int) -> None:
    """Each year entered from the State Council notice is the package's, when the package has the year
    (a year the package does not have yet is checked by its second reviewer against the notice)."""
    if not calendar.package_has_year(year):
        pytest.skip(f"holidays does not have {year}'s make-up days yet")
    assert calendar.differences(calendar.national()[year], calendar.package_plan(year)) == []


def test_the_data_file_has_2026_from_the_notice() -> None:
    p = calendar.national()[2026]
    assert "2026年部分节假日安排" in p.source
    assert [(b.name, b.first, b.last) for b in p.blocks][1] == ("春节", date(2026, 2, 15), date(2026, 2, 23))
    assert date(2026, 2, 28) in p.workdays


def test_a_year_in_the_file_wins_over_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A year entered from the notice before the package has it: its make-up working days count."""
    f = tmp_path / "cn.yaml"
    f.write_text(
        "years:\n  2027:\n    notice: 国务院办公厅关于2027年部分节假日安排的通知（测试用，非真实安排）\n"
        "    blocks:\n      - {name: 春节, from: 2027-02-05, to: 2027-02-11}\n    workdays: [2027-02-20]\n",
        encoding="utf-8",
    )
    assert day_kind(date(2027, 2, 11)) is DayKind.ORDINARY  # the package's block ends on the 10th
    monkeypatch.setattr(calendar, "national", lambda: load_calendar_file(f))
    for cached in (calendar._days, calendar.day_kind):
        cached.cache_clear()
    try:
        assert day_kind(date(2027, 2, 11)) is DayKind.HOLIDAY
        assert day_kind(date(2027, 2, 20)) is DayKind.MAKEUP
        assert OpeningHours().opens_on(date(2027, 2, 20))
    finally:
        monkeypatch.undo()
        for cached in (calendar._days, calendar.day_kind):
            cached.cache_clear()


def _spring(first: str, last: str, notice: str = "2026年通知") -> dict[int, object]:
    return {2026: {"notice": notice, "blocks": [{"name": "春节", "from": first, "to": last}]}}


@pytest.mark.parametrize(
    ("years", "says"),
    [
        (_spring("2026-02-15", "2026-02-23", notice="通知"), "title"),
        (_spring("2026-02-23", "2026-02-15"), "before"),
        (_spring("2026-02-01", "2026-02-23"), "over"),
        (_spring("2026-2-15", "2026-02-23"), "date"),
        (
            {
                2026: {
                    "notice": "2026年通知",
                    "blocks": [{"name": "a", "from": "2026-02-15", "to": "2026-02-16"}],
                    "workdays": ["2026-02-16"],
                }
            },
            "not a Saturday",
        ),
        (
            {
                2026: {
                    "notice": "2026年通知",
                    "blocks": [{"name": "a", "from": "2026-02-14", "to": "2026-02-16"}],
                    "workdays": ["2026-02-14"],
                }
            },
            "both",
        ),
        (
            {
                2026: {
                    "notice": "2026年通知",
                    "blocks": [
                        {"name": "a", "from": "2026-02-14", "to": "2026-02-16"},
                        {"name": "b", "from": "2026-02-16", "to": "2026-02-17"},
                    ],
                }
            },
            "overlap",
        ),
        ({2026: {"notice": "2026年通知", "blocks": []}}, "no holiday blocks"),
        ({2026: {"notice": "2026年通知", "blockz": []}}, "unknown field"),
    ],
)
def test_a_wrong_calendar_file_is_refused_with_the_reason(years: dict[int, object], says: str) -> None:
    with pytest.raises(ContractError, match=says):
        parse_calendar({"years": years})


# -- closures -----------------------------------------------------------------------------------------------
MONDAY = date(2026, 11, 30)
CLOSED = Closure(kind="county", first=MONDAY, last=MONDAY + timedelta(days=1), reason="暴雪停课")


def with_closure(*closures: Closure) -> OpeningHours:
    return OpeningHours(closures=list(closures), weekly={"sat": Hours(open=time(8), close=time(12))})


def test_an_approved_closure_closes_its_days_and_nothing_else() -> None:
    hours = with_closure(CLOSED)
    assert not hours.opens_on(MONDAY) and not hours.opens_on(MONDAY + timedelta(days=1))
    assert hours.opens_on(MONDAY + timedelta(days=2))
    w = World(facility(opening_hours=hours), start=local(MONDAY, 5, 0))
    w.run_until(local(MONDAY, 18, 0))  # nobody comes on the closed day
    assert opened(w) & set(RULES_OF_AN_OPEN_DAY) == set()


def test_a_registry_file_cannot_declare_closures() -> None:
    data = {"facilities": [facility(opening_hours=with_closure(CLOSED)).model_dump(mode="json", by_alias=True)]}
    with pytest.raises(ContractError, match="declared and approved on the web"):
        parse_registry(data)


@pytest.mark.parametrize("kind", ["county", "facility"])
def test_children_badged_in_on_a_closed_day_are_protected_as_on_an_open_day(kind: str) -> None:
    """A closure (or a holiday) closes the day for the rules only while no child is there: a facility that
    opens anyway with children badged in is held to guards, the carer ratio and pick-up as on any day, so
    a closure approved for a day the facility was in fact open hides nothing about its children."""
    closure = Closure(kind=kind, first=MONDAY, last=MONDAY, reason="停课")
    w = World(facility(opening_hours=with_closure(closure)), start=local(MONDAY, 5, 0))
    w.run_until(local(MONDAY, 8, 0))
    child = w.f.children[0]
    w.scan("child_in", child.id, guardian_id=child.guardians[0])  # no guard, no carer badged in
    w.run_until(local(MONDAY, 19, 0))  # never collected
    got = opened(w)
    assert {"guard_absent", "ratio_breach", "child_not_collected"} <= got
    assert Key("child_not_collected", subject=child.id) in [d.key for d in w.decisions if d.action == "open"]


def test_staff_on_a_closed_day_are_entries_outside_opening_hours() -> None:
    w = World(facility(opening_hours=with_closure(CLOSED)), start=local(MONDAY, 5, 0))
    w.run_until(local(MONDAY, 9, 0))
    w.scan("staff_in", w.staff(StaffRole.CAREGIVER)[0])
    w.run_until(local(MONDAY, 9, 2))
    assert "after_hours_entry" in opened(w)


# -- per-role schedules (issue #42 item 5) -----------------------------------------------------------------------
KITCHEN_EARLY = OpeningHours(roles={"cook": {"arrive": "06:00"}, "other": {"leave": "20:00"}})


@pytest.mark.parametrize(
    ("hours", "role", "day", "hh", "mm", "fires", "why"),
    [
        (None, StaffRole.COOK, MONDAY, 6, 20, True, "one margin for everyone: 70 min before opening"),
        (KITCHEN_EARLY, StaffRole.COOK, MONDAY, 6, 20, False, "the kitchen's schedule: from 06:00"),
        (KITCHEN_EARLY, StaffRole.COOK, MONDAY, 5, 50, True, "before the kitchen's schedule"),
        (KITCHEN_EARLY, StaffRole.CAREGIVER, MONDAY, 6, 20, True, "the cook's schedule is not the carers'"),
        (KITCHEN_EARLY, StaffRole.OTHER, MONDAY, 19, 30, False, "cleaning until 20:00"),
        (KITCHEN_EARLY, StaffRole.OTHER, MONDAY, 20, 5, True, "after the cleaners' schedule"),
        (KITCHEN_EARLY, StaffRole.COOK, MONDAY + timedelta(days=5), 6, 20, True, "a Saturday: closed for every role"),
    ],
)
def test_per_role_schedules_widen_the_after_hours_window(
    hours: OpeningHours | None, role: StaffRole, day: date, hh: int, mm: int, fires: bool, why: str
) -> None:
    f = facility() if hours is None else facility(opening_hours=hours)
    w = World(f, start=local(day, 4, 0))
    people = w.staff(role) or [s.id for s in w.f.staff if s.role is role]
    if not people:
        extra = w.f.staff[0].model_copy(update={"id": "s-0999", "role": role})
        w = World(f.model_copy(update={"staff": [*f.staff, extra]}), start=local(day, 4, 0))
        people = ["s-0999"]
    w.run_until(local(day, hh, mm))
    w.scan("staff_in", people[0])
    w.run_until(w.now + timedelta(minutes=1))
    assert ("after_hours_entry" in opened(w)) is fires, why


@pytest.mark.parametrize(
    ("roles", "says"),
    [
        ({"cook": {}}, "arrive, leave or both"),
        ({"cook": {"arrive": "03:00"}}, "04:00 at the earliest"),
        ({"other": {"leave": "23:30"}}, "23:00 at the latest"),
        ({"cook": {"arrive": "09:00", "leave": "08:00"}}, "before its leave"),
        ({"chef": {"arrive": "06:00"}}, "roles"),
    ],
)
def test_a_wrong_role_schedule_is_refused_with_the_reason(roles: dict[str, object], says: str) -> None:
    data = facility().model_dump(mode="json", by_alias=True)
    data["opening_hours"]["roles"] = roles
    with pytest.raises(ContractError, match=says):
        parse_registry({"facilities": [data]})


def test_the_admin_is_told_when_a_years_holidays_are_due_and_not_entered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calendar, "national", lambda: {2026: calendar.package_plan(2026)})
    monkeypatch.setattr(calendar, "package_has_year", lambda year: year <= 2025)
    assert calendar.missing_year(date(2026, 10, 31)) is None, "next year's notice is not due yet"
    assert calendar.missing_year(date(2026, 11, 1)) == 2027
    assert calendar.missing_year(date(2027, 1, 2)) == 2027, "a year begun without its arrangement"
    monkeypatch.setattr(calendar, "national", lambda: {2026: calendar.package_plan(2026), 2027: None})
    assert calendar.missing_year(date(2026, 12, 1)) is None


def test_a_child_left_from_the_day_before_does_not_open_a_closed_day() -> None:
    """A child still on site from Friday (issue #42 item 3 keeps them across midnight) is that child's own
    alert, not a Saturday opened in fact: no guard or ratio is expected of the closed day for it."""
    saturday = MONDAY + timedelta(days=5)
    w = World(start=local(saturday, 0, 0))
    child = w.f.children[0]
    w.rt.day = saturday
    w.rt.children_present[child.id] = child.class_
    w.rt.person_last[child.id] = local(saturday - timedelta(days=1), 8, 0)
    w.run_until(local(saturday, 10, 0))
    assert opened(w) & {"guard_absent", "ratio_breach"} == set()
