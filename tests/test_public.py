"""The public page and parents' complaints (issue #40 item 7) over real HTTP: every public response in both
languages carries none of the personal data seeded around it; a complaint filed by an anonymous parent
reaches the county (with its contact), is answered, and the parent reads the answer with the code; overdue,
it reaches the city; the facility's operator neither reads the contact nor takes a step; the database keeps
what was filed and every step as it is; bad input is a 4xx with its reason; the page is limited per address."""

from __future__ import annotations

import html
import json
import re
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from contract.clock import SYSTEM, Clock, ScaledClock
from contract.rules import Condition, Key
from storage import public as public_store
from storage.alerts import open_alert
from storage.registry import load_registry
from storage.users import Scope, create_user
from supervision import complaints as rules
from tests.conftest import as_role
from tests.test_i18n import visible_text
from tests.test_web import REG, A, B
from web.app import create_app
from web.ratelimit import RateLimit

SH = ZoneInfo("Asia/Shanghai")
# Distinctive personal values seeded into the registry, the register of people, an order's free text, a
# pick-up delegate and a complaint: none may appear on any public page or in the complaint's follow-up.
CHILD_ID = "kid-zhangxiaoming-7q"
GUARDIAN_ID = "gdn-wangdaming-7q"
STAFF_ID = "staff-zhaosecret-7q"
DEVICE_ID = "dev-secret-cam-7q"
STAFF_NAME = "赵秘密员工"
ID_MASKED = "1409**********567X"
ID_NUMBER = "140902199001015678"
ORDER_NAME = "钱秘密保育员"
DELEGATE_NAME = "孙秘密代接人"
DELEGATE_PHONE = "13711112222"
PHONE = "13987654321"
WHAT = "孩子在午睡时被锁在寝室里，家长李秘密发现"
INSPECTOR_NAME = "周秘密监管员"  # who drafted and issued a public circular (通报): never on a public page
CIRCULAR_TITLE = "关于托育机构消防整改情况的通报"
SECRETS = (
    CHILD_ID,
    GUARDIAN_ID,
    STAFF_ID,
    DEVICE_ID,
    STAFF_NAME,
    ID_MASKED,
    ID_NUMBER,
    ORDER_NAME,
    DELEGATE_NAME,
    DELEGATE_PHONE,
    PHONE,
    WHAT,
    INSPECTOR_NAME,
    "insp-a",
    "李秘密",
    "smoke-kitchen",
    "cam-entrance",
    "panic-office",
)
ANSWER = "经县卫健局现场核查，已责令机构整改寝室门锁，并将复查。"


def _app(db_url: str, clock: Clock = SYSTEM, **limits: Any) -> TestServer:
    app = create_app(as_role(db_url, "web"), secrets.token_bytes(32), clock=clock, **limits)
    return TestServer(app, host="127.0.0.1")


