"""What counted in a facility's month and why, in the reader's language (the credit page's figures):
the stored figures of contract.credit.evaluate told as sentences, never as field names."""

from __future__ import annotations

from typing import Any

from contract.credit import CLASSES
from contract.labels import label

_T: dict[str, tuple[str, str]] = {
    "open": ("本月开放 {h} 小时（评价期 {p} 天）", "Open {h} h this month (over {p} days)"),
    "lapse": ("{what}：{h} 小时（扣 {pts} 分）", "{what}: {h} h (−{pts})"),
    "silent": (
        "{what}：相关设备在开放期间静默，按失职计 {h} 小时（扣 {pts} 分）",
        "{what}: its devices silent, charged as lapses for {h} h (−{pts})",
    ),
    "unwatched": ("未登记任何{what}设备：全时按静默计", "No {what} device registered: silent all the time"),
    "silent_days": (
        "设备静默超过 1 小时的开放日 {n} 个，每个按一条未确认告警计",
        "{n} opening days with an hour or more of silence, each counted as an alert nobody answered",
    ),
    "split": (
        "拆分成短时片段的失职 {n} 次，每次按一条未确认告警计",
        "{n} lapses split into pieces too short to alert, each counted as an alert nobody answered",
    ),
    "unalerted": (
        "保安刷卡在岗却未巡更 {n} 次（未触发缺保安告警），每次按一条未确认告警计",
        "{n} times a guard badged in did not patrol (no alert of a missing guard opened), each counted as an"
        " alert nobody answered",
    ),
    "badges_only": (
        "婴幼儿活动区摄像头未申报成人计数：保育人员在岗仅凭刷卡记录判断，证据较弱",
        "No camera over the child areas counts adults: carers on duty are known from their badges alone,"
        " weaker evidence",
    ),
    "dark": ("全部设备无数据 {h} 小时（已计入上述静默）", "Nothing from any device for {h} h (in the silence above)"),
    "gap": ("其他设备数据缺失 {pct}%", "Other devices' data missing: {pct} %"),
    "maintenance": (
        "已批准的维护时段 {h} 小时（不抵扣任何扣分）",
        "Approved maintenance windows: {h} h (they excuse nothing)",
    ),
    # response is timed from when CareWatch knew of each alert (opened_at), never from when it happened
    # (occurred_at: a spool replayed late, contract/occurred.py), and the reader is told so
    "alerts": (
        "危急/严重告警 {n} 条：逾时确认 {late} 条，未确认 {never} 条（确认时限自平台收到告警时起算，"
        "不自事发时起算；网关离线期间发生、事后补传的告警同样按收到时起算并逐级上报）",
        "{n} critical or major alerts: {late} acknowledged late, {never} never (the time to acknowledge counts"
        " from when CareWatch knew of each, not from when it happened; an alert sent late from a gateway's"
        " spool counts and escalates from its arrival, as a live one does)",
    ),
    "orders": ("到期整改 {n} 件，逾期 {late} 件", "{n} orders due, {late} late"),
    "inspections": ("已签字检查 {n} 次，不符合项 {failed} 项", "{n} signed inspections, {failed} failed items"),
}


def _h(minutes: float) -> str:
    return f"{minutes / 60:.1f}"


def explain(result: dict[str, Any], lang: str) -> list[str]:
    """The month's figures (a stored or provisional evaluation) as lines for people."""
    i = 0 if lang == "zh" else 1
    t = {k: v[i] for k, v in _T.items()}
    facts = result.get("facts", {})
    out = [t["open"].format(h=_h(facts.get("open_minutes", 0)), p=round(facts.get("period_minutes", 0) / 1440))]
    lapse_points = result.get("lapse_points", {})
    silent_points = result.get("silent_points", {})
    for rule in CLASSES:
        what = label("credit_class", rule, lang)
        minutes = facts.get("lapse_minutes", {}).get(rule, 0)
        if minutes:
            out.append(t["lapse"].format(what=what, h=_h(minutes), pts=lapse_points.get(rule, 0)))
        silent = facts.get("silent_minutes", {}).get(rule, 0)
        if silent:
            out.append(t["silent"].format(what=what, h=_h(silent), pts=silent_points.get(rule, 0)))
    for rule in facts.get("unwatched", []):
        out.append(t["unwatched"].format(what=label("credit_class", rule, lang)))
    if facts.get("silent_days"):
        out.append(t["silent_days"].format(n=facts["silent_days"]))
    if facts.get("split_episodes"):
        out.append(t["split"].format(n=facts["split_episodes"]))
    if facts.get("unalerted_absences"):
        out.append(t["unalerted"].format(n=facts["unalerted_absences"]))
    if facts.get("ratio_by_badges_only"):
        out.append(t["badges_only"])
    if facts.get("dark_minutes"):
        out.append(t["dark"].format(h=_h(facts["dark_minutes"])))
    if facts.get("device_gap_pct"):
        out.append(t["gap"].format(pct=facts["device_gap_pct"]))
    if facts.get("maintenance_minutes"):
        out.append(t["maintenance"].format(h=_h(facts["maintenance_minutes"])))
    if facts.get("alerts_to_answer"):
        n, late, never = facts["alerts_to_answer"], facts.get("late_acks", 0), facts.get("unacked", 0)
        out.append(t["alerts"].format(n=n, late=late, never=never))
    if facts.get("orders_due"):
        out.append(t["orders"].format(n=facts["orders_due"], late=facts.get("orders_late", 0)))
    if facts.get("inspections"):
        out.append(t["inspections"].format(n=facts["inspections"], failed=facts.get("failed_items", 0)))
    return out
