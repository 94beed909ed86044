"""A child left overnight stays an open alert (issue #42 item 3): the midnight reset is for staff and data,
never for a child still badged in. Pure engine, a realistic Friday and weekend."""

from __future__ import annotations

from datetime import date, timedelta

from alerts.memory import restore, snapshot
from contract.registry import Registry
from contract.rules import Key
from tests.test_field_truth import World, local

FRIDAY = date(2026, 12, 4)


def _friday_with_a_child_left(w: World) -> str:
    w.morning(FRIDAY)
    left = w.f.children[0].id
    w.run_until(local(FRIDAY, 16, 30))
    for c in w.f.children[1:]:
        w.scan("child_out", c.id, guardian_id=c.guardians[0])
    return left


def _actions(w: World, child: str) -> list[tuple[str, str]]:
    key = Key("child_not_collected", subject=child)
    return [(d.action, d.at.isoformat()) for d in w.decisions if d.key == key]


def test_a_child_left_on_friday_stays_an_open_critical_alert_over_the_weekend() -> None:
    w = World(start=local(FRIDAY, 6, 0))
    child = _friday_with_a_child_left(w)
    w.run_until(local(FRIDAY + timedelta(days=1), 9, 0))  # Saturday morning: the facility is closed
    key = Key("child_not_collected", subject=child)
    opened = [d for d in w.decisions if d.key == key and d.action == "open"]
    assert len(opened) == 1 and opened[0].at < local(FRIDAY, 19, 0)  # 30 min after closing, on complete data
    assert not [d for d in w.decisions if d.key == key and d.action == "clear"], "midnight cleared the child"
    [raised] = [d for d in w.decisions if d.key == key and d.action == "raise"]
    assert raised.condition is not None and raised.condition.severity == "critical"
    assert local(FRIDAY + timedelta(days=1), 0, 0) <= raised.at <= local(FRIDAY + timedelta(days=1), 0, 5)
    # the staff and the data start afresh: nobody is counted on site on Saturday
    assert w.rt.children_present == {} and child in w.rt.children_overnight
    # the child is badged out on Saturday (a late spool, or the child taken home at last): cleared then
    w.scan("child_out", child, guardian_id=w.f.children[0].guardians[0])
    w.run_until(local(FRIDAY + timedelta(days=1), 9, 5))
    [cleared] = [d for d in w.decisions if d.key == key and d.action == "clear"]
    assert local(FRIDAY + timedelta(days=1), 9, 0) <= cleared.at <= local(FRIDAY + timedelta(days=1), 9, 5)


def test_recorded_whereabouts_clear_the_alert_as_a_badge_out_at_that_time_would() -> None:
    """The operator records where the child is (with a note, web.actions) at 07:30 on Saturday: the alert
    clears when a badge-out at 07:30 would have cleared it, not earlier."""
    by_note, by_badge = World(start=local(FRIDAY, 6, 0)), World(start=local(FRIDAY, 6, 0))
    at = local(FRIDAY + timedelta(days=1), 7, 30)
    for w in (by_note, by_badge):
        child = _friday_with_a_child_left(w)
        w.run_until(at)
    assert by_note.engine.record_whereabouts(by_note.f.id, child, at)
    by_badge.scan("child_out", child, guardian_id=by_badge.f.children[0].guardians[0])
    for w in (by_note, by_badge):
        w.run_until(at + timedelta(minutes=10))
    note, badge = _actions(by_note, child), _actions(by_badge, child)
    assert note[:-1] == badge[:-1] and note[-1][0] == badge[-1][0] == "clear"
    # cleared at the next evaluation after the record (the badge-out's own evaluation is at once): never earlier
    assert badge[-1][1] <= note[-1][1] <= (at + timedelta(minutes=1)).isoformat()
    # a record for a child not left overnight changes nothing
    assert not by_note.engine.record_whereabouts(by_note.f.id, by_note.f.children[1].id, at)


def test_a_child_left_overnight_survives_a_restart() -> None:
    """The start's replay covers the facility's day only: the child left on Friday comes back from the
    rules' memory (alerts.memory)."""
    w = World(start=local(FRIDAY, 6, 0))
    child = _friday_with_a_child_left(w)
    saturday = local(FRIDAY + timedelta(days=1), 8, 0)
    w.run_until(saturday)
    fresh = World(start=saturday)
    restore(fresh.rt, snapshot(w.rt, saturday), saturday, saturday)
    assert child in fresh.rt.children_overnight


def test_a_restart_just_after_midnight_still_finds_the_child() -> None:
    """Restarted at 00:00:30, before the engine's clock (a minute behind, for late data) had passed
    midnight: the replay is of the facility's day by its clock, Friday's, so the child is still found."""
    from bench.truth import Stored, restart_engine
    from contract.payloads import Access

    w = World(start=local(FRIDAY, 6, 0))
    stored: list[Stored] = []
    original = w.scan

    def scan(kind: str, person: str, **kw: str) -> None:
        original(kind, person, **kw)
        stored.append(
            Stored(
                w.f.id,
                "door-main",
                Access(msg_id=f"r-{len(stored)}", ts=w.now, type=kind, person_id=person, **kw),
                w.now,
            )
        )

    w.scan = scan  # type: ignore[method-assign]
    child = _friday_with_a_child_left(w)
    w.run_until(local(FRIDAY + timedelta(days=1), 0, 0))
    w.now = local(FRIDAY + timedelta(days=1), 0, 0) + timedelta(seconds=30)
    w.engine = restart_engine(w.engine, Registry(facilities=[w.f]), w.engine.rules, w.now, stored)
    w.rt = w.engine.runtimes[w.f.id]
    w.run_until(local(FRIDAY + timedelta(days=1), 2, 0))
    key = Key("child_not_collected", subject=child)
    assert not [d for d in w.decisions if d.key == key and d.action == "clear"], "the restart lost the child"
    assert child in w.rt.children_overnight