async def _seed(db: asyncpg.Connection) -> None:
    """The registry, with a child, a guardian, a staff member and a device of distinctive ids; a person with
    a name and a masked identity number; an accepted order whose title and detail name people; a pick-up
    delegate; the grades of last month (closed) and of the running month; an alert naming a staff member."""
    await load_registry(db, REG)
    cls = A.classes[0].id
    await db.execute("INSERT INTO children (facility_id, id, class_id) VALUES ($1, $2, $3)", A.id, CHILD_ID, cls)
    await db.execute(
        "INSERT INTO guardians (facility_id, child_id, guardian_id) VALUES ($1, $2, $3)", A.id, CHILD_ID, GUARDIAN_ID
    )
    key = "p-" + "7" * 32
    await db.execute(
        "INSERT INTO people (key, name, id_masked, updated_at) VALUES ($1, $2, $3, now())", key, STAFF_NAME, ID_MASKED
    )
    await db.execute(
        "INSERT INTO staff (facility_id, id, role, person_key) VALUES ($1, $2, 'caregiver', $3)", A.id, STAFF_ID, key
    )
    await db.execute("INSERT INTO devices (facility_id, id, type) VALUES ($1, $2, 'camera')", A.id, DEVICE_ID)
    now = datetime.now(UTC)
    oid = await db.fetchval(
        "INSERT INTO rectification_orders (facility_id, source, title, detail, due_at, first_due_at, issued_by,"
        " issued_level, supervision_level, issued_at, status, closed_at, closed_by)"
        " VALUES ($1, 'manual', $2, $3, $4, $4, 'insp-a', 'county', 'county', $5, 'accepted', $6, 'insp-a')"
        " RETURNING id",
        A.id,
        f"{ORDER_NAME}无证上岗",
        f"身份证号{ID_NUMBER}，员工{STAFF_ID}",
        now - timedelta(days=20),
        now - timedelta(days=30),
        now - timedelta(days=10),
    )
    assert oid
    await db.execute(
        "INSERT INTO pickup_delegates (facility_id, child_id, person_id, name, relation, kind, valid_from, valid_until,"
        " consent_by, consent_method, consent_at, consent_note, created_by, created_at)"
        " VALUES ($1, $2, 'card-77', $3, 'relative', 'standing', $4, $5, $6, 'note', $4, $7, 'oper-a', $4)",
        A.id,
        CHILD_ID,
        DELEGATE_NAME,
        now - timedelta(days=1),
        now + timedelta(days=30),
        GUARDIAN_ID,
        f"电话{DELEGATE_PHONE}",
    )
    running = now.astimezone(SH).date().replace(day=1)
    closed = (running - timedelta(days=1)).replace(day=1)
    for month, grade in ((closed, "B"), (running, "D")):
        await db.execute(
            "INSERT INTO credit_records (facility_id, month, score, grade, figures, method)"
            " VALUES ($1, $2, 80, $3, '{}', 'test')",
            A.id,
            month,
            grade,
        )
    await open_alert(
        db, A.id, Key("fire_alarm", DEVICE_ID), Condition("critical", f"{STAFF_NAME}按下报警", "panic"), now
    )


@pytest.fixture
async def public_site(db: asyncpg.Connection, db_url: str) -> AsyncIterator[dict[str, Any]]:
    await _seed(db)
    await create_user(db, "insp-a", "inspector", "pw-a", county=A.county)
    await create_user(db, "town-a", "inspector", "pw-ta", county=A.county, township=A.township)
    await create_user(db, "city", "inspector", "pw-c")
    await create_user(db, "oper-a", "operator", "pw-oa", facility=A.id)
    server = _app(db_url, complaint_limit=None, public_limit=None)  # the limits' own tests are below
    await server.start_server()
    try:
        yield {"url": str(server.make_url("")).rstrip("/"), "db_url": db_url}
    finally:
        await server.close()


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


async def _logged_in(url: str, username: str, password: str) -> aiohttp.ClientSession:
    s = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    page = await (await s.get(f"{url}/login")).text()
    r = await s.post(f"{url}/login", data={"username": username, "password": password, "csrf": _csrf(page)})
    assert r.status == 200 and "/login" not in str(r.url)
    return s


async def _page_csrf(s: aiohttp.ClientSession, url: str) -> str:
    return _csrf(await (await s.get(url)).text())


async def _file(s: aiohttp.ClientSession, url: str, facility: str = A.id, **form: str) -> aiohttp.ClientResponse:
    csrf = await _page_csrf(s, f"{url}/public/facilities/{facility}")
    today = datetime.now(SH).date().isoformat()
    data = {"what": WHAT, "happened_on": today, "contact": PHONE} | form
    return await s.post(f"{url}/public/facilities/{facility}/complaints", data=data | {"csrf": csrf})


def _code(page: str) -> str:
    return re.search(r"data-complaint-code>([A-Z0-9]+)<", page).group(1)  # type: ignore[union-attr]


async def _follow(s: aiohttp.ClientSession, url: str, code: str, lang: str = "zh") -> tuple[int, str]:
    csrf = await _page_csrf(s, f"{url}/public/complaints?lang={lang}")
    r = await s.post(f"{url}/public/complaints?lang={lang}", data={"csrf": csrf, "code": code})
    return r.status, await r.text()


def _anonymous() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def _complaint_id(db: asyncpg.Connection) -> int:
    cid: int = await db.fetchval("SELECT max(id) FROM complaints")
    return cid


