"""信息统计监测 (issue #40 item 8) over real HTTP and TimescaleDB: the figures of a small world across two months
and two counties against a hand count (with acts a minute either side of a month's end in Xinzhou's time),
scope, the CSV, and in Debian's headless Chromium (zh-CN) the page drawing its charts.

The app runs on a fixed clock (December 2026): both months asked for are over, so no figure depends on the
day the suite runs."""

from __future__ import annotations

import csv
import io
import json
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, expect

from contract.clock import ManualClock
from contract.errors import ContractError
from contract.population import CITY_CODE, load_population, parse_population
from contract.registry import parse_registry
from storage import assessment as assessment_store
from storage import statistics as statistics_store
from storage.credit import month_bounds
from storage.registry import load_registry
from storage.users import Scope, create_user
from supervision.statistics import Period, area_figures
from tests.conftest import as_role
from tests.test_browser import ARTIFACTS, login, page  # noqa: F401 - the fixture
from web.app import create_app

A, B = "140902", "140981"  # 忻府区, 原平市
A1, A2, B1 = "140902001", "140902002", "140981001"
P = [f"p-{i:032x}" for i in range(1, 5)]
CITY = Scope("inspector", None, None, None)
Z = "+00:00"  # every time below in UTC; Xinzhou is UTC+8


def _registry() -> Any:
    def kid(cls: str, n: int, first: int = 0) -> list[dict[str, str]]:
        return [{"id": f"{cls}-k{i}", "class": cls} for i in range(first, first + n)]

    return parse_registry(
        {
            "people": [
                # p1 a 保育员 (valid to the year's end); p2 a guard whose certificate lapses after 31 October
                {"key": P[0], "qualifications": [{"kind": "childcare_worker", "expires": "2026-12-31"}]},
                {"key": P[1], "qualifications": [{"kind": "security_guard", "expires": "2026-10-31"}]},
                {"key": P[2], "qualifications": [{"kind": "teacher"}]},  # 教师资格: no end
                {"key": P[3], "qualifications": []},
            ],
            "facilities": [
                {
                    "id": "f1",
                    "name": "阳光托育",
                    "county": A,
                    "township": A1,
                    "kind": "inclusive",
                    "classes": [
                        {"id": "c1", "age_group": "infant", "capacity": 10},
                        {"id": "c2", "age_group": "older", "capacity": 20},
                    ],
                    "children": kid("c1", 6) + kid("c2", 15),
                    "staff": [
                        {"id": "s1", "role": "caregiver", "person": P[0]},
                        {"id": "s2", "role": "guard", "person": P[1]},
                        {"id": "s3", "role": "cook", "qualified": True},  # not in the register; the file says qualified
                    ],
                },
                {
                    "id": "f2",
                    "name": "小星星托育",
                    "county": A,
                    "township": A2,
                    "kind": "for_profit",
                    "classes": [
                        {"id": "c1", "age_group": "toddler", "capacity": 15},
                        {"id": "c2", "age_group": "mixed", "capacity": 18},
                    ],
                    "children": kid("c1", 15) + kid("c2", 3),
                    "staff": [
                        {"id": "s1", "role": "teacher", "person": P[2]},
                        {"id": "s2", "role": "health", "person": P[3]},
                    ],
                },
                {
                    "id": "f3",
                    "name": "原平幼儿园托班",
                    "county": B,
                    "township": B1,
                    "kind": "kindergarten_class",
                    "classes": [{"id": "c1", "age_group": "older", "capacity": 20}],
                    "children": kid("c1", 10),
                },
            ],
        }
    )


POPULATION = parse_population(
    "code,name,population,population_2_3,year,source\n"
    "140900,忻州市,20000,,2020,测试数据（非官方）\n"
    f"{A},忻府区,10000,300,2020,测试数据（非官方）\n"
    f"{B},原平市,5000,,2020,测试数据（非官方）\n"
)


