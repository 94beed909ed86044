"""Configuration shared by the long-running services."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ServiceConfig(BaseModel):
    """What every CareWatch service connects to (ingest and the alert engine)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str = Field(repr=False)
    mqtt_url: str = Field(repr=False)
    topic_root: str = "cw/v1"
    http: str | None = None  # host:port for /metrics and /healthz
