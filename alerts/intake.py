"""What the alert engine takes in (issue #36 item 4; a part of `alerts.service.AlertService`).

The live messages from the broker, batch after batch (the engine's own probes among them: CONTRACT §4,
alerts.engine.InputClock), each judged at its own time and its decisions handed to the writers; at a
start, what ingest stored replayed (device state, the last day's events and badges, what the rules
remembered); and the registry, the pick-up delegates, suspensions, the register of people and children's
recorded whereabouts, read again whenever a change is notified. The link to the broker dropping and
coming back is told to the engine here too, so that the gap counts as nobody's silence.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta

import asyncpg
from prometheus_client import Counter

from alerts.engine import AlertEngine, InputClock
from alerts.state import Register
from alerts.writers import DecisionWriters
from contract.errors import ContractError
from contract.payloads import (
    Batch,
    Payload,
    TimeBounds,
    TypedBatch,
    batch_origin_error,
    expand_batch,
    parse_payload,
)
from contract.rules import REPLAY_SKEW_MAX_S
from contract.shards import Shard
from contract.topics import Channel, parse_topic
from runtime.mqtt_source import MqttSource, Received
from storage import messages, whereabouts
from storage import pickup as pickup_store
from storage import suspensions as suspension_store
from storage.alerts import load_clocks
from storage.listen import RegistryWatch
from storage.people import fetch_register
from storage.registry import facility_ids, fetch_registry

logger = logging.getLogger(__name__)

# How far back a start reads where children left on site were recorded to be (storage.whereabouts): a
# child left on site longer than this without a record has been an open critical alert all that time.
WHEREABOUTS_REACH = timedelta(days=31)


async def owned_facilities(
    conn: asyncpg.Connection, facilities: list[str] | None, shard: str | None
) -> list[str] | None:
    """The facilities a worker owns (None: all, with no shard or list given)."""
    if shard is None:
        return facilities
    s = Shard.parse(shard)
    ids = facilities if facilities is not None else await facility_ids(conn)
    return [f for f in ids if s.owns(f)]


class Intake:
    def __init__(
        self,
        engine: AlertEngine,
        input_clock: InputClock,
        writers: DecisionWriters,
        owned: list[str] | None,
        *,
        facilities: list[str] | None,
        shard: str | None,
        topic_root: str,
        probe_topic: str,
        time_bounds: TimeBounds,
        evaluations: Counter,
        evaluation_errors: Counter,
        stopping: asyncio.Event,
        deaf_from: datetime,
    ) -> None:
        self.engine, self.input, self.writers = engine, input_clock, writers
        self.owned = owned  # the facilities this worker owns (None: all), of `facilities` and `shard`
        self.facilities, self.shard = facilities, shard
        self.topic_root, self.probe_topic, self.time_bounds = topic_root, probe_topic, time_bounds
        self.evaluations, self.evaluation_errors = evaluations, evaluation_errors
        self.stopping = stopping
        # judged up to here when the link to the broker dropped (nothing heard until the first connection:
        # the broker may be down at the start)
        self._deaf_from: datetime | None = deaf_from

    # -- the stored day, at a start ------------------------------------------------------------------
    async def seed(
        self,
        conn: asyncpg.Connection,
        now: datetime,
        memories: dict[str, tuple[dict[str, object], datetime]],
        saved_memory: dict[str, dict[str, object]],
    ) -> None:
        """What ingest stored: device state, today's access events, conditions still active; then what the
        rules remembered (`memories`, storage.alerts.load_memory), noted in `saved_memory` as saved."""
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
            saved_memory[fid] = self.engine.memory(fid, now) if fid in self.engine.runtimes else saved
        await self.read_whereabouts(conn, now)
        self.engine.set_delegates(await pickup_store.current(conn, self.owned, now))
        self.engine.set_suspensions(await suspension_store.in_force_since(conn, self.owned))

    def _replay(self, r: asyncpg.Record, channel: str, now: datetime, skews: dict[tuple[str, str], timedelta]) -> None:
        t = min(now, r["time"] + skews.get((r["facility_id"], r["device_id"]), timedelta(0)))
        try:
            p = parse_payload(Channel(channel), r["payload"].encode())
        except ContractError:
            return
        self.engine.replay(r["facility_id"], r["device_id"], p, t, now)

    async def read_whereabouts(self, conn: asyncpg.Connection, now: datetime) -> None:
        """Where children left on site are, as people recorded it (storage.whereabouts): at the start, and
        whenever one is recorded (it notifies as a registry change). A record counts for a child left on
        site before it only, so reading one again changes nothing."""
        for r in await whereabouts.recorded(conn, now - WHEREABOUTS_REACH, self.owned):
            self.engine.record_whereabouts(r["facility_id"], r["child_id"], r["recorded_at"])

    # -- registry changes (a file loaded from the web or the CLI; a pick-up delegate recorded or revoked) --
    async def reload_registry_if_changed(
        self,
        pool: asyncpg.Pool,
        watch: RegistryWatch,
        now: datetime,
        source: MqttSource | None,
    ) -> None:
        await watch.ensure()
        if not watch.dirty:
            return
        watch.dirty = False
        async with pool.acquire() as conn:
            owned = await owned_facilities(conn, self.facilities, self.shard)
            reg = await fetch_registry(conn, owned)
            delegates = await pickup_store.current(conn, owned, now)  # who may collect: same notification
            suspended = await suspension_store.in_force_since(conn, owned)  # 责令停业整改: same notification
            register = Register(await fetch_register(conn))
            await self.read_whereabouts(conn, now)
        if owned is not None and source is not None:  # a facility registered since: its topics too
            new = sorted(set(owned) - set(self.owned or ()))
            if new:
                source.subscribe([f"{self.topic_root}/{f}/+/+" for f in new])
        self.owned = owned
        changed = self.engine.update_registry(reg.facilities, now)
        self.engine.set_delegates(delegates)
        self.engine.set_suspensions(suspended)
        if register != self.engine.register:
            self.engine.update_register(register)
        if changed:
            logger.info("registry reloaded: %d facilities changed", changed)

    # -- the link to the broker ----------------------------------------------------------------------
    def on_link(self, up: bool, wall: datetime) -> None:
        """The link to the broker dropped or came back. What was judged when it dropped is remembered;
        when it is back, the engine counts the gap as nobody's silence (AlertEngine.resume)."""
        if not up:
            if self._deaf_from is None:
                self._deaf_from = self.input.now(wall)
            return
        if self._deaf_from is not None:
            if (unheard := (wall - self._deaf_from).total_seconds()) >= 5:
                logger.info(
                    "the broker is reached after %.0f s unheard: that time is not counted as any device's silence",
                    unheard,
                )
            self.engine.resume(self._deaf_from, wall)
        self._deaf_from = None

    # -- messages ----------------------------------------------------------------------------------
    async def consume(self, src: MqttSource) -> None:
        """Judge batch after batch; a batch is acknowledged once its decisions are stored (a crash before,
        and the broker delivers it again), by a task of its own: the next batch is judged meanwhile,
        so an alarm never waits for the writes of the decisions before it, only its facility's."""
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
                acking.add(asyncio.create_task(self._ack_when_stored(src, batch, stored)))
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

    @staticmethod
    async def _ack_when_stored(src: MqttSource, batch: list[Received], stored: list[asyncio.Future[None]]) -> None:
        await asyncio.gather(*stored)
        src.ack(batch)

    async def _handle(self, topic_s: str, raw: bytes, received: datetime, stored: list[asyncio.Future[None]]) -> None:
        """Evaluate one message; its decisions go to the writers, their futures to `stored`."""
        try:
            topic = parse_topic(topic_s, self.topic_root)
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
        bounds = self.time_bounds
        judged = self.input.now(received)  # what silence may be judged at (CONTRACT §4, the engine's own clock)
        for dev, p in items:
            if bounds.check(p, received) is not None:
                continue  # a broken device clock: ingest dead-letters it (reason `time`)
            self.evaluations.inc()
            try:
                decisions = self.engine.on_message(topic.facility_id, dev, p, received, judged)
            except Exception:  # a bug in a rule must not stop every facility's supervision
                logger.exception("rules failed on a message of %s/%s; skipped", topic.facility_id, dev)
                self.evaluation_errors.inc()
                continue
            if decisions:
                stored.append(
                    await self.writers.submit(topic.facility_id, decisions, getattr(p, "ts", None) or received)
                )
