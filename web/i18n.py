"""Page text: Chinese first, English second."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton, format_timedelta
from markupsafe import Markup, escape

from contract.labels import LABELS, label
from contract.occurred import phrase, shown_late
from contract.places import county_name_zh
from contract.places import township_name as township_name_zh
from contract.rules import MAINTENANCE_MAX_WINDOW, MAINTENANCE_MONTHLY
from supervision.complaints import ANSWER_PERIOD

# Counties' Chinese names come from the divisions data (contract/places.py); their English names are ours.
_COUNTIES_EN = {
    "140902": "Xinfu District",
    "140981": "Yuanping",
    "140921": "Dingxiang",
    "140922": "Wutai",
    "140923": "Dai County",
    "140924": "Fanshi",
    "140925": "Ningwu",
    "140926": "Jingle",
    "140927": "Shenchi",
    "140928": "Wuzhai",
    "140929": "Kelan",
    "140930": "Hequ",
    "140931": "Baode",
    "140932": "Pianguan",
    "140971": "Mount Wutai Scenic Area",
}
COUNTIES = {code: (county_name_zh(code), en) for code, en in _COUNTIES_EN.items()}


def county_name(code: str, lang: str = "zh") -> str:
    """忻府区 on a Chinese page; on an English one the official English name with the Chinese beside it,
    "Xinfu District (忻府区)", which is what a signpost, a document or a colleague calls it."""
    zh, en = COUNTIES.get(code, (county_name_zh(code), ""))
    if lang == "zh" or not en:
        return zh
    return f"{en} ({zh})"


# a township's kind by the ending of its Chinese name (乡镇 / 街道), in English; the name before it in pinyin
_TOWNSHIP_KINDS = (("街道", "Subdistrict"), ("镇", "Town"), ("乡", "Township"))


def _pinyin(text: str) -> str:
    """`text` in pinyin as a place name is written: one word, capitalised, an apostrophe before a syllable
    that starts with a, o or e (Xi'an). pypinyin's readings of rare place-name characters can be wrong, so
    the Chinese name is always shown beside it."""
    from pypinyin import lazy_pinyin  # imported when an English page first needs it

    syllables = lazy_pinyin(text, v_to_u=True)
    word = syllables[0] + "".join(("'" + s if s[:1] in "aoe" else s) for s in syllables[1:])
    return word[:1].upper() + word[1:]


@cache
def township_name(code: str | None, lang: str = "zh") -> str:
    """秀容街道 on a Chinese page; "Xiurong Subdistrict (秀容街道)" on an English one; the code itself when the
    divisions data does not know it (contract.places)."""
    zh = township_name_zh(code)
    if lang == "zh" or not code or zh == code:
        return zh
    for suffix, kind in _TOWNSHIP_KINDS:
        if zh.endswith(suffix) and len(zh) > len(suffix):
            return f"{_pinyin(zh[: -len(suffix)])} {kind} ({zh})"
    return f"{_pinyin(zh)} ({zh})"


TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "title": "忻州市托育机构安全监管",
        "overview": "辖区总览",
        "alerts": "告警",
        "logout": "退出",
        "login": "登录",
        "username": "用户名",
        "password": "密码",
        "bad_login": "用户名或密码错误",
        "too_many_logins": "登录失败次数过多，请 15 分钟后再试",
        "logins_busy": "此刻登录的人太多，请几秒后再试",
        "facility": "机构",
        "state": "状态",
        "open_alerts": "未结告警",
        "scope": "监管范围",
        "understaffed": "当前缺保安或师幼比不达标的机构",
        "none": "无",
        "by_severity": "按级别",
        "by_rule": "按规则",
        "devices": "设备",
        "online": "在线",
        "offline": "离线",
        "battery": "电量",
        "last_seen": "最近上报",
        "staff_on_site": "在岗人员",
        "children_present": "在园幼儿",
        "caregivers": "保育人员",
        "required": "应配",
        "guards": "保安",
        "ack": "确认",
        "note": "处置说明",
        "note_needed": "处置说明（必填）",
        # under the field, not in its placeholder: a placeholder was cut off at the table's width (a newcomer never
        # saw the minimum, and "已检查" met only the browser's own popup); contract.rules.NOTE_MIN_SUBSTANCE
        "note_rule": "须写明现场情况和处置：至少4个字（标点和空格不计）",
        "acknowledged": "已确认",
        "escalation": "上报层级",
        "severity": "级别",
        "rule": "规则",
        "opened": "发生时间",
        "status": "状态",
        "active": "进行中",
        "cleared": "已解除",
        "all": "全部",
        "open": "未结",
        "filter": "筛选",
        "critical_banner": "紧急告警",
        "switch": "English",
        "count": "次数",
        "class": "班级",
        "capacity": "额定",
        "location": "位置",
        "type": "类型",
        "map": "机构分布示意",
    },
    "en": {
        "title": "Xinzhou childcare safety supervision",
        "overview": "Overview",
        "alerts": "Alerts",
        "logout": "Log out",
        "login": "Log in",
        "username": "User name",
        "password": "Password",
        "bad_login": "Wrong user name or password",
        "too_many_logins": "Too many failed logins: try again in 15 minutes",
        "logins_busy": "Too many sign-ins at this moment: try again in a few seconds",
        "facility": "Facility",
        "state": "State",
        "open_alerts": "Open alerts",
        "scope": "Scope",
        "understaffed": "Facilities without a guard or below ratio now",
        "none": "None",
        "by_severity": "By severity",
        "by_rule": "By rule",
        "devices": "Devices",
        "online": "online",
        "offline": "offline",
        "battery": "Battery",
        "last_seen": "Last seen",
        "staff_on_site": "Staff on site",
        "children_present": "Children present",
        "caregivers": "Caregivers",
        "required": "required",
        "guards": "Guards",
        "ack": "Acknowledge",
        "note": "Note",
        "note_needed": "What was done (required)",
        "note_rule": "Say what was found and done: at least 4 letters or digits (spaces and punctuation do not count)",
        "acknowledged": "acknowledged",
        "escalation": "Escalation",
        "severity": "Severity",
        "rule": "Rule",
        "opened": "Opened",
        "status": "Status",
        "active": "active",
        "cleared": "cleared",
        "all": "all",
        "open": "open",
        "filter": "Filter",
        "critical_banner": "CRITICAL ALERT",
        "switch": "中文",
        "count": "Count",
        "class": "Class",
        "capacity": "capacity",
        "location": "Location",
        "type": "Type",
        "map": "Facilities by location",
    },
}

TEXT["zh"].update(
    {
        "reports": "报表",
        "period": "周期",
        "day": "日",
        "month": "月",
        "date": "日期",
        "mean_ack": "平均确认用时（分钟）",
        "availability": "设备在线率",
        "no_guard": "无保安在岗（分钟）",
        "below_ratio": "师幼比不达标（分钟）",
        "score": "机构评分",
        "score_how": "评分方法（用于诚信评价）",
    }
)
TEXT["en"].update(
    {
        "reports": "Reports",
        "period": "Period",
        "day": "day",
        "month": "month",
        "date": "Date",
        "mean_ack": "Mean time to acknowledge (min)",
        "availability": "Device availability",
        "no_guard": "Minutes without a guard",
        "below_ratio": "Minutes below ratio",
        "score": "Score",
        "score_how": "How the score is computed",
    }
)

_WINDOW_H = int(MAINTENANCE_MAX_WINDOW.total_seconds() // 3600)
_MONTHLY_H = int(MAINTENANCE_MONTHLY.total_seconds() // 3600)

_MORE = {
    # key: (中文, English)
    # `carewatch demo --speed`: the pages judge and show the demo's clock, not the machine's
    "demo_clock": ("演示时间 {}（{}倍速）", "Demo time {} ({}x)"),
    "registry": ("机构档案", "Registry"),
    "audit": ("操作日志", "Audit log"),
    "dead_letters": ("异常数据", "Refused messages"),
    "dead_letters_help": (
        "设备发来但未被接收的消息及原因（格式错误、时钟错误、未登记设备等）。",
        "Messages from devices that were not accepted, and why (wrong format, wrong clock, unregistered device…).",
    ),
    "topic": ("主题", "Topic"),
    "payload": ("内容", "Payload"),
    "readings": ("监测数据", "Readings"),
    "metric": ("指标", "Metric"),
    "range": ("时间范围", "Range"),
    "timeline": ("今日事件与出入记录", "Today's events and access"),
    "time": ("时间", "Time"),
    "kind": ("类别", "Kind"),
    "person": ("人员", "Person"),
    "guardian": ("接送人", "Guardian"),
    "device": ("设备", "Device"),
    "latest": ("最新读数", "Latest reading"),
    "staff": ("工作人员", "Staff"),
    "role": ("岗位", "Role"),
    "qualified": ("资质", "Qualified"),
    "licensed": ("保安员证", "Guard licence"),  # the registry's `licensed`: a guard's 保安员证 only
    "banned": ("禁止从业", "Banned"),
    "cert_expires": ("健康证有效期", "Health certificate expires"),
    "expired": ("已过期", "expired"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "maintenance": ("维护时段", "Maintenance windows"),
    "maintenance_help": (
        "维护时段由机构申请，经乡镇、县级或市级监管人员批准后生效（监管人员也可直接设置）；"
        f"每段最长 {_WINDOW_H} 小时，开始时间不得早于当前，每机构每月合计不超过 {_MONTHLY_H} 小时。"
        "批准的时段内只暂停所维护设备的离线、画面遮挡、故障和低电量通知；火灾、燃气、紧急按钮等安全告警照常推送，所有告警照常记录。",
        "A window is requested by the facility and takes effect once a township, county or city inspector approves it "
        f"(an inspector may also set one); at most {_WINDOW_H} hours each, starting no earlier than now, {_MONTHLY_H} "
        "hours a month per facility in all. An approved window silences only the devices' offline, blind-spot, fault "
        "and low-battery notifications; fire, gas, panic and other safety alerts are sent as always, and every alert "
        "is recorded.",
    ),
    "window_status": ("状态", "Status"),
    "window_decision": ("审批", "Decision"),
    "decision_reason": ("审批意见", "Reason"),
    "approve_window": ("批准", "Approve"),
    "reject_window": ("驳回", "Reject"),
    "withdraw_window": ("撤回申请", "Withdraw"),
    "request_window": ("申请维护时段", "Request maintenance window"),
    "pending_windows": ("待审批维护时段", "Maintenance requests awaiting approval"),
    "starts_at": ("开始", "Starts"),
    "ends_at": ("结束", "Ends"),
    "reason": ("原因", "Reason"),
    "author": ("申请人", "Requested by"),
    "whole_facility": ("整个机构", "whole facility"),
    "set_window": ("设置维护时段（直接生效）", "Set maintenance window (approved at once)"),
    "load_registry": ("导入档案文件（YAML 或 JSON）", "Load a registry file (YAML or JSON)"),
    "load": ("导入", "Load"),
    "loaded": ("已导入", "Loaded"),
    "classes": ("班级", "Classes"),
    "history": ("处置记录", "History"),
    "action": ("操作", "Action"),
    "actor": ("操作人", "Actor"),
    "actor_engine": ("系统", "the system"),
    "target": ("对象", "Target"),
    "detail": ("详情", "Detail"),
    "area": ("区域", "Area"),
    "county": ("县（市、区）", "County"),
    "township": ("乡镇（街道）", "Township"),
    "by_area": ("按区域", "By area"),
    "facilities": ("机构数", "Facilities"),
    "expiring": ("健康证过期", "Expired certificates"),
    "windows_now": ("当前维护", "Maintenance now"),
    "alert": ("告警", "Alert"),
    "escalated_at": ("上报时间", "Escalated at"),
    "no_data": ("该时段无数据", "No data in this range"),
    # the readings chart's legend (web/static/chart.js)
    "chart_time": ("时间", "Time"),
    "chart_min": ("最小值", "min"),
    "chart_avg": ("平均值", "avg"),
    "chart_max": ("最大值", "max"),
    "never_seen": ("尚未上报", "not heard yet"),
    # a device quiet longer than usual, not yet offline (CONTRACT §4 device_offline: a slow life-safety
    # device's lost heartbeats are shown to the operator before they raise an alert)
    "silent": ("静默", "silent"),
    "silent_hint": (
        "已约{}分钟未报告；再过约{}分钟仍无报告即告警离线",
        "not heard for about {} min; reported offline if still silent in about {} min",
    ),
    # a device clock the alert engine learnt to be slow (CONTRACT §4): its times read minutes early
    "clock_slow": ("设备时钟慢约 {} 分钟，请校时", "device clock about {} min slow: set its time"),
    # the platform's own data intake (storage.intake): states are judged as of when it last kept up
    "intake_stopped": (
        "数据接收已中断：平台自{}起未再收到设备数据。各机构的在线状态为当时所知，"
        "中断期间的沉默不计入机构；请联系平台运维。",
        "Data intake stopped: the platform has stored no device data since {}. Facilities' states are as"
        " known then, and the silence since is not charged to them; contact the platform's operators.",
    ),
    "intake_gap": (
        "平台在{}至{}之间停机或与消息服务器断开，未接收数据。这段时间不计入设备的沉默："
        "最近上报早于离线阈值的设备仍可能显示在线，直至其下次上报或阈值届满。",
        "The platform received no data from {} to {}: it was down or cut off from the broker. That time is"
        " not counted as any device's silence: a device last heard longer ago than its offline threshold may"
        " still show online until it next reports or its threshold is reached.",
    ),
    "simulator_behind": (
        "演示：设备模拟器比演示时钟落后约 {} 分钟（本机太忙，跟不上所设的倍速）。"
        "其间设备对平台静默，随之而来的离线告警是演示造成的，不是设备的；以较低的 --speed 运行演示可避免。",
        "Demo: the device simulator is about {} min behind the demo's clock (this machine is too busy for the"
        " speed set). Devices are silent to the platform meanwhile, and the offline alerts that follow are the"
        " demo's, not the devices'; a lower --speed avoids it.",
    ),
    "intake_behind": (
        "数据接收正在补传积压，约落后 {} 分钟：各机构的在线状态为{}时所知。",
        "Data intake is catching up on a backlog, about {} min behind: facilities' states are as known at {}.",
    ),
    "prev_page": ("上一页", "Previous"),
    "wall": ("值班大屏", "Duty-room wall"),
    # issue #41 item 4: the wall's panels (web/templates/wall.html, web/static/wall.js)
    "wall_life_safety": ("生命安全告警：近一小时及未结", "Life safety: last hour, open"),
    "wall_life_safety_help": ("仅紧急级；未确认的一直保留", "critical only; kept until acknowledged"),
    "wall_trend": ("今日告警与失职（按小时）", "Today's alerts and lapses by hour"),
    "wall_alerts_series": ("告警", "Alerts"),
    "wall_lapses_series": ("失职", "Lapses"),
    "wall_hour": ("{}时", "{}:00"),
    "wall_followups": ("待督办", "Follow-up waiting"),
    "wall_overdue": ("逾期未整改", "overdue"),
    "wall_escalated": ("已上报{}", "with the {}"),
    "wall_rotating": ("轮播", "Rotating"),
    "wall_pinned": ("已固定", "Pinned"),
    "wall_pin": ("固定此区", "Pin this area"),
    "wall_resume": ("继续轮播", "Resume rotation"),
    "wall_area": ("显示区域", "Area shown"),
    "wall_whole_city": ("全市", "Whole city"),
    # a date field on a Chinese page (web/pages/render.py date_input): ISO order, whatever the browser's locale
    "date_hint": ("按 年-月-日 填写，如 {}", "YYYY-MM-DD, e.g. {}"),
    "datetime_hint": ("按 年-月-日 时:分 填写，如 {}", "YYYY-MM-DD HH:MM, e.g. {}"),
    # One meaning of 未结 (issue #41, the lead's decision): 未结 / "open" is not closed, i.e. active, or a latched
    # alert (critical, major) cleared but not acknowledged (docs/contract.md §5). A list or count of the active
    # ones alone is headed 进行中 / "Active"; a cleared one awaiting its acknowledgement carries this tag
    # wherever it appears, and heads its own list.
    "awaiting_ack": ("已恢复待确认", "Cleared, awaiting acknowledgement"),
    "active_alerts": ("进行中告警", "Active alerts"),
    "reconnecting": ("连接中断，正在重连…", "Connection lost, reconnecting…"),
    # issue #41 item 1: the live pages and the critical banner (web/static/live.js)
    "banner_close": ("关闭此提醒（本次浏览不再显示，告警不受影响）", "Dismiss (this browser session; the alert stays)"),
    "live_stale": ("有新的变化，保存后刷新", "There are new changes: save, then refresh"),
    "live_refresh": ("刷新", "Refresh"),
    "enable_sound": ("启用提示音", "Enable sound"),
    "and_more": ("另有 {} 家", "and {} more"),
    "next_page": ("下一页", "Next"),
    "page_n": ("第 {} 页", "page {}"),
    "details": ("详情", "Details"),
    "older": ("更早", "Older"),
    "whole_city": ("返回全市", "whole city"),
    "attention": ("需关注的机构", "Facilities needing attention"),
    "attention_help": (
        "全市视图只列出红色、黄色和灰色机构；绿色机构见地图，或点击区县查看全部。",
        "The city view lists red, amber and grey facilities; green ones are on the map, or click a county for all.",
    ),
    "map_help_county": ("点击区县查看该县，点击圆点打开机构", "Click a county to open it, a dot to open a facility"),
    "map_help": ("点击圆点打开机构；滚轮缩放", "Click a dot to open a facility; scroll to zoom"),
    # issue #41 item 3: city → county → township → facility. No open dataset of township boundaries was found:
    # a township's view is its county's boundary zoomed to its facilities, and the page says so
    "map_help_township": (
        "点击乡镇标记或在上方选择乡镇查看该乡镇，点击圆点打开机构",
        "Click a township's marker, or choose it above, to open it; a dot opens a facility",
    ),
    "map_help_in_township": (
        "县界内按本乡镇机构位置放大（未绘制乡镇界线）；点击圆点打开机构",
        "The county's boundary, zoomed to this township's facilities (township boundaries not drawn); a dot opens a"
        " facility",
    ),
    "all_townships": ("全部乡镇", "All townships"),
    "back_to_county": ("返回全县", "whole county"),
    "show": ("查看", "Show"),
    "all_alerts": ("全部告警", "all alerts"),
    "download_csv": ("下载 CSV（Excel / WPS）", "Download CSV (Excel / WPS)"),
    "reports_credit_note": (
        "机构的评分和等级见诚信评价（按失职时长、失联、响应、整改和检查计算）。",
        "A facility's score and grade are the credit evaluation's (lapses, going dark, response, orders, inspections).",
    ),
    "escalated_to": ("已上报至", "escalated to"),
    # issue #42 item 3: where a child left on site after closing is, recorded with a note
    "whereabouts": ("登记幼儿去向", "Record where the child is"),
    "whereabouts_note": (
        "幼儿现在何处、由谁照看、何时离园（必填，将保留在告警记录中供监管人员查阅）",
        "Where the child is, who is with the child, when the child left (required; kept on the alert for inspectors)",
    ),
    "facility_list": ("机构", "Facilities"),
    # notifications (issue #17, item 7)
    "notifications": ("通知设置", "Notifications"),
    "notifications_help": (
        "告警可推送到企业微信群机器人、钉钉群机器人或电子邮件。危急告警和生命安全类告警（火警、燃气、一键报警、"
        "非授权接走、安全出口受阻等）不受免打扰时段限制。维护时段内的告警不推送。",
        "Alerts can go to a WeCom or DingTalk group robot or to e-mail. Quiet hours never hold back a critical or "
        "life-safety alert (fire, gas, panic button, unauthorised pick-up, blocked exits…). Alerts in a "
        "maintenance window are not sent.",
    ),
    "my_channels": ("我的通知渠道", "My channels"),
    "add_channel": ("添加通知渠道", "Add a channel"),
    "channel": ("渠道", "Channel"),
    "receiver": ("接收方", "Receiver"),
    "target_help": (
        "企业微信：机器人的 Webhook 地址或其中的 key；钉钉：Webhook 地址或 access_token；电子邮件：邮箱地址",
        "WeCom: the robot's webhook address or its key; DingTalk: the webhook address or access_token; "
        "e-mail: the address",
    ),
    "secret": ("加签密钥（钉钉，可选）", "Signing secret (DingTalk, optional)"),
    "only_facilities": (
        "仅这些机构（编号，逗号分隔；留空为辖区内全部）",
        "Only these facilities (ids, comma-separated; empty for all in your scope)",
    ),
    "all_in_scope": ("辖区内全部机构", "all facilities in scope"),
    "min_severity": ("最低级别", "Minimum severity"),
    "quiet_hours": ("免打扰时段（机构当地时间）", "Quiet hours (the facility's local time)"),
    "quiet_from": ("从", "from"),
    "quiet_to": ("至", "to"),
    "msg_lang": ("消息语言", "Message language"),
    "add": ("添加", "Add"),
    "delete": ("删除", "Delete"),
    "send_test": ("发送测试消息", "Send a test message"),
    "test_queued": ("测试消息已排队发送，结果见下方发送记录。", "The test message is queued; its outcome shows below."),
    "test_limited": (
        "测试消息每小时最多{n}条，请{minutes}分钟后再试。",
        "At most {n} test messages an hour: try again in {minutes} min.",
    ),
    "test_title": ("CareWatch 测试消息", "CareWatch test message"),
    "test_body": (
        "这是一条测试消息：此通知渠道已能收到 CareWatch 的告警。",
        "A test message: this channel receives CareWatch's alerts.",
    ),
    "sent_log": ("发送记录", "Deliveries"),
    "notification_log": ("通知发送记录", "Notification deliveries"),
    # the retention policy (contract.retention), for admins
    "retention": ("数据保留", "Data retention"),
    "retention_help": (
        "每张数据表保留多久及其依据。有期限的由系统定期清理（按记录自身的时间）；监管记录长期保存，系统不删除。",
        "How long each table keeps its rows, and why. What has a period is pruned on a schedule (by the row's own"
        " time); records of supervision are kept for good and never deleted by CareWatch.",
    ),
    "retention_table": ("数据表", "Table"),
    "retention_keep": ("保留期限", "Kept for"),
    "retention_basis": ("依据", "Basis"),
    "retention_by": ("由谁清理", "Pruned by"),
    "retention_days": ("{} 天", "{} days"),
    "retention_for_good": ("长期保存", "Kept for good"),
    "retention_current": ("仅当前状态", "While current"),
    "retention_legal": ("法定依据", "legal basis"),
    "notification_log_help": (
        "每条通知的发送结果。接收方不可达时会按间隔重试，多次失败后标记为失败并显示原因。",
        "The outcome of every notification. An unreachable receiver is retried at growing intervals; after the "
        "last attempt the delivery is marked failed, with the reason.",
    ),
    "attempts": ("尝试次数", "Attempts"),
    "last_error": ("最近错误", "Last error"),
    "sent_at": ("发送时间", "Sent"),
    "created": ("生成时间", "Created"),
    "last_24h": ("最近 24 小时", "Last 24 hours"),
    "user": ("用户", "User"),
    "message": ("消息", "Message"),
    # rectification orders (整改通知, issue #16)
    "orders": ("整改通知", "Rectification orders"),
    "orders_help": (
        "监管人员下发整改通知，机构回复整改措施和佐证材料，下发层级验收或退回。逾期未回复的整改通知逐级上报"
        "（乡镇 → 县 → 市）督办。确认告警不会关闭整改通知。",
        "Inspectors order a facility to put something right by a date; the facility answers with measures and "
        "evidence; the issuing level accepts or sends it back. An order unanswered past its due date goes up "
        "(township → county → city). Acknowledging an alert does not close an order.",
    ),
    "issue_order": ("下发整改通知", "Issue a rectification order"),
    "order_title": ("整改事项", "Subject"),
    "order_detail": ("要求与依据", "Requirements and grounds"),
    "due_at": ("整改期限", "Due"),
    "issued_by": ("下发人", "Issued by"),
    "supervision": ("督办层级", "Followed up at"),
    "overdue": ("已逾期", "overdue"),
    "answer_order": ("回复整改情况", "Answer: what was done"),
    "measures": ("整改措施", "Measures taken"),
    "evidence": (
        "佐证材料（JPG、PNG 或 PDF，最多 3 个，每个不超过 5 MB）",
        "Evidence (JPG, PNG or PDF; up to 3 files of 5 MB)",
    ),
    "submit": ("提交", "Submit"),
    "review_order": ("验收", "Review"),
    "accept": ("验收通过", "Accept"),
    "send_back": ("退回重改", "Send back"),
    "review_note": ("意见（退回时必填）", "Note (required to send back)"),
    # the 复查 form accepts subject to a re-inspection: it never sends back, so its note is optional
    "recheck_note": ("复查说明（选填）", "Note on the re-inspection (optional)"),
    "supervised_inbox": (
        "督办：逾期未整改或回复逾期未验收、已上报至本级的整改通知",
        "Follow-up: orders escalated to your level, unanswered past their due date or answered and left unreviewed",
    ),
    "source": ("来源", "Source"),
    "order_status_filter": ("状态", "State"),
    "open_orders": ("未验收", "not accepted"),
    "credit": ("诚信评价", "Credit evaluation"),
    "assessment": ("督导评估", "Assessment of the departments"),
    "year": ("年度", "Year"),
    "quarter": ("季度", "Quarter"),
    "whole_year": ("全年", "Whole year"),
    "quarter_1": ("第一季度", "Q1"),
    "quarter_2": ("第二季度", "Q2"),
    "quarter_3": ("第三季度", "Q3"),
    "quarter_4": ("第四季度", "Q4"),
    "err_quarter": ("季度须为 1 至 4", "The quarter is 1, 2, 3 or 4"),
    "assessment_no_months": (
        "本期尚无已结束并存档的月份：机构得分和等级将在月份结束后计入（进行中的月份见诚信评价）；排名不依赖于此。",
        "No month of this period has ended and been recorded yet: facilities' scores and grades count once a month "
        "ends (the month in progress is on the credit page); the ranking does not depend on them.",
    ),
    "assessment_help": (
        "上级对下级监管部门工作的督导评估：按区域汇总本期各项指标，按监管工作指数排名。检查发现问题、下发整改的多少不影响排名："
        "发现问题记入机构，不拖累发现问题的区域；不检查、不审核、不办理的区域排名靠后。",
        "The level above assessing the departments' work: each area's indicators for the period, ranked by its "
        "supervision index. How much its inspectors found or ordered never moves the rank: a finding counts on the "
        "facility, never against the area that made it; an area that does not inspect, review or answer ranks lower.",
    ),
    "assessment_index_how": (
        "监管工作指数 = 各项有案可计指标的加权平均（权重见上表）；某项指标本期没有案件（如无投诉、无抽查）时不计入，"
        "其余指标按权重比例计算。尚未到期的事项不计入；已逾期仍未办理的按未按时计。",
        "Supervision index = the weighted mean of the indicators the area has cases for (weights above); an "
        "indicator with no case in the period (no complaint, no draw) is left out and the others count in "
        "proportion to their weights. Cases not yet due are not counted; those past due and not dealt with count "
        "as late.",
    ),
    "assessment_no_case": ("本期无案件，不计入", "no case in the period: not counted"),
    "assessment_county_only": ("由县级办理，乡镇不计入", "the county's to deal with: not counted for a township"),
    "assessment_median": ("中位数", "median"),
    "days_unit": ("天", "days"),
    "assessment_escalated": ("督办（上报本级以上）", "Follow-up from above (orders escalated above the area)"),
    "assessment_escalated_how": (
        "已验收 {0} · 未结 {1} · 其中因本级审核逾期 {2}",
        "accepted {0} · open {1} · of them for the area's own late review {2}",
    ),
    "assessment_actions": ("通报约谈", "Circular, summons"),
    "assessment_how": ("指标及计算方法", "Indicators and how they are computed"),
    "assessment_targets": ("对照规划目标", "Against the plan's targets"),
    "assessment_targets_help": (
        "各区域期末统计数据与规划目标的对照：数值 / 目标，括号内为达成度（最高 100%）。"
        "目标及其来源见下表；标注“示例”的不是官方目标。",
        "Each area's statistics at the period's end against the plan's targets: figure / target, attainment in "
        "brackets (at most 100 %). The targets and their sources are listed below; one marked “example” is not an "
        "official target.",
    ),
    "target_of": ("目标", "target"),
    "target_year": ("目标年份", "By"),
    "target_source": ("来源", "Source"),
    "target_example": ("示例，非官方目标", "example, not an official target"),
    "target_unset": ("未设目标", "no target set"),
    "target_sent_back": ("退回或不予备案 {}", "sent back or refused: {}"),
    "assessment_indicator": ("指标", "Indicator"),
    "assessment_weight": ("权重", "Weight"),
    "assessment_computed": ("计算方法", "How it is computed"),
    "assessment_details": ("机构情况（仅展示，不计入排名）", "The facilities (shown, not ranked on)"),
    "area_summons": ("约谈记录", "Summonses"),
    "area_summons_help": (
        "约谈排名靠后的下级部门：记录约谈日期、被约谈人和约谈纪要（均为必填），记入操作日志，并在本页和被约谈区域的督导评估页显示。",
        "Summon a lagging department: its date, the people summoned and the minutes (all required); audited, and "
        "shown here and on the summoned area's assessment page.",
    ),
    "summon_area": ("约谈", "Summon"),
    "issue_circular": ("通报", "Circular"),
    "recorded_by": ("记录人", "Recorded by"),
    "err_summons_area": ("请选择被约谈的区域", "Choose the area summoned"),
    "err_summons_who": (
        "只有上级可以约谈：市级约谈县（区），县级约谈本县的乡镇（街道）",
        "Only the level above summons an area: the city a county, a county its own townships",
    ),
    "err_summons_read": ("约谈记录仅供监管部门查阅", "The summonses are for the departments to read"),
    "credit_month": ("月份", "Month"),
    # 督办 that acts (issue #40 item 1)
    "waiting_badge": ("等待您处理的整改通知", "Orders waiting for you"),
    "follow_up": ("督办", "Follow-up from above"),
    "follow_up_help": (
        "催办：向下发层级的监管人员发送督办消息；约谈：记录约谈日期、被约谈人和约谈纪要。均记入整改记录并留痕。",
        "Urge: a message to the inspectors of the issuing level; summons: its date, the people summoned and "
        "the minutes. Both are recorded in the order's history and the audit log.",
    ),
    "urge": ("催办", "Urge"),
    "urge_note": ("催办意见", "Message"),
    "summon": ("记录约谈", "Record the summons"),
    "summons_date": ("约谈日期", "Date"),
    "summons_people": ("被约谈人", "People summoned"),
    "summons_minutes": ("约谈纪要", "Minutes"),
    "late_review": ("回复逾期未验收", "answer left unreviewed"),
    "err_followup_who": (
        "只有下发层级的上级可以督办（催办、约谈）未结的整改通知",
        "Only a level above the issuer follows up (urges, summons) an open order",
    ),
    "err_urge_note": ("请填写催办意见（最多 1000 字）", "Give the message (at most 1,000 characters)"),
    "err_summons": (
        "请填写约谈日期（一年以内）、被约谈人（最多 500 字）和约谈纪要（最多 4000 字）",
        "Give the summons' date (within a year), the people (at most 500 characters) and the minutes (at most 4,000)",
    ),
    # printable documents (issue #40 item 4): the links and the PDFs' text (web/documents.py)
    "doc_number": ("文号", "Document no."),
    "doc_print_order": ("打印整改通知书（PDF）", "Print the rectification notice (PDF)"),
    "doc_print_inspection": ("打印现场检查记录（PDF）", "Print the inspection record (PDF)"),
    "doc_issuer": ("{place}托育机构安全监管部门", "Childcare safety supervision, {place}"),
    "doc_order_title": ("整改通知书", "Rectification notice"),
    "doc_inspection_title": ("现场检查记录", "Inspection record"),
    "doc_draft_no_number": ("草稿（签署后编号）", "Draft (numbered when signed)"),
    "doc_addressee": ("{name}：", "To {name}:"),
    "doc_order_intro": (
        "{date}，{source}，发现你单位存在下列问题。根据托育机构安全监管有关规定，现责令你单位限期整改。",
        "On {date}, {source}, the problems below were found at your facility. Under the rules for the "
        "supervision of childcare facilities, you are ordered to put them right by the date given.",
    ),
    "doc_source_inspection": ("经检查（检查记录 {number}）", "by inspection (record {number})"),
    "doc_source_alert": ("经安全监测平台告警（告警 #{id}）核实", "on an alert of the monitoring platform (#{id})"),
    "doc_source_manual": ("经监管人员核查", "on an inspector's review"),
    "doc_subject": ("一、整改事项", "1. What must be put right"),
    "doc_requirements": ("二、要求与依据", "2. Requirements and grounds"),
    "doc_due": ("三、整改期限", "3. Due date"),
    "doc_order_due": (
        "请于 {due} 前整改完毕，并通过本平台回复整改措施及佐证材料。逾期未整改的，将逐级上报督办。",
        "Put it right by {due} and answer on the platform with the measures taken and evidence. An order "
        "left unanswered past its due date is escalated.",
    ),
    "doc_particulars": ("机构基本情况", "The facility"),
    "doc_facility_name": ("机构名称", "Name"),
    "doc_facility_id": ("机构编号", "Facility id"),
    "doc_area": ("所在地区", "Area"),
    "doc_kind": ("机构类型", "Type"),
    "doc_places": ("托位数", "Places"),
    "doc_classes": ("班级数", "Classes"),
    "doc_hours": ("开放时间", "Opening hours"),
    "doc_photos": ("现场照片", "Photos"),
    "doc_photo_not_shown": ("PDF 文件，未显示", "a PDF file, not shown"),
    "doc_sign_inspectors": (
        "检查人员（签名）：________________  ________________  执法证号：____________",
        "Inspectors (signatures): ________________  ________________  Warrant no.: ____________",
    ),
    "doc_sign_issuer": ("{issuer}（盖章）        {date}", "{issuer} (stamp)        {date}"),
    "doc_cut_here": ("送达回执", "receipt"),
    "doc_receipt_title": ("送达回执", "Receipt"),
    "doc_receipt": (
        "{name}已收到{number}整改通知书。",
        "{name} has received rectification notice {number}.",
    ),
    "doc_sign_receipt": (
        "被检查单位负责人（签名）：________________  签收日期：______年____月____日",
        "For the facility (signature): ________________  Received on: ____-____-____",
    ),
    "doc_sign_facility_opinion": (
        "被检查单位意见：____________________________________________",
        "The facility's comments: ____________________________________________",
    ),
    "doc_how": ("检查情况", "The inspection"),
    "doc_not_countersigned": ("未会签（本记录尚未生效）", "not confirmed (the record is not yet valid)"),
    "doc_inspection_how": (
        "检查方式：{kind}；计划日期：{planned}；检查时间：{at}；计划人：{planned_by}；签署人：{signed_by}；"
        "第二名检查人员：{second}；会签：{confirmed}",
        "Kind: {kind}; planned for: {planned}; inspected: {at}; planned by: {planned_by}; signed by: {signed_by}; "
        "second inspector: {second}; confirmed: {confirmed}",
    ),
    "doc_findings": ("检查项目及结果", "Checklist and findings"),
    "doc_item": ("检查项目", "Item"),
    "doc_basis": ("依据", "Basis"),
    "doc_result": ("结果", "Result"),
    "doc_note": ("说明", "Note"),
    "doc_notes": ("其他情况", "Other observations"),
    "grade": ("等级", "Grade"),
    "provisional": ("本月尚未结束，评分为暂定", "The month is in progress: provisional"),
    "by_grade": ("按等级", "By grade"),
    "figures": ("依据", "Figures"),
    "appeal": ("申诉", "Appeal"),
    "appeal_help": (
        "对本月评价有异议可提交申诉说明，由监管部门复核。",
        "Disagree? Explain here; the supervising department reviews it.",
    ),
    "err_month": ("月份格式应为 年-月，例如 2026-11", "The month is YYYY-MM, e.g. 2026-11"),
    "err_year": ("年度应为四位数字，例如 2026", "The year is four digits, e.g. 2026"),
    "err_appeal_note": ("请填写申诉说明（最多 4000 字）", "Write the appeal (at most 4,000 characters)"),
    "err_appeal_who": ("由本机构管理员提出申诉", "The facility's operator appeals its grade"),
    "err_appeal_pending": ("本月已有一项申诉待复核，请等待决定", "An appeal of this month awaits a decision already"),
    "err_appeal_decided": ("该申诉已作出决定，决定不可更改", "The appeal was decided already: a decision is final"),
    "err_appeal_month": (
        "该月评价尚未存档，月份结束后方可申诉",
        "The month is not recorded yet: appeal once it has ended",
    ),
    "err_appeal_decision": ("请选择采纳或驳回", "Accept or reject the appeal"),
    "err_appeal_reason": (
        "请填写决定理由（最多 4000 字）",
        "Give the reason for the decision (at most 4,000 characters)",
    ),
    "err_appeal_score": ("更正后的分数应为 0 到 100 之间的数字", "The corrected score is a number from 0 to 100"),
    "err_appeal_decide_who": ("申诉由县级或市级监管人员复核决定", "A county or city inspector decides an appeal"),
    "appeals": ("申诉记录", "Appeals"),
    "appeal_status": ("状态", "State"),
    "appeal_pending": ("待复核", "Awaiting a decision"),
    "appeal_accepted": ("已采纳", "Accepted"),
    "appeal_rejected": ("已驳回", "Rejected"),
    "appeal_filed": ("提出", "Filed"),
    "appeal_decided": ("决定", "Decided"),
    "appeal_change": (
        "分数由 {before}（{gb}）更正为 {after}（{ga}）",
        "Score corrected from {before} ({gb}) to {after} ({ga})",
    ),
    "appeal_reason": ("理由", "Reason"),
    "appeal_decide": ("复核申诉", "Decide the appeal"),
    "appeal_score": ("更正后的分数（采纳时填写）", "Corrected score (when accepting)"),
    "appeal_accept": ("采纳并更正分数", "Accept and correct the score"),
    "appeal_reject": ("驳回", "Reject"),
    "return_due": ("新的整改期限（退回时必填）", "New due date (required to send back)"),
    "return_due_help": (
        "自现在起 {days} 天以内。退回的答复不算按期整改。",
        "Within {days} days from now. An answer sent back is not on time.",
    ),
    "err_return_due": (
        "退回时须设定新的整改期限：晚于现在，且不超过 {days} 天",
        "Sending back needs a new due date: after now, within {days} days",
    ),
    "first_due_at": ("原定期限", "Original due date"),
    "credit_method": (
        "评价方法（{version}）：满分 100 分，只计机构自身可控的情况。① 失职时长：缺保安、师幼比不达标、"
        "无资质或禁止从业人员在岗按开放时间的占比计分，安全出口受阻、灭火器压力异常按全月时长占比计分"
        "（每 1% 分别扣 1、1、1.5、1.5、1.5、0.25 分）；条件持续时间从发生起算，短于告警门槛的片段同样计入，"
        "相隔不到 5 分钟的片段连为一段；保安超过 2 小时未巡更的时段计为缺保安。② 设备静默按失职计：平台正常接收期间，"
        "某项规则所依据的设备（门禁、安全出口、灭火器压力表，以及视频监控、火灾探测器）中静默的比例，"
        "按该项失职同时发生计分（视频监控按开放时间、火灾探测按全月，每 1% 各扣 1 分）；某类设备一台都未登记，"
        "全时按静默计；平台自身中断的时段不计。关掉设备不会比如实上报得分更高。其他设备缺数据每缺 1% 设备小时扣 0.5 分"
        "（最多 15 分）。③ 告警响应：危急、严重告警须在首次上报时限内确认，逾时扣 1 分，未确认扣 3 分；"
        "某项设备静默超过 1 小时的开放日、拆分成短片段的失职，各按一条未确认告警计（最多 20 分）；确认不终止失职时长。"
        "④ 整改：按原定期限回复并验收通过才算按期，被退回的回复不算，逾期每件扣 3 分（最多 20 分）。"
        "⑤ 检查：已签字检查记录的不符合项每项扣 2 分（最多 20 分）。正确使用不扣分：及时确认并说明的一键报警、火警，"
        "自检。维护时段经监管人员批准，只对监管人员屏蔽所维护设备的健康告警，不抵扣任何扣分。① 与 ② 合计最多扣 60 分。"
        "等级：{grades}。",
        "Method ({version}): from 100, only what the facility controls. (1) Lapses: minutes without a guard, below the "
        "carer ratio, unqualified or banned staff on site, as a share of opening time; exits obstructed and "
        "extinguishers out of range as a share of the month (1, 1, 1.5, 1.5, 1.5 and 0.25 points per 1 %); a "
        "condition counts from when it began, pieces too short to alert count too, and pieces less than 5 minutes "
        "apart are one; time a guard went more than 2 hours without a patrol scan counts as no guard. "
        "(2) Silent devices are charged as lapses: while the platform was receiving, the share of the devices a rule "
        "judges by (door controllers, exits, extinguisher gauges, and cameras and fire detectors) that sent nothing "
        "counts as that rule's lapse for the time (cameras over opening time, fire detection over the month, 1 point "
        "per 1 % each); a kind with no device registered is silent all the time; the platform's own outages do not "
        "count. Switching a device off never scores better than reporting. Other devices' missing data costs 0.5 per "
        "1 % of device-hours (at most 15). (3) Response: critical and major alerts acknowledged within their first "
        "escalation step; later costs 1, never 3; an opening day with an hour or more of a rule's devices silent, and "
        "a lapse split into pieces too short to alert, each count as an alert never acknowledged (at most 20); an "
        "acknowledgement does not stop a lapse's minutes. (4) Orders: on time only when answered by the original "
        "due date and accepted; an answer sent back does not count; 3 each late (at most 20). (5) Failed items of "
        "signed inspections: 2 each (at most 20). Correct use costs nothing: a panic or fire alarm acknowledged in "
        "time with its note, self-tests. Maintenance windows, approved by an inspector, keep the health alerts of the "
        "devices under work from the supervisors and excuse nothing. (1) and (2) together at most 60. "
        "Grades: {grades}.",
    ),
    "inspections": ("检查记录", "Inspections"),
    "inspections_help": (
        "监管人员计划并记录现场或远程检查：按检查清单逐项判定，填写说明、上传照片并签字确认；签字后记录不可更改。"
        "检查记录须两名检查人员：签字人指定第二名检查人员，其用本人账号会签后记录方才有效。"
        "不符合项可据此下发整改通知。",
        "Inspectors plan and record site visits and remote inspections: a finding per checklist item, notes, "
        "photos and a signature; a signed record does not change. A record needs two officers: the one who signs "
        "names the second, and it counts once the second has confirmed it on their own account. "
        "A failed item can become a rectification order.",
    ),
    "inspection": ("检查记录", "Inspection"),
    "inspect_kind": ("检查方式", "Kind"),
    "planned_for": ("计划日期", "Planned for"),
    "failed_items": ("不符合项", "Failed items"),
    "inspector": ("检查人", "Inspector"),
    "department": ("部门", "Department"),
    "own_department_mark": ("（本部门）", "(yours)"),
    "joint_inspection": ("联合检查", "Joint inspection"),
    "joint_with": ("联合检查（勾选参加的其他部门）", "Joint inspection (tick the other departments taking part)"),
    "joint_signed": ("各部门均已签字确认", "Every department's part signed"),
    "joint_open": ("{0}/{1} 个部门已签字确认", "{0} of {1} departments' parts signed"),
    "signed_by": ("签字确认", "Signed by"),
    "check_item": ("检查项目", "Item"),
    "finding": ("检查结果", "Finding"),
    "item_note": ("说明", "Note"),
    "basis": ("依据", "Basis"),
    "notes": ("检查意见", "Notes"),
    "photos": ("现场照片（JPG、PNG 或 PDF，最多 3 个）", "Photos (JPG, PNG or PDF, up to 3)"),
    "save_draft": ("保存", "Save"),
    "sign_off": ("签字确认", "Sign"),
    "sign_help": (
        "签字前须逐项填写检查结果并指定第二名检查人员；签字后不可更改，经第二名检查人员会签后生效。",
        "Every item needs a finding and a second inspector before signing; signed, it does not change, and it "
        "counts once the second inspector has confirmed it.",
    ),
    "second_inspector": ("第二名检查人员（会签）", "Second inspector (confirms)"),
    "second_choose": ("请选择", "Choose"),
    "countersigned_by": ("会签", "Confirmed by"),
    "countersign_awaiting": (
        "待会签：本记录须经第二名检查人员 {} 用本人账号确认后方为有效检查记录，确认前不计入检查。",
        "Awaiting the second officer: {} must confirm this record on their own account; until then it does not "
        "count as an inspection.",
    ),
    "countersign_confirm": ("确认会签", "Confirm as second officer"),
    # the awaiting notice's link to the form below: not the button's own name, so the page has one 确认会签
    "countersign_go": ("去会签 ↓", "Go to the confirmation ↓"),
    "countersign_confirm_help": (
        "确认本人作为第二名检查人员在场参与了本次检查，并核对了上述检查结果。",
        "I confirm I was present at this inspection as its second officer and have checked the findings above.",
    ),
    "countersign_mine": ("待我会签", "Awaiting my confirmation"),
    "receipt": ("签收", "Receipt"),
    "receipt_done": ("已签收", "acknowledged"),
    "receipt_not": ("未签收", "not acknowledged"),
    "receipt_overdue": ("逾期未签收", "receipt overdue"),
    "receipt_acknowledge": ("签收整改通知", "Acknowledge receipt"),
    "receipt_help": (
        "确认本机构已收到本整改通知；签收时间以平台记录时间为准。",
        "Confirms the facility has received this order; the time of receipt is the platform's.",
    ),
    "err_receipt_who": ("只有被检查机构的账号可以签收整改通知", "Only the facility's operator acknowledges receipt"),
    "err_receipt_time": (
        "签收时间以平台记录时间为准，不能填写",
        "The time of receipt is the platform's: it is not given",
    ),
    "err_receipt_done": ("该整改通知已签收", "The order's receipt is acknowledged already"),
    "err_second_missing": (
        "检查记录须由两名检查人员签署：请指定第二名检查人员",
        "An inspection record is signed by two officers: name the second inspector",
    ),
    "err_second_self": ("第二名检查人员不能是签字人本人", "The second officer is someone other than the one who signs"),
    "err_second_unknown": ("没有该检查人员账号", "No such inspector account"),
    "err_second_scope": (
        "该检查人员的辖区不包括本机构，不能参与本次检查",
        "That inspector's area does not include this facility",
    ),
    "err_second_not_drawn": (
        "本次检查由双随机抽取确定检查人员（{a}、{b}），第二名检查人员须为其中之一",
        "The draw picked {a} and {b} for this inspection: the second officer is one of them",
    ),
    "drawn_pair": ("双随机抽取的检查人员：{} 、{}", "Drawn at random to inspect: {} and {}"),
    "err_second_department": (
        "第二名检查人员须为本检查所属部门（{department}）的执法人员",
        "The second officer is an officer of the inspection's department ({department})",
    ),
    "err_department_kind": (
        "{department}部门只检查托幼一体（幼儿园托班）机构",
        "{department} inspects kindergarten nursery classes only",
    ),
    "err_department_record": (
        "本次检查属于{department}部门，只能由该部门的检查人员记录、签字",
        "This inspection is {department}'s: its officers record and sign it",
    ),
    "err_department_order": (
        "该检查记录属于{department}部门，其整改通知只能由该部门下达",
        "The record is {department}'s: only its officers issue its orders",
    ),
    "err_department_alert": (
        "该告警不属于{department}部门的检查事项：由卫健或其所涉部门下达整改通知",
        "This alert is not {department}'s to order: the health commission or the department it concerns issues it",
    ),
    "err_department_manual": (
        "{department}部门依据本部门的检查记录（或涉及本部门的告警）下达整改通知",
        "{department} issues orders from its inspection records (or alerts that concern it)",
    ),
    "err_joint_departments": (
        "联合检查须选择两个及以上部门，每个部门一次，并包括本部门（{department}）",
        "A joint inspection names two or more departments, each once, yours ({department}) among them",
    ),
    "err_department_review": (
        "整改通知由下达部门验收或退回",
        "The order's department accepts or sends it back",
    ),
    "err_author_not_drawn": (
        "本次检查由双随机抽取确定检查人员（{a}、{b}），只能由抽中的两人记录、签字",
        "The draw picked {a} and {b} for this inspection: they record and sign it",
    ),
    "err_countersign_who": (
        "只有记录中指定的第二名检查人员可以会签",
        "Only the second inspector named on the record confirms it",
    ),
    "err_countersign_own": ("不能会签本人签字的检查记录", "Nobody confirms a record they signed"),
    "err_countersign_state": ("该检查记录不在待会签状态", "The record is not awaiting a second officer"),
    "plan_inspection": ("计划检查", "Plan an inspection"),
    "err_inspect_who": (
        "只有监管人员或系统管理员可以计划和记录检查",
        "Only an inspector or an admin plans and records inspections",
    ),
    "err_inspect_kind": ("请选择检查方式", "Choose the kind of inspection"),
    "err_inspect_date": ("计划日期须在一个月前至一年后之间", "The date must be from a month ago to a year ahead"),
    "err_findings": (
        "检查结果有误：每项为符合、不符合或不适用，说明最多 500 字",
        "Each finding is meets, fails or not applicable, with a note of at most 500 characters",
    ),
    "err_sign_incomplete": ("还有 {n} 项未填写检查结果，不能签字", "{n} items have no finding yet: not signed"),
    "err_inspection_signed": ("检查记录已签字确认，不能更改", "The inspection is signed: it does not change"),
    "err_order_inspection": (
        "该检查记录不属于此机构或尚未签字",
        "That inspection is not a signed one of this facility",
    ),
    "err_files_many": ("佐证材料最多 {n} 个", "At most {n} evidence files"),
    "err_file_big": ("{name}：文件不能超过 5 MB", "{name}: a file is at most 5 MB"),
    "err_file_type": ("{name}：只接受 JPG、PNG 或 PDF 文件", "{name}: only JPEG, PNG or PDF"),
    "err_order_who": ("只有监管人员或系统管理员可以下发整改通知", "Only an inspector or an admin issues an order"),
    "err_order_title": ("请填写整改事项（最多 200 字）", "Give the subject (at most 200 characters)"),
    "err_order_detail": ("要求与依据最多 4000 字", "Requirements are at most 4,000 characters"),
    "err_order_due": (
        "整改期限须在今后 {days} 天之内（涉及生命安全的须立即整改，1 天之内）",
        "The due date must be within {days} days (a life-safety finding: at once, within 1 day)",
    ),
    "err_order_alert": ("该告警不属于此机构", "That alert is not of this facility"),
    "err_answer_who": ("由本机构管理员回复整改情况", "The facility's operator answers the order"),
    "err_answer_note": ("请填写整改措施（最多 4000 字）", "Describe the measures taken (at most 4,000 characters)"),
    "err_order_state": ("整改通知当前状态不允许此操作", "The order's state does not allow this step"),
    "err_review_who": ("由下发层级或上级验收", "The issuing level or above reviews the order"),
    "err_return_note": ("退回时请填写意见（最多 4000 字）", "Say why it is sent back (at most 4,000 characters)"),
    "err_recheck_note": ("复查说明最多 4000 字", "The note on the re-inspection is at most 4,000 characters"),
    "err_note_long": ("处置说明最多 2000 字", "The note is at most 2,000 characters"),
    "err_whereabouts_note": (
        "请填写幼儿现在何处、由谁照看（至少4个字或字母数字，标点和空格不计）",
        "Say where the child is and who is with the child (at least 4 letters or digits)",
    ),
    "err_whereabouts_alert": (
        "该告警不是仍在处理中的“幼儿未被接走”告警",
        "That alert is not an active alert about a child still on site",
    ),
    "err_note_required": (
        "确认危急或严重告警须填写现场核实和处置情况（至少4个字或字母数字，标点和空格不计）",
        "Acknowledging a critical or major alert needs a note of what was found and done"
        " (at least 4 letters or digits; spaces and punctuation do not count)",
    ),
    "err_window_decide_who": (
        "只有辖区监管人员或系统管理员可以审批维护时段",
        "Only an inspector in scope or an admin approves or rejects a maintenance window",
    ),
    "err_window_own": ("不能审批自己申请的维护时段", "Nobody decides a maintenance window they requested"),
    "err_window_withdraw_who": (
        "只有申请人或本机构管理员可以撤回申请",
        "Only the requester or the facility's operator withdraws a request",
    ),
    "err_window_state": ("该维护时段已审批或已撤回", "The window has been decided or withdrawn already"),
    "err_window_begun": (
        "该维护时段已经开始，不能再批准（否则等于追认过去）；请机构重新申请",
        "The window has begun: approving it now would excuse the past; the facility asks again",
    ),
    "err_window_reject_reason": ("驳回须填写理由", "A rejection needs a reason"),
    "err_window_past_start": (
        "维护时段须事先申请，开始时间不得早于当前（允许 {minutes} 分钟误差）",
        "A window is announced before the work: it cannot start in the past (more than {minutes} minutes ago)",
    ),
    "err_window_month": (
        "每机构每月维护时段合计不超过 {hours} 小时；{month} 已批准或待审批 {used} 小时，本时段将超出",
        "Maintenance windows are at most {hours} hours a month per facility; {month} has {used} h approved or "
        "requested already, and this window would pass it",
    ),
    "err_no_device": ("设备 {device} 不属于该机构", "Device {device} is not a device of this facility"),
    "err_reason_long": ("原因最多 500 字", "The reason is at most 500 characters"),
    "err_window_times": ("请填写开始和结束时间", "Give a start and an end"),
    "err_window_order": ("结束时间须晚于开始时间", "The end must be after the start"),
    "err_window_long": ("维护时段每段最长 {hours} 小时", "A maintenance window is at most {hours} hours"),
    "err_registry_who": ("只有系统管理员可以导入档案", "Only an admin may load a registry"),
    "err_registry": ("档案文件有误：{detail}", "The registry file is not valid: {detail}"),
    "err_choose_file": ("请选择档案文件（YAML 或 JSON）", "Choose a registry file (YAML or JSON)"),
    "err_not_utf8": ("档案文件须为 UTF-8 编码的文本", "The registry must be UTF-8 text"),
    "err_channel": ("请选择通知渠道", "Choose a channel"),
    "err_wecom_key": (
        "企业微信机器人的 key 不正确（8–64 位字母、数字或连字符）",
        "The WeCom robot key is not valid (8–64 letters, digits or hyphens)",
    ),
    "err_dingtalk_token": (
        "钉钉机器人的 access_token 不正确（16–128 位字母或数字）",
        "The DingTalk access_token is not valid (16–128 letters or digits)",
    ),
    "err_dingtalk_secret": ("钉钉加签密钥不正确", "The DingTalk signing secret is not valid"),
    "err_email": ("邮箱地址不正确", "The e-mail address is not valid"),
    "err_facilities": ("机构编号不正确或不在您的监管范围内", "A facility id is not valid or not in your scope"),
    "err_severity": ("请选择最低级别", "Choose a minimum severity"),
    "err_quiet": (
        "免打扰时段需填写开始和结束时间（时:分），且二者不同",
        "Quiet hours need a start and an end (HH:MM), not the same",
    ),
    "err_lang": ("请选择消息语言", "Choose a message language"),
    # pick-up delegates (接送委托, issue #39 item 3)
    "delegates": ("接送委托人", "Pick-up delegates"),
    "delegates_help": (
        "除登记的监护人外，经家长同意可委托他人接送幼儿（长期或一次性）。仅本机构管理员可登记或撤销，须记录家长同意"
        "（上传签字委托书，或记录同意方式的说明）；有效期开始时间不得早于当前，委托自登记时起生效，不能覆盖登记前的接送，"
        "已产生的告警不受影响。监管人员可查看，不能修改。",
        "Besides the registered guardians, someone the parents authorise may collect a child (standing or "
        "one-off). Only the facility's operator records or revokes one, with the parents' consent (a signed form "
        "uploaded, or a note of how it was given); the validity starts no earlier than now and counts from the "
        "recording on, so it never covers an earlier pick-up, and an alert already raised stays. Inspectors see "
        "the list, read-only.",
    ),
    "child": ("幼儿", "Child"),
    "delegate_person": ("接送人卡号/编号", "Collector's badge id"),
    "delegate_name": ("姓名", "Name"),
    "relation": ("关系", "Relation"),
    "delegate_kind": ("类型", "Kind"),
    "valid_from": ("生效", "Valid from"),
    "valid_until": ("失效", "Valid until"),
    "delegate_state": ("状态", "State"),
    "consent": ("家长同意", "Parents' consent"),
    "consent_by": ("同意的监护人", "Consenting guardian"),
    "consent_method": ("同意方式", "How consent was given"),
    "consent_at": ("同意时间", "Consent given at"),
    "consent_note": ("同意说明", "Consent note"),
    "consent_file": ("签字委托书", "Signed consent form"),
    "photo": ("照片", "Photo"),
    "add_delegate": ("登记接送委托人", "Record delegate"),
    "revoke_delegate": ("撤销", "Revoke"),
    "revoke_reason": ("撤销原因", "Reason"),
    "first_used": ("已于{0}接走", "collected at {0}"),
    "err_delegate_who": (
        "只有本机构管理员可以登记或撤销接送委托人",
        "Only the facility's operator records or revokes a delegate",
    ),
    "err_delegate_child": ("该幼儿不在本机构登记名册中", "That child is not in the facility's registry"),
    "err_delegate_field": ("请填写{field}", "{field} is required"),
    "err_delegate_kind": ("类型须为长期或一次性", "Kind must be standing or one-off"),
    "err_delegate_relation": ("请选择与幼儿的关系", "Choose the relation to the child"),
    "err_delegate_guardian": ("此人已是登记的监护人", "That person is a registered guardian already"),
    "err_delegate_staff": (
        "本机构工作人员不能作为接送委托人（机构不能自我授权）",
        "A member of the facility's staff cannot be a delegate: the facility would authorise itself",
    ),
    "err_delegate_order": ("失效时间须晚于生效时间", "Valid until must be after valid from"),
    "err_delegate_past": (
        "生效时间不得早于当前 {minutes} 分钟以上：委托不能覆盖已发生的接送",
        "The validity cannot start more than {minutes} minutes ago: a delegate never covers a past pick-up",
    ),
    "err_delegate_long": ("该类型委托最长 {days} 天", "This kind of delegate is valid for at most {days} days"),
    "err_delegate_revoked": ("该委托已撤销", "The delegate is revoked already"),
    "err_consent_by": ("须由幼儿登记的监护人同意", "Consent must come from one of the child's registered guardians"),
    "err_consent_method": ("请选择同意方式", "Choose how consent was given"),
    "err_consent_file": ("请上传签字委托书", "Upload the signed consent form"),
    "err_consent_note": (
        "同意说明至少 {n} 个字：由谁、以何种方式、何时同意",
        "The consent note says who consented, how and when, in at least {n} characters",
    ),
    "err_consent_future": ("同意时间不能晚于当前", "Consent cannot be given in the future"),
    "err_consent_old": (
        "家长同意已超过 {days} 天，请重新取得",
        "Consent older than {days} days: ask the parents again",
    ),
    "calendar_missing": (
        "{}年节假日安排尚未录入：国务院办公厅的通知发布后，请按说明文档录入全国节假日安排文件并核对；"
        "在此之前，该年的调休上班日会被当作休息日。",
        "The {} holiday arrangement is not entered yet: once the State Council's notice is out, enter it in"
        " contract/data/cn-holidays.yaml (CONTRACT §3, The national calendar) and run carewatch calendar check;"
        " until then that year's make-up working days are taken for days off.",
    ),
    # closures (issue #42 item 4; web/pages/closures.py)
    "closures": ("停课停园", "Closures"),
    "closures_help": (
        "县级停课（天气、疫情等）由县级或市级监管人员发布，当天起即生效，适用于全县或所列机构；"
        "机构自行停园须由机构提前申请（最早次日），经乡镇、县级或市级监管人员在首日之前批准后生效，申请人不能审批自己的申请。"
        "未批准的申请不改变任何判断。停课停园日不要求保安在岗、师幼比、考勤和巡更；但当天如有幼儿刷卡入园，"
        "仍按开园日判断保安、师幼比、巡更和幼儿未接走。",
        "A county's closure (weather, an epidemic) is declared by a county or city inspector, in effect from the day"
        " it is declared, for the whole county or the facilities named. A facility's own closure is requested in"
        " advance (tomorrow at the earliest) and takes effect once a township, county or city inspector approves it"
        " before its first day; nobody approves their own request, and a request not approved changes nothing. On a"
        " closed day no guard, carer ratio, attendance or patrol is expected; but if children are badged in, guards,"
        " the ratio, patrols and children not collected are judged as on an open day.",
    ),
    "closure_kind": ("类别", "Kind"),
    "closure_covers": ("范围", "Covers"),
    "closure_whole_county": ("{}全部机构", "every facility of {}"),
    "first_day": ("首日", "First day"),
    "last_day": ("末日", "Last day"),
    "declare_closure": ("发布县级停课", "Declare a county closure"),
    "closure_facilities": ("涉及机构（留空为全县）", "Facilities (empty: the whole county)"),
    "closure_facilities_hint": ("机构编号，以逗号分隔", "facility ids, separated by commas"),
    "request_closure": ("申请机构停园", "Request a facility closure"),
    "err_closure_order": ("末日不能早于首日", "The last day cannot be before the first"),
    "err_closure_long": ("每次停课停园最长 {days} 天", "A closure is at most {days} days"),
    "err_closure_past": ("停课不能从过去的日期开始", "A closure cannot begin in the past"),
    "err_closure_tomorrow": (
        "机构停园须在首日之前申请（最早为次日）；当天停课由县级发布",
        "A facility's closure is requested before its first day (tomorrow at the earliest); a closure for today"
        " is the county's to declare",
    ),
    "err_closure_declare_who": (
        "只有县级、市级监管人员或系统管理员可以发布县级停课",
        "Only a county or city inspector or an admin declares a county's closure",
    ),
    "err_closure_county": (
        "县级监管人员只能发布本县的停课",
        "A county inspector declares closures of their own county",
    ),
    "err_closure_county_code": ("请填写县（市、区）的 6 位代码", "Give the county's 6-digit code"),
    "err_closure_facilities": ("机构编号有误或不属于该县：{ids}", "Not a facility of that county: {ids}"),
    "err_closure_days": ("请填写首日和末日", "Give the first and the last day"),
    "err_closure_reason": ("请填写停课停园原因", "Say why (the reason)"),
    "err_closure_decide_who": (
        "只有辖区监管人员或系统管理员可以审批停园申请",
        "Only an inspector in scope or an admin approves or rejects a closure",
    ),
    "err_closure_own": ("不能审批自己提出的停园申请", "Nobody decides a closure they requested"),
    "err_closure_withdraw_who": (
        "只有申请人或本机构管理员可以撤回申请",
        "Only the requester or the facility's operator withdraws a request",
    ),
    "err_closure_state": ("该申请已审批或已撤回", "The closure has been decided or withdrawn already"),
    "err_closure_begun": (
        "停园首日已到，不能再批准（否则可能为实际开园的日子免责）；请机构重新申请",
        "The closure's first day has come: approving it now would excuse a day the facility may have been open;"
        " the facility asks again",
    ),
    "err_closure_reject_reason": ("驳回须填写理由", "A rejection needs a reason"),
}
_ANSWER_DAYS = ANSWER_PERIOD.days
# The public page and parents' complaints (issue #40 item 7: web/pages/public.py, web/pages/complaints.py)
_PUBLIC = {
    "public_nav": ("机构信息公示", "Public register"),
    "public_title": ("托育机构信息公示", "Childcare facilities: public register"),
    "public_help": (
        "依据忻州市托育服务工作要求公开：机构的备案情况、托位、已结束月份的诚信评价等级和已整改完毕的整改通知摘要。"
        "不公开任何个人信息。",
        "Published for social supervision: each facility's filing status, places, the credit grades of closed"
        " months and the summaries of closed rectification orders. No personal data is published.",
    ),
    "public_search": ("查看", "Show"),
    "public_area": ("所在区域", "Area"),
    "public_filing": ("备案状态", "Filing status"),
    # only an accepted filing is 备案 (storage.public.filed); being in the registry is not (a newcomer read
    # "已在监管平台登记备案" on a facility the county had not filed)
    "public_filed_no": ("已备案，备案号 {}（{}）", "Filed, number {} ({})"),
    "public_not_filed": ("未备案", "Not filed"),
    "public_filed": ("已备案", "Filed"),  # the list's column, beside "Not filed" (filing_state's is lower case)
    "public_places": ("托位数", "Places"),
    "public_classes": ("{n}个班，{places}个托位", "{n} classes, {places} places"),
    "age_infant": ("乳儿班（6-12个月）", "Infant class (6-12 months)"),
    "age_toddler": ("托小班（12-24个月）", "Toddler class (12-24 months)"),
    "age_older": ("托大班（24-36个月）", "Older class (24-36 months)"),
    "age_mixed": ("混龄班", "Mixed-age class"),
    "facility_kind": ("机构类型", "Type"),
    "public_grades": ("诚信评价等级", "Credit grades"),
    "public_grades_help": (
        "仅公示已结束的月份；本月尚未结束，不公示。",
        "Closed months only; the running month is not shown.",
    ),
    "public_month": ("{y}年{m}月", "{y}-{m:02d}"),
    "public_orders": ("已整改完毕的整改通知", "Closed rectification orders"),
    "public_orders_help": (
        "下达日期、问题类别和整改验收日期；不含检查人员的文字记录。",
        "Date issued, kind of finding and date closed; no inspector's text.",
    ),
    "public_issued_on": ("下达", "Issued"),
    "public_category": ("问题类别", "Finding"),
    "public_closed_on": ("整改完毕", "Closed"),
    "complaints": ("投诉", "Complaints"),
    "complaint": ("投诉", "Complaint"),
    "complaints_help": (
        f"家长通过公示页面提交的投诉。县级监管人员须在提交后{_ANSWER_DAYS}天内答复；逾期未答复的投诉转市级督办。",
        f"Complaints filed by parents on the public page. The county answers within {_ANSWER_DAYS} days of filing;"
        " one unanswered by then goes to the city (督办).",
    ),
    "complaints_badge": ("等待您处理的投诉", "Complaints waiting for you"),
    "complaint_file": ("投诉该机构", "File a complaint about this facility"),
    "complaint_file_help": (
        "投诉将转交机构所在县（市、区）的监管部门，须在{days}天内答复。机构看不到您的联系方式。",
        "The complaint goes to the county's inspectors, who answer within {days} days. The facility never sees"
        " your contact.",
    ),
    "complaint_what": ("发生了什么", "What happened"),
    "complaint_when": ("发生日期", "Day it happened"),
    "complaint_contact": ("联系方式（选填）", "Contact (optional)"),
    "complaint_contact_help": (
        "仅处理投诉的监管人员可见，不公开，也不告知机构。",
        "Seen only by the inspectors who handle the complaint; never published, never told to the facility.",
    ),
    "complaint_no_captcha": (
        "为防止滥用，每个网络地址提交投诉的次数有限制。",
        "To prevent abuse, each network address may file only a few complaints.",
    ),
    "complaint_submit": ("提交投诉", "File the complaint"),
    "complaint_filed": ("投诉已提交", "Complaint filed"),
    "complaint_code_once": (
        "请记下您的查询码。查询码只显示这一次，凭它可查询处理进度和答复：",
        "Write down your follow-up code. It is shown only this once; with it you follow the complaint and read"
        " the answer:",
    ),
    "complaint_due": ("监管部门应在{}前答复。", "The department answers by {}."),
    "complaint_follow": ("查询投诉处理进度", "Follow a complaint"),
    "complaint_code": ("查询码", "Follow-up code"),
    "complaint_look": ("查询", "Look up"),
    "complaint_filed_at": ("提交时间", "Filed"),
    "complaint_due_at": ("答复期限", "Answer due"),
    "complaint_answer": ("监管部门答复", "The department's answer"),
    "complaint_answered_at": ("答复时间", "Answered"),
    "complaint_level": ("督办层级", "Supervised at"),
    "complaint_open": ("未答复", "open"),
    "complaint_overdue": ("逾期未答复", "overdue"),
    "complaint_received": ("已收到", "received"),
    "complaint_handling": ("处理中", "being handled"),
    "complaint_answered": ("已答复", "answered"),
    "complaint_closed": ("已办结", "closed"),
    "complaint_step_filed": ("提交", "filed"),
    "complaint_step_handling": ("受理", "taken in hand"),
    "complaint_step_answered": ("答复", "answered"),
    "complaint_step_closed": ("办结", "closed"),
    "complaint_public": ("投诉人", "complainant"),
    "complaint_contact_hidden": ("（仅处理投诉的层级可见）", "(only for the level that handles it)"),
    "complaint_answer_text": (
        "答复（将向投诉人公开）或受理说明",
        "Answer (the complainant reads it) or a note on taking it in hand",
    ),
    "complaint_handle": ("受理", "Take in hand"),
    "complaint_do_answer": ("答复", "Answer"),
    "complaint_close": ("办结", "Close"),
    "err_complaint_what": ("请用{lo}至{hi}个字说明发生了什么", "Say what happened in {lo} to {hi} characters"),
    "err_complaint_day": ("请填写发生日期", "Give the day it happened"),
    "err_complaint_day_range": (
        "发生日期须为今天或一年以内",
        "The day it happened is today or within the past year",
    ),
    "err_complaint_contact": ("联系方式最多{n}个字", "A contact is at most {n} characters"),
    "err_complaint_code": ("请填写提交投诉时显示的查询码", "Give the follow-up code you were shown"),
    "err_complaint_code_unknown": ("没有与该查询码对应的投诉", "No complaint has this code"),
    "err_complaint_who": ("投诉由县级和市级监管人员处理", "Complaints are handled by the county and the city"),
    "err_complaint_step": ("无效的操作", "Not a step of a complaint"),
    "err_complaint_state": ("该投诉当前状态不允许此操作", "The complaint's state does not allow this step"),
    "err_complaint_answer": ("答复须为1至{n}个字", "An answer is 1 to {n} characters"),
    "err_public_limited": ("请求过于频繁，请稍后再试", "Too many requests; try again shortly"),
}
_MORE.update(_PUBLIC)
for _k, (_zh, _en) in _MORE.items():
    TEXT["zh"][_k] = _zh
    TEXT["en"][_k] = _en

# 登记备案 (issue #39 item 1; web/pages/filing.py)
_FILING = {
    "filing": ("登记备案", "Filing"),
    "filing_help": (
        "机构向所在县卫生健康部门备案（《托育机构登记和备案办法（试行）》）：提交机构信息、托位与班级、场所、工作人员和证明材料；"
        "县级监管人员在5个工作日内审核，予以备案（发备案号）、退回补正或不予备案。备案后的变更同样需审核；审核通过前，"
        "监测规则和诚信评价仍按最后一次通过的信息判断。逾期未审核的上报市级督办。",
        "A facility files with its county's health department: its particulars, places and classes, rooms, staff and"
        " documents; a county inspector reviews within 5 working days: files it (with a number), returns it for"
        " correction or refuses it. Changes after filing are reviewed the same way; until then the rules and the credit"
        " evaluation judge by the last accepted particulars. A review past its deadline goes up to the city.",
    ),
    "filing_state": ("备案状态", "Filing"),
    "filing_number": ("备案号", "Filing number"),
    "filing_due": ("审核期限", "Review due"),
    "filing_overdue": ("审核逾期，已报市级督办", "review overdue: with the city"),
    "filing_judged": ("当前监管依据（最后一次通过的信息）", "What supervision judges by now (last accepted)"),
    "filing_places": ("托位", "Places"),
    "filing_history": ("备案记录", "Filings"),
    "filing_submitted": ("提交于", "Submitted"),
    "filing_reviewed": ("审核于", "Reviewed"),
    "filing_reasons": ("理由", "Reasons"),
    "filing_address": ("地址", "Address"),
    "filing_organiser": ("举办者", "Organiser"),
    "filing_valid_until": ("有效期至", "valid until"),
    "filing_doc_number": ("编号", "number"),
    "filing_particulars": (
        "机构信息（班级、工作人员、设备，登记表格式）",
        "Particulars (classes, staff, devices; registry format)",
    ),
    "filing_particulars_help": (
        "不上传则按当前信息（或被退回的备案内容）提交；如有变更（新增班级、调整托位、人员或设备变动），请下载当前信息，修改后上传。",
        "Without a file the particulars are filed as they are now (or as in the returned filing); for a change (a new"
        " class, places, staff or devices), download them, edit and upload.",
    ),
    "filing_particulars_download": ("下载当前机构信息", "Download the particulars"),
    "filing_submit": ("提交备案", "Submit the filing"),
    "filing_accept": ("予以备案", "Accept"),
    "filing_return": ("退回补正", "Return for correction"),
    "filing_refuse": ("不予备案", "Refuse"),
    "filing_waiting": ("待处理的备案", "Filings waiting"),
    "filing_if_accepted": ("予以备案后与现行信息相比", "If accepted, against what is judged now"),
    "filing_missing": ("将缺少必备设备", "required equipment it would lack"),
    "filing_unfit": (
        "与当前档案不符（如删除了仍有幼儿的班级），无法予以备案",
        "does not fit the registry now (e.g. a class with children dropped): it cannot be accepted",
    ),
    "err_filing_submit_who": ("只有本机构管理员可以提交备案", "Only the facility's operator files its particulars"),
    "err_filing_pending": (
        "本机构有备案正在审核，退回后才能修改",
        "A filing of this facility awaits its review; it can be changed once returned",
    ),
    "err_filing_decision": ("请选择予以备案、退回补正或不予备案", "Choose accept, return or refuse"),
    "err_filing_review_who": (
        "只有县级或市级监管人员可以审核备案",
        "Only an inspector of the county or the city reviews a filing",
    ),
    "err_filing_own": ("不能审核自己提交的备案", "Nobody reviews a filing they submitted"),
    "err_filing_state": ("该备案已审核或已变更", "The filing has been reviewed or changed already"),
    "err_filing_reasons": ("退回或不予备案须写明理由", "A return or a refusal says why"),
    "err_filing_reasons_long": ("理由最多2000字", "Reasons are at most 2,000 characters"),
    "err_filing_address": ("请填写地址（最多200字）", "Give the address (at most 200 characters)"),
    "err_filing_organiser": ("请填写举办者（最多200字）", "Give the organiser (at most 200 characters)"),
    "err_filing_date": ("证明材料的有效期不是日期：{doc_zh}", "The validity of the {doc_en} is not a date"),
    "err_filing_document": (
        "请填写证明材料编号（最多200字）：{doc_zh}",
        "Give the number of the {doc_en} (at most 200)",
    ),
    "err_filing_validity": ("请填写证明材料有效期：{doc_zh}", "Give the validity of the {doc_en}"),
    "err_filing_expired": ("证明材料已过有效期：{doc_zh}", "The {doc_en} has expired"),
    "err_filing_particulars_missing": ("请填写机构信息", "Give the particulars"),
    "err_filing_particulars": ("机构信息有误：{detail}", "The particulars are not valid: {detail}"),
}
for _k, (_zh, _en) in _FILING.items():
    TEXT["zh"][_k] = _zh
    TEXT["en"][_k] = _en

# The error page's title by HTTP status (web/pages/render.py error_page): a refusal on a page reads in the
# page's language; its reason follows when the catalogue has one.
ERROR_TITLES = {
    400: ("请求有误", "The request is not valid"),
    403: ("无权执行此操作", "You may not do this"),
    404: ("未找到，或不在您的权限范围内", "Not found, or not in your scope"),
    409: ("当前状态不允许此操作", "Not possible in its present state"),
}
for _status, (_zh, _en) in ERROR_TITLES.items():
    TEXT["zh"][f"error_{_status}"] = _zh
    TEXT["en"][f"error_{_status}"] = _en


@cache
def labels_for(lang: str) -> dict[str, dict[str, str]]:
    """The catalogue in one language, for the pages' scripts (live counters and states)."""
    i = 0 if lang == "zh" else 1
    return {kind: {code: pair[i] for code, pair in names.items()} for kind, names in LABELS.items()}


DEFAULT_TZ = "Asia/Shanghai"


def preload() -> None:
    """Load Babel's locale data for both languages now, at the web's start, rather than inside the first
    page that shows "3分钟前" or "11月28日" (an alert older than a minute): that page paid the load, and
    the web's memory grew by it mid-run (tracemalloc under bench province's load)."""
    now = datetime(2026, 1, 1, tzinfo=UTC)  # any time: only the locale data is wanted
    for lang in ("zh", "en"):
        for ago in (timedelta(minutes=3), timedelta(days=40), timedelta(days=400)):
            when(now - ago, lang, DEFAULT_TZ, now)


def occurred(alert: dict[str, object], lang: str, tz: str) -> Markup:
    """An alert known late, told with both times: "17:15 按下（18:15 收到，网关离线期间）"
    (contract.occurred); empty when it was known in time, where the alert's time alone says it."""
    occ, opened = alert.get("occurred_at"), alert.get("opened_at")
    if not isinstance(occ, str) or not isinstance(opened, str):
        return Markup("")
    t1, t2 = datetime.fromisoformat(occ), datetime.fromisoformat(opened)
    if not shown_late(t1, t2):
        return Markup("")
    cause = alert.get("delay_cause")
    text = phrase(str(alert.get("rule", "")), t1, t2, cause if isinstance(cause, str) else None, tz, lang)
    return Markup('<time class="late" datetime="{}" data-occurred>{}</time>').format(occ, text)


def _local(value: object, tz: str) -> datetime | Markup:
    """A stored time (a datetime or ISO text; naive is UTC) in the zone `tz`; "" for none, and what is no
    time as it is, escaped, for the caller to show instead."""
    if value is None or value == "":
        return Markup("")
    t = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(t, datetime):
        return escape(str(value))
    return (t if t.tzinfo is not None else t.replace(tzinfo=UTC)).astimezone(ZoneInfo(tz))


def on_day(value: object, lang: str, tz: str) -> Markup:
    """A document's date as it is printed, never relative: "2025年3月3日", "Mar 3, 2025" (a 备案's, a 通报's
    印发日期: "刚刚" ages on a page that is a record). The exact local time is in the element's `title`."""
    local = _local(value, tz)
    if not isinstance(local, datetime):
        return local
    text = format_skeleton("yMMMd", local, locale="zh_CN" if lang == "zh" else "en")
    full = local.strftime("%Y-%m-%d %H:%M:%S %z")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(local.date().isoformat(), full, text)


def when(value: object, lang: str, tz: str, now: datetime, *, clock: bool = False) -> Markup:
    """A time as people read it, in the facility's time zone: "刚刚", "3分钟前", "今天 08:12", "昨天 08:12",
    "11月28日 08:12", "2025年11月28日 08:12" (English alike). The exact local time is in the element's
    `datetime` and `title`. ISO 8601 stays in the API and CSV. `now`: the request's clock reading."""
    local = _local(value, tz)
    if not isinstance(local, datetime):
        return local
    current = now.astimezone(ZoneInfo(tz))
    ago = current - local
    locale = "zh_CN" if lang == "zh" else "en"
    hm = local.strftime("%H:%M")
    if timedelta(0) <= ago < timedelta(minutes=1):
        text = "刚刚" if lang == "zh" else "just now"
    elif timedelta(0) <= ago < timedelta(hours=1):
        text = format_timedelta(-ago, threshold=1, locale=locale, add_direction=True)
    elif local.date() == current.date():
        text = f"今天 {hm}" if lang == "zh" else f"today {hm}"
    elif local.date() == current.date() - timedelta(days=1):
        text = f"昨天 {hm}" if lang == "zh" else f"yesterday {hm}"
    elif local.year == current.year:
        text = f"{format_skeleton('MMMd', local, locale=locale)} {hm}"
    else:
        text = f"{format_skeleton('yMMMd', local, locale=locale)} {hm}"
    if clock and timedelta(0) <= ago < timedelta(hours=1):  # "since 19:51 (2 minutes ago)" reads better
        text = f"{hm}（{text}）" if lang == "zh" else f"{hm} ({text})"
    z = local.strftime("%z")  # +0800
    offset = f"UTC{z[0]}{int(z[1:3])}" + (f":{z[3:]}" if z[3:] != "00" else "")
    full = local.strftime("%Y-%m-%d %H:%M:%S") + f" ({offset})"
    return Markup('<time datetime="{}" title="{}">{}</time>').format(local.isoformat(timespec="seconds"), full, text)


def details(value: object, lang: str, now: datetime, tz: str = DEFAULT_TZ) -> Markup:
    """A history or audit detail (a JSON object) for people: `key: value` pairs, times as `when`."""
    if isinstance(value, str) and value.startswith("{"):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    if not isinstance(value, dict) or not value:
        return escape("" if value in (None, {}) else str(value))
    return Markup(" · ").join(Markup("{}: {}").format(k, _shown(v, lang, tz, now)) for k, v in value.items())


def _shown(v: object, lang: str, tz: str, now: datetime) -> object:
    """A detail's value for people: a time as `when`, a structure as JSON, anything else as it is."""
    if isinstance(v, str) and len(v) >= 19 and v[10:11] in {"T", " "} and v[4:5] == "-":
        try:
            return when(v, lang, tz, now)
        except ValueError:
            return v
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False)
    return v


