"""Requests a facility makes and someone else decides (maintenance windows, closure days): who may
approve, reject or withdraw, the same rule for every kind. The facility under supervision never decides
its own request, and nobody decides one they made."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contract.errors import DomainError
from storage.users import Scope
from supervision.orders import level_of

Row = Mapping[str, Any]


class RequestRefused(DomainError):
    """A request or its decision refused. `kind`: `invalid` (400), `forbidden` (403) or `conflict` (409);
    `key` and `args` name the page text (web/i18n.py) that says why."""

    def __init__(self, reason: str, key: str, kind: str = "invalid", **args: object) -> None:
        super().__init__(reason)
        self.kind = kind
        self.key = key
        self.args_ = args


def may_decide(scope: Scope) -> bool:
    """Inspectors at any level and admins decide the requests of the facilities in their scope (the
    caller has checked the scope); operators never."""
    return level_of(scope) is not None


def check_who(
    username: str, scope: Scope, row: Row, decision: str, what: str, key: str, refused: type[RequestRefused]
) -> None:
    """Whether `username` may `decision` (approve, reject, withdraw) the pending request `row`: the
    requester or the facility's operator withdraws; an inspector or admin other than the requester
    approves or rejects. `what` names the kind in the reasons ("maintenance window"), `key` prefixes the
    page texts' keys (`err_window` → `err_window_own`)."""
    if decision == "withdraw":
        if username != row["requested_by"] and scope.role != "operator":
            raise refused(
                "only the requester or the facility's operator withdraws a request", f"{key}_withdraw_who", "forbidden"
            )
    elif not may_decide(scope):
        raise refused(
            f"only an inspector in scope or an admin approves or rejects a {what}", f"{key}_decide_who", "forbidden"
        )
    elif username == row["requested_by"]:
        raise refused(f"nobody decides a {what} they requested", f"{key}_own", "forbidden")
    if row["status"] != "requested":
        raise refused(f"the {what} is {row['status']} already", f"{key}_state", "conflict")
