"""A facility's month measured for the credit method (contract/credit.py): a pure function of what
storage gathered (storage/credit.py holds the SQL), so `carewatch bench gaming` measures a simulated
month with exactly the code that grades a real one.

Lapse minutes come from the engine's lapse intervals, clipped to the month (the open-time classes to
opening hours). Silence is measured per UTC hour from which devices were heard in it (ingest's
device_activity): for each class, the share of its watching devices not heard is charged on that hour's
minutes of the class's base, in proportion to the part of the hour in which the platform itself was
listening (an outage of the platform's intake is nobody's silence), less the minutes of that class's
lapses recorded in the same hour (a lapse and the silence over it are not charged twice).

A counting camera's count (a signal watcher) is judged by how much of the hour it counted, not by whether
it counted at all (issue #37: a count switched on for a few minutes an hour hid carers away the rest of
it). The contract has it send its count every COUNT_EVERY_S seconds at least (CONTRACT §2 `adults_count`),
so an hour expects one sample per COUNT_EVERY_S of the class's base in it (the open minutes, for the
ratio) in which the platform listened. An hour with at least COUNTED_SHARE of them is counted whole (a
lost sample or two, a camera's restart: noise); below it, the whole missing share of the hour is charged
(a count kept a quarter of the hour is silent three quarters of it), never less than its offline alerts.
The tolerance is kept under the ratio rule's `for` window (10 min): what counting may drop an hour free of
charge (6 minutes) is shorter than any absence the rule would have raised. What is judged is the number of
the hour's SLOT_S slots (a minute: two counts' worth) a count came in (counted_slots, migration 042), not
the number of counts: a camera made to send its 120 counts in a burst of a few minutes covers a few slots,
and the rest of the hour is charged (method 2026-12d; before it, the number of samples, which such a burst
passed). A slot is two periods long so that an honest camera covers every one: counts every 30 s with any
jitter under 15 s put one in each minute, where 30-s slots would lose up to a quarter of them to a camera
whose counts fall about a slot's edge.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from contract.credit import CLASSES, WATCHED_BY, WATCHED_BY_SIGNAL, CreditConfig, Facts
from contract.registry import DeviceType, OpeningHours
from contract.rules import DEFAULTS, offline_after_s, silent_after_s

Span = tuple[datetime, datetime]
HOUR = timedelta(hours=1)
# pieces of a lapse closer than this are one episode (a guard back for a minute between absences)
SPLIT_GAP = timedelta(minutes=5)
# a counting camera sends its count at least this often (CONTRACT §2 `adults_count`, §4 Counting cameras)
COUNT_EVERY_S = 30
COUNT_METRIC = "adults_count"
# An hour's counting is measured in the slots it covered, not in samples: a camera switched on five minutes
# an hour and sending a count every second sent an hour's samples but covered five slots of 60 (issue #37,
# the burst gap). storage.retention keeps the slots per hour (counted_slots, migration 042). Two periods
# long, so that counts on time, with any jitter under half a period, cover every slot (module doc).
SLOT_S = 2 * COUNT_EVERY_S
SLOTS_PER_HOUR = 3600 // SLOT_S
# the share of an hour's expected counts that counts the hour whole; below it, the missing share is charged
COUNTED_SHARE = 0.9


@dataclass(frozen=True, slots=True)
class WatchDevice:
    """A device that watches classes by its type; or, with `signal`, a device's declared signal (its id is
    then `signal_id(device, signal)`, heard in the hours the signal was: contract.credit.WATCHED_BY_SIGNAL)."""

    id: str
    type: DeviceType
    heartbeat_s: int = 60
    signal: str | None = None

    @property
    def hours_heard(self) -> int:
        """How many hours back a report still vouches for the device: one for anything that reports at
        least hourly, more for a device that speaks every few hours (half a period again of slack)."""
        return max(1, math.ceil(1.5 * self.heartbeat_s / 3600))


def signal_id(device_id: str, signal: str) -> str:
    """The watcher of a device's signal (never a device id: those have no '#')."""
    return f"{device_id}#{signal}"


def _base(watcher_id: str) -> str:
    return watcher_id.split("#", 1)[0]


