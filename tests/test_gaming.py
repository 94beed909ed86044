"""A facility cannot improve its grade by switching things off (issue #37): silence is charged to the
rules it blinds (contract.credit_facts), and the strategies of `carewatch bench gaming`, run through the
real engine and the real credit method over a few simulated days, never beat the same facility honest."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.engine import AlertEngine
from bench.gaming import PROFILES, STRATEGIES, run_one
from contract.credit import CLASSES, WATCHED_BY, evaluate
from contract.credit_facts import SLOT_S, SLOTS_PER_HOUR, Month, WatchDevice, measure, minutes_in, open_spans, signal_id
from contract.registry import DeviceType
from contract.rules import Key, load_rules
from simulators.registry_gen import generate_registry

SH = ZoneInfo("Asia/Shanghai")
FAC = generate_registry(1, seed=41).facilities[0]
DEVICES = [WatchDevice(d.id, d.type, d.heartbeat_s) for d in FAC.devices]
START = datetime(2026, 11, 2, tzinfo=SH).astimezone(UTC)  # a Monday
END = START + timedelta(days=7)
HOURS = [START + timedelta(hours=h) for h in range(7 * 24)]


def _month(
    silent: dict[str, set[datetime]] | None = None,
    lapses: list[tuple[str, tuple[datetime, datetime]]] | None = None,
    devices: list[WatchDevice] = DEVICES,
    **kw: object,
) -> Month:
    """A week of the facility, every device heard every hour but those `silent` in the hours given (a
    counting camera's count heard with all its samples, unless `samples` says otherwise)."""
    silent = silent or {}
    heard = {h: {d.id for d in devices if h not in silent.get(d.id, set())} for h in HOURS}
    full = SLOTS_PER_HOUR
    kw.setdefault("samples", {(d.id, h): full for h in HOURS for d in devices if d.signal and d.id in heard[h]})
    return Month((START, END), SH, FAC.opening_hours, devices, heard, lapses or [], **kw)  # type: ignore[arg-type]


def _score(m: Month) -> float:
    return float(evaluate(measure(m))["score"])


def _open_hour(day: int, hour: int) -> datetime:
    return datetime(2026, 11, 2 + day, hour, tzinfo=SH).astimezone(UTC)


def test_an_honest_clean_week_is_100_and_unplugging_any_watched_kind_costs() -> None:
    assert _score(_month()) == 100.0
    for types in WATCHED_BY.values():
        off = {d.id: set(HOURS) for d in DEVICES if d.type in types}
        assert _score(_month(off)) < 75.0, f"{sorted(types)} off all week is not a B"


def test_cameras_off_all_month_is_not_a_b_and_one_camera_kept_does_not_save_it() -> None:
    """Issue #37: every camera off scored 84.6 B; keeping 1 of 11 missed nothing."""
    cams = [d.id for d in DEVICES if d.type is DeviceType.CAMERA]
    assert len(cams) >= 3
    all_off = _score(_month({c: set(HOURS) for c in cams}))
    one_kept = _score(_month({c: set(HOURS) for c in cams[1:]}))
    assert all_off < 60.0 and one_kept < 60.0
    # one camera broken for a day costs something small, not a grade
    broken = _score(_month({cams[0]: {h for h in HOURS if h < START + timedelta(days=1)}}))
    assert 90.0 <= broken < 100.0


def test_a_kind_never_registered_is_silent_all_the_time() -> None:
    no_cameras = [d for d in DEVICES if d.type is not DeviceType.CAMERA]
    facts = measure(_month(devices=no_cameras))
    assert facts.unwatched == ("camera_coverage",)
    unplugged = measure(_month({d.id: set(HOURS) for d in DEVICES if d.type is DeviceType.CAMERA}))
    assert facts.silent_minutes["camera_coverage"] == unplugged.silent_minutes["camera_coverage"] > 0


def test_the_platforms_own_outage_is_no_facilitys_silence() -> None:
    outage = {h for h in HOURS if _open_hour(1, 9) <= h < _open_hour(1, 15)}  # Tuesday 09:00-15:00
    nothing = {d.id: outage for d in DEVICES}  # nothing arrives: the platform was not listening
    deaf = _month(nothing, listening=lambda h: 0.0 if h in outage else 1.0)
    assert measure(deaf).silent_minutes == {} and _score(deaf) == 100.0
    assert _score(_month(nothing)) < 90.0, "the same hours while the platform listened: the facility went dark"


def test_a_slow_device_is_not_silent_between_its_reports() -> None:
    """A gauge that reports every 6 hours is heard in one hour of six, and that is not silence."""
    slow = [
        WatchDevice(d.id, d.type, 6 * 3600 if d.type is DeviceType.EXTINGUISHER_GAUGE else d.heartbeat_s)
        for d in DEVICES
    ]
    gauges = {d.id for d in slow if d.type is DeviceType.EXTINGUISHER_GAUGE}
    quiet = {g: {h for i, h in enumerate(HOURS) if i % 6} for g in gauges}
    assert measure(_month(quiet, devices=slow)).silent_minutes == {}
    gone = {g: {h for i, h in enumerate(HOURS) if i % 6 or i > 24} for g in gauges}
    assert measure(_month(gone, devices=slow)).silent_minutes.get("extinguisher_pressure", 0) > 0


def test_a_lapse_split_below_its_alert_window_costs_what_the_whole_one_does() -> None:
    """A guard away 10:00-13:00, or back for a minute every ten (the rule needs ten minutes to alert)."""
    whole, pieces = [], []
    for day in range(5):
        t = _open_hour(day, 10)
        whole.append(("guard_absent", (t, t + timedelta(hours=3))))
        pieces += [
            ("guard_absent", (t + timedelta(minutes=m), t + timedelta(minutes=m + 9))) for m in range(0, 180, 10)
        ]
    shown, split = measure(_month(lapses=whole)), measure(_month(lapses=pieces))
    assert split.lapse_minutes["guard_absent"] >= shown.lapse_minutes["guard_absent"] - 5 * 1
    assert split.split_episodes == 5, "each day's pieces are one episode that would have alerted"
    # the whole one alerted (and was answered in time by this facility); the split one never did
    assert _score(_month(lapses=pieces)) < _score(_month(lapses=whole, acks=(5, 0, 0)))


open_hours = st.sampled_from([h for h in HOURS if FAC.opening_hours.hours_on(h.astimezone(SH).date())])


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(sorted(CLASSES)),
    lapse_at=st.lists(open_hours, min_size=1, max_size=6, unique=True),
    off=st.lists(open_hours, min_size=1, max_size=30, unique=True),
    minutes=st.integers(min_value=1, max_value=60),
)
def test_switching_a_kind_off_never_scores_better_than_showing_its_lapses(
    kind: str, lapse_at: list[datetime], off: list[datetime], minutes: int
) -> None:
    """Honest: the class lapses `minutes` in some hours. Gamed: its devices are off in other hours too,
    and every lapse inside an hour they are off is hidden. The gamed week never scores better."""
    lapses = [(kind, (h, h + timedelta(minutes=minutes))) for h in lapse_at]
    hidden = set(off)
    shown = [lp for lp in lapses if lp[1][0] not in hidden]
    watchers = {d.id: hidden for d in DEVICES if d.type in WATCHED_BY[kind]}
    assert _score(_month(watchers, shown)) <= _score(_month(lapses=lapses))