async def _step(s: aiohttp.ClientSession, url: str, cid: int, step: str, text: str = "") -> aiohttp.ClientResponse:
    csrf = await _page_csrf(s, f"{url}/complaints")
    return await s.post(
        f"{url}/complaints/{cid}", data={"csrf": csrf, "step": step, "text": text}, allow_redirects=False
    )


async def test_no_public_response_carries_personal_data(public_site: dict[str, Any], db: asyncpg.Connection) -> None:
    """Every public URL, in Chinese and in English, and the complaint's filing and follow-up: the seeded
    names, ids, identity numbers, phones and the complaint's own text appear in none; what the record is for
    (the facility, its places, the closed month's grade, the closed order's kind and dates) does, and the
    running month's grade does not."""
    url = public_site["url"]
    bodies: dict[str, str] = {}
    async with _anonymous() as s:
        r = await _file(s, url)
        assert r.status == 200, await r.text()
        filed = await r.text()
        assert r.headers["Cache-Control"] == "no-store"
        code = _code(filed)
        bodies["filed"] = filed
        bad = await _file(s, url, what="短")  # refused: the form again, without the contact typed
        assert bad.status == 400
        bodies["refused"] = await bad.text()
    insp = await _logged_in(url, "insp-a", "pw-a")
    try:
        cid = await _complaint_id(db)
        assert (await _step(insp, url, cid, "answer", ANSWER)).status == 302
        circular = await _public_circular(insp, url, db)
    finally:
        await insp.close()
    paths = [
        "/public",
        f"/public?county={A.county}",
        f"/public?county={A.county}&township={A.township}",
        f"/public/facilities/{A.id}",
        f"/public/facilities/{B.id}",
        "/public/complaints",
        "/public/facilities/no-such-facility",
        f"/public/circulars/{circular}",
        f"/public/circulars/{circular + 1}",  # drafted public, refused (it named a person): not published
        "/api/v1/public/circulars",  # the same for programs (web/circulars_api.py)
        f"/api/v1/public/circulars/{circular}",
        f"/api/v1/public/circulars/{circular + 1}",
    ]
    async with _anonymous() as s:
        for lang in ("zh", "en"):
            for path in paths:
                sep = "&" if "?" in path else "?"
                async with s.get(f"{url}{path}{sep}lang={lang}") as r:
                    assert r.status in {200, 404}, (path, r.status)
                    body = await r.text()
                    if r.content_type == "application/json":  # as read, not \uXXXX-escaped: the grep sees names
                        body = json.dumps(json.loads(body), ensure_ascii=False)
                    bodies[f"{lang} {path}"] = body
            status, bodies[f"{lang} follow"] = await _follow(s, url, code, lang)
            assert status == 200
            status, bodies[f"{lang} follow unknown"] = await _follow(s, url, "NOSUCHCODE234567", lang)
            assert status == 404 and ("没有与该查询码对应的投诉" in bodies[f"{lang} follow unknown"] or lang == "en")
    leaks = [(name, v) for name, body in bodies.items() for v in SECRETS if v in body]
    assert leaks == [], f"personal data on public pages: {leaks}"
    record = bodies[f"zh /public/facilities/{A.id}"]
    assert A.name in record and A.name in bodies[f"zh /public?county={A.county}"]
    assert f'data-places="{sum(c.capacity for c in A.classes)}"' in record
    running = datetime.now(SH).date().replace(day=1)
    closed = (running - timedelta(days=1)).replace(day=1)
    assert f'data-grade-month="{closed}"' in record and f'data-grade-month="{running}"' not in record
    assert 'class="grade gD"' not in record, "the running month's grade is never published"
    assert record.count("data-closed-order") == 1 and "人工下发" in record
    assert "data-filing>未备案<" in record and "English" in record  # the language switch, for anonymous readers
    assert CIRCULAR_TITLE in bodies["zh /public"] and CIRCULAR_TITLE in bodies[f"zh /public/circulars/{circular}"]
    assert CIRCULAR_TITLE in bodies[f"zh /api/v1/public/circulars/{circular}"]
    assert CIRCULAR_TITLE in bodies["zh /api/v1/public/circulars"]
    assert (
        "整改及时" in bodies[f"zh /public/circulars/{circular}"]
        and A.name in bodies[f"zh /public/circulars/{circular}"]
    )
    for name, body in bodies.items():  # people's pages: no facility id as text, no UTC time, no escaped markup
        if " /api/" in name:  # the API's JSON names facilities by id and times in RFC 3339, as all of it does
            continue
        assert A.id not in visible_text(body) and "+00:00" not in body and "&lt;time" not in body, name
    assert ANSWER in bodies["zh follow"] and "已答复" in bodies["zh follow"] and "answered" in bodies["en follow"]
    assert code not in bodies["zh follow"], "the code is shown once, at filing"


