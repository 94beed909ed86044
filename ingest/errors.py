"""The storage package's exception base."""

from __future__ import annotations


class StorageError(RuntimeError):
    """The database could not be reached, migrated or written."""
