"""In Debian's headless Chromium, zh-CN (issue #40 acceptance): a county inspector opens 双随机抽查 from the
navigation, draws two facilities, lands on the draw's results with two inspectors each and a planned
inspection each, re-runs it from its published inputs, and cannot draw the same month again without a reason.

Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from playwright.async_api import Page, expect

from simulators.registry_gen import generate_registry
from storage.registry import load_registry
from storage.users import create_user
from tests.test_browser import ARTIFACTS, base, login, page  # noqa: F401 - the fixtures

pytestmark = pytest.mark.browser
REG = generate_registry(40, seed=3)
COUNTY = Counter(f.county for f in REG.facilities).most_common(1)[0][0]


async def test_a_draw_in_the_browser_creates_inspections(
    page: Page,  # noqa: F811
    base: str,  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    await load_registry(db, REG)
    await create_user(db, "xian", "inspector", "pw-xian", county=COUNTY)
    for name in ("jian1", "jian2"):
        await create_user(db, name, "inspector", f"pw-{name}", county=COUNTY)
    await login(page, base, "xian", "pw-xian")
    await page.locator("nav a[href='/draws']").click()
    await expect(page.locator("h1")).to_contain_text("双随机抽查")
    await expect(page.locator("table.draw-inspectors tr[data-inspector]")).to_have_count(3)
    planned = (datetime.now(UTC) + timedelta(hours=8, days=7)).date().isoformat()
    await page.fill("#draw-form input[name=count]", "2")
    await page.fill("#draw-form input[name=planned_for]", planned)
    await page.locator("#draw-form button").click()
    await page.wait_for_url(re.compile(r".*/draws/[0-9]+$"))
    rows = page.locator("table.draw-results tr[data-inspection]")
    await expect(rows).to_have_count(2)
    await page.screenshot(path=str(ARTIFACTS / "draw-1-results.png"), full_page=True)
    ids = [int(await rows.nth(i).get_attribute("data-inspection") or 0) for i in range(2)]
    stored = await db.fetch(
        "SELECT i.id, i.status, i.planned_for, p.inspector_a, p.inspector_b FROM inspections i"
        " JOIN random_draw_picks p ON p.inspection_id = i.id WHERE i.id = ANY($1::bigint[])",
        ids,
    )
    assert len(stored) == 2 and all(r["status"] == "planned" and r["inspector_a"] != r["inspector_b"] for r in stored)
    assert {r["planned_for"].isoformat() for r in stored} == {planned}
    await page.locator("#verify").click()
    await expect(page.locator("#verdict")).to_contain_text("核对一致")
    await page.locator(f"tr[data-inspection='{ids[0]}'] a[href^='/inspections/']").click()
    await expect(page.locator("[data-inspection-status]")).to_have_text("待检查")
    # the same month again: refused without a reason, a visible re-draw with one
    await page.goto(f"{base}/draws")
    await page.fill("#draw-form input[name=count]", "1")
    await page.fill("#draw-form input[name=planned_for]", planned)
    await page.locator("#draw-form button").click()
    await expect(page.locator("p.error")).to_contain_text("重新抽取须填写理由")
    await page.fill("#draw-form input[name=reason]", "首次抽取的检查人员临时借调")
    await page.locator("#draw-form button").click()
    await page.wait_for_url(re.compile(r".*/draws/[0-9]+$"))
    await page.locator("a", has_text="返回抽取记录").click()
    await expect(page.locator("table.draws tr[data-draw]")).to_have_count(2)
    await expect(page.locator("table.draws")).to_contain_text("首次抽取的检查人员临时借调")
    await page.screenshot(path=str(ARTIFACTS / "draw-2-redraw.png"), full_page=True)
