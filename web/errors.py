"""The web's domain errors: what an action refuses, and why. Handlers and actions raise these;
`web.middleware.errors` is the one place that turns them into HTTP (JSON under /api, the page otherwise),
and a form handler shows the reason on its own page."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from supervision.requests import RequestRefused


class Refused(Exception):
    """An action refused for a reason the user can act on. `status` is its HTTP status. `reason` is
    the API's (English) text; `key` names the page text (web/i18n.py TEXT, formatted with `args`) that a
    form shows in the page's language."""

    status = 400

    def __init__(self, reason: str, key: str | None = None, **args: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.key = key
        self.args_ = args

    def text(self, lang: str) -> str:
        from web.i18n import TEXT  # the catalogue imports nothing of this module; late to keep errors light

        template = TEXT.get(lang, {}).get(self.key or "")
        return template.format(**self.args_) if template else self.reason


class Invalid(Refused):
    """The input is malformed or out of range (400)."""


class Forbidden(Refused):
    """The user may see the thing but not do this to it (403)."""

    status = 403


class Conflict(Refused):
    """The thing is not in a state that allows this step (409): an order, a maintenance window."""

    status = 409


class NotFound(Refused):
    """No such thing in the user's scope: outside it reads the same as not existing (404)."""

    status = 404

    def __init__(self, reason: str = "not found") -> None:
        super().__init__(reason)


def from_rule(err: RequestRefused) -> Refused:
    """A supervision rule's refusal (supervision.requests.RequestRefused and its kinds) as the web's: its
    status by `kind`, its reason, its page text."""
    cls: type[Refused] = {"forbidden": Forbidden, "conflict": Conflict}.get(err.kind, Invalid)
    return cls(str(err), err.key, **err.args_)
