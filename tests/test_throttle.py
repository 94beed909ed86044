"""web.throttle on a driven clock."""

from __future__ import annotations

from web.throttle import LoginThrottle


def test_five_failures_lock_the_name_for_the_rest_of_the_window() -> None:
    now = [1000.0]
    t = LoginThrottle(window_s=900, per_user=5, per_address=20, clock=lambda: now[0])
    for _ in range(4):
        t.failed("insp", "10.0.0.1")
    assert t.retry_after("insp", "10.0.0.1") == 0
    t.failed("insp", "10.0.0.1")
    assert t.retry_after("insp", "10.0.0.1") == 900
    assert t.retry_after("insp", "10.0.0.2") == 900, "the name is locked from anywhere"
    assert t.retry_after("other", "10.0.0.2") == 0
    now[0] += 600
    assert t.retry_after("insp", "10.0.0.1") == 300
    now[0] += 300
    assert t.retry_after("insp", "10.0.0.1") == 0, "the window slid past the failures"


def test_an_address_spraying_names_is_locked_and_a_success_clears_the_name() -> None:
    now = [0.0]
    t = LoginThrottle(window_s=900, per_user=5, per_address=20, clock=lambda: now[0])
    for i in range(20):
        t.failed(f"name-{i}", "10.0.0.9")
    assert t.retry_after("anyone", "10.0.0.9") == 900
    assert t.retry_after("anyone", "10.0.0.8") == 0
    t.failed("insp", "10.0.0.1")
    t.succeeded("insp")
    assert t._failures.get("u:insp") is None
