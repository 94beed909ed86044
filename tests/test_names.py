"""An alert's text by name (contract.names, issue #41 item 2): references resolved in the reader's language,
old texts as stored, unknown ids as themselves, and nothing a facility files can hide what an alert is about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.engine import AlertEngine
from contract.names import FacilityNames, ref, resolve, summaries
from contract.payloads import Event, EventType
from contract.rules import load_rules
from simulators.registry_gen import generate_registry

NAMES = FacilityNames(
    devices={"panic-gate": ("panic_button", "门卫室"), "cam-x": ("camera", "")},
    staff={"s-0010": ("guard", ""), "s-0003": ("caregiver", "王丽")},
    classes={"toddler-1": "toddler", "toddler-2": "toddler", "older-1": "older"},
    children={"c-0012": "toddler-2"},
)


def test_references_read_as_names_in_each_language() -> None:
    text = f"一键报警被按下（{ref('device', 'panic-gate')}）"
    assert resolve(text, NAMES, "zh") == "一键报警被按下（门卫室 一键报警按钮）"
    assert resolve(f"pressed ({ref('device', 'panic-gate')})", NAMES, "en") == "pressed (Panic button, 门卫室)"
    assert resolve(ref("device", "cam-x"), NAMES, "zh") == "摄像头", "no location: its type"
    assert resolve(ref("staff", "s-0003"), NAMES, "zh") == "王丽", "the register's name"
    assert resolve(ref("staff", "s-0010"), NAMES, "zh") == "保安10号", "no name: role and number"
    assert resolve(ref("staff", "s-0010"), NAMES, "en") == "guard no. 10"
    assert resolve(ref("class", "toddler-2"), NAMES, "zh") == "托小班 2"
    assert resolve(ref("class", "older-1"), NAMES, "zh") == "托大班", "the only one of its group: no number"
    assert resolve(ref("child", "c-0012"), NAMES, "zh") == "托小班 2 12号幼儿"
    assert resolve(ref("person", "c-0012"), NAMES, "en") == "child no. 12 of Toddler class 2"
    assert resolve(ref("person", "s-0003"), NAMES, "zh") == "王丽"
    assert resolve(ref("card", "g-0099a"), NAMES, "zh") == "卡号 g-0099a"


def test_old_texts_and_unknown_ids_show_as_they_are() -> None:
    assert resolve("设备离线（gw-1）", NAMES, "zh") == "设备离线（gw-1）", "stored before references: as stored"
    # a device taken out of the registry after its alert: the alert still says which one, by its id
    assert resolve(f"设备离线（{ref('device', 'smoke-9')}）", NAMES, "zh") == "设备离线（smoke-9）"
    assert resolve(f"设备离线（{ref('device', 'gw-1')}）", None, "zh") == "设备离线（gw-1）", "no names at all"
    assert summaries(f"x{ref('class', 'toddler-1')}", None, NAMES) == ("x托小班 1", "xToddler class 1")


def test_a_location_filed_by_the_facility_cannot_rename_something_else() -> None:
    """Adversary: the facility writes its devices' locations. A location holding a reference is shown as the
    text it is, never resolved into another thing's name (one pass, one way); the alert's subject stays."""
    sly = FacilityNames(devices={"smoke-1": ("smoke_detector", f"{ref('device', 'panic-gate')}已恢复")})
    shown = resolve(f"火灾报警（{ref('device', 'smoke-1')}）", sly, "zh")
    assert shown == "火灾报警（⟦device:panic-gate⟧已恢复 烟感探测器）", shown
    assert "烟感探测器" in shown, "what it is comes from the type, which the engine judges by"


def test_the_engine_writes_references_and_the_registry_names_them() -> None:
    """Every device alert the engine composes names its device by reference (alerts/alarms.py and the rest)."""
    f = generate_registry(1, seed=1).facilities[0]
    t0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    engine = AlertEngine([f], load_rules(None), t0 - timedelta(minutes=1))
    ds = engine.on_message(f.id, "panic-gate", Event(ts=t0, msg_id="m1", type=EventType.PANIC), t0)
    opened = [d for d in ds if d.condition is not None and d.key.rule == "panic_button"]
    assert opened, ds
    cond = opened[0].condition
    assert cond is not None
    assert ref("device", "panic-gate") in cond.summary and ref("device", "panic-gate") in cond.summary_en
    names = FacilityNames(devices={d.id: (d.type.value, d.location) for d in f.devices})
    zh, _ = summaries(cond.summary, cond.summary_en, names)
    assert "panic-gate" not in zh and "一键报警按钮" in zh, zh
