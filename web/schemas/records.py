"""Reports, the registry load, the audit log and the dead letters (web/api.py)."""

from __future__ import annotations

from typing import Any, NotRequired

from typing_extensions import TypedDict

from contract.rules import SEVERITIES
from web.schemas.base import AnyObject, NullableNumber, Number, Time, closed
from web.schemas.ops import COUNTY, TOWNSHIP, Op, query

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


_BEFORE = query("before", "entries older than this id (paging)", pattern="^[0-9]{1,18}$")
OPERATIONS: dict[str, dict[str, Op]] = {
    "/api/v1/reports": {
        "get": Op(
            "Per-facility report for a day or a month (grades: /api/v1/credit)",
            Report,
            (400,),
            (
                query("period", "day or month", enum=["day", "month"]),
                query("date", "YYYY-MM-DD (Asia/Shanghai); default today", format="date"),
                COUNTY,
                TOWNSHIP,
                query("format", "json or csv", enum=["json", "csv"]),
                query("lang", "the CSV's headers and names: zh (default) or en", enum=["zh", "en"]),
            ),
            also=(("text/csv", {"type": "string"}),),
        )
    },
    "/api/v1/registry": {
        "post": Op(
            "Load a registry file (admin); the facilities it names are replaced; audited",
            LoadSummary,
            (400, 403, 413),
            request={
                "application/json": {"type": "object", "required": ["facilities"]},
                "application/yaml": {"type": "string"},
            },
        )
    },
    "/api/v1/audit": {
        "get": Op(
            "The audit log, newest first, 200 a page (admin)",
            AuditLog,
            (400, 403),
            (
                query("actor", "who"),
                query("action", "e.g. alert.ack, maintenance.request, maintenance.approve, registry.load, user.create"),
                _BEFORE,
            ),
        )
    },
    "/api/v1/dead-letters": {
        "get": Op(
            "Messages ingest refused, newest first, 100 a page, for the facilities in scope "
            "(those naming no known facility: admins only); payload as text, cut to 500 characters",
            DeadLetters,
            (400,),
            (query("reason", "e.g. json, schema, time, origin, unknown_device", pattern="^[a-z_]{1,32}$"), _BEFORE),
        )
    },
}