# -- the bench's strategies through the real engine, two opening days (the bench runs a month) -----------------
MONDAY = date(2026, 11, 2)
# none left: the carers who stay badged in while away are seen by the counting cameras over the child areas
# (alerts.counting), the guard by the patrol points (a patrol gap is an unanswered alert: issue #37)
KNOWN_GAPS: dict[str, str] = {}


@pytest.fixture(scope="module")
def honest_bad() -> dict[str, float]:
    return run_one("bad", "honest", days=2, first=MONDAY)


@pytest.mark.parametrize(
    "strategy",
    [
        pytest.param(s, marks=pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[s])) if s in KNOWN_GAPS else s
        for s in sorted(STRATEGIES)
    ],
)
def test_no_strategy_beats_the_same_bad_facility_honest(strategy: str, honest_bad: dict[str, float]) -> None:
    gamed = run_one("bad", strategy, days=2, first=MONDAY)
    assert gamed["uninspected"] <= honest_bad["uninspected"], (strategy, gamed, honest_bad)
    assert gamed["inspected"] <= honest_bad["inspected"], (strategy, gamed, honest_bad)


def test_the_profiles_are_what_they_say() -> None:
    """The bench's honest facilities grade as their names say (else 'never beats honest' proves little)."""
    good, average = run_one("good", "honest", days=2, first=MONDAY), run_one("average", "honest", days=2, first=MONDAY)
    assert good["uninspected"] >= 90.0 > average["uninspected"]
    assert set(PROFILES) == {"good", "average", "bad"}