_AUDIT_VALUES = {
    "role": lambda v, lang: label("user_role", v, lang),
    "county": lambda v, lang: county_name(str(v), lang),
    "township": lambda v, lang: township_name(str(v), lang),
    "department": lambda v, lang: label("department", v, lang),
}


def audit_detail(
    value: object, lang: str, now: datetime, facilities: Mapping[str, str] | None = None, tz: str = DEFAULT_TZ
) -> Markup:
    """An audit entry's detail for people: its fields by name, codes by their names (a role, a county, a
    department), empty fields left out ("county: None" said nothing); other values as `details` shows them."""
    if isinstance(value, str) and value.startswith("{"):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    if not isinstance(value, dict):
        return details(value, lang, now, tz)
    parts = []
    for k, v in value.items():
        if v is None or v in ("", []):
            continue
        if k == "facility" and facilities and str(v) in facilities:
            shown: object = facilities[str(v)]
        elif k in _AUDIT_VALUES:
            shown = _AUDIT_VALUES[k](v, lang)
        else:
            shown = _shown(v, lang, tz, now)
        sep = "：" if lang == "zh" else ": "
        parts.append(Markup("{}{}{}").format(label("audit_field", k, lang), sep, shown))
    return Markup(" · ").join(parts)


def history_detail(value: object, lang: str) -> Markup:
    """An alert history step's detail for people: the level it went to, the note it carries; the time is
    its own column (older rows also carry it as `at`)."""
    if isinstance(value, str) and value.startswith("{"):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    if not isinstance(value, dict):
        return escape("" if value is None else str(value))
    parts = []
    if value.get("to"):
        parts.append(Markup("{} {}").format(TEXT[lang]["escalated_to"], label("escalation", str(value["to"]), lang)))
    if value.get("note"):
        parts.append(escape(str(value["note"])))
    return Markup(" · ").join(parts)


