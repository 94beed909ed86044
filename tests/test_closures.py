"""Closures (issue #42 item 4): a county's 停课 declared by a county inspector, a facility's own closure
requested by its operator and approved by someone else who supervises it — through the pages, into the
opening hours every service reads, and heard by the running alert engine (`registry_changed`)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from contract.registry import WEEKDAYS, OpeningHours, Registry
from storage.closures import create
from storage.registry import fetch_registry, load_registry
from storage.users import Scope, create_user
from supervision.closures import ClosureRefused, check_decision, check_declaration, check_request
from tests.conftest import Services
from tests.helpers import wait_for
from tests.test_web import REG, B, _logged_in, site  # noqa: F401 - the fixture, requested by name below

SH = ZoneInfo("Asia/Shanghai")
TODAY = date(2031, 3, 10)  # the pure rules' day: any date
OPERATOR = Scope("operator", None, None, "f1")
TOWNSHIP = Scope("inspector", "140902", "140902001", None)
COUNTY = Scope("inspector", "140902", None, None)
CITY = Scope("admin", None, None, None)


def refusal(fn: object, *args: object) -> ClosureRefused:
    with pytest.raises(ClosureRefused) as err:
        fn(*args)  # type: ignore[operator]
    return err.value


def req(first: date, by: str = "op", status: str = "requested") -> dict[str, object]:
    return {"kind": "facility", "first_day": first, "status": status, "requested_by": by}


# -- the rules, pure ----------------------------------------------------------------------------------------------
def test_who_declares_a_county_closure_and_from_when() -> None:
    check_declaration(COUNTY, "140902", TODAY, TODAY + timedelta(days=2), TODAY)  # from today: a morning's 停课
    check_declaration(CITY, "140981", TODAY, TODAY, TODAY)
    assert refusal(check_declaration, TOWNSHIP, "140902", TODAY, TODAY, TODAY).key == "err_closure_declare_who"
    assert refusal(check_declaration, OPERATOR, "140902", TODAY, TODAY, TODAY).kind == "forbidden"
    assert refusal(check_declaration, COUNTY, "140981", TODAY, TODAY, TODAY).key == "err_closure_county"
    past = refusal(check_declaration, COUNTY, "140902", TODAY - timedelta(days=1), TODAY, TODAY)
    assert past.key == "err_closure_past"
    assert refusal(check_declaration, COUNTY, "140902", TODAY, TODAY - timedelta(days=1), TODAY).key == (
        "err_closure_order"
    )
    assert refusal(check_declaration, COUNTY, "140902", TODAY, TODAY + timedelta(days=60), TODAY).key == (
        "err_closure_long"
    )


def test_a_facility_asks_before_the_day_and_never_decides() -> None:
    check_request(TODAY + timedelta(days=1), TODAY + timedelta(days=1), TODAY)
    assert refusal(check_request, TODAY, TODAY, TODAY).key == "err_closure_tomorrow", "not for today"
    pending = req(TODAY + timedelta(days=1))
    for decision in ("approve", "reject"):
        assert refusal(check_decision, "op", OPERATOR, pending, decision, TODAY).key == "err_closure_decide_who"
        assert refusal(check_decision, "op2", OPERATOR, pending, decision, TODAY).kind == "forbidden"
    own = req(TODAY + timedelta(days=1), by="town")
    assert refusal(check_decision, "town", TOWNSHIP, own, "approve", TODAY).key == "err_closure_own"
    assert check_decision("town", TOWNSHIP, pending, "approve", TODAY) == "approved"
    assert check_decision("op", OPERATOR, pending, "withdraw", TODAY) == "withdrawn"
    # approving on or after the first day would excuse a day the facility may have been open on
    begun = req(TODAY)
    assert refusal(check_decision, "town", TOWNSHIP, begun, "approve", TODAY).key == "err_closure_begun"
    assert check_decision("town", TOWNSHIP, begun, "reject", TODAY) == "rejected"
    assert refusal(check_decision, "town", TOWNSHIP, req(TODAY, status="approved"), "reject", TODAY).kind == (
        "conflict"
    )
    county = {"kind": "county", "first_day": TODAY, "status": "approved", "requested_by": "c"}
    assert refusal(check_decision, "town", TOWNSHIP, county, "reject", TODAY).kind == "conflict"


# -- through the pages, into the opening hours ------------------------------------------------------------------
async def closed_days(db: asyncpg.Connection, facility_id: str) -> list[tuple[date, date]]:
    [f] = (await fetch_registry(db, [facility_id])).facilities
    return [(c.first, c.last) for c in f.opening_hours.closures]


async def test_an_operators_request_closes_nothing_until_someone_else_approves_it(
    site: dict[str, object],  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    url = str(site["url"])
    await create_user(db, "town-b", "inspector", "pw-tb", county=B.county, township=B.township)
    day = datetime.now(UTC).astimezone(SH).date() + timedelta(days=2)
    s, csrf = await _logged_in(url, "oper-b", "pw-b")
    try:
        r = await s.post(
            f"{url}/closures/request",
            data={"csrf": csrf, "first_day": day.isoformat(), "last_day": day.isoformat(), "reason": "停水检修"},
        )
        text = await r.text()
        cid = re.search(r'data-closure="(\d+)" data-status="requested"', text).group(1)  # type: ignore[union-attr]
        assert "待审批" in text and f'data-decide="{cid}"' not in text, "an operator has no approve button"
        assert await closed_days(db, B.id) == [], "a request excuses nothing"
        r = await s.post(f"{url}/closures/{cid}", data={"csrf": csrf, "decision": "approve"})
        assert r.status == 403 and "只有辖区监管人员" in await r.text()
        # a closure for today is refused with the reason, in Chinese, and the form keeps what was typed
        today = datetime.now(UTC).astimezone(SH).date().isoformat()
        r = await s.post(
            f"{url}/closures/request", data={"csrf": csrf, "first_day": today, "last_day": today, "reason": "临时"}
        )
        text = await r.text()
        assert r.status == 400 and "最早为次日" in text and 'value="临时"' in text
        bad = {"csrf": csrf, "first_day": "明天", "last_day": "", "reason": ""}
        r = await s.post(f"{url}/closures/request", data=bad)
        assert r.status == 400 and "请填写首日和末日" in await r.text()
    finally:
        await s.close()
    assert await closed_days(db, B.id) == []
    s, csrf = await _logged_in(url, "town-b", "pw-tb")
    try:
        page = await (await s.get(f"{url}/closures")).text()
        assert f'data-decide="{cid}"' in page and "停水检修" in page
        r = await s.post(f"{url}/closures/{cid}", data={"csrf": csrf, "decision": "reject", "reason": ""})
        assert r.status == 400 and "驳回须填写理由" in await r.text()
        r = await s.post(f"{url}/closures/{cid}", data={"csrf": csrf, "decision": "approve", "reason": "同意"})
        assert r.status == 200 and f'data-closure="{cid}" data-status="approved"' in await r.text()
        r = await s.post(f"{url}/closures/{cid}", data={"csrf": csrf, "decision": "reject", "reason": "改主意"})
        assert r.status == 409, "a decision is final"
    finally:
        await s.close()
    assert await closed_days(db, B.id) == [(day, day)]
    [f] = (await fetch_registry(db, [B.id])).facilities
    assert not f.opening_hours.opens_on(day)
    audit = await db.fetch("SELECT actor, action FROM audit_log WHERE action LIKE 'closure.%' ORDER BY id")
    assert [(a["actor"], a["action"]) for a in audit] == [("oper-b", "closure.request"), ("town-b", "closure.approve")]


async def test_a_county_inspector_declares_a_closure_for_the_county_or_the_facilities_named(
    site: dict[str, object],  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    url = str(site["url"])
    await create_user(db, "county-b", "inspector", "pw-cb", county=B.county)
    await create_user(db, "town-b", "inspector", "pw-tb", county=B.county, township=B.township)
    today = datetime.now(UTC).astimezone(SH).date()
    others = [f for f in REG.facilities if f.county != B.county]
    days = {"first_day": today.isoformat(), "last_day": (today + timedelta(days=1)).isoformat()}
    s, csrf = await _logged_in(url, "town-b", "pw-tb")
    try:
        r = await s.post(f"{url}/closures/county", data={"csrf": csrf, "reason": "暴雪", **days})
        assert r.status == 403 and "县级停课" in await r.text(), "a township does not declare a county's closure"
    finally:
        await s.close()
    s, csrf = await _logged_in(url, "county-b", "pw-cb")
    try:
        r = await s.post(
            f"{url}/closures/county",
            data={"csrf": csrf, "reason": "暴雪", "facility_ids": others[0].id, **days},
        )
        assert r.status == 400 and "不属于该县" in await r.text(), "another county's facility"
        r = await s.post(f"{url}/closures/county", data={"csrf": csrf, "reason": "暴雪红色预警停课", **days})
        text = await r.text()
        assert r.status == 200 and "县级停课" in text and "暴雪红色预警停课" in text
    finally:
        await s.close()
    reg = await fetch_registry(db, [f.id for f in REG.facilities])
    for f in reg.facilities:
        expected = [(today, today + timedelta(days=1))] if f.county == B.county else []
        assert [(c.first, c.last) for c in f.opening_hours.closures] == expected, f.id
        assert f.opening_hours.opens_on(today) is (False if expected else f.opening_hours.opens_on(today))


async def test_a_closure_tells_the_running_engine_and_the_database_guards_its_decision(db: asyncpg.Connection) -> None:
    """The alert engine reloads on `registry_changed` (storage.listen.RegistryWatch), as after a registry
    upload: a closure stored or decided notifies it. And the table itself refuses a facility's request
    approved by its requester, or decided twice."""
    await load_registry(db, REG)
    heard: asyncio.Queue[str] = asyncio.Queue()
    await db.add_listener("registry_changed", lambda *a: heard.put_nowait(a[2]))
    now = datetime.now(UTC)
    day = now.astimezone(SH).date() + timedelta(days=3)
    row = await create(db, "facility", B.county, [B.id], day, day, "外墙施工", "oper-b", now)
    await asyncio.wait_for(heard.get(), 5)
    with pytest.raises(asyncpg.CheckViolationError, match="closure_not_own"):
        await db.execute(
            "UPDATE closures SET status = 'approved', decided_by = 'oper-b', decided_at = now() WHERE id = $1",
            row["id"],
        )
    await db.execute(
        "UPDATE closures SET status = 'rejected', decided_by = 'town-b', decided_at = now(),"
        " decision_reason = '理由不足' WHERE id = $1",
        row["id"],
    )
    await asyncio.wait_for(heard.get(), 5)
    with pytest.raises(asyncpg.CheckViolationError, match="already rejected"):
        await db.execute("UPDATE closures SET status = 'approved', decided_by = 'town-b' WHERE id = $1", row["id"])
    assert await closed_days(db, B.id) == [], "rejected: nothing closed"


async def test_the_running_engine_hears_a_county_closure_and_expects_no_guard_that_day(
    services: Services, db_url: str, db: asyncpg.Connection, topic_root: str
) -> None:
    """How the engine learns of a closure: the closure's row notifies `registry_changed`, the running engine
    reloads the facilities (with their approved closures) as after a registry upload, without a restart."""
    from tests.test_alert_service import FAC, alerts, make, running

    always_open = OpeningHours(days=list(WEEKDAYS), open=time(0, 0), close=time(23, 59, 59), public_holidays=False)
    await load_registry(db, Registry(facilities=[FAC.model_copy(update={"opening_hours": always_open})]))

    async def guard_absent(active: bool) -> bool:
        return any((a["status"] == "active") is active for a in await alerts(db, "guard_absent"))

    async with running(make(services, db_url, topic_root, "closure")) as svc:
        await wait_for(lambda: guard_absent(True), 20, "no guard on an open day: guard_absent")
        now = datetime.now(UTC)
        today = now.astimezone(ZoneInfo(FAC.timezone)).date()
        await create(db, "county", FAC.county, None, today, today, "暴雪停课", "county-x", now, status="approved")
        await wait_for(lambda: guard_absent(False), 20, "closed today: no guard expected")
        assert svc.engine is not None
        assert not svc.engine.runtimes[FAC.id].facility.opening_hours.opens_on(today)
