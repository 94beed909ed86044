"""In Debian's headless Chromium, zh-CN (issue #40's acceptance): a parent finds a facility on the public page,
files a complaint, keeps the code; the county inspector reads it with the contact and answers; the parent
follows the code to the answer. The parent's pages pass axe-core's WCAG 2.1 A/AA checks (no serious or
critical violation). Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, expect

from contract.places import township_name
from storage.registry import load_registry
from storage.users import create_user
from tests.conftest import as_role
from tests.test_browser import ARTIFACTS, REG, A, login, page  # noqa: F401 - the fixture, requested by name below
from tests.test_pages import axe_problems
from web.app import create_app
from web.i18n import county_name

pytestmark = pytest.mark.browser
PHONE = "13987654321"


@pytest.fixture
async def base(db_url: str) -> AsyncIterator[str]:
    server = TestServer(create_app(as_role(db_url, "web"), secrets.token_bytes(32)), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def test_a_parent_files_a_complaint_and_follows_it_to_its_answer(
    page: Page,  # noqa: F811 - the fixture imported above
    base: str,
    db: asyncpg.Connection,
) -> None:
    await load_registry(db, REG)
    await create_user(db, "county", "inspector", "pw-county", county=A.county)
    browser = page.context.browser
    assert browser is not None
    parent_ctx = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="zh-CN")
    parent = await parent_ctx.new_page()
    try:
        # the parent, on a phone, without an account: the county, the facility, its record, the form
        await parent.goto(f"{base}/public")
        await expect(parent.locator("h1")).to_have_text("托育机构信息公示")
        await parent.select_option("#area-form select[name=county]", A.county)
        await parent.locator("#area-form button").click()
        await expect(parent.locator("h2").first).to_contain_text(county_name(A.county))
        await parent.get_by_role("link", name=A.name).click()
        await expect(parent.locator("h1")).to_have_text(A.name)
        await expect(parent.locator("[data-filing]")).to_contain_text("未备案")
        assert township_name(A.township) in await parent.content()
        problems = await axe_problems(parent)  # WCAG 2.1 A/AA, as every signed-in page (tests/test_pages.py)
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
        await parent.fill("#complaint-form textarea[name=what]", "午睡时寝室门被反锁，老师不在场")
        await parent.fill("#complaint-form input[name=happened_on]", today)
        await parent.fill("#complaint-form input[name=contact]", PHONE)
        await parent.locator("#complaint-form button").click()
        await expect(parent.locator("h1")).to_have_text("投诉已提交")
        problems += await axe_problems(parent)
        code = (await parent.locator("[data-complaint-code]").inner_text()).strip()
        assert re.fullmatch(r"[A-Z2-9]{16}", code)
        await parent.screenshot(path=str(ARTIFACTS / "complaint-0-filed.png"), full_page=True)
        # the county inspector: the badge, the complaint with its contact, taken in hand, answered
        await login(page, base, "county", "pw-county")
        await expect(page.locator("[data-complaints-waiting]")).to_have_text("1")
        await page.locator("nav a[href='/complaints']").click()
        await page.locator("table.complaints a").first.click()
        await expect(page.locator("[data-complaint-contact]")).to_have_text(PHONE)
        await page.locator("#complaint-step button[value=handle]").click()
        await expect(page.locator("h1 small")).to_contain_text("处理中")
        await page.fill("#complaint-step textarea[name=text]", "经现场核查，已责令机构整改寝室门锁。")
        await page.locator("#complaint-step button[value=answer]").click()
        await expect(page.locator("h1 small")).to_contain_text("已答复")
        await page.screenshot(path=str(ARTIFACTS / "complaint-1-answered.png"), full_page=True)
        # the parent follows the code to the answer
        await parent.goto(f"{base}/public")
        await parent.locator("a[href='/public/complaints']").first.click()
        await parent.fill("#follow-form input[name=code]", code)
        await parent.locator("#follow-form button").click()
        await expect(parent.locator("[data-complaint-answer]")).to_have_text("经现场核查，已责令机构整改寝室门锁。")
        assert PHONE not in await parent.content()
        problems += await axe_problems(parent)
        assert problems == [], "\n".join(problems)
        await parent.screenshot(path=str(ARTIFACTS / "complaint-2-followed.png"), full_page=True)
    finally:
        await parent_ctx.close()


async def test_a_date_is_typed_year_first_on_a_chinese_page(
    page: Page,  # noqa: F811 - the fixture imported above
    base: str,
    db: asyncpg.Connection,
) -> None:
    """Chromium's own date field takes the order of the browser's locale, not the page's: a headless one shows
    mm/dd/yyyy on a Chinese page. The Chinese complaint form takes 年-月-日 as typed, refuses a month-first
    date before sending it, and the English page keeps the browser's date field."""
    await load_registry(db, REG)
    await page.goto(f"{base}/public/facilities/{A.id}?lang=zh")
    field = page.locator("#complaint-form [name=happened_on]")
    await field.press_sequentially("2026-12-20")
    assert await field.input_value() == "2026-12-20"
    assert await field.evaluate("(e) => e.validity.valid")
    await field.fill("")
    await field.press_sequentially("12/20/2026")
    assert await field.evaluate("(e) => e.validity.patternMismatch"), "a month-first date is refused"
    await page.goto(f"{base}/public/facilities/{A.id}?lang=en")
    assert await page.locator("#complaint-form [name=happened_on]").get_attribute("type") == "date"
