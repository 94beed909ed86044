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
from contract.errors import ContractError
from contract.inspection import ITEMS
from contract.places import county_name_zh
from contract.population import AreaPopulation, load_population
from contract.targets import Target, load_targets, parse_targets
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


def test_a_township_is_not_ranked_on_what_its_county_does() -> None:
    """Complaints reach the county's inspectors and filings are reviewed by the county: a township whose
    facilities' complaint and filing wait is not ranked lower for them (its county is, by the city)."""
    waiting = {"complaints": [(NOW - 40 * DAY, NOW - 25 * DAY, None)], "filings": [(NOW - 90 * DAY, None)]}
    facs = [honest("140902001"), honest("140902002", **waiting)]
    rows = {r["area"]: r for r in rank(facs, CreditConfig(), NOW, "township")}
    assert rows["140902002"]["work_index"] == rows["140902001"]["work_index"] == 100.0
    assert rows["140902002"]["complaints_counted"] == 1 and rows["140902002"]["complaints_in_time_pct"] is None
    as_counties = ranked([honest("140902"), honest("140921", **waiting)])
    assert as_counties["140921"]["work_index"] < as_counties["140902"]["work_index"]


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


# -- against the plan's targets (规划目标) ---------------------------------------------------------------------
POP = {c: AreaPopulation(c, "", 100_000, None, 2020, "示例（非官方数据）") for c in ("140902", "140921", "140922")}
TARGETS = {
    "places_per_1000": Target("places_per_1000", 4.5, 2025, "十四五规划纲要"),
    "inclusive_share_pct": Target("inclusive_share_pct", 60.0, 2025, "示例（非官方数据）"),
    "filed_pct": Target("filed_pct", 100.0, 2025, "示例（非官方数据）"),
}


def stats(area: str, places: int = 450, kind: str = "inclusive", **kw: Any) -> dict[str, Any]:
    """An honest area's facility with its statistics: at 4.5 places per 1,000 of POP's 100,000, 普惠, filed."""
    return honest(area, places=places, kind=kind, registered=True, filed=True, last_filing="accepted") | kw


def against(facs: list[dict[str, Any]], by: str = "county") -> dict[str, dict[str, Any]]:
    return {r["area"]: r for r in rank(facs, CreditConfig(), NOW, by, POP, TARGETS)}


def test_each_target_shows_its_figure_the_target_and_the_attainment_capped_at_the_target() -> None:
    """Before: the assessment held no area against the plan's targets (rank() took neither population nor
    targets)."""
    rows = against([stats("140902", places=900), stats("140921", places=225, kind="for_profit", filed=False)])
    a, b = rows["140902"], rows["140921"]
    assert (a["plan_places_per_1000"], a["plan_places_per_1000_target"], a["plan_places_per_1000_attain_pct"]) == (
        9.0,
        4.5,
        100.0,
    ), "twice the target attains the target, no more"
    assert (b["plan_places"], b["plan_population"], b["plan_places_per_1000"]) == (225, 100_000, 2.25)
    assert b["plan_places_per_1000_attain_pct"] == 50.0
    assert (b["plan_inclusive_share_pct"], b["plan_inclusive_share_pct_attain_pct"]) == (0.0, 0.0)
    assert (b["plan_filed"], b["plan_registered"], b["plan_filed_pct"], b["plan_filed_pct_attain_pct"]) == (
        0,
        1,
        0.0,
        0.0,
    )
    assert (a["targets_pct"], a["targets_met"], a["targets_known"]) == (100.0, 3, 3)
    assert b["targets_pct"] == round(50.0 / 3, 1) and b["targets_met"] == 0
    assert b["work_index"] < a["work_index"] and b["rank"] == 2
    # without targets or population nothing is guessed, and the index is the other indicators'
    bare = {r["area"]: r for r in rank([stats("140902")], CreditConfig(), NOW)}["140902"]
    assert bare["targets_pct"] is None and bare["plan_places_per_1000"] is None and bare["work_index"] == 100.0


