"""The storage package's exception base."""

from __future__ import annotations

import asyncpg

# Failures that go away when the database comes back: callers retry with backoff. asyncpg's own
# InternalClientError ("cannot switch to state 15; another operation (2) is in progress", asyncpg issue
# #784) is one of them: raised when a connection is released after a query was cut short under load, the
# pool terminates that connection and the next try takes a new one. Once a periodic report of ingest's
# died of it and took the whole service down (the demo on a loaded machine, 2026-12-07).
RETRYABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.exceptions.OperatorInterventionError,
)


class StorageError(RuntimeError):
    """The database could not be reached, migrated or written."""
