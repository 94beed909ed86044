"""The one retry policy of CareWatch: capped, jittered exponential backoff.

Every reconnect loop and every retried write uses it, so that caps, jitter and logging are the same
everywhere: the first failure of a run of failures is logged as a warning, repeats at debug level,
and the recovery at info. A retry that a stop request interrupts raises `Stopped` at once instead of
sleeping out its delay, so a service stops within its deadline even while the database or the
broker is down (whatever it had not acknowledged is redelivered by the broker after a restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


class Stopped(Exception):
    """A stop was requested while an operation was being retried; the operation did not complete."""


@dataclass(slots=True)
class Backoff:
    """The delays of one retry loop. `failed()` gives the next delay: `initial` doubled per
    consecutive failure, capped at `maximum`, with ±50 % jitter (so that many clients that lost the
    same server do not come back in step); `succeeded()` starts over."""

    initial: float = 0.2
    maximum: float = 10.0
    failures: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def failed(self) -> float:
        base = min(self.maximum, self.initial * 2 ** min(self.failures, 30))
        self.failures += 1
        return min(self.maximum, base * self._rng.uniform(0.5, 1.5))

    def succeeded(self) -> int:
        """Reset; returns how many failures there had been."""
        n, self.failures = self.failures, 0
        return n

    def log(self, logger: logging.Logger, msg: str, *args: object) -> None:
        """Warn on the first failure of a run, then only at debug level."""
        (logger.warning if self.failures <= 1 else logger.debug)(msg, *args)


async def sleep_unless(stop: asyncio.Event | None, seconds: float) -> bool:
    """Sleep `seconds`, or less when `stop` is set meanwhile. True if stopped."""
    if stop is None:
        await asyncio.sleep(seconds)
        return False
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def retry(
    op: Callable[[], Awaitable[T]],
    *,
    retry_on: tuple[type[BaseException], ...],
    backoff: Backoff,
    logger: logging.Logger,
    what: str,
    stop: asyncio.Event | None = None,
    attempts: int | None = None,
    on_failure: Callable[[BaseException], None] | None = None,
) -> T:
    """`await op()` until it succeeds. A `retry_on` failure is retried after the backoff's delay;
    `attempts` bounds the tries (then the last error is raised); a stop request raises `Stopped`.
    Any other exception propagates at once."""
    while True:
        try:
            result = await op()
        except retry_on as err:
            delay = backoff.failed()
            if on_failure is not None:
                on_failure(err)
            if stop is not None and stop.is_set():
                raise Stopped(f"{what}: stopped while retrying ({type(err).__name__}: {err})") from err
            if attempts is not None and backoff.failures >= attempts:
                raise
            backoff.log(logger, "%s failed (%s: %s); retrying in %.1fs", what, type(err).__name__, err, delay)
            if await sleep_unless(stop, delay):
                raise Stopped(f"{what}: stopped while retrying ({type(err).__name__}: {err})") from err
            continue
        if backoff.succeeded():
            logger.info("%s succeeded again", what)
        return result
