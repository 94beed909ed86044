"""The skeleton every long-running CareWatch service stands on (ingest, the alert engine).

`Service.run()` owns, through one AsyncExitStack, what each service needs in the same order:
the database pool (connected with the shared backoff), the registry watch, the service's own
setup, the /metrics and /healthz endpoint, the MQTT source, readiness, then the service's main
loop. `serve()` runs a service under SIGTERM, SIGINT and SIGHUP: the first signal asks it to stop
gracefully (finish the batch in hand, acknowledge, close); if it has not stopped within the grace
period — a database or broker outage can hold a write forever — its task is cancelled, and what it
had not acknowledged is redelivered by the broker to the next run. Either way the process is gone
within `STOP_DEADLINE_S`.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry

from contract.clock import Clock, clock_from_spec
from runtime.collector import settle, watch_pauses
from runtime.config import ServiceConfig
from runtime.http import serve_metrics
from runtime.mqtt_source import MqttSource
from runtime.retry import Backoff, Stopped, retry
from storage.errors import RETRYABLE
from storage.listen import RegistryWatch
from storage.queries import ping

logger = logging.getLogger(__name__)

STOP_DEADLINE_S = 10.0  # the promise (README, CONTRACT §6): every CareWatch process is gone by then
GRACE_S = 6.0  # a graceful stop gets this long before its task is cancelled and its connections dropped
EXIT_S = 9.5  # the backstop: whatever still holds the process then, it exits
CLOSE_S = 1.5  # closing the pool after that: then its connections are dropped
CONNECT_TIMEOUT_S = 5.0  # one connection attempt to the database
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Service(abc.ABC):
    """A CareWatch service: subclasses give `name`, `pool_max`, `metrics_registry`, `setup()`,
    `make_source()`, `main()` and `health()`; the skeleton does the rest."""

    name: str = "service"
    pool_max: int = 4

    def __init__(self, config: ServiceConfig, clock: Clock | None = None) -> None:
        self.config = config
        # the one clock this service judges time by (contract.clock); tests hand in a ManualClock
        self.clock = clock if clock is not None else clock_from_spec(config.clock)
        self.ready = asyncio.Event()
        self.stopping = asyncio.Event()
        self.pool: asyncpg.Pool | None = None
        self.source: MqttSource | None = None
        self.registry_watch = RegistryWatch(config.database_url)
        self.backoff = Backoff(config.backoff_initial_s, config.backoff_max_s)

    # -- what a service gives ----------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def metrics_registry(self) -> CollectorRegistry: ...

    @abc.abstractmethod
    async def setup(self, stack: contextlib.AsyncExitStack) -> None:
        """After the pool is up, before the MQTT source starts (load state, start helpers)."""

    @abc.abstractmethod
    def make_source(self) -> tuple[MqttSource, int, int | None]:
        """The MQTT source, and when its wait() should wake (messages, bytes)."""

    @abc.abstractmethod
    async def main(self) -> None:
        """The service's loop; returns once `stopping` is set and its last work is done."""

    def health(self) -> tuple[bool, dict[str, Any]]:
        ok = bool(self.source and self.source.connected)
        return ok, {"mqtt": ok, "mqtt_link": self.mqtt_link()}

    def mqtt_link(self) -> str:
        """The link to the broker, for /healthz (runtime.mqtt_source.LinkState; idle before the source)."""
        return self.source.link_state() if self.source is not None else "idle"

    # -- the skeleton -------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask for a graceful stop (idempotent; safe from a signal handler)."""
        self.stopping.set()
        if self.source is not None:
            self.source.wake()

    def abort(self) -> None:
        """Drop every database connection at once. A cancelled write can otherwise wait for ever: its
        transaction's ROLLBACK waits for an answer that a partitioned database never sends."""
        if self.pool is not None:
            self.pool.terminate()

    async def run(self, *, settle_gc: bool = False) -> None:
        """settle_gc: a process of its own (`serve`): once set up, what it loaded is frozen out of the
        garbage collector's full passes (runtime.collector)."""
        watch_pauses(self.metrics_registry)
        async with contextlib.AsyncExitStack() as stack:
            self.pool = await self._connect_pool()
            stack.push_async_callback(self._close_pool, self.pool)
            stack.push_async_callback(self.registry_watch.close)
            await self.setup(stack)
            if settle_gc:
                settle()
            if self.config.http:
                await serve_metrics(stack, self.config.http, self.metrics_registry, self.health)
            self.source, wake_at, wake_bytes = self.make_source()
            self.source.start(wake_at=wake_at, wake_bytes=wake_bytes)
            stack.callback(self.source.stop)
            self.ready.set()
            await self.main()

    async def _connect_pool(self) -> asyncpg.Pool:
        async def connect() -> asyncpg.Pool:
            # No floor (min_size=0): with one, asyncpg keeps reconnecting in the background during an
            # outage and logs a traceback each time. Connections are made on first use and kept.
            pool = await asyncpg.create_pool(
                self.config.database_url,
                min_size=0,
                max_size=self.pool_max,
                command_timeout=60,
                timeout=CONNECT_TIMEOUT_S,
            )
            try:
                async with pool.acquire() as conn:
                    await ping(conn)  # the database is there now, or this attempt fails
            except BaseException:
                pool.terminate()
                raise
            return pool

        return await retry(
            connect,
            retry_on=RETRYABLE,
            backoff=Backoff(self.config.backoff_initial_s, self.config.backoff_max_s),
            logger=logger,
            what=f"{self.name}: connecting to the database",
            stop=self.stopping,
        )

    @staticmethod
    async def _close_pool(pool: asyncpg.Pool) -> None:
        try:
            await asyncio.wait_for(pool.close(), CLOSE_S)
        except TimeoutError:
            pool.terminate()  # the database is not answering: drop the connections