def level_area(level: str | None, county: str | None, township: str | None, lang: str = "zh") -> str:
    """An issuing level by the area's name for a facility in `county`/`township`: 忻府区 for the county, 秀容街道
    for the township, 忻州市 for the city; the facility level by its name (机构)."""
    if level == "county" and county:
        return county_name(county, lang)
    if level == "township" and township:
        return township_name(township, lang)
    if level == "city":
        return "忻州市" if lang == "zh" else "Xinzhou"
    return label("escalation", level, lang)


def scope_name(scope: object, lang: str = "zh") -> str:
    """Whose view this is, for people: 忻州市 / 忻府区 / 秀容街道 / 机构 xz-… (a Scope of storage.users)."""
    if getattr(scope, "role", None) == "operator":
        return f"{'机构' if lang == 'zh' else 'facility'} {getattr(scope, 'facility', '')}"
    if township := getattr(scope, "township", None):
        return township_name(township, lang)
    if county := getattr(scope, "county", None):
        return county_name(county, lang)
    return "忻州市" if lang == "zh" else "Xinzhou"


# 双随机一公开 (issue #40 item 5; web/pages/draws.py, supervision/draws.py)
_DRAWS = {
    "draws": ("双随机抽查", "Random inspections"),
    "draws_help": (
        "双随机一公开：从本县公布的机构名录和检查人员名录中随机抽取被检查机构，每家随机选派两名检查人员，"
        "抽取结果和检查结果公开。随机种子由抽取序号、抽取时间和名录的哈希值算出，任何人不能指定；"
        "每次抽取都留存并公开，同一县同一月份再次抽取须说明理由并显示为重新抽取。乡镇检查人员不抽到本乡镇的机构。",
        "Double random, one public: facilities are drawn at random from the county's published list, two"
        " inspectors for each from its published inspector list, and the results are published. The seed is derived"
        " from the draw's number, its time and the lists' hash; nobody chooses it. Every draw is kept and published;"
        " another draw for the same county and month needs a reason and shows as a re-draw. A township's inspector"
        " is never drawn for a facility of their own township.",
    ),
    "draw_show": ("查看", "Show"),
    "draw_make": ("随机抽取", "Draw"),
    "draw_count": ("抽取机构数", "Facilities to draw"),
    "draw_planned_for": ("计划检查日期", "Planned for"),
    "draw_reason": ("理由", "Reason"),
    "draw_records": ("抽取记录", "Draws"),
    "draw_no": ("序号", "No."),
    "draw_seq": ("第{}次抽取", "Draw no. {}"),
    "draw_when": ("抽取时间", "Drawn at"),
    "draw_by": ("抽取人", "Drawn by"),
    "draw_signed": ("已完成检查", "Inspections signed"),
    "draw_redraw": ("重新抽取", "Re-draw"),
    "draw_is_redraw": ("重新抽取", "re-draw"),
    "draw_redraw_of": ("上一次抽取", "the draw it follows"),
    "draw_facilities": ("机构名录", "Facility list"),
    "draw_inspectors": ("检查人员", "Inspectors"),
    "draw_inspector": ("检查人员", "Inspector"),
    "draw_county_level": ("县级", "County level"),
    "draw_available": ("可抽取", "Available"),
    "draw_yes": ("是", "yes"),
    "draw_no_": ("否", "no"),
    "draw_changed": ("变更", "Changed"),
    "draw_mark_unavailable": ("标记为不可抽取", "Mark unavailable"),
    "draw_mark_available": ("恢复可抽取", "Mark available"),
    "draw_inputs_hash": ("名录哈希值（SHA-256）", "The lists' hash (SHA-256)"),
    "draw_back": ("返回抽取记录", "Back to the draws"),
    "draw_record_json": ("公开记录（JSON）", "Public record (JSON)"),
    "draw_results": ("抽取结果", "Results"),
    "draw_outcome": ("检查结果", "Outcome"),
    "draw_outcome_text": (
        "{} 检查，不合格项 {} 项，整改通知 {} 份（已验收 {} 份）",
        "inspected {}, {} items failed, {} orders ({} accepted)",
    ),
    "draw_status_signed": ("已签署", "signed"),
    "draw_status_countersign": ("待会签", "awaiting the second officer"),
    "draw_status_planned": ("待检查", "planned"),
    "draw_how": ("如何复核", "How to check it"),
    "draw_how_text": (
        "算法 cw-draw-1（见接口文档）：种子 = SHA-256（算法名、县、序号、抽取时间、名录哈希值、上一次抽取的种子），"
        "随机数由种子经 SHA-256 计数器模式产生。用公开记录中的名录和上述数据重新计算，应得到相同的机构和检查人员。",
        "Algorithm cw-draw-1 (docs/contract.md): seed = SHA-256 of the algorithm's name, the county, the number, the"
        " time, the lists' hash and the previous draw's seed; random numbers from SHA-256 in counter mode. Re-run"
        " from the public record's lists and these, it gives the same facilities and inspectors.",
    ),
    "draw_previous_seed": ("上一次抽取的种子", "The previous draw's seed"),
    "draw_seed": ("随机种子", "Seed"),
    "draw_verify": ("按公开数据重新计算并核对", "Re-run from the published inputs and compare"),
    "draw_verified": ("核对一致：重新计算得到相同的抽取结果", "Verified: the re-run gives the same draw"),
    "draw_not_verified": ("核对不一致", "Does not verify"),
    "err_draw_who": (
        "只有本县或市级检查人员可以抽取和调整检查人员名录",
        "Only a county or city inspector draws and changes the county's inspector list",
    ),
    "err_draw_county": ("请选择县（市、区）", "Give the county's 6-digit code"),
    "err_draw_fields": ("请求含有未知字段；随机种子不能指定", "Unknown fields: the seed is derived, never given"),
    "err_draw_count": ("抽取机构数须为 1 至 {n}", "The count is from 1 to {n}"),
    "err_draw_date": ("计划检查日期须在今天至一年之内", "Planned for: a date from today to a year ahead"),
    "err_draw_reason": ("理由最多 500 字", "A reason is at most 500 characters"),
    "err_draw_redraw": (
        "本县本月已经抽取过（第 {id} 号记录）；重新抽取须填写理由，两次抽取都会公开",
        "This county's month was drawn already (draw {id}): a re-draw needs a reason, and both are published",
    ),
    "err_draw_inspectors": (
        "可抽取的检查人员不足：每家机构需要两名不属于该乡镇的检查人员",
        "Too few available inspectors: each facility needs two who are not of its township",
    ),
    "err_draw_no_inspector": ("本县名录中没有该检查人员", "No such inspector in the county's list"),
    "err_draw_own": ("不能调整自己是否可被抽取", "Nobody changes their own availability"),
    "err_draw_available": ("请说明是否可抽取", "Say whether the inspector is available"),
    "err_draw_unavailable_reason": ("标记为不可抽取须说明理由", "Say why the inspector is not available"),
}
for _k, (_zh, _en) in _DRAWS.items():
    TEXT["zh"][_k] = _zh
    TEXT["en"][_k] = _en

