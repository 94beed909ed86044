"""登记备案 (issue #39 item 1): a facility files its particulars with the county's health department, which
returns, accepts (with a number) or refuses them, within 5 working days or the city hears of it — through the
pages over real HTTP, with the database guarding what the web's role could write wrongly. What the engine and
the credit evaluation judge by changes only when a filing is accepted."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import pytest
import yaml

from storage import filing as store
from storage.registry import fetch_registry
from storage.users import Scope, create_user
from supervision.filing import (
    FilingRefused,
    check_review,
    facility_state,
    filing_number,
    is_working_day,
    review_due,
    review_level,
)
from tests.conftest import as_role
from tests.test_web import A, B, _logged_in, site  # noqa: F401 - the fixture, requested by name below
from web.filing import current_entry

SH = "Asia/Shanghai"
REVIEWER = "繁峙县审核员"  # the county inspector's display name
COUNTY = Scope("inspector", B.county, None, None)
CITY = Scope("inspector", None, None, None)
TOWNSHIP = Scope("inspector", B.county, B.township, None)
OPERATOR = Scope("operator", None, None, B.id)
ADMIN = Scope("admin", None, None, None)
DOCS = {
    "address": "忻州市繁峙县滨河路1号",
    "organiser": "繁峙县阳光教育咨询有限公司",
    "doc_licence_number": "91140924MA0K000001",
    "doc_site_number": "繁房租赁2026-031",
    "doc_health_evaluation_number": "繁卫评〔2026〕12号",
    "doc_health_evaluation_until": "2029-06-30",
    "doc_fire_safety_number": "繁消检字〔2026〕第0031号",
    "doc_fire_safety_until": "2029-06-30",
}


# -- the rules, pure ----------------------------------------------------------------------------------------------
def test_the_review_is_due_after_five_working_days_by_the_national_calendar() -> None:
    """收到备案材料后5个工作日内: counted from the day after the submission, weekends and holidays left out."""
    monday = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # 18:00 in Xinzhou
    assert review_due(monday).isoformat() == "2026-03-10T00:00:00+08:00", "Tue..Fri and the next Monday"
    friday = datetime(2026, 3, 6, 9, 0, tzinfo=UTC)
    assert review_due(friday).isoformat() == "2026-03-14T00:00:00+08:00", "Mon..Fri of the next week"
    # the Spring Festival block (2026-02-15 to 02-23) counts no day; a make-up Saturday counts
    before = datetime(2026, 2, 13, 2, 0, tzinfo=UTC)
    due = review_due(before)
    assert not is_working_day(date(2026, 2, 16)) and not is_working_day(date(2026, 2, 23))
    assert due.date() > date(2026, 2, 26), due
    counted = [
        date(2026, 2, 14) + timedelta(days=i)
        for i in range((due.date() - date(2026, 2, 14)).days)
        if is_working_day(date(2026, 2, 14) + timedelta(days=i))
    ]
    assert len(counted) == 5, counted


def test_who_reviews_a_filing() -> None:
    row = {"status": "submitted", "submitted_by": "op"}
    assert check_review("c", COUNTY, row, "accept", "") == "accepted"
    assert check_review("city", CITY, row, "return", "缺消防证明") == "returned"
    for scope in (OPERATOR, TOWNSHIP, ADMIN):
        with pytest.raises(FilingRefused) as err:
            check_review("x", scope, row, "accept", "")
        assert err.value.kind == "forbidden" and err.value.key == "err_filing_review_who"
    with pytest.raises(FilingRefused) as err:
        check_review("op", COUNTY, row, "accept", "")
    assert err.value.key == "err_filing_own"
    with pytest.raises(FilingRefused) as err:
        check_review("c", COUNTY, row, "refuse", "  ")
    assert err.value.key == "err_filing_reasons"
    with pytest.raises(FilingRefused) as err:
        check_review("c", COUNTY, row | {"status": "accepted"}, "refuse", "x")
    assert err.value.kind == "conflict"
    assert filing_number("140902", 2026, 3) == "忻府卫托备〔2026〕3号"


def test_a_facility_without_an_accepted_filing_is_unfiled_and_an_overdue_review_is_the_citys() -> None:
    assert facility_state(None, None) == "unfiled"
    assert facility_state(None, {"status": "refused"}) == "unfiled"
    assert facility_state(None, {"status": "submitted"}) == "submitted"
    assert facility_state({"status": "accepted"}, {"status": "submitted"}) == "filed", "an amendment pending"
    now = datetime(2026, 3, 12, tzinfo=UTC)
    assert review_level({"status": "submitted", "due_at": now + timedelta(seconds=1)}, now) == "county"
    assert review_level({"status": "submitted", "due_at": now}, now) == "city"
    assert review_level({"status": "returned", "due_at": now - timedelta(days=9)}, now) is None


# -- through the pages --------------------------------------------------------------------------------------------
async def particulars(db: asyncpg.Connection, **change: Any) -> str:
    """B's particulars as the registry holds them, changed by `change` (a function of the entry)."""
    entry = await current_entry(db, B.id)
    for fn in change.values():
        fn(entry)
    keep = ("name", "township", "location", "kind", "opening_hours", "night_watch", "classes", "staff", "devices")
    return yaml.safe_dump({k: entry[k] for k in keep}, allow_unicode=True)