async def _public_circular(s: aiohttp.ClientSession, url: str, db: asyncpg.Connection) -> int:
    """A public 通报 drafted and issued by the county's inspector (with a distinctive display name), and a
    second one refused at issue: it names a member of staff."""
    await db.execute("UPDATE users SET display_name = $1 WHERE username = 'insp-a'", INSPECTOR_NAME)
    ids = []
    for said in ("整改及时，予以表扬。", f"{STAFF_NAME}无证上岗"):
        form = {"csrf": await _page_csrf(s, f"{url}/circulars/new"), "title": CIRCULAR_TITLE, "kind": "report"}
        form |= {"body": "现将检查情况通报如下。", "public": "1", "subject": f"facility:{A.id}", "statement": said}
        r = await s.post(f"{url}/circulars", data=form)
        assert r.status == 200, await r.text()
        ids.append(int(str(r.url).rsplit("/", 1)[1]))
        issued = await s.post(f"{url}/circulars/{ids[-1]}/issue", data={"csrf": form["csrf"]})
        assert issued.status == (200 if len(ids) == 1 else 400), await issued.text()
    return ids[0]


async def test_a_complaint_reaches_the_county_with_its_contact_and_the_parent_reads_the_answer(
    public_site: dict[str, Any], db: asyncpg.Connection
) -> None:
    """Filed anonymously → the county inspector sees it (with the contact) in the list and the badge →
    takes it in hand → answers → the parent reads the answer with the code → closed. Township inspectors
    and the operator see no complaint and take no step; the operator's pages never show the contact;
    every inspector's step and every look at the contact is in the audit log."""
    url = public_site["url"]
    await db.execute("UPDATE users SET display_name = '忻府区投诉受理员' WHERE username = 'insp-a'")
    async with _anonymous() as s:
        code = _code(await (await _file(s, url)).text())
        assert len(code) == rules.CODE_LENGTH
        status, page = await _follow(s, url, code.lower())  # typed from paper, in lower case
        assert status == 200 and 'data-complaint-status="received"' in page
    cid = await _complaint_id(db)
    stored = await db.fetchrow("SELECT * FROM complaints WHERE id = $1", cid)
    assert code not in str(dict(stored)), "only the code's digest is stored"
    assert stored["due_at"] - stored["filed_at"] == rules.ANSWER_PERIOD
    insp = await _logged_in(url, "insp-a", "pw-a")
    oper = await _logged_in(url, "oper-a", "pw-oa")
    town = await _logged_in(url, "town-a", "pw-ta")
    try:
        listing = await (await insp.get(f"{url}/complaints")).text()
        assert f'data-complaint="{cid}"' in listing
        assert re.search(r"data-complaints-waiting[^>]*>1<", listing), "the county's badge"
        page = await (await insp.get(f"{url}/complaints/{cid}")).text()
        assert PHONE in page and WHAT in page
        for who in (oper, town):
            for path in ("/complaints", f"/complaints/{cid}"):
                async with who.get(f"{url}{path}") as r:
                    assert r.status == 403, path
                    assert PHONE not in await r.text()
            for step, text in (("handle", ""), ("answer", "机构自称已整改"), ("close", "")):
                r = await _step(who, url, cid, step, text)
                assert r.status == 403, (step, r.status)
        for path in ("/", f"/facilities/{A.id}", "/orders", "/alerts", "/closures", f"/public/facilities/{A.id}"):
            async with oper.get(f"{url}{path}") as r:
                assert r.status == 200, path
                body = await r.text()
                assert PHONE not in body and 'href="/complaints"' not in body, path
        assert (await db.fetchrow("SELECT status, answer FROM complaints WHERE id = $1", cid))["status"] == "received"
        assert (await _step(insp, url, cid, "close")).status == 409, "closed before an answer"
        assert (await _step(insp, url, cid, "handle", "已转县卫健局托育科核查")).status == 302
        # the inspectors' page names who took a step as every page does, by name, not by login
        page = await (await insp.get(f"{url}/complaints/{cid}")).text()
        assert '· 受理 · <span title="insp-a">忻府区投诉受理员</span>：' in page and "· insp-a：" not in page
        r = await _step(insp, url, cid, "answer", "  ")
        assert r.status == 400 and "答复须为1至2000个字" in await r.text()
        assert (await _step(insp, url, cid, "answer", ANSWER)).status == 302
        async with _anonymous() as s:
            status, page = await _follow(s, url, code)
        assert status == 200 and ANSWER in page and 'data-complaint-status="answered"' in page
        assert "insp-a" not in page and "已转县卫健局" not in page, "the answer only, not who handled it or notes"
        assert (await _step(insp, url, cid, "close")).status == 302
        assert (await _step(insp, url, cid, "answer", "再答一次")).status == 409
        listing = await (await insp.get(f"{url}/complaints")).text()
        assert "data-complaints-waiting" not in listing
    finally:
        for c in (insp, oper, town):
            await c.close()
    audited = await db.fetch("SELECT actor, action FROM audit_log WHERE target = $1 ORDER BY id", f"complaint {cid}")
    actions = [(a["actor"], a["action"]) for a in audited]
    assert ("public", "complaint.file") in actions and ("insp-a", "complaint.view") in actions
    assert [a for a in actions if a[1] in {"complaint.handle", "complaint.answer", "complaint.close"}] == [
        ("insp-a", "complaint.handle"),
        ("insp-a", "complaint.answer"),
        ("insp-a", "complaint.close"),
    ]
    forbidden = await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'forbidden' AND actor = 'oper-a'")
    assert forbidden >= 3, "the operator's attempts are audited"


