"""Login throttling: after too many failed logins for one user name or from one address within a
window, further attempts are refused for the rest of the window without checking the password, so
that guessing is slow and costs the server nothing. Per web process (each worker counts its own);
the window slides."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

WINDOW_S = 15 * 60
PER_USER = 5  # a person who forgot a password gets five tries in a quarter of an hour
PER_ADDRESS = 20  # a shared office address gets more
MAX_KEYS = 100_000  # memory stays bounded under a spray of names


@dataclass
class LoginThrottle:
    window_s: float = WINDOW_S
    per_user: int = PER_USER
    per_address: int = PER_ADDRESS
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, username: str, address: str) -> float:
        """Seconds until this user name from this address may try again (0: now)."""
        return max(self._wait(f"u:{username}", self.per_user), self._wait(f"a:{address}", self.per_address))

    def failed(self, username: str, address: str) -> None:
        now = self.clock()
        if len(self._failures) >= MAX_KEYS:
            self._failures.clear()
        for key in (f"u:{username}", f"a:{address}"):
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, username: str) -> None:
        self._failures.pop(f"u:{username}", None)

    def _wait(self, key: str, limit: int) -> float:
        q = self._failures.get(key)
        if not q:
            return 0.0
        now = self.clock()
        while q and now - q[0] >= self.window_s:
            q.popleft()
        if not q:
            del self._failures[key]
            return 0.0
        return 0.0 if len(q) < limit else self.window_s - (now - q[0])
