"""supervision/ (issue #36): the government side's decisions as pure functions of rows and `now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contract.errors import DomainError
from contract.rules import LEVELS as LADDER
from contract.rules import NoteRequired
from storage.rectification import StateError
from storage.users import AuthError, Scope
from supervision.orders import (
    ESCALATION_STEP,
    LEVELS,
    REVIEW_PERIOD,
    SummonsError,
    late_since,
    level_of,
    may_review,
    may_supervise,
    next_level,
    overdue_steps,
    summons_facts,
)

NOW = datetime(2031, 3, 2, 9, 0, tzinfo=UTC)  # any date: nothing here reads today's


def row(
    order_id: int,
    level: str,
    escalated: timedelta | None,
    *,
    status: str = "issued",
    due: timedelta = timedelta(days=30),
    answered: timedelta | None = None,
) -> dict[str, object]:
    """An order as storage.rectification.overdue reads it: due `due` ago, escalated and answered so long ago."""
    return {
        "id": order_id,
        "status": status,
        "due_at": NOW - due,
        "supervision_level": level,
        "escalated_at": None if escalated is None else NOW - escalated,
        "answered_at": None if answered is None else NOW - answered,
    }


def test_the_ladder_is_the_contracts_one_above_the_facility() -> None:
    assert LEVELS == LADDER[1:] == ("township", "county", "city")
    assert [next_level(x) for x in LEVELS] == ["county", "city", None]


def test_overdue_orders_climb_at_the_due_date_then_once_a_step_and_never_past_the_city() -> None:
    rows = [
        row(1, "township", None),  # overdue, never escalated: up now
        row(2, "county", ESCALATION_STEP - timedelta(minutes=1)),  # went up less than a step ago: stays
        row(3, "county", ESCALATION_STEP),  # a whole step since: up again
        row(4, "city", ESCALATION_STEP * 5),  # at the top already
    ]
    steps = overdue_steps(rows, NOW, ESCALATION_STEP)  # type: ignore[arg-type]
    assert [(s.order_id, s.level, s.up) for s in steps] == [(1, "township", "county"), (3, "county", "city")]


def test_an_answer_left_unreviewed_climbs_like_an_unanswered_order() -> None:
    """The government side's own delay (issue #40 item 1): an answer the issuing level has not reviewed
    REVIEW_PERIOD after it came goes up, saying whose delay it is; before that it waits, whatever its due
    date; a climb from the unanswered time does not stand in for the review's."""
    rows = [
        row(1, "township", None, status="answered", answered=REVIEW_PERIOD + timedelta(hours=1)),
        row(2, "township", None, status="answered", answered=REVIEW_PERIOD - timedelta(hours=1)),
        # went up unanswered, then answered: left unreviewed, it climbs again at once
        row(3, "county", timedelta(days=2), status="answered", answered=REVIEW_PERIOD + timedelta(hours=1)),
        row(4, "county", timedelta(hours=1), status="answered", answered=REVIEW_PERIOD + timedelta(days=1)),
        row(5, "township", None, status="accepted", answered=timedelta(days=40)),
    ]
    steps = overdue_steps(rows, NOW, ESCALATION_STEP)  # type: ignore[arg-type]
    assert [(s.order_id, s.up, s.late) for s in steps] == [(1, "county", "review"), (3, "city", "review")]
    assert late_since("answered", NOW, NOW - timedelta(days=1)) == NOW + REVIEW_PERIOD - timedelta(days=1)
    assert late_since("returned", NOW, NOW - timedelta(days=9)) == NOW, "sent back: the facility's due date again"


def test_follow_up_comes_from_above_the_issuer_while_the_order_is_open() -> None:
    township = Scope("inspector", "140902", "140902001", None)
    county = Scope("inspector", "140902", None, None)
    city = Scope("inspector", None, None, None)
    operator = Scope("operator", "140902", "140902001", "xz-1")
    assert not may_supervise(township, "township", "issued"), "not the issuer's own level"
    assert may_supervise(county, "township", "answered") and may_supervise(city, "county", "returned")
    assert not may_supervise(county, "county", "issued") and not may_supervise(operator, "township", "issued")
    assert not may_supervise(city, "township", "accepted"), "nothing to follow up once accepted"
    facts = summons_facts("2031-03-05", " 园长张某、乡镇卫健办李某 ", "责令一周内完成整改", NOW)
    assert facts == {"held_on": "2031-03-05", "people": "园长张某、乡镇卫健办李某"}
    for held_on, people, minutes in (
        ("", "x", "y"),
        ("2033-01-01", "x", "y"),
        ("2031-03-05", " ", "y"),
        ("2031-03-05", "x", "  "),
    ):
        with pytest.raises(SummonsError):
            summons_facts(held_on, people, minutes, NOW)


