"""The alert engine's periodic judging (issue #36 item 4; a part of `alerts.service.AlertService`).

Every `tick_s` of real time: a probe through the broker says how far the input is complete (CONTRACT §4,
alerts.engine.InputClock), and silence is judged no later than that; the registry is read again if a
change was notified; every facility is judged a part at a time (an alarm waits for one part at most);
then what a restart needs is saved (alerts.persistence) and the deadlines people miss are swept
(alerts.escalation).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

import asyncpg

from alerts.engine import AlertEngine, InputClock
from alerts.escalation import Escalation
from alerts.intake import Intake
from alerts.persistence import Persistence
from alerts.writers import DecisionWriters
from contract.clock import Clock
from runtime.mqtt_source import MqttSource
from storage.errors import RETRYABLE
from storage.listen import RegistryWatch

logger = logging.getLogger(__name__)

# Facilities a tick judges before it lets the loop read messages: a sweep of 5,000 facilities at once
# held the loop 0.8-2.2 s on a 2-core machine (the first tick after a start judges them all), and an
# alarm that came meanwhile waited as long (bench province: fire and gas alarms 1.4-2.0 s to the row).
TICK_PART = 250


class Ticker:
    def __init__(
        self,
        engine: AlertEngine,
        input_clock: InputClock,
        clock: Clock,
        writers: DecisionWriters,
        intake: Intake,
        persistence: Persistence,
        escalation: Escalation,
        *,
        pool: asyncpg.Pool,
        registry_watch: RegistryWatch,
        source: Callable[[], MqttSource | None],
        probe_topic: str,
        tick_s: float,
    ) -> None:
        self.engine, self.input, self.clock, self.writers = engine, input_clock, clock, writers
        self.intake, self.persistence, self.escalation = intake, persistence, escalation
        self.pool, self.registry_watch, self.source = pool, registry_watch, source
        self.probe_topic, self.tick_s = probe_topic, tick_s
        self._warned_behind = 0.0
        self._probes: deque[int] = deque(maxlen=20)  # packet ids of the latest probes, for the broker's refusals

    async def run(self) -> None:
        while True:
            wall = self.clock.now()
            now = self._probe(wall)  # silence is judged no later than the input is
            with contextlib.suppress(*RETRYABLE):
                await self.intake.reload_registry_if_changed(self.pool, self.registry_watch, now, self.source())
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
                await self.persistence.save_timers()
                await self.persistence.save_memory(now)
                await self.persistence.save_clocks()
                await self.escalation.sweep_if_due(wall)
            # real time: how often the engine looks, not what it judges (a tick at 60x would be 60 a second)
            await asyncio.sleep(self.tick_s)

    def _probe(self, wall: datetime) -> datetime:
        """Send the next probe through the broker; return the time this tick may judge at (CONTRACT §4)."""
        src = self.source()
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