async def _seed(db: asyncpg.Connection) -> dict[str, str]:
    await load_registry(db, _registry(), now=datetime(2026, 9, 1, tzinfo=UTC))
    await db.execute("UPDATE facilities SET registered_at = '2026-09-01T00:00:00Z'")
    # f3 registered on 15 November: not counted in October
    await db.execute("UPDATE facilities SET registered_at = '2026-11-15T00:00:00Z' WHERE id = 'f3'")
    tokens = {}
    for name, county in (("city", None), ("county", A), ("county2", A), ("countyb", B)):
        tokens[name] = (await create_user(db, name, "inspector", f"pw-{name}", county=county))[1]
    tokens["town"] = (await create_user(db, "town", "inspector", "pw-town", county=A, township=A1))[1]
    tokens["oper"] = (await create_user(db, "oper", "operator", "pw-oper", facility="f1"))[1]
    # f1's filing accepted at 00:30 on 1 November in Xinzhou (16:30 UTC on 31 October): filed in November only
    await db.execute(
        "INSERT INTO filings (facility_id, county, kind, particulars, declared, status, submitted_by, submitted_at,"
        " due_at, reviewed_by, reviewed_at, filing_no) VALUES ('f1', $1, 'initial', '{}', '{}', 'accepted', 'oper',"
        " '2026-10-20T02:00:00Z', '2026-10-28T16:00:00Z', 'county', '2026-10-31T16:30:00Z', '忻府卫托备〔2026〕1号')",
        A,
    )
    # f2 files 100 more places and its filing awaits review: neither filed nor any more places (the facility
    # cannot make its area look better by declaring places)
    inflated = {"classes": [{"id": "c9", "age_group": "older", "capacity": 20}] * 5}
    await db.execute(
        "INSERT INTO filings (facility_id, county, kind, particulars, declared, submitted_by, submitted_at, due_at)"
        " VALUES ('f2', $1, 'initial', $2::jsonb, '{}', 'oper', '2026-10-02T02:00:00Z', '2026-10-12T16:00:00Z')",
        A,
        json.dumps(inflated),
    )

    async def inspection(fid: str, planned: str, signed_at: str | None) -> int:
        iid: int = await db.fetchval(
            "INSERT INTO inspections (facility_id, kind, planned_for, planned_by, level, status, inspected_at,"
            " signed_by, second_inspector, countersigned_by, countersigned_at)"
            " VALUES ($1, 'visit', $2, 'county', 'county', $3, $4, $5, $6, $6, $4) RETURNING id",
            fid,
            date.fromisoformat(planned),
            "signed" if signed_at else "planned",
            datetime.fromisoformat(signed_at + Z) if signed_at else None,
            "county" if signed_at else None,
            "county2" if signed_at else None,
        )
        return iid

    await inspection("f1", "2026-10-10", "2026-10-31T15:59:00")  # signed 23:59 on 31 Oct local: October
    await inspection("f1", "2026-10-31", "2026-10-31T16:01:00")  # planned October, signed 00:01 1 Nov: November
    drawn = await inspection("f2", "2026-11-05", None)  # planned for November, drawn (双随机)
    draw = await db.fetchval(
        "INSERT INTO random_draws (county, seq, algorithm, drawn_by, drawn_level, drawn_at, planned_for, count,"
        " inputs, inputs_sha256, seed, picks) VALUES ($1, 1, 'cw-draw-1', 'county', 'county', '2026-10-30T02:00:00Z',"
        " '2026-11-05', 1, '{}', $2, $2, '[]') RETURNING id",
        A,
        "0" * 64,
    )
    await db.execute(
        "INSERT INTO random_draw_picks VALUES ($1, 'f2', $2, 'county', 'county2')",
        draw,
        drawn,
    )

    async def order(fid: str, issued: str, first_due: str, steps: list[tuple[str, str]]) -> None:
        oid = await db.fetchval(
            "INSERT INTO rectification_orders (facility_id, source, title, due_at, first_due_at, issued_by,"
            " issued_level, issued_at, status, supervision_level) VALUES ($1, 'manual', '整改', $3, $3, 'county',"
            " 'county', $2, $4, 'county') RETURNING id",
            fid,
            datetime.fromisoformat(issued + Z),
            datetime.fromisoformat(first_due + Z),
            "accepted" if steps and steps[-1][0] == "accepted" else "issued",
        )
        for action, at in [("issued", issued), *steps]:
            await db.execute(
                "INSERT INTO rectification_history (order_id, at, actor, action, detail) VALUES ($1, $2, 'x', $3, $4)",
                oid,
                datetime.fromisoformat(at + Z),
                action,
                json.dumps({"due_at": first_due + Z} if action == "issued" else {}),
            )

    # o1: issued and due in October, answered before its due date and accepted: on time in October
    await order(
        "f1",
        "2026-10-05T02:00:00",
        "2026-10-20T10:00:00",
        [("answered", "2026-10-18T02:00:00"), ("accepted", "2026-10-19T02:00:00")],
    )
    # o2: issued in October, due 3 November, never answered: late in November, and escalated (督办) then
    await order("f2", "2026-10-25T02:00:00", "2026-11-03T10:00:00", [("escalated", "2026-11-04T02:00:00")])
    # o3: issued at 00:30 on 1 November local (31 October UTC): November's; on time
    await order(
        "f1",
        "2026-10-31T16:30:00",
        "2026-11-20T10:00:00",
        [("answered", "2026-11-10T02:00:00"), ("accepted", "2026-11-11T02:00:00")],
    )

    async def alert(fid: str, rule: str, opened: str, cleared: bool = True) -> None:
        t = datetime.fromisoformat(opened + Z)
        await db.execute(
            "INSERT INTO alerts (rule, severity, facility_id, status, opened_at, last_seen_at, cleared_at)"
            " VALUES ($1, 'major', $2, $3, $4, $4, $5)",
            rule,
            fid,
            "cleared" if cleared else "active",
            t,
            t if cleared else None,
        )

    await alert("f1", "fire_alarm", "2026-10-31T15:30:00")  # 23:30 on 31 October local: October
    await alert("f1", "fire_alarm", "2026-10-31T16:30:00", cleared=False)  # 00:30 on 1 November: November
    await alert("f2", "guard_absent", "2026-10-15T02:00:00")
    await alert("f3", "device_offline", "2026-11-20T02:00:00")
    return tokens


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("code,name,population,year\n140902,忻府区,1000,2020\n", "needs the columns"),
        ("code,population,source\n150102,1000,x\n", "is not Xinzhou's"),
        ("code,population,source\n140902,1000,\n", "names its source"),
        ("code,population,source\n140902,-5,x\n", "whole number above 0"),
        ("code,population,source\n140902,1000,x\n140902,1000,y\n", "listed twice"),
    ],
)
def test_a_population_file_without_a_source_or_with_a_bad_figure_is_refused_with_its_line(text: str, why: str) -> None:
    with pytest.raises(ContractError, match=why):
        parse_population(text)


