"""runtime.retry: the one backoff, and a retry that a stop request interrupts at once."""

from __future__ import annotations

import asyncio
import logging
import random
import time

import pytest

from runtime.retry import Backoff, Stopped, retry


def test_backoff_doubles_with_jitter_up_to_its_cap_and_starts_over() -> None:
    b = Backoff(0.2, 3.0, _rng=random.Random(7))
    delays = [b.failed() for _ in range(8)]
    for i, d in enumerate(delays):
        base = min(3.0, 0.2 * 2**i)
        assert 0.5 * base <= d <= min(3.0, 1.5 * base), (i, d)
    assert max(delays) <= 3.0
    assert b.succeeded() == 8
    assert b.failures == 0
    assert b.failed() <= 0.3


def test_backoff_warns_once_a_run_of_failures(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.retry")
    b = Backoff()
    with caplog.at_level(logging.DEBUG, "test.retry"):
        for _ in range(3):
            b.failed()
            b.log(log, "down")
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.DEBUG, logging.DEBUG]


async def test_retry_until_it_succeeds() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise OSError("refused")
        return "stored"

    got = await retry(flaky, retry_on=(OSError,), backoff=Backoff(0.01, 0.02), logger=logging.getLogger("t"), what="x")
    assert (got, calls) == ("stored", 3)


async def test_other_errors_are_not_retried_and_attempts_are_bounded() -> None:
    async def wrong() -> None:
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        await retry(wrong, retry_on=(OSError,), backoff=Backoff(0.01), logger=logging.getLogger("t"), what="x")

    async def down() -> None:
        raise OSError("refused")

    b = Backoff(0.01, 0.02)
    with pytest.raises(OSError, match="refused"):
        await retry(down, retry_on=(OSError,), backoff=b, logger=logging.getLogger("t"), what="x", attempts=4)
    assert b.failures == 4


async def test_a_stop_interrupts_the_wait_between_tries() -> None:
    stop = asyncio.Event()

    async def down() -> None:
        raise OSError("refused")

    asyncio.get_running_loop().call_later(0.2, stop.set)
    t0 = time.monotonic()
    with pytest.raises(Stopped):
        await retry(
            down, retry_on=(OSError,), backoff=Backoff(30, 30), logger=logging.getLogger("t"), what="x", stop=stop
        )
    assert time.monotonic() - t0 < 10, "a 30 s backoff must not hold a stop"
