"""MQTT topic names of CONTRACT §2: `{root}/{facility_id}/{device_id}/{channel}`.

The root is `cw/v1` in production; tests give each test its own root so that
concurrent tests never see each other's traffic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from contract.errors import ContractError
from contract.ids import DEVICE_ID_RE, FACILITY_ID_RE

DEFAULT_ROOT = "cw/v1"
ALERTS_LEAF = "_alerts"
PROBE_LEAF = "_probe"
_RESERVED = re.compile(r"[/+#\x00]")  # not in a topic level


class Channel(StrEnum):
    TELEMETRY = "telemetry"
    EVENT = "event"
    ACCESS = "access"
    STATUS = "status"
    BATCH = "batch"


# QoS and retain flag per channel (CONTRACT §2 table).
CHANNEL_QOS = dict.fromkeys(Channel, 1)
CHANNEL_RETAINED = {c: c is Channel.STATUS for c in Channel}


@dataclass(frozen=True, slots=True)
class Topic:
    facility_id: str
    device_id: str
    channel: Channel

    def render(self, root: str = DEFAULT_ROOT) -> str:
        return f"{root}/{self.facility_id}/{self.device_id}/{self.channel.value}"


@lru_cache(maxsize=64)
def _topic_re(root: str) -> re.Pattern[str]:
    ident = FACILITY_ID_RE.pattern.removeprefix("^").removesuffix("$")
    channels = "|".join(re.escape(c.value) for c in Channel)
    return re.compile(rf"{re.escape(root)}/({ident})/({ident})/({channels})")


_CHANNELS = {c.value: c for c in Channel}


def parse_topic(topic: str, root: str = DEFAULT_ROOT) -> Topic:
    """Split a device topic into its parts; raise ContractError naming what is wrong.

    One match of the whole topic first: ingest and the alert engine parse every message's topic,
    and checking the parts one by one cost more than validating the payload (1.2 against 0.9 µs,
    measured); the part-by-part checks then only name what is wrong."""
    if (m := _topic_re(root).fullmatch(topic)) is not None:
        facility_id, device_id, channel = m.groups()
        return Topic(facility_id, device_id, _CHANNELS[channel])
    prefix = root + "/"
    if not topic.startswith(prefix):
        raise ContractError("topic", f"topic {topic!r} is not under {root}/")
    parts = topic[len(prefix) :].split("/")
    if len(parts) != 3:
        raise ContractError("topic", f"topic {topic!r} must be {root}/{{facility_id}}/{{device_id}}/{{channel}}")
    facility_id, device_id, channel = parts
    if not FACILITY_ID_RE.fullmatch(facility_id):
        raise ContractError("facility_id", f"facility id {facility_id!r} does not match {FACILITY_ID_RE.pattern}")
    if not DEVICE_ID_RE.fullmatch(device_id):
        raise ContractError("device_id", f"device id {device_id!r} does not match {DEVICE_ID_RE.pattern}")
    if channel not in _CHANNELS:
        known = ", ".join(c.value for c in Channel)
        raise ContractError("channel", f"unknown channel {channel!r} (known: {known})")
    return Topic(facility_id, device_id, _CHANNELS[channel])


def subscription(root: str = DEFAULT_ROOT) -> str:
    """The wildcard that matches every device topic under root."""
    return f"{root}/+/+/+"


def alerts_topic(facility_id: str, root: str = DEFAULT_ROOT) -> str:
    """Where the alert engine tells on-site displays about alerts (not retained)."""
    return f"{root}/{facility_id}/{ALERTS_LEAF}"


def probe_topic(client_id: str, root: str = DEFAULT_ROOT) -> str:
    """Where an alert worker sends itself the probes that tell how far it has judged its input
    (CONTRACT §4): `{root}/_probe/{client id}`. Two levels under the root, so no device subscription
    (`{root}/+/+/+`) and no facility's alert topic sees it; MQTT's reserved characters in the client
    id become `_`."""
    return f"{root}/{PROBE_LEAF}/{_RESERVED.sub('_', client_id)}"
