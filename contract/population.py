"""Each area's population for the statistics (信息统计监测, issue #40 item 8): the denominators of 托位 per
1,000 people and of 托育率. A CSV file, configurable (CAREWATCH_POPULATION, contract/config.py); the one
shipped (contract/data/xinzhou-population.csv) holds example figures and says so in its `source` column.

Columns: `code` (the city 140900, a county's 6 digits or a township's 9), `name`, `population` (常住人口),
`population_2_3` (children aged 2 to 3, optional: without it 托育率 is unknown), `year`, `source` (required:
where the figure comes from, e.g. 忻州市第七次全国人口普查公报; "示例（非官方数据）" for an example). A figure
nobody can cite is never shown as official: the page and the CSV carry each area's source beside it.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from contract.errors import ContractError

CITY_CODE = "140900"  # 忻州市
_CODE = re.compile(r"^1409([0-9]{2}|[0-9]{5})$")
_COLUMNS = ("code", "name", "population", "population_2_3", "year", "source")
SOURCE_MAX = 200


@dataclass(frozen=True, slots=True)
class AreaPopulation:
    code: str
    name: str
    population: int | None  # people living in the area (常住人口)
    age_2_3: int | None  # children aged 2 to 3 (the 托育率's denominator); None: not known
    year: int | None
    source: str


def _count(raw: str, what: str, line: int) -> int | None:
    v = raw.strip().replace(",", "")
    if not v:
        return None
    if not v.isdigit() or int(v) <= 0:
        raise ContractError("population", f"line {line}: {what} must be a whole number above 0, not {raw!r}")
    return int(v)


def parse_population(text: str) -> dict[str, AreaPopulation]:
    """The areas of a population CSV (UTF-8, a byte-order mark allowed) by code; ContractError saying which
    line is wrong and why."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in ("code", "population", "source") if c not in (reader.fieldnames or [])]
    if missing:
        raise ContractError("population", f"the population file needs the columns {', '.join(_COLUMNS)}")
    out: dict[str, AreaPopulation] = {}
    for line, row in enumerate(reader, start=2):
        code = (row.get("code") or "").strip()
        if not _CODE.fullmatch(code):
            raise ContractError(
                "population", f"line {line}: {code!r} is not Xinzhou's, a county's or a township's code"
            )
        if code in out:
            raise ContractError("population", f"line {line}: area {code} is listed twice")
        source = (row.get("source") or "").strip()
        if not source or len(source) > SOURCE_MAX:
            raise ContractError("population", f"line {line}: every figure names its source (at most {SOURCE_MAX})")
        year = _count(row.get("year") or "", "year", line)
        out[code] = AreaPopulation(
            code=code,
            name=(row.get("name") or "").strip(),
            population=_count(row.get("population") or "", "population", line),
            age_2_3=_count(row.get("population_2_3") or "", "population_2_3", line),
            year=year,
            source=source,
        )
    return out


def load_population(path: Path | None) -> dict[str, AreaPopulation]:
    """The configured file, or the one shipped (example figures, marked as such) when None."""
    if path is None:
        text = resources.files("contract").joinpath("data/xinzhou-population.csv").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return parse_population(text)