async def test_an_overdue_complaint_reaches_the_city(
    public_site: dict[str, Any], db: asyncpg.Connection, db_url: str
) -> None:
    """Unanswered past its 15 days, a complaint is the city's: in the city's badge, with its contact, and
    marked overdue at the city's level in the county's list too; before that the city sees it without the
    contact and nothing waits for it."""
    url = public_site["url"]
    async with _anonymous() as s:
        await _file(s, url)
    cid = await _complaint_id(db)
    city = await _logged_in(url, "city", "pw-c")
    try:
        page = await (await city.get(f"{url}/complaints/{cid}")).text()
        assert PHONE not in page and 'data-complaint-level="county"' in page
        assert "data-complaints-waiting" not in page
    finally:
        await city.close()
    later = ScaledClock(datetime.now(UTC) + rules.ANSWER_PERIOD + timedelta(hours=1), 1.0)
    server = _app(db_url, clock=later, complaint_limit=None)
    await server.start_server()
    try:
        url2 = str(server.make_url("")).rstrip("/")
        city = await _logged_in(url2, "city", "pw-c")
        insp = await _logged_in(url2, "insp-a", "pw-a")
        try:
            page = await (await city.get(f"{url2}/complaints/{cid}")).text()
            assert PHONE in page and 'data-complaint-level="city"' in page
            assert re.search(r"data-complaints-waiting[^>]*>1<", page), "the city's badge"
            listing = await (await city.get(f"{url2}/complaints?status=overdue")).text()
            assert f'data-complaint="{cid}"' in listing
            listing = await (await insp.get(f"{url2}/complaints")).text()
            assert f'data-complaint="{cid}" class="overdue"' in listing
            assert (await _step(city, url2, cid, "answer", ANSWER)).status == 302, "the city may answer it"
            page = await (await city.get(f"{url2}/complaints/{cid}")).text()
            assert "data-complaints-waiting" not in page and 'data-complaint-level="county"' in page
        finally:
            await city.close()
            await insp.close()
    finally:
        await server.close()


