"""双随机一公开: the random draw of facilities and inspectors, algorithm `cw-draw-1` (issue #40 item 5).

Pure functions of the published inputs: anyone holding a draw's public record (its inputs, its sequence
number, its time, the previous draw's seed) re-runs it here, or in any language from docs/contract.md,
and gets the same facilities and the same two inspectors each. Nothing here reads a clock, a database
or the process's random state.

The seed is not chosen by anyone: it is SHA-256 of the algorithm's name, the county, the draw's sequence
number in that county, the draw's time (the server's clock at the moment of the draw, to the
microsecond), the SHA-256 of the published inputs and the previous draw's seed in the county. So the
lists are fixed (their hash) before the seed exists, and an inspector who does not like a result can only
draw again, which is another numbered, published and audited draw (with its reason), never a silent one.

Random numbers come from SHA-256 in counter mode (block i = SHA-256(seed bytes ‖ i as 8 bytes big-endian),
each block read as four unsigned 64-bit big-endian integers), and a number below n by rejection
sampling, rather than from Python's `random`, so that a third party needs no Mersenne Twister to check.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from contract.errors import DomainError

ALGORITHM = "cw-draw-1"
INSPECTORS_PER_FACILITY = 2
MAX_COUNT = 200  # facilities in one draw: a county's quarter is tens, never hundreds
_U64 = 1 << 64


class DrawError(DomainError):
    """The draw cannot be made from these inputs (too many facilities asked for, too few inspectors)."""

    def __init__(self, reason: str, key: str, **args: object) -> None:
        super().__init__(reason)
        self.key = key
        self.args_ = args


@dataclass(frozen=True, slots=True)
class Inputs:
    """The published lists of a county: facilities as (id, township), inspectors as (username, township
    or "" for a county-level account). Kept in canonical order (sorted) whatever order they came in."""

    county: str
    facilities: tuple[tuple[str, str], ...]
    inspectors: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, county: str, facilities: Sequence[Sequence[str]], inspectors: Sequence[Sequence[str]]) -> Inputs:
        return cls(
            county,
            tuple(sorted((str(a), str(b)) for a, b in facilities)),
            tuple(sorted((str(a), str(b or "")) for a, b in inspectors)),
        )

    def canonical(self) -> dict[str, Any]:
        return {
            "algorithm": ALGORITHM,
            "county": self.county,
            "facilities": [list(f) for f in self.facilities],
            "inspectors": [list(i) for i in self.inspectors],
        }

    @classmethod
    def from_canonical(cls, raw: Mapping[str, Any]) -> Inputs:
        return cls.of(str(raw["county"]), raw["facilities"], raw["inspectors"])


def canonical_bytes(inputs: Inputs) -> bytes:
    """The inputs as hashed: JSON with sorted keys, no spaces, UTF-8 (Chinese not escaped)."""
    return json.dumps(inputs.canonical(), ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def inputs_sha256(inputs: Inputs) -> str:
    return hashlib.sha256(canonical_bytes(inputs)).hexdigest()


def stamp(t: datetime) -> str:
    """A draw's time as it enters the seed: UTC, `YYYY-MM-DDTHH:MM:SS.ffffffZ`."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def seed_of(county: str, seq: int, drawn_at: datetime, digest: str, previous_seed: str | None) -> str:
    """SHA-256 (hex) of `cw-draw-1|county|seq|time|inputs' SHA-256|previous seed or "-"`."""
    text = f"{ALGORITHM}|{county}|{seq}|{stamp(drawn_at)}|{digest}|{previous_seed or '-'}"
    return hashlib.sha256(text.encode()).hexdigest()


class Stream:
    """Unsigned 64-bit numbers from SHA-256 in counter mode over the seed's 32 bytes."""

    def __init__(self, seed: str) -> None:
        self._seed = bytes.fromhex(seed)
        self._words = self._gen()

    def _gen(self) -> Iterator[int]:
        counter = 0
        while True:
            block = hashlib.sha256(self._seed + counter.to_bytes(8, "big")).digest()
            for k in range(0, 32, 8):
                yield int.from_bytes(block[k : k + 8], "big")
            counter += 1

    def below(self, n: int) -> int:
        """Uniform in [0, n): a word is refused while it is at or above the largest multiple of n."""
        if n <= 0:
            raise ValueError("n must be positive")
        limit = _U64 - _U64 % n
        while True:
            u = next(self._words)
            if u < limit:
                return u % n


