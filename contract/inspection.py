"""The inspection checklist (检查清单): what an inspector checks at a childcare facility, drawn from the
standards CareWatch already cites for its rules (docs/contract.md §4). Each item names its basis, so
that a failed item reads as what the facility must put right and why.

Results: pass (符合), fail (不符合), na (不适用: e.g. no kitchen, no gas). An item left without a result
keeps a record from being signed."""

from __future__ import annotations

from dataclasses import dataclass

RESULTS = ("pass", "fail", "na")


@dataclass(frozen=True, slots=True)
class Item:
    code: str
    area: str
    zh: str
    en: str
    basis: str


CHECKLIST: tuple[Item, ...] = (
    Item(
        "ratio",
        "staffing",
        "各班保育人员与婴幼儿比例符合要求",
        "Carer-to-child ratio met in every class",
        "托育机构设置标准（试行）",
    ),
    Item(
        "qualified_staff",
        "staffing",
        "保育人员具备相应资质、持证上岗",
        "Carers qualified and licensed",
        "托育机构设置标准（试行）",
    ),
    Item(
        "health_certificates",
        "staffing",
        "全部工作人员健康证明有效",
        "Every staff member's health certificate valid",
        "托育机构管理规范（试行）",
    ),
    Item(
        "guard_on_duty",
        "security",
        "开放时间保安在岗，人数符合要求",
        "Guards on duty in opening hours, enough of them",
        "GB/T 29315-2022",
    ),
    Item(
        "patrols",
        "security",
        "安全巡查按时开展、记录完整",
        "Safety patrols done on time and recorded",
        "GB/T 29315-2022",
    ),
    Item(
        "extinguishers",
        "fire",
        "灭火器配置齐全、在有效期内、压力正常",
        "Extinguishers present, in date, pressure in range",
        "GB 50140-2005",
    ),
    Item(
        "exits",
        "fire",
        "安全出口和疏散通道畅通、未上锁",
        "Exits and escape routes clear and unlocked",
        "中华人民共和国消防法",
    ),
    Item(
        "emergency_lighting",
        "fire",
        "应急照明和疏散指示标志完好",
        "Emergency lighting and exit signs working",
        "GB 51309-2018",
    ),
    Item(
        "fire_detection",
        "fire",
        "火灾探测报警设备完好、联网正常",
        "Fire detection working and connected",
        "GB 26875.1-2011",
    ),
    Item(
        "cameras",
        "video",
        "监控覆盖婴幼儿生活和活动区域，24 小时设防",
        "Cameras cover the children's areas, armed 24 h",
        "托育机构管理规范（试行）",
    ),
    Item(
        "recording_retention",
        "video",
        "监控录像资料保存期不少于 90 日",
        "Video kept for at least 90 days",
        "托育机构管理规范（试行）",
    ),
    Item(
        "pickup",
        "pickup",
        "接送交接制度落实，核验接送人身份",
        "Pick-up procedure followed, collectors' identity checked",
        "托育机构管理规范（试行）",
    ),
)
ITEMS = {i.code: i for i in CHECKLIST}
AREAS = {
    "staffing": ("人员配备与比例", "Staffing and ratios"),
    "security": ("安保与巡查", "Guards and patrols"),
    "fire": ("消防设施与疏散", "Fire equipment and exits"),
    "video": ("视频监控", "Cameras and recordings"),
    "pickup": ("接送管理", "Pick-up"),
}
