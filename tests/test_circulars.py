"""通报, 复查意见书 and 督办通知 (issue #40 items 1 and 4) over real HTTP and TimescaleDB: a signed 复查 prints its
opinion and a 催办 or a 约谈 its 督办通知, each numbered and readable with pdftotext; a county drafts a circular
with its subjects (prefilled from the facts), within its scope only, issues it (numbered, then never changed,
in the database too) and prints it; the facility it names reads it, others do not, and no operator or
township inspector writes one; numbers are never given twice, concurrently or after a deletion."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from contract.inspection import ITEMS
from contract.rules import Condition, Key
from storage.alerts import open_alert
from storage.documents import allocate
from storage.migrate import migrate
from storage.users import create_user
from supervision import circulars as rules
from supervision.documents import number_text, year_of
from supervision.orders import escalate_overdue
from tests.conftest import as_role
from tests.helpers import call
from tests.test_documents import text_of
from tests.test_orders import A, B, _page_session, due, site  # noqa: F401 - `site`: the fixture, by name
from tests.test_upgrade import empty_db  # noqa: F401 - the fixture, by name
from web.i18n import COUNTIES

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
PASSWORDS = {"town": "pw-town", "county": "pw-county", "city": "pw-city", "oper": "pw-oper", "other": "pw-other"}
PASSWORDS |= {"oper_b": "pw-oper-b"}


def _flat(text: str) -> str:
    """pdftotext's text without its layout: a line broken in a number or a name reads whole again."""
    return re.sub(r"\s+", "", text)


def _ago(**delta: float) -> datetime:
    """On the clock the app runs on (the test's: a year ahead under faketime too), not the database's."""
    return datetime.now(UTC) - timedelta(**delta)


def _day(days: int) -> str:
    return (datetime.now(UTC) + timedelta(hours=8, days=days)).date().isoformat()


async def _session(url: str, who: str) -> tuple[aiohttp.ClientSession, str]:
    return await _page_session(url, who, PASSWORDS[who])


