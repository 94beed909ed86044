"""The one clock every service, the web app and the simulator judge time by (issue #36).

It lives in the contract, at the bottom of the layers, because the simulators and the edge gateway,
which may import nothing else, keep time too.

Nothing that decides something by time reads the wall clock where it happens to need it: a service
is handed a `Clock`, a tick, a batch or a request takes one `now` from it and passes it down, and SQL
that judges time takes that `now` as a parameter (Prometheus Alertmanager's `Silences{clock}`).

Three clocks:
- `SystemClock`: the machine's clock, for production.
- `ScaledClock`: a clock that runs `speed` times as fast as the machine's from a chosen start
  (`carewatch demo --speed 60 --from 07:00`). Several processes given the same spec agree, because
  each derives its time from the machine's wall clock and the same two anchors.
- `ManualClock`: moved only by `advance()`, for tests that would otherwise wait on the real clock.

What stays on real time: I/O deadlines (a connection attempt, a stop deadline, the broker's
keepalive, reconnect backoff). Those protect the process, not a judgement, and a demo at 60x must
not time its database out 60 times sooner. They read `asyncio`'s loop time or `time.monotonic()`
with a comment saying so; tests/test_architecture.py lists every such place.
"""

from __future__ import annotations

import abc
import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta


class Clock(abc.ABC):
    """Wall time, a monotonic time and sleeping, all in the clock's own seconds."""

    @abc.abstractmethod
    def now(self) -> datetime:
        """The current time, timezone-aware in UTC."""

    @abc.abstractmethod
    def monotonic(self) -> float:
        """Seconds that only go forward, for intervals ("every 30 s", "warned a minute ago")."""

    @abc.abstractmethod
    async def sleep(self, seconds: float) -> None:
        """Return after `seconds` of this clock."""

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        """Wait for `event` at most `seconds` of this clock; True if it was set."""
        if event.is_set():
            return True
        sleeper = asyncio.ensure_future(self.sleep(seconds))
        waiter = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for f in (sleeper, waiter):
                f.cancel()
        return event.is_set()

    @property
    def speed(self) -> float:
        """How many of this clock's seconds pass in a second of the machine's (1 for real time)."""
        return 1.0

    def real_seconds_until(self, t: datetime) -> float:
        """How many of the machine's seconds until this clock reads `t` (negative: it has passed)."""
        return (t - self.now()).total_seconds() / self.speed

    def spec(self) -> str:
        """The text that makes this clock again in another process (`clock_from_spec`)."""
        return "system"


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ScaledClock(Clock):
    """Time that reads `start` when the machine's clock reads `anchor` (Unix seconds) and runs `speed`
    times as fast from then on; before the anchor it runs at the machine's pace. Sleeping for N seconds
    of it takes N / speed real seconds.

    The demo puts the anchor a few seconds ahead, past its services' start (carewatch.demo): started
    at 60x at once, the seconds a process takes to import, connect and subscribe were minutes of the
    facilities' day in which the alert engine listened and the simulator did not yet speak, and every
    device it had not heard from by then was reported offline."""

    def __init__(self, start: datetime, speed: float, anchor: float | None = None) -> None:
        if speed <= 0:
            raise ValueError("a clock's speed must be positive")
        if start.tzinfo is None:
            raise ValueError("a clock's start must carry its time zone")
        self._start = start.astimezone(UTC)
        self._speed = float(speed)
        self._anchor = time.time() if anchor is None else anchor  # real time: the anchor of this clock

    def now(self) -> datetime:
        since = time.time() - self._anchor  # real time: scaled
        return self._start + timedelta(seconds=since * self._speed if since > 0 else since)

    def real_seconds_until(self, t: datetime) -> float:
        ahead = (t - self._start).total_seconds()
        at = self._anchor + (ahead / self._speed if ahead > 0 else ahead)
        return at - time.time()  # real time: scaled

    def monotonic(self) -> float:
        return time.monotonic() * self._speed  # real time: scaled

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self._speed)

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def start(self) -> datetime:
        """What the clock reads at its anchor, when it starts running at its speed."""
        return self._start

    def spec(self) -> str:
        return f"scaled:{self._speed:g}:{self._anchor!r}:{self._start.isoformat()}"


class ManualClock(Clock):
    """A clock that stands still until `advance()` moves it; sleepers wake in order of their time."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a clock's start must carry its time zone")
        self._now = start.astimezone(UTC)
        self._mono = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._seq), fut))
        await fut

    def set(self, when: datetime) -> None:
        """Move to `when` (never back)."""
        self.advance((when - self._now).total_seconds())

    def advance(self, seconds: float) -> None:
        """Move the clock forward and wake every sleeper whose time has come."""
        if seconds < 0:
            raise ValueError("a clock never goes back")
        self._mono += seconds
        self._now += timedelta(seconds=seconds)
        while self._sleepers and self._sleepers[0][0] <= self._mono:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    def spec(self) -> str:
        raise ValueError("a manual clock lives in one process and cannot be handed to another")


SYSTEM = SystemClock()


def clock_from_spec(spec: str | None) -> Clock:
    """`system` (or nothing) for the machine's clock; `scaled:SPEED:ANCHOR:START` as `ScaledClock.spec`
    writes it. A spec that cannot be read raises ValueError with the reason."""
    if not spec or spec == "system":
        return SYSTEM
    kind, _, rest = spec.partition(":")
    if kind != "scaled":
        raise ValueError(f"unknown clock {kind!r}: use 'system' or 'scaled:SPEED:ANCHOR:START'")
    try:
        speed, anchor, start = rest.split(":", 2)
        return ScaledClock(datetime.fromisoformat(start), float(speed), float(anchor))
    except ValueError as err:
        raise ValueError(f"clock {spec!r}: {err}") from err
