"""In Debian's headless Chromium, zh-CN (issue #40 item 6): a 消防 (fire) officer plans an inspection of
a facility, records it against the fire checklist (not 卫健's), names a fellow fire officer as the second
officer (the county's 卫健 inspector is not offered), and, once confirmed, issues an order from the failed
item; the order reads as 消防's. Then a joint inspection (联合检查) with 市场监管, planned from the facility
page, shows its two parts. Screenshots go to test-artifacts/."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import pytest
from playwright.async_api import Page, expect

from contract.inspection import FIRE_CHECKLIST
from storage.registry import load_registry
from storage.users import create_user
from tests.test_browser import ARTIFACTS, REG, A, base, login, page  # noqa: F401 - the fixtures

pytestmark = pytest.mark.browser


async def test_a_fire_officer_records_a_fire_inspection_and_issues_its_order(
    page: Page,  # noqa: F811
    base: str,  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    await load_registry(db, REG)
    await create_user(db, "xf", "inspector", "pw-xf", county=A.county, department="fire")
    _, xf2_token = await create_user(db, "xf2", "inspector", None, county=A.county, department="fire")
    await create_user(db, "wj", "inspector", None, county=A.county)  # 卫健's
    await login(page, base, "xf", "pw-xf")
    await expect(page.locator("[data-my-department]")).to_have_text("消防")
    await page.goto(f"{base}/facilities/{A.id}")
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    await page.fill("#plan-form input[name=planned_for]", today)
    await page.locator("#plan-form button").click()
    await expect(page.locator("[data-inspection-status]")).to_have_text("待检查")
    await expect(page.locator("[data-department]")).to_have_text("消防")
    rows = page.locator("tr[data-item]")
    await expect(rows).to_have_count(len(FIRE_CHECKLIST))
    await expect(page.locator("tr[data-item=ratio]")).to_have_count(0)  # 卫健's items are not on it
    await expect(page.locator("h2", has_text="人员配备与比例")).to_have_count(0)  # nor their headings
    await expect(page.locator("#inspection-form")).to_contain_text("消防法")
    for row in await rows.all():
        code = await row.get_attribute("data-item")
        await row.locator(f"input[value={'fail' if code == 'fire_escape_routes' else 'pass'}]").check()
    await page.fill("input[name=note_fire_escape_routes]", "一楼疏散通道堆放杂物")
    choices = await page.locator("select[name=second_inspector] option").evaluate_all(
        "options => options.map(o => o.value).filter(v => v)"
    )
    assert choices == ["xf2"], f"only the fire department's officers second a fire record: {choices}"
    await page.select_option("select[name=second_inspector]", "xf2")
    await page.locator("#inspection-form button[value=sign]").click()
    await expect(page.locator("[data-inspection-status]")).to_have_text("待会签")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {xf2_token}"}) as s:
        r = await s.post(page.url.replace("/inspections/", "/api/v1/inspections/") + "/countersign")
        assert r.status == 200, await r.text()
    await page.reload()
    await expect(page.locator("[data-inspection-status]")).to_have_text("已签字确认")
    await page.screenshot(path=str(ARTIFACTS / "department-1-fire-record.png"), full_page=True)
    await page.locator("tr[data-item=fire_escape_routes] details summary").click()
    due = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    await page.fill("tr[data-item=fire_escape_routes] input[name=due_at]", due)
    await page.locator("tr[data-item=fire_escape_routes] details button").click()
    await expect(page.locator("[data-order-status]")).to_have_text("待整改")
    await expect(page.locator("[data-department]")).to_have_text("消防")
    await page.screenshot(path=str(ARTIFACTS / "department-2-fire-order.png"), full_page=True)
    row = await db.fetchrow(
        "SELECT o.department, o.issued_by, i.department AS record FROM rectification_orders o"
        " JOIN inspections i ON i.id = o.inspection_id"
    )
    assert tuple(row) == ("fire", "xf", "fire")
    # a joint inspection with 市场监管: the fire part leads, market's part is its own record
    await page.goto(f"{base}/facilities/{A.id}")
    await expect(page.locator("[data-joint-choice] input[value=fire]")).to_have_count(0)  # one's own: always in
    await page.fill("#plan-form input[name=planned_for]", today)
    await page.locator("[data-joint-choice] input[value=market]").check()
    await page.locator("#plan-form button").click()
    await expect(page.locator("[data-joint=open]")).to_contain_text("0/2")
    await expect(page.locator("[data-joint-part]")).to_have_count(2)
    await expect(page.locator("[data-joint-part=market] a")).to_have_text("市场监管")
    await page.screenshot(path=str(ARTIFACTS / "department-3-joint.png"), full_page=True)
    parts = await db.fetch(
        "SELECT department, joint_id IS NULL AS lead FROM inspections"
        " WHERE joint_id IS NOT NULL OR id IN (SELECT joint_id FROM inspections) ORDER BY id"
    )
    assert [tuple(p) for p in parts] == [("fire", True), ("market", False)]


async def test_a_fire_officer_filters_the_alert_list_by_their_department(
    page: Page,  # noqa: F811
    base: str,  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    """The alert list names each rule's department beside it, and a 消防 officer narrows it to their own
    (marked 本部门 in the filter): the smoke alarm stays, the ratio breach (卫健's) goes. Before: no department
    beside a rule and no such filter."""
    await load_registry(db, REG)
    await create_user(db, "xf", "inspector", "pw-xf", county=A.county, department="fire")
    for rule, sev in (("fire_alarm", "critical"), ("ratio_breach", "major")):
        await db.execute(
            "INSERT INTO alerts (rule, severity, facility_id, device_id, opened_at, last_seen_at)"
            " VALUES ($1, $2, $3, 'dev-1', now(), now())",
            rule,
            sev,
            A.id,
        )
    await login(page, base, "xf", "pw-xf")
    await page.goto(f"{base}/alerts")
    rows = page.locator("table.alerts tr[data-alert]")
    await expect(rows).to_have_count(2)
    await expect(page.locator("[data-rule-department=fire_alarm]")).to_have_text("消防")
    await expect(page.locator("[data-rule-department=ratio_breach]")).to_have_text("卫健")
    await page.select_option("select[name=department]", "fire")
    await expect(page.locator("select[name=department] option[value=fire]")).to_contain_text("本部门")
    await page.locator("form.filters button").click()
    await expect(rows).to_have_count(1)
    await expect(page.locator("[data-rule-department=fire_alarm]")).to_have_text("消防")
    await page.screenshot(path=str(ARTIFACTS / "department-4-alert-filter.png"), full_page=True)
