"""Issue #41 items 3 and 4 in Debian's headless Chromium: the duty-room wall at 1920 × 1080 (the map, the chart of
today by hour, critical alerts only under the life-safety heading, 督办 waiting, no overflow in zh or en, the
city's rotation with its pin) and the map's click-through from a county to a township's view.

Screenshots go to test-artifacts/wall/ (or `carewatch screenshots --out DIR`)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, async_playwright, expect

from contract.places import township_name
from contract.rules import Condition, Key
from storage import rectification
from storage.alerts import open_alert
from storage.registry import load_registry
from storage.users import create_user
from tests.conftest import as_role
from tests.test_browser import ARTIFACTS, CHROMIUM, REG, A, login
from web.app import create_app
from web.i18n import county_name

pytestmark = pytest.mark.browser
SHOTS = ARTIFACTS / "wall"
FITS = (
    "[document.documentElement.scrollWidth <= window.innerWidth,"
    " document.documentElement.scrollHeight <= window.innerHeight,"
    " [...document.querySelectorAll('.wall-panel h2, .wall-help, .wall-tile span, .wall-head strong')]"
    ".filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent)]"
)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: scripts/install-system-deps.sh --browser installs it")
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        b = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
        )
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def site(db: asyncpg.Connection, db_url: str, browser: Browser) -> AsyncIterator[dict[str, Any]]:
    """A's county with a critical fire alarm, a major guard absence (not life-safety) and an overdue order;
    a county inspector and a city inspector."""
    await load_registry(db, REG)
    now = datetime.now(UTC)
    fire = await open_alert(
        db, A.id, Key("fire_alarm", "smoke-nap1"), Condition("critical", "火灾", "fire"), now - timedelta(minutes=5)
    )
    guard = await open_alert(
        db, A.id, Key("guard_absent"), Condition("major", "保安缺岗", "no guard on duty"), now - timedelta(minutes=4)
    )
    await rectification.issue(
        db,
        A.id,
        source="inspection",
        alert_id=None,
        title="消防通道堆放杂物",
        detail="清理",
        due_at=now - timedelta(days=2),
        actor="insp",
        level="county",
        now=now - timedelta(days=9),
    )
    await create_user(db, "duty", "inspector", "pw-duty", county=A.county)
    await create_user(db, "citywall", "inspector", "pw-city")
    server = TestServer(create_app(as_role(db_url, "web"), secrets.token_bytes(32)), host="127.0.0.1")
    await server.start_server()
    try:
        yield {"url": str(server.make_url("")).rstrip("/"), "fire": fire.alert_id, "guard": guard.alert_id}
    finally:
        # the pages first: a page's live stream left open held the server's close for two minutes
        for ctx in browser.contexts:
            await ctx.close()
        await server.close()


async def wall_page(
    browser: Browser, url: str, user: str, password: str, lang: str = "zh", *, clock: bool = False
) -> Page:
    ctx = await browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    page = await ctx.new_page()
    await login(page, url, user, password)
    if clock:
        await page.clock.install()  # the page's timers run when the test says
    await page.goto(f"{url}/wall?lang={lang}")
    await page.wait_for_selector("#map[data-ready]")
    await page.wait_for_selector("#wall-chart[data-ready]")
    return page


async def test_the_wall_shows_map_chart_and_only_critical_alerts_under_life_safety(
    browser: Browser, site: dict[str, Any]
) -> None:
    url = site["url"]
    page = await wall_page(browser, url, "duty", "pw-duty")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    life = page.locator("[data-life-safety]")
    await expect(life).to_contain_text("火灾报警")
    assert await life.locator(f'[data-alert="{site["fire"]}"]').count() == 1
    assert await life.locator(f'[data-alert="{site["guard"]}"]').count() == 0, "a major alert under life-safety"
    assert "保安缺岗" not in await life.inner_text()
    # the map: a canvas with the county's facilities as points; the chart: a canvas with two series of 24 hours
    assert await page.locator("#map canvas").count() >= 1
    n = sum(1 for f in REG.facilities if f.county == A.county)
    assert await page.evaluate("window.cwMap.chart.getOption().series[0].data.length") == n
    assert await page.locator("#wall-chart canvas").count() >= 1
    chart = "echarts.getInstanceByDom(document.getElementById('wall-chart'))"
    lengths = f"{chart}.getOption().series.map((s) => s.data.length)"
    assert await page.evaluate(lengths) == [24, 24]
    await expect(page.locator("[data-followups]")).to_have_text("1")
    await expect(page.locator(".wall-followups")).to_contain_text("消防通道堆放杂物")
    await page.screenshot(path=str(SHOTS / "wall-county-zh-1920x1080.png"))
    wide, tall, cut = await page.evaluate(FITS)
    assert wide and tall, "the wall scrolls at 1920 × 1080"
    assert cut == [], f"text cut off: {cut}"
    # a repaint (what a change from the stream triggers) keeps the map and the chart, redrawn in place
    canvas = await page.evaluate("document.querySelector('#map canvas') !== null")
    await page.evaluate("window.dispatchEvent(new Event('online'))")
    await page.wait_for_timeout(1500)
    assert canvas and await page.locator("#map canvas").count() >= 1
    await expect(page.locator("[data-life-safety]")).to_contain_text("火灾报警")
    en = await wall_page(browser, url, "duty", "pw-duty", "en")
    await expect(en.locator("[data-life-safety]")).to_contain_text("Fire alarm")
    await en.screenshot(path=str(SHOTS / "wall-county-en-1920x1080.png"))
    wide, tall, cut = await en.evaluate(FITS)
    assert wide and tall and cut == [], (wide, tall, cut)
    assert errors == []


async def test_the_city_wall_rotates_through_its_counties_and_can_be_pinned(
    browser: Browser, site: dict[str, Any]
) -> None:
    url = site["url"]
    page = await wall_page(browser, url, "citywall", "pw-city", clock=True)
    await expect(page.locator("#wall-mode")).to_have_text("轮播")
    options = await page.locator("#wall-area option").evaluate_all("(os) => os.map((o) => o.value)")
    assert options[0] == "" and A.county in options, options
    await page.screenshot(path=str(SHOTS / "wall-city-zh-1920x1080.png"))
    # the next area comes by itself after 30 s: the page's clock is run on, not waited for
    await page.clock.run_for(31_000)
    await expect(page.locator("#wall-area")).to_have_value(options[1])
    await expect(page.locator("#map")).to_have_attribute("data-shown", options[1])
    await page.select_option("#wall-area", A.county)  # choosing an area pins it
    await expect(page.locator("#wall-mode")).to_have_text("已固定")
    await expect(page.locator("#wall-map-title")).to_have_text(county_name(A.county))
    await page.clock.run_for(65_000)
    await expect(page.locator("#wall-area")).to_have_value(A.county)  # pinned: it stays
    await expect(page.locator("#map")).to_have_attribute("data-shown", A.county)
    await expect(page.locator("[data-life-safety]")).to_contain_text("火灾报警")
    await page.screenshot(path=str(SHOTS / "wall-city-pinned-zh-1920x1080.png"))
    await page.click("#wall-pin")  # resume
    await expect(page.locator("#wall-mode")).to_have_text("轮播")
    wide, tall, cut = await page.evaluate(FITS)
    assert wide and tall and cut == [], (wide, tall, cut)


async def test_a_click_on_the_county_map_reaches_a_township_view(browser: Browser, site: dict[str, Any]) -> None:
    url = site["url"]
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    page = await ctx.new_page()
    await login(page, url, "duty", "pw-duty")
    await page.goto(f"{url}/")
    await page.wait_for_selector("#map[data-ready]")
    # the township markers of the county: click A's, where ECharts put it
    xy = await page.evaluate(
        """(code) => {
          const c = window.cwMap.chart;
          const s = c.getOption().series.findIndex((s) => s.symbol === 'pin');
          const d = c.getOption().series[s].data.find((d) => d.township === code);
          return c.convertToPixel({ seriesIndex: s }, d.value);
        }""",
        A.township,
    )
    box = await page.locator("#map").bounding_box()
    assert box is not None
    await page.screenshot(path=str(SHOTS / "overview-county-1400.png"))
    await page.mouse.click(box["x"] + xy[0], box["y"] + xy[1] - 12)  # the pin's head is above its point
    # A's township, or a neighbour whose marker lies over it: a township's view, of the township clicked
    await page.wait_for_url(f"**/?county={A.county}&township={A.county}*")
    township = page.url.rsplit("township=", 1)[1]
    assert township.startswith(A.county) and len(township) == 9, page.url
    await page.wait_for_selector("#map[data-ready]")
    await expect(page.locator("h1")).to_contain_text(township_name(township))
    ids = await page.locator("tr[data-facility]").evaluate_all("(rs) => rs.map((r) => r.dataset.facility)")
    in_township = {f.id for f in REG.facilities if f.township == township}
    assert ids and set(ids) == in_township, (ids, in_township)
    # the map: the county's boundary zoomed to the township's facilities, the township's marker alone
    pins = "window.cwMap.chart.getOption().series.find((s) => s.symbol === 'pin').data.map((d) => d.township)"
    assert await page.evaluate(pins) == [township]
    dots = "window.cwMap.chart.getOption().series[0].data.map((d) => d.id)"
    assert set(await page.evaluate(dots)) == in_township, "the township's dots only (a newcomer saw another's red one)"
    await page.screenshot(path=str(SHOTS / "overview-township-1400.png"))
    # the selector beside the map reaches it too
    await page.goto(f"{url}/?county={A.county}")
    await page.select_option("#township-select", A.township)
    await page.wait_for_url(f"**/?county={A.county}&township={A.township}")
