"""In Debian's headless Chromium, what a newcomer's pass of the demo tripped over (2026-12-07) on the alert
pages, in zh-CN and en, at 1400 px and at a phone's 390 px: the acknowledgement's rule is in sight under its
field (its placeholder was cut off) and the server's refusal of a note without substance is said there; a
severity badge never breaks over two lines; the department filter fits.

Screenshots go to test-artifacts/newcomer-*.png.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from playwright.async_api import Page, expect

from contract.rules import Condition, Key
from storage.alerts import open_alert
from storage.registry import load_registry
from storage.users import create_user
from tests.test_browser import ARTIFACTS, REG, A, base, login, page  # noqa: F401 - the fixtures

pytestmark = pytest.mark.browser

# the rule as each language says it under the field (web/i18n.py note_rule) and the server's refusal
RULE = {"zh": "至少4个字", "en": "at least 4 letters or digits"}
REFUSED = {"zh": "确认危急或严重告警须填写现场核实和处置情况", "en": "needs a note of what was found and done"}
LONG_ZH = "烟感探测器报警，厨房区域，值班人员正在核实现场情况并联系消防部门，家长已通知，幼儿已疏散至操场集合点"
LONG_EN = "Smoke detector alarm in the kitchen area; staff on duty are checking and have called the fire service"


async def _badges_on_one_line(tab: Page, what: str) -> None:
    broken = await tab.locator("table.alerts .sev").evaluate_all(
        "badges => badges.filter(b => b.getClientRects().length > 1).map(b => b.textContent)"
    )
    assert broken == [], f"{what}: severity badges broken over two lines: {broken}"


async def _fits(tab: Page, what: str) -> None:
    wide = await tab.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert wide <= 0, f"{what} is {wide} px wider than the window"


async def test_the_alert_pages_say_the_notes_rule_keep_badges_whole_and_fit_the_department_filter(
    page: Page,  # noqa: F811
    base: str,  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    await load_registry(db, REG)
    await create_user(db, "xf", "inspector", "pw-xf", county=A.county, department="fire")
    t0 = datetime.now(UTC) - timedelta(minutes=20)
    alerts = []
    for i, (rule, sev) in enumerate((("fire_alarm", "critical"), ("ratio_breach", "major"), ("co2_high", "minor"))):
        a = await open_alert(db, A.id, Key(rule, f"dev-{i}"), Condition(sev, LONG_ZH, LONG_EN), t0)
        alerts.append(a.alert_id)
    fire = alerts[0]
    browser = page.context.browser
    assert browser is not None
    for lang in ("en", "zh"):
        for width, height in ((1400, 900), (390, 844)):
            ctx = await browser.new_context(
                viewport={"width": width, "height": height}, is_mobile=width < 500, locale="zh-CN"
            )
            tab = await ctx.new_page()
            try:
                await login(tab, base, "xf", "pw-xf")
                await tab.goto(f"{base}/alerts?lang={lang}")
                what = f"/alerts in {lang} at {width} px"
                row = tab.locator(f"tr[data-alert='{fire}']")
                note = row.locator("input[name=note]")
                await expect(note).to_have_attribute("required", "")
                rule = row.locator("[data-note-rule]")
                await expect(rule).to_be_visible()
                await expect(rule).to_contain_text(RULE[lang])
                assert await note.get_attribute("aria-describedby") == await rule.get_attribute("id")
                # a minor alert needs no note, and says no rule
                await expect(tab.locator(f"tr[data-alert='{alerts[2]}'] [data-note-rule]")).to_have_count(0)
                await _badges_on_one_line(tab, what)
                if width > 500:
                    select = tab.locator("select[name=department]")
                    box = await select.bounding_box()
                    assert box is not None and box["width"] <= 260, f"{what}: the department filter is {box} wide"
                    titles = await select.locator("option[value]").evaluate_all(
                        "options => options.filter(o => o.value).map(o => o.title)"
                    )
                    assert all(titles), f"every department's full name as its option's title: {titles}"
                else:
                    await _fits(tab, what)
                await tab.screenshot(path=str(ARTIFACTS / f"newcomer-alerts-{lang}-{width}.png"), full_page=True)
                # three characters, one short of the rule: the server says why, where the note was typed
                await note.fill("已检查")
                await row.locator("button").click()
                await tab.wait_for_url(f"**/alerts/{fire}/ack**")
                row = tab.locator(f"tr[data-alert='{fire}']")
                refused = row.locator("[data-note-refused]")
                await expect(refused).to_be_visible()
                await expect(refused).to_contain_text(REFUSED[lang])
                await expect(row.locator("input[name=note]")).to_have_value("已检查")
                await expect(row.locator("input[name=note]")).to_have_attribute("aria-invalid", "true")
                # corrected and sent again, it must lead back to the list, not to the address posted to (a 405)
                await expect(row.locator("input[name=back]")).not_to_have_value(re.compile(r"/ack"))
                await _badges_on_one_line(tab, f"the refused alert's page in {lang} at {width} px")
                if width < 500:
                    await _fits(tab, f"the refused alert's page in {lang}")
                await tab.screenshot(path=str(ARTIFACTS / f"newcomer-refused-{lang}-{width}.png"), full_page=True)
            finally:
                await ctx.close()
    row = await db.fetchrow("SELECT acknowledged FROM alerts WHERE id = $1", fire)
    assert row is not None and row["acknowledged"] is False, "no three-character note acknowledged the fire alarm"