# 复查 and extensions (issue #40 item 2; web/pages/followups.py, supervision/followups.py, supervision/deadlines.py)
_FOLLOWUPS = {
    "recheck": ("复查", "Re-inspection"),
    "recheck_failed": ("不合格项 {} 项", "{} items failed"),
    "recheck_on": ("复查日期", "Re-inspection on"),
    "recheck_help": (
        "验收前须到现场复查：复查在 {days} 天内进行，签字确认后方可验收（复查有不合格项的应退回）",
        "Accept only after an on-site re-inspection within {days} days: the order is accepted once it is signed"
        " (sent back if it failed an item)",
    ),
    "accept_with_recheck": ("复查后验收", "Accept after a re-inspection"),
    "extension": ("延期申请", "Extension"),
    "extension_request": ("申请延期", "Ask for an extension"),
    "extension_help": (
        "每份整改通知只能申请一次延期，须在整改期限之前提出并说明理由，由下发单位或上级审批；"
        "延期不超过 30 天（涉及生命安全的不超过 1 天）。诚信评价仍按原定期限判断是否按时整改。",
        "Once per order, before the due date, with reasons; the issuing level or above decides. At most 30 days"
        " (a life-safety finding: 1 day). The credit evaluation still judges the answer by the original due date.",
    ),
    "extension_due": ("申请延至", "New due date asked for"),
    "extension_reason": ("延期理由", "Reasons"),
    "extension_approve": ("准予延期", "Grant"),
    "extension_reject": ("不予延期", "Refuse"),
    "err_order_life_safety": ("“涉及生命安全”须为是或否", "life_safety must be true or false"),
    "err_recheck_day": ("复查日期须在今天至 {days} 天之内", "The re-inspection is from today to {days} days ahead"),
    "err_extension_who": ("只有本机构可以申请延期", "Only the facility's operator asks for an extension"),
    "err_extension_reason": ("请说明延期理由（至少 {min} 个字）", "Give the reasons (at least {min} characters)"),
    "err_extension_once": ("每份整改通知只能申请一次延期", "An order is extended at most once"),
    "err_extension_state": (
        "该整改通知当前不能申请或审批延期",
        "The order or its extension is not in a state for this",
    ),
    "err_extension_late": ("整改期限已过，不能再申请延期", "The due date has passed: too late to ask"),
    "err_extension_due": (
        "延期后的期限须晚于现行期限，且在 {days} 天之内",
        "The new due date must be later than the present one and within {days} days",
    ),
    "err_extension_none": ("没有待审批的延期申请", "No extension was asked for"),
    "err_extension_decide_who": (
        "只有下发单位或上级监管人员可以审批延期",
        "Only the issuing level or above decides an extension",
    ),
    "err_extension_own": ("不能审批自己提出的延期申请", "Nobody decides an extension they asked for"),
    "err_extension_withdraw_who": ("不能撤回他人的延期申请", "Only the facility withdraws its request"),
    "err_extension_reject_reason": ("不予延期须说明理由", "A refusal needs a reason"),
    "err_extension_passed": ("申请延至的日期已过，不能再批准", "The date asked for has passed"),
}
for _k, (_zh, _en) in _FOLLOWUPS.items():
    TEXT["zh"][_k] = _zh
    TEXT["en"][_k] = _en


