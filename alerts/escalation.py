"""Who hears of an alert, and when it goes up (issue #36 item 4; a part of `alerts.service.AlertService`).

`Escalation` sweeps the deadlines people miss, every `escalation_check_s` of the ticker: alerts not
acknowledged climb the ladder (alerts.lifecycle.escalate), overdue orders go up a level and late receipts
are flagged (supervision.orders), complaints and filings past their deadlines reach the city
(supervision.notices). `Notifier` tells each change people hear of: the alerts topic, the outbox of
people's own channels (alerts.notify), the webhook; it never blocks evaluation.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import aiohttp
import asyncpg
from prometheus_client import Counter

from alerts.lifecycle import escalate
from alerts.notify import Outbox, by_name
from contract.clock import Clock
from contract.topics import alerts_topic
from runtime.mqtt_source import MqttSource
from runtime.retry import Backoff, Stopped, retry
from storage.alerts import Change
from storage.errors import RETRYABLE
from supervision.notices import sweep_overdue
from supervision.orders import escalate_overdue, flag_late_receipts

logger = logging.getLogger(__name__)


class WebhookRefusedError(Exception):
    """The webhook's receiver answered with a status other than 2xx."""


WEBHOOK_ERRORS = (aiohttp.ClientError, TimeoutError, WebhookRefusedError)


class Notifier:
    """The changes people hear of, queued (never blocking evaluation) and told one by one."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        outbox: Outbox,
        clock: Clock,
        topic_root: str,
        webhook_url: str | None,
        webhook_secret: str | None,
        webhook_retries: int,
        failures: Counter,
        stopping: asyncio.Event,
    ) -> None:
        self.pool, self.outbox, self.clock = pool, outbox, clock
        self.topic_root = topic_root
        self.webhook_url, self.webhook_secret, self.webhook_retries = webhook_url, webhook_secret, webhook_retries
        self.failures = failures
        self.stopping = stopping
        self.queue: asyncio.Queue[Change] = asyncio.Queue(maxsize=10_000)

    def tell(self, change: Change) -> None:
        """Queue a change; a full queue drops it (a decision's write never waits for the notifications),
        counted as a failure of the `queue` channel and logged. A dropped change reaches none of the
        topic, the people's outbox (filled from this queue by `run`) or the webhook; the alert itself is
        stored, on the pages and escalated all the same."""
        try:
            self.queue.put_nowait(change)
        except asyncio.QueueFull:
            self.failures.labels("queue").inc()
            logger.warning(
                "notification queue full: alert %s %s not told (topic, outbox, webhook)", change.alert_id, change.action
            )

    async def run(self, http: aiohttp.ClientSession, source: Callable[[], MqttSource | None]) -> None:
        while True:
            change = await self.queue.get()
            change = await by_name(self.pool, change)  # by name, not by id (contract.names)
            body = change.as_json().encode()
            # a muted alert goes to the facility's own subscriptions only (alerts.notify.wants); the
            # topic and the webhook feed the supervisors' systems, which a maintenance window keeps it from
            src = source()
            if src is not None and not change.muted:
                src.publish(alerts_topic(change.facility_id, self.topic_root), body, qos=1)
            await self._queue_for_people(change)
            if self.webhook_url and not change.muted:
                await self._webhook(http, body)

    async def _queue_for_people(self, change: Change) -> None:
        """The subscribers' messages go to the outbox first (sent by `Outbox.run`): nothing is lost
        when a receiver or this process is down."""
        outbox = self.outbox
        try:
            await retry(
                lambda: outbox.queue(change, self.clock.now()),
                retry_on=RETRYABLE,
                backoff=Backoff(0.5, 10.0),
                logger=logger,
                what="queueing notifications",
                attempts=10,
                stop=self.stopping,
            )
        except (Stopped, *RETRYABLE):  # type: ignore[misc]  # a tuple of exception classes
            logger.exception("notifications of alert %d could not be queued", change.alert_id)
            self.failures.labels("outbox").inc()

    async def _webhook(self, http: aiohttp.ClientSession, body: bytes) -> None:
        if self.webhook_url is None:
            return
        headers = {"Content-Type": "application/json"}
        if self.webhook_secret:
            sig = hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-CareWatch-Signature"] = f"sha256={sig}"
        url = self.webhook_url

        async def post() -> None:
            async with http.post(url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=5)) as resp:
                if resp.status >= 300:
                    raise WebhookRefusedError(f"the webhook answered {resp.status}")

        with contextlib.suppress(*WEBHOOK_ERRORS):
            await retry(
                post,
                retry_on=WEBHOOK_ERRORS,
                backoff=Backoff(0.5, 30.0),
                logger=logger,
                what="webhook",
                attempts=self.webhook_retries,
            )
            return
        self.failures.labels("webhook").inc()


class Escalation:
    """The deadlines people miss, swept every `check_s` (monotonic) on the wall clock."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        outbox: Outbox,
        notifier: Notifier,
        clock: Clock,
        check_s: float,
        escalation_s: dict[str, tuple[float, float, float]],
        order_step_s: float,
        owned: Callable[[], list[str] | None],
    ) -> None:
        self.pool, self.outbox, self.notifier, self.clock = pool, outbox, notifier, clock
        self.check_s, self.escalation_s, self.order_step_s = check_s, escalation_s, order_step_s
        self.owned = owned
        self.last = float("-inf")  # (monotonic) the last sweep

    async def sweep_if_due(self, wall: datetime) -> None:
        if self.clock.monotonic() - self.last < self.check_s:
            return
        self.last = self.clock.monotonic()
        owned = self.owned()
        async with self.pool.acquire() as conn:
            # people's deadlines (acknowledging, rectifying) run on the wall clock
            for change in await escalate(conn, wall, self.escalation_s, owned):
                if not change.muted:
                    self.notifier.tell(change)  # a full queue must not end the service
            step = timedelta(seconds=self.order_step_s)
            orders = await escalate_overdue(conn, wall, step, owned)
            orders += await flag_late_receipts(conn, wall, owned)  # 逾期未签收, told once
            # complaints unanswered and filings unreviewed past their deadlines: the city, once
            if await sweep_overdue(conn, wall, self.outbox.cfg.public_url, owned):
                self.outbox.wake.set()
        for order in orders:  # 督办: the level an overdue order reached hears of it
            await self.outbox.queue_order(order, wall)
