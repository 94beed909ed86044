"""supervision/ (issue #36): the government side's decisions as pure functions of rows and `now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contract.errors import DomainError
from contract.rules import LEVELS as LADDER
from storage.alerts import NoteRequired
from storage.rectification import StateError
from storage.users import AuthError, Scope
from supervision.orders import ESCALATION_STEP, LEVELS, level_of, may_review, next_level, overdue_steps

NOW = datetime(2031, 3, 2, 9, 0, tzinfo=UTC)  # any date: nothing here reads today's


def row(order_id: int, level: str, escalated: timedelta | None) -> dict[str, object]:
    return {"id": order_id, "supervision_level": level, "escalated_at": None if escalated is None else NOW - escalated}


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
