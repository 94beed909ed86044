"""The contract package's one exception base."""

from __future__ import annotations


class ContractError(ValueError):
    """A message or topic does not fit CONTRACT v1.

    `field` is a short machine-readable reason class used for dead-letter reasons and metrics
    (`json`, `schema`, `size`, `topic`, `channel`, ...); the message is for people.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return self.message