def test_the_shipped_population_file_says_its_figures_are_examples() -> None:
    shipped = load_population(None)
    assert CITY_CODE in shipped and all("示例（非官方数据）" in p.source for p in shipped.values())


def test_an_area_without_its_own_figure_sums_the_areas_below_only_when_all_have_one() -> None:
    start, end = month_bounds(date(2026, 10, 1))
    period = Period(date(2026, 10, 1), start, end, end)
    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in ("facilities", "classes", "staff", "inspections")}
    rows |= {k: [] for k in ("issued", "escalated", "due", "alerts")}
    rows["facilities"] = [
        {"id": "f1", "county": A, "township": A1, "kind": "home", "registered_at": start, "filed_at": None}
    ]
    rows["classes"] = [{"facility_id": "f1", "id": "c1", "age_group": "older", "capacity": 12, "enrolled": 9}]
    both = parse_population("code,population,population_2_3,source\n140902,3000,100,a\n140981,1000,,b\n")
    total = area_figures(rows, CITY_CODE, period, both)["total"]
    # 12 places / (3,000 + 1,000) people; one county lacks its 2–3-year-olds: 托育率 unknown
    assert (total["population"], total["places_per_1000"], total["care_rate_pct"]) == (4000, 3.0, None)
    assert total["population_source"].startswith("a；b")
    one = parse_population("code,population,source\n140902,3000,a\n")
    with_unknown = area_figures(rows, CITY_CODE, period, one, known_areas=[B])
    assert with_unknown["total"]["population"] is None and with_unknown["total"]["places_per_1000"] is None


