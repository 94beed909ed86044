"""Alerts that reach people (issue #17): who gets which alert change, the message, and sending it to
WeCom (企业微信) and DingTalk (钉钉) group robots and e-mail.

Who: `wants()` — pure, unit-tested. A subscription covers the facilities of its user's scope (or the
ones it names), from a minimum severity; an opened or reopened alert goes to every such subscription,
an escalation only to those whose user sits at the level it reached (督办: the county hears when it
reaches the county). Quiet hours (the facility's local time) hold back nothing critical or
life-safety (contract.rules.LIFE_SAFETY_RULES).

Sending: `Sender` formats each channel's documented message and reads its documented answer —
- WeCom robot: POST {wecom_url}?key=KEY, `{"msgtype": "markdown", "markdown": {"content": …}}`
  (content ≤ 4096 bytes of UTF-8); answers `{"errcode": 0, "errmsg": "ok"}`. 20 messages a minute per
  robot: errcode 45009 (too frequent) and -1 (busy) are retried, any other errcode is final.
- DingTalk robot: POST {dingtalk_url}?access_token=T[&timestamp=ms&sign=S] with
  `{"msgtype": "markdown", "markdown": {"title": …, "text": …}, "at": {"atMobiles": [], "isAtAll": false}}`;
  S = urlencode(base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}"))) when the robot has a signing
  secret. Answers `{"errcode": 0, "errmsg": "ok"}`; 130101 (too fast) and -1 are retried.
- E-mail: SMTP (aiosmtplib), plain-text UTF-8, subject = title.
Order and pace (issue #38 D): the outbox is claimed most urgent first (life-safety rules, then by
severity, then rectification orders, tests last: storage.notifications.alert_priority), and each robot
gets no more than its service's documented limit, the last `reserve` of which only urgent messages may
use — so a backlog of 20,000 messages to a city's robot leaves a fire alarm waiting for nothing but its
own request (`carewatch bench notify`). A user queues a few test messages an hour (web).
An HTTP status other than 200, a timeout or a refused connection is retried with a doubling delay;
after the last attempt the delivery is `failed` with its reason, on the admins' page and in
`carewatch_alerts_notification_failures`. Each delivery has its own timeout and runs beside the others,
so one receiver that is down delays nobody else's message.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import time as clock
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import aiohttp
import aiosmtplib
import asyncpg

from contract.clock import SYSTEM, Clock
from contract.config import Channels
from contract.labels import label
from contract.names import FacilityNames, summaries
from contract.occurred import phrase, shown_late
from contract.places import county_name_zh, township_name
from contract.rules import LIFE_SAFETY_RULES, SEVERITIES
from storage import notifications as store
from storage.alerts import Change
from storage.errors import RETRYABLE
from storage.notifications import in_quiet_hours
from storage.rectification import OrderChange
from storage.registry import facility_names

logger = logging.getLogger(__name__)

WECOM_MAX_BYTES = 4096
WECOM_RETRY = frozenset({45009, -1})  # API frequency limit; system busy
DINGTALK_RETRY = frozenset({130101, -1})  # sending too fast; system busy

# The robots' documented limits, per robot (key / access token):
# - WeCom group robot, 群机器人配置说明 "消息发送频率限制": "每个机器人发送的消息不能超过20条/分钟"
#   (https://developer.work.weixin.qq.com/document/path/91770; beyond it errcode 45009).
# - DingTalk custom robot, 自定义机器人接入 "消息发送频率限制": "每个机器人每分钟最多发送20条。如果超过20条，
#   会限流10分钟" (https://open.dingtalk.com/document/group/custom-robot-access; errcode 130101
#   "send too fast, exceed 20 times per minute"). Exceeding it mutes the robot for 10 minutes, alarms
#   included, so it is never exceeded, not merely retried.
# Neither says whether the minute is a calendar minute or a sliding one: a sliding window of 61 s (a
# second for the time between our count and theirs) keeps to both readings. E-mail has no such limit.
RATE_LIMITS = {
    "wecom": store.RateLimit(20, 61.0),
    "dingtalk": store.RateLimit(20, 61.0),
}
URGENT_RESERVE = 5  # of a robot's 20 a window, kept for life-safety and critical messages


def wants(sub: store.Subscription, change: Change, local: time) -> bool:
    """Whether this alert change is a message for this subscription (scope and facility already matched)."""
    if not sub.enabled:
        return False
    if change.muted and sub.level != "facility":
        # a maintenance window keeps device-health noise from the supervisors; the facility still hears
        # its own alerts and answers them (they count in its credit: issue #37)
        return False
    if change.severity in SEVERITIES and SEVERITIES.index(change.severity) > SEVERITIES.index(sub.min_severity):
        return False
    if change.action == "escalated":
        if change.escalation != sub.level:
            return False
    elif change.action not in {"opened", "reopened", "raised"}:
        return False
    urgent = change.severity == "critical" or change.rule in LIFE_SAFETY_RULES
    return urgent or not in_quiet_hours(local, sub.quiet_start, sub.quiet_end)


def event_of(change: Change) -> str:
    return f"escalated:{change.escalation}" if change.action == "escalated" else change.action


_T = {
    "facility": ("机构", "Facility"),
    "place": ("位置", "Where"),
    "what": ("情况", "What"),
    "time": ("时间", "When"),
    "state": ("状态", "State"),
    "open": ("查看告警", "Open the alert"),
    "escalated": ("未确认，已上报至", "not acknowledged, escalated to"),
}


def _t(key: str, lang: str) -> str:
    zh, en = _T[key]
    return zh if lang == "zh" else en


def _when(change: Change, tz: str, lang: str) -> str | None:
    """An alert known late, with both times (contract.occurred): "2026-12-06 17:15 按下（18:15 收到，网关离线期间）";
    None when it was known in time (the message's own time says it)."""
    occ, opened = change.occurred_at, change.opened_at
    if occ is None or opened is None or not shown_late(occ, opened):
        return None
    day = f"{occ.astimezone(ZoneInfo(tz)):%Y-%m-%d}"
    told = phrase(change.rule, occ, opened, change.delay_cause, tz, lang)
    return f"{day} {told}" if lang == "zh" else f"{told}, {day}"


async def by_name(pool: asyncpg.Pool, change: Change) -> Change:
    """The change with its texts by name (contract.names: the references the engine wrote, resolved against
    the registry in each language) for the messages, the alerts topic and the webhook; by id when the
    database is away, as before names (a message never waits for a name)."""
    names: FacilityNames | None = None
    with contextlib.suppress(*RETRYABLE):
        async with pool.acquire() as conn:
            names = (await facility_names(conn, [change.facility_id])).get(change.facility_id)
    zh, en = summaries(change.summary, change.summary_en, names)
    return replace(change, summary=zh, summary_en=en)


def render(change: Change, aud: store.Audience, lang: str, public_url: str, now: datetime) -> tuple[str, str]:
    """(title, body) of a message in plain text; the senders add each channel's markup."""
    sev = label("severity", change.severity, lang)
    rule = label("rule", change.rule, lang)
    title = f"【{sev}】{rule} · {aud.facility_name}"
    local = now.astimezone(ZoneInfo(aud.timezone))
    place = " ".join(p for p in (county_name_zh(aud.county), township_name(aud.township)) if p)
    state = label("history", change.action, lang)
    if change.action == "escalated":
        state = f"{_t('escalated', lang)} {label('escalation', change.escalation, lang)}"
    lines = [
        f"{_t('facility', lang)}: {aud.facility_name} ({change.facility_id})",
        f"{_t('place', lang)}: {place}",
        f"{_t('what', lang)}: {change.summary if lang == 'zh' else change.summary_en or change.summary}",
        f"{_t('time', lang)}: {_when(change, aud.timezone, lang) or f'{local:%Y-%m-%d %H:%M}'} ({aud.timezone})",
        f"{_t('state', lang)}: {state}",
        f"{_t('open', lang)}: {public_url.rstrip('/')}/alerts/{change.alert_id}",
    ]
    return title, "\n".join(lines)


def messages_for(change: Change, aud: store.Audience, public_url: str, now: datetime) -> list[store.Outgoing]:
    local = now.astimezone(ZoneInfo(aud.timezone)).time()
    out = []
    for sub in aud.subscriptions:
        if wants(sub, change, local):
            title, body = render(change, aud, sub.lang, public_url, now)
            priority = store.alert_priority(change.rule, change.severity)
            event = event_of(change)
            out.append(store.Outgoing(sub, change.alert_id, change.facility_id, event, title, body, priority=priority))
    return out


# -- the channels' formats --------------------------------------------------------------------------------
def _truncate_utf8(text: str, limit: int) -> str:
    raw = text.encode()
    if len(raw) <= limit:
        return text
    return raw[: limit - 3].decode(errors="ignore") + "…"


def wecom_body(title: str, body: str) -> dict[str, object]:
    content = f"**{title}**\n" + "\n".join(f"> {line}" for line in body.splitlines())
    return {"msgtype": "markdown", "markdown": {"content": _truncate_utf8(content, WECOM_MAX_BYTES)}}


def dingtalk_body(title: str, body: str) -> dict[str, object]:
    text = f"#### {title}\n\n" + "\n\n".join(body.splitlines())
    at: dict[str, object] = {"atMobiles": [], "isAtAll": False}
    return {"msgtype": "markdown", "markdown": {"title": title, "text": text}, "at": at}


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


class DeliveryError(Exception):
    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    public_url: str = "http://127.0.0.1:8080"
    channels: Channels = field(default_factory=Channels)
    attempts: int = 6
    retry_s: float = 15.0  # first retry; doubles, at most 10 min
    timeout_s: float = 10.0
    poll_s: float = 1.0
    rate_limits: dict[str, store.RateLimit] | None = None  # None: RATE_LIMITS
    urgent_reserve: int = URGENT_RESERVE


class Sender:
    def __init__(self, cfg: NotifyConfig, http: aiohttp.ClientSession) -> None:
        self.cfg = cfg
        self.http = http

    async def send(self, d: store.Delivery) -> None:
        if d.target is None:
            raise DeliveryError("the subscription was deleted", retry=False)
        if d.channel == "wecom":
            url = f"{self.cfg.channels.wecom_url}?{urllib.parse.urlencode({'key': d.target})}"
            await self._robot(url, wecom_body(d.title, d.body), WECOM_RETRY)
        elif d.channel == "dingtalk":
            query = f"access_token={urllib.parse.quote_plus(d.target)}"
            if d.secret:
                ts = int(clock.time() * 1000)
                query += f"&timestamp={ts}&sign={dingtalk_sign(d.secret, ts)}"
            url = f"{self.cfg.channels.dingtalk_url}?{query}"
            await self._robot(url, dingtalk_body(d.title, d.body), DINGTALK_RETRY)
        elif d.channel == "email":
            await self._email(d.target, d.title, d.body)
        else:
            raise DeliveryError(f"unknown channel {d.channel}", retry=False)

    async def _robot(self, url: str, body: dict[str, object], retry_codes: frozenset[int]) -> None:
        timeout = aiohttp.ClientTimeout(total=self.cfg.timeout_s)
        data = json.dumps(body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        try:
            async with self.http.post(url, data=data, headers=headers, timeout=timeout) as resp:
                if resp.status != 200:
                    raise DeliveryError(f"HTTP {resp.status}", retry=True)
                answer = json.loads(await resp.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}"[:300], retry=True) from exc
        except ValueError as exc:
            raise DeliveryError("the answer is not JSON", retry=True) from exc
        code = answer.get("errcode") if isinstance(answer, dict) else None
        if code != 0:
            msg = answer.get("errmsg", "") if isinstance(answer, dict) else ""
            raise DeliveryError(f"errcode {code}: {msg}"[:300], retry=code in retry_codes)

    async def _email(self, to: str, subject: str, body: str) -> None:
        cfg, mail = self.cfg, self.cfg.channels
        if not mail.smtp_host:
            raise DeliveryError("no SMTP server configured (carewatch alerts --smtp-host)", retry=False)
        msg = EmailMessage()
        msg["From"] = mail.smtp_from
        msg["To"] = to
        msg["Subject"] = subject
        msg.set_content(body)  # UTF-8, the MIME headers encoded as RFC 2047 where needed
        try:
            await aiosmtplib.send(
                msg,
                hostname=mail.smtp_host,
                port=mail.smtp_port,
                start_tls=mail.smtp_starttls,
                username=mail.smtp_user,
                password=mail.smtp_password,
                timeout=cfg.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"the server refused the address: {exc}"[:300], retry=False) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}"[:300], retry=True) from exc


class Outbox:
    """Queues messages for alert changes and sends what is due, until cancelled."""

    def __init__(
        self,
        cfg: NotifyConfig,
        pool: asyncpg.Pool,
        http: aiohttp.ClientSession,
        on_failure: Callable[[str], None],
        clock: Clock = SYSTEM,
    ) -> None:
        self.cfg = cfg
        # what is due, and when a failed message is tried again: on the service's clock, as the messages
        # are queued (a demo at 60x retries 60 times sooner, against local receivers only)
        self.clock = clock
        self.pool = pool
        self.sender = Sender(cfg, http)
        self.on_failure = on_failure
        self.wake = asyncio.Event()

    async def queue(self, change: Change, now: datetime) -> int:
        async with self.pool.acquire() as conn:
            aud = await store.audience(conn, change.facility_id)
            if aud is None or not aud.subscriptions:
                return 0
            n = await store.enqueue(conn, messages_for(change, aud, self.cfg.public_url, now), now)
        if n:
            self.wake.set()
        return n

    async def queue_order(self, change: OrderChange, now: datetime) -> int:
        """A rectification order's step (督办 from the ticker): to the level it concerns."""
        async with self.pool.acquire() as conn:
            aud = await store.audience(conn, change.facility_id)
            if aud is None or not aud.subscriptions:
                return 0
            n = await store.enqueue(conn, store.order_messages(change, aud, self.cfg.public_url, now), now)
        if n:
            self.wake.set()
        return n

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: it ends between rounds rather than being cancelled inside one, since a
        cancellation while asyncpg releases a connection the database just dropped leaves that release
        running on its own, its error never retrieved (seen stopping during an outage)."""
        while not stop.is_set():
            with contextlib.suppress(*RETRYABLE):
                while not stop.is_set() and await self._round():
                    pass
            await self.clock.wait(self.wake, self.cfg.poll_s)
            self.wake.clear()

    async def _round(self) -> int:
        async with self.pool.acquire() as conn:
            limits = RATE_LIMITS if self.cfg.rate_limits is None else self.cfg.rate_limits
            due = await store.claim(conn, self.clock.now(), rate_limits=limits, reserve=self.cfg.urgent_reserve)
        if due:
            await asyncio.gather(*(self._deliver(d) for d in due))
        return len(due)

    async def _deliver(self, d: store.Delivery) -> None:
        error: str | None = None
        retry_at: datetime | None = None
        try:
            await self.sender.send(d)
        except DeliveryError as exc:
            error = exc.reason
            if exc.retry and d.attempts < self.cfg.attempts:
                delay = min(600.0, self.cfg.retry_s * 2 ** (d.attempts - 1))
                retry_at = self.clock.now() + timedelta(seconds=delay)
            logger.warning("notification %d by %s: %s (attempt %d)", d.id, d.channel, error, d.attempts)
        except Exception as exc:  # a bug here must not stop the other deliveries
            logger.exception("notification %d by %s failed", d.id, d.channel)
            error = f"internal error: {type(exc).__name__}"
        if error is not None and retry_at is None:
            self.on_failure(d.channel)
        with contextlib.suppress(*RETRYABLE):  # if this is lost, the lease expires and it is sent again
            async with self.pool.acquire() as conn:
                await store.finish(conn, d.id, self.clock.now(), error, retry_at)