async def post(s: aiohttp.ClientSession, url: str, data: dict[str, str]) -> tuple[int, str]:
    async with s.post(url, data=data) as r:
        return r.status, await r.text()


def filing_id(page: str, status: str) -> int:
    m = re.search(rf'data-filing="(\d+)" data-status="{status}"', page)
    assert m is not None, f"no {status} filing on the page"
    return int(m.group(1))


async def judged(db: asyncpg.Connection) -> Any:
    """What the engine and the credit evaluation judge B by: its registry entry as they read it."""
    [f] = (await fetch_registry(db, [B.id])).facilities
    return f


async def test_submit_return_resubmit_accept_with_a_number(
    site: dict[str, object],  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    url = str(site["url"])
    await create_user(db, "county-b", "inspector", "pw-cb", county=B.county, display_name=REVIEWER)
    op, csrf = await _logged_in(url, "oper-b", "pw-b")
    insp, icsrf = await _logged_in(url, "county-b", "pw-cb")
    try:
        page = await (await insp.get(f"{url}/facilities/{B.id}")).text()
        assert 'data-filing-state="unfiled"' in page and "未备案" in page, "shown as 未备案 to its inspectors"
        page = await (await insp.get(f"{url}/filing")).text()
        assert f'data-filing-facility="{B.id}" data-state="unfiled"' in page
        # an existing facility files what the registry says: no particulars file, only the documents
        status, page = await post(op, f"{url}/facilities/{B.id}/filing", {"csrf": csrf} | DOCS)
        assert status == 200 and "备案审核中" in page, page[-2000:]
        fid = filing_id(page, "submitted")
        assert 'data-review="' not in page, "an operator has no review buttons"
        # the county inspector sees it waiting (the badge) and returns it with a reason
        page = await (await insp.get(f"{url}/filing")).text()
        assert re.search(r"data-filing-waiting[^>]*>1<", page), "the county's badge counts the filing"
        status, page = await post(
            insp, f"{url}/filings/{fid}/review", {"csrf": icsrf, "decision": "return", "reasons": "场地证明已过期"}
        )
        assert status == 200 and "场地证明已过期" in page and filing_id(page, "returned") == fid
        # the history names people as every page does, by their name, not their login (a newcomer read
        # "已退回（county-b）"), and keeps to the page's language's brackets
        history = page.split('<ol class="history">', 1)[1].split("</ol>", 1)[0]
        assert f">{REVIEWER}</span>）" in history and "（county-b）" not in history, history
        async with op.get(f"{url}/facilities/{B.id}/filing?lang=en") as r:
            history = (await r.text()).split('<ol class="history">', 1)[1].split("</ol>", 1)[0]
        assert f">{REVIEWER}</span>)" in history and "（" not in history, history
        await (await op.get(f"{url}/facilities/{B.id}/filing?lang=zh")).text()  # the language is a cookie
        # the operator corrects it and submits again; the history keeps both submissions
        # the particulars as downloaded from the page, uploaded back as a file (multipart)
        async with op.get(f"{url}/facilities/{B.id}/filing/particulars.yaml") as r:
            downloaded = await r.text()
            assert r.status == 200 and "classes:" in downloaded and "age_group: infant" in downloaded
        form = aiohttp.FormData({"csrf": csrf} | DOCS | {"doc_site_number": "繁房租赁2026-099"})
        form.add_field("particulars_file", downloaded.encode(), filename="b.yaml", content_type="application/yaml")
        async with op.post(f"{url}/facilities/{B.id}/filing", data=form) as r:
            status, page = r.status, await r.text()
        assert status == 200 and filing_id(page, "submitted") == fid
        status, page = await post(insp, f"{url}/filings/{fid}/review", {"csrf": icsrf, "decision": "accept"})
        assert status == 200 and filing_id(page, "accepted") == fid
        year = datetime.now(ZoneInfo(SH)).year
        number = await db.fetchval("SELECT filing_no FROM filings WHERE id = $1", fid)
        assert number == filing_number(B.county, year, 1) == f"五台卫托备〔{year}〕1号", number
        assert number in page and 'data-state="filed"' in page
        page = await (await insp.get(f"{url}/facilities/{B.id}")).text()
        assert 'data-filing-state="filed"' in page and number in page
        # the public record says filed, with the number, only once a filing is accepted (a newcomer read
        # "已在监管平台登记备案" on a facility that was only in the registry)
        async with aiohttp.ClientSession() as parent:
            filed = await (await parent.get(f"{url}/public/facilities/{B.id}")).text()
            unfiled = await (await parent.get(f"{url}/public/facilities/{A.id}")).text()
        assert re.search(r"data-filing>已备案，备案号 " + re.escape(number), filed), filed
        assert re.search(r"data-filing>未备案<", unfiled), unfiled
    finally:
        await op.close()
        await insp.close()
    steps = [
        r["action"] for r in await db.fetch("SELECT action FROM filing_history WHERE filing_id = $1 ORDER BY id", fid)
    ]
    assert steps == ["submitted", "returned", "resubmitted", "accepted"]
    sites = await db.fetch(
        "SELECT declared->'documents'->'site'->>'number' AS n FROM filing_history WHERE filing_id = $1"
        " AND declared IS NOT NULL ORDER BY id",
        fid,
    )
    assert [r["n"] for r in sites] == ["繁房租赁2026-031", "繁房租赁2026-099"], "each submission kept as submitted"
    audit = {r["action"] for r in await db.fetch("SELECT action FROM audit_log WHERE target = $1", B.id)}
    assert {"filing.submit", "filing.return", "filing.resubmit", "filing.accept"} <= audit


def _raise_capacity_and_drop_the_kitchen(entry: dict[str, Any]) -> None:
    entry["classes"][0]["capacity"] += 1  # 乳儿班 9 → 10: more places
    entry["devices"] = [d for d in entry["devices"] if d.get("room") != "kitchen"]  # no kitchen: no gas detector


async def test_a_change_pending_review_changes_nothing_judged(
    site: dict[str, object],  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    """An amendment that raises the places and drops the kitchen (so no gas detector would be required)
    changes nothing the engine or the credit evaluation reads until someone else accepts it."""
    url = str(site["url"])
    await create_user(db, "county-b", "inspector", "pw-cb", county=B.county)
    before = await judged(db)
    assert "gas_detector_in_kitchen" not in before.missing_equipment() and any(d.in_kitchen for d in before.devices)
    op, csrf = await _logged_in(url, "oper-b", "pw-b")
    insp, icsrf = await _logged_in(url, "county-b", "pw-cb")
    try:
        _, page = await post(
            op, f"{url}/facilities/{B.id}/filing", {"csrf": csrf, "particulars": await particulars(db)} | DOCS
        )
        await post(insp, f"{url}/filings/{filing_id(page, 'submitted')}/review", {"csrf": icsrf, "decision": "accept"})
        accepted = await judged(db)
        changed = await particulars(db, f=_raise_capacity_and_drop_the_kitchen)
        status, page = await post(op, f"{url}/facilities/{B.id}/filing", {"csrf": csrf, "particulars": changed} | DOCS)
        assert status == 200 and "变更备案" in page
        shown = await (await insp.get(f"{url}/facilities/{B.id}/filing")).text()
        assert re.search(r"data-if-accepted>.*托位 \+1.*设备 -4", shown, re.S), "the reviewer sees what it changes"
        amendment = filing_id(page, "submitted")
        pending = await judged(db)
        assert pending == accepted, "a pending amendment changes nothing the engine or the credit reads"
        assert sum(c.capacity for c in pending.classes) == sum(c.capacity for c in before.classes)
        assert any(d.in_kitchen for d in pending.devices) and pending.watch_gaps() == before.watch_gaps()
        page = await (await insp.get(f"{url}/facilities/{B.id}")).text()
        assert 'data-filing-state="filed"' in page, "still filed while the amendment waits"
        # a second amendment cannot be stacked on the pending one
        status, page = await post(op, f"{url}/facilities/{B.id}/filing", {"csrf": csrf, "particulars": changed} | DOCS)
        assert status == 409 and "正在审核" in page
        status, _ = await post(insp, f"{url}/filings/{amendment}/review", {"csrf": icsrf, "decision": "accept"})
        assert status == 200
    finally:
        await op.close()
        await insp.close()
    after = await judged(db)
    assert sum(c.capacity for c in after.classes) == sum(c.capacity for c in before.classes) + 1
    assert not any(d.in_kitchen for d in after.devices), "accepted, the amendment is what is judged"
    assert await db.fetchval("SELECT filing_no FROM filings WHERE id = $1", amendment) is None, "keeps the number"
    assert len((await fetch_registry(db, [B.id])).facilities[0].children) == len(before.children), "children stay"


async def test_the_operator_cannot_review_their_own_filing(
    site: dict[str, object],  # noqa: F811
    db: asyncpg.Connection,
    db_url: str,
) -> None:
    url = str(site["url"])
    op, csrf = await _logged_in(url, "oper-b", "pw-b")
    try:
        _, page = await post(
            op, f"{url}/facilities/{B.id}/filing", {"csrf": csrf, "particulars": await particulars(db)} | DOCS
        )
        fid = filing_id(page, "submitted")
        status, page = await post(op, f"{url}/filings/{fid}/review", {"csrf": csrf, "decision": "accept"})
        assert status == 403 and "县级或市级监管人员" in page
        status, _ = await post(op, f"{url}/facilities/{A.id}/filing", {"csrf": csrf} | DOCS)
        assert status == 404, "another facility's filing is not the operator's to make"
    finally:
        await op.close()
    insp, icsrf = await _logged_in(url, "insp-a", "pw-a")  # another county's inspector: not found
    try:
        status, _ = await post(insp, f"{url}/filings/{fid}/review", {"csrf": icsrf, "decision": "accept"})
        assert status == 404
    finally:
        await insp.close()
    # the database refuses it too, whatever the web's code did: an operator, or the submitter, as reviewer
    web = await asyncpg.connect(as_role(db_url, "web"))
    try:
        for reviewer in ("oper-b", "admin"):
            with pytest.raises(asyncpg.CheckViolationError):
                await web.execute(
                    "UPDATE filings SET status = 'returned', reviewed_by = $2, reviewed_at = now(), reasons = 'x'"
                    " WHERE id = $1",
                    fid,
                    reviewer,
                )
        await create_user(db, "county-b", "inspector", "pw-cb", county=B.county)
        await web.execute(
            "UPDATE filings SET status = 'refused', reviewed_by = 'county-b', reviewed_at = now(), reasons = 'x'"
            " WHERE id = $1",
            fid,
        )
        with pytest.raises(asyncpg.CheckViolationError):  # a decision is final
            await web.execute("UPDATE filings SET status = 'submitted', reviewed_by = NULL WHERE id = $1", fid)
    finally:
        await web.close()
    assert await db.fetchval("SELECT status FROM filings WHERE id = $1", fid) == "refused"


async def test_an_overdue_review_goes_up_to_the_city(
    site: dict[str, object],  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    url = str(site["url"])
    await create_user(db, "city-f", "inspector", "pw-city")
    now = datetime.now(UTC)
    f = await db.fetchrow("SELECT * FROM facilities WHERE id = $1", B.id)
    filed = yaml.safe_load(await particulars(db))
    declared = {"address": "x", "organiser": "y", "documents": {}}
    at = now - timedelta(days=10)
    row = await store.submit(db, f, "initial", filed, declared, "oper-b", at, review_due(at))
    assert row["due_at"] < now
    city, _ = await _logged_in(url, "city-f", "pw-city")
    try:
        page = await (await city.get(f"{url}/filing")).text()
        assert re.search(r"data-filing-waiting[^>]*>1<", page), "the city's badge counts the overdue filing"
        assert "data-overdue" in page and "已报市级督办" in page
        page = await (await city.get(f"{url}/facilities/{B.id}/filing")).text()
        assert f'data-review="{row["id"]}"' in page, "the city may review it itself"
    finally:
        await city.close()
    # not before its deadline: until then it waits for the county only
    earlier = row["due_at"] - timedelta(seconds=1)
    assert await store.waiting_count(db, CITY, "city", earlier) == 0
    assert await store.waiting_count(db, CITY, "city", row["due_at"]) == 1
    assert await store.waiting_count(db, COUNTY, "county", earlier) == 1
    assert await store.waiting_count(db, ADMIN, "city", now) == 0, "an admin reviews none"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"address": ""}, "请填写"),
        ({"doc_fire_safety_until": "2020-01-01"}, "已过有效期"),
        ({"doc_health_evaluation_until": "明年"}, "不是日期"),
        ({"doc_licence_number": ""}, "证明材料编号"),
        ({"particulars": "classes: [unclosed"}, "机构信息有误"),
        ({"particulars": "- a list"}, "机构信息有误"),
        ({"particulars": "id: xz-140902-0001\nname: 别的机构"}, "机构信息有误"),
        ({"particulars": "classes: [{id: infant-1, age_group: infant, capacity: 12}]"}, "乳儿班 ≤ 10"),
        ({"particulars": ""}, "请填写机构信息"),
    ],
)
async def test_bad_input_is_a_400_with_its_reason(
    site: dict[str, object],  # noqa: F811
    db: asyncpg.Connection,
    change: dict[str, str],
    reason: str,
) -> None:
    url = str(site["url"])
    op, csrf = await _logged_in(url, "oper-b", "pw-b")
    try:
        body = {"csrf": csrf, "particulars": await particulars(db)} | DOCS | change
        status, page = await post(op, f"{url}/facilities/{B.id}/filing", body)
        assert status == 400 and reason in page, page[-1500:]
        status, _ = await post(op, f"{url}/filings/999999/review", {"csrf": csrf, "decision": "accept"})
        assert status == 404
    finally:
        await op.close()
    assert await db.fetchval("SELECT count(*) FROM filings") == 0