@pytest.fixture
async def site(db: asyncpg.Connection, db_url: str) -> AsyncIterator[dict[str, str]]:
    tokens = await _seed(db)
    clock = ManualClock(datetime(2026, 12, 5, 2, 0, tzinfo=UTC))
    app = create_app(as_role(db_url, "web"), secrets.token_bytes(32), clock=clock, population=POPULATION)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield {"url": str(server.make_url("")).rstrip("/"), **tokens}
    finally:
        await server.close()


async def _get(site: dict[str, str], who: str, path: str) -> tuple[int, Any]:
    """A GET as `who` (their API token); JSON as data, a page as text."""
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {site[who]}"}) as s,
        s.get(f"{site['url']}{path}") as r,
    ):
        body = await r.text()
        return r.status, json.loads(body) if r.content_type == "application/json" else body


def _pick(row: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: row[k] for k in keys}


async def test_the_figures_match_a_hand_count_across_two_months_and_two_counties(site: dict[str, str]) -> None:
    status, oct_ = await _get(site, "city", "/api/v1/statistics?month=2026-10")
    assert status == 200, oct_
    assert (oct_["area"], oct_["level"], oct_["month"], oct_["complete"]) == ("140900", "city", "2026-10", True)
    t = oct_["total"]
    # October: f1 and f2 (f3 registered in November); f1's filing was accepted at 00:30 on 1 November: none filed
    assert _pick(t, "facilities", "filed", "unfiled", "facilities_inclusive", "facilities_for_profit") == {
        "facilities": 2, "filed": 0, "unfiled": 2, "facilities_inclusive": 1, "facilities_for_profit": 1,
    }  # fmt: skip
    # places: f1 10 + 20, f2 15 + 18 (not the 100 more of f2's filing awaiting review) = 63
    assert _pick(t, "places", "places_infant", "places_toddler", "places_older", "places_mixed") == {
        "places": 63, "places_infant": 10, "places_toddler": 15, "places_older": 20, "places_mixed": 18,
    }  # fmt: skip
    assert (t["places_inclusive"], t["places_for_profit"], t["inclusive_share_pct"]) == (30, 33, 47.6)  # 30/63
    assert t["places_filed"] == 0  # none filed in October
    # children: 6 + 15 + 15 + 3 = 39 of 63 places = 61.9 %; 15 of them in 托大班
    assert (t["enrolled"], t["enrolled_older"], t["occupancy_pct"]) == (39, 15, 61.9)
    # staff on 31 October: s1 保育员, s2 guard (valid to that day), s1 of f2 教师, s2 of f2 nothing, f1's cook unlinked
    assert _pick(
        t, "staff", "staff_childcare_worker", "staff_security_guard", "staff_teacher",
        "staff_no_valid_certificate", "staff_not_in_register", "staff_not_in_register_qualified",
    ) == {
        "staff": 5, "staff_childcare_worker": 1, "staff_security_guard": 1, "staff_teacher": 1,
        "staff_no_valid_certificate": 1, "staff_not_in_register": 1, "staff_not_in_register_qualified": 1,
    }  # fmt: skip
    # inspections planned 10 and 31 October; the second signed 00:01 on 1 November: one signed
    assert _pick(t, "inspections_planned", "inspections_drawn", "inspections_signed") == {
        "inspections_planned": 2, "inspections_drawn": 0, "inspections_signed": 1,
    }  # fmt: skip
    # orders issued o1, o2 (o3 at 00:30 on 1 November is November's); due o1, on time
    assert _pick(t, "orders_issued", "orders_due", "orders_on_time", "orders_late", "orders_escalated") == {
        "orders_issued": 2, "orders_due": 1, "orders_on_time": 1, "orders_late": 0, "orders_escalated": 0,
    }  # fmt: skip
    # alerts: f1's fire alarm at 23:30 on 31 October, f2's guard absence (the 00:30 one is November's)
    assert (t["alerts"], t["alerts_fire_alarm"], t["alerts_guard_absent"], t["alerts_device_offline"]) == (2, 1, 1, 0)
    # per 1,000: 63 × 1000 / 20,000 = 3.15; the city's row has no 2–3-year-olds: 托育率 unknown
    assert (t["population"], t["places_per_1000"], t["care_rate_pct"]) == (20000, 3.15, None)
    assert t["population_source"] == "测试数据（非官方）"
    assert oct_["target_places_per_1000"] == 4.5
    areas = {r["area"]: r for r in oct_["areas"]}
    assert set(areas) == {A, B}, "every county with a population figure or a facility"
    # 忻府区: 63 places / 10,000 people = 6.3; 15 in 托大班 / 300 aged 2–3 = 5.0 %
    assert _pick(areas[A], "facilities", "places", "places_per_1000", "care_rate_pct") == {
        "facilities": 2, "places": 63, "places_per_1000": 6.3, "care_rate_pct": 5.0,
    }  # fmt: skip
    assert _pick(areas[B], "facilities", "places", "places_per_1000", "care_rate_pct", "occupancy_pct") == {
        "facilities": 0, "places": 0, "places_per_1000": 0.0, "care_rate_pct": None, "occupancy_pct": None,
    }  # fmt: skip

    status, nov = await _get(site, "city", "/api/v1/statistics?month=2026-11")
    t = nov["total"]
    # November: f3 too; f1 filed
    assert _pick(t, "facilities", "filed", "unfiled", "facilities_kindergarten_class") == {
        "facilities": 3, "filed": 1, "unfiled": 2, "facilities_kindergarten_class": 1,
    }  # fmt: skip
    assert (t["places"], t["places_older"], t["places_kindergarten_class"], t["enrolled"]) == (83, 40, 20, 49)
    assert t["places_filed"] == 30  # f1's
    # on 30 November the guard's certificate has lapsed: two without a valid one
    assert (t["staff_security_guard"], t["staff_no_valid_certificate"], t["staff_childcare_worker"]) == (0, 2, 1)
    # planned: f2's drawn one; signed: f1's of 31 October, signed at 00:01 on 1 November
    assert _pick(t, "inspections_planned", "inspections_drawn", "inspections_signed") == {
        "inspections_planned": 1, "inspections_drawn": 1, "inspections_signed": 1,
    }  # fmt: skip
    # issued o3; due o2 (late, never answered) and o3 (on time); o2 escalated on 4 November
    assert _pick(t, "orders_issued", "orders_due", "orders_on_time", "orders_late", "orders_escalated") == {
        "orders_issued": 1, "orders_due": 2, "orders_on_time": 1, "orders_late": 1, "orders_escalated": 1,
    }  # fmt: skip
    assert (t["alerts"], t["alerts_fire_alarm"], t["alerts_device_offline"], t["alerts_guard_absent"]) == (2, 1, 1, 0)
    assert t["places_per_1000"] == 4.15  # 83 × 1000 / 20,000
    areas = {r["area"]: r for r in nov["areas"]}
    assert (areas[B]["places"], areas[B]["places_per_1000"], areas[B]["alerts"]) == (20, 4.0, 1)

    # a county's view: its townships; no township has a population figure: unknown, not zero
    status, county = await _get(site, "county", "/api/v1/statistics?month=2026-11")
    assert (county["area"], county["level"]) == (A, "county")
    assert county["total"]["facilities"] == 2 and county["total"]["places_per_1000"] == 6.3
    towns = {r["area"]: r for r in county["areas"]}
    assert set(towns) == {A1, A2}
    assert (towns[A1]["places"], towns[A1]["orders_issued"], towns[A1]["places_per_1000"]) == (30, 1, None)
    assert (towns[A2]["orders_late"], towns[A2]["orders_escalated"], towns[A2]["inspections_drawn"]) == (1, 1, 1)


