"""Filings accepted before CareWatch (issue #39 item 1): a county's existing 备案 records, brought in once.

A facility filed with its county before CareWatch was deployed has its 备案 in the national filing system
(托育机构备案信息系统) or on paper; CareWatch would call it 未备案 on every page (the public page, the
statistics, the 督导评估's filing figures) until it filed again. An administrator imports those records
(`carewatch filing import FILE`): for each facility its 备案号, the day it was accepted, the department that
accepted it and where the record comes from. Each becomes an accepted initial filing whose particulars are
the registry as it stands (what the engine already judges by), marked as imported with its source; nothing
else changes.

Only the command line does it (the database's owner, as a registry load): no web route, so no facility can
give itself a 备案. A facility that has any filing in CareWatch already (accepted, under review, returned or
refused: CareWatch's own word stands) is not imported over; a number already given, a day after today or
before the filing rules existed, a file naming one facility twice: the whole file is refused, each line
with its reason, and nothing is imported.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import asyncpg

from storage import filing as store
from storage.registry import fetch_registry
from storage.users import audit
from supervision.filing import filed_part, filing_number

# 《托育机构登记和备案办法（试行）》 was issued on 2019-10-08: no 托育机构 备案 is older
FIRST_DAY = date(2019, 10, 8)
COLUMNS = ("facility_id", "filing_no", "accepted_on", "authority", "source")
NUMBER_MAX, AUTHORITY_MAX, SOURCE_MAX = 64, 100, 200
ZONE = ZoneInfo("Asia/Shanghai")
_OURS = re.compile(r"〔(\d{4})〕(\d{1,6})号$")


class ImportRefused(ValueError):
    """The file cannot be imported: every reason, each with its line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Imported:
    facility_id: str
    county: str
    filing_no: str
    accepted_on: date
    authority: str
    source: str
    # (year, number) when the 备案号 is in CareWatch's own form for the county: its sequence then moves past it
    sequence: tuple[int, int] | None


def parse(text: str) -> list[dict[str, str]]:
    """The file's rows (CSV, UTF-8, a header with COLUMNS; a BOM, as Excel and WPS write it, is fine)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ImportRefused([f"line 1: the header lacks {', '.join(missing)} (columns: {', '.join(COLUMNS)})"])
    return [{k: (v or "").strip() for k, v in row.items() if k in COLUMNS} for row in reader]


def check(
    rows: list[dict[str, str]],
    counties: Mapping[str, str],
    filed: Set[str],
    numbers: Set[str],
    today: date,
) -> list[Imported]:
    """The rows as imports, or ImportRefused with every problem. `counties`: each registered facility's
    county; `filed`: the facilities with a filing in CareWatch already; `numbers`: the 备案号 given already."""
    out, problems, seen_f, seen_n = [], [], set(), set()
    for n, row in enumerate(rows, start=2):
        fid, number = row["facility_id"], row["filing_no"]
        authority, source = row["authority"], row["source"]
        why = []
        if fid not in counties:
            why.append(f"no registered facility {fid[:40]!r}")
        elif fid in filed:
            why.append(f"{fid} has a filing in CareWatch already")
        elif fid in seen_f:
            why.append(f"{fid} is named twice")
        if not 0 < len(number) <= NUMBER_MAX:
            why.append(f"a 备案号 of 1 to {NUMBER_MAX} characters")
        elif number in numbers or number in seen_n:
            why.append(f"备案号 {number} is given already")
        try:
            day = date.fromisoformat(row["accepted_on"])
        except ValueError:
            day = None
            why.append("accepted_on is a date (YYYY-MM-DD)")
        if day is not None and not FIRST_DAY <= day <= today:
            why.append(f"accepted_on between {FIRST_DAY} and today ({today})")
        if not 0 < len(authority) <= AUTHORITY_MAX:
            why.append(f"the accepting department (authority), 1 to {AUTHORITY_MAX} characters")
        if not 0 < len(source) <= SOURCE_MAX:
            why.append(f"where the record comes from (source), 1 to {SOURCE_MAX} characters")
        seen_f.add(fid)
        seen_n.add(number)
        if why:
            problems.append(f"line {n}: " + "; ".join(why))
            continue
        assert day is not None  # noqa: S101 - no problem means a day
        county = counties[fid]
        out.append(Imported(fid, county, number, day, authority, source, _sequence(number, county)))
    if problems:
        raise ImportRefused(problems)
    return out


def _sequence(number: str, county: str) -> tuple[int, int] | None:
    m = _OURS.search(number)
    if m is None:
        return None
    year, seq = int(m.group(1)), int(m.group(2))
    return (year, seq) if seq > 0 and filing_number(county, year, seq) == number else None


async def import_file(conn: asyncpg.Connection, text: str, actor: str, now: datetime) -> list[Imported]:
    """Import the file's records in one transaction (all or none): each an accepted initial filing whose
    particulars are the facility's registry entry as it stands, audited as `filing.import` by `actor` at
    `now`. ImportRefused with every problem, and nothing imported, when any line is wrong."""
    rows = parse(text)
    async with conn.transaction():
        counties = await store.counties(conn)
        filed, numbers = await store.with_filings(conn)
        imports = check(rows, counties, filed, numbers, now.astimezone(ZONE).date())
        registry = {f.id: f for f in (await fetch_registry(conn, [i.facility_id for i in imports])).facilities}
        for i in imports:
            at = datetime.combine(i.accepted_on, time(0), ZONE)  # the day is known, not the hour
            particulars = filed_part(registry[i.facility_id])
            await store.import_accepted(
                conn, i.facility_id, i.county, particulars, i.filing_no, at, i.authority, i.source, actor, i.sequence
            )
            facts: dict[str, object] = {"number": i.filing_no, "accepted_on": i.accepted_on.isoformat()}
            facts["source"] = i.source
            await audit(conn, actor, "filing.import", i.facility_id, facts, at=now)
    return imports
