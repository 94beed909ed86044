"""Maintenance windows and pick-up delegates of a facility (web/api.py, web/actions.py, web/pickup.py)."""

from __future__ import annotations

from typing import Annotated, Literal, NotRequired

from pydantic import Field
from typing_extensions import TypedDict

from contract.pickup import CONSENT_METHODS, KINDS, RELATIONS
from contract.rules import MAINTENANCE_STATUSES
from web.schemas.base import OneOf, RequestBody, Time, closed
from web.schemas.ops import FID, Op, path_id, query

Reason = Annotated[str, Field(max_length=500)]


class MaintenanceIn(RequestBody):
    """At most 12 hours, starting no earlier than now (10 minutes' grace), at most 24 hours of approved or
    requested window a month per facility (Asia/Shanghai months). Only an approved window has any effect, and
    then only on the health of the devices under it (CONTRACT §5)."""

    starts_at: Time
    ends_at: Time
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    device_id: Annotated[str | None, Field(description="one device; omit for the whole facility")] = None


class MaintenanceDecision(RequestBody):
    """A decision on a request: a reason, required to reject."""

    reason: Annotated[Reason, Field(description="required to reject")] = ""


@closed
class Maintenance(TypedDict):
    """the window"""

    id: int
    facility_id: str
    device_id: NotRequired[str | None]
    starts_at: Time
    ends_at: Time
    reason: str
    author: str
    created_at: NotRequired[Time]
    status: Annotated[str, OneOf(MAINTENANCE_STATUSES)]
    requested_by: str
    decided_by: NotRequired[str | None]
    decided_at: NotRequired[Time | None]
    decision_reason: NotRequired[str | None]


@closed
class Windows(TypedDict):
    """windows"""

    windows: list[Maintenance]


Relation = Annotated[str, OneOf(RELATIONS)]
Kind = Annotated[str, OneOf(KINDS)]


class DelegateIn(RequestBody):
    """Only the facility's operator. The validity starts no earlier than now (10 minutes' grace) and counts from
    the recording on: a delegate never covers a pick-up before it; a one-off is valid at most 7 days and for one
    pick-up, a standing one at most 366 days. Consent from a registered guardian of the child, not in the future,
    at most 90 days old (CONTRACT §4 unauthorized_pickup)."""

    child_id: Annotated[str, Field(min_length=1, max_length=64)]
    person_id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=64,
            pattern="^[A-Za-z0-9_.:-]{1,64}$",
            description="the id the door reports as the child_out's guardian_id",
        ),
    ]
    name: Annotated[str, Field(min_length=1, max_length=100)]
    relation: Relation
    kind: Kind
    valid_from: Time
    valid_until: Time
    consent_by: Annotated[str, Field(min_length=1, max_length=64, description="the registered guardian who consented")]
    consent_method: Annotated[
        Literal["note"], Field(description="a signed form (signed_form) is uploaded through the facility page")
    ]
    consent_at: Time
    consent_note: Annotated[str, Field(min_length=10, max_length=1000)]


class DelegateRevoke(RequestBody):
    """Why the delegate is revoked."""

    reason: Reason = ""


@closed
class Consent(TypedDict):
    by: str
    method: Annotated[str, OneOf(CONSENT_METHODS)]
    at: Time
    note: str
    file: NotRequired[str | None]


@closed
class Delegate(TypedDict):
    """the delegate"""

    id: int
    facility_id: str
    child_id: str
    person_id: str
    name: str
    relation: Relation
    kind: Kind
    valid_from: Time
    valid_until: Time
    state: Literal["pending", "valid", "used", "expired", "revoked"]
    first_used_at: NotRequired[Time | None]
    has_photo: NotRequired[bool]
    consent: Consent
    created_by: str
    created_at: Time
    revoked_by: NotRequired[str | None]
    revoked_at: NotRequired[Time | None]
    revoke_reason: NotRequired[str | None]


@closed
class Delegates(TypedDict):
    """delegates"""

    delegates: list[Delegate]


_WINDOW = (FID, path_id("window_id"))
OPERATIONS: dict[str, dict[str, Op]] = {
    "/api/v1/facilities/{facility_id}/maintenance": {
        "get": Op(
            "Maintenance windows (current and future; past=true for all)",
            Windows,
            (400, 404),
            (FID, query("past", "include past windows", enum=["true", "false"])),
        ),
        "post": Op(
            "A window: requested by the facility's operator, set (approved at once) by an inspector in"
            " scope or an admin; audited (maintenance.request, maintenance.set)",
            Maintenance,
            (400, 403, 404),
            (FID,),
            MaintenanceIn,
            status=201,
        ),
    },
    "/api/v1/facilities/{facility_id}/maintenance/requests": {
        "post": Op(
            "Request a window whoever asks (someone else who supervises approves it); audited",
            Maintenance,
            (400, 403, 404),
            (FID,),
            MaintenanceIn,
            status=201,
        ),
    },
    **{
        f"/api/v1/facilities/{{facility_id}}/maintenance/{{window_id}}/{decision}": {
            "post": Op(summary, Maintenance, (400, 403, 404, 409), _WINDOW, MaintenanceDecision, request_required=False)
        }
        for decision, summary in (
            ("approve", "Approve a pending request (an inspector in scope or an admin, not its requester); audited"),
            ("reject", "Reject a pending request with a reason (as approve); audited"),
            ("withdraw", "Withdraw a pending request (its requester or the facility's operator); audited"),
        )
    },
    "/api/v1/facilities/{facility_id}/delegates": {
        "get": Op(
            "Pick-up delegates of the facility, every state (whoever's scope covers it; read-only)",
            Delegates,
            (404,),
            (FID,),
        ),
        "post": Op(
            "Record a delegate with the parents' consent (the facility's operator only); audited (pickup.delegate.add)",
            Delegate,
            (400, 403, 404),
            (FID,),
            DelegateIn,
            status=201,
        ),
    },
    "/api/v1/facilities/{facility_id}/delegates/{delegate_id}/revoke": {
        "post": Op(
            "Revoke a delegate at once and for good (the facility's operator only); audited (pickup.delegate.revoke)",
            Delegate,
            (400, 403, 404, 409),
            (FID, path_id("delegate_id")),
            DelegateRevoke,
            request_required=False,
        )
    },
}
