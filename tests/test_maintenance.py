"""Maintenance windows need an inspector's approval and keep to limits (issue #37 item 3).

The supervised facility asked for a window and had it: up to 31 days, renewable, starting in the past,
approved by nobody, muting its devices' health and excusing its lapses in the credit evaluation (which
no window does since credit method 2026-12b). Here a
window is requested by the facility and has effect only once someone who supervises it approves it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from contract.config import Channels
from contract.credit import CreditConfig
from contract.rules import MAINTENANCE_MONTHLY, Condition, Key
from storage.alerts import open_alert
from storage.credit import month_facts
from storage.maintenance import create_window, decide, in_maintenance
from storage.notifications import add_subscription
from storage.registry import load_registry
from storage.users import Scope, create_user
from supervision.maintenance import WindowRefused, check_decision, check_limits, covered, month_spans
from tests.conftest import Services
from tests.helpers import Publisher, payload, wait_for
from tests.test_web import B, _logged_in, get, post, site  # noqa: F401 - the fixture, requested by name below

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2031, 1, 31, 0, 0, tzinfo=SH)  # any date: nothing here reads today's
OPERATOR = Scope("operator", None, None, "f1")
COUNTY = Scope("inspector", "140902", None, None)


def w(start: datetime, hours: float, status: str = "approved", by: str = "op", wid: int = 1) -> dict[str, object]:
    return {
        "id": wid,
        "starts_at": start,
        "ends_at": start + timedelta(hours=hours),
        "status": status,
        "requested_by": by,
    }


# -- the rules, pure ----------------------------------------------------------------------------------------------


def refusal(fn: object, *args: object) -> WindowRefused:
    with pytest.raises(WindowRefused) as err:
        fn(*args)  # type: ignore[operator]
    return err.value


def test_a_window_starting_in_the_past_too_long_or_past_the_months_total_is_refused_with_a_reason() -> None:
    assert refusal(check_limits, NOW - timedelta(hours=1), NOW + timedelta(hours=1), NOW, []).key == (
        "err_window_past_start"
    )
    check_limits(NOW - timedelta(minutes=9), NOW + timedelta(hours=1), NOW, [])  # a clock a little behind
    assert refusal(check_limits, NOW, NOW + timedelta(hours=12, minutes=1), NOW, []).key == "err_window_long"
    # January has 22 h approved; a window over the month's end counts in each month for its part
    jan = [w(datetime(2031, 1, 30, 10, tzinfo=SH), 12), w(datetime(2031, 1, 31, 8, tzinfo=SH), 10, wid=2)]
    too_much = refusal(check_limits, datetime(2031, 1, 31, 20, tzinfo=SH), datetime(2031, 2, 1, 6, tzinfo=SH), NOW, jan)
    assert (too_much.key, too_much.args_["month"], too_much.args_["used"]) == ("err_window_month", "2031-01", 22.0)
    check_limits(datetime(2031, 1, 31, 22, 30, tzinfo=SH), datetime(2031, 2, 1, 8, tzinfo=SH), NOW, jan)  # 1.5 h in Jan
    # an hour under two windows (a device's inside the facility's) counts once
    month = month_spans(NOW, NOW + timedelta(hours=1))[0]
    assert covered([(NOW, NOW + timedelta(hours=2)), (NOW, NOW + timedelta(hours=1))], month) == timedelta(hours=2)
    assert timedelta(hours=24) == MAINTENANCE_MONTHLY


def test_an_operator_never_decides_and_nobody_decides_their_own_request() -> None:
    pending = w(NOW + timedelta(hours=1), 2, "requested", by="op")
    for decision in ("approve", "reject"):
        assert refusal(check_decision, "op", OPERATOR, pending, decision, NOW, []).key == "err_window_decide_who"
        assert refusal(check_decision, "op2", OPERATOR, pending, decision, NOW, []).kind == "forbidden"
    own = w(NOW + timedelta(hours=1), 2, "requested", by="county")
    assert refusal(check_decision, "county", COUNTY, own, "approve", NOW, []).key == "err_window_own"
    assert check_decision("county", COUNTY, pending, "approve", NOW, []) == "approved"
    assert check_decision("op", OPERATOR, pending, "withdraw", NOW, []) == "withdrawn"
    assert refusal(check_decision, "county", COUNTY, pending, "withdraw", NOW, []).kind == "forbidden"
    done = w(NOW + timedelta(hours=1), 2, "rejected")
    assert refusal(check_decision, "county", COUNTY, done, "approve", NOW, []).kind == "conflict"
    begun = w(NOW - timedelta(hours=1), 2, "requested")
    assert refusal(check_decision, "county", COUNTY, begun, "approve", NOW, []).key == "err_window_begun"


# -- through the API and the pages --------------------------------------------------------------------------------


def _window(start: datetime, hours: float) -> dict[str, object]:
    return {
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=hours)).isoformat(),
        "reason": "换探测器",
    }


async def test_requests_decisions_and_limits_over_the_api(site: dict[str, object], db: asyncpg.Connection) -> None:  # noqa: F811
    url = str(site["url"])
    path = f"{url}/api/v1/facilities/{B.id}/maintenance"
    _, county = await create_user(db, "county-b", "inspector", "pw-cb", county=B.county)
    oper, admin = str(site["oper"]), str(site["admin"])
    soon = datetime.now(UTC) + timedelta(minutes=30)
    status, req = await post(path, oper, json=_window(soon, 2))
    assert status == 201 and req["status"] == "requested"  # type: ignore[index]
    wid = req["id"]  # type: ignore[index]
    assert not await in_maintenance(db, B.id, None, soon + timedelta(hours=1)), "a request mutes nothing"
    # the operator cannot approve it, theirs or anyone's
    status, err = await post(f"{path}/{wid}/approve", oper)
    assert status == 403 and "inspector" in err["error"]  # type: ignore[index]
    # an inspector who filed a request cannot approve it themselves
    status, own = await post(f"{path}/requests", county, json=_window(soon + timedelta(hours=3), 1))
    assert status == 201 and own["status"] == "requested"  # type: ignore[index]
    status, err = await post(f"{path}/{own['id']}/approve", county)  # type: ignore[index]
    assert status == 403 and "requested" in err["error"]  # type: ignore[index]
    status, err = await post(f"{path}/{own['id']}/reject", admin, json={"reason": " "})  # type: ignore[index]
    assert status == 400 and "reason" in err["error"]  # type: ignore[index]
    status, rej = await post(f"{path}/{own['id']}/reject", admin, json={"reason": "与检查冲突"})  # type: ignore[index]
    assert status == 200 and (rej["status"], rej["decision_reason"]) == ("rejected", "与检查冲突")  # type: ignore[index]
    status, ok = await post(f"{path}/{wid}/approve", county, json={"reason": "同意"})
    assert status == 200 and (ok["status"], ok["decided_by"]) == ("approved", "county-b")  # type: ignore[index]
    assert await in_maintenance(db, B.id, None, soon + timedelta(hours=1))
    assert (await post(f"{path}/{wid}/withdraw", oper))[0] == 409, "a decision is final"
    # limits, with the reason
    for body, reason in (
        (_window(datetime.now(UTC) - timedelta(hours=2), 1), "past"),
        (_window(soon, 13), "at most 12 hours"),
    ):
        status, err = await post(path, oper, json=body)
        assert status == 400 and reason in err["error"], err  # type: ignore[index]
    # the month's total: 20 h approved already in the month a new window falls in
    start = soon + timedelta(days=1)
    first, nxt = month_spans(start, start)[0]
    if nxt - start < timedelta(hours=8):
        start, (first, nxt) = nxt + timedelta(hours=1), month_spans(nxt, nxt)[0]
    clear = [
        d for d in range(28) if not start - timedelta(hours=10) < first + timedelta(days=d) < start + timedelta(hours=5)
    ]
    for day in clear[:2]:  # two 10 h windows apart from the new one
        a = first + timedelta(days=day)
        await create_window(db, B.id, None, a, a + timedelta(hours=10), "x", "t", status="approved")
    status, err = await post(path, oper, json=_window(start, 5))
    assert status == 400 and "24 hours a month" in err["error"], err  # type: ignore[index]
    # withdrawn by the operator while pending; every decision audited
    status, req2 = await post(path, oper, json=_window(soon + timedelta(hours=5), 1))
    assert status == 201
    status, wd = await post(f"{path}/{req2['id']}/withdraw", oper)  # type: ignore[index]
    assert status == 200 and wd["status"] == "withdrawn"  # type: ignore[index]
    _, log = await get(f"{url}/api/v1/audit?action=maintenance.approve", admin)
    assert [(e["actor"], e["detail"]["id"]) for e in log["entries"]] == [("county-b", wid)]  # type: ignore[index]
    _, log = await get(f"{url}/api/v1/audit?action=maintenance.reject", admin)
    assert [e["actor"] for e in log["entries"]] == ["admin"]  # type: ignore[index]


async def test_the_approval_shows_on_the_facility_page_and_pending_requests_on_the_overview(
    site: dict[str, object],  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    url = str(site["url"])
    await create_user(db, "county-b", "inspector", "pw-cb", county=B.county)
    soon = datetime.now(UTC) + timedelta(minutes=30)
    s, csrf = await _logged_in(url, "oper-b", "pw-b")
    try:
        local = soon.astimezone(ZoneInfo(B.timezone)).strftime("%Y-%m-%dT%H:%M")
        end = (soon + timedelta(hours=2)).astimezone(ZoneInfo(B.timezone)).strftime("%Y-%m-%dT%H:%M")
        r = await s.post(
            f"{url}/facilities/{B.id}/maintenance",
            data={"csrf": csrf, "starts_at": local, "ends_at": end, "reason": "更换烟感"},
        )
        text = await r.text()
        wid = re.search(r'data-window="(\d+)" data-status="requested"', text).group(1)  # type: ignore[union-attr]
        assert "待审批" in text and f'data-decide="{wid}"' not in text, "an operator has no approve button"
        r = await s.post(f"{url}/facilities/{B.id}/maintenance/{wid}", data={"csrf": csrf, "decision": "approve"})
        assert r.status == 403 and "只有辖区监管人员" in await r.text()
    finally:
        await s.close()
    s, csrf = await _logged_in(url, "county-b", "pw-cb")
    try:
        overview = await (await s.get(f"{url}/?lang=en")).text()
        assert "Maintenance requests awaiting approval" in overview and f'data-pending-window="{wid}"' in overview
        page = await (await s.get(f"{url}/facilities/{B.id}")).text()
        assert f'data-decide="{wid}"' in page
        r = await s.post(
            f"{url}/facilities/{B.id}/maintenance/{wid}", data={"csrf": csrf, "decision": "approve", "reason": "同意"}
        )
        text = await r.text()
        assert r.status == 200 and f'data-window="{wid}" data-status="approved"' in text
        assert "approved" in text and "county-b" in text and "同意" in text
        text = await (await s.get(f"{url}/facilities/{B.id}?lang=zh")).text()
        assert "已批准" in text and f'data-decide="{wid}"' not in text, "decided: no buttons"
        overview = await (await s.get(f"{url}/")).text()
        assert f'data-pending-window="{wid}"' not in overview
    finally:
        await s.close()


# -- what a window does, and does not ----------------------------------------------------------------------------


async def test_a_window_excuses_nothing_in_credit_and_a_request_is_not_even_on_the_record(
    db: asyncpg.Connection,
) -> None:
    from tests.test_alert_service import FAC, REG

    await load_registry(db, REG)
    now = datetime.now(UTC)
    start = now - timedelta(hours=5)
    await db.execute(
        "INSERT INTO lapse_intervals (facility_id, rule, alert_key, started_at, ended_at)"
        " VALUES ($1, 'exit_obstructed', 'exit-1', $2, $3)",
        FAC.id,
        start,
        start + timedelta(hours=2),
    )
    row = await create_window(db, FAC.id, None, start, start + timedelta(hours=2), "消防通道改造", "op")
    month = now.astimezone(SH).date().replace(day=1)
    scope = Scope("admin", None, None, None)
    if start.astimezone(SH).month != now.astimezone(SH).month:
        pytest.skip("the lapse and the window fall in last month at this hour")  # a month's first 5 hours
    await db.execute("UPDATE facilities SET registered_at = $2 WHERE id = $1", FAC.id, start - timedelta(hours=1))

    async def measured() -> tuple[float, float]:
        [(_, facts)] = [x for x in await month_facts(db, scope, month, now, CreditConfig()) if x[0]["id"] == FAC.id]
        return facts.maintenance_minutes, facts.lapse_minutes["exit_obstructed"]

    assert await measured() == pytest.approx((0.0, 120.0)), "a request is no maintenance"
    assert not await in_maintenance(db, FAC.id, None, start + timedelta(hours=1))
    await decide(db, row["id"], "approved", "county", None, now)
    assert await measured() == pytest.approx((120.0, 120.0)), (
        "the same window, approved: on the record, the lapse counts in full"
    )


async def test_a_fire_alarm_inside_an_approved_window_reaches_the_county_inspectors_robot(
    services: Services, db_url: str, db: asyncpg.Connection, topic_root: str
) -> None:
    """The window is approved and covers the whole facility: the smoke detector's health is muted, its fire
    alarm is not, and the county inspector's WeCom robot (a local receiver) gets it."""
    from tests.test_alert_service import FAC, REG, make, now_ts, running
    from tests.test_notify import Robots, robots_running

    await load_registry(db, REG)
    now = datetime.now(UTC)
    row = await create_window(db, FAC.id, None, now - timedelta(minutes=5), now + timedelta(hours=2), "检修", "op")
    health = Condition("major", "离线", "offline")
    smoke = next(d.id for d in FAC.devices if d.type.value == "smoke_detector")
    before = await open_alert(db, FAC.id, Key("device_offline", "gw-x"), health, now, mutable=True)
    assert before.muted is False, "a requested window mutes nothing"
    await decide(db, row["id"], "approved", "county-f", None, now)
    uid, _ = await create_user(db, "county-f", "inspector", None, county=FAC.county)
    await add_subscription(db, uid, "wecom", "county-key-01", None, None, "warning", None, "zh")
    robots = Robots({"county-key-01"}, {})
    pub = Publisher(*services.mqtt_host_port)
    try:
        async with robots_running(robots) as base:
            svc = make(
                services,
                db_url,
                topic_root,
                channels=Channels(wecom_url=f"{base}/cgi-bin/webhook/send"),
                notify_retry_s=0.2,
            )
            async with running(svc):
                body = {"msg_id": "fire-m", "ts": now_ts(), "type": "fire_alarm", "state": "active"}
                pub.publish(f"{topic_root}/{FAC.id}/{smoke}/event", payload(body))

                async def arrived() -> bool:
                    return any("火灾报警" in b["markdown"]["content"] for _, key, b in robots.received)

                await wait_for(arrived, 20, "the fire alarm at the county inspector's robot")
    finally:
        pub.close()
    fire = await db.fetchrow("SELECT muted FROM alerts WHERE rule = 'fire_alarm'")
    assert fire is not None and fire["muted"] is False
    during = await open_alert(db, FAC.id, Key("device_offline", smoke), health, now, mutable=True)
    assert during.muted is True, "what an approved window is for: the health of the devices under work"
    assert not robots.refused


async def test_the_web_may_decide_a_window_once_and_change_nothing_else(db: asyncpg.Connection, db_url: str) -> None:
    """The web's role may set a pending request's decision columns, once; never its times."""
    from tests.conftest import as_role
    from tests.test_alert_service import FAC, REG

    await load_registry(db, REG)
    now = datetime.now(UTC)
    row = await create_window(db, FAC.id, None, now + timedelta(hours=1), now + timedelta(hours=2), "检修", "op")
    web = await asyncpg.connect(as_role(db_url, "web"))
    try:
        assert await decide(web, row["id"], "rejected", "county", "不同意", now) is not None
        with pytest.raises(asyncpg.CheckViolationError):
            await web.execute("UPDATE maintenance_windows SET status = 'approved' WHERE id = $1", row["id"])
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await web.execute("UPDATE maintenance_windows SET starts_at = starts_at - interval '1 day'")
    finally:
        await web.close()
