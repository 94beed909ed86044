"""The storage package's exception base."""

from __future__ import annotations

import asyncpg

# Failures that go away when the database comes back: callers retry with backoff.
RETRYABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
)


class StorageError(RuntimeError):
    """The database could not be reached, migrated or written."""