async def test_the_database_keeps_what_was_filed_and_every_step(public_site: dict[str, Any], db_url: str) -> None:
    """Whoever holds the web's grant (an operator who found a hole in the pages) cannot make a complaint
    disappear, look answered without an answer, go back to an earlier state or say something else."""
    url = public_site["url"]
    async with _anonymous() as s:
        await _file(s, url)
    web = await asyncpg.connect(as_role(db_url, "web"))
    try:
        cid = await web.fetchval("SELECT max(id) FROM complaints")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await web.execute("DELETE FROM complaints WHERE id = $1", cid)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await web.execute("UPDATE complaints SET what = 'nothing' WHERE id = $1", cid)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await web.execute("UPDATE complaints SET due_at = due_at + interval '1 year' WHERE id = $1", cid)
        with pytest.raises(asyncpg.CheckViolationError):  # answered without an answer
            await web.execute("UPDATE complaints SET status = 'answered' WHERE id = $1", cid)
        with pytest.raises(asyncpg.CheckViolationError):  # closed without an answer
            await web.execute("UPDATE complaints SET status = 'closed', closed_at = now() WHERE id = $1", cid)
        await web.execute(
            "UPDATE complaints SET status = 'answered', answer = 'x', answered_at = now(), answered_by = 'i'"
            " WHERE id = $1",
            cid,
        )
        with pytest.raises(asyncpg.CheckViolationError):
            await web.execute("UPDATE complaints SET status = 'received' WHERE id = $1", cid)
        with pytest.raises(asyncpg.CheckViolationError):
            await web.execute(
                "UPDATE complaints SET status = 'closed', closed_at = now(), answer = 'y' WHERE id = $1", cid
            )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await web.execute("DELETE FROM complaint_history")
    finally:
        await web.close()


async def test_bad_input_is_a_4xx_with_its_reason(public_site: dict[str, Any]) -> None:
    url = public_site["url"]
    today = datetime.now(SH).date()
    async with _anonymous() as s:
        cases = [
            ({"what": "短"}, "请用5至2000个字说明发生了什么"),
            ({"what": "x" * 2001}, "请用5至2000个字说明发生了什么"),
            ({"happened_on": ""}, "请填写发生日期"),
            ({"happened_on": "2026-13-40"}, "请填写发生日期"),
            ({"happened_on": (today + timedelta(days=2)).isoformat()}, "发生日期须为今天或一年以内"),
            ({"happened_on": (today - timedelta(days=400)).isoformat()}, "发生日期须为今天或一年以内"),
            ({"contact": "1" * 101}, "联系方式最多100个字"),
            ({"what": "午睡\x00时"}, ""),
        ]
        for form, reason in cases:
            r = await _file(s, url, **form)
            assert r.status == 400, (form, r.status)
            assert reason in await r.text(), form
        csrf = await _page_csrf(s, f"{url}/public/facilities/{A.id}")
        form = {"csrf": csrf, "what": WHAT, "happened_on": today.isoformat()}
        async with s.post(f"{url}/public/facilities/no-such-facility/complaints", data=form) as r:
            assert r.status == 404
        for q in ("county=abc", "county=140981&township=140902001", "county=", "township=140981103"):
            async with s.get(f"{url}/public?{q}") as r:
                assert r.status == 400, q
        status, page = await _follow(s, url, "")
        assert status == 400 and "请填写提交投诉时显示的查询码" in page
        status, _ = await _follow(s, url, "X" * 65)
        assert status == 400
        async with s.post(f"{url}/public/complaints", data={"code": "ABC"}) as r:
            assert r.status == 403, "a form without the page's CSRF token"
    insp = await _logged_in(url, "insp-a", "pw-a")
    try:
        async with _anonymous() as s:
            await _file(s, url)
        async with insp.get(f"{url}/complaints/99999999") as r:
            assert r.status == 404
        async with insp.get(f"{url}/complaints/abc") as r:
            assert r.status == 404
        async with insp.get(f"{url}/complaints?status=nonsense") as r:
            assert r.status == 400
        cid_page = await (await insp.get(f"{url}/complaints")).text()
        cid = int(re.search(r'data-complaint="(\d+)"', cid_page).group(1))  # type: ignore[union-attr]
        r = await _step(insp, url, cid, "delete")
        assert r.status == 400 and "无效的操作" in await r.text()
    finally:
        await insp.close()