def test_who_issues_and_who_reviews() -> None:
    township = Scope("inspector", "140902", "140902001", None)
    county = Scope("inspector", "140902", None, None)
    city = Scope("inspector", None, None, None)
    operator = Scope("operator", None, None, "f1")
    assert [level_of(s) for s in (township, county, city, operator)] == ["township", "county", "city", None]
    assert may_review(county, "township") and may_review(county, "county") and not may_review(county, "city")
    assert not may_review(operator, "township")


def test_every_business_refusal_shares_one_base_the_web_maps_in_one_place() -> None:
    for err in (StateError("x"), NoteRequired("x"), AuthError("x")):
        assert isinstance(err, DomainError)
    assert StateError.kind == "conflict" and NoteRequired.kind == "invalid"


def test_a_returned_answer_is_never_the_on_time_one() -> None:
    from contract.rectification import OrderStep, is_late

    due = NOW
    issued = OrderStep(NOW - timedelta(days=5), "issued", due)
    early = OrderStep(NOW - timedelta(days=1), "answered")
    back = OrderStep(NOW + timedelta(days=1), "returned", NOW + timedelta(days=10))
    again = OrderStep(NOW + timedelta(days=5), "answered")  # before the new due date, after the original
    accepted = OrderStep(NOW + timedelta(days=6), "accepted")
    end = NOW + timedelta(days=20)
    assert not is_late(due, [issued, early, OrderStep(NOW + timedelta(days=1), "accepted")], end)
    assert is_late(due, [issued, early, back, again, accepted], end), "one line before the due date buys nothing"
    assert is_late(due, [issued, early], end), "awaiting review at the month's end is not accepted"
    assert not is_late(due, [issued], NOW - timedelta(days=1)), "not due yet"
    # sent back before the due date and answered again before it: on time
    quick = [
        issued,
        OrderStep(NOW - timedelta(days=4), "answered"),
        OrderStep(NOW - timedelta(days=3), "returned", due),
    ]
    assert not is_late(due, [*quick, early, accepted], end)


def test_a_return_needs_a_new_due_date_within_the_limit() -> None:
    import pytest

    from supervision.orders import RETURN_DUE_MAX, DueDateError, check_step, return_due

    assert return_due(NOW + RETURN_DUE_MAX, NOW) == NOW + RETURN_DUE_MAX
    for wrong in (None, NOW, NOW - timedelta(hours=1), NOW + RETURN_DUE_MAX + timedelta(seconds=1)):
        with pytest.raises(DueDateError):
            return_due(wrong, NOW)
    check_step("returned", "answer")
    for status, action in (("answered", "answer"), ("accepted", "answer"), ("issued", "review")):
        with pytest.raises(StateError):
            check_step(status, action)


def test_who_files_and_who_decides_an_appeal() -> None:
    import pytest

    from contract.credit import CreditConfig
    from supervision.credit import AppealConflict, AppealRefused, decision, may_decide, may_file

    operator = Scope("operator", None, None, "f1")
    township = Scope("inspector", "140902", "140902001", None)
    county = Scope("inspector", "140902", None, None)
    city = Scope("inspector", None, None, None)
    admin = Scope("admin", None, None, None)
    assert may_file(operator, "f1") and not may_file(operator, "f2") and not may_file(county, "f1")
    assert [may_decide(s) for s in (operator, township, county, city, admin)] == [False, False, True, True, False]
    cfg = CreditConfig(grades=(("A", 95.0), ("B", 80.0), ("C", 60.0), ("D", 0.0)))
    assert decision("pending", True, 88.46, "证明", cfg).corrected == (88.5, "B"), "the configured thresholds"
    assert decision("pending", False, None, "无依据", cfg).corrected is None
    for accept, score, reason in ((True, 100.5, "r"), (True, True, "r"), (True, None, "r"), (False, None, " ")):
        with pytest.raises(AppealRefused):
            decision("pending", accept, score, reason, cfg)
    with pytest.raises(AppealConflict):
        decision("accepted", False, None, "again", cfg)