@dataclass(slots=True)
class Month:
    """One facility's raw month, as storage (or a simulation) gathered it."""

    period: Span  # the month, from the facility's registration, up to now
    tz: ZoneInfo
    hours: OpeningHours
    devices: list[WatchDevice]
    heard: Mapping[datetime, set[str]]  # UTC hour -> ids of the devices heard in it
    lapses: list[tuple[str, Span]] = field(default_factory=list)
    offline: list[tuple[str, Span]] = field(default_factory=list)  # (device, span): device_offline alerts
    patrol_gaps: list[Span] = field(default_factory=list)  # patrol_missed alerts: no scan for interval_s
    # required watching devices not registered at all, per class (contract.registry.watch_gaps)
    gaps: Mapping[str, int] = field(default_factory=dict)
    windows: list[Span] = field(default_factory=list)  # maintenance windows: shown, excusing nothing
    listening: Callable[[datetime], float] = lambda _h: 1.0  # share of the hour the platform listened
    acks: tuple[int, int, int] = (0, 0, 0)  # alerts to answer, acknowledged late, never
    orders: tuple[int, int] = (0, 0)  # due, late
    inspected: tuple[int, int] = (0, 0)  # signed inspections, failed items
    # (signal watcher id, UTC hour) -> the samples of the signal stored in the hour (none: 0)
    samples: Mapping[tuple[str, datetime], int] = field(default_factory=dict)


# The lapse rules the engine judges on a day's hours *in fact* (alerts.people.hours_in_fact): on a day the
# calendar closes (a holiday, a 停课, the facility's own approved closure) they are raised only when children
# were badged in, so such a lapse is charged for its whole span (method 2026-12e; before, a facility that
# opened on its closure day with no guard was charged nothing for it, the calendar saying closed).
OPEN_IN_FACT = frozenset({"guard_absent", "ratio_breach"})


def overlap(a: Span, b: Span) -> float:
    return max(0.0, (min(a[1], b[1]) - max(a[0], b[0])).total_seconds() / 60)


def open_spans(hours: OpeningHours, tz: ZoneInfo, period: Span) -> list[Span]:
    out = []
    day = period[0].astimezone(tz).date() - timedelta(days=1)
    last = period[1].astimezone(tz).date()
    while day <= last:
        h = hours.hours_on(day)
        if h is not None:
            out.append((datetime.combine(day, h[0], tz), datetime.combine(day, h[1], tz)))
        day += timedelta(days=1)
    return out


def minutes_in(spans: Iterable[Span], window: Span) -> float:
    return sum(overlap(s, window) for s in spans)


def open_by_hour(opens: Iterable[Span]) -> dict[datetime, float]:
    """minutes_in(opens, (h, h + HOUR)) for every UTC hour h that has open minutes (others: none), the
    month's spans visited once instead of once per hour (it was most of the credit method's time)."""
    out: dict[datetime, float] = defaultdict(float)
    for span in opens:
        h = span[0].astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        while h < span[1]:
            out[h] += overlap(span, (h, h + HOUR))
            h += HOUR
    return out


def _hours(period: Span) -> list[datetime]:
    """The whole UTC hours of the period."""
    first = period[0].replace(minute=0, second=0, microsecond=0)
    if first < period[0]:
        first += HOUR
    out, h = [], first
    while h + HOUR <= period[1]:
        out.append(h)
        h += HOUR
    return out


def split_episodes(lapses: list[tuple[str, Span]]) -> int:
    """Lapses broken into pieces too short to alert: pieces of one class less than SPLIT_GAP apart are
    one episode, and an episode that lasted its rule's `for` window while none of its pieces did would
    have been an alert. Each counts as an alert nobody answered (contract/credit.py)."""
    by_rule: dict[str, list[Span]] = defaultdict(list)
    for rule, span in lapses:
        by_rule[rule].append(span)
    n = 0
    for rule, spans in by_rule.items():
        need = timedelta(seconds=DEFAULTS[rule].for_s) if rule in DEFAULTS else timedelta(0)
        if need <= timedelta(0):
            continue
        episodes: list[list[Span]] = []
        for span in sorted(spans):
            if episodes and span[0] - max(e[1] for e in episodes[-1]) <= SPLIT_GAP:
                episodes[-1].append(span)
            else:
                episodes.append([span])
        for ep in episodes:
            long_enough = max(e[1] for e in ep) - ep[0][0] >= need
            n += long_enough and all(e[1] - e[0] < need for e in ep)
    return n