def test_the_credit_page_says_what_counted_in_words_not_field_names() -> None:
    from web.credit_text import explain

    doors = {d.id: set(HOURS) for d in DEVICES if d.type is DeviceType.ACCESS_CONTROLLER}
    result = evaluate(measure(_month(doors, lapses=[("exit_obstructed", (_open_hour(0, 9), _open_hour(0, 10)))])))
    zh, en = explain(result, "zh"), explain(result, "en")
    assert any("缺保安：相关设备在开放期间静默，按失职计" in line for line in zh), zh
    assert any(line.startswith("no guard: its devices silent, charged as lapses") for line in en), en
    assert any("安全出口受阻：1.0 小时" in line for line in zh), zh
    assert any("opening days with an hour or more of silence" in line for line in en), en
    assert not [line for line in zh + en if "_" in line], "a field name or a rule id shown as text"


def test_the_credit_page_says_response_counts_from_when_an_alert_was_known() -> None:
    """An alarm replayed late from a gateway's spool (issue #42 item 2): the response figure says its
    time counts from when CareWatch knew of it, not from when it happened."""
    from web.credit_text import explain

    result = {"facts": {"alerts_to_answer": 3, "late_acks": 1, "unacked": 0}}
    [zh] = [line for line in explain(result, "zh") if "危急/严重告警" in line]
    assert "确认时限自平台收到告警时起算，不自事发时起算" in zh, zh
    [en] = [line for line in explain(result, "en") if "critical or major alerts" in line]
    assert "counts from when CareWatch knew of each, not from when it happened" in en, en


# -- areas (issue #37 item 5) -----------------------------------------------------------------------------------
def _facility(area: str, months: list[tuple[float, float]], **kw: object) -> dict[str, object]:
    from tests.test_assessment import facility

    return facility(area, months=months, **kw)


def test_an_area_that_inspects_and_finds_never_ranks_below_one_that_looks_away() -> None:
    """The same bad facilities: in one county inspectors visit twice and find 6 failed items a month (the
    facility loses 12 points for them); in the other nobody comes. The first ranks above."""
    from contract.credit import CreditConfig
    from supervision.assessment import rank

    now = datetime(2026, 6, 30, tzinfo=UTC)  # the assessment's clock, given: nothing here reads the machine's
    answers = [(now - timedelta(days=20), now - timedelta(days=18))] * 4  # reviewed within two days
    diligent = [_facility("140902", [(31.0, 12.0)] * 3, planned=6, signed=6, answers=answers)]
    idle = [_facility("140921", [(43.0, 0.0)] * 3)]
    rows = {r["area"]: r for r in rank(diligent + idle, CreditConfig(), now)}
    assert rows["140902"]["mean_score"] < rows["140921"]["mean_score"], "the plain mean would rank it lower"
    assert rows["140902"]["conduct_score"] == rows["140921"]["conduct_score"] == 43.0
    assert rows["140902"]["rank"] == 1 and rows["140921"]["rank"] == 2
    # finding more never lowers the index
    more = [_facility("140902", [(23.0, 20.0)] * 3, planned=6, signed=6, answers=answers)]
    assert rank(more, CreditConfig(), now)[0]["work_index"] == rows["140902"]["work_index"]


