"""The facility's mapping file: which local device is which CareWatch device, and how to read it.

```yaml
facility: xz-140902-0001            # optional: checked against the agent's --facility
zigbee2mqtt:
  base_topic: zigbee2mqtt           # Zigbee2MQTT's `mqtt.base_topic`
  devices:
    午睡室/烟感:                     # the friendly name ('/' allowed)
      device: smoke-nap1            # the CareWatch device id (registry)
    大门SOS:
      device: panic-gate
      panic_actions: [emergency, single]   # which `action` values are a panic press
    消防通道门:
      device: exit-1
      contact_open: false           # the `contact` value that means "open" (Zigbee2MQTT: false)
    消防通道门锁:
      device: exit-1-lock
      exit_lock: true               # a lock on a fire exit: locked while open is exit_locked
    hall-th: env-hall               # short form: the device id alone
tasmota:
  full_topic: "%prefix%/%topic%/"   # Tasmota's FullTopic (`%prefix%` and `%topic%`)
  prefixes: {tele: tele, stat: stat}
  devices:
    - {topic: kitchen-th, sensor: AM2301, device: env-kitchen}
    - {topic: fridge, sensor: DS18B20-1, device: fridge-top, offset: {temperature_c: -0.5}}
    - {topic: exit-2, switch: Switch1, device: exit-2, open_when: "ON"}
    - {topic: zbbridge, zigbee: nap2-smoke, device: smoke-nap2}   # behind a Tasmota Zigbee bridge
```

`carewatch gateway check FILE` validates it and names the line of each error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from contract.ids import DeviceId, FacilityId, MetricName

DEFAULT_PANIC_ACTIONS = ("emergency", "sos", "panic")
_TOPIC_LEVEL = re.compile(r"^[^/#+\x00]+$")


class MappingError(ValueError):
    """Errors in a mapping file, each with its line: `path:line: what`."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class Z2MDevice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    device: DeviceId
    panic_actions: tuple[str, ...] = DEFAULT_PANIC_ACTIONS
    contact_open: bool = False  # Zigbee2MQTT: `contact: true` is closed, false is open
    # A lock on a fire exit: locked during opening hours is `exit_locked` (exit_obstructed). Opt-in,
    # since a main entrance is locked all day on purpose and must not raise it.
    exit_lock: bool = False


class Z2MSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_topic: Annotated[str, Field(min_length=1)] = "zigbee2mqtt"
    devices: dict[Annotated[str, Field(min_length=1)], Z2MDevice] = Field(default_factory=dict)

    @field_validator("devices", mode="before")
    @classmethod
    def _short_form(cls, v: object) -> object:
        if isinstance(v, dict):
            return {k: {"device": d} if isinstance(d, str) else d for k, d in v.items()}
        return v

    @field_validator("base_topic")
    @classmethod
    def _no_wildcards(cls, v: str) -> str:
        if any(c in v for c in "#+\x00") or v.startswith("/") or v.endswith("/"):
            raise ValueError("a topic prefix without wildcards or leading/trailing '/'")
        return v


class TasmotaDevice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    topic: str
    device: DeviceId
    sensor: str | None = None  # a key of the SENSOR payload (AM2301, DS18B20-1, …); none: all sensors
    switch: str | None = None  # Switch1…: a door contact read from SENSOR
    open_when: Literal["ON", "OFF"] = "ON"
    # A Zigbee device behind a Tasmota Zigbee bridge: its short address (`0x8F20`) or its `ZbName`, as
    # the bridge's `ZbReceived` names it (the key, `Device` or `Name`).
    zigbee: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    scale: dict[MetricName, float] = Field(default_factory=dict)
    offset: dict[MetricName, float] = Field(default_factory=dict)

    @field_validator("topic")
    @classmethod
    def _one_level(cls, v: str) -> str:
        if not _TOPIC_LEVEL.match(v):
            raise ValueError("a Tasmota %topic% is one topic level: no '/', '#' or '+'")
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> TasmotaDevice:
        if self.zigbee is not None and (self.sensor is not None or self.switch is not None):
            raise ValueError("a zigbee device behind the bridge takes no sensor or switch")
        return self


class TasmotaSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    full_topic: str = "%prefix%/%topic%/"
    prefixes: dict[str, str] = Field(default_factory=lambda: {"tele": "tele", "stat": "stat"})
    devices: list[TasmotaDevice] = Field(default_factory=list)

    @field_validator("devices", mode="before")
    @classmethod
    def _short_form(cls, v: object) -> object:
        """`{topic: device_id}`, the first version's form, still reads."""
        if isinstance(v, dict):
            return [{"topic": t, "device": d} for t, d in v.items()]
        return v

    @field_validator("full_topic")
    @classmethod
    def _has_tokens(cls, v: str) -> str:
        if "%topic%" not in v or "%prefix%" not in v or any(c in v for c in "#+"):
            raise ValueError("FullTopic must hold %prefix% and %topic% and no wildcards")
        return v

    @field_validator("prefixes")
    @classmethod
    def _prefix_defaults(cls, v: dict[str, str]) -> dict[str, str]:
        if unknown := set(v) - {"tele", "stat"}:
            raise ValueError(f"prefixes are tele and stat, not {', '.join(sorted(unknown))}")
        for p in v.values():
            if not _TOPIC_LEVEL.match(p):
                raise ValueError("a Tasmota prefix is one topic level: no '/', '#' or '+'")
        return {"tele": "tele", "stat": "stat"} | v

    def pattern(self) -> re.Pattern[str]:
        """FullTopic + suffix as a regex with groups prefix, topic and suffix, and `zb`: the level a
        Zigbee bridge with `SetOption89 1` adds after %topic% (`tele/zbbridge/8F20/SENSOR`)."""
        parts = re.split(r"(%prefix%|%topic%)", self.full_topic.rstrip("/"))
        body = "".join(
            "(?P<prefix>[^/]+)"
            if p == "%prefix%"
            else "(?P<topic>[^/]+)(?:/(?P<zb>[^/]+))?"
            if p == "%topic%"
            else re.escape(p)
            for p in parts
        )
        return re.compile(f"^{body}/(?P<suffix>[^/]+)$")

    def subscriptions(self) -> list[str]:
        """What the agent subscribes to: everything under the tele and stat prefixes, so that what it
        does not read (RESULT, INFO1, an unmapped device) is counted, not invisible; with Zigbee devices
        mapped, also the per-device topics of a bridge with `SetOption89 1`."""
        subs = [
            self.full_topic.replace("%prefix%", p).replace("%topic%", "+").rstrip("/") + "/+"
            for p in (self.prefixes["tele"], self.prefixes["stat"])
        ]
        if any(d.zigbee is not None for d in self.devices):
            subs.append(
                self.full_topic.replace("%prefix%", self.prefixes["tele"]).replace("%topic%", "+/+").rstrip("/") + "/+"
            )
        return subs


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    facility: FacilityId | None = None
    zigbee2mqtt: Z2MSection = Field(default_factory=Z2MSection)
    tasmota: TasmotaSection = Field(default_factory=TasmotaSection)

    @field_validator("zigbee2mqtt", mode="before")
    @classmethod
    def _flat_z2m(cls, v: object) -> object:
        """`zigbee2mqtt: {friendly name: device_id}`, the first version's form, still reads."""
        if isinstance(v, dict) and not ({"base_topic", "devices"} & set(v)):
            return {"devices": v}
        return v

    @field_validator("tasmota", mode="before")
    @classmethod
    def _flat_tasmota(cls, v: object) -> object:
        if isinstance(v, dict) and not ({"full_topic", "prefixes", "devices"} & set(v)):
            return {"devices": v}
        return v

    @model_validator(mode="after")
    def _each_device_once(self) -> Mapping:
        seen: dict[str, str] = {}
        for name, d in self.zigbee2mqtt.devices.items():
            if d.device in seen:
                raise ValueError(f"device {d.device!r} is mapped twice ({seen[d.device]} and zigbee2mqtt {name!r})")
            seen[d.device] = f"zigbee2mqtt {name!r}"
        for t in self.tasmota.devices:
            if t.device in seen:
                raise ValueError(f"device {t.device!r} is mapped twice ({seen[t.device]} and tasmota {t.topic!r})")
            seen[t.device] = f"tasmota {t.topic!r}"
        return self

    def device_ids(self) -> set[str]:
        return {d.device for d in self.zigbee2mqtt.devices.values()} | {t.device for t in self.tasmota.devices}