def bridged(lapses: list[tuple[str, Span]]) -> list[tuple[str, Span]]:
    """The lapses with the short returns between pieces of one class counted as lapse too: a guard back
    for a minute between two absences was not there to guard (a gap of at most SPLIT_GAP)."""
    by_rule: dict[str, list[Span]] = defaultdict(list)
    for rule, span in lapses:
        by_rule[rule].append(span)
    out = list(lapses)
    for rule, spans in by_rule.items():
        reach: datetime | None = None
        for a, b in sorted(spans):
            if reach is not None and timedelta(0) < a - reach <= SPLIT_GAP:
                out.append((rule, (reach, a)))
            reach = b if reach is None else max(reach, b)
    return out


def with_patrol_gaps(lapses: list[tuple[str, Span]], gaps: list[Span]) -> list[tuple[str, Span]]:
    """A guard who stays badged in but does not patrol is not guarding: the time since the last patrol
    scan, once the patrol rule says it is overdue (its alert opens `interval_s` after the last scan),
    counts towards guard_absent, in one union with the guard's badged absences (never twice)."""
    if not gaps:
        return lapses
    interval = timedelta(seconds=DEFAULTS["patrol_missed"].thresholds["interval_s"])
    spans = sorted([s for r, s in lapses if r == "guard_absent"] + [(a - interval, b) for a, b in gaps])
    union: list[Span] = []
    for a, b in spans:
        if union and a <= union[-1][1]:
            union[-1] = (union[-1][0], max(union[-1][1], b))
        else:
            union.append((a, b))
    return [(r, s) for r, s in lapses if r != "guard_absent"] + [("guard_absent", s) for s in union]


def unalerted_absences(lapses: list[tuple[str, Span]], gaps: list[Span]) -> int:
    """A guard's absences known only from a patrol gap (badged in, not patrolling: with_patrol_gaps), with no
    guard_absent lapse recorded over them: the major alert of an absence never opened, so nobody could
    answer it. Each counts as an alert left unanswered, as a split lapse does (the guard's part of the
    carers and guards who stay badged in while away, issue #37: counted as minutes only, it still spared
    the facility the answer an honest badge-out calls for)."""
    interval = timedelta(seconds=DEFAULTS["patrol_missed"].thresholds["interval_s"])
    guard = [s for r, s in lapses if r == "guard_absent"]
    return sum(1 for a, b in gaps if not any(overlap(s, (a - interval, b)) > 0 for s in guard))


def _lapses(m: Month, opens: list[Span]) -> tuple[dict[str, float], dict[tuple[str, datetime], float]]:
    """Lapse minutes per class, in total and per UTC hour (to net the silence over them)."""
    own = m.period
    total: dict[str, float] = defaultdict(float)
    hourly: dict[tuple[str, datetime], float] = defaultdict(float)
    open_days = {s[0].astimezone(m.tz).date() for s in opens}
    for rule, span in bridged(with_patrol_gaps(m.lapses, m.patrol_gaps)):
        base = CLASSES.get(rule, ("all", 0.0))[0]
        piece = (max(span[0], own[0]), min(span[1], own[1]))
        if piece[1] <= piece[0]:
            continue
        h = piece[0].replace(minute=0, second=0, microsecond=0)
        while h < piece[1]:
            part = (max(h, piece[0]), min(h + HOUR, piece[1]))
            if base == "open" and rule in OPEN_IN_FACT and part[0].astimezone(m.tz).date() not in open_days:
                minutes = overlap(part, own)  # a closed day with children brought in: open in fact
            elif base == "open":
                minutes = minutes_in(opens, part)
            else:
                minutes = overlap(part, own)
            total[rule] += minutes
            hourly[rule, h] += minutes
            h += HOUR
    return dict(total), hourly


@dataclass(slots=True)
class _Silence:
    minutes: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    by_day: dict[tuple[str, object], float] = field(default_factory=lambda: defaultdict(float))
    dark: float = 0.0
    dark_open: float = 0.0
    device_hours: int = 0  # device-hours heard of the devices outside every class (the rest are charged as silence)
    lit_hours: int = 0  # hours in which anything was heard


def shown_silent(d: WatchDevice) -> timedelta:
    """How long before its device_offline alert a device of this kind is shown silent (CONTRACT §4): the
    part of its silence that a slow device's longer threshold (issue #42) leaves unalerted, charged all the
    same once the alert confirms the silence, so that the longer threshold hides nothing that was charged
    before it."""
    return timedelta(
        seconds=offline_after_s(DEFAULTS, d.type, d.heartbeat_s) - silent_after_s(DEFAULTS, d.type, d.heartbeat_s)
    )


