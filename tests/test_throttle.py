"""web.throttle's decisions on given counts (the counts themselves: storage.logins, tried in
tests/test_attacks.py against the database)."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.logins import Counts
from tests.conftest import PRODUCTION_HASHER
from web.throttle import HASH_NICE, HashSlots, LoginLimits

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
LIMITS = LoginLimits(window=timedelta(minutes=15), per_pair=5, per_address=30, per_name=20)


def counts(pair: int = 0, address: int = 0, name: int = 0, known: bool = False, age_s: float = 600) -> Counts:
    oldest = NOW - timedelta(seconds=age_s)
    return Counts(pair, oldest, address, oldest, name, oldest, known, NOW)


def test_five_failures_hold_the_pair_for_the_rest_of_the_window() -> None:
    assert LIMITS.retry_after(counts(pair=4, address=4, name=4)) == 0
    assert LIMITS.retry_after(counts(pair=5, address=5, name=5)) == 300  # the oldest leaves in 5 min
    assert LIMITS.retry_after(counts(pair=5, address=5, name=5, age_s=899.5)) == 1, "at least a second"


def test_an_address_spraying_names_is_held_except_for_names_known_there() -> None:
    assert LIMITS.retry_after(counts(address=29)) == 0
    assert LIMITS.retry_after(counts(address=30)) == 300
    assert LIMITS.retry_after(counts(address=300, known=True)) == 0, "a colleague's spray at the office"
    assert LIMITS.retry_after(counts(pair=5, known=True)) == 300, "but their own failures hold them"


def test_a_name_guessed_from_many_addresses_is_held_except_where_it_is_known() -> None:
    assert LIMITS.retry_after(counts(name=20)) == 300, "a new address waits"
    assert LIMITS.retry_after(counts(name=200, known=True)) == 0, "its usual address never does"


def test_hash_slots_refuse_at_once_beyond_their_number() -> None:
    slots = HashSlots(2)
    assert slots.take() and slots.take()
    assert not slots.take()
    slots.give()
    assert slots.take()


def _threads_nice() -> dict[int, int]:
    """This process's threads and their nice values, from /proc (threads ending meanwhile are skipped)."""
    seen = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        seen[int(task.name)] = int(stat.rsplit(")", 1)[1].split()[16])  # field 19: nice
    return seen


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own priority is Linux's")
def test_passwords_are_hashed_at_the_lowest_cpu_priority_and_nothing_else_is() -> None:
    """argon2id as stored starts a thread per lane (4) for every slice of every pass, so one hash took
    every core of a 2-core machine from the event loop. The slots' threads run at nice 19, and the lane
    threads argon2 starts inherit it; the process's other threads keep their priority."""
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    slots = HashSlots(1)
    try:
        assert slots.executor.submit(os.getpriority, os.PRIO_PROCESS, 0).result() == HASH_NICE
        before = set(_threads_nice())
        lanes: dict[int, int] = {}
        for _ in range(20):  # until the lane threads are seen while a production hash runs
            running = slots.executor.submit(PRODUCTION_HASHER.hash, "a guess")
            while not running.done():
                lanes |= {tid: nice for tid, nice in _threads_nice().items() if tid not in before}
            if len(lanes) > 1:
                break
        assert len(lanes) > 1, "argon2 started no lane threads of its own"
        assert set(lanes.values()) == {HASH_NICE}, f"the hash ran at nice {lanes}"
    finally:
        slots.close()
    assert os.getpriority(os.PRIO_PROCESS, 0) == mine, "the caller's own priority is untouched"