def load_mapping(path: Path | None) -> Mapping:
    """Read and validate a mapping file; MappingError names the line of each fault."""
    if path is None:
        return Mapping()
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f"{mark.line + 1}" if mark is not None else "?"
        raise MappingError([f"{path}:{line}: not valid YAML: {getattr(err, 'problem', err)}"]) from err
    try:
        return Mapping.model_validate(data or {})
    except ValidationError as err:
        errors = []
        for e in err.errors(include_url=False):
            loc = list(e["loc"])
            where = ".".join(str(p) for p in loc) or "(file)"
            errors.append(f"{path}:{_line(node, loc)}: {where}: {e['msg'].removeprefix('Value error, ')}")
        raise MappingError(errors) from None


def _line(node: yaml.Node | None, loc: list[Any]) -> int:
    """The line (1-based) of the deepest YAML node the error location reaches."""
    line = (node.start_mark.line + 1) if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == str(part)), None)
            if found is None:
                break
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


def unmapped_devices(mapping: Mapping, local_url: str, listen_s: float = 3.0) -> dict[str, list[str]]:
    """Local devices the broker knows that the mapping file does not name: Zigbee2MQTT's retained
    `bridge/devices` list (all but the coordinator) and every Tasmota device with a retained LWT or a
    discovery record (`tasmota/discovery/<mac>/config`, its `t` is the %topic%)."""
    import json
    import threading
    from urllib.parse import urlsplit

    import paho.mqtt.client as mqtt

    z2m_base = mapping.zigbee2mqtt.base_topic
    tasmota = mapping.tasmota
    pattern = tasmota.pattern()
    seen: dict[str, set[str]] = {"zigbee2mqtt": set(), "tasmota": set()}
    lock = threading.Lock()

    def on_message(_c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        try:
            if m.topic == f"{z2m_base}/bridge/devices":
                for d in json.loads(m.payload):
                    if isinstance(d, dict) and d.get("type") != "Coordinator" and d.get("friendly_name"):
                        with lock:
                            seen["zigbee2mqtt"].add(str(d["friendly_name"]))
            elif m.topic.startswith("tasmota/discovery/"):
                topic = json.loads(m.payload).get("t")
                if topic:
                    with lock:
                        seen["tasmota"].add(str(topic))
            elif (match := pattern.match(m.topic)) is not None and match["suffix"] == "LWT":
                with lock:
                    seen["tasmota"].add(match["topic"])
        except (ValueError, TypeError, AttributeError):
            pass  # a record we cannot read names no device

    u = urlsplit(local_url)
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if u.username:
        c.username_pw_set(u.username, u.password)
    c.on_message = on_message
    c.connect(u.hostname or "127.0.0.1", u.port or 1883)
    lwt = tasmota.full_topic.replace("%prefix%", tasmota.prefixes["tele"]).replace("%topic%", "+").rstrip("/") + "/LWT"
    c.subscribe([(f"{z2m_base}/bridge/devices", 0), ("tasmota/discovery/+/config", 0), (lwt, 0)])
    c.loop_start()
    try:
        threading.Event().wait(listen_s)
    finally:
        c.disconnect()
        c.loop_stop()
    known = {"zigbee2mqtt": set(mapping.zigbee2mqtt.devices), "tasmota": {d.topic for d in tasmota.devices}}
    return {k: sorted(v - known[k]) for k, v in seen.items()}
