"""The web's domain errors: what an action refuses, and why. Handlers and actions raise these;
`web.app.errors` is the one place that turns them into HTTP (JSON under /api, the page otherwise),
and a form handler shows the reason on its own page."""

from __future__ import annotations


class Refused(Exception):
    """An action refused for a reason the user can act on. `status` is its HTTP status."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Invalid(Refused):
    """The input is malformed or out of range (400)."""


class Forbidden(Refused):
    """The user may see the thing but not do this to it (403)."""

    status = 403


class NotFound(Refused):
    """No such thing in the user's scope: outside it reads the same as not existing (404)."""

    status = 404

    def __init__(self, reason: str = "not found") -> None:
        super().__init__(reason)
