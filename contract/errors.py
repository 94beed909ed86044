"""The contract's exceptions: ContractError for messages that do not fit it, and DomainError, the one
base of every business refusal (an order in the wrong state, a critical alert acknowledged without a
note, a user that cannot be made), which the web maps to HTTP in one place (web.middleware.errors)."""

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


class DomainError(ValueError):
    """A business rule refused an action. `kind` says how a caller should read it: `invalid` (the
    input breaks a rule: 400), `conflict` (the thing is not in a state for it: 409)."""

    kind = "invalid"
