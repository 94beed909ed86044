"""A realistic, deterministic facility registry for Xinzhou (忻州市), CONTRACT §3.

Facilities are spread over Xinzhou's 14 counties and districts by their GB/T 2260 codes, with
plausible coordinates, kinds, classes within the class-size limits of 托育机构设置标准(试行)
(乳儿班 ≤ 10, 托小班 ≤ 15, 托大班 ≤ 20), staff meeting the carer ratios with slack, guards, children
with guardians, every required device and typical extras.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from contract.names import class_name, class_numbers
from contract.people import ROLE_QUALIFICATIONS, Ban, Certificate, Person, mask_id, person_key, with_check_digit
from contract.pickup import Delegate
from contract.places import in_county, townships_of
from contract.registry import (
    CLASS_CAPACITY,
    AgeGroup,
    Child,
    ClassInfo,
    DayException,
    Device,
    DeviceType,
    Facility,
    Hours,
    Location,
    OpeningHours,
    Registry,
    RoomType,
    Staff,
    StaffRole,
    required_guards,
)

# (code, name, centre lat, lon, weight ~ population share)
COUNTIES: list[tuple[str, str, float, float, int]] = [
    ("140902", "忻府区", 38.417, 112.734, 20),
    ("140981", "原平市", 38.731, 112.711, 14),
    ("140921", "定襄县", 38.473, 112.957, 7),
    ("140922", "五台县", 38.728, 113.253, 8),
    ("140923", "代县", 39.067, 112.960, 6),
    ("140924", "繁峙县", 39.189, 113.265, 6),
    ("140925", "宁武县", 39.001, 112.304, 5),
    ("140926", "静乐县", 38.359, 111.940, 4),
    ("140927", "神池县", 39.090, 112.211, 3),
    ("140928", "五寨县", 38.910, 111.846, 3),
    ("140929", "岢岚县", 38.704, 111.574, 2),
    ("140930", "河曲县", 39.384, 111.138, 4),
    ("140931", "保德县", 39.022, 111.086, 4),
    ("140932", "偏关县", 39.436, 111.508, 2),
]
COUNTY_NAMES = {c[0]: c[1] for c in COUNTIES}
TOWNSHIPS_PER_COUNTY = 8
NAME_WORDS = [
    "阳光",
    "彩虹",
    "启航",
    "小太阳",
    "童心",
    "蓓蕾",
    "贝贝",
    "爱心",
    "成长",
    "春苗",
    "星星",
    "乐乐",
    "小橡树",
    "向日葵",
    "花朵",
    "禾苗",
]
KIND_WEIGHTS = [("inclusive", 5), ("for_profit", 3), ("employer", 1), ("kindergarten_class", 2), ("home", 1)]
# Children per caregiver (CONTRACT §4 ratio_breach) and the standard's class sizes, which a registry
# load refuses to exceed (contract.registry.CLASS_CAPACITY).
RATIO = {AgeGroup.INFANT: 3, AgeGroup.TODDLER: 5, AgeGroup.OLDER: 7, AgeGroup.MIXED: 5}
CLASS_LIMIT = CLASS_CAPACITY
# Facilities whose cameras over the child areas count the adults in view (on-camera people counting with a
# height filter, leave-post detection: common in the smart cameras child-care rooms are fitted with since
# about 2020, not in older installations): half, drawn per facility, and always the first (the demo's and
# the benches' facility). An assumption of the simulation, not a measured figure.
COUNTING_SHARE = 0.5


def township_code(county: str, n: int) -> str:
    """The county's n-th real township (contract.places), counting round its list; a county the data
    does not know gets a made-up code."""
    real = townships_of(county)
    return real[(n - 1) % len(real)] if real else f"{county}{n:03d}"


def _weighted(rng: random.Random, items: list[tuple[str, int]]) -> str:
    return rng.choices([i for i, _ in items], weights=[w for _, w in items])[0]


def generate_registry(n: int, seed: int = 1) -> Registry:
    rng = random.Random(seed)
    counties = rng.choices(COUNTIES, weights=[c[4] for c in COUNTIES], k=n)
    per_county: dict[str, int] = {}
    facilities = []
    for i, county in enumerate(counties):
        code = county[0]
        per_county[code] = per_county.get(code, 0) + 1
        # The first facility is always a full inclusive one: scenarios and the demo name its devices.
        facilities.append(_facility(rng, county, per_county[code], kind="inclusive" if i == 0 else None, first=i == 0))
    return Registry(facilities=facilities)


def _place(county: str, lat: float, lon: float, u1: float, u2: float) -> tuple[float, float]:
    """A point within ~13 km of the county seat and inside the county's boundary (contract/places.py), so
    that the map never shows a facility in the wrong county or outside the city. The first try uses the
    generator's own two draws (as before, so the rest of a seeded registry stays the same); further
    tries come from a generator seeded by them."""
    tries = random.Random(f"{u1}-{u2}")
    for _ in range(100):
        r, a = 0.12 * math.sqrt(u1), u2 * 2 * math.pi
        p_lat, p_lon = round(lat + r * math.sin(a), 5), round(lon + r * math.cos(a), 5)
        if in_county(county, p_lon, p_lat):
            return p_lat, p_lon
        u1, u2 = tries.random(), tries.random()
    return lat, lon  # the seat itself lies inside (tests/test_registry.py)


def _facility(
    rng: random.Random,
    county: tuple[str, str, float, float, int],
    seq: int,
    kind: str | None = None,
    first: bool = False,
) -> Facility:
    code, cname, lat, lon, _ = county
    fid = f"xz-{code}-{seq:04d}"
    kind = kind or _weighted(rng, KIND_WEIGHTS)
    classes = _classes(rng, kind)
    children = _children(rng, classes)
    staff = _staff(rng, classes, len(children))
    devices = _devices(rng, classes)
    if first or random.Random(f"{fid}:counting").random() < COUNTING_SHARE:  # its own draw: the rest stays
        devices = [
            d.model_copy(update={"counts_adults": True}) if d.covers_child_area and d.type is DeviceType.CAMERA else d
            for d in devices
        ]
    lat, lon = _place(code, lat, lon, rng.random(), rng.random())
    return Facility(
        id=fid,
        name=f"{cname}{rng.choice(NAME_WORDS)}托育园{seq}号",
        county=code,
        township=township_code(code, rng.randint(1, TOWNSHIPS_PER_COUNTY)),
        location=Location(lat=lat, lon=lon),
        kind=kind,
        opening_hours=OpeningHours() if first else _hours(fid, kind),
        classes=classes,
        staff=staff,
        children=children,
        devices=devices,
    )


def _hours(fid: str, kind: str) -> OpeningHours:
    """Each facility its own week: 7:00-8:00 to 17:00-18:30, some with Saturday mornings (family-run and
    for-profit ones most), a few with a dated closure (a training day). A generator of its own, so the
    rest of the registry is the same as before hours varied."""
    rng = random.Random(f"hours:{fid}")
    opens = rng.choice([time(7, 0), time(7, 30), time(7, 30), time(8, 0)])
    closes = rng.choice([time(17, 0), time(17, 30), time(17, 30), time(18, 0), time(18, 30)])
    weekly = {}
    if rng.random() < (0.5 if kind in {"home", "for_profit"} else 0.15):
        weekly["sat"] = Hours(open=time(8, 0), close=time(12, 0))
    exceptions = []
    if rng.random() < 0.1:
        exceptions.append(DayException(date=date(2026, 12, 18), closed=True, reason="教职工培训 / staff training"))
    return OpeningHours(
        days=["mon", "tue", "wed", "thu", "fri"], open=opens, close=closes, weekly=weekly, exceptions=exceptions
    )


def _classes(rng: random.Random, kind: str) -> list[ClassInfo]:
    if kind == "home":
        return [ClassInfo(id="mixed-1", age_group=AgeGroup.MIXED, capacity=rng.randint(5, 10))]
    counts = {
        AgeGroup.INFANT: rng.randint(0, 1),
        AgeGroup.TODDLER: rng.randint(1, 2),
        AgeGroup.OLDER: rng.randint(1, 2),
    }
    if kind == "kindergarten_class":
        counts = {AgeGroup.OLDER: rng.randint(1, 2)}
    out = []
    for group, k in counts.items():
        limit = CLASS_LIMIT[group]
        for i in range(1, k + 1):
            out.append(ClassInfo(id=f"{group.value}-{i}", age_group=group, capacity=rng.randint(limit - 4, limit)))
    return out


def _children(rng: random.Random, classes: list[ClassInfo]) -> list[Child]:
    out = []
    n = 0
    for c in classes:
        for _ in range(rng.randint(max(1, c.capacity - 5), c.capacity)):
            n += 1
            cid = f"c-{n:04d}"
            guardians = [f"g-{n:04d}a"] + ([f"g-{n:04d}b"] if rng.random() < 0.8 else [])
            out.append(Child(id=cid, class_=c.id, guardians=guardians))
    return out


LAPSED_COOK = "s-9002"


def _staff(rng: random.Random, classes: list[ClassInfo], enrolled: int) -> list[Staff]:
    out = []
    n = 0

    def add(role: StaffRole, **kw: object) -> None:
        nonlocal n
        n += 1
        # from March 2027 on: nothing expires within the register's 30-day warning of the simulated months
        # (autumn and winter 2026); the same draws as before, so every other choice stays as it was
        month, day = rng.randint(1, 12), rng.randint(1, 28)
        expires = date(2027 if month >= 3 else 2028, month, day)
        out.append(Staff(id=f"s-{n:04d}", role=role, health_cert_expires=expires, **kw))

    for c in classes:
        for _ in range(math.ceil(c.capacity / RATIO[c.age_group]) + 1):  # the ratio at full capacity, plus one
            add(StaffRole.CAREGIVER, qualified=True)
    for _ in range(required_guards(enrolled)):
        add(StaffRole.GUARD, licensed=True)
    add(StaffRole.HEALTH, qualified=True)
    add(StaffRole.COOK, qualified=True)
    add(StaffRole.MANAGER, qualified=True)
    # Records every facility keeps but who never badge in on a normal day: a former employee under
    # a lifetime ban (从业禁止), and a cook on leave whose health certificate has lapsed.
    out.append(Staff(id="s-9001", role=StaffRole.OTHER, banned=True))
    out.append(Staff(id=LAPSED_COOK, role=StaffRole.COOK, qualified=True, health_cert_expires=date(2025, 6, 30)))
    return out


# Where devices are, as an installer writes it on a Chinese site, and what room each word means
# (contract.registry.RoomType; registry_gen files `room` with each device, so nothing reads the words but
# this table). The first word found decides: "厨房后门" is the kitchen's.
ROOMS = {
    "厨房": RoomType.KITCHEN,
    "教室": RoomType.CLASSROOM,
    "午睡室": RoomType.NAP_ROOM,
    "户外活动场": RoomType.PLAY_AREA,
    "门厅": RoomType.ENTRANCE,
    "大门": RoomType.ENTRANCE,
    "大厅": RoomType.HALL,
    "楼梯间": RoomType.HALL,
    "安全出口": RoomType.HALL,
    "办公室": RoomType.OFFICE,
    "门卫室": RoomType.OFFICE,
    "设备间": RoomType.EQUIPMENT,
    "消防立管": RoomType.EQUIPMENT,
    "锅炉房": RoomType.BOILER,
}
FLOORS = ("一楼", "二楼")


def _room(location: str) -> RoomType:
    return next((room for word, room in ROOMS.items() if word in location), RoomType.OTHER)


def _devices(rng: random.Random, classes: list[ClassInfo]) -> list[Device]:
    d: list[Device] = []
    names = class_numbers((c.id, c.age_group.value) for c in classes)

    def add(did: str, t: DeviceType, loc: str, hb: int = 60, child: bool = False) -> None:
        d.append(Device(id=did, type=t, location=loc, heartbeat_s=hb, covers_child_area=child, room=_room(loc)))

    add("gw-1", DeviceType.GATEWAY, "设备间", 30)
    add("door-main", DeviceType.ACCESS_CONTROLLER, "大门入口")
    add("exit-1", DeviceType.EXIT_DOOR, "东侧安全出口")
    add("exit-2", DeviceType.EXIT_DOOR, "西侧安全出口")
    add("panic-office", DeviceType.PANIC_BUTTON, "办公室", 300)
    add("panic-gate", DeviceType.PANIC_BUTTON, "门卫室", 300)
    add("cam-entrance", DeviceType.CAMERA, "大门入口")
    add("smoke-kitchen", DeviceType.HEAT_DETECTOR, "厨房", 120)
    add("gas-kitchen", DeviceType.GAS_DETECTOR, "厨房", 120)
    add("cam-kitchen", DeviceType.CAMERA, "厨房")
    add("co-boiler", DeviceType.CO_DETECTOR, "锅炉房", 120)
    add("water-1", DeviceType.WATER_PRESSURE, "消防立管", 300)
    floors = 1 if len(classes) <= 2 else 2
    for f in range(1, floors + 1):
        add(f"ext-f{f}", DeviceType.EXTINGUISHER_GAUGE, f"{FLOORS[f - 1]}大厅", 300)
        add(f"elight-f{f}", DeviceType.EMERGENCY_LIGHT, f"{FLOORS[f - 1]}楼梯间", 300)
        add(f"smoke-hall-f{f}", DeviceType.SMOKE_DETECTOR, f"{FLOORS[f - 1]}大厅", 120)
    for i, c in enumerate(classes, 1):
        # the class's rooms by its name (托小班 1 教室); the simulator finds the class by the device's number
        room = class_name(*names[c.id], "zh")
        add(f"smoke-class{i}", DeviceType.SMOKE_DETECTOR, f"{room} 教室", 120)
        add(f"smoke-nap{i}", DeviceType.SMOKE_DETECTOR, f"{room} 午睡室", 120)
        add(f"cam-class{i}", DeviceType.CAMERA, f"{room} 教室", child=True)
        add(f"cam-nap{i}", DeviceType.CAMERA, f"{room} 午睡室", child=True)
        add(f"env-class{i}", DeviceType.ENV_SENSOR, f"{room} 教室", child=True)
        add(f"env-nap{i}", DeviceType.ENV_SENSOR, f"{room} 午睡室", child=True)
    add("cam-yard", DeviceType.CAMERA, "户外活动场", child=True)
    for p in range(1, 4):
        add(f"patrol-{p}", DeviceType.PATROL_POINT, ["大门", "户外活动场", "厨房后门"][p - 1], 300)
    if rng.random() < 0.5:
        add("env-hall", DeviceType.ENV_SENSOR, "门厅")
    return d


# Simulated names: common surnames and given-name characters (no real person is meant).
_SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
    "余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
)
_GIVEN = "丽娟敏静秀英华慧芳燕玲红霞婷雪梅琳晶洁莉萍颖婧佳欣怡悦建国志强军伟明勇杰磊涛斌鹏辉刚平亮浩宇晨阳凯"
# A simulated identity number's first digits: 忻州市 (1409), then the county's two digits.
_SALT = b"carewatch-simulated-register"


def with_register(reg: Registry, today: date, seed: int = 1) -> Registry:
    """The registry with a register of people behind its staff (issue #39: the simulator uses the register): each
    staff record linked to a person with a simulated Chinese name, a masked identity number, the certificate their
    role needs and a health certificate valid for months after `today`, and an annual health check and training
    within the year before it; the facility's banned former employee (s-9001) a person with the ban on record, and
    the cook whose health certificate lapsed (s-9002) as lapsed as before. Nothing else runs out within the rules'
    30-day warning of `today`, but for the register's cases planted in a registry of at least PLANTED_MIN
    facilities (`plant_cases`): shared people, an expiring and a lapsed certificate."""
    rng = random.Random(f"register-{seed}")
    people: list[Person] = []
    facilities = []
    serial = 0
    for f in reg.facilities:
        staff = []
        for s in f.staff:
            serial += 1
            born = date(1970, 1, 1) + timedelta(days=rng.randint(0, 35 * 365))
            number = with_check_digit(f"1409{f.county[4:6]}{born:%Y%m%d}{serial % 1000:03d}")
            key = person_key(number, _SALT)
            name = rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))
            if s.banned:
                person = Person(
                    key=key,
                    name=name,
                    id_masked=mask_id(number),
                    ban=Ban(source="忻州市卫生健康委员会 从业禁止决定（模拟）", on=today - timedelta(days=400)),
                )
            else:
                need = sorted(ROLE_QUALIFICATIONS.get(s.role.value, frozenset()))
                valid = today + timedelta(days=rng.randint(180, 900))
                certs = [Certificate(kind=need[0], expires=valid)] if need else []
                lapsed = s.id == LAPSED_COOK  # the record kept of a cook on leave (_staff)
                health = s.health_cert_expires if lapsed else today + timedelta(days=rng.randint(60, 360))
                person = Person(
                    key=key,
                    name=name,
                    id_masked=mask_id(number),
                    qualifications=certs,
                    health_cert_expires=health,
                    health_check_on=today - timedelta(days=rng.randint(20, 300)),
                    training_on=today - timedelta(days=rng.randint(20, 300)),
                )
            people.append(person)
            staff.append(s.model_copy(update={"person": key, "id_masked": person.id_masked}))
        facilities.append(f.model_copy(update={"staff": staff}))
    out = Registry(facilities=facilities, people=people)
    return plant_cases(out, today) if len(facilities) >= PLANTED_MIN else out


# -- the register's cases (issue #39 acceptance: the demo shows each at least once) --------------------------
# Planted in the last facilities of a registry, away from the first ones where the benches place their
# scenarios (bench.truth.plan) and the demo's operator works. A staff record with an id from SHARED_FROM
# up to s-9000 is a person of another facility's staff also on this facility's: the simulator
# (simulators.engine) makes them badge in at both, a health-care worker half days at each (morning at the
# facility they are on the staff of, afternoon at the other: 兼职保健医, no alert), anyone else all day
# at both, the second facility's badge used from mid-morning (挂证: a certificate lent, the card with it).
PLANTED_MIN = 6
SHARED_FROM = "s-8000"
SHARED_HEALTH = "s-8001"  # a part-time health-care worker of another facility
LENT = "s-8002"  # a caregiver of another facility, lent on paper (挂证): double_shift
EXPIRING_DAYS = 29  # inside the rules' 30-day warning, and valid through a 30-day run from `today`
LAPSED_DAYS = 3
CITY_TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class Planted:
    """An alert the planted register deserves: at `facility_id`, true from the register's day on."""

    facility_id: str
    rule: str
    subject: str
    what: str  # the case, for the reader


def _planted_at(reg: Registry) -> dict[str, int]:
    n = len(reg.facilities)
    return {
        "health_home": n - 1,  # part-time health worker: on this facility's staff, mornings
        "health_other": n - 2,  # ... and afternoons here
        "health2_home": n - 3,
        "health2_other": n - 4,
        "lent_home": n - 5,  # the caregiver whose certificate is lent
        "lent_other": n - 6,  # ... to this facility (挂证)
        "expiring": n - 1,  # a caregiver's certificate runs out in EXPIRING_DAYS
        "lapsed": n - 2,  # the cook on duty whose health certificate lapsed LAPSED_DAYS ago
        "delegates": n - 3,  # children collected by delegates, one expired
    }


def _first(f: Facility, role: StaffRole) -> Staff:
    return next(s for s in f.staff if s.role is role and s.id < SHARED_FROM)


def plant_cases(reg: Registry, today: date) -> Registry:
    """The register's cases in a registry whose staff are people of the register (`with_register`):
    two health-care workers each on the staff of two facilities (legitimate part-time, no alert), one
    caregiver lent on paper to a second facility (挂证: double_shift), a caregiver's certificate expiring
    within the 30-day warning (certificate_expiring) and an on-duty cook's health certificate lapsed
    (unqualified_staff_on_site). The delegates are `simulated_delegates`; what is deserved, `planted`."""
    at = _planted_at(reg)
    facilities = list(reg.facilities)
    people = {p.key: p for p in reg.people}

    def add(other: int, home: int, role: StaffRole, staff_id: str) -> None:
        s = _first(facilities[home], role)
        extra = s.model_copy(update={"id": staff_id})  # the same person, their record as at home
        facilities[other] = facilities[other].model_copy(update={"staff": [*facilities[other].staff, extra]})

    add(at["health_other"], at["health_home"], StaffRole.HEALTH, SHARED_HEALTH)
    add(at["health2_other"], at["health2_home"], StaffRole.HEALTH, SHARED_HEALTH)
    add(at["lent_other"], at["lent_home"], StaffRole.CAREGIVER, LENT)
    carer = _first(facilities[at["expiring"]], StaffRole.CAREGIVER)
    assert carer.person is not None  # noqa: S101 - with_register linked every record
    p = people[carer.person]
    people[p.key] = p.model_copy(
        update={
            "qualifications": [
                c.model_copy(update={"expires": today + timedelta(days=EXPIRING_DAYS)}) for c in p.qualifications
            ]
        }
    )
    cook = _first(facilities[at["lapsed"]], StaffRole.COOK)
    assert cook.person is not None  # noqa: S101
    people[cook.person] = people[cook.person].model_copy(
        update={"health_cert_expires": today - timedelta(days=LAPSED_DAYS)}
    )
    return Registry(facilities=facilities, people=list(people.values()))


def simulated_delegates(reg: Registry, today: date) -> list[Delegate]:
    """Pick-up delegates of one facility's children, recorded with the parents' consent: two grandparents
    collecting every day under a standing delegation valid around `today` (no alert), and one whose
    delegation ended two days before `today` and who still comes (unauthorized_pickup, critical). The door
    reports the delegate's card as the pick-up's guardian_id. None in a registry under PLANTED_MIN."""
    if len(reg.facilities) < PLANTED_MIN:
        return []
    f = reg.facilities[_planted_at(reg)["delegates"]]
    children = [c for c in f.children if c.guardians][1:4]  # not the first: the scenarios' child
    start = datetime.combine(today, time(0, 0), CITY_TZ)
    out = []
    for i, (c, (name, begins, ends)) in enumerate(
        zip(
            children,
            (("张秀兰", -30, 300), ("李桂英", -60, 250), ("王建华", -200, -2)),
            strict=True,
        ),
        1,
    ):
        valid_from = start + timedelta(days=begins)
        out.append(
            Delegate(
                id=i,
                facility_id=f.id,
                child_id=c.id,
                person_id=f"dg-{c.id[2:]}",
                name=name,
                relation="grandparent",
                kind="standing",
                valid_from=valid_from,
                valid_until=start + timedelta(days=ends),
                created_at=valid_from,
            )
        )
    return out


def planted(reg: Registry) -> list[Planted]:
    """The alerts the planted register and delegates deserve (bench truth counts them as expected)."""
    if len(reg.facilities) < PLANTED_MIN:
        return []
    at = _planted_at(reg)
    f = reg.facilities
    expired = simulated_delegates(reg, date(2000, 1, 1))[-1]
    return [
        Planted(f[at["lent_other"]].id, "double_shift", LENT, "挂证: a caregiver lent on paper"),
        Planted(
            f[at["expiring"]].id,
            "certificate_expiring",
            _first(f[at["expiring"]], StaffRole.CAREGIVER).id,
            "a caregiver's certificate expiring",
        ),
        Planted(
            f[at["lapsed"]].id,
            "unqualified_staff_on_site",
            _first(f[at["lapsed"]], StaffRole.COOK).id,
            "an on-duty cook's health certificate lapsed",
        ),
        Planted(expired.facility_id, "unauthorized_pickup", expired.child_id, "a delegate whose delegation expired"),
    ]
