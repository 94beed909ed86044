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
import logging
from datetime import datetime

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import Field

from alerts.engine import AlertEngine, InputClock
from alerts.escalation import Escalation, Notifier
from alerts.intake import Intake, owned_facilities
from alerts.memory import RESUME_GAP_S
from alerts.notify import NotifyConfig, Outbox
from alerts.persistence import Persistence
from alerts.state import Register
from alerts.ticker import Ticker
from alerts.writers import DecisionWriters
from contract.clock import Clock
from contract.config import Channels
from contract.credit import LAPSE_CLASSES
from contract.rules import (
    ESCALATION_S,
    INPUT_SLACK_S,
    LATE_WAIT_S,
    RuleConfig,
    skew_tolerance_s,
)
from contract.topics import probe_topic
from runtime.config import ServiceConfig
from runtime.mqtt_source import MqttSource
from runtime.service import Service
from storage.alerts import (
    load_memory,
    load_state,
)
from storage.people import fetch_register
from storage.registry import fetch_registry

logger = logging.getLogger(__name__)


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
    """Wiring: the engine, and the parts that feed it and carry out its decisions (issue #36 item 4) —
    intake (messages in, the stored day replayed, registry changes: alerts.intake), the ticker (the
    periodic judging: alerts.ticker), persistence (decisions, timers, memory, clocks: alerts.persistence)
    and escalation with the notifications (alerts.escalation)."""

    name = "alerts"
    config: AlertsConfig
    WRITERS = 4  # decisions stored at once (alerts.writers), each on a connection of its own
    pool_max = WRITERS + 2  # and the ticker's timers and escalation, the outbox

    def __init__(self, config: AlertsConfig, rules: dict[str, RuleConfig], clock: Clock | None = None) -> None:
        super().__init__(config, clock)
        self.rules = rules
        self.metrics = AlertMetrics()
        self.engine: AlertEngine | None = None
        self._http: aiohttp.ClientSession | None = None
        self.outbox: Outbox | None = None
        self.input = self._input_clock(self.clock.now())  # restarted by setup
        self.probe_topic = probe_topic(config.client_id, config.topic_root)
        # the parts, made by setup once the engine and the pool are there
        self.intake: Intake | None = None
        self.persistence: Persistence | None = None
        self.notifier: Notifier | None = None
        self.escalation: Escalation | None = None
        self.ticker: Ticker | None = None
        self.writers: DecisionWriters | None = None
        self.metrics.write_queue.set_function(lambda: self.writers.depth() if self.writers else 0)
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

    async def setup(self, stack: contextlib.AsyncExitStack) -> None:
        assert self.pool is not None  # noqa: S101
        cfg, m = self.config, self.metrics
        now = self.clock.now()
        self.input = self._input_clock(now)
        async with self.pool.acquire() as conn:
            owned = await owned_facilities(conn, cfg.facilities, cfg.shard)
            reg = await fetch_registry(conn, owned)
            register = Register(await fetch_register(conn))
            pending, firing = await load_state(conn, owned)
            memories = await load_memory(conn, owned)
            # an engine that saved its memory just before judged those facilities until then (a restart)
            watched = {f: at for f, (_, at) in memories.items() if (now - at).total_seconds() <= RESUME_GAP_S}
            self.engine = engine = AlertEngine(
                reg.facilities,
                self.rules,
                now,
                pending,
                firing,
                late_wait_s=cfg.late_wait_s,
                skew_tol_s=skew_tolerance_s(self.clock.speed),
                lapse_rules=frozenset(LAPSE_CLASSES),
                register=register,
                watched=watched,
            )
            self._http = aiohttp.ClientSession()
            stack.push_async_callback(self._http.close)
            self.outbox = Outbox(
                cfg.notify_config(),
                self.pool,
                self._http,
                lambda channel: m.notify_failures.labels(channel).inc(),
                self.clock,
            )
            self.notifier = Notifier(
                self.pool,
                self.outbox,
                self.clock,
                cfg.topic_root,
                cfg.webhook_url,
                cfg.webhook_secret,
                cfg.webhook_retries,
                m.notify_failures,
                self.stopping,
            )
            self.persistence = Persistence(
                self.pool,
                engine,
                self.clock,
                self.backoff,
                self.stopping,
                self.notifier.tell,
                m.opened,
                m.cleared,
                m.latency,
            )
            self.writers = DecisionWriters(self.WRITERS, self.persistence.persist)
            # nothing heard until the first connection (the broker may be down at the start)
            self.intake = Intake(
                engine,
                self.input,
                self.writers,
                owned,
                facilities=cfg.facilities,
                shard=cfg.shard,
                topic_root=cfg.topic_root,
                probe_topic=self.probe_topic,
                time_bounds=cfg.time_bounds,
                evaluations=m.evaluations,
                evaluation_errors=m.evaluation_errors,
                stopping=self.stopping,
                deaf_from=now,
            )
            await self.intake.seed(conn, now, memories, self.persistence.saved_memory)
        self.persistence.started()
        intake = self.intake
        self.escalation = Escalation(
            self.pool,
            self.outbox,
            self.notifier,
            self.clock,
            cfg.escalation_check_s,
            cfg.escalation_s,
            cfg.order_step_s,
            lambda: intake.owned,
        )
        self.ticker = Ticker(
            engine,
            self.input,
            self.clock,
            self.writers,
            self.intake,
            self.persistence,
            self.escalation,
            pool=self.pool,
            registry_watch=self.registry_watch,
            source=lambda: self.source,
            probe_topic=self.probe_topic,
            tick_s=cfg.tick_s,
        )
        await self.registry_watch.ensure()
        self.registry_watch.dirty = False  # just loaded above

    def make_source(self) -> tuple[MqttSource, int, int | None]:
        assert self.intake is not None  # noqa: S101
        cfg = self.config
        root = cfg.topic_root
        owned = self.intake.owned
        subs = [f"{root}/+/+/+"] if owned is None else [f"{root}/{f}/+/+" for f in owned]
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
        if self.intake is not None:
            self.intake.on_link(up, self.clock.now())

    async def main(self) -> None:
        assert self._http is not None and self.outbox is not None and self.source is not None  # noqa: S101
        assert self.intake and self.ticker and self.notifier and self.persistence and self.writers  # noqa: S101
        async with asyncio.TaskGroup() as tg:
            ticker = tg.create_task(self.ticker.run(), name="alerts-ticker")
            notifier = tg.create_task(self.notifier.run(self._http, lambda: self.source), name="alerts-notifier")
            sender = tg.create_task(self.outbox.run(self.stopping), name="alerts-outbox")
            writers = [tg.create_task(self.writers.run(k), name=f"alerts-writer-{k}") for k in range(self.WRITERS)]
            await self.intake.consume(self.source)
            ticker.cancel()
            # a stop keeps the timers and what the rules remember as of now: a restart changes no alert
            await self.persistence.save_all(self.input.now(self.clock.now()))
            notifier.cancel()
            # The consumed batches' decisions are stored by now (consume waited for them); a cancelled tick's
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
            "mqtt_link": self.mqtt_link(),
            "facilities": len(self.engine.runtimes) if self.engine else 0,
            "input_behind_s": behind,
            "probes_refused": self.input.refused,  # the broker's reason, when it refuses them (CONTRACT §4)
        }