def test_a_required_camera_left_out_of_the_registry_costs_what_an_unplugged_one_does() -> None:
    """Deleting a device from the registry is no way out of its silence (issue #37 item 2)."""
    from contract.registry import watch_gaps

    nap = [d for d in FAC.devices if d.type is DeviceType.CAMERA and "nap" in d.id]
    assert nap
    kept = [d for d in FAC.devices if d not in nap]
    left_out = _month(devices=[WatchDevice(d.id, d.type, d.heartbeat_s) for d in kept])
    left_out.gaps = watch_gaps(len(FAC.classes), kept)
    unplugged = _month({d.id: set(HOURS) for d in nap}, gaps=FAC.watch_gaps())
    assert left_out.gaps["camera_coverage"] == len(nap) and FAC.watch_gaps()["camera_coverage"] == 0
    assert _score(left_out) == _score(unplugged) < 100.0


# -- a slow device's longer silence threshold hides nothing from the credit (issue #42) -------------------
FIRE = [d for d in DEVICES if d.type in WATCHED_BY["fire_detection"]]


def test_a_fire_detector_off_all_month_costs_its_share_of_every_minute() -> None:
    """Unheard, a detector is silent every minute of the month whatever the engine's threshold: its share
    of fire detection (one of n detectors) for the whole period, with or without its offline alert."""
    off = {FIRE[0].id: set(HOURS)}
    alert = [(FIRE[0].id, (START + timedelta(minutes=9), END))]
    for m in (_month(off), _month(off, offline=alert)):
        facts = measure(m)
        assert facts.silent_minutes["fire_detection"] == pytest.approx(facts.period_minutes / len(FIRE))


def test_a_detector_off_for_half_an_hour_costs_what_it_did_before_the_longer_threshold() -> None:
    """A smoke detector (a status every 2 min) switched off at 10:00 and on again at 10:30, heard in every
    hour. Before issue #42 its alert opened after 6 min and the credit charged 24 minutes of its silence;
    its alert now opens after 9 min (3 lost heartbeats are no outage), and the credit still charges from
    when it was shown silent, 10:06: the longer threshold hides nothing (without that, 3 minutes less)."""
    smoke = next(d for d in FAC.devices if d.type is DeviceType.SMOKE_DETECTOR)
    off, on = _open_hour(1, 10), _open_hour(1, 10) + timedelta(minutes=30)
    engine = AlertEngine([FAC], load_rules(None), off - timedelta(hours=1))
    rt = engine.runtimes[FAC.id]
    decisions = []
    t = off - timedelta(hours=1)
    while t < on + timedelta(minutes=10):
        t += timedelta(seconds=10)
        for dev, d in rt.devices.items():
            if dev != smoke.id or not off < t < on:
                d.last_seen = t
        decisions += [d for _, d in engine.on_tick(t) if d.key == Key("device_offline", smoke.id)]
    assert [(d.action, d.at - off) for d in decisions] == [
        ("open", timedelta(minutes=9, seconds=10)),
        ("clear", timedelta(minutes=30)),
    ]
    span = (smoke.id, (decisions[0].at, decisions[1].at))
    charged = measure(_month(offline=[span])).silent_minutes["fire_detection"] * len(FIRE)
    assert charged == pytest.approx(23 + 5 / 6)  # 10:06:10 (the old alert's opening, first tick past 6 min) to 10:30


# -- the counting cameras' counts watch the carer ratio (issue #37, carers badged in while away) ------------------
COUNTING = [d for d in FAC.devices if d.counts_adults]
WITH_COUNTS = DEVICES + [
    WatchDevice(signal_id(d.id, "adults_count"), d.type, d.heartbeat_s, "adults_count") for d in COUNTING
]