# 信息统计监测 (issue #40 item 8; web/pages/statistics.py)
_STATISTICS = {
    "statistics": ("信息统计监测", "Statistics"),
    "statistics_help": (
        "按所选月份（北京时间）统计本区域及下级区域：机构（备案、类型）、托位（年龄段、类型）、在托幼儿、从业人员资质、"
        "检查、整改通知及其时效、告警；每千人口托位数和托育率以人口数据文件为分母，数据来源列于表中。",
        "For the month chosen (Beijing time), this area and the areas below it: facilities (filing, type), places (age "
        "group, type), children enrolled, staff by qualification, inspections, orders and their timeliness, alerts; "
        "places per 1,000 people and the care rate divide by the population file, its source shown in the table.",
    ),
    "st_month": ("月份（年-月）", "Month (YYYY-MM)"),
    "st_area": ("区域", "Area"),
    "st_summary": ("本区域合计", "Totals of the area"),
    "st_figure": ("指标", "Figure"),
    "st_in_progress": ("本月尚未结束，数据截至", "The month is not over: figures as of"),
    "st_unknown": ("未知", "unknown"),
    "st_source": ("来源", "Source"),
    "st_no_population": ("无人口数据", "no population figure"),
    "st_per1000_none": (
        "人口数据文件中没有这些区域的常住人口，无法计算每千人口托位数（见下表“来源”）。",
        "The population file has no figure for these areas: no places per 1,000 people (see the table's source).",
    ),
    "st_target": (
        "目标：到2025年每千人口拥有3岁以下婴幼儿托位数 {} 个"
        "（《中华人民共和国国民经济和社会发展第十四个五年规划和2035年远景目标纲要》）。",
        "Target: {} places for children under 3 per 1,000 people by 2025 (China's 14th Five-Year Plan outline, 2021).",
    ),
    "st_registry_now": (
        "托位、在托幼儿和从业人员为机构档案的现状（档案不保留历史）；只有通过审核的备案才会改变它们。",
        "Places, children and staff are the registry as it stands (it keeps no history); only an accepted filing "
        "changes them.",
    ),
    "st_places_by_kind": ("托位（按机构类型）", "Places by type of facility"),
    "st_places_per_1000": ("每千人口托位数与托育率", "Places per 1,000 people and the care rate"),
    "st_occupancy": ("托位使用率（在托幼儿 / 托位）", "Occupancy (children enrolled / places)"),
    "st_staff": ("从业人员资质", "Staff by qualification"),
    "st_inspections": ("检查", "Inspections"),
    "st_orders": ("整改通知及时效", "Orders and their timeliness"),
    "st_alerts": ("本月告警（按规则）", "Alerts opened this month, by rule"),
    "st_rule": ("规则", "Rule"),
    "err_statistics_who": ("统计数据仅供监管部门查看", "The statistics are for the supervising departments"),
    "err_area": (
        "区域应为忻州市代码 140900、县（市、区）代码（6位）或乡镇（街道）代码（9位）",
        "The area is Xinzhou's code 140900, a county's (6 digits) or a township's (9 digits)",
    ),
}
for _k, (_zh, _en) in _STATISTICS.items():
    TEXT["zh"][_k] = _zh
    TEXT["en"][_k] = _en


