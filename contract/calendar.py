"""China's statutory holidays and make-up working days (调休), for opening hours (CONTRACT §3).

From the `holidays` library (PyPI, released monthly): the State Council publishes each next year's
arrangement in November or December, and a `holidays` release carries it a few weeks later, so
`pip install -U holidays` (or a new CareWatch release) brings the next year. A year the library
does not yet know still has its fixed and lunar holidays, only without the make-up working days.
"""

from __future__ import annotations

import functools
from datetime import date
from enum import StrEnum

import holidays


class DayKind(StrEnum):
    ORDINARY = "ordinary"  # the weekday decides
    HOLIDAY = "holiday"  # a statutory day off (法定节假日 and the days joined to it)
    MAKEUP = "makeup"  # a weekend day that is a working day (调休上班)


@functools.lru_cache(maxsize=8)
def _year(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("CN", years=year, language="zh_CN")


@functools.lru_cache(maxsize=4096)
def day_kind(day: date) -> DayKind:
    cn = _year(day.year)
    if day.weekday() >= 5 and day in cn.weekend_workdays:
        return DayKind.MAKEUP
    if day in cn:
        return DayKind.HOLIDAY
    return DayKind.ORDINARY


def holiday_name(day: date) -> str | None:
    """The holiday's Chinese name (e.g. 国庆节), or None."""
    name = _year(day.year).get(day)
    return str(name) if name else None
