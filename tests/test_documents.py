"""The printable documents (issue #40 item 4) over real HTTP and TimescaleDB: a signed inspection's
现场检查记录 and an order's 整改通知书 as PDF, read back with poppler's `pdftotext` (the Chinese title, the
document number and the facility's name are text a person and a machine can read), numbered per
department, kind and year and never reused, with the inspection's photos as thumbnails, and 404 for
anyone outside the facility's scope."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from PIL import Image

from contract.inspection import ITEMS
from supervision.documents import department_of, number_text, short_name, year_of
from tests.test_orders import A, _page_session, call, due, site  # noqa: F401 - `site`: the fixture, by name

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")


def test_a_number_reads_as_a_county_prints_it() -> None:
    assert number_text("140902", "order", 2026, 12) == "忻府卫托整〔2026〕12号"
    assert number_text("city", "inspection", 2026, 3) == "忻卫托检〔2026〕3号"
    assert short_name("140981") == "原平" and short_name("140923") == "代县", "two characters stay whole"
    assert department_of("county", "140902", "140902001") == "140902"
    assert department_of("township", "140902", "140902001") == "140902001"
    # 31 December 17:00 UTC is already 1 January in Xinzhou: the document counts in the new year
    assert year_of(datetime(2026, 12, 31, 17, 0, tzinfo=UTC)) == 2027


def text_of(pdf: bytes, tmp: Path) -> str:
    path = tmp / "doc.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-layout", str(path), "-"], capture_output=True, check=True, timeout=30
    )
    assert b"Missing language pack" not in done.stderr, "poppler-data is needed to read STSong-Light"
    # every font the document uses travels inside it (a subset of WenQuanYi Zen Hei), so any viewer,
    # printer or archive shows the Chinese as printed
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True, timeout=30).stdout
    rows = [line.split() for line in fonts.splitlines()[2:] if line.strip()]
    assert rows and all(r[-5] == "yes" for r in rows), fonts
    return done.stdout.decode("utf-8")


def jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1200, 900), colour).save(out, "JPEG")
    return out.getvalue()


async def _signed_inspection(url: str, county_token: str, town_token: str) -> int:
    """An inspection of A planned, recorded with two photos and signed by the county's inspector (pages),
    and confirmed by the township's as its second officer."""
    today = datetime.now(UTC).date().isoformat()
    status, insp = await call(
        "POST", f"{url}/api/v1/facilities/{A.id}/inspections", county_token, {"planned_for": today}
    )
    assert status == 201
    s, csrf = await _page_session(url, "county", "pw-county")
    try:
        form = aiohttp.FormData()
        form.add_field("csrf", csrf)
        for code in ITEMS:
            form.add_field(f"result_{code}", "fail" if code == "exits" else "pass")
        form.add_field("note_exits", "二楼安全出口上锁")
        form.add_field("notes", "现场检查发现安全出口上锁，已当场责令打开。")
        form.add_field("photos", jpeg((200, 30, 30)), filename="出口.jpg", content_type="image/jpeg")
        form.add_field("photos", jpeg((30, 30, 200)), filename="走廊.jpg", content_type="image/jpeg")
        form.add_field("second_inspector", "town")
        form.add_field("action", "sign")
        r = await s.post(f"{url}/inspections/{insp['id']}/record", data=form)
        assert r.status == 200, await r.text()
    finally:
        await s.close()
    status, confirmed = await call("POST", f"{url}/api/v1/inspections/{insp['id']}/countersign", town_token)
    assert (status, confirmed["status"]) == (200, "signed"), "the second officer confirms it (issue #40 item 3)"
    return int(insp["id"])


