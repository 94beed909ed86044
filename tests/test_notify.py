"""Alerts that reach people (issue #17, item 7): WeCom and DingTalk group robots and e-mail.

Against the real alert service, Mosquitto and TimescaleDB, with local receivers standing in for the
outside services. Each receiver checks the message the way its service documents it (WeCom: markdown
content of at most 4096 bytes; DingTalk: the signed URL and the markdown body; SMTP: a UTF-8 mail) and
answers as that service does, so a message the real service would refuse fails here."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time as clock
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from email import message_from_bytes, policy
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from alerts.notify import dingtalk_body, in_quiet_hours, messages_for, render, wants, wecom_body
from contract.config import Channels
from runtime.stack import free_port
from storage.alerts import Change
from storage.notifications import Audience, Subscription, add_subscription, deliveries
from storage.registry import load_registry
from storage.users import create_user
from tests.conftest import Services
from tests.helpers import Publisher, payload, wait_for
from tests.test_alert_service import FAC, REG, make, now_ts, running


@pytest.fixture
async def registered(db: asyncpg.Connection) -> asyncpg.Connection:
    await load_registry(db, REG)
    return db


# -- who gets what (pure) -------------------------------------------------------------------------------------


def sub(**kw: Any) -> Subscription:
    base = Subscription(1, 1, "wecom", "k" * 10, None, None, "major", None, None, "zh", True, "facility")
    return replace(base, **kw)


def change(rule: str = "guard_absent", severity: str = "major", action: str = "opened", **kw: Any) -> Change:
    return Change(7, action, FAC.id, rule, severity, kw.pop("escalation", "facility"), kw.pop("muted", False), "摘要")


def test_quiet_hours_wrap_midnight() -> None:
    assert in_quiet_hours(time(23, 0), time(22, 0), time(7, 0))
    assert in_quiet_hours(time(6, 59), time(22, 0), time(7, 0))
    assert not in_quiet_hours(time(7, 0), time(22, 0), time(7, 0))
    assert not in_quiet_hours(time(12, 0), time(22, 0), time(7, 0))
    assert in_quiet_hours(time(12, 30), time(12, 0), time(13, 0))
    assert not in_quiet_hours(time(13, 0), time(12, 0), time(13, 0))
    assert not in_quiet_hours(time(3, 0), None, None)


def test_quiet_hours_never_hold_back_life_safety() -> None:
    night = time(2, 0)
    quiet = sub(quiet_start=time(22, 0), quiet_end=time(7, 0), min_severity="warning")
    assert not wants(quiet, change("guard_absent", "major"), night)
    assert not wants(quiet, change("low_battery", "warning"), night)
    assert wants(quiet, change("fire_alarm", "critical"), night)
    # life-safety whatever severity a deployment gave it
    assert wants(quiet, change("exit_obstructed", "major"), night)
    assert wants(quiet, change("child_not_collected", "minor"), night)
    assert wants(quiet, change("guard_absent", "major"), time(8, 0)), "outside the quiet hours"


def test_severity_threshold_escalation_level_and_maintenance() -> None:
    noon = time(12, 0)
    assert not wants(sub(min_severity="critical"), change("guard_absent", "major"), noon)
    assert wants(sub(min_severity="minor"), change("guard_absent", "major"), noon)
    assert not wants(sub(), change(action="bumped"), noon)
    assert not wants(sub(), change(action="cleared"), noon)
    assert wants(sub(), change(muted=True), noon), "the facility hears its own alerts in a maintenance window"
    assert not wants(sub(level="township"), change(muted=True), noon), "its supervisors do not"
    assert not wants(sub(level="county"), change(muted=True), noon)
    assert not wants(sub(enabled=False), change(), noon)
    county = sub(level="county")
    assert wants(county, change(action="escalated", escalation="county"), noon)
    assert not wants(county, change(action="escalated", escalation="township"), noon)
    assert wants(county, change(action="opened"), noon), "an inspector may follow openings too"


def test_message_names_things_for_people_and_fits_wecom() -> None:
    aud = Audience(FAC.name, "Asia/Shanghai", FAC.county, FAC.township, [])
    at = datetime(2026, 11, 30, 16, 5, tzinfo=UTC)  # 00:05 the next day in Xinzhou
    title, body = render(change("fire_alarm", "critical"), aud, "zh", "http://cw.example:8080/", at)
    assert title == f"【危急】火灾报警 · {FAC.name}"
    assert "2026-12-01 00:05" in body, "the facility's local time"
    assert "http://cw.example:8080/alerts/7" in body
    assert "fire_alarm" not in body + title and "+00:00" not in body
    title_en, _ = render(change("fire_alarm", "critical"), aud, "en", "http://x", at)
    assert title_en.startswith("【Critical】Fire alarm")
    huge = wecom_body(title, body * 200)
    assert len(huge["markdown"]["content"].encode()) <= 4096  # type: ignore[index]
    assert set(dingtalk_body(title, body)) == {"msgtype", "markdown", "at"}


def test_a_message_of_an_alarm_known_late_says_when_it_happened() -> None:
    """Pressed at 17:15 while the gateway was offline, known at 18:15 from its spool: the message says
    both, as the pages do (contract/occurred.py); an alarm known in time says its one time."""
    aud = Audience(FAC.name, "Asia/Shanghai", FAC.county, FAC.township, [])
    pressed = datetime(2026, 12, 1, 9, 15, tzinfo=UTC)  # 17:15 in Xinzhou
    known = datetime(2026, 12, 1, 10, 15, 4, tzinfo=UTC)
    late = replace(change("panic_button", "critical"), opened_at=known, occurred_at=pressed, delay_cause="uplink")
    _, body = render(late, aud, "zh", "http://x", known)
    assert "时间: 2026-12-01 17:15 按下（18:15 收到，网关离线期间）" in body, body
    _, body = render(replace(late, action="escalated", escalation="county"), aud, "en", "http://x", known)
    assert "pressed 17:15 (received 18:15, while the gateway was offline), 2026-12-01" in body, body
    on_time = replace(late, occurred_at=known - timedelta(seconds=30))
    _, body = render(on_time, aud, "zh", "http://x", known)
    assert "时间: 2026-12-01 18:15 (Asia/Shanghai)" in body and "收到" not in body, body


def test_only_matching_subscriptions_get_a_message() -> None:
    subs = [sub(id=1), sub(id=2, min_severity="critical"), sub(id=3, level="county")]
    aud = Audience(FAC.name, "Asia/Shanghai", FAC.county, FAC.township, subs)
    out = messages_for(change(), aud, "http://x", datetime(2026, 11, 30, 4, 0, tzinfo=UTC))
    assert [m.subscription.id for m in out] == [1, 3]
    assert {m.event for m in out} == {"opened"}


# -- the local receivers --------------------------------------------------------------------------------------


@dataclass
class Robots:
    """WeCom and DingTalk group robots on loopback, answering as the real services document."""

    wecom_keys: set[str]
    dingtalk_secrets: dict[str, str | None]  # access_token -> signing secret (None: unsigned)
    received: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    down: set[str] = field(default_factory=set)  # keys/tokens whose robot answers 502
    hits: dict[str, int] = field(default_factory=dict)

    async def wecom(self, request: web.Request) -> web.Response:
        key = request.query.get("key", "")
        self.hits[key] = self.hits.get(key, 0) + 1
        if key in self.down:
            return web.Response(status=502)
        if key not in self.wecom_keys:
            return self._refuse("wecom", key, 93000, "invalid webhook url")
        body = await self._json(request)
        ok = (
            body is not None
            and body.get("msgtype") == "markdown"
            and set(body) == {"msgtype", "markdown"}
            and isinstance(body["markdown"].get("content"), str)
            and 0 < len(body["markdown"]["content"].encode()) <= 4096
        )
        if not ok or body is None:
            return self._refuse("wecom", key, 40008, "invalid message type")
        self.received.append(("wecom", key, body))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def dingtalk(self, request: web.Request) -> web.Response:
        token = request.query.get("access_token", "")
        self.hits[token] = self.hits.get(token, 0) + 1
        if token in self.down:
            return web.Response(status=502)
        if token not in self.dingtalk_secrets:
            return self._refuse("dingtalk", token, 300001, "token is not exist")
        secret = self.dingtalk_secrets[token]
        if secret is not None:
            ts = request.query.get("timestamp", "")
            # DingTalk: sign = urlencode(base64(HmacSHA256(secret, timestamp + "\n" + secret))), the
            # timestamp in ms within an hour of the server's clock. aiohttp has already url-decoded it.
            expected = base64.b64encode(
                hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
            ).decode()
            if not ts.isdigit() or abs(int(ts) - clock.time() * 1000) > 3_600_000:
                return self._refuse("dingtalk", token, 310000, "timestamp invalid")
            if request.query.get("sign") != expected:
                return self._refuse("dingtalk", token, 310000, "sign not match")
        body = await self._json(request)
        md = body.get("markdown") if body else None
        ok = (
            body is not None
            and body.get("msgtype") == "markdown"
            and isinstance(md, dict)
            and isinstance(md.get("title"), str)
            and isinstance(md.get("text"), str)
            and isinstance(body.get("at", {}).get("isAtAll"), bool)
        )
        if not ok or body is None:
            return self._refuse("dingtalk", token, 40035, "缺少参数 json")
        self.received.append(("dingtalk", token, body))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def _refuse(self, channel: str, who: str, code: int, msg: str) -> web.Response:
        self.refused.append((channel, who))
        return web.json_response({"errcode": code, "errmsg": msg})  # both answer 200 with an errcode

    @staticmethod
    async def _json(request: web.Request) -> dict[str, Any] | None:
        if request.content_type != "application/json":
            return None
        with contextlib.suppress(ValueError):
            body = json.loads(await request.read())
            return body if isinstance(body, dict) else None
        return None


@contextlib.asynccontextmanager
async def robots_running(robots: Robots) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/cgi-bin/webhook/send", robots.wecom)
    app.router.add_post("/robot/send", robots.dingtalk)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


class Mailbox:
    def __init__(self) -> None:
        self.mails: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, _server: object, _session: object, envelope: Any) -> str:
        self.mails.append((list(envelope.rcpt_tos), bytes(envelope.original_content or envelope.content)))
        return "250 Message accepted for delivery"


# -- end to end -------------------------------------------------------------------------------------------------


async def _user(db: asyncpg.Connection, name: str, role: str, **scope: str) -> int:
    uid, _ = await create_user(db, name, role, None, actor="test", **scope)
    return uid


async def _statuses(db: asyncpg.Connection) -> dict[str, str]:
    rows = await db.fetch(
        "SELECT s.target, d.status FROM notification_deliveries d JOIN notification_subscriptions s"
        " ON s.id = d.subscription_id"
    )
    return {r["target"]: r["status"] for r in rows}


async def test_a_fire_alarm_reaches_each_subscriber_and_a_dead_receiver_delays_nobody(
    services: Services,
    db_url: str,
    registered: asyncpg.Connection,
    topic_root: str,
) -> None:
    db = registered
    op = await _user(db, "op1", "operator", facility=FAC.id)
    town = await _user(db, "town1", "inspector", county=FAC.county, township=FAC.township)
    county = await _user(db, "county1", "inspector", county=FAC.county)
    city = await _user(db, "city1", "inspector")
    elsewhere_county = "140981" if FAC.county != "140981" else "140902"
    far = await _user(db, "far1", "inspector", county=elsewhere_county)
    # operator: WeCom, all severities, quiet all day long (a fire is still sent)
    await add_subscription(db, op, "wecom", "op-key-0001", None, None, "warning", (time(0, 0), time(23, 59)), "zh")
    # the operator's second group robot is down: its deliveries retry, then fail, and hold nobody up
    await add_subscription(db, op, "wecom", "op-down-0002", None, None, "warning", None, "zh")
    await add_subscription(db, town, "dingtalk", "towntoken0000001", "SECtownsecret01", None, "major", None, "zh")
    await add_subscription(db, county, "dingtalk", "countytoken00001", None, None, "critical", None, "en")
    await add_subscription(db, city, "email", "duty@city.example", None, None, "critical", None, "zh")
    await add_subscription(db, far, "wecom", "far-key-0001", None, None, "warning", None, "zh")
    robots = Robots(
        {"op-key-0001", "far-key-0001", "op-down-0002"},
        {"towntoken0000001": "SECtownsecret01", "countytoken00001": None},
        down={"op-down-0002"},
    )
    mailbox = Mailbox()
    smtp_port = free_port()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    pub = Publisher(*services.mqtt_host_port)
    try:
        async with robots_running(robots) as base:
            svc = make(
                services,
                db_url,
                topic_root,
                public_url="http://carewatch.test:8080",
                channels=Channels(
                    wecom_url=f"{base}/cgi-bin/webhook/send",
                    dingtalk_url=f"{base}/robot/send",
                    smtp_host="127.0.0.1",
                    smtp_port=smtp_port,
                    smtp_from="carewatch@city.example",
                ),
                notify_attempts=3,
                notify_retry_s=0.2,
                escalation_s={"critical": (1.0, 2.0, 3.0), "default": (300.0, 900.0, 1800.0)},
                escalation_check_s=0.3,
            )
            async with running(svc):
                t = f"{topic_root}/{FAC.id}/smoke-nap1/event"
                pub.publish(t, payload({"msg_id": "n1", "ts": now_ts(), "type": "fire_alarm", "state": "active"}))

                async def settled() -> bool:
                    st = await db.fetch("SELECT status FROM notification_deliveries")
                    return len(st) >= 8 and all(r["status"] != "pending" for r in st)

                await wait_for(settled, 30, "every delivery sent or failed")
    finally:
        pub.close()
        smtp.stop()
    [alert] = await db.fetch("SELECT id, escalation FROM alerts WHERE rule = 'fire_alarm'")
    assert alert["escalation"] == "city", "unacknowledged, it went up the chain"
    rows = await deliveries(db, None, limit=100)
    got = {(r["username"], r["event"], r["status"]) for r in rows}
    assert got == {
        ("op1", "opened", "sent"),
        ("op1", "opened", "failed"),  # the robot that is down
        ("town1", "opened", "sent"),
        ("town1", "escalated:township", "sent"),
        ("county1", "opened", "sent"),
        ("county1", "escalated:county", "sent"),
        ("city1", "opened", "sent"),
        ("city1", "escalated:city", "sent"),
    }, got
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed[0]["attempts"] == 3 and failed[0]["last_error"] == "HTTP 502"
    assert robots.hits["op-down-0002"] == 3, "retried, then given up"
    assert "far-key-0001" not in robots.hits, "outside the user's scope"
    assert not robots.refused, robots.refused
    # WeCom: Chinese markdown with the facility's name and the link
    [(_, _, wecom)] = [r for r in robots.received if r[0] == "wecom"]
    content = wecom["markdown"]["content"]
    assert f"**【危急】火灾报警 · {FAC.name}**" in content
    assert f"http://carewatch.test:8080/alerts/{alert['id']}" in content
    # DingTalk: the township's signed robot got the opening and its escalation; the county's in English
    ding = [(who, b["markdown"]["title"]) for _, who, b in (r for r in robots.received if r[0] == "dingtalk")]
    assert ("countytoken00001", f"【Critical】Fire alarm · {FAC.name}") in ding
    assert sum(1 for who, _ in ding if who == "towntoken0000001") == 2
    # e-mail: UTF-8 subject and body, to the subscribed address
    assert len(mailbox.mails) == 2
    rcpt, raw = mailbox.mails[0]
    mail = message_from_bytes(raw, policy=policy.default)
    assert rcpt == ["duty@city.example"]
    assert mail["Subject"] == f"【危急】火灾报警 · {FAC.name}"
    assert mail["From"] == "carewatch@city.example"
    assert f"/alerts/{alert['id']}" in mail.get_body().get_content()  # type: ignore[union-attr]


async def test_a_mail_server_that_is_down_fails_visibly_after_retries(
    services: Services,
    db_url: str,
    registered: asyncpg.Connection,
    topic_root: str,
) -> None:
    db = registered
    city = await _user(db, "city2", "inspector")
    await add_subscription(db, city, "email", "duty@city.example", None, None, "critical", None, "zh")
    closed = free_port()  # nothing listens here: the mail server is down
    svc = make(
        services,
        db_url,
        topic_root,
        channels=Channels(smtp_host="127.0.0.1", smtp_port=closed),
        notify_attempts=2,
        notify_retry_s=0.2,
    )
    pub = Publisher(*services.mqtt_host_port)
    try:
        async with running(svc):
            t = f"{topic_root}/{FAC.id}/panic-office/event"
            pub.publish(t, payload({"msg_id": "p1", "ts": now_ts(), "type": "panic"}))

            async def failed() -> bool:
                return await db.fetchval("SELECT count(*) FROM notification_deliveries WHERE status = 'failed'") == 1

            await wait_for(failed, 30, "the delivery given up")
            metrics = svc.metrics.notify_failures.labels("email")._value.get()
    finally:
        pub.close()
    [row] = await deliveries(db, None)
    assert row["attempts"] == 2
    assert "Connect" in row["last_error"] or "refused" in row["last_error"].lower(), row["last_error"]
    assert metrics == 1
    await asyncio.sleep(0)


async def test_the_outbox_claims_the_most_urgent_first_and_keeps_each_robot_under_its_limit(
    registered: asyncpg.Connection,
) -> None:
    """Issue #38 D: life-safety, then by severity, then orders, tests last; a robot gets at most its
    limit a window, the last `reserve` of it only for urgent messages; another robot is not held back."""
    from datetime import timedelta

    from storage.notifications import (
        PRIORITY_ORDER,
        PRIORITY_TEST,
        Outgoing,
        RateLimit,
        alert_priority,
        claim,
        enqueue,
    )

    db = registered
    uid, _ = await create_user(db, "robot-owner", "operator", None, facility=FAC.id)
    city = await add_subscription(db, uid, "wecom", "city-robot", None, None, "warning", None, "zh")
    other = await add_subscription(db, uid, "wecom", "other-robot", None, None, "warning", None, "zh")
    s_city, s_other = sub(id=city, user_id=uid), sub(id=other, user_id=uid)
    t0 = datetime.now(UTC)
    tests = [Outgoing(s_city, None, FAC.id, "test", f"test {i}", "b", priority=PRIORITY_TEST) for i in range(10)]
    await enqueue(db, tests, t0)
    await enqueue(db, [Outgoing(s_city, None, FAC.id, "order:x:1", "order", "b", priority=PRIORITY_ORDER)], t0)
    await enqueue(db, [Outgoing(s_other, None, FAC.id, "test", "other", "b", priority=PRIORITY_TEST)], t0)
    limits = {"wecom": RateLimit(4, 60.0)}
    first = await claim(db, t0, rate_limits=limits, reserve=2)
    assert [d.title for d in first] == ["order", "test 0", "other"], "2 of the city robot's 4 (2 kept), the other's own"
    assert await claim(db, t0 + timedelta(seconds=1), rate_limits=limits, reserve=2) == []
    urgent = [("fire", alert_priority("fire_alarm", "critical")), ("gas", alert_priority("gas_alarm", "critical"))]
    urgent += [("cam", alert_priority("camera_offline", "critical"))]
    for title, prio in urgent:
        await enqueue(db, [Outgoing(s_city, None, FAC.id, f"e-{title}", title, "b", priority=prio)], t0)
    assert alert_priority("fire_alarm", "critical") < alert_priority("camera_offline", "critical")
    assert alert_priority("guard_absent", "major") < alert_priority("guard_absent", "warning") < PRIORITY_ORDER
    second = await claim(db, t0 + timedelta(seconds=2), rate_limits=limits, reserve=2)
    assert sorted(d.title for d in second) == ["fire", "gas"], "the reserve: two urgent, life-safety first"
    assert await claim(db, t0 + timedelta(seconds=3), rate_limits=limits, reserve=2) == []
    later = await claim(db, t0 + timedelta(seconds=61), rate_limits=limits, reserve=2)
    # a window after the first claim: its two sends have left the window, fire and gas still count, so
    # only the critical camera (the reserve) for the city's robot; the other robot's unfinished lease ran out
    assert [d.title for d in later] == ["cam", "other"]


def test_a_full_notification_queue_drops_counts_and_never_raises() -> None:
    """The topic/webhook queue full (a flood of changes, a webhook answering slowly): the escalation sweep
    once put on it with a bare put_nowait, whose QueueFull would have ended the alert service's task group.
    `tell` drops the change, counts it as a `queue` failure, and the service goes on."""
    from prometheus_client import CollectorRegistry, Counter

    from alerts.escalation import Notifier

    failures = Counter("f", "failures", ["channel"], registry=CollectorRegistry())
    n = Notifier(None, None, None, "cw", None, None, 0, failures, asyncio.Event())  # type: ignore[arg-type]
    n.queue = asyncio.Queue(maxsize=1)
    first, second = (Change(i, "escalated", "fac", "smoke_alarm", "critical", "county", False) for i in (1, 2))
    n.tell(first)
    n.tell(second)
    assert n.queue.qsize() == 1 and n.queue.get_nowait() is first
    assert failures.labels("queue")._value.get() == 1
