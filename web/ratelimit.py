"""Request rate limits for signed-in clients (issue #38 O): a token bucket per API token and per browser
session, checked before the credential is looked up, so that a refused request costs no database work.

Why 20 a second sustained and 60 at once (`RateLimit`'s defaults, `CAREWATCH_API_RATE`,
`CAREWATCH_API_BURST`): a person's page costs 1 to 5 requests (the page, its API calls; static files are
not counted) and a page a second is fast clicking, so 20 a second is four times the busiest person; a
script walking a city's 1,000 facilities one `…/status` at a time takes 50 s at it. The burst of 60 lets
a page, a dashboard's first fan-out or a script's short parallel batch through at once. Beyond that a
token holder hammering the API (the heaviest call, a city's facility list, takes tens of milliseconds of
the database) is answered 429 at once with `Retry-After`, never queued: nothing here waits or sleeps.

The buckets live in this process (a bounded LRU: `MAX_KEYS` credentials, ~2 MB). With several web
processes each keeps its own, so N processes allow N times the rate: enough against one client hammering
the API; password guessing is held by the database-backed login throttle (web/throttle.py), not here.
A bucket pushed out of the LRU starts again full; that takes `MAX_KEYS` other credentials in between.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

RATE = 20.0  # requests a second, sustained, per token or session
BURST = 60  # requests at once
MAX_KEYS = 10_000  # credentials remembered at once (a bucket is two floats and a 66-character key)


def real_time() -> float:
    """Seconds on the machine's monotonic clock: the buckets refill on real time, whatever clock the
    pages judge by (a demo at 60x must not let a token send 60 times as much)."""
    return time.monotonic()


@dataclass(frozen=True, slots=True)
class RateLimit:
    rate: float = RATE
    burst: int = BURST

    def __post_init__(self) -> None:
        if not (self.rate > 0 and self.burst >= 1):
            raise ValueError(f"a rate limit needs a rate above 0 and a burst of at least 1, not {self}")

    def describe(self) -> str:
        if self.rate < 1:
            return f"at most one request every {1 / self.rate:g} s ({self.burst} at once)"
        return f"at most {self.rate:g} requests a second ({self.burst} at once)"


class Buckets:
    """One token bucket per key, the `max_keys` most recently used kept. `take` decides at once.

    `now`: seconds on a monotonic clock, `real_time` unless a test hands in its own."""

    def __init__(self, limit: RateLimit, max_keys: int = MAX_KEYS, now: Callable[[], float] = real_time) -> None:
        self.limit = limit
        self.max_keys = max_keys
        self._now = now
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def take(self, key: str) -> float:
        """Spend one request of `key`'s bucket: 0.0 if it may go now, else the seconds until it may."""
        now = self._now()
        tokens, at = self._buckets.pop(key, (float(self.limit.burst), now))
        tokens = min(float(self.limit.burst), tokens + (now - at) * self.limit.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.limit.rate
        self._buckets[key] = (tokens, now)  # the most recently used at the end
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after(wait: float) -> str:
    """The header's whole seconds, at least 1 (HTTP has no fractions here)."""
    return str(max(1, math.ceil(wait)))


# The public page (issue #40 item 7) has no credential to key by: its requests are counted per client address
# (web.params.client_address: behind a trusted proxy, the address it saw). A person reading the register
# opens a page every few seconds; 5 a second with 30 at once is several people behind one address (a school's,
# a carrier's NAT) and keeps a scraper at the rate of one person's fast clicking. Filing and looking up a
# complaint costs more than reading and is what a flood would aim at: 5 at once, then one every 10 minutes
# per address. No CAPTCHA (issue #40: out of scope): an address that changes (a botnet) is not held by this.
PUBLIC_LIMIT = RateLimit(rate=5.0, burst=30)
COMPLAINT_LIMIT = RateLimit(rate=1 / 600, burst=5)
