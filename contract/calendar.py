"""China's statutory holidays and make-up working days (调休), for opening hours (CONTRACT §3).

The State Council's notice (国务院办公厅关于YYYY年部分节假日安排的通知, each November or December) gives
each next year's arrangement as *blocks* ("2月15日至23日放假调休，共9天") and the weekend days that become
working days ("2月14日（周六）上班"). Every day of a block is a day off for every facility, the weekends
inside it included: a facility that opens on Saturdays is closed on Saturday 2026-02-21, in the Spring
Festival block (issue #42).

Where a year comes from, first to last:

1. `contract/data/cn-holidays.yaml`, entered by hand from the notice and reviewed (CONTRACT §3, "The
   national calendar"): it carries a year as soon as the notice is out, without waiting for a release
   of the `holidays` package; `carewatch calendar check` validates it and compares it with the package;
2. the `holidays` package (PyPI, released monthly), whose days off are the block's weekdays (and some of
   its weekend days): a block is each run of days off and weekend days around them, stopped by a
   make-up working day;
3. a year neither knows yet (the package does not have its make-up days) still has its fixed and lunar
   holidays from the package, blocks as in 2., without the make-up working days.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import holidays
import yaml

from contract.errors import ContractError

DATA_FILE = Path(__file__).parent / "data" / "cn-holidays.yaml"
# a block of the notices is 1 to 9 days (春节 and 国庆 at most 8 or 9); more is a typing error
MAX_BLOCK_DAYS = 10


class DayKind(StrEnum):
    ORDINARY = "ordinary"  # the weekday decides
    HOLIDAY = "holiday"  # a day off of a holiday block (法定节假日, the days joined to it, its weekends)
    MAKEUP = "makeup"  # a weekend day that is a working day (调休上班)


@dataclass(frozen=True, slots=True)
class Block:
    name: str
    first: date
    last: date

    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]


@dataclass(frozen=True, slots=True)
class YearPlan:
    """One year's arrangement: its blocks and make-up working days, and where it comes from."""

    year: int
    blocks: tuple[Block, ...]
    workdays: frozenset[date]
    source: str  # the notice's title, or "holidays <version>"