async def test_each_inspector_sees_their_area_only_and_an_operator_none(site: dict[str, str]) -> None:
    # the county's inspector: their county and its townships; not another county, not the city
    for path, expected in (
        ("/api/v1/statistics?month=2026-11", 200),
        (f"/api/v1/statistics?month=2026-11&area={A1}", 200),
        (f"/api/v1/statistics?month=2026-11&area={B}", 404),
        (f"/api/v1/statistics?month=2026-11&area={B1}", 404),
        ("/api/v1/statistics?month=2026-11&area=140900", 404),
        ("/api/v1/statistics?month=2026-13", 400),
        ("/api/v1/statistics?area=abc", 400),
        ("/api/v1/statistics?format=xml", 400),
        (f"/statistics?area={B}", 404),
    ):
        status, body = await _get(site, "county", path)
        assert status == expected, (path, status, body)
    status, other = await _get(site, "countyb", "/api/v1/statistics?month=2026-11")
    assert (other["area"], other["total"]["facilities"], other["total"]["places"]) == (B, 1, 20)
    status, town = await _get(site, "town", "/api/v1/statistics?month=2026-11")
    assert (town["area"], town["level"], town["areas"]) == (A1, "township", [])
    assert (town["total"]["facilities"], town["total"]["places"]) == (1, 30)
    status, _ = await _get(site, "town", f"/api/v1/statistics?area={A2}")
    assert status == 404
    # the city drills down to a township
    status, body = await _get(site, "city", f"/api/v1/statistics?month=2026-11&area={A2}")
    assert status == 200 and body["total"]["places"] == 33
    # an operator: refused on the API and the page, with the reason in the page's language
    status, body = await _get(site, "oper", "/api/v1/statistics")
    assert status == 403, body
    status, page_ = await _get(site, "oper", "/statistics")
    assert status == 403 and "统计数据仅供监管部门查看" in page_
    status, page_ = await _get(site, "county", "/statistics?month=2026-13")
    assert status == 400 and "月份格式应为" in page_ and 'value="2026-13"' in page_, "the reason, and the text kept"