async def serve(service: Service, grace_s: float = GRACE_S) -> None:
    """Run `service` until it ends or a stop signal. A stop, graceful or cut short at the grace
    period, returns normally (exit code 0); any other failure propagates."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None  # noqa: S101
    deadline: asyncio.TimerHandle | None = None

    def cut_short() -> None:
        task.cancel()
        service.abort()

    def on_signal(signum: int) -> None:
        nonlocal deadline
        if deadline is not None:  # a second signal: no more patience
            cut_short()
            return
        logger.info("%s: %s received, stopping (at most %.0fs)", service.name, signal.Signals(signum).name, grace_s)
        service.stop()
        deadline = loop.call_later(grace_s, cut_short)
        backstop = threading.Timer(EXIT_S, _exit_now, (service.name,))  # a thread: fires even if the loop is stuck
        backstop.daemon = True
        backstop.start()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    loop.set_exception_handler(_lost_connection_released(service.name))
    try:
        try:
            await service.run(settle_gc=True)
        except* Stopped as group:
            logger.warning("%s: stopped before its work in hand was stored: %s", service.name, _leaf(group))
    except asyncio.CancelledError:
        if deadline is None:
            raise
        task.uncancel()
        logger.warning(
            "%s: did not stop within %.0fs; cancelled (unacknowledged messages are redelivered)", service.name, grace_s
        )
    finally:
        if deadline is not None:
            deadline.cancel()
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)


def _lost_connection_released(name: str) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """The loop's handler of errors nobody awaited. asyncpg returns a connection to its pool in a
    shielded task; when the database went away and the service stops meanwhile, that task fails on
    the lost connection with nobody left to hear it, and asyncio logged a traceback at exit (a stop
    during an outage: tests/test_stops.py, once in a fresh-clone run). A line of warning; anything else
    keeps asyncio's default report."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, RETRYABLE) and "release" in repr(context.get("future")):
            logger.warning("%s: a database connection was lost while it went back to the pool: %s", name, exc)
            return
        loop.default_exception_handler(context)

    return handle


def _exit_now(name: str) -> None:
    logger.error("%s: still not stopped %.1fs after the signal; exiting now", name, EXIT_S)
    logging.shutdown()
    os._exit(0)


def _leaf(group: BaseExceptionGroup[Stopped]) -> BaseException:
    """The first exception of a (possibly nested) exception group, for the log."""
    first: BaseException = group
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first
