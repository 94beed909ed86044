"""Names of the system's codes for people, Chinese first: one catalogue for the pages (web/i18n.py),
the alert messages sent to WeCom, DingTalk and e-mail (alerts/notify.py) and the CSV headers.

tests/test_i18n.py fails when a code of the contract has no name here in either language."""

from __future__ import annotations

# A page shows a code only through label(); a page that shows a bare rule id or a UTC time fails a test.
LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "rule": {
        "fire_alarm": ("火灾报警", "Fire alarm"),
        "gas_alarm": ("燃气/一氧化碳报警", "Gas/CO alarm"),
        "panic_button": ("一键报警", "Panic button"),
        "unauthorized_pickup": ("非授权人员接走幼儿", "Unauthorised pick-up"),
        "banned_staff_on_site": ("禁止从业人员在园", "Banned person on site"),
        "unqualified_staff_on_site": ("无资质人员在岗", "Unqualified staff on site"),
        "guard_absent": ("保安缺岗", "Guard absent"),
        "ratio_breach": ("师幼比不达标", "Carer ratio not met"),
        "class_over_capacity": ("班级超额", "Class over capacity"),
        "child_not_collected": ("幼儿未被接走", "Child not collected"),
        "device_offline": ("设备离线", "Device offline"),
        "camera_blind_spot": ("监控盲区", "Camera blind spot"),
        "device_fault": ("设备故障", "Device fault"),
        "low_battery": ("电量低", "Low battery"),
        "extinguisher_pressure": ("灭火器压力异常", "Extinguisher pressure"),
        "exit_obstructed": ("安全出口受阻", "Fire exit obstructed"),
        "door_forced": ("门被强行打开", "Door forced"),
        "repeated_access_denied": ("多次刷卡被拒", "Repeated access denied"),
        "after_hours_entry": ("非开放时间进入", "After-hours entry"),
        "patrol_missed": ("巡查缺失", "Patrol missed"),
        "environment_out_of_range": ("环境指标异常", "Environment out of range"),
        "equipment_missing": ("安全设备缺失", "Safety equipment missing"),
        "attendance_missing": ("考勤数据缺失", "Attendance data missing"),
        "badge_out_missing": ("离园未刷卡", "Badge-out missing"),
    },
    "severity": {
        "critical": ("危急", "Critical"),
        "major": ("严重", "Major"),
        "minor": ("一般", "Minor"),
        "warning": ("提示", "Warning"),
    },
    "state": {  # a facility's colour on the overview
        "red": ("告警", "Alarm"),
        "amber": ("关注", "Attention"),
        "grey": ("无数据", "No data"),
        "green": ("正常", "Normal"),
    },
    "escalation": {
        "facility": ("机构", "Facility"),
        "township": ("乡镇（街道）", "Township"),
        "county": ("县（市、区）", "County"),
        "city": ("市", "City"),
    },
    "staff_role": {
        "caregiver": ("保育人员", "Caregiver"),
        "teacher": ("教师", "Teacher"),
        "health": ("保健人员", "Health worker"),
        "guard": ("保安", "Guard"),
        "cook": ("炊事人员", "Cook"),
        "manager": ("负责人", "Manager"),
        "other": ("其他", "Other"),
    },
    "user_role": {
        "admin": ("系统管理员", "Administrator"),
        "inspector": ("监管人员", "Inspector"),
        "operator": ("机构管理员", "Facility operator"),
    },
    "device_type": {
        "smoke_detector": ("烟感探测器", "Smoke detector"),
        "heat_detector": ("感温探测器", "Heat detector"),
        "gas_detector": ("燃气探测器", "Gas detector"),
        "co_detector": ("一氧化碳探测器", "CO detector"),
        "extinguisher_gauge": ("灭火器压力表", "Extinguisher gauge"),
        "water_pressure": ("消防水压", "Fire water pressure"),
        "emergency_light": ("应急照明", "Emergency light"),
        "exit_door": ("安全出口门", "Fire exit door"),
        "access_controller": ("门禁", "Access controller"),
        "panic_button": ("一键报警按钮", "Panic button"),
        "camera": ("摄像头", "Camera"),
        "env_sensor": ("环境传感器", "Environment sensor"),
        "patrol_point": ("巡查点", "Patrol point"),
        "gateway": ("网关", "Gateway"),
    },
    "event": {
        "fire_alarm": ("火灾报警", "Fire alarm"),
        "gas_alarm": ("燃气报警", "Gas alarm"),
        "co_alarm": ("一氧化碳报警", "CO alarm"),
        "panic": ("一键报警", "Panic press"),
        "fault": ("故障", "Fault"),
        "tamper": ("防拆报警", "Tamper"),
        "power_fail": ("断电", "Power failure"),
        "door_forced": ("强行开门", "Door forced"),
        "door_held_open": ("门未关", "Door held open"),
        "exit_locked": ("安全出口上锁", "Fire exit locked"),
        "exit_blocked": ("安全出口堵塞", "Fire exit blocked"),
        "self_test": ("自检", "Self-test"),
        "water_leak": ("漏水", "Water leak"),
        "battery_low": ("电量低", "Battery low"),
    },
    "access": {
        "staff_in": ("员工入园", "Staff in"),
        "staff_out": ("员工离园", "Staff out"),
        "child_in": ("幼儿入园", "Child in"),
        "child_out": ("幼儿离园", "Child out"),
        "visitor_in": ("访客进入", "Visitor in"),
        "visitor_out": ("访客离开", "Visitor out"),
        "denied": ("刷卡被拒", "Access denied"),
        "patrol": ("巡查打卡", "Patrol scan"),
    },
    "timeline_kind": {
        "event": ("事件", "Event"),
        "access": ("出入", "Access"),
        "status": ("状态", "Status"),
    },
    "condition_state": {
        "active": ("发生", "active"),
        "cleared": ("解除", "cleared"),
    },
    "history": {
        "opened": ("产生", "opened"),
        "reopened": ("再次发生", "reopened"),
        "cleared": ("解除", "cleared"),
        "acknowledged": ("已确认", "acknowledged"),
        "escalated": ("上报", "escalated"),
        "retriggered": ("再次触发", "retriggered"),
        "muted": ("维护时段内", "in maintenance"),
    },
    "channel": {  # notification channels (alerts/notify.py)
        "wecom": ("企业微信群机器人", "WeCom group robot"),
        "dingtalk": ("钉钉群机器人", "DingTalk group robot"),
        "email": ("电子邮件", "E-mail"),
    },
    "delivery_status": {
        "pending": ("待发送", "pending"),
        "sent": ("已发送", "sent"),
        "failed": ("失败", "failed"),
    },
    "delivery_event": {
        "opened": ("告警产生", "alert opened"),
        "reopened": ("告警再次发生", "alert reopened"),
        "escalated:township": ("上报至乡镇（街道）", "escalated to the township"),
        "escalated:county": ("上报至县（市、区）", "escalated to the county"),
        "escalated:city": ("上报至市", "escalated to the city"),
        "test": ("测试消息", "test message"),
    },
    "message_lang": {
        "zh": ("中文", "Chinese"),
        "en": ("英文", "English"),
    },
    "dead_reason": {
        "json": ("不是有效的 JSON", "not valid JSON"),
        "schema": ("内容不符合规范", "does not fit the contract"),
        "size": ("消息过大", "too large"),
        "topic": ("主题不符合规范", "bad topic"),
        "channel": ("未知通道", "unknown channel"),
        "facility_id": ("机构编号不合规", "bad facility id"),
        "device_id": ("设备编号不合规", "bad device id"),
        "unknown_facility": ("未登记的机构", "unknown facility"),
        "unknown_device": ("未登记的设备", "unknown device"),
        "storage": ("数据库拒收", "refused by the database"),
        "internal": ("内部错误", "internal error"),
        "origin": ("非网关发送的批量消息", "batch not from the gateway"),
        "time": ("设备时钟异常", "device clock out of bounds"),
    },
}


def label(kind: str, code: object, lang: str = "zh") -> str:
    """A code's name for people; an unknown code shows as itself (never an error on a page)."""
    pair = LABELS.get(kind, {}).get(str(code))
    if pair is None:
        return "" if code is None else str(code)
    return pair[0] if lang == "zh" else pair[1]