# 通报 (issue #40 item 1) and the last printable documents: 复查意见书, 督办通知, 通报 (web/documents.py)
_CIRCULARS = {
    "circulars": ("通报", "Circulars"),
    "circulars_help": (
        "县、市两级监管部门印发的通报（表扬、批评、情况通报）。印发后编号、不可修改；公开通报同时在公示页发布，不含个人信息。",
        "Circulars issued by the county and city departments (commendation, criticism, report). Once issued "
        "they are numbered and never change; a public one is also published on the public pages, with no "
        "personal data.",
    ),
    "circular_new": ("起草通报", "Draft a circular"),
    "city_name": ("忻州市", "Xinzhou"),
    "circular_public_tag": ("公开", "public"),
    "circular_title": ("标题", "Title"),
    "circular_kind": ("类型", "Kind"),
    "circular_body": ("正文", "Text"),
    "circular_public": (
        "公开通报（在公示页发布；不得含有任何个人信息）",
        "Public (published on the public pages; no personal data)",
    ),
    "circular_subjects": ("通报对象", "Subjects"),
    "circular_subject": ("对象", "Subject"),
    "circular_statement": (
        "通报内容（留空则按现有事实自动起草）",
        "What is said of it (left blank: drafted from the facts)",
    ),
    "circular_subject_help": (
        "在列表中选择被通报的地区（市级：县、乡镇；县级：本县乡镇）或机构；机构较多时先在搜索框输入名称缩小列表。",
        "Choose the area (the city: counties and townships; a county: its townships) or the facility; with many "
        "facilities, type part of a name in the search box first to narrow the lists.",
    ),
    "circular_find": ("搜索机构", "Find a facility"),
    "circular_areas": ("地区", "Areas"),
    "circular_facilities": ("机构", "Facilities"),
    "circular_none": ("（不选）", "(none)"),
    "circular_save": ("保存草稿", "Save the draft"),
    "circular_issue": ("签发并编号", "Issue and number it"),
    "circular_issue_help": ("签发后不可修改。", "Once issued it never changes."),
    "circular_print": ("打印通报（PDF）", "Print the circular (PDF)"),
    "circular_department": ("印发部门", "Issued by"),
    "circular_issued_at": ("印发日期", "Issued on"),
    "circular_drafted_by": ("起草人", "Drafted by"),
    "circular_status": ("状态", "Status"),
    "circular_from_overdue": ("通报", "Circular"),
    "public_circulars": ("公开通报", "Public circulars"),
    "public_circulars_none": ("暂无公开通报", "No public circulars yet"),
    "circular_fact_none": (
        "截至{date}，该机构无逾期未整改的整改通知。",
        "As of {date}, the facility has no overdue order.",
    ),
    "circular_fact_facility": (
        "截至{date}，该机构有逾期未整改的整改通知{n}份：{items}。",
        "As of {date}, the facility has {n} overdue order(s): {items}.",
    ),
    "circular_fact_lapses": (
        "近{days}天安全监测失效累计{hours}小时（{rules}，单位：小时）。",
        " In the last {days} days, safety monitoring lapsed for {hours} hours in all ({rules}, in hours).",
    ),
    "circular_fact_alerts": (
        "近{days}天告警{n}条（{rules}，单位：条）。",
        " In the last {days} days, {n} alert(s) ({rules}).",
    ),
    "circular_fact_item": ("“{title}”（{since}起逾期）", "“{title}” (overdue since {since})"),
    "circular_list_sep": ("；", "; "),
    "circular_fact_area": (
        "截至{date}，辖区内托育机构{facilities}家；逾期未整改的整改通知{answer}份，逾期未审核的整改答复{review}份。",
        "As of {date}: {facilities} facilities; {answer} order(s) unanswered past their due date, {review} "
        "answer(s) unreviewed past the review period.",
    ),
    "err_circular_text": ("请填写文字", "Text only"),
    "err_circular_subject": (
        "通报对象格式应为 facility:机构编号 或 area:地区代码",
        "A subject is facility:<facility id> or area:<area code>",
    ),
    "err_circular_area": ("{area} 不是本部门的下级部门", "{area} is not a department below yours"),
    "err_circular_facility": ("没有该机构，或不在您的监管范围内：{id}", "No such facility in your scope: {id}"),
    "err_circular_kind": ("请选择通报类型", "Choose the kind of circular"),
    "err_circular_title": ("标题为 2 至 {max} 个字", "A title of 2 to {max} characters"),
    "err_circular_body": ("正文不超过 {max} 个字", "The text is at most {max} characters"),
    "err_circular_subjects_many": ("通报对象不超过 {max} 个", "At most {max} subjects"),
    "err_circular_statement": ("每个对象的通报内容不超过 {max} 个字", "At most {max} characters for each subject"),
    "err_circular_subject_twice": ("同一对象只能列一次", "A subject is named once"),
    "err_circular_who": (
        "只有本部门的县级、市级监管人员可以起草、修改和签发通报",
        "Only a county or city inspector of the department drafts, edits and issues its circulars",
    ),
    "err_circular_issued": ("该通报已印发，不可修改", "The circular is issued: it never changes"),
    "err_circular_missing": ("没有该通报", "No such circular"),
    "err_circular_no_subjects": ("请先列出通报对象", "Name the circular's subjects first"),
    "err_circular_personal": (
        "公开通报不得含有个人信息：{found}。请删去后再签发，或取消“公开通报”。",
        "A public circular carries no personal data: {found}. Remove it, or make the circular not public.",
    ),
    "err_circular_not_issued": ("通报签发后才能打印", "A circular is printed once issued"),
    # 复查意见书 (a signed 复查's opinion) and 督办通知 (a 催办 or 约谈), web/documents.py
    "doc_print_recheck": ("打印复查意见书（PDF）", "Print the re-inspection opinion (PDF)"),
    "doc_print_supervision": ("打印督办通知（PDF）", "Print the supervision notice (PDF)"),
    "doc_recheck_title": ("复查意见书", "Re-inspection opinion"),
    "doc_recheck_intro": (
        "根据{order}整改通知书，{date}对你单位整改情况进行了现场复查（复查记录 {record}），复查意见如下。",
        "Following rectification notice {order}, your facility's rectification was re-inspected on site on "
        "{date} (record {record}). The opinion follows.",
    ),
    "doc_recheck_order": ("原整改通知", "The order re-checked"),
    "doc_recheck_items": ("复查事项及结果", "Items re-checked and their results"),
    "doc_recheck_conclusion": ("复查结论", "Conclusion"),
    "doc_recheck_done": ("整改到位", "Put right"),
    "doc_recheck_not_done": ("未整改到位", "Not put right"),
    "doc_recheck_done_next": (
        "复查事项均已整改到位，原整改通知{order}经审核后予以销号。",
        "Every item re-checked was put right; order {order} is closed once its reviewer accepts it.",
    ),
    "doc_recheck_not_done_next": (
        "下列事项未整改到位：{items}。原整改通知{order}将退回并重新限期整改，逾期仍未整改的，逐级上报督办。",
        "These items were not put right: {items}. Order {order} is sent back with a new due date; left "
        "unanswered past it, it is escalated.",
    ),
    "doc_recheck_not_signed": (
        "复查记录签署并会签后才能打印复查意见书",
        "The opinion is printed once the re-inspection is signed and confirmed",
    ),
    "doc_supervision_title": ("督办通知", "Supervision notice"),
    "doc_supervision_urged": ("催办", "urged"),
    "doc_supervision_summoned": ("约谈", "summoned"),
    "doc_supervision_intro": (
        "你部门于{issued}向{facility}下发的整改通知书（{order}，整改事项：{title}），{late}。现予{step}。",
        "The rectification notice your department issued to {facility} on {issued} ({order}: {title}) "
        "{late}. It is hereby {step}.",
    ),
    "doc_supervision_late_answer": (
        "应于{due}前整改完毕，自{since}起逾期未整改",
        "was due by {due} and has been overdue since {since}",
    ),
    "doc_supervision_late_review": (
        "机构已于{answered}答复，自{since}起逾期未审核",
        "was answered on {answered} and has waited for its review since {since}",
    ),
    "doc_supervision_open": ("尚未办结", "is still open"),
    "err_already_acknowledged": ("该告警已由 {by} 确认，无需再次确认", "The alert was acknowledged already by {by}"),
    "doc_supervision_not_due": ("应于{due}前整改完毕，尚未到期", "is due by {due}, not overdue yet"),
    "doc_supervision_message": ("督办意见", "Instructions"),
    "doc_supervision_summons": (
        "约谈时间：{date}；约谈对象：{people}",
        "Held on {date}; summoned: {people}",
    ),
    "doc_supervision_minutes": ("约谈纪要", "Minutes"),
    "doc_supervision_due_title": ("办理要求", "What must be done"),
    "doc_supervision_due": (
        "请于{by}前督促该机构整改到位（或完成审核），并将办理结果报送{issuer}。逾期仍未办结的，将继续上报督办。",
        "See to it that the order is put right (or reviewed) by {by} and report the outcome to {issuer}. Left "
        "open past that, it is escalated further.",
    ),
    "doc_sign_receiver": (
        "承办部门（签收）：________________  签收日期：______年____月____日",
        "Received by the department: ________________  on: ____-____-____",
    ),
    "doc_circular_subjects": ("通报对象及内容", "Subjects"),
    "doc_circular_to": ("各有关单位：", "To all concerned:"),
    "doc_draft": ("草稿", "Draft"),
}
for _k, (_zh, _en) in _CIRCULARS.items():
    TEXT["zh"][_k] = _zh
    TEXT["en"][_k] = _en


