"""What the alert engine writes (issue #36 item 4; a part of `alerts.service.AlertService`).

The decisions, each facility's in order through `alerts.writers` (opened, bumped, raised, cleared alerts,
and lapses for the credit record), and what a restart needs to change no alert: the rule timers, what the
rules remember (alerts.memory) and the device clocks learnt. Each is written only when it changed since
it was last written. SQL is storage's; this decides what to write and when.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

import asyncpg
from prometheus_client import Counter, Histogram

from alerts.engine import AlertEngine
from alerts.lifecycle import may_mute
from alerts.memory import RESUME_GAP_S
from alerts.tracker import Decision
from contract.clock import Clock
from contract.rules import Key, opening_level
from runtime.retry import Backoff, retry
from storage.alerts import (
    Change,
    bump_alert,
    clear_alert,
    open_alert,
    raise_severity,
    record_lapse,
    save_clocks,
    save_memory,
    save_timers,
)
from storage.errors import RETRYABLE

logger = logging.getLogger(__name__)


class Persistence:
    def __init__(
        self,
        pool: asyncpg.Pool,
        engine: AlertEngine,
        clock: Clock,
        backoff: Backoff,
        stopping: asyncio.Event,
        told: Callable[[Change], None],
        opened: Counter,
        cleared: Counter,
        latency: Histogram,
    ) -> None:
        self.pool, self.engine, self.clock = pool, engine, clock
        self.backoff, self.stopping = backoff, stopping
        self.told = told  # a change people hear of (alerts.escalation.Notifier.tell)
        self.opened, self.cleared, self.latency = opened, cleared, latency
        self.saved_timers: dict[str, dict[Key, datetime]] = {}
        self.saved_memory: dict[str, dict[str, object]] = {}  # what rule_memory holds, per facility
        self.memory_all_at = float("-inf")  # (monotonic) when every facility's memory was last saved

    # -- decisions -----------------------------------------------------------------------------------
    async def persist(self, facility_id: str, decisions: list[Decision], source_ts: datetime | None) -> None:
        """A facility's decisions, in order (alerts.writers.DecisionWriters calls it)."""
        for d in decisions:
            change = await self.write(facility_id, d)
            if change is None:
                continue
            if change.action in {"opened", "reopened"}:
                self.opened.labels(change.rule, change.severity).inc()
                if source_ts is not None:
                    self.latency.observe(max(0.0, (self.clock.now() - source_ts).total_seconds()))
            elif change.action == "cleared":
                self.cleared.labels(change.rule, change.severity).inc()
            # a muted alert still reaches the facility's own desk (alerts.notify.wants); escalations of
            # one go to the supervisors, and so nowhere
            if change.action in {"opened", "reopened", "raised"} or (change.action == "escalated" and not change.muted):
                self.told(change)

    async def write(self, facility_id: str, d: Decision) -> Change | None:
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

    # -- what a restart needs ------------------------------------------------------------------------
    def started(self) -> None:
        """The timers as loaded at the start are saved already."""
        self.saved_timers = {fid: dict(t.pending) for fid, t in self.engine.trackers.items()}

    async def save_timers(self) -> None:
        for fid, tracker in self.engine.trackers.items():
            if tracker.pending != self.saved_timers.get(fid, {}):
                async with self.pool.acquire() as conn:
                    await save_timers(conn, fid, tracker.pending)
                self.saved_timers[fid] = dict(tracker.pending)

    async def save_memory(self, now: datetime, *, every: bool = False) -> None:
        """What the rules remember (alerts.memory) of the facilities where it changed since it was saved;
        of `every` facility at a stop and every half RESUME_GAP_S: its time says until when this engine
        judged them, so that the next start knows a restart from an outage (alerts.memory.restore)."""
        every = every or self.clock.monotonic() - self.memory_all_at >= RESUME_GAP_S / 2
        changed = {}
        for fid in self.engine.runtimes:
            m = self.engine.memory(fid, now)
            if every or m != self.saved_memory.get(fid):
                changed[fid] = m
        if not changed:
            return
        async with self.pool.acquire() as conn:
            await save_memory(conn, changed, now)
        self.saved_memory.update(changed)
        if every:
            self.memory_all_at = self.clock.monotonic()

    async def save_clocks(self) -> None:
        """The device clocks learnt or forgotten since the last tick; kept for the next one if this fails."""
        changed = self.engine.clocks_changed
        if not changed:
            return
        batch = dict(changed)
        async with self.pool.acquire() as conn:
            await save_clocks(conn, batch)
        for key, value in batch.items():
            if changed.get(key) == value:
                del changed[key]

    async def save_all(self, now: datetime) -> None:
        """At a stop: the timers, and what the rules remember as of now, of every facility."""
        with contextlib.suppress(*RETRYABLE):
            await self.save_timers()
            await self.save_memory(now, every=True)
