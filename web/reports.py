"""Reports per facility for a day or a month: alerts by rule, time to acknowledge, device availability,
minutes without a guard, minutes below ratio, and a facility score (for 诚信评价, credit evaluation).

The figures only: a facility's grade is the credit evaluation's (contract/credit.py, /credit), which
replaced the score this report used to compute (100 minus points per alert opened: it hit 0 for a busy
month, charged a long condition once and rewarded a facility that went dark).

CSV for people: UTF-8 with a byte-order mark and the catalogue's headers (Chinese unless `lang=en`),
counties and townships by name, so that it opens cleanly in Excel and WPS.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from contract.labels import label
from contract.places import county_name_zh
from storage import reports as report_store
from storage.credit import CITY_TZ, month_bounds
from storage.users import Scope
from web.i18n import township_name

COLUMNS = [
    "facility_id",
    "name",
    "county",
    "township",
    "alerts",
    "critical",
    "major",
    "minor",
    "warning",
    "mean_ack_minutes",
    "device_availability_pct",
    "minutes_without_guard",
    "minutes_below_ratio",
]


def period_bounds(period: str, day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day if period == "day" else day.replace(day=1), datetime.min.time(), CITY_TZ)
    if period == "day":
        return start, start + timedelta(days=1)
    return month_bounds(day)


async def facility_report(
    conn: asyncpg.Connection,
    scope: Scope,
    start: datetime,
    end: datetime,
    county: str | None = None,
    township: str | None = None,
    *,
    now: datetime,
) -> list[dict[str, Any]]:
    rows = await report_store.alert_totals(conn, scope, start, end, county, township, now=now)
    minutes = (min(end, now) - start).total_seconds() / 60
    out = []
    for r in rows:
        device_minutes = max(1.0, r["devices"] * max(minutes, 1.0))
        row = {
            "facility_id": r["id"],
            "name": r["name"],
            "county": r["county"],
            "township": r["township"],
            "alerts": r["alerts"],
            "critical": r["critical"],
            "major": r["major"],
            "minor": r["minor"],
            "warning": r["warning"],
            "mean_ack_minutes": round(float(r["mean_ack_minutes"]), 1) if r["mean_ack_minutes"] is not None else None,
            "device_availability_pct": round(max(0.0, 100.0 * (1 - float(r["offline_minutes"]) / device_minutes)), 2),
            "minutes_without_guard": round(float(r["minutes_without_guard"]), 1),
            "minutes_below_ratio": round(float(r["minutes_below_ratio"]), 1),
        }
        out.append(row)
    return out


# A cell a spreadsheet would read as a formula (=HYPERLINK(...), +, -, @, or behind a tab or CR): OWASP's
# "CSV injection". Such text gets a leading apostrophe, which Excel and WPS show as text and do not run.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """A value for a CSV cell: None as empty, numbers as they are, text never as a formula."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(rows: list[dict[str, Any]], lang: str = "zh", county_en: dict[str, str] | None = None) -> str:
    buf = io.StringIO()
    buf.write("\ufeff")  # Excel and WPS read a UTF-8 file as UTF-8 only with the mark
    w = csv.writer(buf)
    w.writerow([cell(label("report_column", c, lang)) for c in COLUMNS])
    for r in rows:
        named = dict(r)
        named["county"] = (
            (county_en or {}).get(r["county"], r["county"]) if lang == "en" else county_name_zh(r["county"])
        )
        named["township"] = township_name(r["township"], lang)
        w.writerow([cell(named.get(c)) for c in COLUMNS])
    return buf.getvalue()


def assessment_csv(rows: list[dict[str, Any]], by: str, lang: str, county_en: dict[str, str]) -> str:
    """The annual assessment for Excel and WPS: BOM, the catalogue's headers, areas by name."""
    from supervision.assessment import COLUMNS as ASSESSMENT

    buf = io.StringIO()
    buf.write("\ufeff")
    w = csv.writer(buf)
    w.writerow([cell(label("assessment_column", c, lang)) for c in ASSESSMENT])
    for r in rows:
        code = r["area"]
        if by == "county":
            name = county_en.get(code, code) if lang == "en" else county_name_zh(code)
        else:
            name = township_name(code, lang)
        w.writerow([cell(name if c == "area" else r.get(c)) for c in ASSESSMENT])
    return buf.getvalue()
