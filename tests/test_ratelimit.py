"""web.ratelimit's token buckets on a clock the test turns (the middleware: tests/test_attacks.py)."""

from __future__ import annotations

import pytest

from web.ratelimit import Buckets, RateLimit, retry_after


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_burst_goes_through_then_the_sustained_rate_and_no_more() -> None:
    clock = Clock()
    b = Buckets(RateLimit(rate=20, burst=60), now=clock)
    assert [b.take("t:a") for _ in range(60)] == [0.0] * 60
    wait = b.take("t:a")
    assert wait == pytest.approx(1 / 20)
    assert retry_after(wait) == "1"
    clock.t += 1.0  # a second refills 20, never above the burst
    assert sum(b.take("t:a") == 0.0 for _ in range(40)) == 20
    clock.t += 3600
    assert sum(b.take("t:a") == 0.0 for _ in range(100)) == 60


def test_each_key_has_its_own_bucket() -> None:
    b = Buckets(RateLimit(rate=1, burst=2), now=Clock())
    assert [b.take("t:a") for _ in range(3)][-1] > 0
    assert b.take("t:b") == 0.0
    assert b.take("s:7:1700000000.0") == 0.0


def test_memory_is_bounded_and_the_least_recently_used_goes_first() -> None:
    b = Buckets(RateLimit(rate=1, burst=1), max_keys=3, now=Clock())
    for key in ("a", "b", "c"):
        b.take(key)
    b.take("a")  # spent, and now the most recently used
    b.take("d")  # pushes out b, the least recently used
    assert len(b) == 3
    assert b.take("a") > 0, "a's empty bucket was kept"
    assert b.take("b") == 0.0, "b starts again full"


def test_a_limit_that_allows_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="rate above 0"):
        RateLimit(rate=0)
    with pytest.raises(ValueError, match="burst of at least 1"):
        RateLimit(burst=0)
