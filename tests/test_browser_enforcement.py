"""In Debian's headless Chromium, zh-CN (issue #40 item 1): a county inspector orders a facility to suspend
operation (责令停业整改) from its page; the facility's page and the overview read 停业整改中; the facility's
operator sees it and has no way to lift it (and a forged lift is refused). A city inspector finds an overdue
order in the 督办 list and records a 批示 on it, which the order's history and the list show.

Screenshots go to test-artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from playwright.async_api import Page, expect

from storage.rectification import issue
from storage.registry import load_registry
from storage.users import create_user
from supervision.orders import escalate_overdue
from tests.test_browser import ARTIFACTS, REG, A, base, login, page  # noqa: F401 - the fixtures

pytestmark = pytest.mark.browser


async def test_a_suspension_shows_everywhere_and_a_city_instruction_is_recorded(
    page: Page,  # noqa: F811
    base: str,  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    await load_registry(db, REG)
    await create_user(db, "town", "inspector", "pw-town", county=A.county, township=A.township)
    await create_user(db, "county", "inspector", "pw-county", county=A.county)
    await create_user(db, "city", "inspector", "pw-city")
    await create_user(db, "oper", "operator", "pw-oper", facility=A.id)
    now = datetime.now(UTC)
    late = await issue(
        db,
        A.id,
        source="manual",
        alert_id=None,
        title="安全出口上锁",
        detail="二楼安全出口上锁",
        due_at=now - timedelta(days=8),
        actor="town",
        level="township",
        now=now - timedelta(days=10),
    )
    # overdue: up to the county, and three days on to the city (the 督办 ticker's steps)
    await escalate_overdue(db, now - timedelta(days=4))
    await escalate_overdue(db, now)

    # the county orders the suspension; a refused form keeps what was typed
    await login(page, base, "county", "pw-county")
    await page.goto(f"{base}/facilities/{A.id}")
    await expect(page.locator("h1 [data-suspended]")).to_have_count(0)
    await page.locator("details:has(#suspension-form) summary").click()
    await page.fill("#suspension-form textarea[name=reasons]", "无")
    await page.fill("#suspension-form input[name=order_ids]", str(late.order_id))
    await page.locator("#suspension-form button").click()
    await expect(page.locator("[data-error]")).to_contain_text("请写明理由")
    await expect(page.locator("#suspension-form input[name=order_ids]")).to_have_value(str(late.order_id))
    await page.fill("#suspension-form textarea[name=reasons]", "安全出口长期上锁，整改逾期未完成，责令停业整改")
    await page.locator("#suspension-form button").click()
    await expect(page.locator("h1 [data-suspended]")).to_have_text("停业整改中")
    await expect(page.locator("[data-suspension][data-in-force=yes]")).to_contain_text("安全出口长期上锁")
    await expect(page.locator("[data-no-recheck]")).to_be_visible()  # no 复查 yet: nothing to lift on
    await page.screenshot(path=str(ARTIFACTS / "suspension-1-facility.png"), full_page=True)
    await page.goto(f"{base}/")
    await expect(page.locator(f"tr[data-facility='{A.id}'] [data-suspended]")).to_have_text("停业整改中")
    await page.screenshot(path=str(ARTIFACTS / "suspension-2-overview.png"), full_page=True)

    # the operator sees it and cannot lift it
    await page.context.clear_cookies()
    await login(page, base, "oper", "pw-oper")
    await page.goto(f"{base}/facilities/{A.id}")
    await expect(page.locator("h1 [data-suspended]")).to_have_text("停业整改中")
    await expect(page.locator("#lift-form")).to_have_count(0)
    await expect(page.locator("#suspension-form")).to_have_count(0)
    sid = await page.locator("[data-suspension]").first.get_attribute("data-suspension")
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    forged = await page.request.post(
        f"{base}/facilities/{A.id}/suspension/{sid}/lift",
        form={"csrf": csrf or "", "reason": "已整改完毕", "inspection_id": "1"},
    )
    assert forged.status == 403, forged.status
    await page.goto(f"{base}/orders/{late.order_id}")
    await expect(page.locator("[data-suspended]")).to_have_text("停业整改中")
    await page.screenshot(path=str(ARTIFACTS / "suspension-3-operator.png"), full_page=True)

    # the city records a 批示 on the overdue order from its 督办 list
    await page.context.clear_cookies()
    await login(page, base, "city", "pw-city")
    await page.goto(f"{base}/orders")
    await page.locator(f"tr[data-order='{late.order_id}'] a").first.click()
    await page.fill("#instruction-form textarea[name=note]", "请县卫健局三日内督促落实，结果报市局。")
    await page.locator("#instruction-form button").click()
    step = page.locator("tr[data-step=instructed]")
    await expect(step).to_contain_text("批示")
    await expect(step).to_contain_text("请县卫健局三日内督促落实")
    await page.goto(f"{base}/orders")
    await expect(page.locator(f"tr[data-order='{late.order_id}'] [data-instruction]").first).to_contain_text("批示")
    await page.screenshot(path=str(ARTIFACTS / "suspension-4-instruction.png"), full_page=True)
    steps = await db.fetch("SELECT actor, action FROM rectification_history WHERE order_id = $1", late.order_id)
    assert ("city", "instructed") in [(r["actor"], r["action"]) for r in steps]
