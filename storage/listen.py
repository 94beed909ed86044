"""LISTEN connections that come back after a loss, and knowing when the registry changed."""

from __future__ import annotations

import logging
from collections.abc import Callable

import asyncpg

from storage.errors import RETRYABLE

logger = logging.getLogger(__name__)


class Listener:
    """A LISTEN connection of its own on one channel; each notification's payload goes to `on_notify`.

    The owner calls `ensure()` from its own loop: it connects when there is no live connection and
    says whether it just did, since notifications sent while it was down are lost. `probe()` finds a
    connection whose peer went away silently (no reset seen) and drops it.
    """

    def __init__(self, database_url: str, channel: str, on_notify: Callable[[str], None]) -> None:
        self._url = database_url
        self._channel = channel
        self._on_notify = on_notify
        self._conn: asyncpg.Connection | None = None

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self._on_notify(payload)

    async def ensure(self) -> bool:
        """Connect if not connected; True when a new connection was just made. A failure is left for
        the next call."""
        if self.connected:
            return False
        try:
            self._conn = await asyncpg.connect(self._url, timeout=5)
            await self._conn.add_listener(self._channel, self._notified)
        except RETRYABLE as err:
            logger.debug("LISTEN %s not connected: %s", self._channel, err)
            await self.close()
            return False
        return True

    async def probe(self) -> None:
        """A round trip on the connection; one that fails drops it (the next ensure() reconnects)."""
        if self._conn is None:
            return
        try:
            await self._conn.fetchval("SELECT 1", timeout=10)
        except RETRYABLE as err:
            logger.warning("LISTEN %s connection lost (%s)", self._channel, err)
            await self.close()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()


class RegistryWatch(Listener):
    """LISTEN registry_changed (the registry tables' triggers). `dirty` is set by each notification,
    and whenever the listener (re)connects, since changes may have been missed while it was down; the
    owner clears it after reloading."""

    def __init__(self, database_url: str) -> None:
        super().__init__(database_url, "registry_changed", self._changed)
        self.dirty = True

    def _changed(self, _payload: str) -> None:
        self.dirty = True

    async def ensure(self) -> bool:
        made = await super().ensure()
        if made:
            self.dirty = True
        return made
