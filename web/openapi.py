"""The OpenAPI document served at /api/v1/openapi.json (kept beside the handlers it describes)."""

from __future__ import annotations

from typing import Any

_ERR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_JSON_OBJ = {"application/json": {"schema": {"type": "object"}}}


def _q(name: str, desc: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": desc, "schema": {"type": "string", **schema}}


_FID = {
    "name": "facility_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$"},
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "CareWatch API",
        "version": "v1",
        "description": "Supervision of childcare facilities (托育机构). Everything outside the caller's scope "
        "answers 404.",
    },
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}],
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
            "Alert": {
                "type": "object",
                "required": ["id", "rule", "severity", "facility_id", "status"],
                "properties": {
                    "id": {"type": "integer"},
                    "rule": {"type": "string"},
                    "severity": {"type": "string", "enum": ["critical", "major", "minor", "warning"]},
                    "facility_id": {"type": "string"},
                    "device_id": {"type": "string", "nullable": True},
                    "subject": {"type": "string", "nullable": True},
                    "status": {"type": "string", "enum": ["active", "cleared"]},
                    "acknowledged": {"type": "boolean"},
                    "escalation": {"type": "string"},
                    "count": {"type": "integer"},
                    "summary": {"type": "string"},
                    "summary_en": {"type": "string"},
                },
            },
        },
    },
    "paths": {
        "/api/v1/facilities": {
            "get": {
                "summary": "Facilities in scope with their state (green/amber/red/grey)",
                "parameters": [
                    _q("county", "6-digit county code", pattern="^[0-9]{6}$"),
                    _q("township", "9-digit township code", pattern="^[0-9]{9}$"),
                ],
                "responses": {"200": {"description": "facilities", "content": _JSON_OBJ}, "400": _ERR, "401": _ERR},
            }
        },
        "/api/v1/facilities/{facility_id}/status": {
            "get": {
                "summary": "Devices online/offline, open alerts by severity, staffing, children present",
                "parameters": [_FID],
                "responses": {"200": {"description": "status", "content": _JSON_OBJ}, "401": _ERR, "404": _ERR},
            }
        },
        "/api/v1/facilities/{facility_id}/readings": {
            "get": {
                "summary": "Time-bucketed min/avg/max of one metric",
                "parameters": [
                    _FID,
                    {**_q("metric", "metric name", pattern="^[a-z][a-z0-9_]{0,63}$"), "required": True},
                    _q("device_id", "one device"),
                    _q("from", "RFC 3339", format="date-time"),
                    _q("to", "RFC 3339", format="date-time"),
                    _q("bucket", "e.g. 5m, 1h"),
                ],
                "responses": {
                    "200": {"description": "points", "content": _JSON_OBJ},
                    "400": _ERR,
                    "401": _ERR,
                    "404": _ERR,
                },
            }
        },
        "/api/v1/alerts": {
            "get": {
                "summary": "Alerts in scope (default: open = not yet closed)",
                "parameters": [
                    _q("facility_id", "facility"),
                    _q("county", "county", pattern="^[0-9]{6}$"),
                    _q("township", "township", pattern="^[0-9]{9}$"),
                    _q("status", "which alerts", enum=["active", "cleared", "open", "all"]),
                    _q("rule", "rule id"),
                    _q("severity", "severity", enum=["critical", "major", "minor", "warning"]),
                    _q("since", "opened at or after (RFC 3339)", format="date-time"),
                ],
                "responses": {
                    "200": {
                        "description": "alerts",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "alerts": {"type": "array", "items": {"$ref": "#/components/schemas/Alert"}}
                                    },
                                }
                            }
                        },
                    },
                    "400": _ERR,
                    "401": _ERR,
                },
            }
        },
        "/api/v1/alerts/{alert_id}/ack": {
            "post": {
                "summary": "Acknowledge an alert with a note (audited)",
                "parameters": [{"name": "alert_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "properties": {"note": {"type": "string", "maxLength": 2000}}}
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "the alert",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Alert"}}},
                    },
                    "400": _ERR,
                    "401": _ERR,
                    "404": _ERR,
                },
            }
        },
        "/api/v1/reports": {
            "get": {
                "summary": "Per-facility report for a day or a month, with the facility score",
                "parameters": [
                    _q("period", "day or month", enum=["day", "month"]),
                    _q("date", "YYYY-MM-DD (Asia/Shanghai); default today", format="date"),
                    _q("county", "county", pattern="^[0-9]{6}$"),
                    _q("township", "township", pattern="^[0-9]{9}$"),
                    _q("format", "json or csv", enum=["json", "csv"]),
                ],
                "responses": {
                    "200": {
                        "description": "report",
                        "content": {**_JSON_OBJ, "text/csv": {"schema": {"type": "string"}}},
                    },
                    "400": _ERR,
                    "401": _ERR,
                },
            }
        },
        "/api/v1/stream": {
            "get": {
                "summary": "Server-Sent Events: alert, facility_status",
                "responses": {"200": {"description": "text/event-stream"}, "401": _ERR},
            }
        },
    },
}
