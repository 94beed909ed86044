"""How long every table keeps its rows, and why: policy, in one place (issue #43 item 5, docs/storage.md).

`POLICY` names every table of the migrated schema (tests/test_retention.py fails when one is missing)
with its retention — an interval ("N days", judged by the row's own time), `None`: kept for good, or
`current=True`: the row is the present state of something, replaced or deleted as that changes, with no
history kept in it — and its basis: a legal one where there is one, else the product's reason. What has
a finite retention is enforced by `by`: TimescaleDB chunks (`carewatch_drop_chunks`, or the server's
retention policies on the Timescale-License edition), `storage.retention.apply_retention` (ingest's
maintenance round), or the module that keeps the table. Records of supervision (inspections, orders
and their evidence, the audit log, alerts, credit, complaints, filings, draws) are kept for good: the
archival period of a government department's enforcement files is for its archives to apply, and
CareWatch never deletes one.

Retention judges a row by its own time (the time the thing happened), not by when it arrived. So a
message already older than its table's retention when it arrives (a gateway's spool replayed after a
long outage, a device clock weeks slow) would be accepted, acknowledged, stored and then dropped at
the next maintenance without anyone being told (issue #35). Such a message is refused at the door
instead, dead-lettered with the reason `expired` (CONTRACT §2 Bad input), where its raw bytes are kept
and counted like any other refusal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Legal bases relied on. Each was checked for its wording; where an article number could not be
# confirmed, none is given.
PIPL_19 = (
    "《中华人民共和国个人信息保护法》第十九条：除法律、行政法规另有规定外，个人信息的保存期限应当为实现处理目的所必要的最短时间",
    "Personal Information Protection Law of the PRC, Art. 19: unless laws or administrative regulations"
    " provide otherwise, personal information is kept no longer than its purpose needs",
)
CSL_21 = (
    "《中华人民共和国网络安全法》第二十一条（三）：留存相关的网络日志不少于六个月",
    "Cybersecurity Law of the PRC, Art. 21 (3): relevant network logs are kept for no less than six months",
)
ARCHIVES = (
    "行政监管记录，属政府部门档案：其保管期限由档案管理规定和部门保管期限表确定（此处未能逐条核实条文，故不引条号），"
    "系统不删除，处置由档案部门在系统外决定",
    "a record of administrative supervision, part of a government department's archives: its period is set by"
    " the archival rules and the department's schedule (not confirmed article by article here, so no article"
    " is cited); CareWatch never deletes it, disposal is the archives' decision outside the system",
)


@dataclass(frozen=True)
class Retention:
    keep: str | None  # a PostgreSQL interval "N days"; None: kept for good (or while current)
    basis_zh: str
    basis_en: str
    by: str = ""  # who enforces a finite retention (or prunes a current table)
    current: bool = False  # the present state of something: replaced or deleted as it changes
    legal: bool = False  # the basis is a law or rule, not (only) the product's reason


def _p(keep: str | None, zh: str, en: str, by: str = "", current: bool = False, legal: bool = False) -> Retention:
    return Retention(keep, zh, en, by, current, legal)


def _law(basis: tuple[str, str], zh: str, en: str) -> tuple[str, str]:
    return f"{zh}；{basis[0]}", f"{en}; {basis[1]}"


_CHUNKS = "timescaledb"
_MAINT = "storage.retention"

_SUPERVISION = ARCHIVES

POLICY: dict[str, Retention] = {
    # -- the time series: what devices send ---------------------------------------------------------
    "readings": _p(
        "7 days",
        "全速率读数保留 7 天（图表与告警规则所需）；之后由每小时汇总保留；存储预算见 docs/storage.md（迁移 013）",
        "full-rate readings for 7 days (charts and the rules need no more); the hourly rollup keeps them after;"
        " the storage budget in docs/storage.md (migration 013)",
        _CHUNKS,
    ),
    "readings_hourly": _p(
        "800 days",
        "每小时汇总（次数、和、最小、最大）保留 800 天：两年以上的趋势与同比",
        "the hourly rollup (n, sum, min, max) for 800 days: two years of trends, year on year",
        _CHUNKS,
    ),
    "events": _p(
        "400 days",
        "设备事件保留 400 天：信用评价的一年及其申诉期",
        "device events for 400 days: the credit evaluation's year and its appeals",
        _CHUNKS,
    ),
    "access_events": _p(
        "400 days",
        *_law(
            PIPL_19,
            "出入记录（含儿童与员工的个人信息）保留 400 天：信用评价的一年及其申诉期，不再更久",
            "entry and exit scans (personal information of children and staff) for 400 days: the credit"
            " evaluation's year and its appeals, no longer",
        ),
        _CHUNKS,
        legal=True,
    ),
    "device_status": _p(
        "400 days",
        "设备状态变化日志保留 400 天：信用评价的一年及其申诉期",
        "the log of devices' status changes for 400 days: the credit evaluation's year and its appeals",
        _CHUNKS,
    ),
    "device_activity": _p(
        "400 days",
        "设备每小时在线位图保留 400 天：信用评价的设备小时数及其申诉",
        "devices' hours heard from for 400 days: the credit evaluation's device-hours and its appeals",
        _MAINT,
    ),
    "counted_slots": _p(
        "400 days",
        "计数摄像机每小时报数覆盖的 30 秒时段数，与设备在线位图保留一样久：信用评价的一年及其申诉期（迁移 042）",
        "the 30-second slots of each hour a counting camera sent its count in, as long as device_activity: the"
        " credit evaluation's year and its appeals (migration 042)",
        _MAINT,
    ),
    "intake_hours": _p(
        "400 days",
        "接入服务每小时在线秒数，与设备在线位图保留一样久（它限定后者）",
        "the intake's seconds listened per hour, as long as device_activity, which it qualifies",
        _MAINT,
    ),
    "dead_letters": _p(
        "90 days",
        *_law(
            PIPL_19,
            "被拒消息（原始字节）保留 90 天：足够运维排查设备与时钟问题；原始内容可能含个人信息，不再更久",
            "refused messages (their raw bytes) for 90 days: enough to diagnose a device or a clock; the bytes"
            " may hold personal information, so no longer",
        ),
        _MAINT,
        legal=True,
    ),
    # -- notifications: a delivery log, and state -----------------------------------------------------
    "notification_deliveries": _p(
        "400 days",
        *_law(
            PIPL_19,
            "通知投递记录（收件人、内容）自创建起保留 400 天：告警处置及其信用申诉期内可查谁何时被通知；"
            "待发送的不删除；告警本身及其历史长期保存",
            "the notification delivery log (recipients, texts) for 400 days from creation: who was told of an"
            " alert, and when, for the credit year and its appeals; pending rows are not pruned; the alert and"
            " its history are kept for good",
        ),
        _MAINT,
        legal=True,
    ),
    "notification_sends": _p(
        None,
        "机器人发送频率限制的计数，仅保留限流窗口内的（storage.notifications 每次领取时清理）",
        "the robots' rate-limit counts, only within the window (pruned by storage.notifications at each claim)",
        "storage.notifications",
        current=True,
    ),
    "notification_subscriptions": _p(
        None,
        "用户当前的通知渠道，用户删除即删除",
        "a user's notification channels as they are; deleted when the user deletes one",
        current=True,
    ),
    # -- people and accounts ---------------------------------------------------------------------
    "login_attempts": _p(
        None,
        *_law(
            PIPL_19,
            "登录限流计数：失败记录保留至限流窗口结束，成功记录保留至“已知地址”期满（storage.logins 清理）；"
            "登录操作本身记入操作日志",
            "the login throttle's counts: failures until the window ends, successes until the known-address"
            " period ends (pruned by storage.logins); logins themselves are in the audit log",
        ),
        "storage.logins",
        current=True,
        legal=True,
    ),
    "users": _p(
        None,
        "账号长期保存（停用而不删除）：签署的检查记录、整改通知与操作日志须能指明其人",
        "accounts are kept for good (disabled, never deleted): signed inspections, orders and the audit log"
        " must name their author",
    ),
    "api_tokens": _p(
        None,
        "令牌长期保存（过期或吊销后不再接受）：操作日志按令牌追溯",
        "tokens are kept for good (refused once expired or revoked): the audit log traces actions to them",
    ),
    "mqtt_credentials": _p(
        None,
        "设备的接入凭据（仅哈希），随设备当前状态更换",
        "devices' broker credentials (hashes only), replaced as devices change",
        current=True,
    ),
    "audit_log": _p(
        None,
        *_law(
            CSL_21,
            "操作日志长期保存：政府监管操作的留痕（远超六个月的下限）；系统不删除",
            "the audit log is kept for good: the trace of supervision actions (far beyond the six-month"
            " minimum); never deleted by CareWatch",
        ),
        legal=True,
    ),
    # -- the registry: a facility's roster, as uploaded ------------------------------------------
    "facilities": _p(
        None,
        "机构长期保存（只更新不删除）：监管记录均指向机构",
        "facilities are kept for good (upserted, never deleted): every supervision record refers to one",
    ),
    **{
        t: _p(
            None,
            *_law(
                PIPL_19,
                f"{zh}为机构当前花名册，每次上传替换；不在名册中的即删除",
                f"{en} are the facility's current roster, replaced by each upload; who leaves it is deleted",
            ),
            "storage.registry",
            current=True,
            legal=True,
        )
        for t, zh, en in (
            ("classes", "班级", "classes"),
            ("staff", "员工", "staff"),
            ("children", "儿童", "children"),
            ("guardians", "监护人", "guardians"),
            ("devices", "设备", "devices"),
        )
    },
    "people": _p(
        None,
        "从业人员登记（含禁业记录）长期保存：禁业限制须始终可查（迁移 026 的触发器不允许删除）",
        "the register of people (bans included) is kept for good: a ban must stay enforceable (migration"
        " 026's trigger refuses deletion)",
    ),
    "person_roles": _p(
        None,
        "人员任职记录长期保存（只关闭不改写）：与人员登记同",
        "people's roles are kept for good (closed, never rewritten), as the register is",
    ),
    "pickup_delegates": _p(
        None,
        "授权接送人（含撤销）长期保存：判断某次接送是否获授权所依据的记录（撤销后的有限期限待定）",
        "pick-up delegates (revocations included) are kept for good: what a collection is judged against"
        " (a finite period after revocation is still to be decided)",
    ),
    "child_whereabouts": _p(
        None,
        "滞留儿童去向说明长期保存：它是关闭一条告警的证据，随告警保存",
        "notes of where a child left on site is are kept for good: the evidence that closed an alert, kept with it",
    ),
    # -- alerts and the engine's state ------------------------------------------------------------
    "alerts": _p(
        None,
        "告警长期保存：督办升级、信用评价与申诉的依据，属监管记录",
        "alerts are kept for good: what escalation, credit and appeals rest on; a supervision record",
    ),
    "alert_history": _p(None, "告警历史随告警长期保存", "an alert's history, kept for good with it"),
    "maintenance_windows": _p(
        None,
        "维护时段（申请与审批）长期保存：它免除了告警与信用扣分，属审批记录",
        "maintenance windows (requests and decisions) are kept for good: they excuse alerts and credit; a"
        " decision on record",
    ),
    "closures": _p(
        None,
        "停托申报与审批长期保存：它免除了告警与信用扣分，属审批记录",
        "closures (declared or decided) are kept for good: they excuse alerts and credit; a decision on record",
    ),
    "rule_timers": _p(
        None,
        "规则计时器：当前状态，告警清除即删除",
        "rule timers: present state, deleted as alerts clear",
        current=True,
    ),
    "rule_memory": _p(
        None, "规则记忆：每机构一行，随时覆盖", "what the rules remember: one row a facility, overwritten", current=True
    ),
    "device_clocks": _p(
        None, "设备时钟偏差：当前状态，随设备更换", "devices' clock offsets: present state, replaced", current=True
    ),
    "device_state": _p(
        None, "设备最后状态：每设备一行，随时覆盖", "devices' last state: one row a device, overwritten", current=True
    ),
    "intake_clock": _p(
        None, "接入服务时钟：每个进程一行，随时覆盖", "the intake's clock: one row a worker, overwritten", current=True
    ),
    "job_state": _p(
        None,
        "后台任务水位：每任务一行，随时覆盖",
        "background jobs' watermarks: one row a job, overwritten",
        current=True,
    ),
    "lapse_intervals": _p(
        None,
        "信用评价的失效时段长期保存：信用记录及其申诉的依据",
        "the credit evaluation's lapse spans are kept for good: what credit records and appeals rest on",
    ),
    # -- supervision records: kept for good ---------------------------------------------------------
    **{
        t: _p(None, f"{zh}：{_SUPERVISION[0]}", f"{en}: {_SUPERVISION[1]}")
        for t, zh, en in (
            ("inspections", "检查记录（含签署与会签）", "inspection records (signed and countersigned)"),
            ("rectification_orders", "整改通知", "rectification orders"),
            ("rectification_history", "整改通知的每一步", "every step of an order"),
            ("order_receipts", "整改通知的签收", "receipts of rectification orders"),
            ("evidence_files", "整改证据（照片与文件）", "evidence photos and files"),
            ("order_rechecks", "复查记录", "re-inspections"),
            ("order_extensions", "延期申请与决定", "extensions requested and decided"),
            ("facility_suspensions", "责令停业整改及其解除", "orders to suspend operation and their lifting"),
            ("credit_records", "月度信用记录", "monthly credit records"),
            ("credit_appeals", "信用申诉及其决定", "credit appeals and their decisions"),
            ("complaints", "家长投诉及其处理", "parents' complaints and their handling"),
            ("complaint_history", "投诉处理的每一步", "every step of a complaint"),
            ("filings", "登记备案", "filings (registration for the record)"),
            ("filing_history", "备案的每一步", "every step of a filing"),
            ("random_draws", "双随机抽查", "random draws (two randoms, one public)"),
            ("random_draw_picks", "抽中的机构与检查人员", "a draw's picks"),
            ("document_numbers", "已发文号", "document numbers given"),
            ("area_summons", "督导评估中的约谈记录", "summonses of lagging areas (the assessment)"),
            ("circulars", "通报（草稿与已印发）", "circulars (drafts and issued)"),
            ("circular_subjects", "通报对象及内容", "a circular's subjects and what it says of them"),
            ("overdue_notices", "投诉答复、备案审核逾期的督办提醒", "complaints and filings overdue, told above"),
        )
    },
    "draw_availability": _p(
        None,
        "检查人员当前是否可被抽取（谁何时改的记入操作日志）",
        "whether an inspector can be drawn, as it is now (who changed it, when, is in the audit log)",
        current=True,
    ),
    "document_sequences": _p(
        None, "文号计数器：只增不减，长期保存", "document number counters: only count up, kept for good"
    ),
    "filing_sequences": _p(
        None, "备案号计数器：只增不减，长期保存", "filing number counters: only count up, kept for good"
    ),
    "schema_migrations": _p(None, "已执行的数据库迁移，长期保存", "the migrations applied, kept for good"),
}

_DAYS = re.compile(r"(\d+) days")


def days(keep: str) -> int:
    """The days of an interval of this policy ("N days"); anything else is a mistake in the policy."""
    m = _DAYS.fullmatch(keep)
    if m is None:
        raise ValueError(f"a retention is 'N days', not {keep!r}")
    return int(m.group(1))


# The hypertables whose chunks go by age (TimescaleDB), the rollup apart.
RETENTION: dict[str, str] = {
    t: p.keep for t, p in POLICY.items() if p.by == _CHUNKS and p.keep is not None and t != "readings_hourly"
}
ROLLUP_RETENTION: str = POLICY["readings_hourly"].keep or ""


def kept(table: str) -> str | None:
    """A table's retention as an interval; None: kept for good (or while current)."""
    p = POLICY.get(table)
    return p.keep if p is not None else None


def retention_days(table: str) -> int | None:
    """How many days a table keeps; None: kept for good."""
    keep = kept(table)
    return days(keep) if keep else None


READINGS_KEPT_S = float(retention_days("readings") or 0) * 86400.0
