"""In Debian's headless Chromium, zh-CN (issue #40 item 1): a county inspector finds an overdue order on the
督办 list, follows its 通报 link to a new circular with the facility prefilled and what is said of it drafted
from the facts, adds the township as a second subject, saves the draft, issues it (numbered
忻府卫托通〔year〕1号 style, no longer editable) and opens its PDF, which reads back with pdftotext.

Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Page, expect

from storage.registry import load_registry
from storage.users import create_user
from supervision.documents import number_text, year_of
from supervision.orders import escalate_overdue
from tests.test_browser import ARTIFACTS, REG, A, base, login, page  # noqa: F401 - the fixtures
from tests.test_documents import text_of

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed"),
]


async def test_a_county_drafts_issues_and_prints_a_circular_from_the_supervision_list(
    page: Page,  # noqa: F811
    base: str,  # noqa: F811
    db: asyncpg.Connection,
    tmp_path: Path,
) -> None:
    await load_registry(db, REG)
    await create_user(db, "county", "inspector", "pw-county", county=A.county)
    now = datetime.now(UTC)
    await db.execute(
        "INSERT INTO rectification_orders (facility_id, source, title, detail, due_at, first_due_at, issued_by,"
        " issued_level, supervision_level, issued_at) VALUES ($1, 'manual', '消防通道堆放杂物', '', $2, $2, 'town',"
        " 'township', 'township', $3)",
        A.id,
        now - timedelta(days=2),
        now - timedelta(days=9),
    )
    assert len(await escalate_overdue(db, now)) == 1, "overdue: it reaches the county's 督办 list"

    await login(page, base, "county", "pw-county")
    await page.goto(f"{base}/orders")
    await page.locator("[data-circular-link]").first.click()
    await expect(page.locator("tr[data-subject-row='0'] select[name=subject]")).to_have_value(f"facility:{A.id}")
    statement = page.locator("tr[data-subject-row='0'] textarea[name=statement]")
    await expect(statement).to_contain_text("消防通道堆放杂物")
    await expect(page.locator("tr[data-subject-row='0'] [data-subject-name]")).to_have_text(A.name)
    await page.fill("#circular-form input[name=title]", "关于消防通道整改逾期的通报")
    await page.select_option("#circular-form select[name=kind]", "criticise")
    await page.fill("#circular-form textarea[name=body]", "近期检查发现，部分托育机构消防通道整改逾期。现通报如下。")
    # a picker, not a code to type (issue #41): the search box narrows the list, the choice posts area:<code>
    await page.fill("[data-subject-filter]", A.name)
    visible = page.locator("tr[data-subject-row='1'] select[name=subject] option:not([hidden])")
    await expect(visible.filter(has_text=A.name)).to_have_count(1)
    await page.fill("[data-subject-filter]", "")
    await page.select_option("tr[data-subject-row='1'] select[name=subject]", f"area:{A.township}")
    await page.fill("tr[data-subject-row='1'] textarea[name=statement]", "乡镇督促整改不力，责令限期督促到位。")
    await page.screenshot(path=str(ARTIFACTS / "circular-1-draft.png"), full_page=True)
    await page.locator("#circular-form button").click()
    await expect(page.locator("[data-circular-status]")).to_have_text("草稿")
    await expect(page.locator("tr[data-subject-row='1'] select[name=subject]")).to_have_value(f"area:{A.township}")

    await page.locator("#circular-issue button").click()
    await expect(page.locator("[data-circular-status]")).to_have_text("已印发")
    number = number_text(A.county, "circular", year_of(datetime.now(UTC)), 1)
    await expect(page.locator("[data-doc-no]")).to_have_text(number)
    await expect(page.locator("#circular-form")).to_have_count(0)  # issued: no longer editable
    await page.screenshot(path=str(ARTIFACTS / "circular-2-issued.png"), full_page=True)

    href = await page.locator("a[data-print]").get_attribute("href")
    assert href and re.fullmatch(r"/circulars/\d+\.pdf\?lang=zh", href), href
    r = await page.request.get(f"{base}{href}")  # the browser's own session
    assert r.status == 200 and r.headers["content-type"] == "application/pdf"
    text = re.sub(r"\s+", "", text_of(await r.body(), tmp_path))
    for wanted in ("关于消防通道整改逾期的通报", number, "通报批评", A.name, "消防通道堆放杂物", "乡镇督促整改不力"):
        assert wanted in text, (wanted, text)
    await page.goto(f"{base}/circulars")
    await expect(page.locator("tr[data-status=issued]")).to_have_count(1)
