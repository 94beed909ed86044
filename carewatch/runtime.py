"""Resolving where the services are: the environment when set, else the local stack."""

from __future__ import annotations

from dataclasses import dataclass

from contract.config import Settings
from runtime.stack import DEFAULT_STATE_DIR, LocalStack


class NotConfiguredError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Endpoints:
    database_url: str
    mqtt_url: str


def local_stack(settings: Settings) -> LocalStack:
    return LocalStack(settings.state_dir or DEFAULT_STATE_DIR, backups=settings.backups)


def endpoints(settings: Settings, service: str | None = None) -> Endpoints:
    """CAREWATCH_DATABASE_URL / CAREWATCH_MQTT_URL when set, else the local stack's URLs: for a
    service (ingest, alerts, web) its own database role, for the administrators' commands the owner."""
    stack = local_stack(settings)
    info = stack.read_info()
    db = settings.database_url or (
        (stack.service_database_url(service) if service else info.database_url) if info else None
    )
    mqtt = settings.mqtt_url or (info.mqtt_url if info else None)
    if not db or not mqtt:
        raise NotConfiguredError(
            "no database/broker configured: run `carewatch stack up` or set CAREWATCH_DATABASE_URL "
            "and CAREWATCH_MQTT_URL"
        )
    return Endpoints(db, mqtt)