def test_findings_never_lower_an_area_against_the_targets_nor_does_a_filing_found_wanting() -> None:
    """The rule for the new indicator. Findings, orders and 督办 change no place, type or filing; and a county
    that sends back or refuses a filing found wanting ranks level with one that accepts it (both dealt with),
    while one that leaves a filing unreviewed or a facility unfiled ranks below. A township is not held to the
    备案率 at all (the county reviews filings)."""
    third = [stats("140922"), stats("140922", id="x", places=0, kind="for_profit")]
    base = against([stats("140902"), stats("140921"), *third])
    found = stats("140902", months=[(40.0, 40.0)] * 2, issued=5, due=5, late=5, escalated=[(1, "answer", False)])
    after = against([found, stats("140921"), *third])
    assert after["140902"]["targets_pct"] == base["140902"]["targets_pct"]
    assert after["140902"]["work_index"] == base["140902"]["work_index"] and after["140902"]["rank"] == 1
    # a second facility each: county A accepts its filing, B refuses it, C sends it back; D never reviews it
    second = {"places": 0, "kind": "for_profit", "id": "second"}
    rows = against(
        [
            stats("140902"),
            stats("140902", **second),
            stats("140921"),
            stats("140921", filed=False, last_filing="refused", **second),
            stats("140922"),
            stats("140922", filed=False, last_filing="returned", **second),
            stats("140923"),
            stats("140923", filed=False, last_filing="submitted", **second),
        ]
    )
    assert rows["140921"]["plan_filed_pct"] == 50.0, "the 备案率 shown is the plain one"
    assert rows["140921"]["plan_filed_dealt_pct"] == 100.0 == rows["140921"]["plan_filed_pct_attain_pct"]
    assert rows["140902"]["work_index"] == rows["140921"]["work_index"] == rows["140922"]["work_index"]
    assert rows["140923"]["plan_filed_pct_attain_pct"] == 50.0
    # (140923 has no population: its places per 1,000 are unknown, not zero)
    assert rows["140923"]["plan_places_per_1000"] is None
    towns = {
        r["area"]: r
        for r in rank(
            [stats("140902001"), stats("140902002", filed=False, last_filing=None)],
            CreditConfig(),
            NOW,
            "township",
            {},
            TARGETS,
        )
    }
    assert towns["140902002"]["plan_filed_pct"] == 0.0 and towns["140902002"]["targets_known"] == 1
    assert towns["140902002"]["work_index"] == towns["140902001"]["work_index"]


def test_the_targets_file_names_its_sources_and_marks_its_examples() -> None:
    shipped = load_targets(None)
    assert shipped["places_per_1000"].target == 4.5 and not shipped["places_per_1000"].example
    assert "第十四个五年规划" in shipped["places_per_1000"].source
    assert shipped["inclusive_share_pct"].example and shipped["filed_pct"].example, "no invented official figure"
    head = "indicator,target,year,source\n"
    for bad, why in (
        ("托育率,50,2025,x", "not one of"),
        ("places_per_1000,-1,2025,x", "above 0"),
        ("filed_pct,120,2025,x", "at most 100"),
        ("places_per_1000,4.5,2025,", "source"),
        ("places_per_1000,4.5,25,x", "four digits"),
        ("places_per_1000,4.5,2025,x\nplaces_per_1000,5,2025,y", "twice"),
    ):
        with pytest.raises(ContractError, match=why):
            parse_targets(head + bad)


# -- the figures from the database, the page and its 约谈 -------------------------------------------------------
REG = generate_registry(12, seed=3)
A = REG.facilities[0]
B = next(f for f in REG.facilities if f.county != A.county)
T0 = datetime(2026, 4, 1, 1, 0, tzinfo=UTC)  # 09:00 in Xinzhou, the first day of the second quarter
FINDINGS = {code: {"result": "pass"} for code in ITEMS} | {"exits": {"result": "fail", "note": "二楼出口上锁"}}


