"""In Debian's headless Chromium, zh-CN (issue #40 item 9): a city inspector opens 督导评估 from the
navigation, sees the counties ranked with each indicator's figure and how it was computed, and records a
约谈 of the last county; the record is on the page and in the audit log.

Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from playwright.async_api import Page, expect

from contract.inspection import ITEMS
from contract.places import county_name_zh
from simulators.registry_gen import generate_registry
from storage import inspections
from storage.registry import load_registry
from storage.users import create_user
from tests.test_browser import ARTIFACTS, base, login, page  # noqa: F401 - the fixtures

pytestmark = pytest.mark.browser
REG = generate_registry(12, seed=3)
A = REG.facilities[0]


async def test_a_city_inspector_summons_the_last_county_from_the_assessment(
    page: Page,  # noqa: F811
    base: str,  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    await load_registry(db, REG)
    await create_user(db, "shi", "inspector", "pw-shi")
    await create_user(db, "xian1", "inspector", None, county=A.county)
    await create_user(db, "xian2", "inspector", None, county=A.county)
    # A's county inspected A yesterday, by two officers, and found an exit locked: it ranks first
    now = datetime.now(UTC)
    yesterday = (now + timedelta(hours=8, days=-1)).date()
    iid = await inspections.plan(db, A.id, "visit", yesterday, "xian1", "county")
    findings = {code: {"result": "pass", "note": ""} for code in ITEMS} | {"exits": {"result": "fail", "note": "上锁"}}
    await inspections.record(db, iid, "xian1", findings, "", [], True, now, second="xian2")
    await inspections.countersign(db, iid, "xian2", now)
    await login(page, base, "shi", "pw-shi")
    await page.locator("nav a[href='/assessment']").click()
    await expect(page.locator("h1")).to_contain_text("督导评估")
    # the year of yesterday's inspection (on the 1st of January, the year before)
    await page.fill("input[name=year]", str(yesterday.year))
    await page.locator("form.filters button").click()
    rows = page.locator("#ranked tr[data-area]")
    counties = sorted({f.county for f in REG.facilities})
    await expect(rows).to_have_count(len(counties))
    first = rows.nth(0)
    await expect(first).to_have_attribute("data-area", A.county)
    await expect(first.locator("td[data-indicator=inspected_pct]")).to_contain_text("1 /")
    await expect(first.locator("td[data-indicator=plan_done_pct]")).to_contain_text("100.0")
    await expect(page.locator("table.assessment-how")).to_contain_text("本期至少有一次双人签字检查的机构数")
    # against the plan's targets: every county's figures, the national 4.5 cited, the two examples said to be
    await expect(page.locator("#against-targets tr[data-area]")).to_have_count(len(counties))
    await expect(page.locator("#plan-targets tr[data-plan-target=places_per_1000]")).to_contain_text("4.5")
    await expect(page.locator("#plan-targets [data-example]")).to_have_count(2)
    last = await rows.nth(len(counties) - 1).get_attribute("data-area")
    assert last and last != A.county
    await expect(rows.nth(len(counties) - 1).locator(f"a[href='/circulars/new?subject=area:{last}']")).to_have_text(
        "通报"
    )
    await page.screenshot(path=str(ARTIFACTS / "assessment-1-ranked.png"), full_page=True)
    # the form proposes the last county; minutes left empty are refused by the browser, then recorded
    await expect(page.locator("#area-summons-form select[name=area]")).to_have_value(last)
    await page.fill("#area-summons-form input[name=held_on]", (now + timedelta(hours=8)).date().isoformat())
    await page.fill("#area-summons-form input[name=people]", "县卫健局分管副局长")
    await page.fill(
        "#area-summons-form textarea[name=minutes]", "本年度检查覆盖率为零，限一个月内完成计划检查并书面报告"
    )
    await page.locator("#area-summons-form button").click()
    await page.wait_for_url(re.compile(r".*/assessment\?year=[0-9]{4}.*"))
    summons = page.locator("table.summons tr[data-summons]")
    await expect(summons).to_have_count(1)
    await expect(summons).to_contain_text(county_name_zh(last))
    await expect(summons).to_contain_text("限一个月内完成计划检查")
    await page.screenshot(path=str(ARTIFACTS / "assessment-2-summons.png"), full_page=True)
    stored = await db.fetchrow("SELECT level, area, recorded_by FROM area_summons")
    assert (stored["level"], stored["area"], stored["recorded_by"]) == ("county", last, "shi")
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'assessment.summoned'") == 1
