from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from contract.errors import ContractError
from contract.registry import load_registry_file, parse_registry

FACILITY: dict[str, Any] = {
    "id": "xz-140902-0001",
    "name": "忻府区阳光托育园",
    "county": "140902",
    "township": "140902001",
    "location": {"lat": 38.4167, "lon": 112.7333},
    "kind": "inclusive",
    "timezone": "Asia/Shanghai",
    "opening_hours": {"days": ["mon", "tue", "wed", "thu", "fri"], "open": "07:30", "close": "17:30"},
    "classes": [{"id": "infant-1", "age_group": "infant", "capacity": 10}],
    "staff": [{"id": "s-0001", "role": "caregiver", "qualified": True, "health_cert_expires": "2027-03-31"}],
    "children": [{"id": "c-0107", "class": "infant-1", "guardians": ["g-0107a", "g-0107b"]}],
    "devices": [
        {"id": "smoke-nap1", "type": "smoke_detector", "location": "nap room 1", "heartbeat_s": 60},
        {"id": "cam-class1", "type": "camera", "location": "classroom 1", "covers_child_area": True},
        {"id": "door-main", "type": "access_controller", "location": "main entrance"},
        {"id": "cam-gate", "type": "camera", "location": "main entrance"},
        {"id": "exit-east", "type": "exit_door", "location": "east fire exit"},
        {"id": "exit-west", "type": "exit_door", "location": "west fire exit"},
        {"id": "ext-1", "type": "extinguisher_gauge", "location": "hall"},
        {"id": "panic-1", "type": "panic_button", "location": "office"},
        {"id": "gw-1", "type": "gateway", "location": "office"},
    ],
}


def with_(**changes: Any) -> dict[str, Any]:
    return {"facilities": [{**FACILITY, **changes}]}


def test_valid_registry() -> None:
    reg = parse_registry(with_())
    f = reg.facilities[0]
    assert f.children[0].class_ == "infant-1"
    assert f.missing_equipment() == []


def test_yaml_file(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(
        "facilities:\n  - id: xz-1\n    name: 测试\n    county: '140902'\n    township: '140902001'\n", encoding="utf-8"
    )
    reg = load_registry_file(p)
    assert reg.facilities[0].opening_hours.open.hour == 7
    p.write_text("facilities: [", encoding="utf-8")
    with pytest.raises(ContractError, match="not valid"):
        load_registry_file(p)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"id": "XZ_1"}, "id"),
        ({"county": "14090"}, "county"),
        ({"township": "140981001"}, "not in county 140902"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"kind": "castle"}, "kind"),
        ({"opening_hours": {"open": "18:00", "close": "07:00"}}, "before close"),
        ({"children": [{"id": "c-1", "class": "nope"}]}, "unknown class 'nope'"),
        ({"devices": [{"id": "d", "type": "toaster"}]}, "type"),
        ({"staff": [{"id": "s-1", "role": "guard"}, {"id": "s-1", "role": "cook"}]}, "duplicate staff id"),
        ({"classes": [{"id": "infant-1", "age_group": "infant", "capacity": 0}]}, "capacity"),
    ],
)
def test_invalid_registry(change: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ContractError) as info:
        parse_registry(with_(**change))
    assert fragment in str(info.value)


def test_required_equipment() -> None:
    devices = [
        {"id": "k1", "type": "env_sensor", "location": "kitchen"},
        {"id": "cam", "type": "camera", "location": "hall", "covers_child_area": False},
    ]
    f = parse_registry(with_(devices=devices)).facilities[0]
    assert set(f.missing_equipment()) == {
        "smoke_or_heat_detector",
        "extinguisher_gauge",
        "panic_button",
        "access_controller",
        "camera_covering_child_area",
        "gas_detector_in_kitchen",
        "entrance_camera",
        "two_exit_sensors",
    }


def test_required_watching_devices_grow_with_the_facility() -> None:
    """Issue #37 item 2: a camera over the children's areas and a detector for every class, a camera over the
    entrance, two exits watched; what is not registered is charged by the credit method as silent."""
    three = [{"id": f"infant-{i}", "age_group": "infant", "capacity": 10} for i in (1, 2, 3)]
    f = parse_registry(with_(classes=three, children=[])).facilities[0]
    assert {"camera_per_class", "detector_per_class"} <= set(f.missing_equipment())
    assert f.watch_gaps() == {"camera_coverage": 2, "fire_detection": 2, "exit_obstructed": 0}
    one = parse_registry(with_()).facilities[0]
    assert one.watch_gaps() == {"camera_coverage": 0, "fire_detection": 0, "exit_obstructed": 0}


def test_generated_facilities_lie_inside_their_county() -> None:
    """The map places facilities by their coordinates: a simulated facility in the wrong county (or
    outside the city) is what an inspector would notice first. Checked against the county boundaries."""
    from contract.places import county_at, county_shapes
    from simulators.registry_gen import COUNTIES, generate_registry

    assert set(county_shapes()) == {c[0] for c in COUNTIES}, "the 14 counties, by code"
    assert all(county_at(lon, lat) == code for code, _, lat, lon, _ in COUNTIES), "every seat in its county"
    assert county_at(116.4, 39.9) is None, "Beijing is not in Xinzhou"
    reg = generate_registry(400, seed=11)
    wrong = [
        (f.id, county_at(f.location.lon, f.location.lat))
        for f in reg.facilities
        if county_at(f.location.lon, f.location.lat) != f.county
    ]
    assert wrong == []
