"""Rectification orders (整改通知) and inspections (检查记录): the orders with their history, receipts (签收),
批示, 复查 and extensions; the inspections with their findings (web/api.py, web/orders.py, web/receipts.py,
web/followups.py, web/inspections.py).

The enums are the keys of the labels table (contract/labels.py), which names every status, action, source and
kind an order or an inspection can have: a value without its label would be a bug of its own.
"""

from __future__ import annotations

from typing import Annotated, Literal, NotRequired

from pydantic import ConfigDict, Field
from typing_extensions import TypedDict

from contract.inspection import RESULTS
from contract.labels import LABELS
from supervision.orders import LEVELS
from web.schemas.alerts import Department
from web.schemas.base import AnyObject, Date, OneOf, RequestBody, Time, absent, closed, one_of
from web.schemas.ops import FID, Op, path_id, query

OrderStatus = Annotated[str, one_of(LABELS["order_status"])]
InspectionStatus = Annotated[str, one_of(LABELS["inspection_status"])]
InspectionKind = Annotated[str, one_of(LABELS["inspection_kind"])]
Level = Annotated[str, OneOf(LEVELS)]
# the order list's `status` filter (web/api.py): open, overdue, a status (not `recheck`), or all
ORDER_FILTERS = ("open", "overdue", "issued", "answered", "returned", "accepted", "all")


@closed
class Instruction(TypedDict):
    note: str
    actor: str
    at: Time


@closed
class Order(TypedDict):
    """the order"""

    id: int
    facility_id: str
    facility_name: NotRequired[str]
    facility_county: NotRequired[str]
    facility_township: NotRequired[str]
    source: Annotated[str, one_of(LABELS["order_source"])]
    alert_id: NotRequired[int | None]
    inspection_id: NotRequired[int | None]
    title: str
    detail: NotRequired[str]
    due_at: Time
    first_due_at: NotRequired[Time]
    issued_by: str
    department: NotRequired[Department]
    issued_level: Level
    issued_at: NotRequired[Time]
    status: OrderStatus
    life_safety: NotRequired[bool]
    overdue: bool
    received_at: NotRequired[Time | None]
    received_by: NotRequired[str | None]
    receipt_overdue: NotRequired[bool]
    supervision_level: NotRequired[Level]
    closed_at: NotRequired[Time | None]
    facility_suspended: NotRequired[bool]
    last_instruction: NotRequired[Instruction | None]


@closed
class EvidenceFile(TypedDict):
    id: int
    filename: str
    content_type: str
    size_bytes: int


@closed
class OrderStep(TypedDict):
    id: NotRequired[int]
    at: Time
    actor: str
    action: Annotated[str, one_of(LABELS["order_action"])]
    note: NotRequired[str]
    detail: NotRequired[AnyObject]
    files: NotRequired[list[EvidenceFile]]


@closed
class OrderDetail(Order):
    """the order"""

    history: list[OrderStep]


@closed
class Recheck(TypedDict):
    """the order's latest 复查 (re-inspection)"""

    inspection_id: NotRequired[int]
    planned_by: NotRequired[str]
    planned_at: NotRequired[Time]
    planned_for: NotRequired[Date]
    status: NotRequired[str]
    failed: NotRequired[list[str]]


@closed
class Extension(TypedDict):
    """the operator's request for a later due date, and its decision"""

    requested_by: NotRequired[str]
    requested_at: NotRequired[Time]
    requested_due: NotRequired[Time]
    previous_due: NotRequired[Time]
    reason: NotRequired[str]
    status: NotRequired[Literal["requested", "approved", "rejected"]]
    decided_by: NotRequired[str | None]
    decided_at: NotRequired[Time | None]
    decision_reason: NotRequired[str]


@closed
class OrderFollowup(OrderDetail):
    """the order"""

    recheck: Recheck | None
    extension: Extension | None


@closed
class Orders(TypedDict):
    """orders"""

    orders: list[Order]


@closed
class Finding(TypedDict):
    result: Annotated[str, OneOf(RESULTS)]
    note: NotRequired[str]


@closed
class JointPart(TypedDict):
    id: int
    department: Department
    status: str


@closed
class InspectionFile(TypedDict):
    id: int
    filename: str
    content_type: NotRequired[str]
    size_bytes: NotRequired[int]


