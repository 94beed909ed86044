"""The API's bodies are models (web/schemas/) and the document is generated from them (web/openapi.py):
a handler's body that drifts from its model fails, the document's schemas are the models' own, and no enum
is typed a second time. Pure logic: no database, no server."""

from __future__ import annotations

import importlib.util
import json

import pytest
from pydantic import ValidationError

from contract.inspection import DEPARTMENTS
from contract.labels import LABELS
from contract.occurred import CAUSES
from contract.registry import AgeGroup
from contract.rules import LEVELS, SEVERITIES, RuleId
from supervision.statistics import COLUMNS
from web.errors import Invalid
from web.openapi import OPENAPI, OPERATIONS
from web.schemas import alerts, enforcement, facilities, orders, statistics
from web.schemas.base import body, parse

SCHEMAS = OPENAPI["components"]["schemas"]
ALERT = {
    "id": 1,
    "rule": "fire_alarm",
    "severity": "critical",
    "facility_id": "fac-1",
    "status": "active",
    "acknowledged": False,
    "opened_at": "2026-12-07T08:00:00+00:00",
    "occurred_at": "2026-12-07T08:00:00+00:00",
    "escalation": "facility",
    "count": 1,
    "battery_pct": None,
}


def test_a_body_is_written_through_its_model_unchanged() -> None:
    alert = {k: v for k, v in ALERT.items() if k != "battery_pct"} | {"delay_cause": None, "muted": True}
    assert body(alerts.Alert, alert) == body(alerts.Alert, dict(reversed(alert.items())))
    assert json.loads(body(alerts.Alert, alert)) == alert  # same fields, same values: times stay the strings sent
    point = {"t": "2026-12-07T08:00:00+00:00", "min": 3, "avg": 3.5, "max": None}
    assert json.loads(body(facilities.Point, point)) == point
    assert b'"min":3,' in body(facilities.Point, point)  # an int stays an int


@pytest.mark.parametrize(
    "drift",
    [
        {"battery_pct": None},  # a field the model does not describe
        {"count": None},  # null where the document says integer
        {"count": "1"},  # a string where the document says integer
        {"acknowledged": 0},  # an int where the document says boolean
        {"severity": "urgent"},  # a severity the contract does not have
        {"escalation": "province"},  # a level the contract does not have
    ],
)
def test_a_body_that_drifts_from_its_model_is_refused(drift: dict[str, object]) -> None:
    alert = {k: v for k, v in ALERT.items() if k != "battery_pct"} | drift
    with pytest.raises(ValidationError):
        body(alerts.Alert, alert)


def test_a_body_missing_a_required_field_is_refused() -> None:
    with pytest.raises(ValidationError):
        body(alerts.Alert, {k: v for k, v in ALERT.items() if k not in ("battery_pct", "count")})


def test_the_documents_schemas_are_the_models_and_enums_come_from_the_contract() -> None:
    alert = SCHEMAS["Alert"]["properties"]
    assert alert["severity"]["enum"] == list(SEVERITIES)
    assert alert["escalation"]["enum"] == list(LEVELS)
    assert alert["department"]["enum"] == list(DEPARTMENTS)
    assert {"type": "null"} in alert["delay_cause"]["anyOf"]
    assert next(s for s in alert["delay_cause"]["anyOf"] if "enum" in s)["enum"] == list(CAUSES)
    assert SCHEMAS["Alert"]["additionalProperties"] is False  # a field the server adds fails Schemathesis
    assert set(SCHEMAS["Alert"]["required"]) == {k for k in ALERT if k != "battery_pct"}  # NotRequired: optional
    assert SCHEMAS["AlertDetail"]["properties"]["history"]["items"] == {"$ref": "#/components/schemas/AlertEvent"}
    assert OPENAPI["openapi"] == "3.1.0"


def test_every_reference_in_the_document_resolves() -> None:
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(OPENAPI)
    assert refs
    assert sorted({r for r in refs if r.removeprefix("#/components/schemas/") not in SCHEMAS}) == []
    assert "nullable" not in str(OPENAPI)  # 3.0's keyword: 3.1 has the null type