async def test_the_public_page_is_limited_per_address(db: asyncpg.Connection, db_url: str) -> None:
    """Each client address has its bucket of public pages, and a smaller one of complaints filed or looked
    up; a refused request is a 429 with Retry-After, and another address is not held by it (behind a
    trusted proxy, the address it saw)."""
    await load_registry(db, REG)
    server = _app(
        db_url,
        public_limit=RateLimit(rate=0.01, burst=6),
        complaint_limit=RateLimit(rate=0.001, burst=1),
        trusted_proxies="127.0.0.1",
    )
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    try:
        one = {"X-Forwarded-For": "203.0.113.7"}
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), headers=one) as s:
            r = await _file(s, url)  # a page (1) and a filing (2; the complaint bucket's one)
            assert r.status == 200
            r = await _file(s, url)  # a page (3), a second filing (4): refused by the complaints' bucket
            assert r.status == 429 and "Retry-After" in r.headers
            assert "complaints filed or looked up" in await r.text()
            for _ in range(2):  # pages 5 and 6
                assert (await s.get(f"{url}/public")).status == 200
            r = await s.get(f"{url}/public")
            assert r.status == 429 and "public pages" in await r.text()
            r = await s.get(f"{url}/api/v1/public/circulars")  # the public API draws on the same bucket
            assert r.status == 429 and "public pages" in await r.text()
        other = {"X-Forwarded-For": "203.0.113.8"}
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), headers=other) as s:
            assert (await s.get(f"{url}/public")).status == 200
            assert (await _file(s, url)).status == 200
    finally:
        await server.close()


async def test_the_public_page_lists_a_county_on_arrival_a_page_at_a_time(db: asyncpg.Connection, db_url: str) -> None:
    """A visitor's first look at /public lists the facilities of the county the form shows selected (the
    first), not an empty list until 查看 is pressed; a county longer than a page is paged, each facility on
    exactly one page, and the township links name every township of the county, not only the first page's."""
    await load_registry(db, REG)
    first = min(f.county for f in REG.facilities)
    town = next(f.township for f in REG.facilities if f.county == first)
    for i in range(public_store.PAGE + 3):  # more than a page in the first county
        await db.execute(
            "INSERT INTO facilities (id, name, county, township, kind, open_days, open_time, close_time)"
            " VALUES ($1, $2, $3, $4, 'inclusive', '{mon}', '08:00', '17:00')",
            f"page-test-{i:03d}",
            f"分页测试托育园{i:03d}",
            first,
            town,
        )
    expected = {r["name"] for r in await db.fetch("SELECT name FROM facilities WHERE county = $1", first)}
    townships = {r["township"] for r in await db.fetch("SELECT township FROM facilities WHERE county = $1", first)}
    server = _app(db_url, complaint_limit=None)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    try:
        seen: list[str] = []
        path: str | None = "/public"
        pages = 0
        async with _anonymous() as s:
            while path is not None:
                async with s.get(f"{url}{path}") as r:
                    assert r.status == 200, path
                    body = await r.text()
                rows = re.findall(r'<tr data-public-facility><td><a href="/public/facilities/[^"]+">([^<]+)</a>', body)
                assert 0 < len(rows) <= public_store.PAGE, (path, len(rows))
                if pages == 0:
                    assert len(rows) == public_store.PAGE, "a first page full of the first county's facilities"
                    listed = set(re.findall(r'<a href="/public\?county=[0-9]{6}&amp;township=([0-9]{9})">', body))
                    assert listed == townships if len(townships) > 1 else not listed
                seen += rows
                pages += 1
                nxt = re.search(r'<a href="([^"]+)" rel="next">', body)
                path = html.unescape(nxt.group(1)) if nxt else None
        assert pages == 2
        assert sorted(seen) == sorted(expected), "each facility of the county on exactly one page"
    finally:
        await server.close()


