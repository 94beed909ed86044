"""Document numbers (文号) of the printable documents (issue #40 item 4): which department a document is
issued by, the year it counts in, and how its number reads, e.g. 忻府卫托整〔2026〕12号.

A department is the issuer's level over the facility: the city (`city`), the facility's county (its code)
or its township (its code), since an inspector's scope always contains the facility. Each department
numbers each kind of document from 1 every year, in Xinzhou's time; storage.documents allocates the
numbers and never reuses one. The text is made here from the stored parts, as pure functions.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from contract.places import county_name_zh, township_name

ZONE = ZoneInfo("Asia/Shanghai")  # the year a document counts in is Xinzhou's
KINDS = ("order", "inspection")
# 卫 for the health commission (卫生健康), the plan's lead department; 托 for childcare (托育); then the
# kind: 整 a rectification notice (整改通知书), 检 an inspection record (现场检查记录)
_KIND_MARK = {"order": "整", "inspection": "检"}
_CITY_SHORT = "忻"  # 忻州市's departments number their documents 忻卫…


def department_of(level: str, county: str, township: str) -> str:
    """The department a document of `level` (township, county, city) over a facility in `county` and
    `township` is issued by."""
    return {"city": "city", "county": county, "township": township}[level]


def year_of(now: datetime) -> int:
    return now.astimezone(ZONE).year


def _short(name: str, suffixes: tuple[str, ...]) -> str:
    """忻府区 → 忻府, 原平市 → 原平, 秀容街道 → 秀容; a name of two characters keeps them (代县)."""
    for s in suffixes:
        if name.endswith(s) and len(name) - len(s) >= 2:
            return name[: -len(s)]
    return name


def short_name(department: str) -> str:
    """The department's short name in a document number: 忻 (the city), 忻府 (忻府区), 秀容 (秀容街道)."""
    if department == "city":
        return _CITY_SHORT
    if len(department) == 6:
        return _short(county_name_zh(department), ("区", "县", "市"))
    return _short(township_name(department), ("街道办事处", "街道", "镇", "乡"))


def number_text(department: str, kind: str, year: int, seq: int) -> str:
    """忻府卫托整〔2026〕12号: the department's short name, 卫托 and the kind's mark, the year in 〔〕
    (U+3014/U+3015, as GB/T 9704 writes it), the number without leading zeros, 号."""
    return f"{short_name(department)}卫托{_KIND_MARK[kind]}〔{year}〕{seq}号"
