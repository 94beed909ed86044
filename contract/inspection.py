"""The inspection checklist (检查清单): what an inspector checks at a childcare facility, drawn from the
standards CareWatch already cites for its rules (docs/contract.md §4). Each item names its basis, so
that a failed item reads as what the facility must put right and why.

Results: pass (符合), fail (不符合), na (不适用: e.g. no kitchen, no gas). An item left without a result
keeps a record from being signed.

Departments (部门, issue #40 item 6, issue #39 item 5): the plan divides the inspection of a facility between
卫健 (the lead: CHECKLIST, the general one), 消防, 市场监管 (food), 公安 (技防), 教育 (托幼一体 only) and
卫生保健 (妇幼保健 / 疾控 / 卫生监督 institutes, 《托儿所幼儿园卫生保健管理办法》). Each has its own items
(CHECKLISTS); an inspection is of one department and its record holds that department's items. Item codes
are unique across departments, so that a finding's code names its department too."""

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
ITEMS = {i.code: i for i in CHECKLIST}  # 卫健's items (the general checklist, as before departments)

FIRE_CHECKLIST: tuple[Item, ...] = (
    Item(
        "fire_permit",
        "fire_duty",
        "消防验收（备案）或投入使用前消防安全检查合格",
        "Fire acceptance (or filing) or pre-opening fire safety check passed",
        "中华人民共和国消防法",
    ),
    Item(
        "fire_responsible",
        "fire_duty",
        "明确消防安全责任人、管理人，消防安全制度健全",
        "Fire safety officer and manager named, rules in place",
        "机关、团体、企业、事业单位消防安全管理规定（公安部令第61号）",
    ),
    Item(
        "fire_rounds",
        "fire_duty",
        "每日防火巡查、每月防火检查并记录",
        "Daily fire rounds and monthly fire checks done and recorded",
        "机关、团体、企业、事业单位消防安全管理规定（公安部令第61号）",
    ),
    Item(
        "fire_drills",
        "fire_duty",
        "员工消防安全培训，至少每半年组织一次疏散演练",
        "Staff fire training; an evacuation drill at least every six months",
        "机关、团体、企业、事业单位消防安全管理规定（公安部令第61号）",
    ),
    Item(
        "fire_children_floor",
        "fire_building",
        "婴幼儿生活用房设置楼层符合要求",
        "Children's rooms on a permitted floor",
        "GB 50016-2014（2018年版）",
    ),
    Item(
        "fire_systems_tested",
        "fire_building",
        "建筑消防设施每年至少一次全面检测，维护保养记录完整",
        "Building fire systems fully tested every year, maintenance recorded",
        "GB 25201-2010",
    ),
    Item(
        "fire_escape_routes",
        "fire_building",
        "疏散通道、安全出口未被占用、堵塞、封闭",
        "Escape routes and exits not occupied, blocked or closed",
        "中华人民共和国消防法",
    ),
)
MARKET_CHECKLIST: tuple[Item, ...] = (
    Item(
        "food_license",
        "food",
        "食品经营许可（备案）有效，与经营项目相符",
        "Food business licence (or filing) valid and matching what is served",
        "中华人民共和国食品安全法",
    ),
    Item(
        "food_handler_health",
        "food",
        "食堂从业人员取得健康证明后上岗",
        "Kitchen staff hold health certificates",
        "中华人民共和国食品安全法",
    ),
    Item(
        "food_samples",
        "food",
        "每餐次食品留样不少于 125 g，冷藏保存 48 小时以上并记录",
        "A sample of every meal, 125 g or more, kept chilled 48 h or more and logged",
        "餐饮服务食品安全操作规范",
    ),
    Item(
        "food_utensils",
        "food",
        "餐（饮）具清洗消毒、保洁，消毒记录完整",
        "Tableware cleaned, disinfected and kept clean, disinfection logged",
        "GB 14934-2016",
    ),
    Item(
        "food_purchase",
        "food",
        "食品原料进货查验、索证索票并记录",
        "Ingredients checked on delivery, invoices and certificates kept",
        "中华人民共和国食品安全法",
    ),
    Item(
        "food_storage",
        "food",
        "食品分类分架贮存、生熟分开，无过期变质食品",
        "Food stored apart by kind, raw and cooked separate, nothing expired",
        "中华人民共和国食品安全法",
    ),
)
POLICE_CHECKLIST: tuple[Item, ...] = (
    Item(
        "police_video",
        "tech_defence",
        "视频监控覆盖出入口、周界和重点部位，图像清晰",
        "Video covers entrances, perimeter and key places, images clear",
        "GB/T 29315-2022",
    ),
    Item(
        "police_alarm",
        "tech_defence",
        "一键报警装置与公安机关联网，测试正常",
        "Panic button linked to the police and tested",
        "GB/T 29315-2022",
    ),
    Item(
        "police_entrance",
        "tech_defence",
        "出入口设置门卫室和防冲撞设施",
        "Gatehouse and anti-ramming barriers at the entrance",
        "GB/T 29315-2022",
    ),
    Item(
        "police_guards",
        "guarding",
        "专职保安员持保安员证在岗",
        "Full-time guards on duty with a guard's licence",
        "保安服务管理条例",
    ),
    Item(
        "police_equipment",
        "guarding",
        "配备必要的防卫器械（防暴钢叉、盾牌、头盔等）",
        "Defensive equipment on hand (restraint forks, shields, helmets)",
        "中小学幼儿园安全防范工作规范（试行）",
    ),
    Item(
        "police_visitors",
        "guarding",
        "外来人员、车辆登记核验后进入",
        "Visitors and vehicles checked and logged before entering",
        "中小学幼儿园安全防范工作规范（试行）",
    ),
)
EDUCATION_CHECKLIST: tuple[Item, ...] = (
    Item(
        "edu_license",
        "education",
        "幼儿园依法设立，托班纳入幼儿园统一管理",
        "The kindergarten is licensed and runs its nursery classes itself",
        "中华人民共和国学前教育法",
    ),
    Item(
        "edu_class_size",
        "education",
        "托班班额不超过 20 人",
        "Nursery classes of 20 children at most",
        "托育机构设置标准（试行）",
    ),
    Item(
        "edu_teachers",
        "education",
        "托班教师具备相应资格",
        "Nursery class teachers qualified",
        "中华人民共和国教师法",
    ),
    Item(
        "edu_programme",
        "education",
        "保育教育活动符合婴幼儿年龄特点，不提前教授小学内容",
        "Care and activities fit the children's age; no primary-school lessons",
        "托育机构保育指导大纲（试行）",
    ),
)
HEALTH_CARE_CHECKLIST: tuple[Item, ...] = (
    Item(
        "hc_evaluation",
        "health_care",
        "取得评价为合格的《托幼机构卫生评价报告》且在有效期内",
        "A passing health evaluation report for child-care facilities, in date",
        "托儿所幼儿园卫生保健管理办法",
    ),
    Item(
        "hc_health_staff",
        "health_care",
        "按要求配备卫生保健人员",
        "Health-care staff employed as required",
        "托儿所幼儿园卫生保健管理办法",
    ),
    Item(
        "hc_staff_health",
        "health_care",
        "工作人员上岗前体检合格、每年体检一次，健康证明有效",
        "Staff examined before starting and every year, certificates valid",
        "托儿所幼儿园卫生保健管理办法",
    ),
    Item(
        "hc_morning_check",
        "health_care",
        "每日晨午检和全日健康观察落实并记录",
        "Morning and noon health checks and all-day observation done and recorded",
        "托儿所幼儿园卫生保健工作规范",
    ),
    Item(
        "hc_disinfection",
        "health_care",
        "环境和物品预防性消毒落实，消毒记录完整",
        "Preventive disinfection of rooms and things done and logged",
        "托儿所幼儿园卫生保健工作规范",
    ),
    Item(
        "hc_infectious_report",
        "health_care",
        "传染病疫情及时报告，因病缺勤追踪登记",
        "Infectious diseases reported in time, sick absences followed up and logged",
        "中华人民共和国传染病防治法",
    ),
    Item(
        "hc_diet",
        "health_care",
        "膳食营养计划、带量食谱和食品留样落实",
        "Meal plans, weighed menus and food samples in place",
        "托儿所幼儿园卫生保健工作规范",
    ),
)

