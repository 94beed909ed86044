"""The plan's targets (规划目标) the assessment holds each area's statistics against (督导评估, issue #40 item 9):
a CSV file, configurable (CAREWATCH_TARGETS, contract/config.py), like the population file beside it
(contract/population.py). The one shipped (contract/data/plan-targets.csv) holds the national 十四五 target
of 4.5 places per 1,000 people, cited, and two example targets marked as such in their `source`.

Columns: `indicator` (one of INDICATORS), `target` (a number above 0; a share in %), `year` (by when),
`source` (required: the plan that sets it, e.g. 《忻州市“十四五”托育服务发展规划》; "示例（非官方数据）" for an
example). An indicator without a row has no target: it is shown, not weighed. A target nobody can cite is
never shown as official: the page carries each one's source beside it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from contract.errors import ContractError

# the statistics each area is held against, by name in both languages (the assessment computes them)
INDICATORS: dict[str, tuple[str, str]] = {
    "places_per_1000": ("每千人口拥有3岁以下婴幼儿托位数", "Childcare places for under-3s per 1,000 people"),
    "inclusive_share_pct": ("普惠性托位占比（%）", "Inclusive (普惠) share of places (%)"),
    "filed_pct": ("托育机构备案率（%）", "Facilities filed (备案率, %)"),
}
EXAMPLE_MARK = "示例"
SOURCE_MAX = 200


@dataclass(frozen=True, slots=True)
class Target:
    indicator: str
    target: float
    year: int | None
    source: str

    @property
    def example(self) -> bool:
        """An example figure, not a plan's (its source says 示例)."""
        return self.source.startswith(EXAMPLE_MARK)


def parse_targets(text: str) -> dict[str, Target]:
    """The targets of a CSV (UTF-8, a byte-order mark allowed) by indicator; ContractError saying which line is
    wrong and why."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if any(c not in (reader.fieldnames or []) for c in ("indicator", "target", "source")):
        raise ContractError("targets", "the targets file needs the columns indicator, target, year, source")
    out: dict[str, Target] = {}
    for line, row in enumerate(reader, start=2):
        key = (row.get("indicator") or "").strip()
        if key not in INDICATORS:
            raise ContractError("targets", f"line {line}: {key!r} is not one of {', '.join(INDICATORS)}")
        if key in out:
            raise ContractError("targets", f"line {line}: {key} is listed twice")
        raw = (row.get("target") or "").strip()
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not value > 0 or value == float("inf") or (key.endswith("_pct") and value > 100):
            raise ContractError("targets", f"line {line}: target must be a number above 0 (a share at most 100)")
        source = (row.get("source") or "").strip()
        if not source or len(source) > SOURCE_MAX:
            raise ContractError("targets", f"line {line}: every target names its source (at most {SOURCE_MAX})")
        year = (row.get("year") or "").strip()
        if year and not (year.isdigit() and len(year) == 4):
            raise ContractError("targets", f"line {line}: year must be four digits, not {year!r}")
        out[key] = Target(key, value, int(year) if year else None, source)
    return out


def load_targets(path: Path | None) -> dict[str, Target]:
    """The configured file, or the one shipped (the national target and examples marked as such) when None."""
    if path is None:
        text = resources.files("contract").joinpath("data/plan-targets.csv").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return parse_targets(text)
