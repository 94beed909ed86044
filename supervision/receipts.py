"""整改通知 签收: the facility acknowledges that it received a rectification order (issue #40 item 3).

Who: the operator of the order's facility, on their own account (the caller has checked the scope: an order
of another facility reads as none, 404). Not an inspector nor an admin on the facility's behalf: a receipt
is the facility's word. When: the server's clock at that moment, never a time given with the request (no
back-dating; the database also refuses a receipt before the order's issue). Once. An order still
unacknowledged after contract.rectification.RECEIPT_WITHIN is flagged to its issuer (order pages, lists).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage.users import Scope
from supervision.requests import RequestRefused

Row = Mapping[str, Any]


class ReceiptRefused(RequestRefused):
    """An acknowledgement of receipt refused: `kind` invalid (400), forbidden (403) or conflict (409)."""


def check_acknowledge(scope: Scope, order: Row, body: Mapping[str, Any]) -> None:
    """Whether a user of `scope` may acknowledge receipt of `order` (its JSON row) with `body` now."""
    if scope.role != "operator" or scope.facility != order["facility_id"]:
        raise ReceiptRefused(
            "only the facility's operator acknowledges receipt of its order", "err_receipt_who", "forbidden"
        )
    if body:
        raise ReceiptRefused(
            "the time of receipt is the server's at the moment of acknowledgement: nothing else is accepted",
            "err_receipt_time",
        )
    if order["received_at"] is not None:
        raise ReceiptRefused("the order's receipt is acknowledged already", "err_receipt_done", "conflict")
