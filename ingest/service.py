"""`carewatch ingest`: MQTT → TimescaleDB, lossless, idempotent, in batches.

Lifecycle: the service skeleton (runtime.service) owns the pool, the registry watch, the metrics
endpoint and the MQTT session; ingest adds its maintenance task and the two-stage consumer. A stop
(SIGTERM, SIGINT, SIGHUP) ends the consumer after a last flush, so everything received is committed
and acknowledged before exit; while the database is down the flush gives up at once instead, and
the broker redelivers the unacknowledged batch to the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from datetime import datetime, timedelta

import asyncpg
from prometheus_client import CollectorRegistry
from pydantic import Field

from contract.registry import DeviceType
from ingest.decode import decode_batch
from ingest.metrics import IngestMetrics
from runtime.config import ServiceConfig
from runtime.mqtt_source import MqttSource, Received
from runtime.retry import retry
from runtime.service import Service
from storage import intake
from storage.errors import RETRYABLE
from storage.messages import ActivityCache, Decoded, WriteResult, write_batch
from storage.migrate import Features, detect_features
from storage.registry import fetch_device_keys
from storage.retention import hour_start, maintain

logger = logging.getLogger(__name__)

# a batch, its decoding, and the time the worker had taken all the broker had sent it, if it had
_Item = tuple[list[Received], Decoded, datetime | None]

DECODE_SLICE_BYTES = 64 * 1024  # ~3 ms of decoding between two looks at the event loop


class IngestConfig(ServiceConfig):
    client_id: str = "carewatch-ingest-1"
    share_group: str = Field("carewatch-ingest", pattern=r"^[^/+#]+$")  # MQTT 5 §4.8.2: no /, + or #
    batch_size: int = Field(10000, ge=1)
    batch_bytes: int = Field(2 * 1024 * 1024, ge=1024)  # also bounds rows per batch for gateway batches
    flush_interval_s: float = Field(0.2, gt=0)
    writers: int = Field(2, ge=1, le=8)  # batches written at once, each on its own connection
    receive_maximum: int = Field(20000, ge=1, le=65535)
    session_expiry_s: int = 7 * 24 * 3600
    registry_refresh_s: float = 30.0
    maintenance_interval_s: float = 300.0


class IngestService(Service):
    name = "ingest"
    config: IngestConfig

    def __init__(self, config: IngestConfig, metrics: IngestMetrics | None = None) -> None:
        super().__init__(config)
        self.pool_max = config.writers + 2
        self.metrics = metrics or IngestMetrics()
        self._devices: dict[tuple[str, str], int] = {}  # (facility, device) -> its number, in _types
        self._types: list[str] = []  # device type by number
        self._facilities: set[str] = set()
        self._registry_loaded_at = 0.0
        self.features: Features | None = None
        self._activity = ActivityCache()
        # facility -> its earliest sample stored of an hour already complete: the rollup's late hours
        self._late: dict[str, datetime] = {}
        # The intake's clock (storage.intake): everything the broker had sent by `caught_up_at` is stored.
        self.caught_up_at: datetime | None = None
        self._unflushed = 0  # batches taken and not yet stored
        self._caught_up_after: datetime | None = None  # caught up once the batches in flight are stored
        self._listened: dict[datetime, float] = {}  # seconds per UTC hour, not yet reported
        # the intake's last gap (migration 020): connected since; caught up to when the link last dropped
        self._listening_since: datetime | None = None
        self._deaf_from: datetime | None = None

    @property
    def metrics_registry(self) -> CollectorRegistry:
        return self.metrics.registry

    async def setup(self, stack: contextlib.AsyncExitStack) -> None:
        # Each batch makes ~10 short-lived objects per row; with the default gen-0 threshold (700)
        # the collector ran thousands of times per batch and halved decode speed (measured 2x).
        gc.set_threshold(100_000, 50, 50)
        assert self.pool is not None  # noqa: S101
        async with self.pool.acquire() as conn:
            self.features = await detect_features(conn)
        await self._refresh_registry()

    def make_source(self) -> tuple[MqttSource, int, int | None]:
        cfg = self.config
        share = f"$share/{cfg.share_group}/{cfg.topic_root}/+/+/+"
        source = MqttSource(
            cfg.mqtt_url,
            cfg.client_id,
            share,
            receive_maximum=cfg.receive_maximum,
            session_expiry_s=cfg.session_expiry_s,
            on_state=self._on_mqtt_state,
            clock=self.clock,
        )
        return source, cfg.batch_size, cfg.batch_bytes

    async def main(self) -> None:
        async with asyncio.TaskGroup() as tg:
            maint = tg.create_task(self._maintenance(), name="ingest-maintenance")
            clock = tg.create_task(self._report_intake(), name="ingest-intake-clock")
            await self._consume()
            maint.cancel()
            clock.cancel()

    # -- the consumer ----------------------------------------------------------------------------
    async def _consume(self) -> None:
        """Two stages: decode batch N+1 while batch N is being committed (the database works on
        the other core meanwhile). Acknowledgements stay in order, after each commit."""
        queue: asyncio.Queue[_Item | None] = asyncio.Queue(maxsize=1)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._write_stage(queue), name="ingest-writer")
            await self._decode_stage(queue)

    async def _decode_stage(self, queue: asyncio.Queue[_Item | None]) -> None:
        cfg, src = self.config, self.source
        assert src is not None  # noqa: S101
        try:
            while not self.stopping.is_set():
                if src.pending() < cfg.batch_size and src.pending_bytes() < cfg.batch_bytes:
                    await src.wait(cfg.flush_interval_s)
                batch = src.take(cfg.batch_size, cfg.batch_bytes)
                drained = self.clock.now() if src.drained() else None
                self.metrics.queue_depth.set(src.pending())
                if batch:
                    self._unflushed += 1
                    await queue.put((batch, await self._decode(batch), drained))
                elif drained is not None:
                    self._caught_up(drained)
            # Last flush of what had arrived by the stop; anything later is unacknowledged and
            # the broker redelivers it to the next ingest (dedup makes that harmless).
            remaining = src.pending()
            while remaining > 0 and (batch := src.take(min(remaining, cfg.batch_size), cfg.batch_bytes)):
                remaining -= len(batch)
                self._unflushed += 1
                await queue.put((batch, await self._decode(batch), None))
        finally:
            await queue.put(None)

    def _caught_up(self, at: datetime) -> None:
        """Nothing was left at the broker for this worker at `at` (MqttSource.drained): caught up then,
        once the batches taken before it are stored."""
        if self._unflushed == 0:
            self._advance(at)
        else:
            self._caught_up_after = at

    def _advance(self, at: datetime) -> None:
        if self.caught_up_at is None or at > self.caught_up_at:
            self.caught_up_at = at

    async def _write_stage(self, queue: asyncio.Queue[_Item | None]) -> None:
        """Up to `writers` batches are written at once, each in its own transaction on its own
        connection, so that one batch's claim and COPY run while another's commit waits for its WAL
        flush. Each flush acknowledges only after the one before it has, so acknowledgements stay in
        order. Concurrent writers are safe for the same reasons concurrent ingest processes are (keys
        and device rows are locked in sorted order)."""
        slots = asyncio.Semaphore(self.config.writers)
        previous: asyncio.Task[None] | None = None
        async with asyncio.TaskGroup() as tg:
            while (item := await queue.get()) is not None:
                await slots.acquire()
                previous = tg.create_task(self._flush(*item, after=previous, slots=slots))

    async def _flush(
        self,
        batch: list[Received],
        decoded: Decoded,
        drained: datetime | None = None,
        after: asyncio.Task[None] | None = None,
        slots: asyncio.Semaphore | None = None,
    ) -> None:
        try:
            t0 = time.perf_counter()
            result = await self._write_with_retry(decoded, batch)
            took = time.perf_counter() - t0
            if after is not None:
                await after
        finally:
            if slots is not None:
                slots.release()
        self.metrics.received.inc(len(batch))
        self.metrics.flush_seconds.observe(took)
        self.metrics.batch_size.observe(len(batch))
        self._note_late(decoded)
        self.metrics.stored.inc(result.stored_messages)
        self.metrics.rows.inc(result.stored_rows)
        self.metrics.duplicates.inc(result.duplicates)
        for reason in decoded.dead_reasons:
            self.metrics.dead.labels(reason).inc()
        # end-to-end lag (the device's time to committed) of up to 200 samples of the batch
        now = self.clock.now()
        for ts in decoded.times[:: max(1, len(decoded.times) // 200)]:
            self.metrics.lag.observe(max(0.0, (now - ts).total_seconds()))
        assert self.source is not None  # noqa: S101
        self.source.ack(batch)
        self._unflushed -= 1  # flushes end in the order their batches were taken (`after`)
        if drained is not None:
            self._advance(drained)
        if self._unflushed == 0 and self._caught_up_after is not None:
            self._advance(self._caught_up_after)
            self._caught_up_after = None

    async def _decode(self, batch: list[Received]) -> Decoded:
        # real time: the age of a cached copy of the registry, not a judgement
        if self.registry_watch.dirty or time.monotonic() - self._registry_loaded_at > self.config.registry_refresh_s:
            await self._try_refresh_registry()
        decoded = await self._decode_in_slices(batch)
        unknown = any(r in {"unknown_device", "unknown_facility"} for r in decoded.dead_reasons)
        # a device registered a moment ago: look again before dead-lettering it
        if unknown and time.monotonic() - self._registry_loaded_at > 1.0 and await self._try_refresh_registry():
            decoded = await self._decode_in_slices(batch)
        return decoded

    async def _decode_in_slices(self, batch: list[Received]) -> Decoded:
        """Decode in slices of about DECODE_SLICE_BYTES, yielding to the event loop between them, so
        that the writer's next round trip (claim, COPY, commit of the previous batch) goes out while
        this one is decoded (a 2 MiB batch takes ~100 ms to decode). Measured with two writers,
        gateway batches of 100 readings: 101k rows/s against 92k when decoded in one go."""
        out = Decoded()
        start, size = 0, 0
        for i, m in enumerate(batch):
            size += len(m.payload)
            if size >= DECODE_SLICE_BYTES:
                self._decode_into(batch[start : i + 1], out)
                start, size = i + 1, 0
                await asyncio.sleep(0)
        self._decode_into(batch[start:], out)
        return out

    def _decode_into(self, messages: list[Received], out: Decoded) -> Decoded:
        cfg = self.config
        return decode_batch(messages, self._known, cfg.topic_root, out, gateway=self._gateway, bounds=cfg.time_bounds)

    async def _try_refresh_registry(self) -> bool:
        """Refresh the device cache; with the database down, keep using the cached registry."""
        try:
            await self._refresh_registry()
        except RETRYABLE as err:
            logger.debug("registry refresh failed (%s); using the cached registry", err)
            return False
        return True

    async def _write_with_retry(self, decoded: Decoded, batch: list[Received]) -> WriteResult:
        """Write until it is stored, however long the database is away; a stop during the outage
        raises runtime.retry.Stopped (the batch stays unacknowledged). A batch the database refuses
        is stored in halves, so that one poison message does not block the rest."""
        assert self.pool is not None  # noqa: S101
        pool = self.pool

        async def write() -> WriteResult:
            async with pool.acquire() as conn:
                return await write_batch(conn, decoded, self._activity)

        def failed(_err: BaseException) -> None:
            self.metrics.db_errors.inc()
            self.metrics.db_up.set(0)

        try:
            result = await retry(
                write,
                retry_on=RETRYABLE,
                backoff=self.backoff,
                logger=logger,
                what=f"storing a batch of {len(batch)}",
                stop=self.stopping,
                on_failure=failed,
            )
        except asyncpg.PostgresError as err:
            logger.warning("batch rejected by the database (%s); storing it in halves", err)
            return await self._write_split(batch)
        self.metrics.db_up.set(1)
        return result

    async def _write_split(self, batch: list[Received]) -> WriteResult:
        """A batch the database refused (a value it cannot store, such as a NUL character in text):
        written again in halves, and the halves of a refused half, so that one poison message costs
        about 2·log2(n) transactions instead of n. A message refused alone is dead-lettered."""
        mid = len(batch) // 2
        first, second = await self._write_part(batch[:mid]), await self._write_part(batch[mid:])
        return WriteResult(
            first.stored_messages + second.stored_messages,
            first.stored_rows + second.stored_rows,
            first.duplicates + second.duplicates,
            first.dead_letters + second.dead_letters,
        )

    async def _write_part(self, part: list[Received]) -> WriteResult:
        assert self.pool is not None  # noqa: S101
        async with self.pool.acquire() as conn:
            try:
                return await write_batch(conn, self._decode_into(part, Decoded()), self._activity)
            except asyncpg.PostgresError as err:
                if isinstance(err, asyncpg.PostgresConnectionError):
                    raise
                if len(part) > 1:
                    refused = err
                else:
                    m = part[0]
                    poison = Decoded()
                    poison.dead.append((m.received_at, m.topic, m.payload, "storage", f"database refused: {err}", None))
                    poison.dead_reasons.append("storage")
                    self.metrics.dead.labels("storage").inc()
                    return await write_batch(conn, poison)
        logger.debug("a part of %d refused (%s); halving it", len(part), refused)
        return await self._write_split(part)

    # -- registry cache --------------------------------------------------------------------------
    def _known(self, facility_id: str, device_id: str) -> bool:
        if device_id == "":
            return facility_id in self._facilities
        return (facility_id, device_id) in self._devices

    def _gateway(self, facility_id: str, device_id: str) -> bool:
        i = self._devices.get((facility_id, device_id))
        return i is not None and self._types[i] == DeviceType.GATEWAY.value

    async def _refresh_registry(self) -> None:
        assert self.pool is not None  # noqa: S101
        await self.registry_watch.ensure()
        async with self.pool.acquire() as conn:
            keys = await fetch_device_keys(conn)
        if keys.keys() != self._devices.keys():  # the same devices (most reloads) keep their numbers
            self._devices = {k: i for i, k in enumerate(keys)}
            self._facilities = {f for f, _ in self._devices}
            self._activity.reindex(self._devices)
        self._types = [keys[k] for k in self._devices]
        self._registry_loaded_at = time.monotonic()  # real time: the cache's age
        self.registry_watch.dirty = False

    # -- maintenance, metrics --------------------------------------------------------------------
    async def _maintenance(self) -> None:
        """The hourly rollup and retention, on a schedule (policies do it where the server has them)."""
        assert self.pool is not None and self.features is not None  # noqa: S101
        while True:
            try:
                late, self._late = self._late, {}
                try:
                    async with self.pool.acquire() as conn:
                        upserted, dropped = await maintain(conn, self.features, self.clock.now(), late)
                except BaseException:
                    for fac, t in late.items():  # kept for the next round
                        self._late[fac] = min(t, self._late.get(fac, t))
                    raise
                logger.debug("maintenance: %d chunks dropped, %d rollup rows", dropped, upserted)
            except RETRYABLE as err:
                logger.warning("maintenance skipped: %s", err)
            await self.clock.sleep(self.config.maintenance_interval_s)

    async def _report_intake(self) -> None:
        """Every few seconds, the intake's clock and the seconds listened (storage.intake): a stretch
        counts as listened when the worker was caught up within it. A report that fails is made up
        by the next one."""
        assert self.pool is not None  # noqa: S101
        last, warned = self.clock.now(), float("-inf")
        while True:
            await self.clock.sleep(intake.BEAT_S)
            now = self.clock.now()
            src = self.source
            # caught up within the stretch, or just before it (a stamp taken before the last report whose
            # batch was committed after it)
            recent = last - timedelta(seconds=intake.BEAT_S)
            if src is not None and src.connected and self.caught_up_at is not None and self.caught_up_at >= recent:
                # at most a few reports' worth: a loop held up longer than that proves nothing
                for hour, secs in intake.split_hours(max(last, now - timedelta(seconds=3 * intake.BEAT_S)), now):
                    self._listened[hour] = self._listened.get(hour, 0.0) + secs
            last = now
            try:
                async with self.pool.acquire() as conn:
                    await intake.beat(
                        conn,
                        self.config.client_id,
                        self.caught_up_at,
                        self._listened.items(),
                        self._listening_since,
                        self._deaf_from,
                        now=now,
                    )
                self._listened = {}
            except RETRYABLE as err:
                logger.warning("the intake's clock not reported: %s", err)
            except asyncpg.PostgresError as err:  # a schema before migration 019: storing goes on regardless
                if self.clock.monotonic() - warned >= 60:
                    warned = self.clock.monotonic()
                    logger.error("the intake's clock not reported (run `carewatch migrate`): %s", err)  # noqa: TRY400

    def _note_late(self, decoded: Decoded) -> None:
        """Remember facilities whose stored samples belong to an hour that has ended (storage.retention,
        refresh_rollup). A message's samples lie close together; its first stands for them."""
        if not decoded.times:
            return
        # in the tzinfo most times carry (see ingest.decode._Ctx.in_bounds: then a cheap comparison)
        cutoff = hour_start(self.clock.now()).astimezone(decoded.times[0].tzinfo)
        if min(decoded.times) >= cutoff:  # nothing of an hour that has ended (the live case)
            return
        late = self._late
        for (fac, _, _), rows in decoded.readings.items():
            t = rows[0][0]
            if t < cutoff and (fac not in late or t < late[fac]):  # type: ignore[operator]
                late[fac] = t  # type: ignore[assignment]

    def _on_mqtt_state(self, up: bool) -> None:
        self.metrics.mqtt_connected.set(1 if up else 0)
        if up:
            self._listening_since = self._listening_since or self.clock.now()
        elif self._listening_since is not None:  # what the broker gets from now on may never reach it
            self._listening_since, self._deaf_from = None, self.caught_up_at

    def health(self) -> tuple[bool, dict[str, object]]:
        ok = bool(self.source and self.source.connected)
        return ok, {"mqtt": ok, "mqtt_link": self.mqtt_link(), "pending": self.source.pending() if self.source else 0}