def _offline_by_hour(m: Month, watched: set[str]) -> dict[tuple[str, datetime], list[Span]]:
    """The engine's judgement of a device's silence inside the hours it was heard in (its device_offline
    alerts, from when it was shown silent before them to when they cleared), per device and UTC hour: the
    hourly bits alone would miss a door switched off for 35 minutes."""
    out: dict[tuple[str, datetime], list[Span]] = defaultdict(list)
    kinds = {d.id: d for d in m.devices}
    # a device offline sends none of its signals either
    twins: dict[str, list[str]] = defaultdict(list)
    for d in m.devices:
        twins[_base(d.id)].append(d.id)
    for device, span in m.offline:
        for watcher in twins.get(device, []):
            if watcher not in watched:
                continue
            d = kinds[watcher]
            a, b = max(span[0] - shown_silent(d), m.period[0]), min(span[1], m.period[1])
            h = a.replace(minute=0, second=0, microsecond=0)
            while h < b:
                out[watcher, h].append((max(a, h), min(b, h + HOUR)))
                h += HOUR
    return out


def uncounted_share(samples: int, minutes: float, listened: float) -> float:
    """The share of `minutes` (a class's base in one hour) that a counting signal which covered `samples`
    of the hour's SLOT_S slots did not count: none with at least COUNTED_SHARE of the slots expected
    (one every SLOT_S of the minutes, while the platform listened), else all that is missing
    (module doc)."""
    expected = minutes * listened * 60.0 / SLOT_S
    if expected <= 0:
        return 0.0
    share = min(1.0, samples / expected)
    return 0.0 if share >= COUNTED_SHARE else 1.0 - share


def _hour_shares(
    span: Span,
    present: set[str],
    offline: Mapping[tuple[str, datetime], list[Span]],
    watchers: Mapping[str, list[WatchDevice]],
    signals: Mapping[str, list[WatchDevice]],
    gaps: Mapping[str, int],
    opens: list[Span],
    own: Span,
    samples: Mapping[tuple[str, datetime], int],
    listened: float,
) -> dict[str, tuple[float, float]]:
    """Per class, its devices' mean silent minutes in the hour: (on the class's base, while open). A
    device not heard (nor vouched for) is silent all hour; one heard is silent for its offline alerts; a
    required device never registered (gaps) is silent all the time; a counting signal heard is silent for
    the share of the hour it did not count (uncounted_share), if more."""
    open_minutes, all_minutes = minutes_in(opens, span), overlap(span, own)

    def silent_of(d: WatchDevice, base: str) -> tuple[float, float]:
        if d.id not in present:
            return (open_minutes if base == "open" else all_minutes), open_minutes
        pieces = offline.get((d.id, span[0]), [])
        opened = sum(minutes_in(opens, piece) for piece in pieces)
        on_base = opened if base == "open" else sum(overlap(piece, own) for piece in pieces)
        if d.signal is not None:
            n = samples.get((d.id, span[0]), 0)
            base_minutes = open_minutes if base == "open" else all_minutes
            on_base = max(on_base, uncounted_share(n, base_minutes, listened) * base_minutes)
            opened = max(opened, uncounted_share(n, open_minutes, listened) * open_minutes)
        return on_base, opened

    out = {}
    for rule, (base, _w) in CLASSES.items():
        ds = watchers[rule]
        if not ds:
            out[rule] = (open_minutes if base == "open" else all_minutes), open_minutes
            continue
        each = [silent_of(d, base) for d in ds]
        missing = gaps.get(rule, 0)
        full = (open_minutes if base == "open" else all_minutes, open_minutes)
        n = len(ds) + missing
        share = (
            (sum(e[0] for e in each) + missing * full[0]) / n,
            (sum(e[1] for e in each) + missing * full[1]) / n,
        )
        if signals.get(rule):  # the rule needs all of them: as silent as the silentest
            weakest = [silent_of(d, base) for d in signals[rule]]
            share = (max(share[0], *(e[0] for e in weakest)), max(share[1], *(e[1] for e in weakest)))
        out[rule] = share
    return out


