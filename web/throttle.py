"""Login throttling (issue #38 A-C): who may try a password now, decided before it is hashed.

The counts are the database's (storage.logins), shared by every web process, and the attempt is
reserved there atomically before argon2 runs: 41 parallel tries for one name get 5 checked, not 41.
Limits, within a sliding window of 15 minutes:

- 5 failures of one name from one address hold that pair: guessing one person's password from one
  place is slow. The same person elsewhere is not held, so nobody can lock a real user out;
- 30 failures from one address (any names) hold that address: a spray of names;
- 20 failures of one name from anywhere hold that name: many addresses guessing one password are slow.

The last two never hold a name at an address it has logged in from within 30 days: the person, from
their usual desk, is held by their own failures only, whatever others do elsewhere or at the same
office's address.

A refusal costs nothing (no hash) and says when to come back (429, Retry-After). Each web process also
hashes at most `HASH_SLOTS` passwords at once (half its machine's cores) and answers 503 at once beyond
them, so a flood of logins can take neither the CPU nor the database connections (none is held while
hashing) from the others: with a hash on every core, the flood's own argon2 threads left the event loop
a fraction of a core (py-spy, `bench web --login-flood`, 2026-12-06).

Half the cores is not what it says, though: argon2id as stored (4 lanes) starts a thread per lane for
every slice of every pass, so one hash runs on all of a 2-core machine's cores. The hashes therefore run
in the slots' own threads at the lowest CPU priority (nice 19, Linux: per thread, and inherited by the
lane threads argon2 starts), so a hash gets only the CPU the event loop and the database do not want.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from storage.logins import Counts

WINDOW = timedelta(minutes=15)
KNOWN_FOR = timedelta(days=30)
PER_PAIR = 5  # a person who forgot a password gets five tries in a quarter of an hour
PER_ADDRESS = 30  # a shared office address gets more
PER_NAME = 20  # one name from many addresses (not from the ones it is known at)
HASH_SLOTS = max(1, (os.cpu_count() or 2) // 2)  # argon2 takes a core for ~0.3 s: at most half the cores
HASH_NICE = 19  # the lowest CPU priority: hashing takes what serving requests leaves


@dataclass(frozen=True, slots=True)
class LoginLimits:
    window: timedelta = WINDOW
    known_for: timedelta = KNOWN_FOR
    per_pair: int = PER_PAIR
    per_address: int = PER_ADDRESS
    per_name: int = PER_NAME

    def retry_after(self, c: Counts) -> float:
        """Seconds until this attempt may be made (0: now), from the counts of its name and address."""
        waits = [0.0]
        held = [(c.pair, self.per_pair, c.pair_oldest)]
        if not c.known:  # a name at an address it has logged in from is held by its own failures only
            held += [(c.address, self.per_address, c.address_oldest), (c.name, self.per_name, c.name_oldest)]
        for count, limit, oldest in held:
            if count >= limit and oldest is not None:
                waits.append(max(1.0, (oldest + self.window - c.now).total_seconds()))
        return max(waits)


def lowest_priority() -> None:
    """The calling thread (and every thread it starts from now on) at nice `HASH_NICE`. On Linux a
    priority set for a thread's own id is that thread's alone; elsewhere it would be the whole
    process's, so it is left alone there."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):  # a sandbox refusing it: hash at the usual priority, not fail logins
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_NICE)


class HashSlots:
    """At most `n` password hashes at once in this process; `take` says no at once rather than queue.
    `executor` runs them: `n` threads at the lowest CPU priority (started when first used)."""

    def __init__(self, n: int = HASH_SLOTS) -> None:
        self.n = n
        self.busy = 0
        self.executor = ThreadPoolExecutor(n, thread_name_prefix="argon2", initializer=lowest_priority)

    def take(self) -> bool:
        if self.busy >= self.n:
            return False
        self.busy += 1
        return True

    def give(self) -> None:
        self.busy -= 1

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
