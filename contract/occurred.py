"""When an alert's thing happened, as against when CareWatch knew it (CONTRACT §5, issue #42 item 2).

An alert has two times: `occurred_at`, when what it is about happened (an event's own `ts`, corrected
by the device clock's learnt error; for a condition with a `for` window, when the window was met), and
`opened_at`, when CareWatch knew it and raised the alert. They differ when the evidence reached us late:
a panic pressed at 17:15 while the facility's uplink was down, sent from the gateway's spool at 18:15.
People read both only when the difference matters (`shown_late`); `delay_cause` says why, when the
engine has evidence of why (`CAUSES`), and nothing otherwise.

Escalation and every response time are measured from `opened_at` (nobody can answer an alert before it
is known); `occurred_at` is shown, never used to judge anyone (it comes from the facility's own device
clocks).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from contract.rules import CLOCK_SKEW_S

# Why the evidence reached the engine late:
# - uplink: the facility's gateway was offline (its Last Will, or its heartbeats missed) when it
#   happened, and its spool delivered it afterwards;
# - device: it reached the broker late while the engine was listening and the gateway was not known to
#   be offline (a device's own buffer, a gateway's spool over a cut too short to be seen);
# - platform: CareWatch itself was not hearing (the engine's link to the broker down, or the engine
#   reading a backlog it had fallen behind on): the broker had it on time, or could not have had it.
CAUSES = ("uplink", "device", "platform")

# Shown apart when opened more than this after it happened. The contract counts a message within
# CLOCK_SKEW_S (120 s) of its arrival as on time: a device clock a minute or two off is not lateness,
# and a smaller gap would print "received …" under alerts of facilities whose clocks are merely off.
# Beyond it the gap is delivery, and it matters: a critical alert's first escalation step is 60 s, so
# two minutes late is more than the whole time the facility had to answer it live.
LATE_SHOWN_S = CLOCK_SKEW_S

_VERB = {"panic_button": ("按下", "pressed")}
_DEFAULT_VERB = ("发生", "happened")
_CAUSE = {
    "uplink": ("网关离线期间", "while the gateway was offline"),
    "device": ("设备延迟上报", "reported late by the device"),
    "platform": ("平台接收中断期间", "while CareWatch was not receiving"),
}


def shown_late(occurred: datetime | None, opened: datetime | None) -> bool:
    """Whether an alert was known late enough for people to be told both times."""
    if occurred is None or opened is None:
        return False
    return (opened - occurred).total_seconds() > LATE_SHOWN_S


def clock_text(t: datetime, tz: str, ref: datetime, lang: str) -> str:
    """A local clock time, with its date unless it is the day of `ref` (the other time shown beside it)."""
    zone = ZoneInfo(tz)
    local, other = t.astimezone(zone), ref.astimezone(zone)
    hm = f"{local:%H:%M}"
    if local.date() == other.date():
        return hm
    return f"{local.month}月{local.day}日 {hm}" if lang == "zh" else f"{local:%b} {local.day} {hm}"


def phrase(rule: str, occurred: datetime, opened: datetime, cause: str | None, tz: str, lang: str) -> str:
    """ "17:15 按下（18:15 收到，网关离线期间）" when it was known late (`shown_late`), "17:15 按下"
    otherwise; English "pressed 17:15 (received 18:15, while the gateway was offline)"."""
    zh = lang == "zh"
    verb = _VERB.get(rule, _DEFAULT_VERB)[0 if zh else 1]
    t1 = clock_text(occurred, tz, opened, lang)
    if not shown_late(occurred, opened):
        return f"{t1} {verb}" if zh else f"{verb} {t1}"
    t2 = clock_text(opened, tz, occurred, lang)
    why = _CAUSE.get(cause or "")
    if zh:
        return f"{t1} {verb}（{t2} 收到{'，' + why[0] if why else ''}）"
    return f"{verb} {t1} (received {t2}{', ' + why[1] if why else ''})"