def test_the_policy_of_a_complaint() -> None:
    """The pure rules: the deadline, 督办 at it, who sees the contact, which step from which state."""
    filed = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    row = {"status": "received", "due_at": rules.due_at(filed)}
    county = Scope("inspector", "140902", None, None)
    city = Scope("inspector", None, None, None)
    township = Scope("inspector", "140902", "140902001", None)
    operator = Scope("operator", None, None, "f1")
    before, after = filed + timedelta(days=14), filed + timedelta(days=15)
    assert rules.level_at(row, before) == "county" and rules.level_at(row, after) == "city"
    assert rules.may_see_contact(county, row, before) and not rules.may_see_contact(city, row, before)
    assert rules.may_see_contact(city, row, after)
    assert not any(rules.may_see_contact(s, row, after) for s in (township, operator))
    assert rules.level_at(row | {"status": "answered"}, after) == "county", "answered: nothing to supervise"
    for scope in (township, operator):
        with pytest.raises(rules.ComplaintRefused) as err:
            rules.check_step(scope, row, "answer", before)
        assert err.value.kind == "forbidden"
    with pytest.raises(rules.ComplaintRefused) as err:
        rules.check_step(county, row, "close", before)
    assert err.value.kind == "conflict"
    rules.check_step(county, row, "answer", before)
    assert rules.check_filing(" 午睡时被锁在寝室 ", "2026-12-01", "", date(2026, 12, 1)).contact is None
    assert rules.waiting_kind(county) == "open" and rules.waiting_kind(city) == "overdue"
    assert rules.waiting_kind(township) is None and rules.waiting_kind(operator) is None


async def test_a_refused_public_request_costs_no_database_work() -> None:
    """The per-address limit is decided before anything touches the database: with the database out of reach
    the first request is a 503 (its page needs the database), the next ones are 429 at once, not a wait for
    a connection. A flood of anonymous requests holds none of the pool's connections."""
    app = create_app("postgresql://nobody:x@127.0.0.1:9/none", secrets.token_bytes(32), public_limit=RateLimit(0.01, 1))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        url = str(server.make_url("")).rstrip("/")
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{url}/public/facilities/{A.id}") as r:
                assert r.status == 503, r.status
            for _ in range(20):
                async with s.get(f"{url}/public/facilities/{A.id}") as r:
                    assert r.status == 429 and "Retry-After" in r.headers
    finally:
        await server.close()


async def test_the_public_list_reads_as_one_language_in_english(db: asyncpg.Connection, db_url: str) -> None:
    """A newcomer's pass of /public in English read "filed" beside "Not filed" and the county choice
    "Xinfu District (忻府区)（14）": the filed state is "Filed" like its neighbour, and the count's brackets
    are ASCII on an English page (full-width on the Chinese one)."""
    await load_registry(db, REG)
    await db.execute(
        "INSERT INTO filings (facility_id, county, kind, particulars, declared, status, submitted_by, submitted_at,"
        " due_at, reviewed_by, reviewed_at, filing_no) VALUES ($1, $2, 'initial', '{}', '{}', 'accepted', 'oper',"
        " '2026-10-20T02:00:00Z', '2026-10-28T16:00:00Z', 'county', '2026-10-31T16:30:00Z', '忻府卫托备〔2026〕1号')",
        A.id,
        A.county,
    )
    server = _app(db_url, complaint_limit=None)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    try:
        async with _anonymous() as s:
            pages = {}
            for lang in ("zh", "en"):
                async with s.get(f"{url}/public?county={A.county}&lang={lang}") as r:
                    assert r.status == 200
                    pages[lang] = await r.text()
    finally:
        await server.close()
    cells = {
        lang: {
            state: {
                re.sub(r"<small>.*?</small>", "", c).strip()
                for c in re.findall(rf'data-filing="{state}">(.*?)</td>', p)
            }
            for state in ("filed", "unfiled")
        }
        for lang, p in pages.items()
    }
    assert cells["en"] == {"filed": {"Filed"}, "unfiled": {"Not filed"}}, cells["en"]
    assert cells["zh"] == {"filed": {"已备案"}, "unfiled": {"未备案"}}, cells["zh"]
    options = {lang: re.findall(r'<option value="[0-9]{6}"[^>]*>([^<]+)</option>', p) for lang, p in pages.items()}
    assert options["en"] and all(re.search(r" \([0-9]+\)$", o) for o in options["en"]), options["en"]
    assert not any("（" in o or "）" in o for o in options["en"]), options["en"]
    assert options["zh"] and all(re.search(r"（[0-9]+）$", o) for o in options["zh"]), options["zh"]