def _silence(
    m: Month, opens: list[Span], lapse_hourly: Mapping[tuple[str, datetime], float]
) -> tuple[_Silence, tuple[str, ...]]:
    own = m.period
    watchers = {
        rule: [d for d in m.devices if d.signal is None and d.type in types] for rule, types in WATCHED_BY.items()
    }
    signals = {rule: [d for d in m.devices if d.signal == sig] for rule, sig in WATCHED_BY_SIGNAL.items()}
    unwatched = tuple(sorted(rule for rule, ds in watchers.items() if not ds))
    gaps = {rule: m.gaps.get(rule, 0) for rule in watchers if watchers[rule]}
    watched = {d.id for ds in (*watchers.values(), *signals.values()) for d in ds}
    slow = [d for d in m.devices if d.id in watched and d.hours_heard > 1]

    def vouched(hour: datetime) -> set[str]:
        """The watching devices a report vouches for in this hour (their own or a recent one)."""
        out = m.heard.get(hour, set()) & watched
        for d in slow:
            if d.id not in out and any(d.id in m.heard.get(hour - k * HOUR, ()) for k in range(1, d.hours_heard)):
                out.add(d.id)
        return out

    offline = _offline_by_hour(m, watched)
    offline_hours = {h for _d, h in offline}
    open_in = open_by_hour(opens)  # an hour's open minutes: minutes_in(opens, (h, h + HOUR))

    def undercounted(span: Span, present: set[str], listened: float) -> bool:
        """Whether a counting signal heard in the hour counted too little of it (uncounted_share)."""
        for rule, ds in signals.items():
            minutes = open_in.get(span[0], 0.0) if CLASSES[rule][0] == "open" else overlap(span, own)
            for d in ds:
                if d.id in present and uncounted_share(m.samples.get((d.id, span[0]), 0), minutes, listened) > 0:
                    return True
        return False

    out = _Silence()
    for h in _hours(own):
        span = (h, h + HOUR)
        listened = m.listening(h)
        heard_now = m.heard.get(h, set())
        out.device_hours += len(heard_now - watched)
        if heard_now:
            out.lit_hours += 1
        else:
            out.dark += 60.0 * listened
            out.dark_open += listened * open_in.get(h, 0.0)
        if listened <= 0:
            continue
        present = vouched(h)
        if (
            not unwatched
            and not any(gaps.values())
            and len(present) == len(watched)
            and h not in offline_hours
            and not undercounted(span, present, listened)
        ):
            continue  # every class watched all hour: the common case
        shares = _hour_shares(span, present, offline, watchers, signals, gaps, opens, own, m.samples, listened)
        for rule, (on_base, while_open) in shares.items():
            charged = max(0.0, on_base * listened - lapse_hourly.get((rule, h), 0.0))
            if charged > 0:
                out.minutes[rule] += charged
                # an opening day's silence, on its open minutes whatever the base
                out.by_day[rule, h.astimezone(m.tz).date()] += while_open * listened
    return out, unwatched


def measure(m: Month, cfg: CreditConfig | None = None) -> Facts:
    """The month's facts (contract.credit.Facts) from the raw month."""
    cfg = cfg or CreditConfig()
    own = m.period
    opens = open_spans(m.hours, m.tz, own)
    lapse_total, lapse_hourly = _lapses(m, opens)
    silence, unwatched = _silence(m, opens, lapse_hourly)
    watched = {d.type for d in m.devices} & set().union(*WATCHED_BY.values())
    rate = sum(
        min(1.0, 3600.0 / max(d.heartbeat_s, 1)) for d in m.devices if d.type not in watched and d.signal is None
    )
    expected = rate * silence.lit_hours
    gap = max(0.0, 100.0 * (1 - silence.device_hours / expected)) if expected > 0 else 0.0
    n_alerts, late, never = m.acks
    due, late_orders = m.orders
    n_insp, failed = m.inspected
    return Facts(
        period_minutes=overlap(own, own),
        open_minutes=minutes_in(opens, own),
        lapse_minutes=lapse_total,
        silent_minutes=dict(silence.minutes),
        silent_days=sum(1 for v in silence.by_day.values() if v >= cfg.silent_day_min),
        split_episodes=split_episodes(m.lapses),
        unalerted_absences=unalerted_absences(m.lapses, m.patrol_gaps),
        unwatched=unwatched,
        missing_devices={k: v for k, v in m.gaps.items() if v},
        ratio_by_badges_only=not any(d.signal == WATCHED_BY_SIGNAL["ratio_breach"] for d in m.devices),
        dark_minutes=silence.dark,
        dark_open_minutes=silence.dark_open,
        device_gap_pct=gap,
        maintenance_minutes=sum(overlap(w, own) for w in m.windows),
        alerts_to_answer=n_alerts,
        late_acks=late,
        unacked=never,
        orders_due=due,
        orders_late=late_orders,
        inspections=n_insp,
        failed_items=failed,
    )