async def test_the_csv_parses_with_a_bom_and_the_figures(site: dict[str, str]) -> None:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {site['city']}"}) as s:
        async with s.get(f"{site['url']}/api/v1/statistics?month=2026-10&format=csv") as r:
            assert r.status == 200 and r.content_type == "text/csv"
            raw = await r.read()
        async with s.get(f"{site['url']}/api/v1/statistics?month=2026-10&format=csv&lang=en") as r:
            english = (await r.read()).decode("utf-8")
    text = raw.decode("utf-8")
    assert text.startswith("\ufeff"), "a byte-order mark: Excel and WPS then read UTF-8"
    header, *rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert header[:4] == ["月份", "区域", "机构数", "已备案"]
    table = {row[1]: dict(zip(header, row, strict=True)) for row in rows}
    assert list(table) == ["忻州市", "忻府区", "原平市"]
    city = table["忻州市"]
    assert (city["月份"], city["托位数"], city["每千人口托位数"], city["2-3岁托育率（%）"]) == (
        "2026-10",
        "63",
        "3.15",
        "",
    )
    assert (city["告警：火灾报警"], city["逾期整改"], city["人口数据来源"]) == ("1", "0", "测试数据（非官方）")
    assert table["忻府区"]["2-3岁托育率（%）"] == "5.0"
    assert english.lstrip("\ufeff").startswith("Month,Area,Facilities,Filed")
    assert "Xinfu District" in english


async def test_a_month_in_progress_is_judged_at_the_clock(db: asyncpg.Connection, db_url: str) -> None:
    """The month in progress counts up to the app's clock: an alert at 00:30 on 1 November is not yet there
    at 00:20 and is at 00:40, and the month's start is midnight in Xinzhou, not in UTC."""
    tokens = await _seed(db)
    clock = ManualClock(datetime(2026, 10, 31, 16, 20, tzinfo=UTC))  # 00:20 on 1 November in Xinzhou
    app = create_app(as_role(db_url, "web"), secrets.token_bytes(32), clock=clock, population=POPULATION)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    site = {"url": str(server.make_url("")).rstrip("/"), **tokens}
    try:
        status, body = await _get(site, "city", "/api/v1/statistics")
        assert status == 200 and (body["month"], body["complete"]) == ("2026-11", False), body
        # f1 is not filed yet (accepted at 00:30); the fire alarm of 00:30 has not happened
        assert (body["total"]["filed"], body["total"]["alerts"], body["total"]["orders_issued"]) == (0, 0, 0)
        clock.set(datetime(2026, 10, 31, 16, 40, tzinfo=UTC))  # 00:40
        status, body = await _get(site, "city", "/api/v1/statistics")
        assert (body["total"]["filed"], body["total"]["alerts"], body["total"]["orders_issued"]) == (1, 1, 1)
        assert body["total"]["inspections_signed"] == 1  # 00:01
    finally:
        await server.close()


