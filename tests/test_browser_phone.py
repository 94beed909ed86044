"""Phones first for operators (issue #41 item 5), in Debian's headless Chromium at 390 × 844: the landing page
starts with what waits for the operator, the inbox's and the orders' rows are cards whose action button is on
the first screen, nothing scrolls sideways, and each role's navigation shows only its pages.

Screenshots go to test-artifacts/phone-*.png.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from playwright.async_api import Page, expect

from contract.rules import Condition, Key
from storage.alerts import open_alert
from storage.registry import load_registry
from storage.users import create_user
from tests.helpers import call
from tests.test_browser import ARTIFACTS, REG, A, base, login, page  # noqa: F401 - the fixtures

pytestmark = pytest.mark.browser

# never on an operator's navigation: pages of the supervising side they cannot use (issue #41)
INSPECTORS_ONLY = ("/assessment", "/wall", "/registry", "/draws", "/statistics", "/dead-letters")


async def _fits(tab: Page, what: str) -> None:
    # against the layout's width, not window.innerWidth: on a mobile context Chromium widens the window to the
    # content, so a page 35 px too wide read as fitting (found by a newcomer's pass on /draws)
    wide = await tab.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert wide <= 0, f"{what} is {wide} px wider than the phone"


async def test_an_operators_phone_shows_what_waits_and_its_buttons_on_the_first_screen(
    page: Page,  # noqa: F811
    base: str,  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    """Eight open alerts and three orders at the operator's facility: on a phone the landing page shows the
    counts and the newest order with its 回复整改 button without scrolling; the inbox's first 确认 button and
    the orders list's first 回复整改 button are on the first screen; the facility page's too; no page is wider
    than the phone; the navigation has none of the inspectors' pages."""
    await load_registry(db, REG)
    _, token = await create_user(db, "county", "inspector", "pw-county", county=A.county)
    await create_user(db, "op", "operator", "pw-op", facility=A.id)
    t0 = datetime.now(UTC) - timedelta(minutes=40)
    for i in range(8):  # a busy facility: more alerts than a phone's screen holds
        sev = "critical" if i == 7 else "major"
        await open_alert(db, A.id, Key("device_offline", f"dev-{i}"), Condition(sev, "离线", "offline"), t0)
    due = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    titles = ["安全出口堆放杂物", "晨检记录缺失", "最新：补齐门卫"]
    for title in titles:  # the last one issued is the newest
        status, order = await call(
            "POST", f"{base}/api/v1/facilities/{A.id}/orders", token, {"title": title, "due_at": due}
        )
        assert status == 201, order
    newest = order["id"]
    browser = page.context.browser
    assert browser is not None
    phone = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="zh-CN")
    op = await phone.new_page()
    try:
        await login(op, base, "op", "pw-op")  # lands on "/": what waits for them
        assert op.url.rstrip("/") == base, op.url
        first = op.locator("[data-list=orders] li").first
        await expect(first).to_contain_text(titles[-1])
        await expect(first).to_be_in_viewport()
        await expect(op.locator(f'[data-answer="{newest}"]')).to_be_in_viewport()
        await expect(op.locator('[data-todo-count="orders"]')).to_have_text("3")
        await expect(op.locator('[data-todo-count="alerts"]')).to_have_text("8")
        await expect(op.locator('[data-todo-count="filing"]')).to_have_text("0")
        await expect(op.locator("[data-todo]").first).to_be_in_viewport()
        await _fits(op, "the landing page")
        await op.screenshot(path=str(ARTIFACTS / "phone-1-operator-home.png"))
        nav = await op.locator("header nav a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
        assert not set(INSPECTORS_ONLY) & set(nav), nav
        assert f"/facilities/{A.id}" in nav, "the operator's own facility is one tap away"

        await op.goto(f"{base}/alerts")
        row = op.locator("table.alerts tr[data-alert]").first
        await expect(row.locator("button")).to_have_text("确认")
        await expect(row.locator("button")).to_be_in_viewport()
        await expect(row.locator("td").nth(4)).to_be_in_viewport()  # its status
        await expect(row.locator("td").nth(7)).to_be_in_viewport()  # its time
        await _fits(op, "the inbox")
        await op.screenshot(path=str(ARTIFACTS / "phone-2-operator-alerts.png"))

        await op.goto(f"{base}/orders")
        await expect(op.locator("table.orders tr[data-order]").first).to_contain_text(titles[-1])
        await expect(op.locator(f'table.orders [data-answer="{newest}"]')).to_be_in_viewport()
        await _fits(op, "the orders list")
        await op.screenshot(path=str(ARTIFACTS / "phone-3-operator-orders.png"))

        await op.goto(f"{base}/facilities/{A.id}")
        await expect(op.locator("table.alerts tr[data-alert] button").first).to_be_in_viewport()
        await _fits(op, "the facility page")
        await op.screenshot(path=str(ARTIFACTS / "phone-4-operator-facility.png"))

        # the acknowledgement from the phone's card goes through, and the count goes down
        await op.goto(f"{base}/")
        card = op.locator("table.alerts tr[data-alert]").first
        await card.locator("input[name=note]").fill("已到场查看")  # a critical one needs a note
        await card.locator("button").click()
        await expect(op.locator('[data-todo-count="alerts"]')).to_have_text("7")
    finally:
        await phone.close()

    # an inspector's phone: the same cards, and the supervising side's pages in the navigation
    insp = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="zh-CN")
    ip = await insp.new_page()
    try:
        await login(ip, base, "county", "pw-county")
        nav = await ip.locator("header nav a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
        assert "/assessment" in nav and "/wall" in nav, nav
        await ip.goto(f"{base}/alerts")
        await expect(ip.locator("table.alerts tr[data-alert] button").first).to_be_in_viewport()
        await _fits(ip, "the inspector's inbox")
        await ip.screenshot(path=str(ARTIFACTS / "phone-5-inspector-alerts.png"))
        # a newcomer's pass at 390 px: the draws page's 64-character hash and the statistics' note where
        # the population file has no figure were wider than the phone
        for path in ("/draws", f"/statistics?area={A.township}"):
            await ip.goto(f"{base}{path}")
            await _fits(ip, f"the inspector's {path}")
    finally:
        await insp.close()