@closed
class InspectionOrder(TypedDict):
    id: int
    title: str
    status: OrderStatus


@closed
class Inspection(TypedDict):
    """the inspection"""

    id: int
    facility_id: str
    facility_name: NotRequired[str]
    facility_suspended: NotRequired[bool]
    kind: InspectionKind
    planned_for: Date
    planned_by: str
    level: Level
    department: NotRequired[Department]
    joint_id: NotRequired[Annotated[int | None, Field(description="联合检查: the inspection this part's joins")]]
    joint: NotRequired[list[JointPart]]
    joint_signed: NotRequired[bool]
    status: InspectionStatus
    findings: dict[str, Finding]
    failed: list[str]
    notes: NotRequired[str]
    inspected_at: NotRequired[Time | None]
    signed_by: NotRequired[str | None]
    second_inspector: NotRequired[str | None]
    countersigned_by: NotRequired[str | None]
    countersigned_at: NotRequired[Time | None]
    drawn: NotRequired[list[str]]
    files: NotRequired[list[InspectionFile]]
    orders: NotRequired[list[InspectionOrder]]


@closed
class Inspections(TypedDict):
    """inspections"""

    inspections: list[Inspection]


# -- request bodies: what the handlers accept (their own validation, shared with the pages, is unchanged) ----
class OrderIn(RequestBody):
    """A rectification order."""

    title: Annotated[str, Field(min_length=1, max_length=200)]
    detail: Annotated[str, Field(max_length=4000)] = absent()
    due_at: Annotated[Time, Field(description="within the coming year")]
    alert_id: Annotated[int, Field(ge=1, description="an alert of this facility")] = absent()
    inspection_id: Annotated[int, Field(ge=1, description="a signed inspection of this facility")] = absent()


class OrderAnswer(RequestBody):
    """The measures taken."""

    note: Annotated[str, Field(min_length=1, max_length=4000)]


class OrderReview(RequestBody):
    """Accept, or send back with a note and a new due date."""

    accept: bool
    note: Annotated[str, Field(max_length=4000)] = absent()
    due_at: Annotated[Time, Field(description="sending back: the new due date (required, ≤ 30 days)")] = absent()


class OrderInstruction(RequestBody):
    """批示: the instruction."""

    note: Annotated[str, Field(min_length=1, max_length=2000)]


class Receipt(RequestBody):
    """No body, or an empty object: the receipt is at the server's time."""

    model_config = ConfigDict(extra="forbid")


class RecheckIn(RequestBody):
    """The day of the 复查 (within 30 days), with a note."""

    planned_for: Date
    note: Annotated[str, Field(max_length=4000)] = absent()


class ExtensionIn(RequestBody):
    """The later due date asked for, with the reasons."""

    due_at: Time
    reason: Annotated[str, Field(min_length=4, max_length=1000)]


class ExtensionDecision(RequestBody):
    """The decision's reason (required to refuse)."""

    reason: Annotated[str, Field(max_length=1000)] = absent()


class InspectionIn(RequestBody):
    """A visit or a remote inspection, on a day; several departments: a joint one."""

    kind: InspectionKind = absent()
    planned_for: Date
    departments: Annotated[
        list[Department],
        Field(
            description="联合检查: two or more departments, each once, the planner's among them"
            " (it leads; each other one's part is an inspection of its own)"
        ),
    ] = absent()


class InspectionRecord(RequestBody):
    """Findings per checklist item, notes; sign=true closes the record and names the second inspector."""

    findings: AnyObject = absent()
    notes: Annotated[str, Field(max_length=4000)] = absent()
    sign: bool = absent()
    second_inspector: Annotated[str, Field(max_length=64)] = absent()


