"""web.throttle's decisions on given counts (the counts themselves: storage.logins, tried in
tests/test_attacks.py against the database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.logins import Counts
from web.throttle import HashSlots, LoginLimits

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