@pytest.fixture
async def site(db: asyncpg.Connection, db_url: str) -> AsyncIterator[dict[str, Any]]:
    await load_registry(db, REG)
    await db.execute("UPDATE facilities SET registered_at = '2026-01-01T00:00:00Z'")
    users = {
        "city": await create_user(db, "city", "inspector", "pw-city"),
        "county_a": await create_user(db, "county_a", "inspector", "pw-county-a", county=A.county),
        "county_a2": await create_user(db, "county_a2", "inspector", None, county=A.county),
        "county_b": await create_user(db, "county_b", "inspector", "pw-county-b", county=B.county),
        "town_a": await create_user(db, "town_a", "inspector", "pw-town-a", county=A.county, township=A.township),
        "oper": await create_user(db, "oper", "operator", "pw-oper", facility=A.id),
    }
    clock = ManualClock(T0)
    server = TestServer(create_app(as_role(db_url, "web"), secrets.token_bytes(32), clock=clock), host="127.0.0.1")
    await server.start_server()
    try:
        yield {"url": str(server.make_url("")).rstrip("/"), "clock": clock} | {k: t for k, (_, t) in users.items()}
    finally:
        await server.close()


async def test_http_the_assessment_counts_the_work_done_not_the_findings(
    site: dict[str, Any], db: asyncpg.Connection
) -> None:
    """County A inspects the facility it planned to, by two officers, and finds an exit locked; county B
    planned one and never went. A ranks above B. Then A issues an order from the finding, the facility
    leaves it unanswered and it climbs to the city (督办): A's index and rank stay as they were."""
    from supervision.orders import escalate_overdue

    url, clock = site["url"], site["clock"]
    plans = {}
    for fac, who in ((A, "county_a"), (B, "county_b")):
        status, insp = await call(
            "POST", f"{url}/api/v1/facilities/{fac.id}/inspections", site[who], {"planned_for": "2026-04-02"}
        )
        assert status == 201, insp
        plans[fac.id] = insp["id"]
    clock.set(datetime(2026, 4, 2, 2, 0, tzinfo=UTC))
    sign = {"findings": FINDINGS, "sign": True, "second_inspector": "county_a2"}
    status, _ = await call("POST", f"{url}/api/v1/inspections/{plans[A.id]}/record", site["county_a"], sign)
    assert status == 200
    status, _ = await call("POST", f"{url}/api/v1/inspections/{plans[A.id]}/countersign", site["county_a2"])
    assert status == 200

    async def assessed() -> dict[str, dict[str, Any]]:
        status, body = await call("GET", f"{url}/api/v1/assessment?year=2026&quarter=2", site["city"])
        assert status == 200 and body["by"] == "county" and body["quarter"] == 2, body
        assert body["weights"] == WEIGHTS
        assert body["targets"]["places_per_1000"]["target"] == 4.5 and body["targets"]["filed_pct"]["example"]
        return {r["area"]: r for r in body["areas"]}

    # 00:30 in Xinzhou the next day (16:30 UTC, still the 2nd there): yesterday's inspection counts, its day is by
    # the facility's calendar, not the database's UTC (before, from midnight to 08:00 it was not yet due)
    clock.set(datetime(2026, 4, 2, 16, 30, tzinfo=UTC))
    a = (await assessed())[A.county]
    assert (a["plan_done"], a["plan_due"], a["facilities_inspected"]) == (1, 1, 1), a
    clock.set(datetime(2026, 6, 20, 2, 0, tzinfo=UTC))
    rows = await assessed()
    a, b = rows[A.county], rows[B.county]
    assert (a["plan_done"], a["plan_due"], a["plan_done_pct"]) == (1, 1, 100.0)
    assert (b["plan_done"], b["plan_due"], b["plan_done_pct"]) == (0, 1, 0.0)
    assert a["facilities_inspected"] == 1 and b["facilities_inspected"] == 0
    assert a["draw_done_pct"] is None and a["complaints_in_time_pct"] is None, "no case: not counted"
    assert a["rank"] == 1 and b["rank"] > a["rank"] and b["work_index"] < a["work_index"]
    before = a["work_index"]
    # against the plan's targets, by hand from the registry and the shipped population and targets files
    own = [f for f in REG.facilities if f.county == A.county]
    places = sum(c.capacity for f in own for c in f.classes)
    inclusive = sum(c.capacity for f in own if f.kind == "inclusive" for c in f.classes)
    people = load_population(None)[A.county].population
    assert (a["plan_places"], a["plan_places_inclusive"], a["plan_population"]) == (places, inclusive, people)
    assert (a["plan_registered"], a["plan_filed"], a["plan_filed_pct"]) == (len(own), 0, 0.0), "nothing filed yet"
    assert a["plan_places_per_1000"] == round(places * 1000 / people, 2) and a["plan_places_per_1000_target"] == 4.5
    assert a["plan_inclusive_share_pct"] == round(100 * inclusive / places, 1)
    assert a["targets_known"] == 3 and a["targets_pct"] is not None
    targets_before = {k: v for k, v in a.items() if k.startswith(("plan_", "targets_"))}
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {site['city']}"}) as s,
        s.get(f"{url}/assessment?year=2026&quarter=2&lang=zh") as r,
    ):
        status, page = r.status, await r.text()
    assert (
        status == 200
        and 'id="against-targets"' in page
        and f'data-target="places_per_1000">{a["plan_places_per_1000"]} / 4.5' in page
    )
    assert "第十四个五年规划" in page and "示例，非官方目标" in page, "each target's source; examples said to be"
    # the finding becomes an order; unanswered past its due date it climbs above the county
    due = datetime(2026, 6, 24, 2, 0, tzinfo=UTC).isoformat()
    order = {"title": "安全出口上锁", "due_at": due, "inspection_id": plans[A.id]}
    status, made = await call("POST", f"{url}/api/v1/facilities/{A.id}/orders", site["county_a"], order)
    assert status == 201, made
    clock.set(datetime(2026, 6, 28, 2, 0, tzinfo=UTC))
    assert [c.audience_level for c in await escalate_overdue(db, clock.now())] == ["city"]
    clock.set(datetime(2026, 6, 28, 3, 0, tzinfo=UTC))
    rows = await assessed()
    a = rows[A.county]
    assert (a["escalated"], a["escalated_open"], a["orders_issued"]) == (1, 1, 1)
    assert a["work_index"] == before and a["rank"] == 1, "the finding and its order cost the county nothing"
    assert {k: v for k, v in a.items() if k.startswith(("plan_", "targets_"))} == targets_before
    async with aiohttp.ClientSession() as s:
        r = await s.get(
            f"{url}/api/v1/assessment?year=2026&quarter=2&format=csv",
            headers={"Authorization": f"Bearer {site['city']}"},
        )
        assert r.status == 200 and "2026-Q2" in r.headers["Content-Disposition"]
        text = await r.text()
    assert text.startswith("\ufeff排名,区域,监管工作指数,机构数,检查覆盖率（%）,已检查机构,计划检查完成率（%）")
    assert county_name_zh(A.county) in text
    for bad in ("quarter=5", "quarter=Q1", "year=1999"):
        status, err = await call("GET", f"{url}/api/v1/assessment?{bad}", site["city"])
        assert status == 400, (bad, err)