def test_no_part_of_the_document_is_written_by_hand() -> None:
    assert importlib.util.find_spec("web.openapi_legacy") is None
    operations = [op for ops in OPENAPI["paths"].values() for op in ops.values()]
    assert len(operations) == sum(len(ops) for ops in OPERATIONS.values())  # every one generated from an Op


def test_order_and_inspection_enums_are_the_labels_and_a_body_outside_them_is_refused() -> None:
    order = SCHEMAS["Order"]["properties"]
    assert order["status"]["enum"] == list(LABELS["order_status"])
    assert SCHEMAS["OrderStep"]["properties"]["action"]["enum"] == list(LABELS["order_action"])
    assert SCHEMAS["Inspection"]["properties"]["status"]["enum"] == list(LABELS["inspection_status"])
    step = {"at": "2026-12-07T08:00:00+00:00", "actor": "insp", "action": "issued"}
    assert json.loads(body(orders.OrderStep, step)) == step
    with pytest.raises(ValidationError):
        body(orders.OrderStep, step | {"action": "forgiven"})  # a step the labels do not name


def test_the_statistics_figures_are_the_columns_named_from_the_contract() -> None:
    figures = SCHEMAS["Figures"]["properties"]
    assert list(figures) == COLUMNS
    assert {f"alerts_{r.value}" for r in RuleId} <= set(figures)  # a rule added to the contract is a field
    assert {f"places_{g.value}" for g in AgeGroup} <= set(figures)
    assert figures["alerts_fire_alarm"] == {"type": "integer"}
    assert SCHEMAS["Figures"]["additionalProperties"] is False
    row = dict.fromkeys(COLUMNS, 0) | {"area": "140902", "population_source": None}
    row |= dict.fromkeys(("inclusive_share_pct", "occupancy_pct", "places_per_1000", "care_rate_pct"), None)
    row |= {"population": None, "population_2_3": None, "population_year": None}
    assert json.loads(body(statistics.Figures, row)) == row
    with pytest.raises(ValidationError):
        body(statistics.Figures, row | {"alerts_no_such_rule": 1})


def test_a_public_operation_needs_no_token_and_a_list_is_an_array_of_its_model() -> None:
    public = OPENAPI["paths"]["/api/v1/public/circulars"]["get"]
    assert public["security"] == [] and "401" not in public["responses"]
    assert "401" in OPENAPI["paths"]["/api/v1/circulars"]["get"]["responses"]
    listed = OPENAPI["paths"]["/api/v1/suspensions"]["get"]["responses"]["200"]["content"]["application/json"]
    assert listed["schema"] == {"type": "array", "items": {"$ref": "#/components/schemas/Suspension"}}
    stream = OPENAPI["paths"]["/api/v1/stream"]["get"]["responses"]["200"]["content"]
    assert list(stream) == ["text/event-stream"]


def test_a_circulars_number_is_written_as_an_array_whether_storage_made_a_tuple_or_a_list() -> None:
    circular = {
        "id": 1,
        "department": "city",
        "kind": "report",
        "title": "通报",
        "body": "",
        "public": False,
        "status": "issued",
        "number": ("city", 2026, 3),
        "number_text": "忻卫托通〔2026〕3号",
    }
    assert json.loads(body(enforcement.Circular, circular))["number"] == ["city", 2026, 3]
    assert json.loads(body(enforcement.Circular, circular | {"number": ["city", 2026, 3]}))["number"] == [
        "city",
        2026,
        3,
    ]
    with pytest.raises(ValidationError):
        body(enforcement.Circular, circular | {"kind": "praise"})  # a kind supervision/circulars.py lacks


def test_a_request_body_that_is_not_its_model_is_a_400_with_the_reason() -> None:
    assert parse(alerts.AlertNote, {}).note == ""
    assert parse(alerts.AlertNote, {"note": "ok", "other": 1}).note == "ok"  # unknown fields ignored, as before
    for bad in ([], {"note": 5}, {"note": "x" * 2001}):
        with pytest.raises(Invalid, match=r"note|body"):
            parse(alerts.AlertNote, bad)
    with pytest.raises(Invalid, match="note"):
        parse(alerts.Whereabouts, {})