# 督办 that acts, the rest (issue #40 item 1): 批示, 责令停业整改 (web/suspensions.py, supervision/suspensions.py)
_ENFORCEMENT = {
    "instruction": ("批示", "Instruction"),
    "countersign_badge": ("等待您会签的检查记录", "Inspection records waiting for your countersignature"),
    "instruction_note": (
        "批示内容（发给发文层级的监管人员）",
        "The instruction (sent to the issuing level's inspectors)",
    ),
    "instruct": ("签发批示", "Record the instruction"),
    "instructions": ("批示", "Instructions"),
    "err_instruction_note": ("请填写批示内容（最多 2000 字）", "Write the instruction (at most 2,000 characters)"),
    "suspended": ("停业整改中", "suspended pending rectification"),
    "suspension": ("责令停业整改", "Suspension of operation"),
    "suspension_help": (
        "县级或市级监管人员可责令机构停业整改，须写明理由，可注明所依据的整改通知。停业整改期间监测照常："
        "告警不因此免除，也不按停园日处理；有幼儿刷卡入园即按开园日判断，并在此标记“停业整改期间有幼儿在园”。"
        "只有发文层级或上级可以解除，且须依据停业后由两名检查人员签署、无不合格项的复查记录，并写明理由。",
        "A county or city inspector may order the facility to suspend operation pending rectification, with reasons"
        " and the orders it rests on. Monitoring goes on: no alert is excused and no day counts as closed; children"
        " badged in are judged as on an open day and flagged here. Only the issuing level or above lifts it, on a"
        " re-inspection after it, signed by two officers with nothing failed, with a reason.",
    ),
    "suspension_reasons": ("理由", "Reasons"),
    "suspension_orders": (
        "依据的整改通知编号（逗号分隔，可不填）",
        "Orders it rests on (ids, comma-separated; optional)",
    ),
    "suspension_order": ("责令停业整改", "Order the suspension"),
    "suspension_since": ("自", "since"),
    "suspension_by": ("决定人", "Ordered by"),
    "suspension_lifted": ("已解除", "lifted"),
    "suspension_lift": ("解除停业整改", "Lift the suspension"),
    "suspension_lift_reason": ("解除理由", "Reason for lifting"),
    "suspension_recheck": ("复查记录", "Re-inspection"),
    "suspension_no_recheck": (
        "尚无可依据的复查：请先安排检查，由两名检查人员签署且无不合格项后再解除。",
        "No re-inspection to rest on yet: plan one; once signed by two officers with nothing failed, lift.",
    ),
    "suspension_children": ("停业整改期间有幼儿在园", "Children on site during the suspension"),
    "suspension_children_n": ("{} 次幼儿入园刷卡，首次 ", "{} child badge-ins, the first "),
    "suspensions_in_force": ("停业整改中的机构", "Facilities suspended"),
    "err_suspend_who": (
        "只有县级、市级监管人员或管理员可以责令停业整改",
        "Only a county or city inspector (or an admin) orders a suspension",
    ),
    "err_suspend_reasons": ("请写明理由（4 至 2000 字）", "Give the reasons (4 to 2,000 characters)"),
    "err_suspend_orders": ("所列整改通知不是本机构的", "The orders named are not this facility's"),
    "err_suspend_twice": ("该机构已在停业整改中", "The facility is suspended already"),
    "err_lift_who": ("只有发文层级或上级可以解除停业整改", "Only the issuing level or above lifts a suspension"),
    "err_lift_reason": ("请写明解除理由（4 至 2000 字）", "Give the reason for lifting (4 to 2,000 characters)"),
    "err_lift_recheck": ("请选择本机构的复查记录", "Choose a re-inspection of this facility"),
    "err_lift_unsigned": ("复查记录尚未由两名检查人员签署", "The re-inspection is not signed by two officers yet"),
    "err_lift_remote": ("复查须为现场检查，不能以远程检查代替", "A re-inspection is made on site, not remotely"),
    "err_lift_before": ("复查须在责令停业整改之后进行", "The re-inspection must be made after the suspension"),
    "err_lift_failed": ("复查有不合格项，不能解除：{items}", "The re-inspection failed items, it stays: {items}"),
    "err_lift_done": ("停业整改已解除", "The suspension is lifted already"),
    "err_lift_none": ("没有该停业整改", "No such suspension"),
}
for _k, (_zh, _en) in _ENFORCEMENT.items():
    TEXT["zh"][_k] = _zh
    TEXT["en"][_k] = _en

