"""The adults a counting camera sees in a child area, as a second source of the carers' presence
(CONTRACT §4 ratio_breach; issue #37, carers who stay badged in while away from the children).

Cameras over child rooms commonly run on-camera people counting in a zone with a height filter (children
filtered out) and leave-post detection (人员离岗检测). A camera the registry declares `counts_adults`
reports the adults in its view as the telemetry metric `adults_count`. While every child area of the
facility is watched by a counting camera that has reported within the rule's `count_window_s`, the carers
counted toward the ratio are at most the adults those cameras see; otherwise the badges alone decide, as
before.

Counting is noisy: a carer hidden behind a shelf for seconds, one sample off by one, a parent at drop-off
counted as an adult. A camera's count is the upper median of its samples over the window: a dip of seconds
or a lone low sample changes nothing, and the rule's `for` window (10 minutes) stands above that. An adult
who is not a carer (a parent, the cook, a visitor) counted by the camera can only hide a lapse, never
raise one: the safe direction. A carer in a child area is counted wherever she is, so carers of one room
helping in another are not a lapse (the rule stays facility-wide, as with badges).
"""

from __future__ import annotations

import math
from bisect import bisect_right, insort
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alerts.view import FacilityView

COUNT_KEEP = timedelta(minutes=15)  # samples kept per camera, behind its newest (the window is shorter)
# a count is judged from at least this many samples in the window (a camera reports every 30 s or on change):
# one or two, just after a start or a return, are no median
MIN_SAMPLES = 3


def sample(samples: list[tuple[datetime, float]], at: datetime, count: float) -> None:
    """Keep one count, in time order (a gateway's spool may replay older ones late)."""
    insort(samples, (at, count))
    cut = samples[-1][0] - COUNT_KEEP
    while samples and samples[0][0] < cut:
        samples.pop(0)


def _upper_median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def adults_seen(rt: FacilityView, clock: datetime) -> int | None:
    """Adults the counting cameras see in the facility's child areas at `clock` (event time), the sum over
    the areas of the highest of an area's cameras; None when some child area has no counting camera that
    reported MIN_SAMPLES times in the window before `clock` (not counted, or silent: the badges alone decide)."""
    if not rt.child_rooms:
        return None
    window = timedelta(seconds=rt.rules["ratio_breach"].thresholds.get("count_window_s", 180))
    total = 0.0
    lo, hi = (clock - window, math.inf), (clock, math.inf)  # samples are in time order: (lo, hi] by bisection
    for cameras in rt.child_rooms.values():
        seen: float | None = None
        for cam in cameras:
            d = rt.devices[cam]
            if not d.counts:
                continue
            recent = [n for _, n in d.adults[bisect_right(d.adults, lo) : bisect_right(d.adults, hi)]]
            if len(recent) >= MIN_SAMPLES:
                here = _upper_median(recent)
                seen = here if seen is None else max(seen, here)
        if seen is None:
            return None
        total += max(0.0, seen)
    return int(total)