# department code -> (zh, en); 卫健 first: the lead, and every account's and inspection's default
DEPARTMENTS: dict[str, tuple[str, str]] = {
    "health": ("卫健", "Health commission"),
    "fire": ("消防", "Fire and rescue"),
    "market": ("市场监管", "Market regulation (food)"),
    "police": ("公安", "Public security"),
    "education": ("教育", "Education"),
    "health_care": ("卫生保健", "Child health care (maternal and child health, disease control, health inspection)"),
}
DEFAULT_DEPARTMENT = "health"
CHECKLISTS: dict[str, tuple[Item, ...]] = {
    "health": CHECKLIST,
    "fire": FIRE_CHECKLIST,
    "market": MARKET_CHECKLIST,
    "police": POLICE_CHECKLIST,
    "education": EDUCATION_CHECKLIST,
    "health_care": HEALTH_CARE_CHECKLIST,
}
# the facility kinds (contract/registry.py) a department inspects; a department not named inspects every kind
KINDS_INSPECTED: dict[str, frozenset[str]] = {"education": frozenset({"kindergarten_class"})}
ALL_ITEMS = {i.code: i for items in CHECKLISTS.values() for i in items}
DEPARTMENT_OF_ITEM = {i.code: d for d, items in CHECKLISTS.items() for i in items}
assert len(ALL_ITEMS) == sum(map(len, CHECKLISTS.values())), "item codes are unique across departments"  # noqa: S101


def checklist(department: str) -> tuple[Item, ...]:
    """The department's items (卫健's for one unknown: records before departments are 卫健's)."""
    return CHECKLISTS.get(department, CHECKLIST)


def items_of(department: str) -> dict[str, Item]:
    return {i.code: i for i in checklist(department)}


AREAS = {
    "staffing": ("人员配备与比例", "Staffing and ratios"),
    "security": ("安保与巡查", "Guards and patrols"),
    "fire": ("消防设施与疏散", "Fire equipment and exits"),
    "video": ("视频监控", "Cameras and recordings"),
    "pickup": ("接送管理", "Pick-up"),
    "fire_duty": ("消防安全管理", "Fire safety management"),
    "fire_building": ("建筑防火与消防设施", "Building fire protection"),
    "food": ("食品安全", "Food safety"),
    "tech_defence": ("技术防范", "Technical protection"),
    "guarding": ("人力与实体防范", "Guards and physical protection"),
    "education": ("保育教育", "Care and education"),
    "health_care": ("卫生保健", "Child health care"),
}
