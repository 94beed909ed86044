"""Which alert worker owns a facility: `k/M` shards by a stable hash of the facility id.

The alert engine's state is per facility (people on site, rule timers, open alerts), so a province
is split between M workers by facility, each subscribing to its own facilities' topics only, loading
and escalating only their alerts — no coordination between workers, no shared state but the
database. The hash is BLAKE2b of the id (stable across processes and Python versions, unlike
`hash()`), so every worker, the web and an operator's `carewatch shard-of` agree.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_FORM = re.compile(r"^(\d+)/(\d+)$")


@dataclass(frozen=True, slots=True)
class Shard:
    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`k/M`: the k-th of M shards, 0 ≤ k < M (e.g. `0/2` and `1/2`)."""
        m = _FORM.match(text.strip())
        if m is None:
            raise ValueError(f"a shard is written k/M, such as 0/2 (got {text!r})")
        k, n = int(m.group(1)), int(m.group(2))
        if n < 1 or not 0 <= k < n:
            raise ValueError(f"shard {text!r}: k must be at least 0 and below M (M at least 1)")
        return cls(k, n)

    def owns(self, facility_id: str) -> bool:
        return shard_of(facility_id, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(facility_id: str, count: int) -> int:
    return int.from_bytes(hashlib.blake2b(facility_id.encode(), digest_size=8).digest(), "big") % count
