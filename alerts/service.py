"""`carewatch alerts`: the alert engine as a service.

Why it subscribes to MQTT itself rather than taking ingest's stream: detection latency. A
message reaches the rules as soon as the broker relays it, without waiting for ingest's batch
window and commit; and rule state is per facility, so each alert worker subscribes to the topic
prefixes of the facilities it owns (`--facility` or all), which shares a province between
workers without any coordination.
On start it seeds its state from what ingest stored (device state, today's access events,
conditions still active), and reloads rule timers and active alerts, so a restart neither loses
a half-elapsed `for` window nor opens a duplicate alert. Redelivered copies are dropped by the
engine (by msg_id); every message is judged at its own time (`alerts.engine.event_time`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections import deque
from datetime import datetime, timedelta

import aiohttp
import asyncpg
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import Field

from alerts.engine import AlertEngine, InputClock
from alerts.lifecycle import escalate, may_mute
from alerts.memory import RESUME_GAP_S
from alerts.notify import NotifyConfig, Outbox, by_name
from alerts.state import Register
from alerts.tracker import Decision
from alerts.writers import DecisionWriters
from contract.clock import Clock
from contract.config import Channels
from contract.credit import LAPSE_CLASSES
from contract.errors import ContractError
from contract.payloads import (
    Batch,
    Payload,
    TypedBatch,
    batch_origin_error,
    expand_batch,
    parse_payload,
)
from contract.rules import (
    ESCALATION_S,
    INPUT_SLACK_S,
    LATE_WAIT_S,
    REPLAY_SKEW_MAX_S,
    Key,
    RuleConfig,
    opening_level,
    skew_tolerance_s,
)
from contract.shards import Shard
from contract.topics import Channel, alerts_topic, parse_topic, probe_topic
from runtime.config import ServiceConfig
from runtime.mqtt_source import MqttSource, Received
from runtime.retry import Backoff, Stopped, retry
from runtime.service import Service
from storage import messages, whereabouts
from storage import pickup as pickup_store
from storage import suspensions as suspension_store
from storage.alerts import (
    Change,
    bump_alert,
    clear_alert,
    load_clocks,
    load_memory,
    load_state,
    open_alert,
    raise_severity,
    record_lapse,
    save_clocks,
    save_memory,
    save_timers,
)
from storage.errors import RETRYABLE
from storage.people import fetch_register
from storage.registry import facility_ids, fetch_registry
from supervision.notices import sweep_overdue
from supervision.orders import escalate_overdue, flag_late_receipts

logger = logging.getLogger(__name__)


class WebhookRefusedError(Exception):
    """The webhook's receiver answered with a status other than 2xx."""


WEBHOOK_ERRORS = (aiohttp.ClientError, TimeoutError, WebhookRefusedError)
# Facilities a tick judges before it lets the loop read messages: a sweep of 5,000 facilities at once
# held the loop 0.8-2.2 s on a 2-core machine (the first tick after a start judges them all), and an
# alarm that came meanwhile waited as long (bench province: fire and gas alarms 1.4-2.0 s to the row).
TICK_PART = 250
# How far back a start reads where children left on site were recorded to be (storage.whereabouts): a
# child left on site longer than this without a record has been an open critical alert all that time.
WHEREABOUTS_REACH = timedelta(days=31)


class AlertsConfig(ServiceConfig):
    client_id: str = "carewatch-alerts-1"
    facilities: list[str] | None = None  # owned facilities; None = all
    shard: str | None = None  # k/M: own the facilities of that shard (contract.shards), of those above
    tick_s: float = 1.0
    late_wait_s: float = LATE_WAIT_S  # the watermark's wait for late data (CONTRACT §4)
    escalation_check_s: float = 5.0
    escalation_s: dict[str, tuple[float, float, float]] = Field(default_factory=lambda: dict(ESCALATION_S))
    webhook_url: str | None = None
    webhook_secret: str | None = Field(default=None, repr=False)
    webhook_retries: int = 5
    # people's own channels (alerts/notify.py): WeCom and DingTalk robots, e-mail
    public_url: str = "http://127.0.0.1:8080"  # the web's address, for the links in messages
    channels: Channels = Field(default_factory=Channels)  # contract.config: the robots and the mail server
    notify_attempts: int = 6
    notify_retry_s: float = 15.0
    notify_stop_s: float = 3.0  # how long a stop waits for the outbox's round in progress
    order_step_s: float = 3 * 86400.0  # an overdue order unanswered this long after its last step goes up again

    def notify_config(self) -> NotifyConfig:
        return NotifyConfig(
            public_url=self.public_url,
            channels=self.channels,
            attempts=self.notify_attempts,
            retry_s=self.notify_retry_s,
        )


class AlertMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.evaluations = Counter("carewatch_alerts_evaluations", "messages and ticks evaluated", registry=r)
        self.evaluation_errors = Counter(
            "carewatch_alerts_evaluation_errors", "messages the rules failed on (a bug; logged)", registry=r
        )
        self.opened = Counter("carewatch_alerts_opened", "alerts opened", ["rule", "severity"], registry=r)
        self.cleared = Counter("carewatch_alerts_cleared", "alerts cleared", ["rule", "severity"], registry=r)
        self.notify_failures = Counter(
            "carewatch_alerts_notification_failures", "failed notifications", ["channel"], registry=r
        )
        self.write_queue = Gauge(
            "carewatch_alerts_write_queue", "decisions made and waiting for a writer (alerts.writers)", registry=r
        )
        self.input_behind = Gauge(
            "carewatch_alerts_input_behind_seconds",
            "how long ago the newest probe this worker has judged was sent through the broker (about a tick"
            " when it keeps up; CONTRACT §4)",
            registry=r,
        )
        self.latency = Histogram(
            "carewatch_alerts_detection_seconds",
            "message timestamp to alert committed",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )


class AlertService(Service):
    name = "alerts"
    config: AlertsConfig
    WRITERS = 4  # decisions stored at once (alerts.writers), each on a connection of its own
    pool_max = WRITERS + 2  # and the ticker's timers and escalation, the outbox

    def __init__(self, config: AlertsConfig, rules: dict[str, RuleConfig], clock: Clock | None = None) -> None:
        super().__init__(config, clock)
        self.rules = rules
        self.metrics = AlertMetrics()
        self.engine: AlertEngine | None = None
        self._notify_q: asyncio.Queue[Change] = asyncio.Queue(maxsize=10_000)
        self._saved_timers: dict[str, dict[Key, datetime]] = {}
        self._saved_memory: dict[str, dict[str, object]] = {}  # what rule_memory holds, per facility
        self._memory_all_at = float("-inf")  # (monotonic) when every facility's memory was last saved
        self._http: aiohttp.ClientSession | None = None
        self.outbox: Outbox | None = None
        self.owned: list[str] | None = None  # set by setup: the facilities this worker owns (None: all)
        self.input = self._input_clock(self.clock.now())  # restarted by setup
        self.probe_topic = probe_topic(config.client_id, config.topic_root)
        self._warned_behind = 0.0
        self._deaf_from: datetime | None = None  # judged up to here when the link to the broker dropped
        self._probes: deque[int] = deque(maxlen=20)  # packet ids of the latest probes, for the broker's refusals
        self.writers = DecisionWriters(self.WRITERS, self._persist)
        self.metrics.write_queue.set_function(self.writers.depth)
        # real seconds behind (the accelerated demo's clock would multiply a second's round trip by its speed)
        self.metrics.input_behind.set_function(lambda: self.input.behind_s(self.clock.now()) / self.clock.speed)

    @property
    def metrics_registry(self) -> CollectorRegistry:
        return self.metrics.registry

    def _input_clock(self, started: datetime) -> InputClock:
        """The engine's own clock (CONTRACT §4). Its slack covers a probe's round trip and confirmation,
        which take real seconds: on a clock running at N times (the accelerated demo) those are N times
        as many of its seconds. Left unscaled, an engine at 60x always looked minutes behind its input,
        read every message as from a backlog, never learnt a slow device clock, and took fourteen such
        devices offline in the demo's first minutes."""
        return InputClock(started, INPUT_SLACK_S * self.clock.speed)

    async def _owned(self, conn: asyncpg.Connection) -> list[str] | None:
        """The facilities this worker owns (None: all, with no shard or list given)."""
        cfg = self.config
        if cfg.shard is None:
            return cfg.facilities
        shard = Shard.parse(cfg.shard)
        ids = cfg.facilities if cfg.facilities is not None else await facility_ids(conn)
        return [f for f in ids if shard.owns(f)]

    async def setup(self, stack: contextlib.AsyncExitStack) -> None:
        assert self.pool is not None  # noqa: S101
        now = self.clock.now()
        self.input = self._input_clock(now)
        self._deaf_from = now  # nothing heard until the first connection (the broker may be down at the start)
        async with self.pool.acquire() as conn:
            self.owned = await self._owned(conn)
            reg = await fetch_registry(conn, self.owned)
            register = Register(await fetch_register(conn))
            pending, firing = await load_state(conn, self.owned)
            memories = await load_memory(conn, self.owned)
            # an engine that saved its memory just before judged those facilities until then (a restart)
            watched = {f: at for f, (_, at) in memories.items() if (now - at).total_seconds() <= RESUME_GAP_S}
            self.engine = AlertEngine(
                reg.facilities,
                self.rules,
                now,
                pending,
                firing,
                late_wait_s=self.config.late_wait_s,
                skew_tol_s=skew_tolerance_s(self.clock.speed),
                lapse_rules=frozenset(LAPSE_CLASSES),
                register=register,
                watched=watched,
            )
            await self._seed(conn, now, memories)
            self.engine.set_delegates(await pickup_store.current(conn, self.owned, now))
            self.engine.set_suspensions(await suspension_store.in_force_since(conn, self.owned))
        self._saved_timers = {fid: dict(t.pending) for fid, t in self.engine.trackers.items()}
        self._http = aiohttp.ClientSession()
        stack.push_async_callback(self._http.close)
        self.outbox = Outbox(
            self.config.notify_config(),
            self.pool,
            self._http,
            lambda channel: self.metrics.notify_failures.labels(channel).inc(),
            self.clock,
        )
        await self.registry_watch.ensure()
        self.registry_watch.dirty = False  # just loaded above

    def make_source(self) -> tuple[MqttSource, int, int | None]:
        cfg = self.config
        root = cfg.topic_root
        subs = [f"{root}/+/+/+"] if self.owned is None else [f"{root}/{f}/+/+" for f in self.owned]
        subs.append(self.probe_topic)  # its own probes (CONTRACT §4; alerts.engine.InputClock)
        source = MqttSource(
            cfg.mqtt_url,
            cfg.client_id,
            subs,
            receive_maximum=2000,
            session_expiry_s=3600,
            on_state=self._on_link,
            clock=self.clock,
        )
        return source, 1, None

    def _on_link(self, up: bool) -> None:
        """The link to the broker dropped or came back. What was judged when it dropped is remembered;
        when it is back, the engine counts the gap as nobody's silence (AlertEngine.resume)."""
        wall = self.clock.now()
        if not up:
            if self._deaf_from is None:
                self._deaf_from = self.input.now(wall)
            return
        if self._deaf_from is not None and self.engine is not None:
            if (unheard := (wall - self._deaf_from).total_seconds()) >= 5:
                logger.info(
                    "the broker is reached after %.0f s unheard: that time is not counted as any device's silence",
                    unheard,
                )
            self.engine.resume(self._deaf_from, wall)
        self._deaf_from = None

    async def main(self) -> None:
        assert self._http is not None and self.outbox is not None  # noqa: S101
        async with asyncio.TaskGroup() as tg:
            ticker = tg.create_task(self._ticker(), name="alerts-ticker")
            notifier = tg.create_task(self._notifier(self._http), name="alerts-notifier")
            sender = tg.create_task(self.outbox.run(self.stopping), name="alerts-outbox")
            writers = [tg.create_task(self.writers.run(k), name=f"alerts-writer-{k}") for k in range(self.WRITERS)]
            await self._consume()
            ticker.cancel()
            # a stop keeps the timers and what the rules remember as of now: a restart changes no alert
            with contextlib.suppress(*RETRYABLE):
                await self._save_timers()
                await self._save_memory(self.input.now(self.clock.now()), every=True)
            notifier.cancel()
            # The consumed batches' decisions are stored by now (_consume waited for them); a cancelled tick's
            # may be dropped here, as a tick cut short always was: the saved timers bring them back on start.
            for w in writers:
                w.cancel()
            # the outbox ends its round (a message being sent has a timeout of its own) within the stop budget
            _, late = await asyncio.wait({sender}, timeout=max(1.0, self.config.notify_stop_s))
            for task in late:
                task.cancel()

    def health(self) -> tuple[bool, dict[str, object]]:
        ok = bool(self.source and self.source.connected)
        behind = round(self.input.behind_s(self.clock.now()) / self.clock.speed, 1)  # real seconds
        return ok, {
            "mqtt": ok,
            "facilities": len(self.engine.runtimes) if self.engine else 0,
            "input_behind_s": behind,
            "probes_refused": self.input.refused,  # the broker's reason, when it refuses them (CONTRACT §4)
        }

    # -- state from storage --------------------------------------------------------------------------
    async def _seed(
        self, conn: asyncpg.Connection, now: datetime, memories: dict[str, tuple[dict[str, object], datetime]]
    ) -> None:
        """What ingest stored: device state, today's access events, conditions still active; then what the
        rules remembered (`memories`, storage.alerts.load_memory)."""
        assert self.engine is not None  # noqa: S101
        states = await messages.device_states(conn, self.owned)
        for r in states:
            self.engine.seed_device(
                r["facility_id"], r["device_id"], r["last_seen_at"], r["online"], r["battery_pct"], now
            )
        # the day is replayed at the times things happened: a device's stored `ts` corrected by its saved
        # clock error (a door controller set to UTC stored this morning's badges under yesterday)
        clocks = await load_clocks(conn, self.owned)
        skews = {(r["facility_id"], r["device_id"]): timedelta(seconds=r["skew_s"]) for r in clocks}
        # (stored that much earlier: the query reaches back as far, REPLAY_SKEW_MAX_S at most)
        reach = min(timedelta(seconds=REPLAY_SKEW_MAX_S), max(skews.values(), default=timedelta(0)))
        since = now - timedelta(hours=24) - reach
        for r in await messages.events_since(conn, since, self.owned):
            self._replay(r, "event", now, skews)
        for r in await messages.access_since(conn, since, self.owned):
            self._replay(r, "access", now, skews)
        # after the replay: a replayed message carries no arrival, counts as on time, and would forget
        # the clock of a slow device with an event or a badge in the last day; a saved clock, then, wins
        for r in states:
            self.engine.seed_lateness(r["facility_id"], r["device_id"], r["last_seen_at"], r["status_at"])
        for r in clocks:
            self.engine.seed_clock(r["facility_id"], r["device_id"], r["skew_s"], r["since"])
        # after the replay, which raises no one-off alert again: those still held, and what else the rules
        # remember that no stored message gives back (alerts.memory)
        for fid, (saved, saved_at) in memories.items():
            self.engine.recall(fid, saved, saved_at, now)
            self._saved_memory[fid] = self.engine.memory(fid, now) if fid in self.engine.runtimes else saved
        await self._read_whereabouts(conn, now)

    def _replay(self, r: asyncpg.Record, channel: str, now: datetime, skews: dict[tuple[str, str], timedelta]) -> None:
        assert self.engine is not None  # noqa: S101
        t = min(now, r["time"] + skews.get((r["facility_id"], r["device_id"]), timedelta(0)))
        try:
            p = parse_payload(Channel(channel), r["payload"].encode())
        except ContractError:
            return
        self.engine.replay(r["facility_id"], r["device_id"], p, t, now)

    # -- messages ----------------------------------------------------------------------------------
    async def _consume(self) -> None:
        """Judge batch after batch; a batch is acknowledged once its decisions are stored (a crash before,
        and the broker delivers it again), by a task of its own: the next batch is judged meanwhile,
        so an alarm never waits for the writes of the decisions before it, only its facility's."""
        src = self.source
        assert src is not None  # noqa: S101
        acking: set[asyncio.Task[None]] = set()
        try:
            while not self.stopping.is_set():
                await src.wait(0.05)
                batch = src.take(500, 1 << 20)
                stored: list[asyncio.Future[None]] = []
                for m in batch:
                    if m.topic == self.probe_topic:
                        self._probed(m.payload)
                        continue
                    await self._handle(m.topic, m.payload, m.received_at, stored)
                if not stored:
                    src.ack(batch)
                    continue
                acking.add(asyncio.create_task(self._ack_when_stored(batch, stored)))
                for done in [t for t in acking if t.done()]:
                    acking.discard(done)
                    done.result()  # a failed write (a stop during a retry) ends the loop as before
        finally:
            if acking:
                await asyncio.gather(*acking)  # the last batches' decisions stored, then acknowledged

    def _probed(self, raw: bytes) -> None:
        try:
            sent = datetime.fromisoformat(raw.decode())
        except (UnicodeDecodeError, ValueError):
            logger.warning("a probe that is not a time on %s: %r; ignored", self.probe_topic, raw[:64])
            return
        if sent.tzinfo is not None:
            self.input.returned(sent, time.monotonic())  # real time: the broker's round trip

    def _probe(self, wall: datetime) -> datetime:
        """Send the next probe through the broker; return the time this tick may judge at (CONTRACT §4)."""
        src = self.source
        if src is not None:
            self.input.confirm(time.monotonic(), src.backlog_at())  # real time: the broker's queue
            for mid in self._probes:
                if (reason := src.refusal(mid)) is not None:
                    self.input.refused = reason
            if src.connected:
                self._probes.append(src.publish(self.probe_topic, wall.isoformat().encode(), qos=1))
        # in real seconds: on the accelerated demo's clock a probe's one-second round trip is a minute
        behind = self.input.behind_s(wall) / self.clock.speed
        if behind >= 60 and time.monotonic() - self._warned_behind >= 60:  # real time: how often it says so
            self._warned_behind = time.monotonic()
            if self.input.refused is not None:
                logger.error(
                    "the broker refuses this worker's probes on %s (%s): silence is judged by the wall clock,"
                    " also while the worker is behind its input; let the alerts service write there (re-run"
                    " `carewatch provision`; with EMQX, `carewatch migrate`)",
                    self.probe_topic,
                    self.input.refused,
                )
            else:
                logger.warning(
                    "judging silence as of %s: the newest probe judged was sent %.0f s ago (this worker is"
                    " behind its input or cut off from the broker)",
                    self.input.now(wall).isoformat(timespec="seconds"),
                    behind,
                )
        return self.input.now(wall)

    async def _ack_when_stored(self, batch: list[Received], stored: list[asyncio.Future[None]]) -> None:
        assert self.source is not None  # noqa: S101
        await asyncio.gather(*stored)
        self.source.ack(batch)

    async def _handle(self, topic_s: str, raw: bytes, received: datetime, stored: list[asyncio.Future[None]]) -> None:
        """Evaluate one message; its decisions go to the writers, their futures to `stored`."""
        assert self.engine is not None  # noqa: S101
        try:
            topic = parse_topic(topic_s, self.config.topic_root)
            payload = parse_payload(topic.channel, raw)
        except ContractError:
            return  # ingest dead-letters it; the rules only see valid input
        items: list[tuple[str, Payload]]
        if isinstance(payload, Batch | TypedBatch):  # invalid items are ingest's to dead-letter
            rt = self.engine.runtimes.get(topic.facility_id)
            if batch_origin_error(topic.device_id, rt is not None and rt.gateway == topic.device_id):
                return  # ingest dead-letters it (reason `origin`)
            items = [(u.device_id, u.payload) for u in expand_batch(payload) if u.payload is not None]
        else:
            items = [(topic.device_id, payload)]
        bounds = self.config.time_bounds
        judged = self.input.now(received)  # what silence may be judged at (CONTRACT §4, the engine's own clock)
        for dev, p in items:
            if bounds.check(p, received) is not None:
                continue  # a broken device clock: ingest dead-letters it (reason `time`)
            self.metrics.evaluations.inc()
            try:
                decisions = self.engine.on_message(topic.facility_id, dev, p, received, judged)
            except Exception:  # a bug in a rule must not stop every facility's supervision
                logger.exception("rules failed on a message of %s/%s; skipped", topic.facility_id, dev)
                self.metrics.evaluation_errors.inc()
                continue
            if decisions:
                stored.append(
                    await self.writers.submit(topic.facility_id, decisions, getattr(p, "ts", None) or received)
                )

    # -- decisions -----------------------------------------------------------------------------------
    async def _persist(self, facility_id: str, decisions: list[Decision], source_ts: datetime | None) -> None:
        assert self.pool is not None  # noqa: S101
        for d in decisions:
            change = await self._write(facility_id, d)
            if change is None:
                continue
            if change.action in {"opened", "reopened"}:
                self.metrics.opened.labels(change.rule, change.severity).inc()
                if source_ts is not None:
                    self.metrics.latency.observe(max(0.0, (self.clock.now() - source_ts).total_seconds()))
            elif change.action == "cleared":
                self.metrics.cleared.labels(change.rule, change.severity).inc()
            # a muted alert still reaches the facility's own desk (alerts.notify.wants); escalations of
            # one go to the supervisors, and so nowhere
            if change.action in {"opened", "reopened", "raised"} or (change.action == "escalated" and not change.muted):
                with contextlib.suppress(asyncio.QueueFull):
                    self._notify_q.put_nowait(change)

    async def _write(self, facility_id: str, d: Decision) -> Change | None:
        assert self.pool is not None  # noqa: S101
        pool = self.pool

        async def write() -> Change | None:
            async with pool.acquire() as conn:
                if d.action == "lapse" and d.since is not None:
                    await record_lapse(conn, facility_id, d.key, d.since, d.at)
                    return None
                if d.action == "open" and d.condition is not None:
                    return await open_alert(
                        conn,
                        facility_id,
                        d.key,
                        d.condition,
                        d.at,
                        d.since,
                        mutable=may_mute(d.key.rule),
                        escalation=opening_level(d.key.rule),
                    )
                if d.action == "bump":
                    return await bump_alert(conn, facility_id, d.key, d.at)
                if d.action == "raise" and d.condition is not None:
                    return await raise_severity(conn, facility_id, d.key, d.condition.severity, d.at)
                return await clear_alert(conn, facility_id, d.key, d.at, d.since)

        return await retry(
            write,
            retry_on=RETRYABLE,
            backoff=self.backoff,
            logger=logger,
            what=f"storing alert {d.action} {d.key.rule}",
            stop=self.stopping,
        )

    async def _ticker(self) -> None:
        assert self.engine is not None and self.pool is not None and self.outbox is not None  # noqa: S101
        last_escalation = float("-inf")
        while True:
            wall = self.clock.now()
            now = self._probe(wall)  # silence is judged no later than the input is
            with contextlib.suppress(*RETRYABLE):
                await self._reload_registry_if_changed(now)
            due = []
            ids = list(self.engine.runtimes)
            for i in range(0, len(ids), TICK_PART):  # a part at a time: an alarm waits for one part at most
                due += [
                    await self.writers.submit(fid, [d], None)
                    for fid, d in self.engine.on_tick(now, ids[i : i + TICK_PART])
                ]
                await asyncio.sleep(0)
            if due:
                await asyncio.gather(*due)
            with contextlib.suppress(*RETRYABLE):
                await self._save_timers()
                await self._save_memory(now)
                await self._save_clocks()
                if self.clock.monotonic() - last_escalation >= self.config.escalation_check_s:
                    last_escalation = self.clock.monotonic()
                    async with self.pool.acquire() as conn:
                        # people's deadlines (acknowledging, rectifying) run on the wall clock
                        for change in await escalate(conn, wall, self.config.escalation_s, self.owned):
                            if not change.muted:
                                self._notify_q.put_nowait(change)
                        step = timedelta(seconds=self.config.order_step_s)
                        orders = await escalate_overdue(conn, wall, step, self.owned)
                        orders += await flag_late_receipts(conn, wall, self.owned)  # 逾期未签收, told once
                        # complaints unanswered and filings unreviewed past their deadlines: the city, once
                        if await sweep_overdue(conn, wall, self.outbox.cfg.public_url, self.owned):
                            self.outbox.wake.set()
                    for order in orders:  # 督办: the level an overdue order reached hears of it
                        await self.outbox.queue_order(order, wall)
            # real time: how often the engine looks, not what it judges (a tick at 60x would be 60 a second)
            await asyncio.sleep(self.config.tick_s)

    # -- registry changes (a file loaded from the web or the CLI; a pick-up delegate recorded or revoked) --
    async def _reload_registry_if_changed(self, now: datetime) -> None:
        assert self.engine is not None and self.pool is not None  # noqa: S101
        await self.registry_watch.ensure()
        if not self.registry_watch.dirty:
            return
        self.registry_watch.dirty = False
        async with self.pool.acquire() as conn:
            owned = await self._owned(conn)
            reg = await fetch_registry(conn, owned)
            delegates = await pickup_store.current(conn, owned, now)  # who may collect: same notification
            suspended = await suspension_store.in_force_since(conn, owned)  # 责令停业整改: same notification
            register = Register(await fetch_register(conn))
            await self._read_whereabouts(conn, now)
        if owned is not None and self.source is not None:  # a facility registered since: its topics too
            new = sorted(set(owned) - set(self.owned or ()))
            if new:
                self.source.subscribe([f"{self.config.topic_root}/{f}/+/+" for f in new])
        self.owned = owned
        changed = self.engine.update_registry(reg.facilities, now)
        self.engine.set_delegates(delegates)
        self.engine.set_suspensions(suspended)
        if register != self.engine.register:
            self.engine.update_register(register)
        if changed:
            logger.info("registry reloaded: %d facilities changed", changed)

    async def _save_timers(self) -> None:
        assert self.engine is not None and self.pool is not None  # noqa: S101
        for fid, tracker in self.engine.trackers.items():
            if tracker.pending != self._saved_timers.get(fid, {}):
                async with self.pool.acquire() as conn:
                    await save_timers(conn, fid, tracker.pending)
                self._saved_timers[fid] = dict(tracker.pending)

    async def _read_whereabouts(self, conn: asyncpg.Connection, now: datetime) -> None:
        """Where children left on site are, as people recorded it (storage.whereabouts): at the start, and
        whenever one is recorded (it notifies as a registry change). A record counts for a child left on
        site before it only, so reading one again changes nothing."""
        assert self.engine is not None  # noqa: S101
        for r in await whereabouts.recorded(conn, now - WHEREABOUTS_REACH, self.owned):
            self.engine.record_whereabouts(r["facility_id"], r["child_id"], r["recorded_at"])

    async def _save_memory(self, now: datetime, *, every: bool = False) -> None:
        """What the rules remember (alerts.memory) of the facilities where it changed since it was saved;
        of `every` facility at a stop and every half RESUME_GAP_S: its time says until when this engine
        judged them, so that the next start knows a restart from an outage (alerts.memory.restore)."""
        assert self.engine is not None and self.pool is not None  # noqa: S101
        every = every or self.clock.monotonic() - self._memory_all_at >= RESUME_GAP_S / 2
        changed = {}
        for fid in self.engine.runtimes:
            m = self.engine.memory(fid, now)
            if every or m != self._saved_memory.get(fid):
                changed[fid] = m
        if not changed:
            return
        async with self.pool.acquire() as conn:
            await save_memory(conn, changed, now)
        self._saved_memory.update(changed)
        if every:
            self._memory_all_at = self.clock.monotonic()

    async def _save_clocks(self) -> None:
        """The device clocks learnt or forgotten since the last tick; kept for the next one if this fails."""
        assert self.engine is not None and self.pool is not None  # noqa: S101
        changed = self.engine.clocks_changed
        if not changed:
            return
        batch = dict(changed)
        async with self.pool.acquire() as conn:
            await save_clocks(conn, batch)
        for key, value in batch.items():
            if changed.get(key) == value:
                del changed[key]

    # -- notifications (never block evaluation) ------------------------------------------------------
    async def _notifier(self, http: aiohttp.ClientSession) -> None:
        while True:
            change = await self._notify_q.get()
            assert self.pool is not None  # noqa: S101
            change = await by_name(self.pool, change)  # by name, not by id (contract.names)
            body = change.as_json().encode()
            # a muted alert goes to the facility's own subscriptions only (alerts.notify.wants); the
            # topic and the webhook feed the supervisors' systems, which a maintenance window keeps it from
            if self.source is not None and not change.muted:
                self.source.publish(alerts_topic(change.facility_id, self.config.topic_root), body, qos=1)
            await self._queue_for_people(change)
            if self.config.webhook_url and not change.muted:
                await self._webhook(http, body)

    async def _queue_for_people(self, change: Change) -> None:
        """The subscribers' messages go to the outbox first (sent by `Outbox.run`): nothing is lost
        when a receiver or this process is down."""
        outbox = self.outbox
        assert outbox is not None  # noqa: S101
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
            self.metrics.notify_failures.labels("outbox").inc()

    async def _webhook(self, http: aiohttp.ClientSession, body: bytes) -> None:
        cfg = self.config
        if cfg.webhook_url is None:
            return
        headers = {"Content-Type": "application/json"}
        if cfg.webhook_secret:
            sig = hmac.new(cfg.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-CareWatch-Signature"] = f"sha256={sig}"
        url = cfg.webhook_url

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
                attempts=cfg.webhook_retries,
            )
            return
        self.metrics.notify_failures.labels("webhook").inc()
