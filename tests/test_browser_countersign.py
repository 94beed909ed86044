"""In Debian's headless Chromium, zh-CN (issue #40 item 3): a township inspector records an inspection and
signs it naming the county's inspector as its second officer; the record reads 待会签 and the author has no
way to confirm it; the county inspector, on their own login on a phone-width page, finds it under 待我会签
and confirms it; only then does it read 已签字确认.

Screenshots go to test-artifacts/."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from playwright.async_api import Page, expect

from storage.registry import load_registry
from storage.users import create_user
from tests.test_browser import ARTIFACTS, REG, A, base, login, page  # noqa: F401 - the fixtures

pytestmark = pytest.mark.browser


async def test_the_second_inspector_confirms_the_record_on_their_phone(
    page: Page,  # noqa: F811
    base: str,  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    await load_registry(db, REG)
    await create_user(db, "town", "inspector", "pw-town", county=A.county, township=A.township)
    await create_user(db, "county", "inspector", "pw-county", county=A.county)
    browser = page.context.browser
    assert browser is not None
    phone_ctx = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="zh-CN")
    phone = await phone_ctx.new_page()
    try:
        await login(page, base, "town", "pw-town")
        await page.goto(f"{base}/facilities/{A.id}")
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
        await page.fill("#plan-form input[name=planned_for]", today)
        await page.locator("#plan-form button").click()
        await expect(page.locator("[data-inspection-status]")).to_have_text("待检查")
        inspection_url = page.url
        for row in await page.locator("tr[data-item]").all():
            code = await row.get_attribute("data-item")
            await row.locator(f"input[value={'fail' if code == 'exits' else 'pass'}]").check()
        await page.fill("tr[data-item=exits] input[name=note_exits]", "二楼安全出口堆放床垫")
        # one officer alone does not sign
        await page.locator("#inspection-form button[value=sign]").click()
        await expect(page.locator("p.error")).to_contain_text("请指定第二名检查人员")
        await expect(page.locator("[data-inspection-status]")).to_have_text("待检查")
        # the choice lists the inspectors whose area holds the facility, not the author
        choices = await page.locator("select[name=second_inspector] option").evaluate_all(
            "options => options.map(o => o.value).filter(v => v)"
        )
        assert choices == ["county"], choices
        await page.select_option("select[name=second_inspector]", "county")
        await page.locator("#inspection-form button[value=sign]").click()
        await expect(page.locator("[data-inspection-status]")).to_have_text("待会签")
        await expect(page.locator("[data-awaiting-second]")).to_contain_text("确认前不计入检查")
        await expect(page.locator("#countersign-form")).to_have_count(0)  # the author cannot confirm it
        await expect(page.locator("tr[data-item=exits] details")).to_have_count(0)  # no order from it yet
        await page.screenshot(path=str(ARTIFACTS / "countersign-1-awaiting.png"), full_page=True)

        # the second inspector, on their own account and a phone
        await login(phone, base, "county", "pw-county")
        await phone.goto(f"{base}/inspections")
        await expect(phone.locator("#awaiting-mine")).to_have_text("待我会签")
        await phone.locator("li[data-awaiting] a").click()
        await expect(phone.locator("[data-inspection-status]")).to_have_text("待会签")
        await expect(phone.locator("tr[data-item=exits] .finding")).to_have_text("不符合")
        wide = await phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert wide <= 0, f"the inspection page is {wide} px wider than a phone"
        await phone.screenshot(path=str(ARTIFACTS / "countersign-2-phone.png"), full_page=True)
        # one thing on the page is named 确认会签, the button: the notice's link says where it goes (a newcomer's
        # `text=确认会签` found the link first)
        await expect(phone.locator("[data-countersign-link]")).to_have_text("去会签 ↓")
        await expect(phone.locator("text=确认会签")).to_have_count(1)
        await expect(phone.get_by_role("link", name="确认会签")).to_have_count(0)
        await expect(phone.get_by_role("button", name="确认会签")).to_have_count(1)
        await phone.locator("text=确认会签").click()
        await expect(phone.locator("[data-inspection-status]")).to_have_text("已签字确认")
        await expect(phone.locator("[data-countersigned-by]")).to_have_text("county")
        await phone.screenshot(path=str(ARTIFACTS / "countersign-3-confirmed-phone.png"), full_page=True)

        await page.goto(inspection_url)
        await expect(page.locator("[data-inspection-status]")).to_have_text("已签字确认")
        await expect(page.locator("[data-signed-by]")).to_have_text("town")
        await expect(page.locator("tr[data-item=exits] details")).to_have_count(1)  # an order may now be issued
        row = await db.fetchrow("SELECT status, signed_by, countersigned_by FROM inspections")
        assert tuple(row) == ("signed", "town", "county")
    finally:
        await phone_ctx.close()