async def test_a_review_decision_must_be_one_of_three(
    site: dict[str, object],  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    url = str(site["url"])
    await create_user(db, "county-b", "inspector", "pw-cb", county=B.county)
    op, csrf = await _logged_in(url, "oper-b", "pw-b")
    insp, icsrf = await _logged_in(url, "county-b", "pw-cb")
    try:
        _, page = await post(
            op, f"{url}/facilities/{B.id}/filing", {"csrf": csrf, "particulars": await particulars(db)} | DOCS
        )
        fid = filing_id(page, "submitted")
        status, page = await post(insp, f"{url}/filings/{fid}/review", {"csrf": icsrf, "decision": "maybe"})
        assert status == 400 and "请选择" in page
        status, page = await post(insp, f"{url}/filings/{fid}/review", {"csrf": icsrf, "decision": "refuse"})
        assert status == 400 and "须写明理由" in page
        status, _ = await post(
            insp, f"{url}/filings/{fid}/review", {"csrf": icsrf, "decision": "accept", "reasons": "x" * 2001}
        )
        assert status == 400
    finally:
        await op.close()
        await insp.close()
    assert await db.fetchval("SELECT status FROM filings WHERE id = $1", fid) == "submitted"


async def test_a_filing_declared_without_its_documents_still_shows(
    site: dict[str, object],  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    """A filing whose declaration names no documents (an imported one, an older form) is shown with them
    blank, not a 500 (seen on the demo's facility filing page)."""
    url = str(site["url"])
    now = datetime.now(UTC)
    f = await db.fetchrow("SELECT * FROM facilities WHERE id = $1", A.id)
    filed = yaml.safe_load(await particulars(db))
    await store.submit(db, f, "initial", filed, {"address": "x"}, "oper-a", now, review_due(now))
    s, _ = await _logged_in(url, "insp-a", "pw-a")
    try:
        r = await s.get(f"{url}/facilities/{A.id}/filing")
        assert r.status == 200, (await r.text())[-500:]
    finally:
        await s.close()
