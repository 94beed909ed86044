"""Configuration of CONTRACT §6, read once at start-up from the environment and `.env`.

Nothing here reads the environment at import time: call `Settings()` in a service's entry
point and pass the value down. Secrets never appear in `repr` (SecretStr / masked URLs).
"""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contract.clock import clock_from_spec


def mask_url(url: str) -> str:
    """The URL with its password replaced by `***`, for logs and banners."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"


def check_public_url(url: str) -> str:
    """An http(s) address with a host and nothing after its path (no query, no fragment, no user),
    without its trailing slash; ValueError otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"public URL must be http(s)://host[:port][/path], not {url!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError("public URL must not carry a user or password")
    return urlunsplit(parts).rstrip("/")


WECOM_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
DINGTALK_URL = "https://oapi.dingtalk.com/robot/send"


class _ChannelFields(BaseModel):
    """Where people's notifications go (alerts/notify.py): the robots' addresses and the mail server.
    Defined once: Settings has these fields (CAREWATCH_WECOM_URL, CAREWATCH_SMTP_HOST, ...) and Channels,
    which the alert service's configuration and the outbox's carry, is them alone."""

    wecom_url: str = WECOM_URL
    dingtalk_url: str = DINGTALK_URL
    smtp_host: str | None = None
    smtp_port: int = Field(25, gt=0, lt=65536)
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    smtp_from: str = "carewatch@localhost"


class Channels(_ChannelFields):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Settings(BaseSettings, _ChannelFields):
    model_config = SettingsConfigDict(
        env_prefix="CAREWATCH_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
    )

    database_url: str | None = Field(default=None, repr=False)
    # A hot standby (streaming replication: `carewatch standby up`) for the web's report reads: statistics and
    # the public pages (web/replica.py). Unset: every read from the primary. Out of reach: the primary serves.
    read_database_url: str | None = Field(default=None, repr=False)
    mqtt_url: str | None = Field(default=None, repr=False)
    rules: Path | None = None
    # credit evaluation settings (YAML: grades and weights, contract/credit.py); defaults when unset
    credit: Path | None = None
    # each area's population for the statistics' 托位 per 1,000 people and 托育率 (CSV with a `source` per row,
    # contract/population.py); unset: the shipped file, example figures marked as such
    population: Path | None = None
    # the plan's targets the assessment holds each area's statistics against (CSV with a `source` per row,
    # contract/targets.py); unset: the shipped file, the national target and examples marked as such
    targets: Path | None = None
    # `carewatch demo` only: the file its simulator writes its lag behind the demo's clock to (simulated
    # seconds; simulators.runner.say_behind). While it is behind, every page says so: the devices' silence
    # meanwhile is the machine's, and so are the offline alerts that follow.
    simulator_behind_file: Path | None = None
    http: str = "127.0.0.1:8080"
    # Where the local stack keeps its data, logs and URLs (git-ignored).
    state_dir: Path | None = None
    # The local stack's database archives its WAL and takes backups with pgBackRest (runtime/backup.py);
    # off: nothing is kept but the data directory itself.
    backups: bool = True
    # MQTT topic root; tests use a unique root per test.
    topic_root: str = "cw/v1"
    # How far a message's own time may lie from its arrival (contract.payloads.TimeBounds).
    max_clock_ahead_s: float = Field(600.0, gt=0)
    max_age_s: float = Field(366 * 86400.0, gt=0)
    # The alert engine's wait for late data before judging time spans (CONTRACT §4, event time).
    late_wait_s: float = Field(60.0, ge=0)
    # The web's address as people reach it (scheme, host, port; a path prefix at most): the link in every
    # notification. Never taken from a request's Host header, which its sender writes.
    public_url: str = DEFAULT_PUBLIC_URL
    # Session cookies sent over HTTPS only (`Secure`); unset: when public_url is https.
    secure_cookies: bool | None = None
    # Reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For the web believes
    # for a client's address (the login throttle, the audit log); from anyone else the header is ignored.
    trusted_proxies: str = ""
    # Requests a second one API token or browser session may send to one web process, sustained, and at
    # once (web/ratelimit.py); beyond them 429 with Retry-After. api_rate 0: no limit (a benchmark's load).
    api_rate: float = Field(20.0, ge=0)
    api_burst: int = Field(60, ge=1)
    # the alert service's outgoing notifications: its webhook (JSON, HMAC-signed); people's channels are
    # the fields of _ChannelFields, flat here so that each has its CAREWATCH_ variable
    webhook_url: str | None = None
    webhook_secret: str | None = Field(default=None, repr=False)

    def channels(self) -> Channels:
        return Channels(**{name: getattr(self, name) for name in Channels.model_fields})

    # The secret under which identity numbers become the register's person keys (contract/people.py):
    # the same for every service and every load of a deployment, kept like a password (an identity
    # number is guessable from its key by anyone who has it). Unset: a registry with identity numbers is
    # refused; one with person keys loads.
    person_salt: SecretStr | None = Field(default=None, repr=False)

    def salt(self) -> bytes | None:
        """The person salt as bytes, or None when none is configured."""
        v = self.person_salt.get_secret_value() if self.person_salt is not None else ""
        return v.encode("utf-8") if v else None

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, v: str) -> str:
        for part in v.split(","):
            if part.strip():
                ip_network(part.strip(), strict=False)  # ValueError names the bad one
        return v

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str) -> str:
        return check_public_url(v)

    # The clock every service judges time by (contract.clock): `system`, or `scaled:SPEED:ANCHOR:START`
    # as `carewatch demo --speed` hands it to its children.
    clock: str = "system"

    @field_validator("clock")
    @classmethod
    def _clock_readable(cls, v: str) -> str:
        clock_from_spec(v)  # a ValueError with the reason: the configuration error names the field
        return v

    def http_host_port(self) -> tuple[str, int]:
        host, _, port = self.http.rpartition(":")
        return (host or "127.0.0.1").strip("[]"), int(port)
