"""Knowing when the registry changed: LISTEN registry_changed (the registry tables' triggers)."""

from __future__ import annotations

import logging

import asyncpg

from ingest.errors import RETRYABLE

logger = logging.getLogger(__name__)


class RegistryWatch:
    """A LISTEN connection of its own. `dirty` is set by each notification, and whenever the
    listener (re)connects, since changes may have been missed while it was down; the owner clears
    it after reloading."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._conn: asyncpg.Connection | None = None
        self.dirty = True

    def _on_notify(self, *_: object) -> None:
        self.dirty = True

    async def ensure(self) -> None:
        """Connect if not connected; a failure is left for the next call (and periodic refreshes)."""
        if self._conn is not None and not self._conn.is_closed():
            return
        try:
            self._conn = await asyncpg.connect(self._url, timeout=5)
            await self._conn.add_listener("registry_changed", self._on_notify)
        except RETRYABLE as err:
            logger.debug("registry listener not connected: %s", err)
            self._conn = None
            return
        self.dirty = True

    async def close(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()