async def _pdf(url: str, token: str, path: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        r = await s.get(f"{url}{path}", allow_redirects=False)
        return r.status, await r.read()


async def _sign(site: dict[str, Any], iid: int, failing: str | None) -> None:  # noqa: F811 - the fixture's value
    """The township's inspector records the 复查 (one item failing, or none) naming the county's as the second
    officer, who confirms it."""
    findings = {
        c: {"result": "fail" if c == failing else "pass", "note": "仍未整改" if c == failing else ""} for c in ITEMS
    }
    body = {"findings": findings, "notes": "复查门锁", "sign": True, "second_inspector": "county"}
    ok, signed = await call("POST", f"{site['url']}/api/v1/inspections/{iid}/record", site["town"], body)
    assert ok == 200 and signed["status"] == "countersign", signed
    ok, signed = await call("POST", f"{site['url']}/api/v1/inspections/{iid}/countersign", site["county"])
    assert ok == 200 and signed["status"] == "signed", signed


async def test_a_signed_recheck_prints_its_opinion_numbered(
    site: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    url = site["url"]
    year = year_of(datetime.now(UTC))
    _, order = await call(
        "POST", f"{url}/api/v1/facilities/{A.id}/orders", site["town"], {"title": "安全出口上锁", "due_at": due(3)}
    )
    oid = order["id"]
    await call("POST", f"{url}/api/v1/orders/{oid}/answer", site["oper"], {"note": "已拆除门锁"})
    ok, o = await call("POST", f"{url}/api/v1/orders/{oid}/recheck", site["town"], {"planned_for": _day(2)})
    assert ok == 200, o
    iid = o["recheck"]["inspection_id"]
    status, _ = await _pdf(url, site["town"], f"/inspections/{iid}/recheck.pdf")
    assert status == 409, "printed once signed"
    failing = "exits"
    await _sign(site, iid, failing)
    number = number_text(A.township, "recheck", year, 1)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {site['oper']}"}) as s:
        page = await (await s.get(f"{url}/inspections/{iid}")).text()
    assert f'href="/inspections/{iid}/recheck.pdf' in page, "the 复查's page links its opinion"
    status, pdf = await _pdf(url, site["oper"], f"/inspections/{iid}/recheck.pdf")
    assert status == 200
    text = text_of(pdf, tmp_path)
    order_no = number_text(A.township, "order", year, 1)
    record_no = number_text(A.township, "inspection", year, 1)
    for wanted in ("复查意见书", number, order_no, record_no, A.name, "未整改到位", ITEMS[failing].zh, "仍未整改"):
        assert _flat(wanted) in _flat(text), (wanted, text)
    assert "被检查单位负责人（签名）" in text and "检查人员（签名）" in text
    for who in ("other", "oper_b"):
        assert (await _pdf(url, site[who], f"/inspections/{iid}/recheck.pdf"))[0] == 404, who
    # an inspection that is no 复查 has no opinion
    _, plain = await call("POST", f"{url}/api/v1/facilities/{A.id}/inspections", site["town"], {"planned_for": _day(1)})
    assert (await _pdf(url, site["town"], f"/inspections/{plain['id']}/recheck.pdf"))[0] == 404


async def test_an_urge_and_a_summons_print_their_supervision_notices(
    site: dict[str, Any],  # noqa: F811
    db: asyncpg.Connection,
    tmp_path: Path,
) -> None:
    url = site["url"]
    year = year_of(datetime.now(UTC))
    _, order = await call(
        "POST", f"{url}/api/v1/facilities/{A.id}/orders", site["town"], {"title": "灭火器过期", "due_at": due(3)}
    )
    oid = order["id"]
    await db.execute("UPDATE rectification_orders SET due_at = $2 WHERE id = $1", oid, _ago(days=2))
    s, csrf = await _session(url, "county")
    try:
        r = await s.post(f"{url}/orders/{oid}/urge", data={"csrf": csrf, "note": "请三日内督促机构更换灭火器"})
        assert r.status == 200, await r.text()
    finally:
        await s.close()
    s, csrf = await _session(url, "city")
    try:
        data = {"csrf": csrf, "held_on": _day(1), "people": "乡镇分管负责人", "minutes": "约谈乡镇，要求限期整改"}
        r = await s.post(f"{url}/orders/{oid}/summons", data=data)
        assert r.status == 200, await r.text()
        page = await (await s.get(f"{url}/orders/{oid}")).text()
    finally:
        await s.close()
    _, o = await call("GET", f"{url}/api/v1/orders/{oid}", site["city"])
    steps = {h["action"]: h["id"] for h in o["history"]}
    assert f'href="/orders/{oid}/steps/{steps["urged"]}.pdf' in page, "the order's page links each notice"
    status, pdf = await _pdf(url, site["county"], f"/orders/{oid}/steps/{steps['urged']}.pdf")
    assert status == 200
    text = text_of(pdf, tmp_path)
    urged_no = number_text(A.county, "supervision", year, 1)
    order_no = number_text(A.township, "order", year, 1)
    for wanted in ("督办通知", urged_no, order_no, A.name, "灭火器过期", "请三日内督促机构更换灭火器", "逾期未整改"):
        assert _flat(wanted) in _flat(text), (wanted, text)
    assert "催办" in text and "承办部门（签收）" in text
    status, pdf = await _pdf(url, site["city"], f"/orders/{oid}/steps/{steps['summoned']}.pdf")
    text = text_of(pdf, tmp_path)
    for wanted in ("督办通知", number_text("city", "supervision", year, 1), "乡镇分管负责人", "约谈乡镇，要求限期整改"):
        assert _flat(wanted) in _flat(text), (wanted, text)
    # only a 督办 step prints a notice; outside the scope nothing does
    assert (await _pdf(url, site["city"], f"/orders/{oid}/steps/{steps['issued']}.pdf"))[0] == 404
    assert (await _pdf(url, site["other"], f"/orders/{oid}/steps/{steps['urged']}.pdf"))[0] == 404


def _circular_id(r: aiohttp.ClientResponse) -> int:
    m = re.search(r"/circulars/(\d+)$", str(r.url))
    assert m, (r.status, str(r.url))
    return int(m.group(1))


async def _draft(
    s: aiohttp.ClientSession, url: str, csrf: str, subjects: list[tuple[str, str]], **form: str
) -> aiohttp.ClientResponse:
    data = aiohttp.FormData()
    fields = {
        "csrf": csrf,
        "title": "关于部分托育机构整改逾期的通报",
        "kind": "criticise",
        "body": "现将有关情况通报如下。",
    }
    for k, v in (fields | form).items():
        data.add_field(k, v)
    for subject, statement in subjects:
        data.add_field("subject", subject)
        data.add_field("statement", statement)
    return await s.post(f"{url}/circulars", data=data)


async def test_a_county_drafts_issues_and_prints_a_circular_within_its_scope(
    site: dict[str, Any],  # noqa: F811
    db: asyncpg.Connection,
    tmp_path: Path,
) -> None:
    url = site["url"]
    year = year_of(datetime.now(UTC))
    _, order = await call(
        "POST", f"{url}/api/v1/facilities/{A.id}/orders", site["town"], {"title": "安全出口上锁", "due_at": due(3)}
    )
    await db.execute("UPDATE rectification_orders SET due_at = $2 WHERE id = $1", order["id"], _ago(days=3))
    assert len(await escalate_overdue(db, datetime.now(UTC))) == 1, "overdue: on the county's 督办 list"
    for rule, start, end in (
        ("guard_absent", 5, 2),
        ("guard_absent", 31 * 24 + 5, 31 * 24),
        ("device_offline", 1.5, 1),
    ):
        await db.execute(
            "INSERT INTO lapse_intervals (facility_id, rule, started_at, ended_at) VALUES ($1, $2, $3, $4)",
            A.id,
            rule,
            _ago(hours=start),
            _ago(hours=end),
        )
    # a fire alarm this week and one of 40 days ago: the facility's alerts of the last 30 days are drafted too
    for days in (2, 40):
        fire = Condition("critical", "火警", "fire")
        await open_alert(db, A.id, Key("fire_alarm", f"smoke-{days}"), fire, _ago(days=days))
    s, csrf = await _session(url, "county")
    try:
        # prefilled from the links of the 督办 list and the assessment, the statements drafted from the facts
        r = await s.get(
            f"{url}/circulars/new", params=[("subject", f"facility:{A.id}"), ("subject", f"area:{A.township}")]
        )
        page = await r.text()
        assert r.status == 200, page
        assert "安全出口上锁" in page and "逾期" in page and A.name in page
        assert "逾期未整改的整改通知1份" in page, "the township's facts"
        assert "近30天安全监测失效累计3.5小时" in page, "the facility's lapses of the last 30 days, not before"
        assert re.search("近30天告警[0-9]+条（[^）]*火灾报警 1[；，]", page), re.findall("近30天[^<]{0,120}", page)
        for bad, status in ((f"facility:{B.id}", 400), (f"area:{B.county}", 403), ("nonsense", 400)):
            r = await s.get(f"{url}/circulars/new", params={"subject": bad})
            assert r.status == status, (bad, r.status)
        orders_page = await (await s.get(f"{url}/orders")).text()
        assert f'href="/circulars/new?subject=facility:{A.id}"' in orders_page, "the 督办 list links a circular"
        # refused: outside the scope, the form keeps what was typed
        r = await _draft(s, url, csrf, [(f"facility:{B.id}", "")], title="保留的标题")
        assert r.status == 400 and "保留的标题" in await r.text()
        r = await _draft(s, url, csrf, [(f"facility:{A.id}", ""), (f"area:{A.township}", "该乡镇督促不力。")])
        assert r.status == 200, await r.text()
        cid = _circular_id(r)
        page = await r.text()
        assert "安全出口上锁" in page, "a subject without a statement gets one drafted from the facts"
        # the operator does not read a draft; nobody but the county's writers edits it
        assert (await _pdf(url, site["oper"], f"/circulars/{cid}"))[0] == 404
        r = await s.post(f"{url}/circulars/{cid}/issue", data={"csrf": csrf})
        assert r.status == 200
        page = await r.text()
        number = number_text(A.county, "circular", year, 1)
        assert number in page and 'data-circular-status="issued"' in page
        r = await _draft(s, url, csrf, [(f"facility:{A.id}", "改")])
        assert r.status == 200
        data = {"csrf": csrf, "title": "改过的标题", "kind": "report", "body": "", "subject": f"facility:{A.id}"}
        r = await s.post(f"{url}/circulars/{cid}", data=data)
        assert r.status == 409, "issued: it never changes"
    finally:
        await s.close()
    status, pdf = await _pdf(url, site["oper"], f"/circulars/{cid}.pdf")
    assert status == 200, "the facility it names reads it"
    text = text_of(pdf, tmp_path)
    for wanted in ("关于部分托育机构整改逾期的通报", number, "通报批评", A.name, "安全出口上锁", "该乡镇督促不力"):
        assert _flat(wanted) in _flat(text), (wanted, text)
    status, pdf = await _pdf(url, site["oper"], f"/circulars/{cid}.pdf?lang=en")
    assert status == 200 and "criticism" in text_of(pdf, tmp_path) and number in _flat(text_of(pdf, tmp_path))
    for who in ("oper_b", "other"):
        assert (await _pdf(url, site[who], f"/circulars/{cid}"))[0] == 404, who
        assert (await _pdf(url, site[who], f"/circulars/{cid}.pdf"))[0] == 404, who
    assert (await _pdf(url, site["town"], f"/circulars/{cid}"))[0] == 200, "it names the township"
    # neither an operator nor a township inspector drafts one
    for who in ("oper", "town"):
        s, csrf = await _session(url, who)
        try:
            assert (await s.get(f"{url}/circulars/new")).status == 403, who
            assert (await _draft(s, url, csrf, [(f"facility:{A.id}", "好")])).status == 403, who
        finally:
            await s.close()


async def test_the_database_holds_who_writes_and_that_an_issued_circular_never_changes(
    site: dict[str, Any],  # noqa: F811
    db_url: str,
) -> None:
    url = site["url"]
    s, csrf = await _session(url, "county")
    try:
        cid = _circular_id(await _draft(s, url, csrf, [(f"facility:{A.id}", "表扬")], kind="commend"))
        draft = _circular_id(await _draft(s, url, csrf, [(f"facility:{A.id}", "草稿")]))
        assert (await s.post(f"{url}/circulars/{cid}/issue", data={"csrf": csrf})).status == 200
    finally:
        await s.close()
    web = await asyncpg.connect(as_role(db_url, "web"))  # what the web's own role could do, bypassing its checks
    try:
        attempts = {
            "an operator drafts": (
                "INSERT INTO circulars (department, kind, title, body, drafted_by, drafted_at, updated_by, updated_at)"
                f" VALUES ('{A.county}', 'commend', '自我表扬', '', 'oper', now(), 'oper', now())"
            ),
            "a township inspector drafts": (
                "INSERT INTO circulars (department, kind, title, body, drafted_by, drafted_at, updated_by, updated_at)"
                f" VALUES ('{A.county}', 'commend', '乡镇通报', '', 'town', now(), 'town', now())"
            ),
            "an operator edits a draft": f"UPDATE circulars SET title = '表扬', updated_by = 'oper' WHERE id = {draft}",
            "an issued one is rewritten": f"UPDATE circulars SET title = '改', updated_by = 'county' WHERE id = {cid}",
            "an issued one made public": f"UPDATE circulars SET public = true, updated_by = 'county' WHERE id = {cid}",
            "an issued one's subject removed": f"DELETE FROM circular_subjects WHERE circular_id = {cid}",
            "an issued one gets a subject": (
                "INSERT INTO circular_subjects (circular_id, position, area, statement)"
                f" VALUES ({cid}, 9, '{A.township}', 'x')"
            ),
            "a county names another county's facility": (
                "INSERT INTO circular_subjects (circular_id, position, facility_id, statement)"
                f" VALUES ({draft}, 5, '{B.id}', 'x')"
            ),
            "an issued one deleted": f"DELETE FROM circulars WHERE id = {cid}",
        }
        refused = {}
        for name, sql in attempts.items():
            try:
                await web.execute(sql)
            except (asyncpg.CheckViolationError, asyncpg.InsufficientPrivilegeError) as err:
                refused[name] = type(err).__name__
        assert set(refused) == set(attempts), set(attempts) - set(refused)
        assert await web.fetchval("SELECT title FROM circulars WHERE id = $1", cid) == "关于部分托育机构整改逾期的通报"
    finally:
        await web.close()


async def test_numbers_are_never_given_twice_concurrently_or_after_a_deletion(
    site: dict[str, Any],  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    url = site["url"]
    year = year_of(datetime.now(UTC))
    n = 6
    s, csrf = await _session(url, "county")
    try:
        ids = [_circular_id(await _draft(s, url, csrf, [(f"facility:{A.id}", f"第{i}份")])) for i in range(n)]
        answers = await asyncio.gather(*(s.post(f"{url}/circulars/{cid}/issue", data={"csrf": csrf}) for cid in ids))
        assert [r.status for r in answers] == [200] * n
    finally:
        await s.close()
    rows = await db.fetch("SELECT seq, circular_id FROM document_numbers WHERE kind = 'circular' ORDER BY seq")
    assert [r["seq"] for r in rows] == list(range(1, n + 1)) and {r["circular_id"] for r in rows} == set(ids)
    await db.execute("DELETE FROM circulars WHERE id = $1", ids[-1])  # by the owner: its number stays taken
    s, csrf = await _session(url, "county")
    try:
        cid = _circular_id(await _draft(s, url, csrf, [(f"facility:{A.id}", "再一份")]))
        page = await (await s.post(f"{url}/circulars/{cid}/issue", data={"csrf": csrf})).text()
    finally:
        await s.close()
    assert number_text(A.county, "circular", year, n + 1) in page
    # the city numbers its own, from 1
    city, csrf = await _session(url, "city")
    try:
        r = await _draft(city, url, csrf, [(f"area:{A.county}", "全县整改逾期较多。")])
        page = await (await city.post(f"{url}/circulars/{_circular_id(r)}/issue", data={"csrf": csrf})).text()
    finally:
        await city.close()
    assert number_text("city", "circular", year, 1) in page and "忻卫托通〔" in page


async def test_a_public_circular_naming_a_person_is_refused(
    site: dict[str, Any],  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    url = site["url"]
    await create_user(db, "named", "inspector", "pw-named", county=A.county)
    await db.execute("UPDATE users SET display_name = '王秘密' WHERE username = 'named'")
    s, csrf = await _session(url, "county")
    try:
        for said in ("负责人王秘密未到场", "联系电话13912345678", "身份证140902199001015678"):
            cid = _circular_id(await _draft(s, url, csrf, [(f"facility:{A.id}", said)], public="1"))
            r = await s.post(f"{url}/circulars/{cid}/issue", data={"csrf": csrf})
            assert r.status == 400 and "个人信息" in await r.text(), said
        cid = _circular_id(await _draft(s, url, csrf, [(f"facility:{A.id}", "整改及时，予以表扬。")], public="1"))
        assert (await s.post(f"{url}/circulars/{cid}/issue", data={"csrf": csrf})).status == 200
    finally:
        await s.close()
    async with aiohttp.ClientSession() as anon:
        listing = await (await anon.get(f"{url}/public?county={A.county}")).text()
        assert f'data-public-circular="{cid}"' in listing
        r = await anon.get(f"{url}/public/circulars/{cid}")
        assert r.status == 200 and "整改及时，予以表扬。" in await r.text()
        refused = cid - 1  # drafted, never issued
        assert (await anon.get(f"{url}/public/circulars/{refused}")).status == 404


async def test_a_circular_at_its_limits_is_taken_and_one_beyond_them_refused_with_the_text_kept(
    site: dict[str, Any],  # noqa: F811
) -> None:
    """The form at the rules' limits (every character Chinese, percent-encoded) fits its route's body limit;
    beyond them it is refused with the reason, the typed text kept. (Over 256 KiB: the default limit refused
    it with a 413 before the circulars' routes had their own.)"""
    url = site["url"]
    areas = rules.lower_departments("city", COUNTIES)[: rules.SUBJECTS_MAX]
    full = [(f"area:{a}", "整" * rules.STATEMENT_MAX) for a in areas]
    s, csrf = await _session(url, "city")
    try:
        r = await _draft(s, url, csrf, full, title="通" * rules.TITLE_MAX, body="文" * rules.BODY_MAX)
        assert r.status == 200, (r.status, len(areas))
        cid = _circular_id(r)
        r = await _draft(s, url, csrf, [(f"facility:{A.id}", "超" * (rules.STATEMENT_MAX + 1))], title="保留的标题")
        page = await r.text()
        assert r.status == 400 and "保留的标题" in page and f"不超过 {rules.STATEMENT_MAX} 个字" in page
    finally:
        await s.close()
    assert cid and len(areas) == rules.SUBJECTS_MAX


async def test_migration_039_numbers_the_rechecks_and_supervision_steps_before_it(empty_db: str) -> None:  # noqa: F811
    """A 复查 signed and a 催办 taken before migration 039 get their numbers from it, in the order they happened,
    and the sequences go on from there."""
    conn = await asyncpg.connect(empty_db)
    try:
        await migrate(conn, upto=37)
        await conn.execute(
            "INSERT INTO facilities (id, name, county, township, kind, open_days, open_time, close_time)"
            " VALUES ('fac-1', '托育1', '140902', '140902001', 'nursery', ARRAY['mon'], '07:30', '17:30')"
        )
        at = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
        oid = await conn.fetchval(
            "INSERT INTO rectification_orders (facility_id, source, title, detail, due_at, first_due_at, issued_by,"
            " issued_level, supervision_level, issued_at) VALUES ('fac-1', 'manual', '灭火器', '', $1, $1, 'town',"
            " 'township', 'county', $1) RETURNING id",
            at,
        )
        for n, by in enumerate(("county", "city", "county")):
            await conn.execute(
                "INSERT INTO rectification_history (order_id, actor, action, note, detail, at)"
                " VALUES ($1, 'x', 'urged', '催', $2, $3)",
                oid,
                json.dumps({"by_level": by}),
                at + timedelta(days=n + 1),
            )
        iid = await conn.fetchval(
            "INSERT INTO inspections (facility_id, kind, planned_for, planned_by, level, status, inspected_at,"
            " signed_by, second_inspector, countersigned_by, countersigned_at)"
            " VALUES ('fac-1', 'visit', '2026-03-05', 'town', 'township', 'signed', $1, 'town', 'county', 'county', $1)"
            " RETURNING id",
            at + timedelta(days=3),
        )
        await conn.execute(
            "INSERT INTO order_rechecks (order_id, inspection_id, planned_by, planned_at) VALUES ($1, $2, 'town', $3)",
            oid,
            iid,
            at,
        )
        await migrate(conn)
        rows = await conn.fetch(
            "SELECT department, kind, year, seq FROM document_numbers WHERE kind IN ('recheck', 'supervision')"
            " ORDER BY kind, department, seq"
        )
        assert [tuple(r) for r in rows] == [
            ("140902001", "recheck", 2026, 1),
            ("140902", "supervision", 2026, 1),
            ("140902", "supervision", 2026, 2),
            ("city", "supervision", 2026, 1),
        ]
        n = await allocate(conn, "140902", "supervision", 2026, at, of=None)
        assert n.seq == 3, "the sequence goes on after the numbers given"
    finally:
        await conn.close()


def test_a_notice_urged_before_the_due_date_never_says_the_order_is_overdue() -> None:
    """A 催办 may come before an order is late (a newcomer's demo: urged at 15:26, due the next day at 09:00):
    the order's state at that step is not late, so its 督办通知 says when it is due, not 自…起逾期未整改; one
    urged after the due date is late since it."""
    from supervision.documents import order_state_at

    issued, due = datetime(2026, 12, 8, 1, 0, tzinfo=UTC), datetime(2026, 12, 9, 1, 0, tzinfo=UTC)
    history = [
        {"id": 1, "action": "issued", "at": issued.isoformat(), "detail": {"due_at": due.isoformat()}},
        {"id": 2, "action": "urged", "at": (due - timedelta(hours=17)).isoformat(), "detail": {}},
        {"id": 3, "action": "urged", "at": (due + timedelta(hours=2)).isoformat(), "detail": {}},
    ]
    early = order_state_at(history, 2, due)
    assert (early.status, early.since, early.whose, early.due_at) == ("issued", None, None, due)
    late = order_state_at(history, 3, due)
    assert (late.since, late.whose) == (due, "answer")