async def test_http_a_summons_of_a_lagging_area_is_recorded_audited_and_shown(
    site: dict[str, Any], db: asyncpg.Connection, db_url: str
) -> None:
    """From the assessment page the city summons a county (约谈: date, people, minutes, all required; a
    refused form keeps what was typed), beside each area a 通报 link; the record is audited and shown on the
    city's page and on the county's own. A county summons its own townships and nobody else; a township
    nobody. The database holds it too: the web's role cannot record a county's summons for a county
    inspector, nor change or delete one."""
    url = site["url"]
    site["clock"].set(datetime(2026, 6, 20, 2, 0, tzinfo=UTC))
    city, csrf = await _logged_in(url, "city", "pw-city")
    county_a, csrf_a = await _logged_in(url, "county_a", "pw-county-a")
    county_b, _ = await _logged_in(url, "county_b", "pw-county-b")
    town, csrf_t = await _logged_in(url, "town_a", "pw-town-a")
    try:
        r = await city.get(f"{url}/assessment?year=2026&quarter=")  # the filter form's whole year
        assert r.status == 200
        page = await r.text()
        assert f'href="/circulars/new?subject=area:{B.county}"' in page and "指标及计算方法" in page
        visible = re.sub(r"<[^>]+>", " ", re.sub(r"<script.*?</script>", "", page, flags=re.S))
        assert not re.findall(r"\b[a-z]+(?:_[a-z0-9]+)+\b", visible), "no field names on a zh page"
        form = {"csrf": csrf, "area": B.county, "period": "2026", "held_on": "2026-06-19", "people": "县卫健局局长张某"}
        r = await city.post(f"{url}/assessment/summons?year=2026", data=form | {"minutes": "  "})
        text = await r.text()
        assert r.status == 400 and "约谈纪要" in text and 'value="县卫健局局长张某"' in text, "refused, kept"
        minutes = "本季度双随机抽查未完成，限期一个月内完成并书面报告"
        r = await city.post(f"{url}/assessment/summons?year=2026", data=form | {"minutes": minutes})
        assert r.status == 200 and [h.status for h in r.history] == [302] and r.url.path == "/assessment"
        assert minutes in await r.text()
        row = await db.fetchrow("SELECT * FROM area_summons")
        assert (row["level"], row["area"], row["county"], row["recorded_by"]) == ("county", B.county, B.county, "city")
        assert row["recorded_at"] == datetime(2026, 6, 20, 2, 0, tzinfo=UTC), "the app's clock"
        audit = await db.fetchrow("SELECT actor, target FROM audit_log WHERE action = 'assessment.summoned'")
        assert (audit["actor"], audit["target"]) == ("city", f"county {B.county}")
        assert minutes in await (await county_b.get(f"{url}/assessment?year=2026")).text(), "the county's view"
        assert minutes not in await (await county_a.get(f"{url}/assessment?year=2026")).text(), "not another's"
        # a county summons its own townships, not a county nor another county's township; a township nobody
        other_town = next(f.township for f in REG.facilities if f.county == B.county)
        for who, s, token, area, status in (
            ("county_a", county_a, csrf_a, A.county, 403),
            ("county_a", county_a, csrf_a, other_town, 403),
            ("town_a", town, csrf_t, A.township, 403),
            ("county_a", county_a, csrf_a, f"{A.county}999", 404),
            ("county_a", county_a, csrf_a, "x", 400),
            ("county_a", county_a, csrf_a, A.township, 200),
        ):
            data = form | {"csrf": token, "area": area, "minutes": minutes}
            r = await s.post(f"{url}/assessment/summons?year=2026", data=data)
            assert r.status == status, (who, area, r.status)
        assert await db.fetchval("SELECT count(*) FROM area_summons") == 2
        r = await city.post(
            f"{url}/assessment/summons?year=2026", data=form | {"held_on": "2028-01-01", "minutes": "x"}
        )
        assert r.status == 400, "a date within a year"
    finally:
        for s in (city, county_a, county_b, town):
            await s.close()
    web = await asyncpg.connect(as_role(db_url, "web"))
    try:
        with pytest.raises(asyncpg.CheckViolationError):
            await web.execute(
                "INSERT INTO area_summons (level, county, area, period, held_on, people, minutes, recorded_by,"
                " recorded_at) VALUES ('county', $1, $1, '2026', '2026-06-19', 'x', 'y', 'county_a', now())",
                B.county,
            )
        for sql in ("UPDATE area_summons SET minutes = '无'", "DELETE FROM area_summons"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await web.execute(sql)
    finally:
        await web.close()


def test_areas_that_did_the_same_share_their_rank() -> None:
    """Equal work, equal rank (1, 1, 3), not an order by area code (a newcomer's demo ranked 14 counties all at
    0.0 from 1 to 14, and the 约谈 list read "忻府区（排名 1）")."""
    lagging = honest("140922", hand_planned=2, hand_done=0, drawn=2, drawn_done=0)
    rows = ranked([honest("140902"), honest("140921"), lagging])
    assert rows["140902"]["work_index"] == rows["140921"]["work_index"] > rows["140922"]["work_index"]
    assert [rows[a]["rank"] for a in ("140902", "140921", "140922")] == [1, 1, 3]