def _date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ContractError("calendar", f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


def _year_plan(year: int, entry: Any) -> YearPlan:
    where = f"year {year}"
    if not isinstance(entry, dict):
        raise ContractError("calendar", f"{where}: give notice, blocks and workdays")
    unknown = set(entry) - {"notice", "entered_by", "blocks", "workdays"}
    if unknown:
        raise ContractError("calendar", f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    notice = entry.get("notice")
    if not isinstance(notice, str) or str(year) not in notice:
        raise ContractError("calendar", f"{where}: `notice` is the State Council notice's title, with the year")
    blocks: list[Block] = []
    for i, b in enumerate(entry.get("blocks") or []):
        at = f"{where}, block {i + 1}"
        if not isinstance(b, dict) or set(b) != {"name", "from", "to"}:
            raise ContractError("calendar", f"{at}: give name, from and to")
        name = b["name"]
        if not isinstance(name, str) or not 0 < len(name) <= 20:
            raise ContractError("calendar", f"{at}: a name of 1 to 20 characters (春节)")
        first, last = _date(b["from"], at), _date(b["to"], at)
        if last < first:
            raise ContractError("calendar", f"{at} ({name}): `to` {last} is before `from` {first}")
        if (last - first).days + 1 > MAX_BLOCK_DAYS:
            raise ContractError("calendar", f"{at} ({name}): {first} to {last} is over {MAX_BLOCK_DAYS} days")
        # a 元旦 block may begin on the last days of the year before (2023-12-30 to 2024-01-01)
        if year not in (last.year, first.year):
            raise ContractError("calendar", f"{at} ({name}): {first} to {last} is not in {year}")
        blocks.append(Block(name, first, last))
    if not blocks:
        raise ContractError("calendar", f"{where}: no holiday blocks")
    blocks.sort(key=lambda b: b.first)
    for a, b in itertools.pairwise(blocks):
        if b.first <= a.last:
            raise ContractError("calendar", f"{where}: blocks {a.name} and {b.name} overlap")
    off = {d for b in blocks for d in b.days()}
    workdays: set[date] = set()
    for value in entry.get("workdays") or []:
        d = _date(value, f"{where}, workdays")
        if d.weekday() < 5:
            raise ContractError("calendar", f"{where}: make-up working day {d} is not a Saturday or Sunday")
        if d in off:
            raise ContractError("calendar", f"{where}: {d} is both a working day and in a holiday block")
        if abs(d.year - year) > 1 or (d.year != year and abs((d - date(year, 1, 1)).days) > 40):
            raise ContractError("calendar", f"{where}: make-up working day {d} is not in {year}")
        workdays.add(d)
    return YearPlan(year, tuple(blocks), frozenset(workdays), notice)


def parse_calendar(data: Any) -> dict[int, YearPlan]:
    """The years of a calendar file's data, validated (ContractError says what is wrong and where)."""
    if not isinstance(data, dict) or set(data) != {"years"} or not isinstance(data["years"], dict):
        raise ContractError("calendar", "the file has one key, `years`, a mapping of year to its arrangement")
    out = {}
    for key, entry in data["years"].items():
        if not isinstance(key, int) or not 2000 <= key <= 2100:
            raise ContractError("calendar", f"{key!r} is not a year")
        out[key] = _year_plan(key, entry)
    return out


def load_calendar_file(path: Path) -> dict[int, YearPlan]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ContractError("calendar", f"{path}: not valid YAML: {err}") from err
    return parse_calendar(data)


@functools.lru_cache(maxsize=1)
def national() -> dict[int, YearPlan]:
    """The shipped file's years (read once per process: a service restarted after an update reads it)."""
    return load_calendar_file(DATA_FILE)


@functools.lru_cache(maxsize=8)
def _package(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("CN", years=year, language="zh_CN")


def package_has_year(year: int) -> bool:
    """Whether the `holidays` package knows the year's notice (it has the year's make-up working days)."""
    return any(d.year == year for d in _package(year).weekend_workdays)


@functools.lru_cache(maxsize=8)
def package_plan(year: int) -> YearPlan:
    """The year as the `holidays` package has it: each run of its days off with the weekend days around
    them (up to a make-up working day) is a block named after its first named day."""
    cn = _package(year)
    workdays = frozenset(d for d in cn.weekend_workdays if d.year == year)

    def off(d: date) -> bool:
        return d in cn or (d.weekday() >= 5 and d not in workdays)

    blocks = []
    seen: set[date] = set()
    for day in sorted(d for d in cn if d.year == year):
        if day in seen:
            continue
        first, last = day, day
        while off(first - timedelta(days=1)) and (first - timedelta(days=1)).year >= year - 1:
            first -= timedelta(days=1)
        while off(last + timedelta(days=1)):
            last += timedelta(days=1)
        block = Block(_plain_name(cn, first, last), first, last)
        seen.update(block.days())
        blocks.append(block)
    return YearPlan(year, tuple(blocks), workdays, f"holidays {holidays.__version__}")


def _plain_name(cn: holidays.HolidayBase, first: date, last: date) -> str:
    """The block's holiday: the first day named for a holiday, not for a swap (休息日) or the eve."""
    d = first
    while d <= last:
        name = str(cn.get(d) or "")
        if name and not name.startswith(("休息日", "农历除夕")):
            return name.split("（", maxsplit=1)[0]
        d += timedelta(days=1)
    return str(cn.get(first) or "节假日").split("（", maxsplit=1)[0]


def plan(year: int) -> YearPlan:
    """The year's arrangement: the data file's when it has the year, else the package's."""
    return national().get(year) or package_plan(year)


def year_known(year: int) -> bool:
    """Whether the year's arrangement is known: entered in the data file, or in the package with its
    make-up working days."""
    return year in national() or package_has_year(year)


# from this month on, the next year's notice is due (it came out in November or December in recent years)
NEXT_YEAR_DUE_MONTH = 11


def missing_year(today: date) -> int | None:
    """The year whose arrangement the admin should enter now (CONTRACT §3): this year when unknown, or from
    November the next one when unknown; None when both are known."""
    if not year_known(today.year):
        return today.year
    if today.month >= NEXT_YEAR_DUE_MONTH and not year_known(today.year + 1):
        return today.year + 1
    return None


def differences(entered: YearPlan, package: YearPlan) -> list[str]:
    """How a year entered from the notice differs from the `holidays` package's (empty: the same)."""
    out = []
    mine = {(b.first, b.last) for b in entered.blocks}
    theirs = {(b.first, b.last) for b in package.blocks}
    out += [f"block {a} to {b} is in the file, not in the package" for a, b in sorted(mine - theirs)]
    out += [f"block {a} to {b} is in the package, not in the file" for a, b in sorted(theirs - mine)]
    out += [f"working day {d} is in the file, not in the package" for d in sorted(entered.workdays - package.workdays)]
    out += [f"working day {d} is in the package, not in the file" for d in sorted(package.workdays - entered.workdays)]
    return out


@functools.lru_cache(maxsize=16)
def _days(year: int) -> tuple[dict[date, str], frozenset[date]]:
    p = plan(year)
    return {d: b.name for b in p.blocks for d in b.days()}, p.workdays


def _lookup(day: date) -> tuple[str | None, bool]:
    """The day's block name (None: not in a block) and whether it is a make-up working day. A block or
    working day near New Year may belong to the neighbouring year's notice."""
    name, work = None, False
    for year in (day.year, day.year + 1, day.year - 1):
        blocks, workdays = _days(year)
        name = name or blocks.get(day)
        work = work or day in workdays
    return name, work


@functools.lru_cache(maxsize=4096)
def day_kind(day: date) -> DayKind:
    name, work = _lookup(day)
    if name is not None:
        return DayKind.HOLIDAY
    if work and day.weekday() >= 5:
        return DayKind.MAKEUP
    return DayKind.ORDINARY


def holiday_name(day: date) -> str | None:
    """The holiday block's Chinese name (e.g. 国庆节), or None."""
    return _lookup(day)[0]
