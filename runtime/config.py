"""Configuration shared by the long-running services."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from contract.payloads import TimeBounds


class ServiceConfig(BaseModel):
    """What every CareWatch service connects to (ingest and the alert engine)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str = Field(repr=False)
    mqtt_url: str = Field(repr=False)
    topic_root: str = "cw/v1"
    http: str | None = None  # host:port for /metrics and /healthz
    # the shared backoff (runtime.retry) for reconnects and retried writes
    backoff_initial_s: float = Field(0.2, gt=0)
    backoff_max_s: float = Field(10.0, gt=0)
    # how far a message's own time may lie from its arrival (contract.payloads.TimeBounds)
    max_clock_ahead_s: float = Field(600.0, gt=0)
    max_age_s: float = Field(366 * 86400.0, gt=0)
    # the clock the service judges time by (contract.clock.clock_from_spec)
    clock: str = "system"

    @property
    def time_bounds(self) -> TimeBounds:
        return TimeBounds(self.max_clock_ahead_s, self.max_age_s)  # readings' retention: contract.retention
