"""Reports, the registry load, the audit log and the dead letters (web/api.py)."""

from __future__ import annotations

from typing import Any, NotRequired

from typing_extensions import TypedDict

from contract.rules import SEVERITIES
from web.schemas.base import AnyObject, NullableNumber, Number, Time, closed

# a facility's row: its alerts in the period, in all and by severity (one field a severity of the contract)
_ROW: dict[str, Any] = {
    "facility_id": str,
    "name": NotRequired[str],
    "county": NotRequired[str],
    "township": NotRequired[str],
    "alerts": int,
    **dict.fromkeys(SEVERITIES, NotRequired[int]),
    "mean_ack_minutes": NotRequired[NullableNumber],
    "device_availability_pct": NotRequired[Number],
    "minutes_without_guard": NotRequired[Number],
    "minutes_below_ratio": NotRequired[Number],
}
ReportRow = closed(TypedDict("ReportRow", _ROW))  # type: ignore[operator]  # fields from the contract's tuple
Report = closed(
    TypedDict(  # type: ignore[operator]
        "Report",
        {"period": str, "from": Time, "to": Time, "facilities": list[ReportRow]},  # type: ignore[valid-type]
    )
)
Report.__doc__ = "report"


@closed
class LoadSummary(TypedDict):
    """what was loaded"""

    facilities: int
    devices: int
    staff: int
    children: int


@closed
class AuditEntry(TypedDict):
    id: int
    at: Time
    actor: str
    action: str
    target: str
    detail: AnyObject


@closed
class AuditLog(TypedDict):
    """entries"""

    entries: list[AuditEntry]


@closed
class DeadLetter(TypedDict):
    id: int
    received_at: Time
    facility_id: str | None
    topic: str
    reason: str
    detail: str
    payload: str
    truncated: bool


@closed
class DeadLetters(TypedDict):
    """dead letters"""

    dead_letters: list[DeadLetter]