# the operator's landing page and phones (issue #41 item 5): what waits for the operator first
_HOME = {
    "home_todo": ("待办", "To do"),
    "home_facility": ("本园", "My facility"),
    "home_facility_page": ("本园详情（设备、人员、读数）", "Facility page (devices, staff, readings)"),
    "home_waiting": ("等待您处理的事项", "What waits for you"),
    "home_orders": ("整改通知待回复", "Orders to answer"),
    "home_alerts": ("告警待确认", "Alerts to acknowledge"),
    "home_filing": ("备案退回", "Filing returned"),
    "home_answer": ("回复整改", "Reply"),
    "home_all_alerts": ("全部告警", "All alerts"),
    "home_all_orders": ("全部整改通知", "All orders"),
    "home_filing_go": ("查看退回理由并修改备案", "Read the reasons and correct the filing"),
    "home_more_alerts": ("还有更多待确认的告警", "More alerts wait for an acknowledgement"),
    # an alert's page: the facility open or closed when it happened, who is badged in now (issue #41 item 6)
    "ctx_title": ("现场情况", "On site"),
    "ctx_open": ("发生时在开放时间内", "Within opening hours when it happened"),
    "ctx_closed": ("发生时闭园（非开放时间）", "Closed when it happened (outside opening hours)"),
    "ctx_closed_nobody": ("闭园、无人在岗", "Closed, nobody on site"),
    "ctx_nobody": ("此刻无人刷卡在园", "Nobody badged in on site now"),
    "ctx_badged": ("此刻刷卡在园：", "Badged in on site now: "),
    "ctx_children": ("幼儿 {} 名", "{} children"),
}
for _k, (_zh, _en) in _HOME.items():
    TEXT["zh"][_k] = _zh
    TEXT["en"][_k] = _en