@dataclass(frozen=True, slots=True)
class Pick:
    facility_id: str
    inspectors: tuple[str, str]


def barred(facility_township: str, inspector_township: str) -> bool:
    """An inspector is never drawn for a facility of the township they are scoped to (they supervise it
    day to day: the draw is to bring someone else's eyes). County-level accounts are barred from none."""
    return inspector_township == facility_township


def draw(inputs: Inputs, count: int, seed: str) -> tuple[Pick, ...]:
    """`count` facilities by a partial Fisher–Yates shuffle of the sorted facility list (for i = 0..count-1:
    j = i + below(len - i), swap i and j; the first `count` in that order), then for each of them, in that
    order, two inspectors: of the sorted inspectors not barred for it, a = eligible[below(len)], removed,
    then b = eligible[below(len - 1)]. One stream for the whole draw, in exactly that order."""
    if not 1 <= count <= min(MAX_COUNT, len(inputs.facilities)):
        raise DrawError(
            f"the count must be from 1 to {min(MAX_COUNT, len(inputs.facilities))} (the facilities listed)",
            "err_draw_count",
            n=min(MAX_COUNT, len(inputs.facilities)),
        )
    stream = Stream(seed)
    facilities = list(inputs.facilities)
    for i in range(count):
        j = i + stream.below(len(facilities) - i)
        facilities[i], facilities[j] = facilities[j], facilities[i]
    picks = []
    for facility_id, township in facilities[:count]:
        eligible = [u for u, t in inputs.inspectors if not barred(township, t)]
        if len(eligible) < INSPECTORS_PER_FACILITY:
            raise DrawError(f"fewer than two available inspectors may inspect {facility_id}", "err_draw_inspectors")
        a = eligible.pop(stream.below(len(eligible)))
        b = eligible[stream.below(len(eligible))]
        picks.append(Pick(facility_id, (a, b)))
    return tuple(picks)


def picks_json(picks: Sequence[Pick]) -> list[dict[str, Any]]:
    return [{"facility_id": p.facility_id, "inspectors": list(p.inspectors)} for p in picks]


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    problems: tuple[str, ...]


def verify(record: Mapping[str, Any]) -> Verdict:
    """Re-run a draw from its public record (storage.draws.public_record's `county`, `seq`, `drawn_at`
    (ISO 8601), `previous_seed`, `inputs`, `inputs_sha256`, `seed`, `count`, `picks`) and say what, if
    anything, does not match."""
    problems = []
    try:
        inputs = Inputs.from_canonical(record["inputs"])
        drawn_at = datetime.fromisoformat(str(record["drawn_at"]).replace("Z", "+00:00"))
        digest = inputs_sha256(inputs)
        if digest != record["inputs_sha256"]:
            problems.append("the published inputs do not hash to the recorded inputs_sha256")
        if inputs.county != record["county"]:
            problems.append("the inputs are of another county")
        seed = seed_of(record["county"], int(record["seq"]), drawn_at, digest, record.get("previous_seed"))
        if seed != record["seed"]:
            problems.append("the seed is not the one derived from the draw's number, time and inputs")
        again = picks_json(draw(inputs, int(record["count"]), seed))
        recorded = [{"facility_id": p["facility_id"], "inspectors": list(p["inspectors"])} for p in record["picks"]]
        if again != recorded:
            problems.append("re-run, the draw picks other facilities or inspectors than recorded")
    except (KeyError, TypeError, ValueError) as err:
        problems.append(f"the record is incomplete or malformed: {err}")
    except DrawError as err:
        problems.append(f"the draw cannot be re-run from its inputs: {err}")
    return Verdict(not problems, tuple(problems))