@pytest.mark.browser
async def test_the_page_draws_its_charts_in_chromium(site: dict[str, str], page: Page) -> None:  # noqa: F811
    url = site["url"]
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"script error: {e}"))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await login(page, url, "city", "pw-city")
    await page.locator("nav a[href='/statistics']").click()
    await expect(page.locator("h1")).to_contain_text("信息统计监测")
    await page.goto(f"{url}/statistics?month=2026-11")
    charts = page.locator("[data-chart]")
    await expect(charts).to_have_count(6)
    for i in range(6):
        await expect(charts.nth(i)).to_have_attribute("data-ready", "1")
        assert await charts.nth(i).locator("canvas").count() >= 1, i
    await expect(page.locator("[data-figure=places]")).to_have_text("83")
    await expect(page.locator("[data-figure=places_per_1000]")).to_have_text("4.15")
    await expect(page.locator("[data-figure=care_rate_pct]")).to_have_text("未知")
    await page.screenshot(path=str(ARTIFACTS / "statistics-city.png"), full_page=True)
    # down to a county: its townships
    await page.locator(f"tr[data-area='{A}'] a").first.click()
    await expect(page.locator("h1")).to_contain_text("忻府区")
    await expect(page.locator("nav.trail a")).to_have_text("忻州市")  # the way back up
    await expect(page.locator("[data-chart='places'] canvas")).to_have_count(1)
    await page.screenshot(path=str(ARTIFACTS / "statistics-county.png"), full_page=True)
    assert not errors, errors


async def test_a_joint_inspection_counts_once_and_is_done_when_every_part_is(db: asyncpg.Connection) -> None:
    """A joint inspection (联合检查) of three departments is one inspection: planned once, done when its last part
    is signed. Counted part by part, an area whose departments visit together tripled its inspections in the
    statistics, and in the 督导评估 a joint one with a part still open counted two of three as done."""
    await load_registry(db, _registry(), now=datetime(2026, 9, 1, tzinfo=UTC))
    day = date(2026, 10, 12)
    signed_at = datetime(2026, 10, 12, 3, 0, tzinfo=UTC)

    async def part(department: str, joint: int | None) -> int:
        iid: int = await db.fetchval(
            "INSERT INTO inspections (facility_id, kind, planned_for, planned_by, level, department, joint_id)"
            " VALUES ('f1', 'visit', $1, 'county', 'county', $2, $3) RETURNING id",
            day,
            department,
            joint,
        )
        return iid

    async def sign(iid: int) -> None:
        await db.execute(
            "UPDATE inspections SET status = 'signed', inspected_at = $2, signed_by = 'o1', second_inspector = 'o2',"
            " countersigned_by = 'o2', countersigned_at = $2 WHERE id = $1",
            iid,
            signed_at,
        )

    lead = await part("health", None)
    fire = await part("fire", lead)
    market = await part("market", lead)
    await sign(lead)
    await sign(fire)
    start, end = month_bounds(date(2026, 10, 1))
    as_of = datetime(2026, 11, 1, tzinfo=UTC)

    async def counted() -> tuple[list[tuple[str, str]], tuple[int, int]]:
        rows = await statistics_store.gather(db, CITY, None, start, end, as_of)
        mine = [(str(r["id"]), r["status"]) for r in rows["inspections"] if r["facility_id"] == "f1"]
        [f1] = [f for f in await assessment_store.gather(db, CITY, start, end, "county", now=as_of) if f["id"] == "f1"]
        return mine, (f1["planned"], f1["signed"])

    assert await counted() == ([(str(lead), "planned")], (1, 0)), "one inspection, its market part open"
    await sign(market)
    assert await counted() == ([(str(lead), "signed")], (1, 1))


async def test_alerts_by_rule_name_each_rules_department(site: dict[str, str]) -> None:
    """The statistics' "alerts by rule" names the department each rule belongs to (contract/rules.py
    RULE_DEPARTMENTS): October's fire alarm is 消防's, its missing guard 公安's. Before: the rule and its count
    only."""
    status, page_ = await _get(site, "city", "/statistics?month=2026-10&lang=zh")
    assert status == 200
    assert '<td data-rule-department="fire_alarm">消防</td><td>1</td>' in page_
    assert '<td data-rule-department="guard_absent">公安</td><td>1</td>' in page_
