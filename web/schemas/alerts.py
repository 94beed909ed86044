"""Alerts: the list, one alert with its history, acknowledgement and whereabouts (web/api.py)."""

from __future__ import annotations

from typing import Annotated, Literal, NotRequired

from pydantic import Field
from typing_extensions import TypedDict

from contract.inspection import DEPARTMENTS
from contract.occurred import CAUSES
from contract.rules import LEVELS, SEVERITIES
from web.schemas.base import AnyObject, OneOf, RequestBody, Time, closed, one_of
from web.schemas.ops import COUNTY, TOWNSHIP, Op, path_id, query

Severity = Annotated[str, OneOf(SEVERITIES)]
Department = Annotated[str, one_of(DEPARTMENTS), Field(description="部门 (contract/inspection.py)")]
Level = Annotated[str, OneOf(LEVELS)]


@closed
class Alert(TypedDict):
    """the alert"""

    id: int
    rule: str
    department: NotRequired[
        Annotated[Department, Field(description="the department the rule belongs to (contract/rules.py)")]
    ]
    severity: Severity
    facility_id: str
    facility_name: NotRequired[str | None]
    facility_suspended: NotRequired[bool]
    device_id: NotRequired[str | None]
    subject: NotRequired[str | None]
    status: Literal["active", "cleared"]
    acknowledged: bool
    opened_at: Annotated[
        Time,
        Field(description="When CareWatch knew it and raised the alert; escalation and response times count from here"),
    ]
    occurred_at: Annotated[
        Time,
        Field(
            description="When what it is about happened: the event's own time by the device's clock, corrected"
            " by the clock's learnt error (for a rule with a `for` window, when the window was met); never after"
            " `opened_at`. Earlier by more than 120 s when the evidence came late (a gateway's spool replayed"
            " after its uplink returned)"
        ),
    ]
    delay_cause: NotRequired[
        Annotated[
            Annotated[str, OneOf(CAUSES)] | None,
            Field(
                description="Why it came late, when known: `uplink` the facility's gateway was offline,"
                " `device` the device or gateway delivered it late, `platform` CareWatch itself was not receiving"
            ),
        ]
    ]
    last_seen_at: NotRequired[Time | None]
    cleared_at: NotRequired[Time | None]
    acknowledged_at: NotRequired[Time | None]
    acknowledged_by: NotRequired[str | None]
    note: NotRequired[str | None]
    escalation: Level
    count: int
    summary: NotRequired[str]
    summary_en: NotRequired[str]
    muted: NotRequired[bool]


@closed
class AlertEvent(TypedDict):
    at: Time
    action: str
    actor: NotRequired[str | None]
    detail: NotRequired[AnyObject]


@closed
class AlertDetail(Alert):
    """the alert with its history (openings, escalations, acknowledgements)"""

    escalated_at: NotRequired[Time | None]
    history: list[AlertEvent]


@closed
class Alerts(TypedDict):
    """alerts"""

    alerts: list[Alert]


class AlertNote(RequestBody):
    """An acknowledgement's note (may be empty)."""

    note: Annotated[str, Field(max_length=2000)] = ""


class Whereabouts(RequestBody):
    """Where the child is, in a note."""

    note: Annotated[str, Field(min_length=1, max_length=2000)]


_ALERT = (path_id("alert_id"),)
OPERATIONS: dict[str, dict[str, Op]] = {
    "/api/v1/alerts": {
        "get": Op(
            "Alerts in scope (default: open = not yet closed), newest first",
            Alerts,
            (400,),
            (
                query("facility_id", "facility"),
                COUNTY,
                TOWNSHIP,
                query("status", "which alerts", enum=["active", "cleared", "open", "all"]),
                query("rule", "rule id"),
                query(
                    "department",
                    "only the rules of this department (contract/rules.py RULE_DEPARTMENTS)",
                    enum=list(DEPARTMENTS),
                ),
                query("severity", "severity", enum=list(SEVERITIES)),
                query("since", "opened at or after (RFC 3339)", format="date-time"),
            ),
        )
    },
    "/api/v1/alerts/{alert_id}": {
        "get": Op("One alert with its history (openings, escalations, acknowledgements)", AlertDetail, (404,), _ALERT)
    },
    "/api/v1/alerts/{alert_id}/ack": {
        "post": Op("Acknowledge an alert with a note (audited)", Alert, (400, 404, 409), _ALERT, AlertNote)
    },
    "/api/v1/alerts/{alert_id}/whereabouts": {
        "post": Op(
            "Record where the child of an active child_not_collected alert is, with a required note"
            " (audited; the alert clears as a badge-out would and stays on the record with the note)",
            Alert,
            (400, 404, 409),
            _ALERT,
            Whereabouts,
        )
    },
    "/api/v1/stream": {
        "get": Op(
            "Server-Sent Events: `alert` (each change in scope), `facility_status` (that facility's state)",
            {"type": "string"},
            media="text/event-stream",
            said="an event stream",
        )
    },
}