async def test_the_inspection_record_and_the_notice_print_numbered_in_chinese(
    site: dict[str, Any],  # noqa: F811
    db: asyncpg.Connection,
    tmp_path: Path,
) -> None:
    url = site["url"]
    year = year_of(datetime.now(UTC))
    iid = await _signed_inspection(url, site["county"], site["town"])
    insp_no = number_text(A.county, "inspection", year, 1)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {site['oper']}"}) as s:
        r = await s.get(f"{url}/inspections/{iid}")
        html = await r.text()
        assert insp_no in html and f'href="/inspections/{iid}.pdf' in html, "the page links its document"
        r = await s.get(f"{url}/inspections/{iid}.pdf")
        assert r.status == 200 and r.headers["Content-Type"] == "application/pdf"
        pdf = await r.read()
    text = text_of(pdf, tmp_path)
    for wanted in ("现场检查记录", insp_no, A.name, "二楼安全出口上锁", "出口.jpg", "被检查单位负责人（签名）"):
        assert wanted in text, (wanted, text[:2000])
    assert pdf.count(b"/Subtype /Image") == 2, "both photos, as thumbnails"
    assert len(pdf) < 400_000, "thumbnails, not the photos themselves"

    body = {"title": "安全出口上锁", "detail": "依据《托育机构消防安全指南》", "due_at": due(3), "inspection_id": iid}
    status, order = await call("POST", f"{url}/api/v1/facilities/{A.id}/orders", site["county"], body)
    assert status == 201
    order_no = number_text(A.county, "order", year, 1)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {site['county']}"}) as s:
        html = await (await s.get(f"{url}/orders/{order['id']}")).text()
        assert order_no in html and f'href="/orders/{order["id"]}.pdf' in html
        r = await s.get(f"{url}/orders/{order['id']}.pdf")
        assert r.status == 200
        pdf = await r.read()
    text = text_of(pdf, tmp_path)
    for wanted in ("整改通知书", order_no, A.name, "安全出口上锁", insp_no, "送达回执", "签收日期"):
        assert wanted in text, (wanted, text[:2000])
    assert pdf.count(b"/Subtype /Image") == 2, "the inspection's photos"

    # numbers count up per department, kind and year, and a number is never given twice, even when its
    # order is gone
    await db.execute("DELETE FROM rectification_orders WHERE id = $1", order["id"])
    _, again = await call("POST", f"{url}/api/v1/facilities/{A.id}/orders", site["county"], body | {"title": "再次"})
    _, by_town = await call("POST", f"{url}/api/v1/facilities/{A.id}/orders", site["town"], body | {"title": "乡镇"})
    numbers = await db.fetch("SELECT department, kind, year, seq, order_id FROM document_numbers ORDER BY id")
    assert [(r["department"], r["kind"], r["seq"], r["order_id"]) for r in numbers] == [
        (A.county, "inspection", 1, None),
        (A.county, "order", 1, None),  # its order deleted: the number stays taken
        (A.county, "order", 2, again["id"]),
        (A.township, "order", 1, by_town["id"]),
    ]


async def test_a_document_outside_the_scope_is_404(site: dict[str, Any]) -> None:  # noqa: F811
    url = site["url"]
    iid = await _signed_inspection(url, site["county"], site["town"])
    _, order = await call(
        "POST", f"{url}/api/v1/facilities/{A.id}/orders", site["town"], {"title": "灭火器过期", "due_at": due()}
    )
    for who in ("other", "oper_b"):
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {site[who]}"}) as s:
            for path in (f"/orders/{order['id']}.pdf", f"/inspections/{iid}.pdf", "/orders/999999.pdf"):
                r = await s.get(f"{url}{path}", allow_redirects=False)
                assert r.status == 404, (who, path)
                assert r.headers["Content-Type"].startswith("text/html"), "the error page, not a PDF"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {site['oper']}"}) as s:
        assert (await s.get(f"{url}/orders/{order['id']}.pdf")).status == 200, "the facility's own operator"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_circulars_long_title_is_printed_in_full_lines(lang: str, tmp_path: Path) -> None:
    """Issue #41: a circular's title in its PDF is set in full lines across the page, never a character a
    line; the longest title the form takes (200 characters) still leaves the page its text."""
    from web.documents import render_circular
    from web.i18n import TEXT

    title = "关于全市托育机构2026年第四季度安全监管情况及部分机构消防通道整改逾期问题的通报"
    for t in (title, title * 3):
        c = {"title": t[:200], "body": "近期检查发现，部分托育机构消防通道整改逾期。", "issued_at": datetime.now(UTC)}
        pdf = render_circular(
            c, "忻府卫托通〔2026〕1号", "忻府区卫生健康局", [("忻府区", "督促不力")], TEXT[lang], lang, "通报批评"
        )
        lines = [line.strip() for line in text_of(pdf, tmp_path).splitlines() if line.strip()]
        start = next(i for i, line in enumerate(lines) if line.startswith("关于全市"))
        end = next(i for i, line in enumerate(lines) if "忻府卫托通" in line)
        title_lines = lines[start:end]
        assert "".join(title_lines) == t[:200], title_lines
        assert len(title_lines) <= 2 + len(t[:200]) // 20, title_lines  # about 22 characters a line at 20 pt
        assert all(len(line) >= 10 for line in title_lines[:-1]), title_lines