def test_one_counting_camera_silent_blinds_the_ratio_for_its_hours() -> None:
    """The rule needs every child area counted: one count missing for a day charges the ratio that day's
    open minutes in full (the silentest, not the mean); the camera's video still heard changes nothing."""
    assert len(COUNTING) >= 3, "the bench's facility counts"
    day = {h for h in HOURS if h < START + timedelta(days=1)}
    silent = measure(_month({signal_id(COUNTING[0].id, "adults_count"): day}, devices=WITH_COUNTS))
    assert silent.silent_minutes["ratio_breach"] == pytest.approx(silent.open_minutes / 5)  # Mon of 5 open days
    assert "camera_coverage" not in silent.silent_minutes, "its video was heard"
    assert not silent.ratio_by_badges_only
    all_heard = measure(_month(devices=WITH_COUNTS))
    assert all_heard.silent_minutes == {} and _score(_month(devices=WITH_COUNTS)) == 100.0


def test_a_count_kept_a_few_minutes_an_hour_is_charged_the_rest_and_counting_noise_nothing() -> None:
    """Issue #37: one count an hour made the hour counted. A camera counting 5 minutes of each hour (5
    one-minute slots of the 60 expected) hides the carers the other 55: the ratio is charged the uncounted share
    of the open time, and the facility scores below the same one counted all along that shows an hour of
    carers away every opening day. A camera that loses a few samples an hour (noise, a restart), or that
    counts only while open (a part-open hour expects counts for its open minutes only), is charged nothing."""
    cam = signal_id(COUNTING[0].id, "adults_count")
    few = {(cam, h): 5 for h in HOURS}
    gamed = measure(_month(devices=WITH_COUNTS, samples=_counts(few)))
    assert gamed.silent_minutes["ratio_breach"] == pytest.approx(gamed.open_minutes * 110 / 120, rel=0.05)
    assert "camera_coverage" not in gamed.silent_minutes, "its video was heard"
    away = [("ratio_breach", (a, a + timedelta(hours=1))) for a, _b in open_spans(FAC.opening_hours, SH, (START, END))]
    honest = _month(lapses=away, devices=WITH_COUNTS)
    assert _score(_month(lapses=[], devices=WITH_COUNTS, samples=_counts(few))) < _score(honest) < 100.0

    rng = random.Random(7)
    noisy = {(d.id, h): SLOTS_PER_HOUR - rng.randint(0, 5) for h in HOURS for d in WITH_COUNTS if d.signal}
    assert measure(_month(devices=WITH_COUNTS, samples=noisy)).silent_minutes == {}
    opens = open_spans(FAC.opening_hours, SH, (START, END))
    while_open = {
        (d.id, h): round(minutes_in(opens, (h, h + timedelta(hours=1))) * 60 / SLOT_S)
        for h in HOURS
        for d in WITH_COUNTS
        if d.signal
    }
    assert measure(_month(devices=WITH_COUNTS, samples=while_open)).silent_minutes == {}


def _counts(override: dict[tuple[str, datetime], int]) -> dict[tuple[str, datetime], int]:
    """Every counting camera's samples in full but for those given."""
    full = {(d.id, h): SLOTS_PER_HOUR for h in HOURS for d in WITH_COUNTS if d.signal}
    return full | override


def test_a_facility_without_counting_cameras_is_not_charged_but_told_its_ratio_rests_on_badges() -> None:
    from web.credit_text import explain

    facts = measure(_month())
    assert facts.ratio_by_badges_only and facts.silent_minutes == {}
    result = evaluate(facts)
    assert result["score"] == 100.0
    assert any("仅凭刷卡记录" in line for line in explain(result, "zh"))
    assert any("badges alone" in line for line in explain(result, "en"))
    assert not any("badges alone" in line for line in explain(evaluate(measure(_month(devices=WITH_COUNTS))), "en"))


def test_a_guard_badged_in_who_does_not_patrol_is_an_unanswered_alert() -> None:
    """A patrol gap with no guard absence recorded over it: the absence's own alert never opened."""
    gap = (_open_hour(0, 12), _open_hour(0, 13))
    hidden = measure(_month(patrol_gaps=[gap]))
    assert hidden.unalerted_absences == 1
    shown = measure(_month(lapses=[("guard_absent", (_open_hour(0, 10), _open_hour(0, 13)))], patrol_gaps=[gap]))
    assert shown.unalerted_absences == 0