_FILTERS = ORDER_FILTERS
_ORDER = (path_id("order_id"),)
_INSPECTION = (path_id("inspection_id"),)
_DECISION = {
    "name": "decision",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "enum": ["approve", "reject"]},
}
OPERATIONS: dict[str, dict[str, Op]] = {
    "/api/v1/orders": {
        "get": Op(
            "Rectification orders (整改通知) in scope, newest first",
            Orders,
            (400,),
            (
                query(
                    "status", "open = not accepted; overdue = unanswered past due; or a status", enum=[*ORDER_FILTERS]
                ),
                query("facility_id", "facility"),
                query(
                    "supervised", "only those whose follow-up (督办) reached the caller's level", enum=["true", "false"]
                ),
            ),
        )
    },
    "/api/v1/facilities/{facility_id}/orders": {
        "post": Op(
            "Issue a rectification order (an inspector or an admin); audited and notified",
            OrderDetail,
            (400, 403, 404),
            (FID,),
            OrderIn,
            status=201,
        )
    },
    "/api/v1/orders/{order_id}": {
        "get": Op("One order with its history and evidence files", OrderDetail, (404,), _ORDER)
    },
    "/api/v1/orders/{order_id}/answer": {
        "post": Op(
            "The facility's answer: the measures taken (the operator); evidence files through the page",
            OrderDetail,
            (400, 403, 404, 409),
            _ORDER,
            OrderAnswer,
        )
    },
    "/api/v1/orders/{order_id}/review": {
        "post": Op(
            "Accept the answer (the order closes) or send it back with a note and a new due date (the"
            " issuing level or above)",
            OrderDetail,
            (400, 403, 404, 409),
            _ORDER,
            OrderReview,
        )
    },
    "/api/v1/orders/{order_id}/instruction": {
        "post": Op(
            "批示: a leader's written instruction on an open order, from above its issuing level; a step"
            " of its history, sent to the issuing level's inspectors; audited",
            OrderDetail,
            (400, 403, 404, 409),
            _ORDER,
            OrderInstruction,
            status=201,
        )
    },
    "/api/v1/orders/{order_id}/receipt": {
        "post": Op(
            "The facility's operator acknowledges receipt of the order (签收), once, at the server's"
            " time (a body with a time or anything else: 400); audited",
            OrderDetail,
            (400, 403, 404, 409),
            _ORDER,
            Receipt,
            request_required=False,
        )
    },
    "/api/v1/orders/{order_id}/recheck": {
        "post": Op(
            "Accept the answer subject to a 复查 (re-inspection) within 30 days: the order waits in"
            " `recheck` and is accepted (or sent back) once the re-inspection is signed",
            OrderFollowup,
            (400, 403, 404, 409),
            _ORDER,
            RecheckIn,
        )
    },
    "/api/v1/orders/{order_id}/extension": {
        "post": Op(
            "The facility's operator asks, once, before the due date, for a later one (≤ 30 days, a"
            " life-safety finding 1 day) with reasons",
            OrderFollowup,
            (400, 403, 404, 409),
            _ORDER,
            ExtensionIn,
            status=201,
        )
    },
    "/api/v1/orders/{order_id}/extension/{decision}": {
        "post": Op(
            "The issuing level or above grants or refuses (with a reason) the extension; never its own request; once",
            OrderFollowup,
            (400, 403, 404, 409),
            (*_ORDER, _DECISION),
            ExtensionDecision,
        )
    },
    "/api/v1/inspections": {
        "get": Op(
            "Inspections (检查记录) in scope, latest first", Inspections, (400,), (query("facility_id", "facility"),)
        )
    },
    "/api/v1/facilities/{facility_id}/inspections": {
        "post": Op(
            "Plan a visit or a remote inspection (an inspector or an admin); audited",
            Inspection,
            (400, 403, 404),
            (FID,),
            InspectionIn,
            status=201,
        )
    },
    "/api/v1/inspections/{inspection_id}": {
        "get": Op(
            "One inspection with its findings, photos and the orders issued from it", Inspection, (404,), _INSPECTION
        )
    },
    "/api/v1/inspections/{inspection_id}/record": {
        "post": Op(
            "Record findings (pass / fail / na per checklist item), notes; sign=true closes the record"
            " and names second_inspector, who must confirm it (待会签 until then)",
            Inspection,
            (400, 403, 404, 409),
            _INSPECTION,
            InspectionRecord,
        )
    },
    "/api/v1/inspections/{inspection_id}/countersign": {
        "post": Op(
            "The named second inspector confirms a record awaiting them (待会签 -> signed); never the"
            " one who signed; audited",
            Inspection,
            (403, 404, 409),
            _INSPECTION,
        )
    },
}
