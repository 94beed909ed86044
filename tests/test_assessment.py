"""督导评估 (issue #40 item 9): the city assessing its counties' work, a county its townships'. An area's
rank never falls because its inspectors found things, and never rises by looking away: skipping the
planned or drawn inspections, leaving answers unreviewed, complaints or filings waiting ranks lower. The
rule tests run the ranking (supervision/assessment.py) on two or three areas; the HTTP tests run the
figures from a real database through the API, the page and its 约谈 form."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from contract.clock import ManualClock
from contract.credit import CreditConfig
from contract.inspection import ITEMS
from contract.places import county_name_zh
from simulators.registry_gen import generate_registry
from storage.registry import load_registry
from storage.users import create_user
from supervision.assessment import WEIGHTS, rank, timeliness
from tests.conftest import as_role
from tests.helpers import call
from tests.test_web import _logged_in
from web.app import create_app

NOW = datetime(2026, 6, 20, 2, 0, tzinfo=UTC)  # the assessment's clock: given, never the machine's
DAY = timedelta(days=1)


def facility(area: str, **kw: Any) -> dict[str, Any]:
    """One facility's figures as storage.assessment.gather gives them: nothing happened unless given."""
    base: dict[str, Any] = {
        "id": f"{area}-f",
        "area": area,
        "months": [],
        "lapse_h": {},
        **dict.fromkeys(("issued", "accepted", "due", "late", "planned", "signed"), 0),
        **dict.fromkeys(("hand_planned", "hand_done", "drawn", "drawn_done"), 0),
        "answers": [],
        "escalated": [],
        "complaints": [],
        "filings": [],
    }
    return base | kw


def honest(area: str, **kw: Any) -> dict[str, Any]:
    """A facility of an area that does its work: inspected as planned and as drawn, its answers reviewed in
    two days, its complaint answered in five, its filing reviewed the next day."""
    work: dict[str, Any] = {
        "months": [(80.0, 0.0)] * 2,
        "planned": 2,
        "signed": 2,
        "hand_planned": 1,
        "hand_done": 1,
        "drawn": 1,
        "drawn_done": 1,
        "answers": [(NOW - 30 * DAY, NOW - 28 * DAY)],
        "complaints": [(NOW - 40 * DAY, NOW - 25 * DAY, NOW - 35 * DAY)],
        "filings": [(NOW - 90 * DAY, NOW - 89 * DAY)],
    }
    return facility(area, **(work | kw))


def ranked(facs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["area"]: r for r in rank(facs, CreditConfig(), NOW)}


# -- the rule ---------------------------------------------------------------------------------------------------
def test_findings_and_orders_never_lower_an_areas_index_or_rank() -> None:
    """Three counties doing the same work. In the first, the inspectors find things: the facilities lose
    points for them, orders are issued and fall due, some late, unanswered ones climb above the county
    (督办) and stay open; answers not yet due for review wait. Its index and rank do not move."""
    areas = ["140902", "140921", "140922"]
    before = ranked([honest(a) for a in areas])
    found = honest(
        "140902",
        months=[(52.0, 28.0)] * 2,
        issued=6,
        due=5,
        late=3,
        escalated=[(1, "answer", False), (2, "answer", False), (3, "answer", True)],
        answers=[(NOW - 30 * DAY, NOW - 28 * DAY), (NOW - 2 * DAY, None)],
    )
    after = ranked([found, honest("140921"), honest("140922")])
    assert after["140902"]["escalated"] == 3 and after["140902"]["escalated_open"] == 2
    assert after["140902"]["mean_score"] < before["140902"]["mean_score"], "the findings count on the facility"
    assert after["140902"]["work_index"] == before["140902"]["work_index"] == 100.0
    assert after["140902"]["rank"] == before["140902"]["rank"] == 1
    # reviewed in time, the answers to those orders can only add to the index
    reviewed = found | {"answers": [(NOW - 30 * DAY, NOW - 28 * DAY)] * 4}
    assert ranked([reviewed, honest("140921")])["140902"]["work_index"] >= before["140902"]["work_index"]


def test_an_area_that_looks_away_ranks_below_one_that_inspects_and_finds() -> None:
    """The same facilities: one county inspects all of them and finds much; the other plans nothing and
    inspects nobody, so it has nothing to find, review or escalate. The one that looked away ranks last."""
    finds = honest("140902", months=[(40.0, 40.0)] * 2, issued=4, due=4, late=4, escalated=[(9, "answer", False)])
    idle = facility("140921", months=[(80.0, 0.0)] * 2)
    rows = ranked([finds, idle])
    assert rows["140921"]["work_index"] == 0.0 and rows["140921"]["rank"] == 2
    assert rows["140902"]["rank"] == 1


# each way of lagging, as what changes in one area of otherwise equal three
LAGGING = {
    "skips its planned inspections": {"hand_planned": 3, "hand_done": 1},
    "skips its drawn inspections": {"drawn": 2, "drawn_done": 0},
    "has its drawn inspections signed by one officer only": {"drawn": 1, "drawn_done": 0},
    "leaves answers unreviewed": {"answers": [(NOW - 30 * DAY, NOW - 28 * DAY), (NOW - 10 * DAY, None)]},
    "reviews answers late": {"answers": [(NOW - 30 * DAY, NOW - 20 * DAY)]},
    "leaves a complaint waiting": {"complaints": [(NOW - 40 * DAY, NOW - 25 * DAY, None)]},
    "answers a complaint late": {"complaints": [(NOW - 40 * DAY, NOW - 25 * DAY, NOW - 20 * DAY)]},
    "leaves a filing waiting": {"filings": [(NOW - 50 * DAY, None)]},
    "reviews a filing after 5 working days": {"filings": [(NOW - 90 * DAY, NOW - 80 * DAY)]},  # 3-22 to 4-1
    "inspects fewer of its facilities": {"planned": 0, "signed": 0},
}


@pytest.mark.parametrize("how", list(LAGGING))
def test_an_area_that_lags_ranks_lower(how: str) -> None:
    rows = ranked([honest("140902"), honest("140921", **LAGGING[how]), honest("140922")])
    assert rows["140921"]["work_index"] < rows["140902"]["work_index"] == rows["140922"]["work_index"], how
    assert rows["140921"]["rank"] == 3, how


def test_what_is_not_yet_due_is_not_counted_and_what_waits_past_it_is_late() -> None:
    cases = [
        (NOW - 10 * DAY, NOW - 3 * DAY, NOW - 8 * DAY),  # dealt with in 2 days: in time
        (NOW - 10 * DAY, NOW - 3 * DAY, NOW - 2 * DAY),  # in 8 days, due in 7: late
        (NOW - 6 * DAY, NOW - 2 * DAY, None),  # waiting past its due time: late, 6 days so far
        (NOW - 1 * DAY, NOW + 6 * DAY, None),  # not yet due: not counted
    ]
    assert timeliness(cases, NOW) == (1, 3, 6.0)
    assert timeliness([], NOW) == (0, 0, None)


def test_the_weights_are_written_down_and_make_a_hundred() -> None:
    from contract.labels import LABELS

    assert sum(WEIGHTS.values()) == 100
    for key in WEIGHTS:
        assert LABELS["assessment_how"][key][0] and LABELS["assessment_how"][key][1], key
